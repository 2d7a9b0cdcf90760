"""Case list and detail pages: scope (200 in, 404 out), fixed query counts, buttons drawn from the workflow
table per role, actions through the service, and refusals that change nothing."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from civicgrid.apps.cases.models import Attachment, Case, Status
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import (  # noqa: F401
    OTHER_STREET_POINT,
    POINT,
    auth,
    jpeg,
    loop,
    report,
    world_counts,
)
from civicgrid.apps.cases.workflow import CASE_WORKFLOW
from civicgrid.foundation.core.errors import ValidationFailed

pytestmark = pytest.mark.django_db


def oids(html: str, model: str = "cases.case") -> set[int]:
    tables = re.findall(rf'<table class="list[^"]*" data-model="{re.escape(model)}">(.*?)</table>', html, re.S)
    return {int(x) for t in tables for x in re.findall(r'<tr data-oid="(\d+)"', t)}


def buttons(html: str) -> list[str]:
    """The actions a detail page offers (each a <details> form or a direct button)."""
    block = re.search(r"<div class=\"actions\" data-actions>(.*?)</div>\s*</section>", html, re.S)
    return re.findall(r'data-action="([a-z_]+)"', block.group(1)) if block else []


def detail(client, case):
    return client.get(reverse("ui:case_detail", args=[case.number]))


def post_action(client, case, action, files=None, **data):
    return client.post(reverse("ui:case_act", args=[case.number, action]), {**data, **(files or {})})


def test_list_shows_only_cases_in_scope(loop, client_for):
    mine = report(loop)
    other = report(loop, actor=loop.dispatcher, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])
    html = client_for(loop.worker).get(reverse("ui:case_list")).content.decode()
    assert oids(html) == {mine.pk}
    html = client_for(loop.street_dispatcher).get(reverse("ui:case_list")).content.decode()
    assert oids(html) == {mine.pk}
    html = client_for(loop.dispatcher).get(reverse("ui:case_list")).content.decode()
    assert oids(html) == {mine.pk, other.pk}
    # a department sees what is dispatched to it, nothing else
    assert oids(client_for(loop.handler).get(reverse("ui:case_list")).content.decode()) == set()
    act(actor=loop.dispatcher, case=mine, action="accept")
    act(actor=loop.dispatcher, case=mine, action="dispatch", department=loop.dept.pk)
    assert oids(client_for(loop.handler).get(reverse("ui:case_list")).content.decode()) == {mine.pk}
    assert oids(client_for(loop.other_handler).get(reverse("ui:case_list")).content.decode()) == set()


def test_list_filters(loop, client_for):
    first = report(loop)
    second = report(loop, title="井盖缺失", category=loop.other_cat.pk)
    act(actor=loop.dispatcher, case=second, action="accept")
    c = client_for(loop.dispatcher)

    def shown(**params):
        return oids(c.get(reverse("ui:case_list"), params).content.decode())

    assert shown(status="accepted") == {second.pk}
    assert shown(status="open") == shown(status="active") == {first.pk, second.pk}
    assert shown(status="closed") == set()
    assert shown(category=loop.cls.pk) == {first.pk}  # a class matches its subclasses
    assert shown(q=first.number) == {first.pk}
    assert shown(q="井盖") == {second.pk}
    assert shown(region="140213051") == set()
    assert shown(overdue="1") == set() and shown(overdue="0") == {first.pk, second.pk}
    # a value that is not one is refused as the ledger refuses it (a 400 naming it), not ignored
    for bad in ({"status": "nonsense"}, {"department": "x"}, {"region": "abc"}, {"overdue": "maybe"},
                {"date_from": "2026-13-01"}, {"is_major": "yes please"}):
        page = c.get(reverse("ui:case_list"), bad)
        ledger = c.get(reverse("ui:case_ledger"), bad)
        assert page.status_code == ledger.status_code == 400, bad
        assert next(iter(bad)) in page.content.decode()


def test_the_unclosed_filter_takes_in_suspended_cases_and_the_in_loop_one_leaves_them_out(loop, client_for):
    """「办理中（全部未办结）」 (`status=open`) is every case whose loop has not ended: a 挂账 case waits unfinished, so
    it is listed (as it is in Open311's `open`); 「在办（不含挂账）」 (`status=active`) is what the board counts as 在办.
    Both read the same for the page, the API and the ledger; ended cases are in neither."""
    waiting = report(loop)
    act(actor=loop.dispatcher, case=waiting, action="accept")
    suspended = report(loop, title="道路破损")
    act(actor=loop.dispatcher, case=suspended, action="accept")
    act(actor=loop.dispatcher, case=suspended, action="dispatch", department=loop.dept.pk)
    act(actor=loop.leader, case=suspended, action="suspend", reason="等待专项资金")
    voided = report(loop, title="重复上报")
    act(actor=loop.dispatcher, case=voided, action="void", reason="重复")
    c = client_for(loop.dispatcher)
    html = c.get(reverse("ui:case_list"), {"status": "open"}).content.decode()
    assert oids(html) == {waiting.pk, suspended.pk}
    assert '<option value="open" selected>办理中（全部未办结）</option>' in html
    assert '<option value="active">在办（不含挂账）</option>' in html
    assert oids(c.get(reverse("ui:case_list"), {"status": "active"}).content.decode()) == {waiting.pk}
    # several at once: a group with a plain status
    assert oids(c.get(reverse("ui:case_list"), {"status": "active,voided"}).content.decode()) == {waiting.pk, voided.pk}
    api = auth(loop.dispatcher)
    for status, expected in (("open", {waiting.number, suspended.number}), ("active", {waiting.number})):
        found = c.get("/api/v1/cases", {"status": status}, **api).json()
        assert {x["number"] for x in found["items"]} == expected and found["total"] == len(expected), status
    # the department sees its suspended case under 全部未办结 too
    handler = client_for(loop.handler)
    assert oids(handler.get(reverse("ui:case_list"), {"status": "open"}).content.decode()) == {suspended.pk}
    assert oids(handler.get(reverse("ui:case_list"), {"status": "active"}).content.decode()) == set()


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_list_query_count_does_not_grow_with_rows(loop, client_for, django_assert_max_num_queries):
    from django.utils import timezone

    from civicgrid.apps.cases.models import Case as CaseModel

    c = client_for(loop.dispatcher)
    url = reverse("ui:case_list")
    grid = loop.tree["140213050001001"]

    def make(n, start):
        CaseModel.objects.bulk_create([
            CaseModel(number=f"20990101{start + i:05d}", title=f"事件{i}", source="grid_worker", lng=POINT[0],
                      lat=POINT[1], grid=grid, region_code=grid.code, category=loop.cat, department=loop.dept,
                      reported_at=timezone.now(), status=Status.DISPATCHED, deadline=timezone.now())
            for i in range(n)])

    make(5, 0)
    few = _queries(c, url)
    make(55, 100)
    with django_assert_max_num_queries(few):
        html = c.get(url).content.decode()
    assert len(oids(html)) == 50  # one full page


def test_detail_200_in_scope_404_outside(loop, client_for):
    case = report(loop)
    assert detail(client_for(loop.worker), case).status_code == 200
    assert detail(client_for(loop.dispatcher), case).status_code == 200
    assert detail(client_for(loop.other_street_dispatcher), case).status_code == 404
    assert detail(client_for(loop.neighbour_worker), case).status_code == 404
    assert detail(client_for(loop.handler), case).status_code == 404  # not dispatched to it (yet)
    assert client_for(loop.worker).get(reverse("ui:case_detail", args=["2099010199999"])).status_code == 404
    assert client_for(loop.resident).get(reverse("ui:case_detail", args=[case.number])).status_code == 403


def test_detail_query_count_is_bounded(loop, client_for, django_assert_max_num_queries):
    case = report(loop, photos=[jpeg()])
    c = client_for(loop.dispatcher)
    for action, extra in (("accept", {}), ("dispatch", {"department": loop.dept.pk})):
        act(actor=loop.dispatcher, case=case, action=action, **extra)
    few = _queries(c, reverse("ui:case_detail", args=[case.number]))
    for i in range(8):
        act(actor=loop.handler, case=case, action="progress", note=f"进展{i}", photos=[jpeg(color=(i, 9, 9))])
    with django_assert_max_num_queries(few):
        assert detail(c, case).status_code == 200


ROLES = ["worker", "neighbour_worker", "dispatcher", "street_dispatcher", "handler", "other_handler", "leader"]


def _at(loop, state: str) -> Case:
    """A case brought to `state` through the services."""
    case = report(loop)
    steps = {
        "reported": [],
        "checking": [("dispatcher", "check_request", {})],
        "accepted": [("dispatcher", "accept", {})],
        "dispatched": [("dispatcher", "accept", {}), ("dispatcher", "dispatch", {"department": loop.dept.pk})],
        "handling": [("dispatcher", "accept", {}), ("dispatcher", "dispatch", {"department": loop.dept.pk}),
                     ("handler", "start", {})],
        "handled": [("dispatcher", "accept", {}), ("dispatcher", "dispatch", {"department": loop.dept.pk}),
                    ("handler", "report_back", {"note": "已处理"})],
        "verified": [("dispatcher", "accept", {}), ("dispatcher", "dispatch", {"department": loop.dept.pk}),
                     ("handler", "report_back", {"note": "已处理"}), ("worker", "verify", {"photos": [jpeg()]})],
    }[state]
    for who, action, inputs in steps:
        act(actor=getattr(loop, who), case=case, action=action, **inputs)
    return Case.objects.get(pk=case.pk)


@pytest.mark.parametrize("state", ["reported", "checking", "accepted", "dispatched", "handling", "handled",
                                   "verified"])
def test_buttons_are_the_workflow_table_for_each_role(state, loop, client_for):
    case = _at(loop, state)
    for role in ROLES:
        user = getattr(loop, role)
        response = detail(client_for(user), case)
        if response.status_code == 404:
            assert not Case.objects.visible_to(user).filter(pk=case.pk).exists(), role
            continue
        expected = [t.name for t in CASE_WORKFLOW.allowed(case, user)]
        assert buttons(response.content.decode()) == expected, (state, role)


def test_dispatch_form_is_prefilled_with_the_routing_suggestion_and_explains_it(loop, client_for):
    case = _at(loop, "accepted")
    html = detail(client_for(loop.dispatcher), case).content.decode()
    form = re.search(r'data-action-form="dispatch".*?</form>', html, re.S).group(0)
    assert re.search(rf'<option value="{loop.dept.pk}" selected>', form)
    assert "data-route" in form and "区城管局" in form  # the category's default department, explained


def test_an_action_through_the_page_and_its_timeline(loop, client_for):
    case = report(loop)
    c = client_for(loop.dispatcher)
    response = post_action(c, case, "accept")
    assert response.status_code == 302 and response["Location"] == reverse("ui:case_detail", args=[case.number])
    response = post_action(c, case, "dispatch", department=loop.other_dept.pk, note="改派住建")
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED and case.department_id == loop.other_dept.pk
    html = detail(c, case).content.decode()
    assert re.findall(r'data-step="([a-z_]+)"', html) == ["report", "accept", "dispatch"]
    assert "改派住建" in html and 'data-clock="case.handle"' in html


def test_verify_with_a_photo_through_the_page(loop, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    case = _at(loop, "handled")
    c = client_for(loop.worker)
    photo = SimpleUploadedFile("site.jpg", jpeg(), content_type="image/jpeg")
    response = post_action(c, case, "verify", files={"photos": photo}, note="已整改")
    assert response.status_code == 302, response.content.decode()[:500]
    case.refresh_from_db()
    assert case.status == Status.VERIFIED
    attachment = Attachment.objects.get(case=case, kind="verify")
    url = reverse("ui:case_attachment", args=[case.number, attachment.pk])
    image = c.get(url)
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert b"".join(image.streaming_content)[:3] == b"\xff\xd8\xff"  # read to the end, which closes the file
    assert image["X-Content-Type-Options"] == "nosniff" and "default-src 'none'" in image["Content-Security-Policy"]
    name = f"{case.number}-{attachment.pk}.jpg"
    assert image["Content-Disposition"] == f"inline; filename=\"{name}\"; filename*=UTF-8''{name}"
    assert image["Cache-Control"] == "private, max-age=3600"
    assert url in detail(c, case).content.decode()
    assert client_for(loop.other_street_dispatcher).get(url).status_code == 404
    assert c.get(reverse("ui:case_attachment", args=[case.number, attachment.pk + 999])).status_code == 404


def test_a_refused_action_changes_nothing_and_says_why_in_chinese(loop, client_for):
    case = _at(loop, "accepted")
    before = world_counts()
    # a required input missing (422), shown by its label, the form open again
    response = post_action(client_for(loop.dispatcher), case, "dispatch", note="没选部门")
    assert response.status_code == 422
    html = response.content.decode()
    assert "请填写「处置部门」" in html and 'data-action="dispatch" open' in html and "没选部门" in html
    # the wrong role (403), the wrong state (409), outside scope (404), an unknown action (404)
    assert post_action(client_for(loop.worker), case, "dispatch", department=loop.dept.pk).status_code == 403
    response = post_action(client_for(loop.dispatcher), case, "close")
    assert response.status_code == 409 and "当前状态「待派遣」不能执行「结案」" in response.content.decode()
    assert post_action(client_for(loop.other_street_dispatcher), case, "void", reason="x").status_code == 404
    unknown = post_action(client_for(loop.dispatcher), case, "explode")
    assert unknown.status_code == 404 and world_counts() == before
    assert "未知的操作" in unknown.content.decode() and "未找到该事件" not in unknown.content.decode()
    english = client_for(loop.dispatcher)
    english.cookies["django_language"] = "en"
    unknown = post_action(english, case, "explode")
    assert unknown.status_code == 404 and "unknown action" in unknown.content.decode()
    # verify without its photo
    handled = _at(loop, "handled")
    before = world_counts()
    response = post_action(client_for(loop.worker), handled, "verify", note="看过了")
    assert response.status_code == 422 and "请填写「现场照片」" in response.content.decode()
    assert world_counts() == before
    # Opened as a page (reloaded after a refusal, the language switched there, signing in again after the
    # session ended): the case page, told that nothing was submitted, and nothing done.
    before = world_counts()
    response = client_for(loop.dispatcher).get(reverse("ui:case_act", args=[case.number, "close"]), follow=True)
    assert response.redirect_chain == [(reverse("ui:case_detail", args=[case.number]), 302)]
    assert "该地址只接受页面上的提交" in response.content.decode() and world_counts() == before


def test_send_back_leaves_the_handler_on_the_list(loop, client_for):
    case = _at(loop, "dispatched")
    response = post_action(client_for(loop.handler), case, "send_back", reason="不属本部门职责")
    assert response.status_code == 302 and response["Location"] == reverse("ui:case_list")
    case.refresh_from_db()
    assert case.status == Status.ACCEPTED and case.department_id is None


def _stopped_clocks(html: str) -> str:
    section = re.search(r'<section class="card" id="sla">.*?</section>', html, re.S).group(0)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", section.split('<ul class="plain hint">', 1)[1]))


def test_a_send_back_stops_the_handling_clock_without_judging_it(loop, client_for):
    """退回 stops the handling clock with no 按期处置 fact: the 时限 list says 退回, not 按时 (the API likewise);
    the next department's handling, once reported back, is judged as usual."""
    case = _at(loop, "dispatched")
    act(actor=loop.handler, case=case, action="send_back", reason="不属本部门职责")
    case = Case.objects.get(pk=case.pk)
    assert case.handled_on_time is None
    c = client_for(loop.dispatcher)
    stopped = _stopped_clocks(detail(c, case).content.decode())
    assert "处置：退回（不计按期）" in stopped and "处置：按时" not in stopped and "受理：按时" in stopped
    api = Client().get(f"/api/v1/cases/{case.number}", **auth(loop.dispatcher)).json()["clocks"]
    handle = [k for k in api if k["kind"] == "case.handle"]
    assert [(k["state"], k["ended_by"], k["on_time"]) for k in handle] == [("stopped", "send_back", None)]
    assert {k["kind"]: k["ended_by"] for k in api if k["kind"] != "case.handle"} == {
        "case.intake": None, "case.dispatch": None}
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=case, action="report_back", note="已处理")
    stopped = _stopped_clocks(detail(c, case).content.decode())
    assert stopped.count("处置：退回（不计按期）") == 1 and "处置：按时" in stopped
    c.post(reverse("set_language"), {"language": "en", "next": "/"})
    english = _stopped_clocks(detail(c, case).content.decode())
    assert "Handling: Sent back" in english and "Handling: on time" in english  # (the note's English: board_en.json)


