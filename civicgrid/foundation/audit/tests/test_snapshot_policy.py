"""Personal data in the trail (SECURITY.md, 三员分立): a snapshot keeps a person's name, phone, e-mail, ID number
and address masked as the UI masks them and free text as its length and a digest; every model declares what
its fields named like personal data hold; records written before are read masked and stay as they were."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import models

from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.audit.personal import (
    ADDRESS,
    EMAIL,
    ID_NUMBER,
    KINDS,
    NAME,
    PHONE,
    TEXT,
    personal_kind,
)
from civicgrid.foundation.audit.service import (
    SENSITIVE_MARK,
    field_policy,
    mask_value,
    masked_repr,
    shown_snapshot,
    snapshot,
    text_mark_parts,
)

ID_NUMBER_VALUE = "140213199001011234"


def _declared(model) -> set[str]:
    return (set(getattr(model, "audit_personal_fields", {})) | set(getattr(model, "audit_plain_fields", ()))
            | set(getattr(model, "audit_sensitive_fields", ())) | set(getattr(model, "audit_withheld_fields", ()))
            | set(getattr(model, "audit_exclude_fields", ())))


def _project_models():
    return [m for m in apps.get_models() if m.__module__.startswith("civicgrid.") and not m._meta.proxy]


def test_every_field_named_like_personal_data_is_declared():
    """A new CharField/TextField called name, phone, mobile, id_number, address, description, note, … (or an
    encrypted `*_enc` column) must be declared: masked (`audit_personal_fields`), encrypted
    (`audit_sensitive_fields`) or not about a person (`audit_plain_fields`). Undeclared, it is masked by its name
    all the same; the declaration makes the choice someone's."""
    missing = []
    for model in _project_models():
        declared = _declared(model)
        for f in model._meta.concrete_fields:
            if not isinstance(f, models.CharField | models.TextField) or f.name in declared:
                continue
            if personal_kind(f.name) or f.name.endswith("_enc"):
                missing.append(f"{model._meta.label}.{f.name}")
    assert not missing, "declare the audit policy of: " + ", ".join(missing)


def test_declarations_name_real_fields_and_kinds():
    wrong = []
    for model in _project_models():
        fields = {f.name for f in model._meta.concrete_fields} | {f.attname for f in model._meta.concrete_fields}
        wrong += [f"{model._meta.label}.{n}" for n in _declared(model) if n not in fields]
        wrong += [f"{model._meta.label}.{n}: {k}" for n, k in getattr(model, "audit_personal_fields", {}).items()
                  if k not in KINDS]
    assert not wrong


def test_the_personal_fields_of_the_loop_are_declared_masked():
    """The fields the assessor named, in each app that has them."""
    expected = {
        "cases.case": {"reporter_name": NAME, "address": ADDRESS, "description": TEXT},
        "cases.casereporter": {"name": NAME, "rating_comment": TEXT},
        "cases.casestep": {"note": TEXT},
        "people.resident": {"name": NAME},
        "people.household": {"head_name": NAME, "address": ADDRESS},
        "people.unit": {"contact_name": NAME},
        "hazards.hazard": {"owner_person": NAME, "description": TEXT},
        "rescue.rescuemember": {"name": NAME},
        "flood.dutyroster": {"person": NAME},
    }
    for label, fields in expected.items():
        policy = field_policy(apps.get_model(label))
        assert {n: policy[n][1] for n in fields} == fields, label


@pytest.mark.parametrize(("name", "kind"), [
    ("caller_name", NAME), ("contact_person", NAME), ("mobile", PHONE), ("home_tel", PHONE), ("email", EMAIL),
    ("id_number", ID_NUMBER), ("home_address", ADDRESS), ("mediation_note", TEXT), ("description", TEXT),
    ("remarks", TEXT), ("phone_masked", None), ("id_number_index", None), ("phone_enc", None), ("title", None),
    ("status", None), ("nickname", None),
])
def test_a_field_reads_as_personal_by_its_name(name, kind):
    assert personal_kind(name) == kind


def _fake_model(**attrs):
    fields = []
    for name in ("caller_name", "caller_mobile", "counselling_note", "secret_enc", "title", "visits"):
        f = models.IntegerField() if name == "visits" else models.TextField() if "note" in name else \
            models.CharField(max_length=64)
        f.set_attributes_from_name(name)
        fields.append(f)
    return type("Fake", (), {"_meta": SimpleNamespace(concrete_fields=fields), **attrs})


def test_an_undeclared_model_is_private_by_default():
    policy = {n: kind for n, (_mode, kind) in field_policy(_fake_model()).items()}
    assert policy == {"caller_name": NAME, "caller_mobile": PHONE, "counselling_note": TEXT, "secret_enc": None,
                      "title": None, "visits": None}
    declared = field_policy(_fake_model(audit_plain_fields=("caller_name",)))
    assert declared["caller_name"][1] is None


def test_masks_are_the_uis():
    assert mask_value(NAME, "欧阳明华") == "欧***"
    assert mask_value(PHONE, "13912345678") == "139****5678"
    assert mask_value(ID_NUMBER, ID_NUMBER_VALUE) == "1402**********1234"
    assert mask_value(EMAIL, "ouyang@example.org") == "o***@example.org"
    assert mask_value(ADDRESS, "平城区新建北路12号院3号楼2单元501室") == "平城区新建北路12号院3号楼**单元**室"
    assert mask_value(NAME, "") == "" and mask_value(TEXT, None) is None


