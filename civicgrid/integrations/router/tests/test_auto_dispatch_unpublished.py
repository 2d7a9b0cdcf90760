"""A report the router accepts and dispatches by itself (智能分拨（系统）, confidence at or above the threshold) has
been read by no one: Open311 keeps what the reporter wrote, sent and where it is blank until a person on the staff
takes the case in hand (`Case.reviewed_at`): here the department starting it. Its id, status, service and agency
are public meanwhile. The same for a resident's report on the web."""
# ruff: noqa: F811  (fixtures imported so pytest finds them here)

from __future__ import annotations

import pytest

from civicgrid.apps.cases.models import Case, Status
from civicgrid.apps.cases.services import act, submit_case
from civicgrid.apps.cases.tests.conftest import loop  # noqa: F401
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.events import bus
from civicgrid.integrations.open311.tests.conftest import (  # noqa: F401  (fixtures)
    POINT,
    _fresh_buckets,
    form,
    get,
    http,
    o311,
    post,
)
from civicgrid.integrations.router import versions
from civicgrid.integrations.router.handlers import SYSTEM_USERNAME
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db

WORDS = "小区门口垃圾堆放很多天没人清运，路边暴露垃圾发臭。我叫赵大妈，住振华南街176号新华苑1号楼2单元301"
MEDIA = "https://fms.example/photo/1.jpeg"


@pytest.fixture
def confident(o311, example_model, settings):
    versions.register(example_model, actor=o311.dispatcher, source="csv:example", activate=True)
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 0.0
    return o311


def _feed(http, case) -> list[str]:
    return [get(http, path).content.decode() for path in (
        "requests.json", "requests.xml", f"requests/{case.number}.json", f"requests/{case.number}.xml",
        "servicerequestupdates.json", "servicerequestupdates.xml")]


def _auto_dispatched(case) -> Case:
    bus.dispatch_pending()  # case.reported → router.auto_dispatch
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED and case.auto_dispatched
    assert case.steps.get(action="accept").actor.username == SYSTEM_USERNAME
    return case


def _unpublished(http, case) -> None:
    item = get(http, f"requests/{case.number}.json").json()[0]
    assert (item["status"], item["detailed_status"], item["agency_responsible"]) == ("open", Status.DISPATCHED,
                                                                                     "区城管局")
    assert item["description"] == item["address"] == item["media_url"] == item["address_id"] == ""
    assert item["lat"] in (None, "") and item["long"] in (None, "")
    for text in _feed(http, case):
        assert "赵大妈" not in text and "2单元301" not in text and MEDIA not in text and "40.01" not in text


def test_an_open311_report_the_router_dispatched_is_published_once_the_department_starts_it(confident, http):
    r = post(http, "requests.json", form(confident, description=WORDS))
    assert r.status_code == 201, r.content
    case = _auto_dispatched(Case.objects.get(number=r.json()[0]["service_request_id"]))
    assert case.reviewed_at is None
    _unpublished(http, case)
    act(actor=confident.handler, case=case, action="start")  # a person of the department takes it in hand
    case.refresh_from_db()
    assert case.reviewed_at is not None
    item = get(http, f"requests/{case.number}.json").json()[0]
    assert "赵大妈" in item["description"] and item["media_url"] == MEDIA
    assert item["lat"] == pytest.approx(POINT[1]) and item["long"] == pytest.approx(POINT[0])


def test_a_residents_web_report_the_router_dispatched_stays_unpublished(confident, http):
    resident = user_with(Role.RESIDENT, region=confident.tree["140213"], username="resident-zhao")
    case, _ = submit_case(actor=resident, category=confident.cat.pk, title="路边暴露垃圾", description=WORDS,
                          lng=POINT[0], lat=POINT[1], address="振华南街176号新华苑1号楼2单元301", source="public")
    case = _auto_dispatched(case)
    _unpublished(http, case)
    assert "振华南街" not in get(http, "requests.json").content.decode()