def test_duplicates_are_offered_at_intake_and_merged(loop, client_for):
    first = report(loop)
    second = report(loop, title="门口垃圾没人清", lng=POINT[0] + 0.0003)
    far = report(loop, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1], actor=loop.dispatcher)
    c = client_for(loop.dispatcher)
    html = detail(c, second).content.decode()
    section = re.search(r'<section class="card" id="duplicates">.*?</section>', html, re.S).group(0)
    assert oids(section) == {first.pk} and far.number not in section
    # the grid worker may not merge: no candidates shown
    assert 'id="duplicates"' not in detail(client_for(loop.worker), second).content.decode()
    response = post_action(c, second, "merge", parent=first.number, confirm="1")
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.status == Status.MERGED and second.parent_id == first.pk
    assert 'data-step="merged_in"' in detail(c, first).content.decode()


def test_english_labels(loop, client_for):
    case = report(loop)
    c = client_for(loop.dispatcher)
    c.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = detail(c, case).content.decode()
    assert "Awaiting intake" in html and ">Accept<" in html and "<strong>Reported</strong>" in html
    assert "Intake" in html  # the running clock
    act(actor=loop.dispatcher, case=case, action="accept")
    html = c.get(reverse("ui:case_list")).content.decode()
    assert "Case number" in html and "Register a case" in html
    # a refusal in English: the English half of the service's message
    response = post_action(c, case, "close")
    assert response.status_code == 409 and "&quot;Close&quot; is not possible while it is accepted" in response.content.decode()


