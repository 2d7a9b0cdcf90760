"""The categories and routing API as each kind of user sees it."""

from __future__ import annotations

import pytest

from civicgrid.apps.categories import services
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db
GRID = "140213050001001"


@pytest.fixture
def as_user(loaded, token_for):
    def headers(role, **grant):
        return token_for(user_with(role, **grant))

    return headers


@pytest.fixture
def worker(as_user, tree):
    return as_user(Role.GRID_WORKER, region=tree[GRID])


def garbage() -> Category:
    return Category.objects.get(taxonomy__code="gbt47678_5_2026", kind="matter", code="06010")


def test_taxonomies(api_client, worker):
    body = api_client.get("/api/v1/taxonomies", **worker).json()
    by_code = {t["code"]: t for t in body["items"]}
    assert set(by_code) == {"gbt47678_5_2026", "social"}
    assert by_code["gbt47678_5_2026"]["categories"] == 153 + 250 + 15
    assert by_code["social"]["name"] == "社会治理事件类型"


def test_category_list_filters(api_client, worker):
    get = lambda **q: api_client.get("/api/v1/categories", q, **worker).json()  # noqa: E731
    matters = get(taxonomy="gbt47678_5_2026", kind="matter", top="false", limit=1000)
    assert matters["total"] == 250 and len(matters["items"]) == 250
    item = next(i for i in matters["items"] if i["code"] == "06010")
    assert item["key"] == "gbt47678_5_2026:matter:06010" and item["name"] == "暴露垃圾"
    assert item["time_limit_amount"] == 1 and item["time_limit_mode"] == "working_days"
    assert item["time_limit_text"] == "1 工作日" and item["default_department"] == "平城区城管局"
    assert "垃圾" in item["keywords"] and item["parent_code"] == "06" and item["kind_label"] == "事项"
    assert get(taxonomy="social", top="true")["total"] == 8
    found = get(q="井盖", kind="matter")
    assert found["total"] >= 20 and all("井盖" in i["name"] or "井盖" in i["keywords"] for i in found["items"])
    # Not open to reports: the 9 dispute types, the 6 special-group types and 黄赌毒线索.
    assert get(public="false", taxonomy="social", top="false")["total"] == 9 + 6 + 1
    # Open to reports but kept out of Open311: the other 5 security-lead types (治安隐患), 养老服务, 社会救助, 就业社保,
    # 教育服务 and 传染病疫情线索.
    kept_out = get(public="true", public_feed="false", taxonomy="social", top="false")
    assert kept_out["total"] == 5 + 4 + 1
    assert {i["name"] for i in kept_out["items"]} >= {"养老服务", "社会救助", "可疑人员或物品", "传染病疫情线索"}
    assert all(i["is_public"] and not i["in_public_feed"] for i in kept_out["items"])
    assert get(q="\x00垃圾")["total"] >= 1  # NUL is dropped, never a 500
    assert get(taxonomy="nowhere")["total"] == 0


def test_category_detail(api_client, worker):
    cls = Category.objects.get(taxonomy__code="social", code="07")
    body = api_client.get(f"/api/v1/categories/{cls.pk}", **worker).json()
    assert body["name"] == "防汛应急" and body["parent_id"] is None
    assert {c["name"] for c in body["children"]} >= {"积水内涝", "排水不畅"}
    assert body["edited_at"] is None
    assert api_client.get("/api/v1/categories/999999999", **worker).status_code == 404
    assert api_client.get(f"/api/v1/categories/{2**63}", **worker).status_code in (404, 422)


def test_residents_see_only_public_categories(api_client, as_user, tree):
    resident = as_user(Role.RESIDENT, region=tree[GRID])
    body = api_client.get("/api/v1/categories", {"limit": 1000}, **resident).json()
    assert body["total"] == Category.objects.filter(is_public=True).count()
    assert all(i["is_public"] for i in body["items"])
    hidden = Category.objects.get(taxonomy__code="social", code="0501")  # 社区矫正对象
    assert api_client.get(f"/api/v1/categories/{hidden.pk}", **resident).status_code == 404
    assert api_client.get(f"/api/v1/categories/{garbage().pk}", **resident).status_code == 200


