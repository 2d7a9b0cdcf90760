"""The 包保 ledger's own writes. `PatronAssignment` is the record of which district department answers for a
street, per kind of work; flood tasks, hazards, materials and rescue read it. Its flood rows also decide routing
(the categories app's 包保 rules), so the one way to change an assignment is `categories.services.assign_patron`,
which calls `record_assignment` here and moves the matching rules in the same transaction."""

from __future__ import annotations

from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.service import record, snapshot
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.core.text import refuse_nul

from ..models import PatronAssignment, PatronKind


def record_assignment(*, actor, street, kind: str, department, note: str = "") -> PatronAssignment:
    """Make `department` the 包保 department of `street` for `kind` (audited with before/after; no change, no
    record). The caller holds the transaction and has checked the actor, street and department."""
    if kind not in PatronKind.values:
        raise ValidationFailed("包保类型须为 flood 或 safety / unknown kind", field="kind")
    refuse_nul(note, "note", "说明")
    current = PatronAssignment.objects.select_for_update().filter(street=street, kind=kind).first()
    if current is None:
        current = PatronAssignment.objects.create(department=department, street=street, kind=kind, note=note[:200])
        record(actor=actor, action=verbs.Data.CREATED, target=current, after=snapshot(current))
        return current
    if current.department_id == department.pk and (not note or current.note == note[:200]):
        return current
    before = snapshot(current)
    current.department = department
    if note:
        current.note = note[:200]
    current.save(update_fields=["department", "note", "street_code"])
    record(actor=actor, action=verbs.Data.CHANGED, target=current, before=before, after=snapshot(current))
    return current