def _prefilled(client, case) -> str | None:
    form = re.search(r'data-action-form="dispatch".*?</form>', detail(client, case).content.decode(), re.S).group(0)
    chosen = re.search(r'<option value="(\d+)" selected>', form)
    return chosen.group(1) if chosen else None


def test_dispatch_after_a_send_back_starts_from_the_proposed_department_never_the_refusing_one(loop, client_for):
    """The routing rule names 区城管局; it sends the case back naming 区住建局, which is pre-filled next (and kept on
    the step even without a rule correction). When 区住建局 sends it back too, naming no one, neither refusing
    department is pre-filled: the dispatcher chooses."""
    dispatcher = client_for(loop.dispatcher)
    case = _at(loop, "dispatched")
    assert case.department_id == loop.dept.pk
    with pytest.raises(ValidationFailed):  # naming itself: refused, nothing changed
        act(actor=loop.handler, case=case, action="send_back", reason="不归我们", proposed_department=loop.dept.pk)
    assert Case.objects.get(pk=case.pk).status == Status.DISPATCHED
    case = act(actor=loop.handler, case=case, action="send_back", reason="供水井盖归住建", proposed_department=loop.other_dept.pk)
    assert case.steps.order_by("-pk").first().data["proposed_department"] == loop.other_dept.pk
    assert _prefilled(dispatcher, case) == str(loop.other_dept.pk)
    html = detail(dispatcher, case).content.decode()  # the form starts elsewhere than the rule: it says so
    assert "data-prefilled" in html and loop.other_dept.name in html[html.index("data-prefilled"):][:200]
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk)
    case = act(actor=loop.other_handler, case=case, action="send_back", reason="也不归我们")
    assert _prefilled(dispatcher, case) is None


