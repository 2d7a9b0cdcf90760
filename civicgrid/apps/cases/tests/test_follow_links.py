"""Reporters' status messages link to the follow page people open (`/follow/<token>/`), not the JSON behind it."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases import recipients
from civicgrid.apps.cases.models import CaseReporter
from civicgrid.apps.cases.services import act
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
