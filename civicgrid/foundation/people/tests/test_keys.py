"""The process-wide encryptor (key file made 0600 on first use, fast paths equal to the reference) and rotation."""

import io
import os
import random
import stat

import pytest
from django.core.management import call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core import crypto, keys, pii
from civicgrid.foundation.people import personal, services
from civicgrid.foundation.people.models import Resident

from .factories import resident_data


@pytest.fixture
def fresh_key_file(tmp_path, settings):
    settings.CIVICGRID_KEY_FILE = tmp_path / "keys" / "ring.json"
    keys.reset()
    yield settings.CIVICGRID_KEY_FILE
    keys.reset()


def test_key_file_is_generated_on_first_use_with_owner_only_mode(fresh_key_file):
    assert not fresh_key_file.exists()
    token = keys.encrypt("140213199001011234", "t")
    assert fresh_key_file.exists() and stat.S_IMODE(os.stat(fresh_key_file).st_mode) == 0o600
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
    call_command("rotate_keys", "--batch-size", "2", stdout=out, stderr=io.StringIO())
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