def test_dispatch_after_a_reopening_starts_from_the_department_that_handled_it(loop, client_for):
    case = _at(loop, "accepted")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk)  # not the rule's
    case = act(actor=loop.other_handler, case=case, action="report_back", note="已处理")
    case = act(actor=loop.worker, case=case, action="verify", photos=[jpeg()])
    case = act(actor=loop.dispatcher, case=case, action="close")
    case = act(actor=loop.dispatcher, case=case, action="reopen", reason="又坏了")
    assert _prefilled(client_for(loop.dispatcher), case) == str(loop.other_dept.pk)  # not the rule's 区城管局


def test_the_timeline_names_the_department_only_beside_its_own_steps(loop, client_for):
    """The department's steps carry its name; the grid worker's 核查 and the dispatcher's 结案 do not (they once
    all read "· 区城管局", as if the department had acted)."""
    case = _at(loop, "handled")
    act(actor=loop.worker, case=case, action="verify", photos=[jpeg()])
    html = detail(client_for(loop.dispatcher), case).content.decode()
    steps = dict(re.findall(r'<li data-step="(\w+)">(.*?)</li>', html, re.S))
    assert loop.dept.name in steps["dispatch"] and loop.dept.name in steps["report_back"]
    assert loop.dept.name not in steps["verify"] and loop.dept.name not in steps["accept"]


