"""FixMyStreet's servicerequestupdates: the loop's public steps out, comments and reopenings in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from civicgrid.apps.cases.models import Case, CaseStep, Status
from civicgrid.apps.cases.services import act, submit_case
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core import keys
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.integrations.open311.models import UPDATE_EMAIL_CONTEXT, Open311Update

from .conftest import KEY, POINT, form, get, post, spec_error, world_counts, xml

pytestmark = pytest.mark.django_db


def reported(o311, http) -> Case:
    response = post(http, "requests.json", form(o311))
    return Case.objects.get(number=response.json()[0]["service_request_id"])


def update_form(case: Case, **changes) -> dict:
    """An update as FixMyStreet's post_service_request_update sends it."""
    data = {
        "api_key": KEY, "jurisdiction_id": "140213", "service_request_id": case.number, "update_id": "fms-c-1",
        "updated_datetime": "2026-05-14T09:30:00+08:00", "status": "OPEN", "description": "垃圾还在，越堆越多",
        "first_name": "三", "last_name": "张", "email": "zhang@example.com",
        "media_url": "https://fms.example/photo/c1.jpeg",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def close(case: Case, days_ago: float = 0) -> None:
    Case.objects.filter(pk=case.pk).update(status=Status.CLOSED,
                                           closed_at=timezone.now() - timedelta(days=days_ago))


def test_get_updates_lists_the_public_steps_as_fixmystreet_reads_them(o311, http):
    case = reported(o311, http)
    act(actor=o311.dispatcher, case=case, action="accept")
    act(actor=o311.dispatcher, case=case, action="dispatch", department=o311.dept.pk, note="内部：请尽快")
    root = xml(get(http, "servicerequestupdates.xml", api_key=KEY, jurisdiction_id="140213"))
    assert root.tag == "service_requests_updates"
    updates = root.findall("request_update")
    assert [u.find("description").text for u in updates] == ["立案", "派遣：区城管局"]  # no internal note
    for update in updates:
        assert update.find("service_request_id").text == case.number
        assert update.find("status").text == "open"
        assert update.find("updated_datetime").text.endswith("+08:00")
        assert update.find("update_id").text.isdigit()
    body = get(http, "servicerequestupdates.json").json()
    assert [set(u) for u in body] == [{"update_id", "service_request_id", "status", "updated_datetime",
                                       "description", "media_url"}] * 2


def test_get_updates_keeps_to_the_date_range_and_public_cases(o311, http):
    case = reported(o311, http)
    act(actor=o311.dispatcher, case=case, action="accept")
    hidden = submit_case(actor=o311.worker, title="社区矫正人员", lng=POINT[0], lat=POINT[1],
                         category=o311.private.pk, source="grid_worker")[0]
    act(actor=o311.dispatcher, case=hidden, action="accept")
    later = (timezone.localtime() + timedelta(hours=1)).isoformat(timespec="seconds")
    earlier = (timezone.localtime() - timedelta(hours=1)).isoformat(timespec="seconds")
    numbers = [u["service_request_id"] for u in get(http, "servicerequestupdates.json", start_date=earlier,
                                                    end_date=later).json()]
    assert numbers == [case.number]
    assert get(http, "servicerequestupdates.json", start_date=later,
               end_date=(timezone.localtime() + timedelta(hours=2)).isoformat()).json() == []
    spec_error(get(http, "servicerequestupdates.json", start_date="2026-01-01", end_date="2026-06-01"), 400)


def test_a_comment_becomes_a_case_step_audited_and_published(o311, http):
    case = reported(o311, http)
    response = post(http, "servicerequestupdates.xml", update_form(case))
    assert response.status_code == 200, response.content
    root = xml(response)
    assert root.tag == "service_request_updates"
    step = CaseStep.objects.get(pk=int(root.find("request_update/update_id").text))
    assert step.case == case and step.action == "comment" and step.note == "垃圾还在，越堆越多"
    assert step.actor is None and step.actor_name == "open311:FixMyStreet 测试"
    row = Open311Update.objects.get(step=step)
    assert row.external_id == "fms-c-1" and row.status == "OPEN" and row.media_url.endswith("c1.jpeg")
    assert "zhang@" not in row.email_enc and keys.decrypt(row.email_enc, UPDATE_EMAIL_CONTEXT) == "zhang@example.com"
    assert row.updated_datetime.isoformat() == "2026-05-14T01:30:00+00:00"
    assert AuditEntry.objects.filter(action="cases.comment", target_id=str(case.pk)).count() == 1
    assert AuditEntry.objects.filter(action="open311.update_received", target_id=str(case.pk)).count() == 1
    assert OutboxEvent.objects.filter(topic="case.commented", aggregate_id=str(case.pk)).count() == 1
    assert Case.objects.get(pk=case.pk).status == Status.REPORTED  # OPEN on an open case changes nothing
    # the comment comes back in GET updates, and its id is the one FixMyStreet stored; the public feed names it
    # a comment without its words or its media (what the public sent may carry personal details; no one checks it)
    listed = get(http, "servicerequestupdates.json").json()
    assert {"update_id": str(step.pk), "service_request_id": case.number, "status": "open",
            "description": "留言", "media_url": ""}.items() <= \
        next(u for u in listed if u["update_id"] == str(step.pk)).items()
    feed = get(http, "servicerequestupdates.json").content.decode()
    assert "越堆越多" not in feed and "c1.jpeg" not in feed


def test_a_retried_update_returns_the_same_id_and_changes_nothing(o311, http):
    case = reported(o311, http)
    first = post(http, "servicerequestupdates.json", update_form(case)).json()
    before = world_counts()
    assert post(http, "servicerequestupdates.json", update_form(case)).json() == first
    assert world_counts() == before
    other = reported(o311, http)
    before = world_counts()
    spec_error(post(http, "servicerequestupdates.json", update_form(other)), 409)
    assert world_counts() == before


@pytest.mark.parametrize("changes", [{"description": "垃圾已经清走了"}, {"media_url": "https://fms.example/photo/c2.jpeg"},
                                     {"status": "CLOSED"}, {"email": "li@example.com"},
                                     {"updated_datetime": "2026-05-14T10:30:00+08:00"}],
                         ids=["description", "media_url", "status", "email", "updated_datetime"])
def test_a_resent_update_id_with_other_content_is_a_conflict(o311, http, changes):
    """The same update_id names one update: a resend that says something else is refused (409), not answered
    with the old id while its words are dropped."""
    case = reported(o311, http)
    first = post(http, "servicerequestupdates.json", update_form(case))
    assert first.status_code == 200
    before = world_counts()
    assert "update_id" in spec_error(post(http, "servicerequestupdates.json", update_form(case, **changes)), 409)
    assert world_counts() == before
    assert post(http, "servicerequestupdates.json", update_form(case)).json() == first.json()


def test_an_update_received_before_its_digest_was_kept_still_replays(o311, http):
    case = reported(o311, http)
    first = post(http, "servicerequestupdates.json", update_form(case)).json()
    Open311Update.objects.update(digest="")
    before = world_counts()
    assert post(http, "servicerequestupdates.json", update_form(case)).json() == first
    assert world_counts() == before


def test_open_on_a_closed_case_reopens_it_within_the_window(o311, http):
    case = reported(o311, http)
    close(case)
    response = post(http, "servicerequestupdates.json", update_form(case, description="并没有清理"))
    assert response.status_code == 200, response.content
    case.refresh_from_db()
    assert case.status == Status.ACCEPTED and case.reopen_count == 1
    step = CaseStep.objects.get(pk=int(response.json()[0]["update_id"]))
    assert (step.action, step.from_status, step.to_status, step.note) == ("reopen", "closed", "accepted", "并没有清理")
    assert AuditEntry.objects.filter(action="cases.reopen", target_id=str(case.pk)).count() == 1
    assert OutboxEvent.objects.filter(topic="case.reopened", aggregate_id=str(case.pk)).count() == 1
    assert get(http, f"requests/{case.number}.json").json()[0]["status"] == "open"


def test_reopening_is_refused_after_the_window_or_for_another_clients_case(o311, http):
    case = reported(o311, http)
    close(case, days_ago=30)
    before = world_counts()
    spec_error(post(http, "servicerequestupdates.json", update_form(case)), 409)
    assert world_counts() == before
    staff = submit_case(actor=o311.worker, title="垃圾", lng=POINT[0], lat=POINT[1], category=o311.cat.pk,
                        source="grid_worker")[0]
    close(staff)
    before = world_counts()
    assert "reopen" in spec_error(post(http, "servicerequestupdates.json", update_form(staff, update_id="x2")), 409)
    assert world_counts() == before
    # a plain comment (status CLOSED) on that case is still welcome
    assert post(http, "servicerequestupdates.json", update_form(staff, update_id="x3", status="CLOSED")).status_code \
        == 200


UPDATE_REFUSALS = [
    ("no key", {"api_key": None}, 403),
    ("wrong key", {"api_key": "nope"}, 403),
    ("no service_request_id", {"service_request_id": None}, 400),
    ("unknown service_request_id", {"service_request_id": "2020010100001"}, 404),
    ("unknown status", {"status": "EXPLODED"}, 400),
    ("empty comment", {"description": "", "media_url": None}, 400),
    ("bad datetime", {"updated_datetime": "last tuesday"}, 400),
    ("bad media_url", {"media_url": "ftp://x/y"}, 400),
    ("bad email", {"email": "nobody"}, 400),
    ("description too long", {"description": "长" * 4001}, 400),
]


@pytest.mark.parametrize(("label", "changes", "status"), UPDATE_REFUSALS, ids=[r[0] for r in UPDATE_REFUSALS])
def test_update_refusals_change_nothing(o311, http, label, changes, status):
    case = reported(o311, http)
    before = world_counts()
    spec_error(post(http, "servicerequestupdates.xml", update_form(case, **changes)), status)
    assert world_counts() == before


def test_updates_on_hotline_cases_are_not_found_as_their_requests_are_not(o311, http):
    """A 12345 case is the hotline's to publish: GET requests/{id} says it does not exist, so a comment on it is
    a 404 too, even in a public category."""
    hotline = submit_case(actor=o311.dispatcher, title="路边暴露垃圾", lng=POINT[0], lat=POINT[1],
                          category=o311.cat.pk, source="hotline", hotline_ticket="12345-0001",
                          caller_name="李四", callback_phone="13700000000")[0]
    spec_error(get(http, f"requests/{hotline.number}.json"), 404)
    before = world_counts()
    spec_error(post(http, "servicerequestupdates.json", update_form(hotline, status="CLOSED")), 404)
    assert world_counts() == before
    assert not CaseStep.objects.filter(case=hotline, action="comment").exists()


def test_updates_on_cases_outside_public_categories_are_not_found(o311, http):
    hidden = submit_case(actor=o311.worker, title="社区矫正人员", lng=POINT[0], lat=POINT[1],
                         category=o311.private.pk, source="grid_worker")[0]
    before = world_counts()
    spec_error(post(http, "servicerequestupdates.json", update_form(hidden)), 404)
    assert world_counts() == before


# --- OPEN on a case whose loop ended without being handled: a 409 saying it cannot be reopened -----------------

def _ended(o311, http, action: str) -> Case:
    case = reported(o311, http)
    if action == "void":
        act(actor=o311.dispatcher, case=case, action="accept")
    act(actor=o311.dispatcher, case=case, action=action, reason="不属于本区")
    case.refresh_from_db()
    return case


@pytest.mark.parametrize(("action", "zh", "en"), [("refuse", "已不予受理", "was refused"),
                                                  ("void", "已作废", "was voided")])
@pytest.mark.parametrize("description", ["还是没人管", None])
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_open_on_a_refused_or_voided_case_is_a_conflict_naming_why(o311, http, action, zh, en, description, fmt):
    """Before, a 200 and the text saved as a comment (nothing reopened), or without a description a 400 asking
    for one: the answer now says the case cannot be reopened, and nothing is written."""
    case = _ended(o311, http, action)
    assert get(http, f"requests/{case.number}.json").json()[0]["status"] == "closed"
    before = world_counts()
    changes = {"description": description, "media_url": None} if description is None else {"description": description}
    text = spec_error(post(http, f"servicerequestupdates.{fmt}", update_form(case, **changes)), 409)
    assert f"服务请求 {case.number} {zh}，不能重新办理" in text and f"{en}: it cannot be reopened" in text
    assert world_counts() == before


@pytest.mark.parametrize("action", ["refuse", "void"])
def test_a_plain_comment_on_a_refused_or_voided_case_is_still_welcome(o311, http, action):
    case = _ended(o311, http, action)
    response = post(http, "servicerequestupdates.json", update_form(case, status="CLOSED"))
    assert response.status_code == 200, response.content
    assert CaseStep.objects.get(pk=int(response.json()[0]["update_id"])).action == "comment"


def test_open_on_an_open_case_is_a_comment_and_needs_words(o311, http):
    """FixMyStreet sends OPEN with every comment on a report still open: a comment, as before."""
    case = reported(o311, http)
    response = post(http, "servicerequestupdates.json", update_form(case))
    assert CaseStep.objects.get(pk=int(response.json()[0]["update_id"])).action == "comment"
    before = world_counts()
    assert "description" in spec_error(post(http, "servicerequestupdates.json", update_form(
        case, update_id="fms-c-2", description=None, media_url=None)), 400)
    assert world_counts() == before


@pytest.mark.parametrize(("action", "en"), [("refuse", "was refused"), ("void", "was voided")])
def test_open_on_a_request_merged_into_a_case_since_refused_or_voided_names_that(o311, http, action, en):
    carrier, merged = reported(o311, http), reported(o311, http)
    if action == "void":
        act(actor=o311.dispatcher, case=carrier, action="accept")
    act(actor=o311.dispatcher, case=merged, action="merge", parent=carrier.number)
    act(actor=o311.dispatcher, case=carrier, action=action, reason="不属于本区")
    before = world_counts()
    text = spec_error(post(http, "servicerequestupdates.json", update_form(merged)), 409)
    assert f"was merged into {carrier.number}, which {en}: it cannot be reopened" in text
    assert "still being handled" not in text
    assert world_counts() == before


# --- a reopening keeps its reason whole, as a comment keeps its text ----------------------------------------------

def test_a_reopening_keeps_a_reason_of_4000_characters_whole(o311, http):
    case = reported(o311, http)
    close(case)
    reason = "还" * 3999 + "在"
    response = post(http, "servicerequestupdates.json", update_form(case, description=reason))
    assert response.status_code == 200, response.content
    step = CaseStep.objects.get(pk=int(response.json()[0]["update_id"]))
    assert step.action == "reopen" and step.note == reason


def test_a_reopening_reason_longer_than_a_step_note_is_refused_not_cut(o311, http):
    """The follow link's service itself refuses rather than cuts (the Open311 description stops at 4,000 first)."""
    from civicgrid.apps.cases.services import reopen_by_token
    from civicgrid.foundation.core.errors import ValidationFailed
    from civicgrid.foundation.workflow.steps import MAX_NOTE
    from civicgrid.integrations.open311.services import _follow_token

    case = reported(o311, http)
    close(case)
    before = world_counts()
    with pytest.raises(ValidationFailed, match=str(MAX_NOTE)):
        reopen_by_token(follow_token=_follow_token(o311.client, case), reason="长" * (MAX_NOTE + 1))
    assert world_counts() == before


def test_update_names_that_together_are_too_long_are_refused_naming_the_fields(o311, http):
    case = reported(o311, http)
    before = world_counts()
    text = spec_error(post(http, "servicerequestupdates.xml", update_form(
        case, status="CLOSED", first_name="A" * 64, last_name="B" * 64)), 400)
    assert "first_name and last_name" in text and "reporter_name" not in text
    assert world_counts() == before
