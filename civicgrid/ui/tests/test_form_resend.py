"""A form sent twice with the same one-time key (a phone's browser resending it after the connection dropped
before the answer came) takes its step once and gets the first sending's answer: the case page's actions, the
follow page's rating and reopening, and the API's transitions with an `Idempotency-Key` header."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from civicgrid.apps.cases.models import Attachment, Case, CaseReporter, CaseStep, Status
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import auth, jpeg, loop, report, world_counts  # noqa: F401
from civicgrid.apps.cases.tests.conftest import close_loop as _close

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def _post(client, case, action, **data):
    return client.post(reverse("ui:case_act", args=[case.number, action]), data)


def _keys(html: str) -> dict[str, str]:
    """Each action form's one-time key, by action."""
    forms = re.findall(r'data-action-form="([a-z_]+)">.*?name="idempotency_key" value="([0-9a-f]{32})"', html, re.S)
    return dict(forms)


def test_every_action_form_carries_its_own_one_time_key(loop, client_for):
    case = report(loop)
    html = client_for(loop.dispatcher).get(reverse("ui:case_detail", args=[case.number])).content.decode()
    keys = _keys(html)
    assert {"accept", "refuse", "check_request"} <= set(keys)
    assert len(set(keys.values())) == len(keys)  # one per form
    again = _keys(client_for(loop.dispatcher).get(reverse("ui:case_detail", args=[case.number])).content.decode())
    assert set(again.values()).isdisjoint(keys.values())  # and new with each page drawn


def test_accept_sent_twice_answers_the_same_and_accepts_once(loop, client_for):
    case = report(loop)
    c = client_for(loop.dispatcher)
    key = _keys(c.get(reverse("ui:case_detail", args=[case.number])).content.decode())["accept"]
    first = _post(c, case, "accept", idempotency_key=key)
    before = world_counts()
    second = _post(c, case, "accept", idempotency_key=key)
    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert _messages(second) == _messages(first) == ["已完成：立案"]
    assert world_counts() == before
    assert list(CaseStep.objects.filter(case=case).values_list("action", flat=True)) == ["report", "accept"]
    # without the key, the second 立案 is what it is: refused, the state named
    response = _post(c, case, "accept")
    assert response.status_code == 409 and "当前状态「待派遣」不能执行「立案」" in response.content.decode()


def test_progress_with_a_photo_sent_twice_makes_one_step_and_one_photo(loop, client_for):
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    case = act(actor=loop.handler, case=case, action="start")
    assert case.status == Status.HANDLING
    c = client_for(loop.handler)
    key = _keys(c.get(reverse("ui:case_detail", args=[case.number])).content.decode())["progress"]
    answers = []
    for _ in range(2):
        photo = SimpleUploadedFile("site.jpg", jpeg(), content_type="image/jpeg")
        answers.append(_post(c, case, "progress", note="已清运一半", photos=photo, idempotency_key=key))
    assert [a.status_code for a in answers] == [302, 302] and answers[0]["Location"] == answers[1]["Location"]
    assert CaseStep.objects.filter(case=case, action="progress").count() == 1
    assert Attachment.objects.filter(case=case, kind="progress").count() == 1


def test_a_send_back_sent_again_answers_as_the_first_though_the_case_has_left(loop, client_for):
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    c = client_for(loop.handler)
    key = _keys(c.get(reverse("ui:case_detail", args=[case.number])).content.decode())["send_back"]
    first = _post(c, case, "send_back", reason="不属本部门职责", idempotency_key=key)
    second = _post(c, case, "send_back", reason="不属本部门职责", idempotency_key=key)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == reverse("ui:case_list")
    assert _messages(second) == ["已完成：退回"]
    assert CaseStep.objects.filter(case=case, action="send_back").count() == 1
    # that key sent with another form: not taken for the 退回, the page left open says the case has left
    before = world_counts()
    response = _post(c, case, "report_back", note="已处理", idempotency_key=key)
    assert response.status_code == 409 and "已不在您的处理范围内" in response.content.decode()
    assert world_counts() == before


def test_a_key_is_the_senders_own_and_names_one_action(loop, client_for):
    case = report(loop)
    c = client_for(loop.dispatcher)
    assert _post(c, case, "accept", idempotency_key="k-1").status_code == 302
    before = world_counts()
    # the same key for another action of the same case: refused, nothing done
    response = _post(c, case, "dispatch", department=loop.dept.pk, idempotency_key="k-1")
    assert response.status_code == 409 and "此提交编号已用于另一项操作" in response.content.decode()
    assert world_counts() == before
    # another account's key of the same text is theirs: their step is taken
    other = report(loop)
    assert _post(client_for(loop.street_dispatcher), other, "accept", idempotency_key="k-1").status_code == 302
    assert Case.objects.get(pk=other.pk).status == Status.ACCEPTED