def test_free_text_keeps_its_length_and_a_digest():
    text = f"来电人反映楼道堆物，身份证号{ID_NUMBER_VALUE}"
    marked = mask_value(TEXT, text)
    assert ID_NUMBER_VALUE not in marked and "楼道" not in marked
    assert marked.startswith(f"（文本 {len(text)} 字，已隐去）")
    assert text_mark_parts(marked) == (len(text), marked.rsplit(":", 1)[1])
    assert mask_value(TEXT, text) == marked != mask_value(TEXT, text + "。")  # a change still shows


@pytest.mark.django_db
def test_a_resident_snapshot_and_name_keep_no_clear_name(tree):
    from civicgrid.foundation.people.models import Resident

    resident = Resident(name="欧阳明华", region_code="140213050001001", id_number_enc="x", phone_enc="y")
    data = snapshot(resident)
    assert data["name"] == "欧***" and data["id_number_enc"] == data["phone_enc"] == SENSITIVE_MARK
    assert masked_repr(resident) == "欧***"


@pytest.mark.django_db
def test_records_written_before_are_read_masked_and_stay_as_they_were():
    text = f"噪音扰民，身份证号{ID_NUMBER_VALUE}"
    old = AuditEntry.objects.create(
        at="2026-01-01T00:00:00Z", action="cases.report", target_type="cases.case", target_id="1",
        after={"reporter_name": "欧阳明华", "description": text, "title": "噪音", "reporter_phone_masked": "139****5678"})
    shown = shown_snapshot(old.target_type, old.after)
    assert shown == {"reporter_name": "欧***", "description": mask_value(TEXT, text), "title": "噪音",
                     "reporter_phone_masked": "139****5678"}
    # read again (a new record, already masked): unchanged
    assert shown_snapshot("cases.case", shown) == shown
    assert AuditEntry.objects.get(pk=old.pk).after["reporter_name"] == "欧阳明华"  # the trail is append-only
    # a type that is no model, or a snapshot that is not a dict, is read as it is
    assert shown_snapshot("gone.model", old.after) == old.after and shown_snapshot("cases.case", None) is None


@pytest.mark.django_db
def test_an_old_records_object_name_is_read_masked_from_its_own_snapshot(tree):
    """Records written before named a resident by name (`target_repr`): the audit page, export and API mask the
    name the record's own snapshot holds."""
    from civicgrid.foundation.access.models import ApiToken
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    old = AuditEntry.objects.create(
        at="2026-01-01T00:00:00Z", action="data.created", target_type="people.resident", target_id="41",
        target_repr="欧阳明华", after={"name": "欧阳明华", "id_number_masked": "1402**********1234"})
    auditor = user_with(Role.AUDIT_ADMIN)
    from django.test import Client

    c = Client()
    c.force_login(auditor)
    page = c.get("/security/audit/", {"target_type": "people.resident"}).content.decode()
    csv_text = c.get("/security/audit/export/", {"format": "csv", "target_type": "people.resident"}).content.decode(
        "utf-8-sig")
    body = Client().get("/api/v1/audit", {"target_type": "people.resident"},
                        HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(auditor)[1]}").json()
    assert body["items"][0]["target_repr"] == "欧***" and body["items"][0]["after"]["name"] == "欧***"
    for text in (page, csv_text, str(body)):
        assert "欧***" in text and "阳明华" not in text
    assert AuditEntry.objects.get(pk=old.pk).target_repr == "欧阳明华"  # as it was written


@pytest.mark.django_db
def test_the_history_shows_a_changed_description_as_its_length(tree):
    """A place's history (staff who may see it): the description's change shows, its words do not."""
    from django.test import Client

    from civicgrid.foundation.access.roles import Role
    from civicgrid.foundation.audit.service import record
    from civicgrid.foundation.people.models import Place
    from civicgrid.testing.builders import user_with

    place = Place.objects.create(name="文化广场", region_code="140213050001001", grid=tree["140213050001001"],
                                 description="张三在此摆摊")
    record(actor=None, action="data.changed", target=place, before={"description": "张三在此摆摊"},
           after=snapshot(place) | {"description": mask_value(TEXT, "李四在此摆摊，电话13912345678")})
    c = Client()
    c.force_login(user_with(Role.STREET_STAFF, region=tree["140213050"]))
    html = c.get(f"/audit/place/{place.pk}/history/").content.decode()
    assert "（文本 6 字，已隐去）" in html and "（文本 20 字，已隐去）" in html
    assert "张三" not in html and "李四" not in html and "13912345678" not in html


def test_an_objects_name_masks_a_person_but_keeps_a_title_that_repeats_the_description():
    from civicgrid.apps.cases.models import Case
    from civicgrid.foundation.people.models import Household

    case = Case(number="C20261130001", title="路灯不亮", description="路灯不亮", reporter_name="路灯不亮")
    assert masked_repr(case) == "C20261130001 路***"  # the reporter's name, were it in the title, is masked
    case.reporter_name = "欧阳明华"
    assert masked_repr(case) == "C20261130001 路灯不亮"
    assert masked_repr(Household(code="H0001", head_name="欧阳明华")) == "H0001 欧***"


@pytest.mark.django_db
def test_a_record_of_the_signed_in_user_names_it_masked(tree):
    """`request.user` is a lazy object: a record of one's own password change names the account all the same (an
    account's names are kept: they are how the trail tells who acted)."""
    from django.utils.functional import SimpleLazyObject

    from civicgrid.foundation.access.roles import Role
    from civicgrid.foundation.audit.service import record
    from civicgrid.testing.builders import user_with

    user = user_with(Role.LEADER, region=tree["140213"])
    user.display_name = "欧阳明华"
    lazy = SimpleLazyObject(lambda: user)
    entry = record(actor=lazy, action="auth.password_changed", target=lazy)
    assert entry.target_repr == str(user) and entry.target_type == "access.user"
    assert masked_repr(lazy) == masked_repr(user)
