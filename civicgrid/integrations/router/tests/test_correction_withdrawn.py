"""A dispatcher's correction of the router is withdrawn when the case comes back to the department the router
suggested: the department chosen instead sent it back (退回) or it was taken back (改派), and a later dispatch
sent it where the model had said. The row stays, marked, audited once; it no longer counts on the router page;
the case page says so, and names a rule corrected with the withdrawn dispatch for review."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.test import Client

from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.tests.conftest import report
from civicgrid.apps.categories.services import RULE_CORRECTED_AT_DISPATCH
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.events import bus
from civicgrid.integrations.router import corrections, versions
from civicgrid.integrations.router.models import RouterCorrection
from civicgrid.testing.builders import department, user_with

from .test_product import CITY

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(loop, example_model, settings):
    settings.CIVICGRID_AUTO_DISPATCH_THRESHOLD = 1.01
    return versions.register(example_model, actor=loop.dispatcher, source="csv:example", activate=True)


def signed_in(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _dispatched_elsewhere(loop, **inputs):
    """A case the router sends to 区城管局 (loop.dept), dispatched to 区住建局 instead: a correction."""
    case = report(loop, title="路边暴露垃圾", description=CITY)
    assert case.suggestion["department_id"] == loop.dept.pk
    act(actor=loop.dispatcher, case=case, action="accept")
    return act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk, **inputs)


def _withdrawals(row) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=corrections.WITHDRAWN, target_id=str(row.pk)))


def test_sent_back_then_dispatched_to_the_suggested_department_withdraws_the_correction(loop, live):
    case = _dispatched_elsewhere(loop)
    case = act(actor=loop.other_handler, case=case, action="send_back", reason="垃圾清运不归住建")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    bus.dispatch_pending()  # the first dispatch's event comes when the case is already back: the same outcome
    row = RouterCorrection.objects.get()
    back = case.steps.filter(action="dispatch").latest("pk")
    assert row.department_id_chosen == loop.other_dept.pk and row.withdrawn_at == back.at
    assert row.withdrawn_step_id == back.pk
    entry = _withdrawals(row)[0]
    assert entry.actor_name == "system" and entry.region_code == case.region_code
    assert entry.data["case"] == case.number and entry.data["department"] == loop.dept.pk
    assert entry.before["withdrawn_at"] is None and entry.after["withdrawn_step_id"] == back.pk
    bus.dispatch_pending()
    corrections.record_for_step(back)  # delivered again: nothing more
    assert len(_withdrawals(row)) == 1
    # No longer counted; said on the router page and the case page.
    home = signed_in(loop.dispatcher).get("/router/").content.decode()
    assert 'data-corrections="0"' in home and 'data-corrections-withdrawn="1"' in home
    page = signed_in(loop.dispatcher).get(f"/cases/{case.number}/").content.decode()
    assert "data-correction-withdrawn" in page and "data-corrected" not in page
    assert corrections.since_active() == 0


def test_a_redirect_back_to_the_suggested_department_withdraws_it_too(loop, live):
    case = _dispatched_elsewhere(loop)
    bus.dispatch_pending()
    row = RouterCorrection.objects.get()
    assert row.withdrawn_at is None and corrections.since_active() == 1
    act(actor=loop.dispatcher, case=case, action="redirect", department=loop.dept.pk, reason="确属城管")
    bus.dispatch_pending()
    row.refresh_from_db()
    assert row.withdrawn_at is not None and len(_withdrawals(row)) == 1
    assert RouterCorrection.objects.count() == 1  # the redirect back is no correction of its own


def test_a_return_elsewhere_keeps_the_correction(loop, live):
    third = department("区水务局")
    user_with(Role.DEPARTMENT_HANDLER, department=third, username="h3")
    case = _dispatched_elsewhere(loop)
    case = act(actor=loop.other_handler, case=case, action="send_back", reason="不归住建")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=third.pk)
    bus.dispatch_pending()
    rows = list(RouterCorrection.objects.order_by("step_id"))
    assert len(rows) == 2 and all(r.withdrawn_at is None for r in rows)  # the model was wrong: both stand
    assert not AuditEntry.objects.filter(action=corrections.WITHDRAWN).exists()
    assert corrections.since_active() == 2


def test_a_rule_corrected_with_the_withdrawn_dispatch_is_named_for_review(loop, live):
    case = _dispatched_elsewhere(loop, correct_rule=True)
    rule_id = case.steps.get(action="dispatch").data["rule_corrected"]["rule"]
    assert AuditEntry.objects.filter(action=RULE_CORRECTED_AT_DISPATCH, target_id=str(rule_id)).exists()
    case = act(actor=loop.other_handler, case=case, action="send_back", reason="不归住建")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    bus.dispatch_pending()
    row = RouterCorrection.objects.get()
    assert _withdrawals(row)[0].data["rule_corrected"] == rule_id
    page = signed_in(loop.dispatcher).get(f"/cases/{case.number}/").content.decode()
    assert f'href="/categories/rules/{rule_id}/" data-withdrawn-rule>#{rule_id}<' in page


def test_the_migration_settles_existing_corrections_once(loop, live):
    settle = importlib.import_module(
        "civicgrid.integrations.router.migrations.0004_correction_withdrawn"
    ).settle
    case = _dispatched_elsewhere(loop)
    case = act(actor=loop.other_handler, case=case, action="send_back", reason="不归住建")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    bus.dispatch_pending()
    # as before the fields existed: the row live, no record of a withdrawal
    RouterCorrection.objects.update(withdrawn_at=None, withdrawn_step_id=None)
    before = AuditEntry.objects.filter(action=corrections.WITHDRAWN).count()
    settle(django_apps, None)
    row = RouterCorrection.objects.get()
    assert row.withdrawn_step_id == case.steps.filter(action="dispatch").latest("pk").pk
    assert AuditEntry.objects.filter(action=corrections.WITHDRAWN).count() == before + 1
    settle(django_apps, None)
    assert AuditEntry.objects.filter(action=corrections.WITHDRAWN).count() == before + 1
