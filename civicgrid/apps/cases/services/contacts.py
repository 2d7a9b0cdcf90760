"""回访: the reporter's name and callback number in clear, for the intake staff who call back (a 12345 caller,
a resident). Pages and the API show both masked; this is the one read of the clear values, checked against
the case's region and audited whether allowed or not. The same staff may read in clear what was written into the
case (the title, description and address, and the notes of its timeline, whose phone and ID numbers and names staff
otherwise read masked: `Case.title_for_staff`, `CaseStep.note_for_staff`), under the same check and audit."""

from __future__ import annotations

from civicgrid.foundation.audit import service as audit
from civicgrid.foundation.audit import verbs
from civicgrid.foundation.core import keys
from civicgrid.foundation.core.errors import PermissionDenied

from ..models import Case, CaseReporter
from ..recipients import EMAIL_CONTEXT, PHONE_CONTEXT
from ..selectors import reveal_scope


def may_reveal_contact(actor, case: Case) -> bool:
    """Whether `actor` may read the reporter's contact and the case's text in clear (`selectors.reveal_scope`:
    受理员 / 值班长 over its region; the page offers the buttons, and the list's search matches the clear title
    there: `selectors.search_q`)."""
    return reveal_scope(actor).covers_code(case.region_code)


def reveal_contact(*, actor, case: Case) -> dict:
    """The first reporter's name, phone and email of `case` in clear (a merged duplicate's reporters are
    reached through their own case). Audited as `data.revealed`, refused or not."""
    allowed = may_reveal_contact(actor, case)
    audit.record(actor=actor, action=verbs.Data.REVEALED, target=case, data={"field": "reporter_contact"},
                 result="ok" if allowed else "denied")
    if not allowed:
        raise PermissionDenied("您无权查看报告人的完整联系方式 / you may not read the reporter's contact")
    reporter = CaseReporter.objects.filter(original_case=case).order_by("pk").first()
    if reporter is None:  # nothing kept beyond the case's own columns (an imported case, say)
        return {"name": case.reporter_name, "phone": "", "email": ""}
    return {
        "name": reporter.name or case.reporter_name,
        "phone": keys.decrypt(reporter.contact_enc, PHONE_CONTEXT) if reporter.contact_enc else "",
        "email": keys.decrypt(reporter.email_enc, EMAIL_CONTEXT) if reporter.email_enc else "",
    }


def reveal_text(*, actor, case: Case) -> dict:
    """What was written into `case` as it was written, phone and ID numbers and names in clear: the title, the
    description, the address (a caller's number and name typed into it: `Case.address_for_staff`) and every
    note of its timeline that staff read masked (`Case.masked_notes`: a resident's 留言 as a handler's 处置进展
    naming a neighbour's number), each as {"id", "action", "note", "note_en"} (`note_en`: the English of a note
    the system wrote, which the English interface shows; "" for a person's words). For those who may read the reporter's contact
    (`may_reveal_contact`; the numbers in it are mostly the reporter's own). Audited as `data.revealed`, refused
    or not, with the steps whose notes it showed."""
    allowed = may_reveal_contact(actor, case)
    notes = case.masked_notes() if allowed else []
    data = {"field": "case_text", **({"steps": [step.pk for step in notes]} if notes else {})}
    audit.record(actor=actor, action=verbs.Data.REVEALED, target=case, data=data,
                 result="ok" if allowed else "denied")
    if not allowed:
        raise PermissionDenied("您无权查看事件描述的完整内容 / you may not read the case's text in clear")
    return {"title": case.title, "description": case.description, "address": case.address,
            "notes": [{"id": step.pk, "action": step.action, "note": step.note, "note_en": _note_en(step)}
                      for step in notes]}


def _note_en(step) -> str:
    """The English a system-written note carries (`shown_note` reads it in the English interface), "" for none."""
    english = step.data.get("note_en") if isinstance(step.data, dict) else ""
    return english if isinstance(english, str) else ""
