"""One 12345 ticket, one case, also when two desks register it at the same moment: the repeat check runs before
the report's transaction, so a unique index (`cases_hotline_ticket_once`, migration 0017) holds what it asks, and
a registration it refuses is answered with the check's own 409, writing nothing."""

from __future__ import annotations

import importlib
import uuid

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.db.migrations.state import ProjectState
from django.test import Client

from civicgrid.apps.cases.models import Case, Source, Status, ticket_held
from civicgrid.apps.cases.services import intake
from civicgrid.foundation.core.errors import Conflict
from civicgrid.testing.browser import BROWSER_APPS
from civicgrid.testing.concurrency import race_same

from .conftest import OTHER_STREET_POINT, POINT, auth, report, world_counts

BODY = {"title": "热线并发", "lng": POINT[0], "lat": POINT[1], "source": "hotline", "caller_name": "张三",
        "callback_phone": "13800000000"}
migration = importlib.import_module("civicgrid.apps.cases.migrations.0017_hotline_ticket_once")


def _post(user, ticket: str, **extra):
    return Client().post("/api/v1/cases", {**BODY, "hotline_ticket": ticket, **extra},
                         content_type="application/json", **auth(user))


def _held(ticket: str) -> list[str]:
    return list(Case.objects.filter(ticket_held(), hotline_ticket=ticket).values_list("number", flat=True))


@pytest.mark.django_db
def test_a_registration_that_races_past_the_check_is_the_checks_409_and_writes_nothing(loop, monkeypatch):
    """The other desk commits between this one's check and its INSERT (forced here, as a race would): the
    database refuses the second case, and the answer is the 409 the check gives, naming the case to a user who
    may open it and not to one who may not, with nothing written."""
    real = intake._ticket_unused
    for user, named in ((loop.dispatcher, True), (loop.other_street_dispatcher, False)):
        ticket = f"12345-{uuid.uuid4().hex[:8].upper()}"  # as intake stores it (capital letters)
        other = {}

        def racing(t, actor, ticket=ticket, other=other):
            if not other:  # the first check: the other desk registers the ticket right after it
                real(t, actor)
                other["racing"] = True
                other["case"] = report(loop, actor=loop.dispatcher, source="hotline", hotline_ticket=ticket)
                other["before"] = world_counts()
                return
            real(t, actor)

        monkeypatch.setattr(intake, "_ticket_unused", racing)
        response = _post(user, ticket, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1]) if not named else \
            _post(user, ticket)
        body = response.json()
        assert response.status_code == 409, body
        assert body["field"] == "hotline_ticket"
        assert (other["case"].number in body["detail"]) is named
        if not named:
            assert "已在区内其他辖区登记为案卷" in body["detail"]
        assert world_counts() == other["before"]
        assert _held(ticket) == [other["case"].number]


@pytest.mark.django_db
def test_the_database_refuses_a_second_held_case_of_a_ticket(loop):
    """The index covers exactly the cases the check asks about: a refused or voided case, or one of another
    source, does not hold its ticket; a held one does."""
    first = report(loop, actor=loop.dispatcher, source="hotline", hotline_ticket="12345-0001")
    again = report(loop, actor=loop.dispatcher, source="hotline", hotline_ticket="12345-0002")
    Case.objects.filter(pk=again.pk).update(hotline_ticket="12345-0001", status=Status.VOIDED)  # allowed
    Case.objects.filter(pk=again.pk).update(status=Status.REFUSED)
    walk_in = report(loop)
    Case.objects.filter(pk=walk_in.pk).update(hotline_ticket="12345-0001")  # another source: not held
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.filter(pk=again.pk).update(status=Status.REPORTED)
    assert _held("12345-0001") == [first.number]
    with pytest.raises(Conflict):  # and the check says so too
        report(loop, actor=loop.dispatcher, source="hotline", hotline_ticket="12345-0001")


