"""Reporters' status messages link to the follow page people open (`/follow/<token>/`), not the JSON behind it."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases import recipients
from civicgrid.apps.cases.models import CaseReporter
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.workflow import CASE_WORKFLOW
from civicgrid.foundation.notify.models import Notification, OutgoingMessage

from .conftest import jpeg, report

pytestmark = pytest.mark.django_db


def test_the_closing_message_links_to_the_follow_page(loop, client, settings):
    settings.CIVICGRID_PUBLIC_BASE_URL = "https://grid.example.cn/"
    case = report(loop, actor=loop.resident, source="public", reporter_phone="13700000001")
    token = CaseReporter.objects.get(original_case=case).follow_token
    for actor, action, inputs in ((loop.dispatcher, "accept", {}), (loop.dispatcher, "dispatch", {"department": loop.dept.pk}),
                                  (loop.handler, "report_back", {"note": "已清理"}),
                                  (loop.worker, "verify", {"photos": [jpeg()]}), (loop.dispatcher, "close", {})):
        case = act(actor=actor, case=case, action=action, **inputs)
    link = f"https://grid.example.cn/follow/{token}/"
    assert recipients.follow_url(token) == link
    sms = OutgoingMessage.objects.filter(channel="sms").order_by("-id").first()
    inbox = Notification.objects.filter(user=loop.resident).order_by("-id").first()
    for body in (sms.body, inbox.body):
        assert link in body and "/api/" not in body
    # the link opens the human page
    page = client.get(f"/follow/{token}/")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert case.number in page.content.decode()


def _close(loop, case):
    """Take the case through the rest of the loop to 结案, from wherever it is."""
    for actor, action, inputs in ((loop.dispatcher, "accept", {}),
                                  (loop.dispatcher, "dispatch", {"department": loop.dept.pk}),
                                  (loop.handler, "report_back", {"note": "已清理"}),
                                  (loop.worker, "verify", {"photos": [jpeg()]}), (loop.dispatcher, "close", {})):
        if action in {t.name for t in CASE_WORKFLOW.allowed(case, actor)}:
            case = act(actor=actor, case=case, action=action, **inputs)
    return case


def test_a_reopened_case_is_rated_again_once_closed_again_and_once_per_closing(loop):
    from civicgrid.apps.cases.services import follow_status, rate, reopen_by_token
    from civicgrid.foundation.core.errors import Conflict

    case = _close(loop, report(loop, actor=loop.resident, source="public"))
    token = CaseReporter.objects.get(original_case=case).follow_token
    rate(follow_token=token, score=2, comment="不彻底")
    with pytest.raises(Conflict, match="您已评价过本次办结"):
        rate(follow_token=token, score=5)
    case = reopen_by_token(follow_token=token, reason="又堆满了")
    assert follow_status(token)["can_rate"] is False  # open again: nothing to rate yet
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    case = _close(loop, case)
    assert follow_status(token)["can_rate"] is True
    rate(follow_token=token, score=4, comment="这次清干净了")
    case.refresh_from_db()
    assert case.satisfaction == 4 and follow_status(token)["rating"] == 4


def test_staff_do_not_rate_their_own_reports_the_resident_they_forward_the_link_to_does(loop, client):
    """The grid worker's link (of a case fixed on the spot, say) is for the resident: signed in as the worker,
    the page offers no rating and the service refuses it; the same link opened by anyone else rates."""
    from civicgrid.apps.cases.services import follow_status, rate
    from civicgrid.foundation.core.errors import Conflict

    case = report(loop, self_handled=True, photos=[("after", jpeg())])
    token = CaseReporter.objects.get(original_case=case).follow_token
    assert follow_status(token, viewer=loop.worker)["can_rate"] is False
    with pytest.raises(Conflict, match="工作人员不评价自己上报的事件"):
        rate(follow_token=token, score=5, actor=loop.worker)
    client.force_login(loop.worker)
    assert 'id="rate"' not in client.get(f"/follow/{token}/").content.decode()
    case.refresh_from_db()
    assert case.satisfaction is None
    client.logout()
    assert 'id="rate"' in client.get(f"/follow/{token}/").content.decode()
    assert follow_status(token)["can_rate"] is True
    rate(follow_token=token, score=4)
    case.refresh_from_db()
    assert case.satisfaction == 4