def test_the_grid_workers_rework_is_not_named_as_the_departments_step(loop, client_for):
    """核查不通过（返工） is the grid worker's step: the timeline (and the case file) name no department beside it,
    though the step records the case's department."""
    from civicgrid.apps.cases.models import CaseStep

    case = _at(loop, "handled")
    act(actor=loop.worker, case=case, action="rework", reason="垃圾未清理干净")
    step = CaseStep.objects.get(case=case, action="rework")
    assert step.department_id == loop.dept.pk and step.acting_department is None
    html = detail(client_for(loop.dispatcher), case).content.decode()
    steps = dict(re.findall(r'<li data-step="(\w+)">(.*?)</li>', html, re.S))
    assert loop.dept.name not in steps["rework"] and loop.worker.display_name in steps["rework"]
    assert loop.dept.name in steps["report_back"]


def test_a_refusal_page_survives_a_language_switch_and_a_new_sign_in(loop, client_for):
    case = _at(loop, "dispatched")
    client = client_for(loop.dispatcher)
    act_url = reverse("ui:case_act", args=[case.number, "close"])
    assert post_action(client, case, "close").status_code == 409  # drawn at the form's address
    before = world_counts()
    response = client.post(reverse("set_language"), {"language": "en", "next": act_url}, follow=True)
    assert response.status_code == 200 and response.redirect_chain[-1][0] == reverse("ui:case_detail",
                                                                                      args=[case.number])
    assert 'data-error' not in response.content.decode()
    # the session ended: sign in again, and `next` leads to the case, not to a blank 405
    anonymous = Client()
    login = anonymous.get(act_url)
    assert login.status_code == 302
    assert world_counts() == before