def test_a_merge_sent_twice_merges_once(loop, client_for):
    parent = report(loop)
    child = report(loop)
    c = client_for(loop.dispatcher)
    html = c.get(reverse("ui:case_detail", args=[child.number])).content.decode()
    key = re.search(rf'data-merge-form="{parent.number}">.*?name="idempotency_key" value="([0-9a-f]+)"', html,
                    re.S).group(1)
    data = {"parent": parent.number, "confirm": "1", "idempotency_key": key}
    first, second = _post(c, child, "merge", **data), _post(c, child, "merge", **data)
    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert CaseStep.objects.filter(case=child, action="merge").count() == 1


def test_a_rating_sent_twice_thanks_twice_and_rates_once(loop, client):
    case = _close(loop, report(loop, actor=loop.resident, source="public"))
    token = CaseReporter.objects.get(original_case=case).follow_token
    page = client.get(f"/follow/{token}/").content.decode()
    key = re.search(r'/rate/">.*?name="idempotency_key" value="([0-9a-f]{32})"', page, re.S).group(1)
    first = client.post(f"/follow/{token}/rate/", {"score": "4", "comment": "及时", "idempotency_key": key})
    second = client.post(f"/follow/{token}/rate/", {"score": "4", "comment": "及时", "idempotency_key": key})
    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert _messages(second) == ["感谢您的评价"]
    assert CaseStep.objects.filter(case=case, action="rate").count() == 1
    # a new rating without the key is still refused, nothing changed
    response = client.post(f"/follow/{token}/rate/", {"score": "1"})
    assert response.status_code == 409 and "您已评价过本次办结" in response.content.decode()
    assert CaseReporter.objects.get(original_case=case).rating == 4


def test_a_reopening_sent_twice_reopens_once(loop, client):
    case = _close(loop, report(loop, actor=loop.resident, source="public"))
    token = CaseReporter.objects.get(original_case=case).follow_token
    page = client.get(f"/follow/{token}/").content.decode()
    key = re.search(r'/reopen/">.*?name="idempotency_key" value="([0-9a-f]{32})"', page, re.S).group(1)
    answers = [client.post(f"/follow/{token}/reopen/", {"reason": "又堆满了", "idempotency_key": key})
               for _ in range(2)]
    assert [a.status_code for a in answers] == [302, 302]
    assert _messages(answers[1]) == ["已提交重新办理申请"]
    assert CaseStep.objects.filter(case=case, action="reopen").count() == 1


def test_an_api_transition_retried_with_its_idempotency_key_answers_the_same(loop, client):
    case = report(loop)
    url = f"/api/v1/cases/{case.number}/actions/accept"
    headers = {**auth(loop.dispatcher), "HTTP_IDEMPOTENCY_KEY": "retry-1"}
    first = client.post(url, {"note": "立案"}, content_type="application/json", **headers)
    before = world_counts()
    second = client.post(url, {"note": "立案"}, content_type="application/json", **headers)
    assert first.status_code == second.status_code == 200, second.content.decode()
    assert first.json()["status"] == second.json()["status"] == "accepted"
    assert world_counts() == before
    assert CaseStep.objects.filter(case=case, action="accept").count() == 1
    # the key for another action: 409, nothing done
    response = client.post(f"/api/v1/cases/{case.number}/actions/dispatch", {"department": loop.dept.pk},
                           content_type="application/json", **headers)
    assert response.status_code == 409 and world_counts() == before


def test_an_api_send_back_retried_answers_though_the_case_has_left_the_department(loop, client):
    case = act(actor=loop.dispatcher, case=report(loop), action="accept")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    url = f"/api/v1/cases/{case.number}/actions/send_back"
    headers = {**auth(loop.handler), "HTTP_IDEMPOTENCY_KEY": "retry-2"}
    first = client.post(url, {"reason": "不属本部门职责"}, content_type="application/json", **headers)
    before = world_counts()
    second = client.post(url, {"reason": "不属本部门职责"}, content_type="application/json", **headers)
    assert first.status_code == second.status_code == 200, second.content.decode()
    assert second.json()["status"] == "accepted" and world_counts() == before
    assert CaseStep.objects.filter(case=case, action="send_back").count() == 1
    # without the key (or with another), the case out of the department's scope is the 404 it always was
    headers["HTTP_IDEMPOTENCY_KEY"] = "retry-3"
    assert client.post(url, {"reason": "x"}, content_type="application/json", **headers).status_code == 404
