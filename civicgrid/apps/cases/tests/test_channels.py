"""Who may report through which channel, and where a case may be sent: the source decides what the evaluation
counts (群众上报, 网格员上报, 12345 …), and a case sent to an organisation nobody acts for would wait forever.
Every refusal changes nothing."""

from __future__ import annotations

import base64

import pytest

from civicgrid.apps.cases.models import Case, Source, Status
from civicgrid.apps.cases.services import act
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.orgs.models import Organisation, OrgKind
from civicgrid.testing.builders import department, user_with

from .conftest import GRID, OTHER_STREET_POINT, POINT, auth, jpeg, report, world_counts

pytestmark = pytest.mark.django_db


def _post(client, user, **body):
    data = {"title": "路边暴露垃圾", "lng": POINT[0], "lat": POINT[1], **body}
    return client.post("/api/v1/cases", data, content_type="application/json", **auth(user))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(("who", "source"), [
    ("resident", "hotline"), ("resident", "grid_worker"), ("resident", "superior"), ("resident", "open311"),
    ("worker", "hotline"), ("worker", "video"), ("worker", "open311"),
])
def test_a_report_through_a_channel_the_role_does_not_use_is_refused(loop, api_client, who, source):
    before = world_counts()
    response = _post(api_client, getattr(loop, who), source=source, hotline_ticket="12345-0001")
    assert response.status_code == 403, response.content
    assert "不能以该来源" in response.json()["detail"]
    assert world_counts() == before


def test_each_role_reports_through_its_own_channels(loop, api_client):
    assert _post(api_client, loop.resident).json()["source"] == Source.PUBLIC
    assert _post(api_client, loop.worker).json()["source"] == Source.GRID_WORKER
    assert _post(api_client, loop.worker, source="public").json()["source"] == Source.PUBLIC  # relaying a resident
    # street staff are staff: a field report, not a citizen's (it was counted as 群众上报)
    street = user_with(Role.STREET_STAFF, region=loop.tree["140213050"], username="jd")
    assert _post(api_client, street).json()["source"] == Source.GRID_WORKER
    body = _post(api_client, loop.street_dispatcher, source="hotline", hotline_ticket="12345-0002",
                 caller_name="李四", callback_phone="13700000000").json()
    assert body["source"] == Source.HOTLINE
    assert _post(api_client, loop.dispatcher, source="superior").json()["source"] == Source.SUPERIOR


def test_a_resident_cannot_flag_a_report_major_nor_claim_self_handling(loop, api_client):
    before = world_counts()
    response = _post(api_client, loop.resident, is_major=True)
    assert response.status_code == 403 and "重大" in response.json()["detail"]
    response = _post(api_client, loop.worker, source="self_handled")  # the source without self-handling
    assert response.status_code == 400 and response.json()["field"] == "source"
    assert world_counts() == before
    assert _post(api_client, loop.worker, is_major=True).json()["is_major"] is True  # staff may


def test_dispatch_only_to_an_organisation_that_handles_cases_and_has_someone_to(loop):
    """A committee, a property company or a volunteer group does not handle dispatched cases; a department
    without any handler account cannot act on one. Both are refused, and the case stays where it was."""
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    committee = Organisation.objects.create(code="JWH001", name="永泰社区居委会", kind=OrgKind.COMMITTEE,
                                            region=loop.tree[GRID[:12]])
    empty = department("区水务局")
    before = world_counts()
    with pytest.raises(ValidationFailed, match="不办理派遣的事件") as refused:
        act(actor=loop.dispatcher, case=case, action="dispatch", department=committee.pk)
    assert refused.value.field == "department"
    with pytest.raises(ValidationFailed, match="还没有处置人员账号"):
        act(actor=loop.dispatcher, case=case, action="dispatch", department=empty.pk)
    assert world_counts() == before
    # once someone may act for it, the department takes the case
    user_with(Role.DEPARTMENT_HANDLER, department=empty, username="sw")
    case = act(actor=loop.dispatcher, case=Case.objects.get(pk=case.pk), action="dispatch", department=empty.pk)
    assert case.status == Status.DISPATCHED and case.department == empty


def test_a_send_back_naming_an_unknown_department_names_that_field(loop):
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    before = world_counts()
    with pytest.raises(ValidationFailed) as refused:
        act(actor=loop.handler, case=case, action="send_back", reason="不归我们", proposed_department=999999)
    assert refused.value.field == "proposed_department"
    assert world_counts() == before


