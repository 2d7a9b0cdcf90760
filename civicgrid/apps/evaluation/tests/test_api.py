"""The evaluation API: the ranking table as JSON, the xlsx export opened back, refusals, and the audit record."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from civicgrid.foundation.access.models import ApiToken
from civicgrid.foundation.audit.models import AuditEntry

from .conftest import closed_case

pytestmark = pytest.mark.django_db


def auth(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user, label='test')[1]}"}


def test_ranking_table_as_json(district, client):
    closed_case(district)
    closed_case(district, department=district.other_dept, on_time=False)
    response = client.get("/api/v1/evaluation", {"subject": "department", "month": "2026-05"}, **auth(district.leader))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["subject"] == "department" and body["subject_label"] == "专业部门"
    # 区水务局 had no case: unranked (无数据), counted apart and listed after the ranking when asked for
    assert (body["start"], body["end"], body["count"], body["unranked_total"]) == ("2026-05-01", "2026-05-31", 2, 1)
    assert [i["code"] for i in body["items"]] == ["D-CG", "D-ZJ"]
    body = client.get("/api/v1/evaluation", {"subject": "department", "month": "2026-05", "unranked": "true"},
                      **auth(district.leader)).json()
    assert body["count"] == 3
    assert [t["label"] for t in body["formula"]] == ["立案数分值", "结案率", "按期处置率", "(1−返工率)"]
    first, second, idle = body["items"]
    assert (idle["code"], idle["rank"], idle["score"], idle["unscored_reason"]) == ("D-SW", None, None, "无数据")
    assert (first["code"], first["rank"], first["score"], first["grade"]) == ("D-CG", 1, 100.0, "A")
    # 100×10% + 100×30% + 0×30% + 100×30% = 70
    assert (second["code"], second["score"], second["grade"]) == ("D-ZJ", 70.0, "C")
    assert second["rates"] == {"closure_rate": 100.0, "timely_handling_rate": 0.0, "rework_rate": 0.0}
    assert body["rate_labels"]["timely_handling_rate"] == "按期处置率"
    assert first["unscored_reason"] is None


def test_a_grid_worker_without_reports_is_listed_unranked_with_the_reason(district, client):
    closed_case(district, reporter=district.worker)
    closed_case(district, 3, source="public")  # wg2's grid: a case, no report of theirs
    asked = {"subject": "grid_worker", "month": "2026-05"}
    ranked = client.get("/api/v1/evaluation", asked, **auth(district.leader)).json()
    # as on the page: the ranking only, the others counted
    assert [i["code"] for i in ranked["items"]] == ["wg1"]
    assert (ranked["count"], ranked["total"], ranked["unranked_total"]) == (1, 1, 1)
    body = client.get("/api/v1/evaluation", {**asked, "unranked": "true"}, **auth(district.leader)).json()
    assert (body["count"], body["total"], body["unranked_total"]) == (2, 2, 0)
    items = {i["code"]: i for i in body["items"]}
    assert (items["wg1"]["rank"], items["wg1"]["unscored_reason"]) == (1, None)
    idle = items["wg2"]
    assert (idle["rank"], idle["score"], idle["grade"]) == (None, None, None)
    assert idle["unscored_reason"] == "本期无上报，不参与排名"
    assert idle["rates"]["missed_report_rate"] == 100.0 and idle["rates"]["valid_report_rate"] is None
    assert [i["code"] for i in body["items"]] == ["wg1", "wg2"]


def test_export_opens_back_with_chinese_headers_and_is_audited(district, client):
    closed_case(district)
    response = client.get("/api/v1/evaluation/export", {"subject": "street", "start": "2026-05-01",
                                                         "end": "2026-05-31"}, **auth(district.leader))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert 'filename="evaluation-street-20260501-20260531.xlsx"' in response["Content-Disposition"]
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[0][:4] == ("排名", "名称", "编码", "上报数")
    assert rows[0][-2:] == ("综合得分", "等级") and "结案率(%)" in rows[0]
    assert rows[1][:3] == (1, "永泰街道", "140213050") and rows[1][-1] == "A"
    assert rows[2][:3] == (None, "古城街道", "140213051") and rows[2][-1] == "无数据"  # no case, still listed
    entry = AuditEntry.objects.get(action="data.exported", target_type="evaluation.ranking")
    assert entry.actor_id == district.leader.pk and entry.data["subject"] == "street" and entry.data["rows"] == 2


@pytest.mark.parametrize("params, status", [
    ({"subject": "weather"}, 422),
    ({"month": "2026-5"}, 422),
    ({"month": "2026-13"}, 400),
    ({"start": "2026-05-02", "end": "2026-05-01"}, 400),
    ({"start": "0001-01-01"}, 400),
    ({"month": "2026-05", "start": "2026-05-01"}, 400),
    ({"month": "2026-011"}, 422),
    ({"start": "2026-11-0199"}, 422),
    ({"month": "2099-12"}, 400),
])
def test_bad_input_is_a_clear_error(district, client, params, status):
    response = client.get("/api/v1/evaluation", params, **auth(district.leader))
    assert response.status_code == status and response.json()["detail"]


def test_who_may_evaluate(district, client):
    assert client.get("/api/v1/evaluation").status_code == 401
    for user in (district.street_dispatcher, district.worker, district.handler):
        response = client.get("/api/v1/evaluation/export", **auth(user))
        assert response.status_code == 403 and response.json()["detail"]
    assert not AuditEntry.objects.filter(action="data.exported").exists()
    assert client.get("/api/v1/evaluation", **auth(district.dispatcher)).status_code == 200


def _fractions(n: int) -> list[tuple[int, int]]:
    """`n` different valid-report rates as (valid, refused) with the fewest reports: v/d in lowest terms."""
    from math import gcd

    found = []
    d = 1
    while len(found) < n:
        found += [(v, d - v) for v in range(1, d + 1) if gcd(v, d) == 1]
        d += 1
    return found[:n]


@pytest.fixture
def fifty_five(district):
    """55 grid workers with 55 different valid-report rates (so 55 different scores: their grid terms are the
    grid's, shared), and wg1 and wg2 who reported nothing: 55 ranked rows and 2 unranked."""
    from civicgrid.apps.cases.models import Case, Status
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    from .conftest import make_case

    rows, rates = [], {}
    for i, (valid, refused) in enumerate(_fractions(55)):
        worker = user_with(Role.GRID_WORKER, region=district.tree["140213050001001"], username=f"wg-{i:02d}")
        rates[worker.username] = valid / (valid + refused)
        rows += [closed_case(district, reporter=worker, number=f"2026A{i:02d}V{k:03d}") for k in range(valid)]
        rows += [make_case(district, status=Status.REFUSED, reporter=worker, number=f"2026A{i:02d}R{k:03d}")
                 for k in range(refused)]
    assert Case.objects.count() == len(rows)
    return sorted(rates, key=lambda name: -rates[name])  # best first


def test_the_json_table_is_paged_with_ranks_of_the_whole_table(district, fifty_five, client):
    """The JSON table answered every row at once (a district's 1,000 grid workers) while the page showed 50:
    it is paged like every list of the API, 50 rows by default, and row 51 is ranked 51 on the second page."""
    token = auth(district.leader)
    asked = {"subject": "grid_worker", "month": "2026-05"}
    first = client.get("/api/v1/evaluation", asked, **token).json()
    assert (first["count"], first["total"], first["unranked_total"]) == (50, 55, 2)
    assert [i["rank"] for i in first["items"]] == list(range(1, 51))
    assert [i["code"] for i in first["items"]] == fifty_five[:50]
    second = client.get("/api/v1/evaluation", {**asked, "offset": 50}, **token).json()
    assert (second["count"], second["total"]) == (5, 55)
    assert [(i["code"], i["rank"]) for i in second["items"]] == list(zip(fifty_five[50:], range(51, 56), strict=True))
    # any page size: the ranks stay the table's
    middle = client.get("/api/v1/evaluation", {**asked, "limit": 3, "offset": 49}, **token).json()
    assert [i["rank"] for i in middle["items"]] == [50, 51, 52] and middle["count"] == 3
    # the unranked rows on request, after the ranking, without a rank
    every = client.get("/api/v1/evaluation", {**asked, "offset": 50, "unranked": "true"}, **token).json()
    assert [i["rank"] for i in every["items"]] == [51, 52, 53, 54, 55, None, None]
    assert {i["code"] for i in every["items"][5:]} == {"wg1", "wg2"}
    assert (every["count"], every["total"], every["unranked_total"]) == (7, 57, 0)
    beyond = client.get("/api/v1/evaluation", {**asked, "offset": 57, "unranked": "1"}, **token).json()
    assert (beyond["items"], beyond["count"], beyond["total"]) == ([], 0, 57)


@pytest.mark.parametrize("params, field", [
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"offset": str(10**9 + 1)}, "offset"),
    ({"unranked": "perhaps"}, "unranked"),
    ({"page": "2"}, "page"),  # the page's parameter is not the API's: refused by name, not ignored
])
def test_a_bad_page_is_refused_by_name(district, client, params, field):
    closed_case(district)
    from civicgrid.foundation.audit.models import AuditEntry as Entries

    before = Entries.objects.count()
    response = client.get("/api/v1/evaluation", {"subject": "department", "month": "2026-05", **params},
                          **auth(district.leader))
    assert response.status_code == 422, response.content
    body = response.json()
    assert field in {e["field"] for e in body["errors"]} and body["detail"]
    assert Entries.objects.count() == before
