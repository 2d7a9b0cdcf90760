"""Queued clients: a report is checked and located, answered with its token, and made into a case by the next
batch (`services.drain`, the worker's job) with the same rows a direct report gets; refusals store nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from civicgrid.apps.cases.models import Case, CaseReporter, CaseStep, Source, Status
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.audit.export import AuditFilter, apply_filter
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core import keys
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import OutgoingMessage
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.integrations.open311 import services
from civicgrid.integrations.open311.models import (
    ACCOUNT_CONTEXT,
    DEVICE_CONTEXT,
    Open311Request,
    QueuedRequest,
    QueueState,
)

from .conftest import GRID, KEY, OUTSIDE, form, get, post, spec_error, world_counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(o311):
    o311.client.queued = True
    o311.client.save(update_fields=["queued"])
    return o311


def _queue_state() -> list:
    return list(QueuedRequest.objects.order_by("pk").values_list("pk", "state", "case_id"))


def test_a_queued_report_is_answered_with_its_token_and_made_a_case_by_the_next_batch(queued, http):
    before = world_counts()
    response = post(http, "requests.json", form(queued), HTTP_IDEMPOTENCY_KEY="q-1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body[0]) == {"token", "service_notice", "account_id"} and body[0]["account_id"] == "account-7"
    token = body[0]["token"]
    # nothing of the loop yet: one queue row, contacts and the caller's ids encrypted
    assert world_counts() == before
    row = QueuedRequest.objects.get(token=token)
    assert row.state == QueueState.PENDING and row.client == queued.client
    assert "13812345678" not in row.contacts_enc and "zhang@" not in row.contacts_enc
    assert "13812345678" not in str(row.report) and "张三" not in str(row.report)
    assert keys.decrypt(row.device_id_enc, DEVICE_CONTEXT) == "device-42"

    assert services.drain() == 1
    row.refresh_from_db()
    case = row.case
    assert row.state == QueueState.MADE and row.done_at is not None
    assert row.contacts_enc == ""  # the case keeps the reporter's contacts; the queue no longer does
    assert case.source == Source.OPEN311 and case.status == Status.REPORTED and case.grid.code == GRID
    assert case.category == queued.cat and case.suggested_department == queued.dept
    assert case.reported_at == row.received_at  # the time limit runs from when the report came in
    assert case.reporter_name == "张三" and case.reporter_phone_masked == "138****5678"
    assert "13812345678" not in case.reporter_phone_enc
    assert CaseReporter.objects.filter(case=case).count() == 1
    assert list(CaseStep.objects.filter(case=case).values_list("action", flat=True)) == ["report"]
    clock = SlaClock.objects.get(target_id=str(case.pk))
    assert clock.kind == "case.intake" and clock.started_at == case.reported_at
    link = Open311Request.objects.get(case=case)
    assert link.token == token and link.attributes == {"affects_traffic": "yes"}
    assert keys.decrypt(link.account_id_enc, ACCOUNT_CONTEXT) == "account-7"
    assert AuditEntry.objects.get(action="cases.report", target_id=str(case.pk)).data["queued"] is True
    created = AuditEntry.objects.get(action="open311.request_created", target_id=str(case.pk))
    assert created.actor_name == "open311:FixMyStreet 测试" and created.data["token"] == token
    topics = set(OutboxEvent.objects.filter(aggregate_id=str(case.pk)).values_list("topic", flat=True))
    assert "case.reported" in topics
    assert OutboxEvent.objects.filter(topic="sla.started", aggregate_id=str(case.pk)).count() == 1
    # the reporter is told, with the follow link, as for a direct report
    assert OutgoingMessage.objects.filter(body__contains=case.number).exists()

    answer = get(http, f"tokens/{token}.json").json()
    assert answer == [{"service_request_id": case.number, "token": token}]
    assert get(http, f"requests/{case.number}.json").json()[0]["service_request_id"] == case.number
    assert services.drain() == 0  # nothing left


def test_reading_a_pending_token_makes_its_case_at_once(queued, http):
    token = post(http, "requests.json", form(queued)).json()[0]["token"]
    other = post(http, "requests.json", form(queued, device_id="other")).json()[0]["token"]
    answer = get(http, f"tokens/{token}.xml")
    assert answer.status_code == 200
    number = Case.objects.get(open311__token=token).number
    assert f"<service_request_id>{number}</service_request_id>" in answer.content.decode()
    # only that token was made; the other still waits for the batch
    assert QueuedRequest.objects.get(token=other).state == QueueState.PENDING
    assert Case.objects.count() == 1


def test_a_replay_answers_the_same_token_before_and_after_the_batch(queued, http):
    first = post(http, "requests.json", form(queued), HTTP_IDEMPOTENCY_KEY="again")
    again = post(http, "requests.json", form(queued), HTTP_IDEMPOTENCY_KEY="again")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()[0]["token"] == first.json()[0]["token"] and QueuedRequest.objects.count() == 1
    services.drain()
    after = post(http, "requests.json", form(queued), HTTP_IDEMPOTENCY_KEY="again")
    assert after.status_code == 200 and after.json()[0]["token"] == first.json()[0]["token"]
    assert after.json()[0]["service_request_id"] == Case.objects.get().number
    # the same key with another report is refused, and nothing is stored
    state = _queue_state()
    conflict = post(http, "requests.json", form(queued, description="另一件事"), HTTP_IDEMPOTENCY_KEY="again")
    assert "幂等键" in spec_error(conflict, 409)
    assert _queue_state() == state and Case.objects.count() == 1


@pytest.mark.parametrize("overrides, status, words", [
    ({"lat": str(OUTSIDE[1]), "long": str(OUTSIDE[0])}, 400, ""),
    ({"service_code": "gb47678:matter:99999"}, 404, ""),
    ({"lat": None, "long": None}, 400, ""),
    ({"api_key": "wrong"}, 403, ""),
    ({"phone": "12"}, 400, "phone"),
])
def test_a_refused_queued_report_stores_nothing(queued, http, overrides, status, words):
    before, state = world_counts(), _queue_state()
    response = post(http, "requests.json", form(queued, **overrides))
    assert words in spec_error(response, status)
    assert world_counts() == before and _queue_state() == state


def test_a_batch_makes_many_cases_with_consecutive_numbers_and_one_link_each(queued, http):
    tokens = [post(http, "requests.json", form(queued, device_id=f"d{i}")).json()[0]["token"] for i in range(7)]
    assert services.drain(batch=3) == 7
    made = list(QueuedRequest.objects.order_by("pk").values_list("token", "case__number", "state"))
    assert [t for t, _, _ in made] == tokens and {s for _, _, s in made} == {QueueState.MADE}
    numbers = [int(n[-5:]) for _, n, _ in made]
    assert numbers == list(range(numbers[0], numbers[0] + 7))  # in order of arrival
    assert Open311Request.objects.count() == 7 and SlaClock.objects.count() == 7
    assert AuditEntry.objects.filter(action="cases.report").count() == 7


def test_a_report_whose_category_was_deleted_meanwhile_fails_alone_and_says_why(queued, http):
    good = post(http, "requests.json", form(queued)).json()[0]["token"]
    bad = post(http, "requests.json", form(queued, service_code=queued.code(queued.plain),
                                          **{"attribute[affects_traffic]": None})).json()[0]["token"]
    Category.objects.filter(pk=queued.plain.pk).delete()
    assert services.drain() == 2
    assert QueuedRequest.objects.get(token=good).state == QueueState.MADE
    failed = QueuedRequest.objects.get(token=bad)
    assert failed.state == QueueState.FAILED and "分类" in failed.error and failed.case is None
    assert Case.objects.count() == 1
    entry = AuditEntry.objects.get(action="open311.request_failed", target_id=str(failed.pk))
    # A failure, under the row's state after the batch: the trail's 结果=失败 filter finds it.
    assert entry.result == "failed" and entry.target_repr == f"open311 queued {bad} (failed)"
    assert list(apply_filter(AuditEntry.objects.all(), AuditFilter(result="failed"))) == [entry]
    # The reason is a pair itself: each half goes into its language's sentence, not one after the other.
    said = ("该上报未能立卷：上报的事件分类已被删除 / the report could not be made a service request: the report's "
            "category no longer exists")
    assert spec_error(get(http, f"tokens/{bad}.json"), 404) == said
    assert spec_error(get(http, f"tokens/{bad}.xml"), 404) == said


def test_the_worker_drains_the_queue_on_its_pass(queued, http):
    token = post(http, "requests.json", form(queued)).json()[0]["token"]
    call_command("worker", "--once", "--no-tasks")
    assert QueuedRequest.objects.get(token=token).state == QueueState.MADE
    case = Case.objects.get(open311__token=token)
    # the same pass delivered the new case's events
    assert not OutboxEvent.objects.filter(aggregate_id=str(case.pk), topic="case.reported",
                                          dispatched_at__isnull=True).exists()


def test_a_direct_client_is_not_queued(o311, http):
    response = post(http, "requests.json", form(o311))
    assert response.status_code == 201 and "service_request_id" in response.json()[0]
    assert QueuedRequest.objects.count() == 0


def test_the_command_creates_a_queued_client(db, capsys):
    call_command("open311_client", "add", "热线批量接入", "--queued")
    call_command("open311_client", "list")
    out = capsys.readouterr().out
    assert "热线批量接入" in out and "queued" in out
    assert KEY not in out


def test_the_command_shows_the_queue_and_drains_it(queued, http, capsys):
    post(http, "requests.json", form(queued))
    bad = post(http, "requests.json", form(queued, service_code=queued.code(queued.plain),
                                          **{"attribute[affects_traffic]": None})).json()[0]["token"]
    Category.objects.filter(pk=queued.plain.pk).delete()
    call_command("open311_client", "queue")
    assert "pending: 2" in capsys.readouterr().out and Case.objects.count() == 0
    call_command("open311_client", "queue", "--drain")
    out = capsys.readouterr().out
    assert "made: 2" in out and "made: 1" in out and "failed: 1" in out and bad in out
    assert Case.objects.count() == 1


def test_a_token_read_while_the_database_is_busy_answers_pending(queued, http, monkeypatch):
    from django.db import OperationalError

    token = post(http, "requests.json", form(queued)).json()[0]["token"]

    def busy(**_):
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "drain", busy)
    answer = get(http, f"tokens/{token}.json")
    assert answer.status_code == 200 and answer.json() == [{"service_request_id": "", "token": token}]
    assert QueuedRequest.objects.get(token=token).state == QueueState.PENDING and Case.objects.count() == 0


def test_a_key_rotation_reaches_queued_reports(queued, http, tmp_path, settings):
    import io

    from civicgrid.foundation.core import keys

    settings.CIVICGRID_KEY_FILE = tmp_path / "keys" / "ring.json"
    keys.reset()
    try:
        token = post(http, "requests.json", form(queued)).json()[0]["token"]
        old = keys.encryptor().keyring.current
        out = io.StringIO()
        call_command("rotate_keys", "--yes", stdout=out, stderr=io.StringIO())
        new = keys.encryptor(force_check=True).keyring.current
        assert new != old and "open311.QueuedRequest.contacts_enc: 1" in out.getvalue()
        row = QueuedRequest.objects.get(token=token)
        assert f":{new}:" in row.contacts_enc and f":{new}:" in row.device_id_enc
        services.drain()
        case = Case.objects.get(open311__token=token)
        assert case.reporter_name == "张三" and case.reporter_phone_masked == "138****5678"
    finally:
        keys.reset()


def test_a_row_that_cannot_be_read_fails_alone(queued, http):
    good = post(http, "requests.json", form(queued)).json()[0]["token"]
    bad = post(http, "requests.json", form(queued, device_id="x")).json()[0]["token"]
    QueuedRequest.objects.filter(token=bad).update(report={"written by": "another version"})
    assert services.drain() == 2
    assert QueuedRequest.objects.get(token=good).state == QueueState.MADE
    failed = QueuedRequest.objects.get(token=bad)
    assert failed.state == QueueState.FAILED and "无法读取" in failed.error and Case.objects.count() == 1


def test_a_key_taken_while_the_batch_was_prepared_links_the_row_to_that_case(queued, http, monkeypatch):
    from django.core.cache import cache

    first = post(http, "requests.json", form(queued), HTTP_IDEMPOTENCY_KEY="k1").json()[0]["token"]
    second = post(http, "requests.json", form(queued, device_id="other"), HTTP_IDEMPOTENCY_KEY="k2").json()[0]["token"]
    real = services.cases.prepare_cases
    direct = {}

    def prepare_then_resend(specs, **kwargs):
        batch = real(specs, **kwargs)
        # meanwhile the client, switched to direct, resends the first report: it makes its case at once
        queued.client.queued = False
        queued.client.save(update_fields=["queued"])
        cache.clear()
        direct["answer"] = post(http, "requests.json", form(queued), HTTP_IDEMPOTENCY_KEY="k1").json()[0]
        return batch

    monkeypatch.setattr(services.cases, "prepare_cases", prepare_then_resend)
    assert services.drain() == 2
    number = direct["answer"]["service_request_id"]
    row = QueuedRequest.objects.get(token=first)
    assert row.state == QueueState.MADE and row.case.number == number
    other = QueuedRequest.objects.get(token=second)
    assert other.state == QueueState.MADE and Open311Request.objects.get(token=second).case == other.case
    assert Case.objects.count() == 2 and Open311Request.objects.count() == 2
    assert get(http, f"tokens/{first}.json").json()[0]["service_request_id"] == number


@pytest.mark.parametrize("changes", [{"attribute[affects_traffic]": "no"},
                                     {"media_url": "https://fms.example/photo/2.jpeg"}, {"account_id": "account-8"},
                                     {"device_id": "device-43"}],
                         ids=["attribute", "media_url", "account_id", "device_id"])
def test_a_queued_resend_that_differs_beside_the_case_is_a_conflict_before_and_after_the_batch(queued, http,
                                                                                                changes):
    first = post(http, "requests.json", form(queued), HTTP_IDEMPOTENCY_KEY="k-q")
    assert first.status_code == 201
    for drained in (False, True):
        if drained:
            services.drain()
        state, before = _queue_state(), world_counts()
        spec_error(post(http, "requests.json", form(queued, **changes), HTTP_IDEMPOTENCY_KEY="k-q"), 409)
        assert _queue_state() == state and world_counts() == before
    assert post(http, "requests.json", form(queued), HTTP_IDEMPOTENCY_KEY="k-q").status_code == 200


@pytest.mark.parametrize("made_by", ["batch", "token"])
def test_a_resend_once_the_case_is_made_answers_as_a_made_report_replay(queued, http, made_by):
    first = post(http, "requests.json", form(queued), HTTP_IDEMPOTENCY_KEY="made-1")
    token = first.json()[0]["token"]
    if made_by == "batch":
        services.drain()
    else:
        get(http, f"tokens/{token}.json")
    case = Case.objects.get()
    state, before = _queue_state(), world_counts()
    again = post(http, "requests.json", form(queued), HTTP_IDEMPOTENCY_KEY="made-1")
    assert again.status_code == 200
    # what a direct client's replay answers: the id, the notice of a received request, the caller's ids
    body = again.json()
    assert body == [{"service_request_id": case.number, "token": token, "account_id": "account-7",
                     "service_notice": body[0]["service_notice"]}]
    assert body[0]["service_notice"].startswith(f"已收到，按「{case.category.name}」处置时限")
    assert "正在立卷" not in again.content.decode()
    assert get(http, f"tokens/{token}.json").json()[0]["service_request_id"] == case.number
    xml_answer = post(http, "requests.xml", form(queued), HTTP_IDEMPOTENCY_KEY="made-1").content.decode()
    assert f"<service_request_id>{case.number}</service_request_id>" in xml_answer and "正在立卷" not in xml_answer
    assert _queue_state() == state and world_counts() == before
    # a different report under the same key is still refused, and changes nothing
    assert "幂等键" in spec_error(post(http, "requests.json", form(queued, description="另一件事"),
                                    HTTP_IDEMPOTENCY_KEY="made-1"), 409)
    assert _queue_state() == state and world_counts() == before


@pytest.mark.parametrize("state", [QueueState.FAILED, QueueState.DROPPED])
def test_a_resend_of_a_report_that_could_not_be_made_says_so_not_that_it_is_being_made(queued, http, state):
    """A queued row that failed (or that the administrator then dismissed) is not told "正在立卷" when its client
    sends it again: the answer says it could not be made and why, in each language's half, and changes nothing."""
    token = post(http, "requests.json", form(queued), HTTP_IDEMPOTENCY_KEY="failed-1").json()[0]["token"]
    QueuedRequest.objects.filter(token=token).update(
        state=state, error="上报的事件分类已被删除 / the report's category no longer exists")
    rows, before = _queue_state(), world_counts()
    again = post(http, "requests.json", form(queued), HTTP_IDEMPOTENCY_KEY="failed-1")
    assert again.status_code == 200
    body = again.json()[0]
    assert body["token"] == token and "service_request_id" not in body
    notice = body["service_notice"]
    assert "正在立卷" not in notice and "being made" not in notice
    assert "上报的事件分类已被删除" in notice and "the report's category no longer exists" in notice
    assert ("已被放弃" in notice and "dismissed" in notice) == (state == QueueState.DROPPED)
    assert _queue_state() == rows and world_counts() == before
