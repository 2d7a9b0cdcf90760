"""`core.rows.insert` writes exactly what the ORM writes: every column, read back through the ORM, equals the
same instance saved by `save()`; keys come back in order; a failed statement leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from civicgrid.foundation.access.models import User
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.rows import COPY_MIN_ROWS, insert
from civicgrid.foundation.events.models import HandlerRun, OutboxEvent
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.sla.models import SlaClock

pytestmark = pytest.mark.django_db
AT = datetime(2026, 6, 15, 2, 30, 15, 123456, tzinfo=UTC)


def columns(obj) -> dict:
    fresh = type(obj).objects.get(pk=obj.pk)
    return {f.attname: getattr(fresh, f.attname) for f in type(obj)._meta.concrete_fields if not f.primary_key}


def audit_row(**kw) -> AuditEntry:
    return AuditEntry(at=AT, actor_name="网格员 张三", source_ip="10.0.0.1", channel="web", request_id="r1",
                      action="case.report", target_type="cases.case", target_id="7", target_repr="案卷 7",
                      region_code="140213001001", before=None, after={"状态": "已上报", "n": 3, "x": [1.5, None]},
                      data={"photos": 0, "nested": {"a": True}}, **kw)


def test_audit_entry_matches_the_orm():
    user = User.objects.create_user(username="rows-test", password="x-Long-enough-1")
    by_orm, by_rows = audit_row(actor=user), audit_row(actor=user)
    by_orm.save()
    insert(by_rows)
    assert by_rows.pk is not None and by_rows.pk != by_orm.pk
    assert not by_rows._state.adding
    assert columns(by_rows) == columns(by_orm)
    assert columns(by_rows)["after"] == {"状态": "已上报", "n": 3, "x": [1.5, None]}
    assert columns(by_rows)["before"] is None


def test_clock_with_floats_booleans_and_null_times_matches_the_orm():
    def clock(target_id):
        return SlaClock(target_type="cases.case", target_id=target_id, kind="handle", region_code="140213",
                        limit_amount=2.5, mode="working_days", budget=2.5, started_at=AT,
                        running_since=AT, due_at=AT, warn_at=AT, on_time=None, updated_at=AT)

    by_orm, by_rows = clock("12"), clock("13")
    by_orm.save()
    insert(by_rows)
    assert columns(by_rows) == {**columns(by_orm), "target_id": "13"}


@pytest.mark.parametrize("at", [AT, AT.astimezone(ZoneInfo("Asia/Shanghai")), AT.replace(microsecond=0),
                                datetime(2026, 6, 15, 10, 30, tzinfo=timezone(timedelta(hours=8)))])
def test_datetimes_in_any_zone_are_stored_as_the_orm_stores_them(at):
    """The very text (SQLite) or value (PostgreSQL) in the column, not only what the ORM reads back."""
    def clock(target_id):
        return SlaClock(target_type="cases.case", target_id=target_id, kind="handle", region_code="140213",
                        limit_amount=1, mode="natural_hours", budget=60.0, started_at=at,
                        running_since=at, due_at=at, warn_at=at, updated_at=at)

    by_orm, by_rows = clock("21"), clock("22")
    by_orm.save()
    insert(by_rows)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, started_at, due_at FROM {SlaClock._meta.db_table} WHERE id IN (%s, %s)",
                       [by_orm.pk, by_rows.pk])
        stored = {row[0]: row[1:] for row in cursor.fetchall()}
    assert stored[by_rows.pk] == stored[by_orm.pk]
    assert SlaClock.objects.get(pk=by_rows.pk).started_at == at


def test_rows_with_different_empty_columns_in_one_statement():
    first = SlaClock(target_type="t", target_id="1", kind="k", limit_amount=1, mode="natural_hours",
                     budget=60, started_at=AT, due_at=AT, on_time=True)
    second = SlaClock(target_type="t", target_id="2", kind="k", limit_amount=1, mode="natural_hours",
                      budget=60, started_at=AT, due_at=None, paused_at=AT, on_time=None)
    insert(first, second)
    got = {c.target_id: (c.due_at, c.paused_at, c.on_time) for c in SlaClock.objects.filter(target_type="t")}
    assert got == {"1": (AT, None, True), "2": (None, AT, None)}


def test_auto_now_add_and_defaults_are_filled():
    user = User.objects.create_user(username="rows-test", password="x-Long-enough-1")
    before = datetime.now(UTC)
    note = Notification(user=user, kind="new_task", title="新任务", body="请处理")
    insert(note)
    fresh = Notification.objects.get(pk=note.pk)
    assert fresh.created_at >= before.replace(microsecond=0)
    assert fresh.read_at is None and fresh.dedupe_key is None
    event = OutboxEvent(topic="case.reported", payload={"number": "2026061500001"})
    insert(event)
    fresh = OutboxEvent.objects.get(pk=event.pk)
    assert fresh.attempts == 0 and fresh.dispatched_at is None and fresh.payload == {"number": "2026061500001"}


def test_several_models_in_one_call_keys_in_order():
    events = [OutboxEvent(topic=f"t.{i}", payload={"i": i}) for i in range(5)]
    entries = [audit_row() for _ in range(3)]
    insert(events[0], entries[0], events[1], entries[1], *events[2:], entries[2])
    assert [OutboxEvent.objects.get(pk=e.pk).payload["i"] for e in events] == list(range(5))
    assert len({e.pk for e in entries}) == 3
    runs = [HandlerRun(event=e, handler="h") for e in events]
    insert(*runs)
    assert sorted(HandlerRun.objects.values_list("event_id", flat=True)) == sorted(e.pk for e in events)


@pytest.mark.parametrize("size", [2, COPY_MIN_ROWS])  # one INSERT; on PostgreSQL, a COPY
def test_a_refused_statement_changes_nothing(size):
    event = OutboxEvent(topic="t", payload={})
    insert(event)
    counts = (OutboxEvent.objects.count(), HandlerRun.objects.count())
    runs = [HandlerRun(event=event, handler=f"h{i}") for i in range(size - 1)] + [HandlerRun(event=event, handler="h0")]
    with pytest.raises(IntegrityError), transaction.atomic():
        insert(OutboxEvent(topic="kept?", payload={}))
        insert(*runs)
    assert (OutboxEvent.objects.count(), HandlerRun.objects.count()) == counts


def test_a_batch_keeps_awkward_text_and_json_as_the_orm_does():
    # Several rows: on PostgreSQL they go in by COPY, whose text format must escape tabs, newlines and
    # backslashes (and a literal \\N must not become NULL).
    awkward = "列\t表\n第二行 \\N 反斜杠\\ 结尾"

    def batch() -> list[AuditEntry]:
        entries = [audit_row() for _ in range(COPY_MIN_ROWS)]
        entries[0].target_repr, entries[1].target_repr = awkward, ""
        entries[0].data = {"注释": awkward, "n": [1, {"深": None}]}
        return entries

    by_orm, by_rows = batch(), batch()
    for entry in by_orm:
        entry.save()
    insert(*by_rows)
    assert [e.pk for e in by_rows] == sorted(e.pk for e in by_rows)
    assert [columns(e) for e in by_rows] == [columns(e) for e in by_orm]
    assert columns(by_rows[0])["target_repr"] == awkward
    assert columns(by_rows[0])["data"]["注释"] == awkward


def test_a_batch_is_recorded_as_the_statements_it_sends():
    def sent(n: int) -> list[str]:
        events = [OutboxEvent(topic=f"q{n}.{i}", payload={"i": i}) for i in range(n)]
        with CaptureQueriesContext(connection) as queries:
            insert(*events)
        assert [OutboxEvent.objects.get(pk=e.pk).topic for e in events] == [f"q{n}.{i}" for i in range(n)]
        return [q["sql"] for q in queries.captured_queries]

    small, large = sent(COPY_MIN_ROWS - 1), sent(COPY_MIN_ROWS)
    assert len(small) == 1 and small[0].startswith("INSERT INTO")
    if connection.vendor == "postgresql":  # the keys, then the rows (after the sequence's name, once a process)
        large = [q for q in large if "pg_get_serial_sequence" not in q]
        assert len(large) == 2 and "nextval" in large[0] and large[1].startswith(f"{COPY_MIN_ROWS} rows: COPY")
    else:
        assert len(large) == 1 and large[0].startswith("INSERT INTO")


def test_mixed_keys_in_one_batch_are_refused():
    with pytest.raises(ValueError):
        insert(OutboxEvent(topic="a", payload={}), OutboxEvent(id=10**9, topic="b", payload={}))
    assert not OutboxEvent.objects.filter(topic__in=["a", "b"]).exists()


# ---- new(): the same instance as Model(**fields) ----------------------------------------------------------------


def _state_free(obj) -> dict:
    return {k: v for k, v in obj.__dict__.items() if k != "_state"}


def test_new_builds_what_the_constructor_builds():
    from civicgrid.apps.cases.models import Case, CaseReporter, CaseStep
    from civicgrid.foundation.core.rows import new
    from civicgrid.integrations.open311.models import Open311Request, QueuedRequest

    user = User.objects.create_user(username="rows-new", password="x-Long-enough-1")
    shapes = [
        (Case, {"number": "", "title": "井盖缺失", "description": "d", "category": None, "source": "open311",
                "lng": 113.3, "lat": 40.1, "grid_id": None, "region_code": "140213", "reporter": user,
                "suggestion": {"a": 1}, "reported_at": AT, "is_self_handled": False}),
        (CaseReporter, {"user": None, "name": "张三", "contact_enc": "x", "follow_token": "t"}),
        (CaseStep, {"action": "report", "to_status": "reported", "actor": user, "actor_name": "a", "at": AT,
                    "data": {"photos": 0}}),
        (SlaClock, {"target_type": "cases.case", "target_id": "", "kind": "intake", "region_code": "1",
                    "limit_amount": 2, "updated_at": AT}),
        (AuditEntry, {"at": AT, "actor": None, "actor_name": "system", "action": "x", "data": {"n": [1]}}),
        (OutboxEvent, {"topic": "case.reported", "aggregate_type": "cases.case", "aggregate_id": "1",
                       "payload": {"number": "1"}, "created_at": AT, "available_at": AT}),
        (Open311Request, {"case": None, "token": "abc", "attributes": {}, "media_urls": []}),
        (QueuedRequest, {"token": "abc", "key": None, "digest": "d", "received_at": AT, "report": {"x": 1}}),
    ]
    for model, fields in shapes:
        by_new, by_init = new(model, **fields), model(**fields)
        assert _state_free(by_new) == _state_free(by_init), model
        assert by_new._state.adding and by_new._state.db == by_init._state.db
    step = new(CaseStep, action="report", actor=user, at=AT)
    assert step.actor is user and step.actor_id == user.pk  # the related instance is cached, as the ORM does


def test_new_makes_callable_defaults_afresh_and_refuses_unknown_fields():
    from civicgrid.foundation.core.rows import new

    a, b = new(OutboxEvent, topic="t"), new(OutboxEvent, topic="t")
    a.payload["x"] = 1
    assert b.payload == {}  # default=dict: a new dict per instance, not one shared
    assert a.created_at is not None
    with pytest.raises(TypeError, match="no_such_field"):
        new(OutboxEvent, topic="t", no_such_field=1)


def test_new_instances_insert_like_the_orm():
    from civicgrid.foundation.core.rows import new

    by_orm = audit_row()
    by_orm.save()
    fields = {f.attname: getattr(by_orm, f.attname) for f in AuditEntry._meta.concrete_fields if not f.primary_key}
    by_new = new(AuditEntry, **fields)
    insert(by_new)
    assert columns(by_new) == columns(by_orm)