def test_administrators_without_the_capability_are_refused(api_client, as_user):
    auditor = as_user(Role.AUDIT_ADMIN)
    assert api_client.get("/api/v1/categories", **auditor).status_code == 403
    assert api_client.get(f"/api/v1/categories/{garbage().pk}", **auditor).status_code == 403
    assert api_client.get("/api/v1/categories").status_code == 401


def test_resolve_explains_the_suggestion(api_client, as_user, tree, departments):
    dispatcher = as_user(Role.STREET_DISPATCHER, region=tree["140213050"])
    resp = api_client.get("/api/v1/routing/resolve", {"category": garbage().pk, "region": GRID}, **dispatcher)
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["department"]["label"] == "区城管局" and body["source"] == "default" and body["rule"] is None
    flooding = Category.objects.get(taxonomy__code="social", code="0701")
    body = api_client.get("/api/v1/routing/resolve", {"category": flooding.pk, "region": GRID}, **dispatcher).json()
    assert body["source"] == "patron" and body["rule"]["kind"] == "patron" and "包保" in body["explanation"]
    rule = services.create_rule(actor=None, category=garbage(), region_code=GRID[:12],
                                department=departments["区住建局"], note="试点社区")
    body = api_client.get("/api/v1/routing/resolve", {"category": garbage().pk, "region": GRID}, **dispatcher).json()
    assert body["rule"]["id"] == rule.pk and body["category_match"] == "exact" and "试点社区" in body["explanation"]


def test_resolve_stays_within_the_dispatchers_regions(api_client, as_user, tree):
    dispatcher = as_user(Role.STREET_DISPATCHER, region=tree["140213050"])
    other_street = "140213051001001"
    params = {"category": garbage().pk, "region": other_street}
    assert api_client.get("/api/v1/routing/resolve", params, **dispatcher).status_code == 404
    manager = as_user(Role.COMMAND_DISPATCHER, region=tree["140213"])
    assert api_client.get("/api/v1/routing/resolve", params, **manager).status_code == 200
    worker = as_user(Role.GRID_WORKER, region=tree[GRID])
    assert api_client.get("/api/v1/routing/resolve", {**params, "region": GRID}, **worker).status_code == 403
    for bad in ("abc", "14021", "１４０２１３", "\x00"):
        assert api_client.get("/api/v1/routing/resolve", {**params, "region": bad}, **manager).status_code == 400
    assert api_client.get("/api/v1/routing/resolve", {"category": 0, "region": GRID}, **manager).status_code == 404


def test_rules_list_for_managers(api_client, as_user, tree):
    manager = as_user(Role.COMMAND_DISPATCHER, region=tree["140213"])
    body = api_client.get("/api/v1/routing/rules", {"kind": "patron"}, **manager).json()
    assert body["total"] == 18 and {i["category"]["name"] for i in body["items"]} == {"防汛应急"}
    street = api_client.get("/api/v1/routing/rules", {"region": "140213065"}, **manager).json()
    assert [i["department"] for i in street["items"]] == ["平城区应急局"]  # APIs name departments in full
    assert api_client.get("/api/v1/routing/rules", {"region": "x"}, **manager).status_code == 400
    dispatcher = as_user(Role.STREET_DISPATCHER, region=tree["140213050"])
    assert api_client.get("/api/v1/routing/rules", **dispatcher).status_code == 403


@pytest.mark.parametrize("query", [{"offset": 2**80}, {"offset": -1}, {"limit": 0}, {"limit": 10**6},
                                   {"parent": 2**70}, {"kind": "x"}, {"public": "perhaps"}])
def test_out_of_range_filters_are_refused_not_500(api_client, as_user, tree, query):
    manager = as_user(Role.COMMAND_DISPATCHER, region=tree["140213"])
    for url in ("/api/v1/categories", "/api/v1/routing/rules"):
        status = api_client.get(url, query, **manager).status_code
        assert status in (200, 422), (url, query, status)
    assert api_client.get("/api/v1/routing/resolve", {"category": 2**80, "region": GRID}, **manager).status_code in (
        404, 422)
