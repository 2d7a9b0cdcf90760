"""The process-wide encryptor (key file made 0600 on first use, fast paths equal to the reference) and rotation."""

import io
import json
import os
import random
import re
import stat

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, RequestFactory
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core import crypto, keys, pii
from civicgrid.foundation.people import personal, services
from civicgrid.foundation.people.models import Resident
from civicgrid.ui import errors

from .factories import resident_data


@pytest.fixture
def fresh_key_file(tmp_path, settings):
    settings.CIVICGRID_KEY_FILE = tmp_path / "keys" / "ring.json"
    keys.reset()
    yield settings.CIVICGRID_KEY_FILE
    keys.reset()


@pytest.mark.django_db
def test_key_file_is_generated_on_first_use_with_owner_only_mode(fresh_key_file):
    assert not fresh_key_file.exists()
    token = keys.encrypt("140213199001011234", "t")
    assert fresh_key_file.exists() and stat.S_IMODE(os.stat(fresh_key_file).st_mode) == 0o600
    # Each generated ring names its key differently, so another ring's file says "unknown key id".
    assert re.fullmatch(r"k1-[0-9a-f]{8}", keys.encryptor().keyring.current)
    assert keys.new_key_id() != keys.new_key_id()
    assert re.fullmatch(r"k4-[0-9a-f]{8}", keys.new_key_id(crypto.KeyRing.random("k3-0a0b0c0d")))
    assert keys.decrypt(token, "t") == "140213199001011234"
    assert keys.encrypt("", "t") == "" and keys.blind_index("", "t") == ""


@pytest.mark.parametrize("cipher", ["aes-gcm", "sm4"])
def test_fast_encryptor_writes_what_the_reference_reads_and_the_same_indexes(cipher):
    ring = crypto.KeyRing.random()
    fast, reference = keys.FastFieldEncryptor(ring, cipher), crypto.FieldEncryptor(ring, cipher)
    for value in ("140213199001011234", "14021319900101123X", "张三", " a b ", "ＡＢＣ１２３", "x" * 300):
        for ctx in ("people.resident.id_number", "people.resident.phone"):
            assert reference.decrypt(fast.encrypt(value, ctx), ctx) == value
            assert fast.decrypt(reference.encrypt(value, ctx), ctx) == value
            assert fast.blind_index(value, ctx) == reference.blind_index(value, ctx)
    tokens = {fast.encrypt("same", "c") for _ in range(200)}
    assert len(tokens) == 200  # fresh nonce every time
    with pytest.raises(crypto.DecryptionError):
        fast.decrypt(fast.encrypt("v", "a"), "b")  # the context is bound in


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789Xx \u3000１２３", min_size=0, max_size=20))
def test_fast_id_check_accepts_exactly_what_pii_accepts(text):
    try:
        expected = pii.validate_id_number(text)
    except ValueError as exc:
        with pytest.raises(ValueError) as got:
            personal.clean_id_number(text)
        assert str(got.value) == str(exc)
    else:
        number, born, sex = personal.clean_id_number(text)
        assert (number, born, sex) == (expected, pii.id_number_birth_date(expected), pii.id_number_sex(expected))


def test_fast_id_check_on_valid_and_nearly_valid_numbers():
    rng = random.Random(7)
    for _ in range(2000):
        number = pii.generate_id_number(rng)
        assert personal.clean_id_number(number)[0] == number
        broken = number[:17] + ("0" if number[17] != "0" else "1")
        with pytest.raises(ValueError):
            personal.clean_id_number(broken)
    future = "140213" + "29990101" + "123"
    with pytest.raises(ValueError, match="晚于今天"):  # a correct check character does not make a future birth valid
        personal.clean_id_number(future + pii.id_number_check_char(future))
    old = "140213" + "18991231" + "123"
    with pytest.raises(ValueError, match="1900"):
        personal.clean_id_number(old + pii.id_number_check_char(old))


@pytest.mark.django_db
def test_rotate_keys_reencrypts_every_column_and_reads_stay_correct(fresh_key_file, people_users):
    worker = people_users["worker"]
    made = []
    for _ in range(5):
        data = resident_data()
        made.append((services.create_resident(actor=worker, data=data), data))
    unit = services.create_unit(
        actor=worker, data={"name": "店", "kind": "shop", "grid_code": data["grid_code"], "contact_phone": "13800000000"}
    )
    old_key = keys.encryptor().keyring.current
    out = io.StringIO()
    call_command("rotate_keys", "--yes", "--batch-size", "2", stdout=out, stderr=io.StringIO())
    new_key = keys.encryptor(force_check=True).keyring.current
    assert new_key != old_key and "people.Resident.id_number_enc: 5" in out.getvalue()
    for resident, data in made:
        resident.refresh_from_db()
        assert f":{new_key}:" in resident.id_number_enc and f":{new_key}:" in resident.phone_enc
        assert services.reveal(actor=worker, resident=resident, field="id_number") == data["id_number"]
        assert resident.id_number_index == personal.id_index(data["id_number"])  # the index key never rotates
    unit.refresh_from_db()
    assert keys.decrypt(unit.contact_phone_enc, personal.UNIT_PHONE_CONTEXT) == "13800000000"
    assert AuditEntry.objects.filter(target_type="core.keyring").exists()
    # A second run with nothing to do changes nothing.
    out = io.StringIO()
    call_command("rotate_keys", "--reencrypt-only", stdout=out, stderr=io.StringIO())
    assert "people.Resident.id_number_enc: 0" in out.getvalue()
    assert Resident.objects.filter(id_number_enc__contains=f":{old_key}:").count() == 0


