"""The public follow page shows a 返工 between the two 处置反馈 it separates, as a generic public step (核查未通过，
重新处置), never with the reason the grid worker wrote for staff."""

from __future__ import annotations

import pytest
from django.test import Client

from civicgrid.apps.cases.services import act, follow_status

from .conftest import close_loop, report

pytestmark = pytest.mark.django_db
REASON = "现场仍有残留，处置照片模糊，联系13812345678"


def reworked(loop):
    case = report(loop)
    for actor, action, inputs in ((loop.dispatcher, "accept", {}),
                                  (loop.dispatcher, "dispatch", {"department": loop.dept.pk}),
                                  (loop.handler, "report_back", {"note": "已清理"}),
                                  (loop.worker, "rework", {"reason": REASON}),
                                  (loop.handler, "report_back", {"note": "已再次清理"})):
        case = act(actor=actor, case=case, action=action, **inputs)
    return case


def test_the_follow_page_shows_the_rework_between_the_two_handlings_without_its_reason(loop):
    case = reworked(loop)
    token = case.reporters.get().follow_token
    steps = follow_status(token)["steps"]
    assert [s["action"] for s in steps] == ["report", "accept", "dispatch", "report_back", "rework", "report_back"]
    rework = steps[4]
    assert rework["label"] == "核查未通过，重新处置" and rework["note"] == ""
    html = Client().get(f"/follow/{token}/").content.decode()
    assert '<li data-step="rework"><strong>核查未通过，重新处置</strong>' in html
    assert "残留" not in html and "13812345678" not in html and "1381234" not in html
    api = Client().get(f"/api/v1/follow/{token}").json()
    assert [s["label"] for s in api["steps"]][3:6] == ["处置反馈", "核查未通过，重新处置", "处置反馈"]
    assert "残留" not in str(api)


def test_staff_still_read_the_rework_as_such_with_its_reason(loop, client):
    case = close_loop(loop, reworked(loop))
    client.force_login(loop.dispatcher)
    html = client.get(f"/cases/{case.number}/").content.decode()
    assert "核查不通过（返工）" in html and "现场仍有残留" in html and "核查未通过，重新处置" not in html