@pytest.mark.django_db(transaction=True, available_apps=BROWSER_APPS)
@pytest.mark.usefixtures("purge_audit_rows")
def test_the_migration_keeps_duplicates_stored_before_and_holds_every_ticket_after(loop, caplog):
    """0017 on a database that already holds a ticket twice (registered before the index): it does not fail and
    changes no case; the earliest case holds the ticket, the later one is logged and left out of the index, and
    no third case of that ticket (nor a second of any other) can be written."""
    model_constraint = next(c for c in Case._meta.constraints if c.name == migration.NAME)
    state = ProjectState.from_apps(apps)  # the models as migrated (the loader needs apps this test leaves out)
    operation = migration.Migration.operations[0]
    with connection.schema_editor(atomic=False) as editor:
        editor.remove_constraint(Case, model_constraint)
    try:
        first = report(loop, actor=loop.dispatcher, source="hotline", hotline_ticket="12345-0001")
        second = report(loop, actor=loop.dispatcher, source="hotline", hotline_ticket="12345-0002")
        Case.objects.filter(pk=second.pk).update(hotline_ticket="12345-0001")  # a double entry of old
        other = report(loop, actor=loop.dispatcher, source="hotline", hotline_ticket="12345-0003")
        stored = list(Case.objects.order_by("pk").values_list("pk", "status", "hotline_ticket", "updated_at"))
        for _ in range(2):  # a second run (PostgreSQL: the index is there and valid) changes nothing
            with caplog.at_level("WARNING", logger="civicgrid.migrations"), \
                    connection.schema_editor(atomic=False) as editor:
                operation.database_forwards("cases", editor, state, state)
        assert f"{second.number} (12345-0001)" in caplog.text and first.number not in caplog.text
        assert list(Case.objects.order_by("pk").values_list("pk", "status", "hotline_ticket", "updated_at")) == stored
        with pytest.raises(IntegrityError), transaction.atomic():  # a third case of that ticket
            Case.objects.filter(pk=other.pk).update(hotline_ticket="12345-0001")
        later = report(loop, actor=loop.dispatcher, source="hotline", hotline_ticket="12345-0004")
        with pytest.raises(IntegrityError), transaction.atomic():  # a second of another
            Case.objects.filter(pk=later.pk).update(hotline_ticket="12345-0003")
        with pytest.raises(Conflict):
            report(loop, actor=loop.dispatcher, source="hotline", hotline_ticket="12345-0001")
        # voiding the earlier case leaves the kept one the ticket's only case, still seen by the check
        Case.objects.filter(pk=first.pk).update(status=Status.VOIDED)
        with pytest.raises(Conflict, match=second.number):
            report(loop, actor=loop.dispatcher, source="hotline", hotline_ticket="12345-0001")
    finally:
        Case.objects.filter(source=Source.HOTLINE).delete()
        with connection.schema_editor(atomic=False) as editor:
            editor.execute(f"DROP INDEX IF EXISTS {editor.quote_name(migration.NAME)}")
            editor.add_constraint(Case, model_constraint)


@pytest.mark.parametrize("trial", range(3))
@pytest.mark.django_db(transaction=True, available_apps=BROWSER_APPS)
@pytest.mark.usefixtures("purge_audit_rows")
def test_four_desks_registering_one_ticket_at_once_make_one_case(loop, trial):
    """The integrator's race, over HTTP: four POSTs of one fresh ticket at once, each on its own connection.
    Exactly one is 201; the others are the 409 naming that case (the dispatcher may open it), and the ticket has
    one case with one report step."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's in-memory test database is one connection: the forced race above stands for it")
    ticket = f"12345-{uuid.uuid4().hex[:10].upper()}"  # as intake stores it (capital letters)
    token = auth(loop.dispatcher)
    results = race_same(lambda i: Client().post("/api/v1/cases", {**BODY, "hotline_ticket": ticket},
                                                content_type="application/json", **token), 4)
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409, 409, 409], [r.content for r in results]
    number = next(r.json()["number"] for r in results if r.status_code == 201)
    for r in results:
        if r.status_code == 409:
            assert r.json()["field"] == "hotline_ticket" and number in r.json()["detail"]
    assert _held(ticket) == [number] and Case.objects.count() == 1
    case = Case.objects.get()
    assert case.steps.count() == 1 and case.reporters.count() == 1

