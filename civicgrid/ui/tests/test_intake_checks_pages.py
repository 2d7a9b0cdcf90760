"""The intake checks on the pages: the 12345 form's ticket (required, canonical, of the form of one) and its
street; the phone page's 自行处置 (a category, said beforehand); the confirmation's words to staff, who do not
rate through the follow link."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from civicgrid.apps.cases.models import Case, CaseReporter
from civicgrid.apps.cases.tests.conftest import (  # noqa: F401
    OTHER_STREET_POINT,
    POINT,
    jpeg,
    loop,
    report,
    world_counts,
)
from civicgrid.ui.pages.follow import JUST_REPORTED

pytestmark = pytest.mark.django_db

STAFF_LINK = "查询进度的链接（工作人员不能通过此链接评价；可转发给反映问题的群众，由其本人评价或申请重新办理）："


def form(loop, ticket: str, point=POINT) -> dict:
    return {"hotline_ticket": ticket, "caller_name": "张先生", "callback_phone": "13812345678",
            "title": "路灯不亮", "description": "小区门口路灯坏了", "address": "", "lng": str(point[0]),
            "lat": str(point[1]), "crs": "wgs84", "category": str(loop.cat.pk), "idempotency_key": uuid.uuid4().hex}


@pytest.mark.parametrize("ticket", ["", "  ", "- / -"])
def test_the_hotline_form_refuses_a_report_without_a_ticket(loop, client_for, ticket):
    before = world_counts()
    response = client_for(loop.dispatcher).post(reverse("ui:case_hotline"), form(loop, ticket))
    html = response.content.decode()
    assert response.status_code == 400
    assert "12345 热线转办须填写热线工单号" in html and "needs the hotline ticket number" not in html
    assert world_counts() == before


def test_the_hotline_form_refuses_a_malformed_ticket_and_stores_a_good_one_canonical(loop, client_for):
    c = client_for(loop.dispatcher)
    before = world_counts()
    response = c.post(reverse("ui:case_hotline"), form(loop, "工单#0001"))
    html = response.content.decode()
    assert response.status_code == 400 and "热线工单号格式不正确" in html and "malformed" not in html
    assert world_counts() == before
    c.cookies["django_language"] = "en"
    html = c.post(reverse("ui:case_hotline"), form(loop, "工单#0001")).content.decode()
    assert "the hotline ticket number is malformed" in html and world_counts() == before
    # the English of the missing ticket comes from the catalogue (this checkout's may not hold it yet)
    assert c.post(reverse("ui:case_hotline"), form(loop, "")).status_code == 400 and world_counts() == before

    response = c.post(reverse("ui:case_hotline"), form(loop, " １２３４５ ２０２６１２０１／０００１ "))
    assert response.status_code == 302
    assert Case.objects.get().hotline_ticket == "12345-20261201-0001"
    assert 'placeholder="12345-20261130-0001"' in c.get(reverse("ui:case_hotline")).content.decode()


def test_the_hotline_form_of_a_street_dispatcher_refuses_a_case_in_another_street(loop, client_for):
    c = client_for(loop.street_dispatcher)
    before = world_counts()
    response = c.post(reverse("ui:case_hotline"), form(loop, "12345-20261201-0001", OTHER_STREET_POINT))
    html = response.content.decode()
    assert response.status_code == 400
    assert "该位置属于古城街道，不在您受理登记的辖区内" in html
    assert world_counts() == before
    assert c.post(reverse("ui:case_hotline"), form(loop, "12345-20261201-0001")).status_code == 302


def _submit(client, **fields):
    data = {"idempotency_key": str(uuid.uuid4()), "category": "", "description": "路边垃圾已清理",
            "lng": str(POINT[0]), "lat": str(POINT[1]), "crs": "wgs84", "address": ""}
    data.update(fields)
    return client.post(reverse("ui:case_submit"), data)


def test_the_phone_page_says_and_the_server_holds_that_self_handled_needs_a_category(loop, client_for):
    page = client_for(loop.worker).get(reverse("ui:case_report")).content.decode()
    assert "自行处置的上报须选择分类，并上传处置后照片（处置前照片可选）。" in page
    assert 'aria-describedby="self-handled-hint"' in page and 'id="self-handled-hint"' in page
    assert "data-self-handled-hint" not in client_for(loop.resident).get(reverse("ui:case_report")).content.decode()
    assert '"need_category"' in page  # the script's own check before sending

    before = world_counts()
    after = SimpleUploadedFile("a.jpg", jpeg(), content_type="image/jpeg")
    response = _submit(client_for(loop.worker), self_handled="1", photos_after=[after])
    assert response.status_code == 400 and response.json()["field"] == "category", response.content
    assert response.json()["detail"].startswith("自行处置须选择事件分类")
    assert world_counts() == before


def test_the_confirmation_tells_staff_the_link_is_for_the_reporter_to_rate(loop, client_for):
    staff = client_for(loop.worker).get(reverse("ui:case_report")).content.decode()
    assert STAFF_LINK in staff and "查询进度与评价的链接" not in staff
    resident = client_for(loop.resident).get(reverse("ui:case_report")).content.decode()
    assert "您的查询进度与评价链接" in resident and STAFF_LINK not in resident

    # a desk form's report opens its follow page with the same card
    case = report(loop)
    token = CaseReporter.objects.get(original_case=case).follow_token
    c = client_for(loop.worker)
    session = c.session
    session[JUST_REPORTED] = case.number
    session.save()
    html = c.get(reverse("ui:follow", args=[token])).content.decode()
    assert "data-report-done" in html and STAFF_LINK in html and "查询进度与评价的链接" not in html
