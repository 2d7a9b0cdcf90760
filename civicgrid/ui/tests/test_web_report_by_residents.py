"""/cases/new/ (登记事件) takes residents' and volunteers' reports too (`cases.report`; the form offers them 群众上报
only): the code means it for them (`WebReportForm` drops 重大事件 for them, the rate limits are tested through it).
Made, their report opened the case page, which answers them 403, and the follow link was never shown. It now opens
their follow page with the success card (the link to keep, once), and the form's breadcrumb leads to 我的上报,
not to the case list they cannot open. Staff still land on the case page."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from civicgrid.apps.cases.models import Case, CaseReporter
from civicgrid.apps.cases.tests.conftest import GRID, POINT, loop  # noqa: F401
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db


def _form(**changes) -> dict:
    return {"title": "路灯不亮", "source": "public", "lng": POINT[0], "lat": POINT[1], "crs": "wgs84",
            "idempotency_key": uuid.uuid4().hex, **changes}


def _public_reporter(loop, who: str):
    return loop.resident if who == "resident" else user_with(Role.VOLUNTEER, region=loop.tree[GRID], username="zyz")


@pytest.mark.parametrize("who", ["resident", "volunteer"])
def test_a_residents_report_opens_its_follow_page_with_the_link_to_keep(loop, client_for, who):
    user = _public_reporter(loop, who)
    c = client_for(user)
    response = c.post(reverse("ui:case_new"), _form())
    case = Case.objects.get()
    token = CaseReporter.objects.get(original_case=case).follow_token
    assert response.status_code == 302 and response["Location"] == reverse("ui:follow", args=[token])

    page = c.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and f"已登记，案卷号 {case.number}" in html
    assert "data-report-done" in html and "您的查询进度与评价链接" in html
    assert f'data-done-follow>http://testserver/follow/{token}/</a>' in html
    assert f'href="{reverse("ui:my_reports")}"' in html
    # the card is the answer to the report: shown once, not on every visit of the link
    assert "data-report-done" not in c.get(response["Location"]).content.decode()
    # and the report is in 我的上报, with the same link; the case page, where it used to go, is not theirs
    assert f'href="/follow/{token}/"' in c.get(reverse("ui:my_reports")).content.decode()
    assert c.get(reverse("ui:case_detail", args=[case.number])).status_code == 403


def test_a_form_sent_again_opens_the_same_follow_page(loop, client_for):
    c = client_for(loop.resident)
    data = _form()
    first = c.post(reverse("ui:case_new"), data)
    again = c.post(reverse("ui:case_new"), data)
    assert Case.objects.count() == 1
    assert again.status_code == 302 and again["Location"] == first["Location"]
    html = c.get(again["Location"]).content.decode()
    assert "该表单已提交过" in html and "data-report-done" in html


def test_another_link_opened_later_shows_no_card(loop, client_for):
    """The note is of the case just reported: another report's link opened next says nothing of success."""
    c = client_for(loop.resident)
    first = c.post(reverse("ui:case_new"), _form())
    other = Case.objects.get()
    c.post(reverse("ui:case_new"), _form(title="井盖松动"))
    token = CaseReporter.objects.get(original_case=other).follow_token
    assert first["Location"] == reverse("ui:follow", args=[token])
    assert "data-report-done" not in c.get(first["Location"]).content.decode()


def test_staff_still_open_the_case_page(loop, client_for):
    c = client_for(loop.dispatcher)
    response = c.post(reverse("ui:case_new"), _form(source="video"))
    case = Case.objects.get()
    assert response["Location"] == reverse("ui:case_detail", args=[case.number])
    assert "data-report-done" not in c.get(response["Location"]).content.decode()


@pytest.mark.parametrize(("who", "parent", "label"), [
    ("resident", "ui:my_reports", "我的上报"), ("dispatcher", "ui:case_list", "事件办理")])
def test_the_breadcrumb_leads_where_the_user_can_go(loop, client_for, who, parent, label):
    c = client_for(getattr(loop, who))
    html = c.get(reverse("ui:case_new")).content.decode()
    crumb = html[html.index('<nav class="breadcrumb"'):]
    crumb = crumb[:crumb.index("</nav>")]
    assert f'<a href="{reverse(parent)}"' in crumb and label in crumb
    assert c.get(reverse(parent)).status_code == 200
