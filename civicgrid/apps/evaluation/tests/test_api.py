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
    # 区水务局 had no case: listed after the ranking, unranked (无数据)
    assert (body["start"], body["end"], body["count"]) == ("2026-05-01", "2026-05-31", 3)
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
    body = client.get("/api/v1/evaluation", {"subject": "grid_worker", "month": "2026-05"},
                      **auth(district.leader)).json()
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
