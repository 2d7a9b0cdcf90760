"""The birth date is digits 7–14 of the ID number: beside the masked number it gives the number away. Whoever may
not reveal the number sees the age instead, on the page, in the API and in the history; the trail keeps none."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse
from django.utils import formats

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.audit.service import WITHHELD_MARK, record
from civicgrid.foundation.core.pii import id_number_check_char
from civicgrid.foundation.people.services import create_resident, update_resident
from civicgrid.testing.builders import user_with

from .conftest import HOME_GRID

pytestmark = pytest.mark.django_db

BORN = date(2007, 4, 6)


def number_born(born: date, serial: str = "297") -> str:
    first17 = f"140213{born:%Y%m%d}{serial}"
    return first17 + id_number_check_char(first17)


@pytest.fixture
def people(tree):
    return {
        "worker": user_with(Role.GRID_WORKER, region=tree[HOME_GRID]),  # holds people.reveal over the grid
        "community": user_with(Role.COMMUNITY_STAFF, region=tree["140213050001"]),
        "street": user_with(Role.STREET_STAFF, region=tree["140213050"]),  # sees residents, may not reveal
        "leader": user_with(Role.LEADER, region=tree["140213"]),
        "audit": user_with(Role.AUDIT_ADMIN),
    }


@pytest.fixture
def resident(people):
    return create_resident(actor=people["worker"], data={"name": "王小五", "grid_code": HOME_GRID,
                                                         "id_number": number_born(BORN)})


def _shown_birth_date() -> str:
    return str(formats.date_format(BORN))  # as the detail page renders a date


def test_the_detail_page_shows_the_age_not_the_birth_date_to_those_who_may_not_reveal(people, resident, client_for):
    url = reverse("ui:resident_detail", args=[resident.pk])
    with_reveal = client_for(people["worker"]).get(url).content.decode()
    assert _shown_birth_date() in with_reveal and resident.id_number_masked in with_reveal
    age = resident.age()
    assert 18 <= age <= 20
    for role in ("street", "leader"):
        html = client_for(people[role]).get(url).content.decode()
        assert resident.id_number_masked in html  # the masked number is still shown …
        assert _shown_birth_date() not in html and "2007-04-06" not in html and "出生日期" not in html  # … alone
        assert "年龄" in html and f"<dd>{age}</dd>" in html.replace("\n", "")


def test_the_api_gives_the_age_only(people, resident, api_client, token_for):
    body = api_client.get(f"/api/v1/residents/{resident.pk}", **token_for(people["street"])).json()
    assert body["age"] == resident.age() and body["id_number"] == resident.id_number_masked
    assert "birth_date" not in body and "2007-04-06" not in str(body)


def test_the_trail_keeps_no_birth_date(people, resident):
    created = AuditEntry.objects.get(action="data.created", target_id=str(resident.pk))
    assert created.after["birth_date"] == WITHHELD_MARK and created.after["id_number_masked"]
    update_resident(actor=people["worker"], resident=resident, data={"id_number": number_born(date(1990, 1, 2))})
    changed = AuditEntry.objects.get(action="data.changed", target_id=str(resident.pk))
    assert changed.before["birth_date"] == changed.after["birth_date"] == WITHHELD_MARK
    assert "2007-04-06" not in str(changed.before) and "1990-01-02" not in str(changed.after)


@pytest.fixture
def older_record(resident):
    """A record written before the trail withheld birth dates and masked names: it is kept as it was, and read
    masked."""
    return record(actor=None, action="data.changed", target=resident,
                  before={"birth_date": "2007-04-06", "id_number_masked": "1402**********2972", "name": "王小五"},
                  after={"birth_date": "2008-05-07", "id_number_masked": "1402**********3018", "name": "王小六"})


def test_the_history_shows_no_birth_date_even_from_older_records(people, resident, older_record, client_for):
    url = reverse("ui:resident_history", args=[resident.pk])
    for role in ("street", "leader", "worker"):
        html = client_for(people[role]).get(url).content.decode()
        # the name is read masked too (`audit.service.shown_snapshot`), the masked ID number as recorded
        assert "王小六" not in html and "1402**********3018" in html
        for shown in ("2007-04-06", "2008-05-07", "2007年4月6日", "2008年5月7日"):
            assert shown not in html
    assert AuditEntry.objects.get(pk=older_record.pk).after["birth_date"] == "2008-05-07"  # the record unchanged


def test_the_audit_administrator_reads_no_birth_date_either(people, resident, older_record, api_client,
                                                            token_for):
    headers = token_for(people["audit"])
    body = api_client.get("/api/v1/audit", {"target_type": "people.resident", "target_id": str(resident.pk)},
                          **headers).json()
    assert body["items"] and "2007-04-06" not in str(body) and "2008-05-07" not in str(body)
    older = next(item for item in body["items"] if item["id"] == older_record.pk)
    assert older["after"]["birth_date"] == WITHHELD_MARK and older["after"]["name"] == "王**"
    exported = api_client.get("/api/v1/audit/export", {"target_type": "people.resident", "format": "csv"},
                              **headers).content.decode("utf-8-sig")
    assert "王**" in exported and "王小六" not in exported and "2008-05-07" not in exported and "2007-04-06" not in exported
