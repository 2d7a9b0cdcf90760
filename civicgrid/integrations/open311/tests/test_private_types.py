"""Types about a person (养老服务, 社会救助, 治安隐患, 传染病疫情线索, 流浪乞讨 …) stay open to residents' reports
(`Category.is_public`) but are kept out of the public feed (`Category.in_public_feed`): Open311 neither lists nor
accepts them, and their cases answer 404 like any private category's. Existing databases get this through
categories migration 0004."""

from __future__ import annotations

import importlib
import uuid

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from civicgrid.apps.cases.models import Case, Source
from civicgrid.apps.cases.services import act
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.access.models import ApiToken
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import user_with

from .conftest import GRID, POINT, form, get, post, spec_error, world_counts

pytestmark = pytest.mark.django_db

migration = importlib.import_module("civicgrid.apps.categories.migrations.0004_private_vulnerable_types")
WORDS = "老人行动不便，子女在外地。"


def _elderly(o311, *, in_public_feed: bool = False) -> Category:
    social = o311.private.taxonomy
    parent = Category.objects.create(taxonomy=social, code="04", name="民生服务", is_public=True)
    return Category.objects.create(taxonomy=social, code="0402", name="养老服务", parent=parent, is_public=True,
                                   in_public_feed=in_public_feed, default_department=o311.dept)


def _handled(o311, case: Case) -> Case:
    act(actor=o311.dispatcher, case=case, action="accept")
    act(actor=o311.dispatcher, case=case, action="dispatch", department=o311.dept.pk)
    act(actor=o311.handler, case=case, action="report_back", note="已上门走访")
    return case


def _case_in(o311, http, category: Category) -> Case:
    token = ApiToken.issue(o311.worker, label="test")[1]
    response = http.post("/api/v1/cases", {"title": "独居老人需要上门照料", "description": WORDS, "lng": POINT[0],
                                           "lat": POINT[1], "category": category.pk},
                         content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 201, response.content
    return _handled(o311, Case.objects.get(number=response.json()["number"]))


def _not_in_the_feed(http, case: Case) -> None:
    for path in (f"requests/{case.number}.json", f"requests/{case.number}.xml"):
        assert "service_request_id not found" in spec_error(get(http, path), 404)
    for path in ("requests.json", "requests.xml", f"requests.json?service_request_id={case.number}",
                 "servicerequestupdates.json", "servicerequestupdates.xml"):
        text = get(http, path).content.decode()
        assert case.number not in text and WORDS not in text, path


def test_a_resident_reports_elderly_care_on_the_web_and_the_api_and_follows_it_privately(o311, http):
    elderly = _elderly(o311)
    resident = user_with(Role.RESIDENT, region=o311.tree[GRID], username="jm")
    web = Client()
    web.force_login(resident)
    assert f'<option value="{elderly.pk}"' in web.get(reverse("ui:case_report")).content.decode()
    answer = web.post(reverse("ui:case_submit"), {
        "idempotency_key": str(uuid.uuid4()), "category": str(elderly.pk), "description": WORDS,
        "lng": str(POINT[0]), "lat": str(POINT[1]), "crs": "wgs84", "address": ""})
    assert answer.status_code == 201, answer.content
    on_web = Case.objects.get(number=answer.json()["number"])
    assert on_web.category == elderly and on_web.source == Source.PUBLIC
    page = Client().get(answer.json()["follow_url"])  # the follow link opens without signing in
    assert page.status_code == 200 and on_web.number in page.content.decode()

    token = ApiToken.issue(resident, label="phone")[1]
    listed = http.get("/api/v1/categories", {"public": "true", "public_feed": "false"},
                      HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert [(c["code"], c["is_public"], c["in_public_feed"]) for c in listed["items"]] == [("0402", True, False)]
    response = http.post("/api/v1/cases", {"title": "独居老人需要助餐", "description": WORDS, "lng": POINT[0],
                                           "lat": POINT[1], "category": elderly.pk},
                         content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 201, response.content
    by_api = Case.objects.get(number=response.json()["number"])
    followed = http.get(f"/api/v1/follow/{response.json()['follow_token']}")
    assert followed.status_code == 200 and followed.json()["number"] == by_api.number

    for case in (on_web, by_api):
        _not_in_the_feed(http, _handled(o311, case))
    public = _case_in(o311, http, o311.cat)  # a problem in a public place is still published
    assert get(http, f"requests/{public.number}.json").json()[0]["description"] == WORDS


def test_open311_neither_lists_nor_accepts_a_type_kept_out_of_the_feed(o311, http):
    elderly = _elderly(o311)
    codes = [s["service_code"] for s in get(http, "services.json").json()]
    assert o311.cat.key in codes
    assert elderly.key not in codes and elderly.parent.key not in codes  # nor its class in its place
    assert "service_code not found" in spec_error(get(http, f"services/{elderly.key}.json"), 404)
    before = world_counts()
    for fmt in ("json", "xml"):
        refused = post(http, f"requests.{fmt}", form(o311, service_code=elderly.key, description=WORDS,
                                                   **{"attribute[affects_traffic]": None}))
        assert "service_code not found" in spec_error(refused, 404)
    assert world_counts() == before

    Category.objects.filter(pk=elderly.pk).update(in_public_feed=True)  # published: listed and accepted
    assert elderly.key in [s["service_code"] for s in get(http, "services.json").json()]


@pytest.mark.parametrize(("code", "name"), [("0402", "养老服务"), ("0403", "社会救助"), ("0201", "可疑人员或物品"),
                                            ("0601", "传染病疫情线索")])
def test_an_existing_case_of_a_type_the_migration_keeps_out_leaves_the_feed(o311, http, code, name):
    social = o311.private.taxonomy
    parent = Category.objects.create(taxonomy=social, code=code[:2], name="类", is_public=True)
    category = Category.objects.create(taxonomy=social, code=code, name=name, parent=parent, is_public=True)
    case = _case_in(o311, http, category)
    assert get(http, f"requests/{case.number}.json").json()[0]["description"] == WORDS  # public before
    assert case.number in get(http, "servicerequestupdates.json").content.decode()

    migration.fill(apps, None)

    category.refresh_from_db()
    assert category.is_public and not category.in_public_feed  # residents still report it
    _not_in_the_feed(http, case)
    private = _case_in(o311, http, o311.private)  # a category that was always private answers the same
    assert "service_request_id not found" in spec_error(get(http, f"requests/{private.number}.json"), 404)