def test_a_post_only_address_outside_the_pages_keeps_its_405(loop, client_for):
    # the API answers machines: a GET on a POST-only endpoint stays a 405, with no redirect
    case = _at(loop, "dispatched")
    response = client_for(loop.dispatcher).get(f"/api/v1/cases/{case.number}/contact")
    assert response.status_code == 405 and "Location" not in response


def test_a_page_left_open_on_a_case_sent_back_says_where_it_went(loop, client_for):
    case = _at(loop, "dispatched")
    handler = client_for(loop.handler)
    act(actor=loop.handler, case=case, action="start")
    # in another window, the same handler sends it back; the first window still shows the case
    act(actor=loop.handler, case=case, action="send_back", reason="不属本部门职责")
    before = world_counts()
    response = post_action(handler, case, "report_back", note="已处理")
    html = response.content.decode()
    assert response.status_code == 409 and f"事件 {case.number} 已不在您的处理范围内" in html
    assert "最近一步：退回" in html and "「处置反馈」未执行" in html and "data-back" in html
    assert world_counts() == before
    # someone who never had the case learns nothing: the scoped read path's 404
    other = post_action(client_for(loop.other_handler), case, "report_back", note="已处理")
    assert other.status_code == 404 and "已不在您的处理范围内" not in other.content.decode()


def test_a_suspended_case_shows_its_deadline_paused(loop, client_for):
    case = act(actor=loop.leader, case=_at(loop, "dispatched"), action="suspend", reason="等待专项资金")
    deadline = f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}"
    client = client_for(loop.dispatcher)
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert "data-deadline-paused" in html and f"原期限 {deadline}，恢复办理后按暂停时长顺延" in html
    listed = client.get(reverse("ui:case_list") + "?status=suspended").content.decode()
    row = re.search(rf'<tr[^>]*>(?:(?!</tr>).)*{case.number}(?:(?!</tr>).)*</tr>', listed, re.S).group(0)
    assert "已暂停（挂账）" in row
    # resumed: the deadline is a time again, moved on by the pause
    case = act(actor=loop.leader, case=case, action="unsuspend")
    html = client.get(reverse("ui:case_detail", args=[case.number])).content.decode()
    assert "data-deadline-paused" not in html and f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}" in html


def _step_cell(html: str, case) -> tuple[str, str, bool]:
    row = re.search(rf'<tr data-oid="{case.pk}">(.*?)</tr>', html, re.S).group(1)
    cell = re.search(r'<span data-step-deadline="([a-z.]+)"([^>]*)>([^<]*)</span>', row)
    return cell.group(1), cell.group(3), "data-step-late" in cell.group(2)