def test_the_web_form_offers_only_the_channels_of_the_account(loop, client):
    from django.urls import reverse

    client.force_login(loop.resident)
    html = client.get(reverse("ui:case_new")).content.decode()
    assert 'value="public"' in html and 'value="video"' not in html and 'name="is_major"' not in html
    client.force_login(loop.dispatcher)
    html = client.get(reverse("ui:case_new")).content.decode()
    assert 'value="video"' in html and 'value="superior"' in html and 'name="is_major"' in html
    client.force_login(loop.worker)
    html = client.get(reverse("ui:case_new")).content.decode()
    assert 'value="grid_worker"' in html and 'value="video"' not in html


def test_a_service_caller_gets_the_same_refusal(loop):
    before = world_counts()
    with pytest.raises(PermissionDenied):
        report(loop, actor=loop.resident, source="hotline")
    assert world_counts() == before


@pytest.mark.parametrize(("query", "field"), [
    ("date_from=0001-01-01", "date_from"), ("date_to=9999-12-31", "date_to"),
    ("date_from=2026-05-02&date_to=2026-05-01", "date_to"),
])
def test_list_dates_outside_the_years_or_reversed_are_a_clear_400(loop, api_client, query, field):
    """Once a 500 (the day after 9999-12-31 does not exist)."""
    report(loop)
    response = api_client.get(f"/api/v1/cases?{query}", **auth(loop.dispatcher))
    assert response.status_code == 400 and response.json()["field"] == field


def test_a_hotline_ticket_is_registered_once_unless_it_was_refused(loop, api_client):
    body = {"source": "hotline", "hotline_ticket": "12345-20261130-0001", "caller_name": "李四",
            "callback_phone": "13700000000"}
    first = _post(api_client, loop.dispatcher, **body).json()
    before = world_counts()
    response = _post(api_client, loop.dispatcher, **{**body, "title": "同一工单再次录入"})
    assert response.status_code == 409 and first["number"] in response.json()["detail"]
    assert response.json()["field"] == "hotline_ticket" and world_counts() == before
    act(actor=loop.dispatcher, case=Case.objects.get(number=first["number"]), action="refuse", reason="非本区事项")
    assert _post(api_client, loop.dispatcher, **{**body, "title": "热线重新转办"}).status_code == 201


@pytest.mark.parametrize(("who", "body"), [
    ("resident", {}), ("resident", {"source": "public"}), ("volunteer", {}), ("worker", {}),
    ("worker", {"source": "public"}), ("dispatcher", {"source": "superior"}), ("dispatcher", {"source": "video"}),
    ("dispatcher", {}), ("worker", {"source": "self_handled", "self_handled": True}),
])
def test_only_a_hotline_report_carries_a_ticket(loop, api_client, who, body):
    """A report of any other channel naming a 12345 ticket is a 400 that writes nothing (it once made a 群众上报
    holding the ticket, which then blocked the real hand-over), whoever sends it; the hotline then registers the
    ticket as usual."""
    user = user_with(Role.VOLUNTEER, region=loop.tree[GRID], username="zyz") if who == "volunteer" else \
        getattr(loop, who)
    before = world_counts()
    response = _post(api_client, user, hotline_ticket="12345-20261201-9998", **body)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "hotline_ticket"
    assert response.json()["detail"].startswith("只有 12345 热线转办（来源 hotline）可以填写热线工单号")
    assert "only a 12345 hotline report" in response.json()["detail"]
    assert world_counts() == before and not Case.objects.filter(hotline_ticket="12345-20261201-9998").exists()
    real = _post(api_client, loop.dispatcher, source="hotline", hotline_ticket="12345-20261201-9998",
                 caller_name="李四", callback_phone="13700000000")
    assert real.status_code == 201 and real.json()["hotline_ticket"] == "12345-20261201-9998"


def test_a_resident_naming_a_registered_ticket_learns_nothing_of_its_case(loop, api_client):
    first = _post(api_client, loop.dispatcher, source="hotline", hotline_ticket="12345-20261130-0317",
                  lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1]).json()
    before = world_counts()
    response = _post(api_client, loop.resident, hotline_ticket="１２３４５－２０２６１１３０－０３１７")
    assert response.status_code == 400 and response.json()["field"] == "hotline_ticket"
    assert first["number"] not in response.content.decode() and world_counts() == before


def test_a_ticket_on_a_case_of_another_source_blocks_no_hand_over(loop, api_client):
    """Cases that took a ticket through another channel before intake refused it: the hotline still registers
    the real one."""
    walk_in = report(loop, actor=loop.resident, source="public")
    Case.objects.filter(pk=walk_in.pk).update(hotline_ticket="12345-20261201-9998")
    response = _post(api_client, loop.dispatcher, source="hotline", hotline_ticket="12345-20261201-9998")
    assert response.status_code == 201 and response.json()["number"] != walk_in.number