@pytest.mark.django_db
def test_a_missing_key_file_is_not_replaced_while_the_database_holds_encrypted_values(fresh_key_file, people_users):
    worker = people_users["worker"]
    data = resident_data()
    resident = services.create_resident(actor=worker, data=data)
    fresh_key_file.unlink()
    keys.reset()  # a process that starts now, e.g. after a restore without --keys into a fresh data dir
    with pytest.raises(keys.KeyFileMissing, match=re.escape(str(fresh_key_file))) as missing:
        keys.encrypt("13800000000", "t")
    assert "restore" in str(missing.value)
    with pytest.raises(keys.KeyFileMissing):
        services.reveal(actor=worker, resident=resident, field="id_number")
    with pytest.raises(CommandError, match="restore"):
        call_command("worker", "--once", stdout=io.StringIO())
    with pytest.raises(CommandError, match="restore"):
        call_command("rotate_keys", "--yes", stdout=io.StringIO(), stderr=io.StringIO())
    assert not fresh_key_file.exists()
    # The web pages say so in words (503), for a page as for the API.
    request = RequestFactory().get("/people/residents/")
    request.user = worker
    page = errors.KeysUnavailableMiddleware(lambda r: None).process_exception(request, missing.value)
    assert page.status_code == 503 and "密钥" in page.content.decode()
    answer = errors.KeysUnavailableMiddleware(lambda r: None).process_exception(
        RequestFactory().get("/api/v1/residents/1"), missing.value)
    assert answer.status_code == 503 and "密钥" in json.loads(answer.content)["detail"]
    assert str(fresh_key_file) not in answer.content.decode() + page.content.decode()  # the path is in the log


@pytest.mark.django_db
def test_a_key_file_that_vanishes_under_a_running_process_is_not_replaced(fresh_key_file, people_users):
    worker = people_users["worker"]
    services.create_resident(actor=worker, data=resident_data())
    saved = fresh_key_file.read_bytes()
    fresh_key_file.unlink()
    keys.encryptor(force_check=True)  # the running process looks at the file again
    data = resident_data()
    written_meanwhile = services.create_resident(actor=worker, data=data)
    assert not fresh_key_file.exists()
    fresh_key_file.write_bytes(saved)  # put back from the backup
    os.chmod(fresh_key_file, 0o600)
    keys.reset()
    assert services.reveal(actor=worker, resident=written_meanwhile, field="id_number") == data["id_number"]


@pytest.mark.django_db
def test_a_wrong_key_file_gives_a_clear_message_not_a_500(fresh_key_file, people_users, token_for):
    worker = people_users["worker"]
    resident = services.create_resident(actor=worker, data=resident_data())
    fresh_key_file.unlink()
    crypto.KeyRing.generate(fresh_key_file, keys.new_key_id())  # another installation's file
    keys.reset()
    with pytest.raises(keys.KeyMismatch, match="unknown encryption key id 'k1-[0-9a-f]{8}'.*restore"):
        services.reveal(actor=worker, resident=resident, field="id_number")
    c = Client()
    c.force_login(worker)
    resp = c.post(reverse("ui:resident_reveal", args=[resident.pk]), {"field": "id_number"}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 503 and "unknown encryption key id" in resp.content.decode()
    resp = c.post(f"/api/v1/residents/{resident.pk}/reveal", {"field": "phone"}, content_type="application/json",
                  **token_for(worker))
    assert resp.status_code == 503 and "密钥" in resp.json()["detail"]


@pytest.mark.django_db
def test_rotate_keys_asks_for_confirmation_and_says_to_back_up_the_key_file(fresh_key_file, people_users):
    services.create_resident(actor=people_users["worker"], data=resident_data())
    before = fresh_key_file.read_bytes()
    with pytest.raises(CommandError, match="--yes"):
        call_command("rotate_keys", stdout=io.StringIO(), stderr=io.StringIO())
    assert fresh_key_file.read_bytes() == before
    out = io.StringIO()
    call_command("rotate_keys", "--yes", stdout=out, stderr=io.StringIO())
    assert fresh_key_file.read_bytes() != before and "Back up the key file" in out.getvalue()
    assert re.fullmatch(r"k2-[0-9a-f]{8}", keys.encryptor(force_check=True).keyring.current)