def test_the_list_shows_the_deadline_of_the_step_each_case_waits_for(loop, client_for):
    """A tester saw 超期 beside a handling deadline still to come on a case waiting at 核查 (late there), and
    "—" for cases waiting for 受理 or 派遣 whose clocks were running: the column is the waiting step's."""
    from civicgrid.foundation.sla.models import SlaClock

    def clock(case, kind):
        return SlaClock.objects.get(target_type="cases.case", target_id=str(case.pk), kind=kind, state="running")

    waiting = report(loop)
    handled = report(loop)
    act(actor=loop.dispatcher, case=handled, action="accept")
    act(actor=loop.dispatcher, case=handled, action="dispatch", department=loop.dept.pk)
    act(actor=loop.handler, case=handled, action="report_back", note="已处理")
    verify = clock(handled, "case.verify")
    past = timezone.now() - timezone.timedelta(hours=2)
    SlaClock.objects.filter(pk=verify.pk).update(due_at=past)
    handled.refresh_from_db()
    assert handled.deadline > timezone.now()  # handled in time: the handling deadline lies ahead

    html = client_for(loop.dispatcher).get(reverse("ui:case_list")).content.decode()
    kind, text, late = _step_cell(html, waiting)
    due = timezone.localtime(clock(waiting, "case.intake").due_at).strftime("%Y-%m-%d %H:%M")
    assert (kind, late) == ("case.intake", False) and text == f"受理 {due}"
    kind, text, late = _step_cell(html, handled)
    assert (kind, late) == ("case.verify", True) and text == f"核查 {timezone.localtime(past):%Y-%m-%d %H:%M}"
    assert timezone.localtime(handled.deadline).strftime("%Y-%m-%d %H:%M") not in text


def test_resuming_a_suspended_case_on_the_page_takes_a_note_for_the_department(loop, client_for):
    """恢复办理 tells the department that its case runs again, with the approver's words when there are some (the
    service and the API take them): the page's form offers that note too, behind a confirmation, rather than a
    one-tap button that restarts every clock with nothing said."""
    from civicgrid.foundation.notify.models import Notification

    case = act(actor=loop.leader, case=_at(loop, "dispatched"), action="suspend", reason="等待专项资金")
    client = client_for(loop.leader)
    html = detail(client, case).content.decode()
    form = re.search(r'<details[^>]*data-action="unsuspend".*?</details>', html, re.S)
    assert form is not None and 'name="note"' in form.group(0)
    answer = post_action(client, case, "unsuspend", note="资金已到位，请本周内完成")
    assert answer.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED
    assert case.steps.order_by("-pk").first().note == "资金已到位，请本周内完成"
    told = Notification.objects.get(user=loop.handler, kind="unsuspended")
    assert told.body.endswith("：资金已到位，请本周内完成")


@pytest.mark.parametrize("language, why", [
    ("zh-hans", "已过，延期须在处置期限内申请"), ("en", "an extension must be asked for before it"),
])
def test_a_handler_past_the_deadline_is_told_why_no_extension_is_offered(loop, client_for, language, why):
    """申请延期 is taken before the handling deadline only: once it has passed the button is gone, and the page says
    why (as the service's refusal does), in the reader's language, to the department's handlers only."""
    from datetime import timedelta

    from civicgrid.foundation.sla.models import SlaClock

    case = _at(loop, "handling")
    client = client_for(loop.handler)
    client.cookies["django_language"] = language
    html = detail(client, case).content.decode()
    assert "request_extension" in buttons(html) and "data-extension-closed" not in html
    SlaClock.objects.filter(target_type="cases.case", target_id=str(case.pk), kind="case.handle").update(
        due_at=timezone.now() - timedelta(hours=1))
    html = detail(client, case).content.decode()
    assert "request_extension" not in buttons(html)
    note = re.search(r'<p class="hint" data-extension-closed>([^<]*)</p>', html)
    assert note is not None and why in note.group(1) and " / " not in note.group(1)
    # not to those who do not ask for extensions (the approver decides one; nothing is waiting here)
    leader = client_for(loop.leader)
    leader.cookies["django_language"] = language
    assert "data-extension-closed" not in detail(leader, case).content.decode()