def test_a_repeated_ticket_names_its_case_only_to_whom_may_open_it(loop, api_client):
    """The 409 names (and the form links) the case the ticket became for a user whose scope holds it; for another
    it says the ticket is registered elsewhere in the district and whom to ask, without the number."""
    body = {"source": "hotline", "hotline_ticket": "12345-20261130-0317", "caller_name": "李四",
            "callback_phone": "13700000000"}
    far = _post(api_client, loop.dispatcher, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1], **body).json()
    before = world_counts()
    response = _post(api_client, loop.street_dispatcher, **body)
    detail = response.json()["detail"]
    assert response.status_code == 409 and response.json()["field"] == "hotline_ticket"
    assert far["number"] not in response.content.decode()
    assert "已在区内其他辖区登记为案卷" in detail and "区指挥中心" in detail and "district command centre" in detail
    assert api_client.get(f"/api/v1/cases/{far['number']}", **auth(loop.street_dispatcher)).status_code == 404
    # the street whose case it is, and the district, read its number
    for user in (loop.other_street_dispatcher, loop.dispatcher):
        response = _post(api_client, user, **body)
        assert response.status_code == 409 and f"已登记为案卷 {far['number']}" in response.json()["detail"]
    assert world_counts() == before


def test_the_callback_contact_is_masked_and_revealed_to_intake_staff_only_audited(loop, api_client, client):
    """回访: the caller's name and number are masked on the page and in the API; intake staff over the case's
    region read them in clear through one audited request; others are refused, audited too."""
    from django.urls import reverse

    from civicgrid.foundation.audit.models import AuditEntry

    case = Case.objects.get(number=_post(api_client, loop.street_dispatcher, source="hotline",
                                         hotline_ticket="12345-1", caller_name="张三丰",
                                         callback_phone="13712345678").json()["number"])
    detail = api_client.get(f"/api/v1/cases/{case.number}", **auth(loop.dispatcher)).json()
    assert detail["reporter_name"] == "张**" and detail["reporter_phone_masked"] == "137****5678"
    client.force_login(loop.worker)
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert "张**" in html and "张三丰" not in html and "data-reveal-contact" not in html
    # a grid worker may not; the refusal is audited and shows nothing
    response = api_client.post(f"/api/v1/cases/{case.number}/contact", **auth(loop.worker))
    assert response.status_code == 403 and "13712345678" not in response.content.decode()
    assert AuditEntry.objects.filter(action="data.revealed", target_id=str(case.pk), result="denied").count() == 1
    # another street's dispatcher does not see the case at all
    assert api_client.post(f"/api/v1/cases/{case.number}/contact",
                           **auth(loop.other_street_dispatcher)).status_code == 404
    # the street's dispatcher does, from the page (the button) and the API
    client.force_login(loop.street_dispatcher)
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert "data-reveal-contact" in html and "张三丰" not in html
    response = client.post(reverse("ui:case_reveal_contact", args=[case.number]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "张三丰 13712345678" in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    body = api_client.post(f"/api/v1/cases/{case.number}/contact", **auth(loop.street_dispatcher)).json()
    assert body == {"name": "张三丰", "phone": "13712345678", "email": ""}
    assert AuditEntry.objects.filter(action="data.revealed", target_id=str(case.pk), result="ok").count() == 2


def test_a_refused_reveal_from_the_page_is_audited_as_the_apis_and_reads_被拒绝(loop, api_client, client):
    """A grid worker (no 回访 capability) posting to the page's reveal address is refused and recorded, as the
    API records it; the audit administrator's page names the result in words, not the stored code."""
    from django.urls import reverse

    from civicgrid.foundation.audit.models import AuditEntry

    case = Case.objects.get(number=_post(api_client, loop.street_dispatcher, source="hotline",
                                         hotline_ticket="12345-7", caller_name="张三丰",
                                         callback_phone="13712345678").json()["number"])
    url = reverse("ui:case_reveal_contact", args=[case.number])
    before = world_counts()
    for user in (loop.worker, loop.leader):  # both see the case, neither calls reporters back
        client.force_login(user)
        response = client.post(url, HTTP_HX_REQUEST="true")
        assert response.status_code == 403 and "13712345678" not in response.content.decode()
        assert AuditEntry.objects.filter(action="data.revealed", target_id=str(case.pk), actor=user,
                                         result="denied", channel="web").count() == 1
    assert world_counts() == before
    # a user who cannot see the case learns nothing (404), as from the API
    client.force_login(loop.other_street_dispatcher)
    assert client.post(url).status_code == 404
    # the audit trail reads 被拒绝 for these refusals
    auditor = user_with(Role.AUDIT_ADMIN, region=loop.tree["140213"])
    client.force_login(auditor)
    html = client.get(reverse("ui:audit_log"), {"action": "data.revealed"}).content.decode()
    assert html.count("被拒绝</td>") >= 2 and ">denied<" not in html


def test_extension_refusals_name_the_state_and_zero_hours_are_out_of_range(loop, api_client):
    """A second request while one waits is the case's state (409), not the role (it said 403); hours=0 is a
    value out of range (400), not a missing input (422)."""
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    url = f"/api/v1/cases/{case.number}/actions/request_extension"
    response = api_client.post(url, {"reason": "等配件", "hours": 0}, content_type="application/json", **auth(loop.handler))
    assert response.status_code == 400 and response.json()["field"] == "hours"
    assert api_client.post(url, {"reason": "等配件", "hours": 8}, content_type="application/json",
                           **auth(loop.handler)).status_code == 200
    before = world_counts()
    response = api_client.post(url, {"reason": "还要等", "hours": 8}, content_type="application/json",
                               **auth(loop.handler))
    assert response.status_code == 409 and "已有待审批的延期申请" in response.json()["detail"]
    assert world_counts() == before


@pytest.mark.parametrize(("body", "message"), [("[1,2]", "JSON 对象"), ("not json", "不是有效的 JSON")])
def test_an_action_body_that_is_no_json_object_is_refused_and_changes_nothing(loop, api_client, body, message):
    """A JSON array was once taken as "no inputs" and the case accepted."""
    case = report(loop)
    before = world_counts()
    response = api_client.post(f"/api/v1/cases/{case.number}/actions/accept", body, content_type="application/json",
                               **auth(loop.dispatcher))
    assert response.status_code in (400, 422) and message in response.json()["detail"]
    assert world_counts() == before


def _public_accepted() -> int:
    from django.utils import timezone

    from civicgrid.apps.evaluation.selectors import counts_q

    return Case.objects.filter(counts_q(timezone.now())["public_accepted"]).count()


@pytest.mark.parametrize("named", [None, "self_handled", "grid_worker"])
def test_a_self_handled_report_is_stored_under_its_own_channel(loop, api_client, named):
    """自行处置 is the channel, as the phone page sends it: a report naming 网格员上报 (or none) is stored so too, and
    the evaluation does not count it as the public's report."""
    body = {"source": named} if named else {}
    response = _post(api_client, loop.worker, self_handled=True, category=loop.cat.pk,
                     photos=[{"kind": "after", "content_base64": _b64(jpeg())}], **body)
    assert response.status_code == 201, response.content
    assert response.json()["source"] == Source.SELF_HANDLED
    case = Case.objects.get(number=response.json()["number"])
    assert case.source == Source.SELF_HANDLED and case.is_self_handled and case.status == Status.CLOSED
    assert _public_accepted() == 0
    # the service says the same to any caller (the demo's history named grid_worker)
    assert report(loop, self_handled=True, source="grid_worker", photos=[("after", jpeg())]).source == \
        Source.SELF_HANDLED


@pytest.mark.parametrize("named", ["public", "video", "hotline"])
def test_a_self_handled_report_naming_another_channel_is_refused(loop, api_client, named):
    """A case the worker fixed on the spot, sent as 群众上报 (or another channel that brings in someone else's
    report), would count as the public's report and against the grid's 漏报率: a 400 on `source` in both
    languages, nothing written."""
    before = world_counts()
    ticket = {"hotline_ticket": "12345-20261202-0001"} if named == "hotline" else {}
    response = _post(api_client, loop.worker, self_handled=True, category=loop.cat.pk, source=named,
                     photos=[{"kind": "after", "content_base64": _b64(jpeg())}], **ticket)
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["field"] == "source"
    assert answer["detail"].startswith("自行处置的上报来源须为「自行处置」（self_handled）或「网格员上报」（grid_worker），不能是 "
                                       f"{named}")
    assert f"a self-handled report comes through self_handled (or grid_worker), not {named}" in answer["detail"]
    assert world_counts() == before and _public_accepted() == 0
    with pytest.raises(ValidationFailed) as refused:
        report(loop, self_handled=True, source=named, photos=[("after", jpeg())], **ticket)
    assert refused.value.field == "source" and world_counts() == before
