"""One case (案卷): its place on the map, photos, timeline, step clocks, and the actions the user may take now.

The buttons are `workflow.allowed_actions(case, request.user)`, the check `cases.services.act` makes (the table,
and the reach of the user's grant), so a page never offers what the service would refuse. Each button opens a small form with the inputs its transition
requires and posts to `case_act`, which calls `act(...)`; a refusal re-draws the page with the message and
the case unchanged (the service works in one transaction). At a case's first intake the page offers possible
duplicates, each merged after a tick that confirms it (a merge cannot be undone); a case that others were merged
into lists them with their reporters masked. At dispatch the routing suggestion pre-fills the department, with
its explanation, and after a 退回 the returning department's proposal (the department it named, a routing-rule
correction with a link that opens it pre-filled for those who manage rules) stands beside the form and in the timeline.
"""

from __future__ import annotations

import re
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from civicgrid.apps.cases import clocks, display, duplicates, recipients, selectors, services
from civicgrid.apps.cases import conf as case_conf
from civicgrid.apps.cases import photos as photo_mod
from civicgrid.apps.cases.media import ExternalMedia, external_media
from civicgrid.apps.cases.models import (
    Attachment,
    Case,
    CaseReporter,
    ProposalStatus,
    RoutingProposal,
    Source,
    Status,
)
from civicgrid.apps.cases.services.actions_handling import DECISIONS
from civicgrid.apps.cases.services.actions_intake import (
    CHECK_RESULTS,
    DEFAULT_PUBLIC_NOTES,
    PUBLIC_NOTE_ACTIONS,
    TOLD_REASON,
)
from civicgrid.apps.cases.services.common import MissingInput, last_step_id
from civicgrid.apps.cases.services.follow import public_note
from civicgrid.apps.cases.workflow import (
    CASE_WORKFLOW,
    IN_HAND,
    REVIEW_ACTIONS,
    allowed_actions,
    reopen_deadline,
    reopen_window_open,
)
from civicgrid.apps.cases_documents import qr
from civicgrid.apps.categories.models import LimitMode
from civicgrid.apps.categories.services import dispatch_target, explain_route
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.core.downloads import JPEG_TYPE, inline_response
from civicgrid.foundation.core.errors import CivicgridError, NotFound
from civicgrid.foundation.core.photos import max_photo_bytes
from civicgrid.foundation.core.pii import has_personal_data, mask_name, public_address, scrub
from civicgrid.foundation.workflow.engine import required_inputs
from civicgrid.ui.language import one_language

from .cases_list import flags_of
from .cases_shared import (
    CLOCK_LABELS,
    EXTRA_STEP_LABELS,
    FIELD_LABELS,
    STATUS_STYLE,
    category_groups,
    dispatch_departments,
    error_text,
    success_once,
)
from .categories import overriding_warning, proposal_correction_url
from .common import capability_required, page_view
from .router import local_reason, suggested_category, suggestion_panel

# Inputs an action takes besides those it requires (never required: the service decides what must be there).
OPTIONAL = {
    "accept": ("category", "note"),
    "check_request": ("note",),
    "check_result": ("note", "photos"),
    "dispatch": ("note", "correct_rule"),
    "redirect": ("correct_rule",),
    "send_back": ("correct_rule", "proposed_department"),
    "progress": ("photos",),
    "report_back": ("photos",),
    "refuse": ("public_note",),
    "void": ("public_note",),
    "verify": ("note",),
    "decide_extension": ("hours", "note"),
    # 恢复办理: the words the department is told with it (`actions_handling._tell_resumed`), as the API takes them
    "unsuspend": ("note",),
    # 合并: the reason for a parent the duplicate finder does not offer, asked for by the preview step
    "merge": ("reason",),
}
# Inputs a form asks for on a later step than its first: 合并's reason, on its preview (`merge_preview_context`).
LATER_STEP = {"merge": ("reason",)}
TEXT_INPUTS = ("reason", "note", "public_note", "department", "hours", "decision", "result", "parent", "category",
               "proposed_department")
FLAG_INPUTS = ("correct_rule",)
STEP_LABELS = {t.name: t.label for t in CASE_WORKFLOW.transitions}
# The forms that send the case to a department: the routing pre-fill and the rule correction serve both.
DISPATCHING = ("dispatch", "redirect")
# Actions that cannot be undone and are easily taken by mistake: their forms ask for a tick (`confirm`), and
# `case_act` refuses them without it.
CONFIRMATIONS = {
    "merge": _("确认两件案卷反映的是同一问题：合并后本案卷即告结束，报告人改为跟踪主案卷，合并不能撤销"),
}


# Where a form's words go beyond the staff (`follow.NOTE_STEPS`): 不予受理 and 作废 ask for the reporters' note
# apart from the internal reason, 处置反馈's note is shown to the reporters as written (phones, ID numbers masked).
TOLD_HINT = _("将以短信告知上报人，并显示在其查询页面和公开接口（Open311）上。手机号、身份证号会自动隐去，姓名、地址不会，请勿填写。")
FIELD_TEXT = {
    ("refuse", "reason"): (_("内部原因（仅工作人员可见）"), _("记入办理过程和审计记录，不告知上报人。")),
    ("void", "reason"): (_("内部原因（仅工作人员可见）"), _("记入办理过程和审计记录，不告知上报人。")),
    ("refuse", "public_note"): (_("告知上报人的说明"), TOLD_HINT),
    ("void", "public_note"): (_("告知上报人的说明"), TOLD_HINT),
    ("unsuspend", "note"): (_("恢复办理说明（可选）"), _("记入办理过程；案卷已派给处置部门的，随恢复办理通知告知该部门。")),
    ("report_back", "note"): (_("处置反馈（上报人可见）"), _("将显示在上报人的查询页面和公开接口（Open311）上。手机号、身份证号会自动"
                                                "隐去，姓名、地址不会，请勿填写。")),
}


def case_url(case: Case) -> str:
    return reverse("ui:case_detail", args=[case.number])


def _fields(t, case: Case, route_department: int | None) -> list[dict]:
    """The inputs of one action's form, required ones first."""
    required = required_inputs(t, case)
    names = [*required, *(n for n in OPTIONAL.get(t.name, ()) if n not in required)]
    fields = []
    for name in names:
        field = {"name": name, "label": FIELD_LABELS.get(name, name), "required": name in required}
        if name == "note" and t.name == "decide_extension":
            field["label"] = _("审批意见（不同意时必填）")
        if (t.name, name) in FIELD_TEXT:
            field["label"], field["hint"] = FIELD_TEXT[(t.name, name)]
        if name == "public_note":  # left empty, the reporters read the default: the form shows it
            field["placeholder"] = gettext("留空时告知：%(text)s") % {"text": gettext(DEFAULT_PUBLIC_NOTES[t.name])}
            field["maxlength"] = TOLD_REASON
        if name in ("department", "proposed_department"):
            field["widget"] = "department"
            field["initial"] = route_department if name == "department" else None
            # 改派 sends the case away from its department, and a 退回 names another: the service refuses the
            # case's own department there, so the list does not offer it.
            field["exclude"] = case.department_id if (t.name == "redirect" or name == "proposed_department") else None
            if name == "proposed_department":
                field["label"] = _("应由哪个部门处置（可选）")
        elif name in ("decision", "result"):
            field["widget"] = "choice"
            field["choices"] = list((DECISIONS if name == "decision" else CHECK_RESULTS).items())
        elif name == "hours":
            field["widget"] = "number"
            natural = clocks.handle_limit(case)[0] == LimitMode.NATURAL_HOURS  # the clock runs in natural time
            if t.name == "decide_extension":  # at most the hours asked for; none given: all of them
                field["label"] = _("批准延期时长（自然小时，不填为按申请批准）") if natural else \
                    _("批准延期时长（工作小时，不填为按申请批准）")
                # One form for both decisions: the hours typed before choosing 不同意 are not a reason to refuse it.
                field["hint"] = _("仅在同意时使用；不同意时不计此项。")
            else:
                if natural:
                    field["label"] = _("延期时长（自然小时）")
                # one extension: at most twice the category's own time limit (`clocks.extension_max_hours`)
                field["max"] = f"{clocks.extension_max_hours(case):g}"
                field["hint"] = gettext("最多 %(hours)s 小时（本类事件处置时限的两倍）") % {"hours": field["max"]}
        elif name == "photos":
            field["widget"] = "photos"
        elif name == "category":
            field["widget"] = "category"
            # A case without a category is accepted only with one: the router's suggestion starts the choice (the
            # model's category, else a clear match of the text against the subclasses' words).
            field["initial"] = case.category_id or suggested_category(case.suggestion)
        elif name == "correct_rule":
            field["widget"] = "flag"
            field["label"] = _("同时更正分拨规则（本分类在本街道今后派往所选部门）") if t.name in DISPATCHING else \
                _("建议更正分拨规则")
        elif name == "parent":
            field["widget"] = "text"
        else:
            field["widget"] = "textarea"
        fields.append(field)
    return fields


def action_forms(case: Case, user, route_department: int | None, transitions) -> list[dict]:
    """One entry per action the user may take now (`transitions`: `allowed_actions(case, user)`)."""
    may_correct_rules = has_capability(user, "categories.manage")
    result = []
    for t in transitions:
        fields = [f for f in _fields(t, case, route_department)
                  if not (f["name"] == "correct_rule" and t.name in DISPATCHING and not may_correct_rules)
                  and f["name"] not in LATER_STEP.get(t.name, ())]
        # 合并 names its parent, then previews it: the tick (and a reason, where needed) come with the preview.
        preview = t.name == "merge"
        if t.name in CONFIRMATIONS and not preview:
            fields.append({"name": "confirm", "label": CONFIRMATIONS[t.name], "required": True, "widget": "flag"})
        result.append({"name": t.name, "label": t.label, "style": t.style, "fields": fields, "preview": preview,
                       "photos": any(f["widget"] == "photos" for f in fields), "key": uuid.uuid4().hex,
                       "url": reverse("ui:case_act", args=[case.number, t.name])})
    return result


def time_apart(seconds: float) -> str:
    """When the parent of a merge was reported, from this case's report (`seconds`: negative when before)."""
    span = abs(seconds)
    if span < 60:
        return gettext("与本案卷同时上报")
    if span < 3600:
        n = round(span / 60)
        amount = ngettext("%(n)d 分钟", "%(n)d 分钟", n) % {"n": n}
    elif span < 48 * 3600:
        n = round(span / 3600)
        amount = ngettext("%(n)d 小时", "%(n)d 小时", n) % {"n": n}
    else:
        n = round(span / 86400)
        amount = ngettext("%(n)d 天", "%(n)d 天", n) % {"n": n}
    if seconds < 0:
        return gettext("比本案卷早 %(span)s 上报") % {"span": amount}
    return gettext("比本案卷晚 %(span)s 上报") % {"span": amount}


def merge_preview_context(preview, posted: dict | None = None) -> dict:
    """The merge form's preview step (`services.merge_preview`): the parent's number, title, category, status,
    the distance and time apart, whether the duplicate finder offers it (else why not, and the reason field),
    or, too far, why it cannot be merged at all."""
    parent = preview.parent
    return {"parent": parent, "distance_m": preview.distance_m, "radius_m": preview.fit.radius_m,
            "max_distance_m": preview.max_distance_m, "apart": time_apart(preview.seconds_apart),
            "offered": preview.fit.offered, "needs_reason": preview.needs_reason,
            "why": [one_language(r) for r in preview.fit.reasons],
            "too_far": one_language(preview.too_far_message()) if preview.too_far else "",
            "reason": (posted or {}).get("reason", ""), "key": uuid.uuid4().hex,
            "url": reverse("ui:case_act", args=[preview.case.number, "merge"])}


def _clocks(case: Case) -> list[dict]:
    rows = []
    for c in selectors.clocks(case):
        ratio = c["ratio"]
        rows.append({**c, "label": CLOCK_LABELS.get(c["kind"], c["kind"]),
                     "ended_label": pgettext("step", STEP_LABELS[c["ended_by"]]) if c["ended_by"] else "",
                     "percent": None if ratio is None else round(ratio * 100),
                     "overdue": c["breached"] or (ratio is not None and ratio >= 1),
                     "open": c["state"] in ("running", "paused")})
    return rows


# 「按分拨规则 #21」, 「按汛期包保规则 #3」 in a step's note (auto-dispatch writes them).
RULE_IN_NOTE = re.compile(r"规则\s*#(\d{1,18})")


def step_rules(step) -> list[int]:
    """The routing rules a step names, for those who manage rules to look up (a rule deleted since opens its last
    state and history): those its note cites and those a dispatch with 同时更正分拨规则 corrected or found
    overriding, in order, once each."""
    found = [int(n) for n in RULE_IN_NOTE.findall(step.note or "")]
    corrected = step.data.get("rule_corrected") if isinstance(step.data, dict) else None
    if isinstance(corrected, dict):
        found += [r for r in (corrected.get("rule"), (corrected.get("overridden_by") or {}).get("rule"))
                  if isinstance(r, int)]
    return list(dict.fromkeys(found))


def _timeline(case: Case, proposals: dict[int, dict], media: ExternalMedia | None = None, *,
              rule_links: bool = False) -> list[dict]:
    labels = {**STEP_LABELS, **EXTRA_STEP_LABELS}
    # 不予受理, 作废: the internal reason (the step's note) and, apart, what the reporters were told.
    return [{"step": s, "label": labels.get(s.action, s.action),
             "note": s.note_for_staff(), "internal": s.action in PUBLIC_NOTE_ACTIONS,
             # a merge into a case the duplicate finder did not offer: why not, beside the dispatcher's reason
             "not_offered": _not_offered(s),
             "told": public_note(s) if s.action in PUBLIC_NOTE_ACTIONS else "",
             "actor": s.actor_for_staff,
             "from_label": Status(s.from_status).label if s.from_status in Status.values else "",
             "to_label": Status(s.to_status).label if s.to_status in Status.values else "",
             "proposal": proposals.get(s.pk),
             "rules": step_rules(s) if rule_links else [],
             # a 评价 keeps its score in the timeline: the rating of its closing, also after a 重新办理
             "score": s.data.get("score") if s.action == "rate" and isinstance(s.data, dict) else None,
             # a 申请延期 keeps the hours asked for: its note is the reason only, and a request withdrawn or
             # granted in full leaves no other step that names them
             "hours": (s.data.get("hours") if s.action == "request_extension" and isinstance(s.data, dict)
                       else None),
             # 核实反馈's result (属实 / 不属实), which intake decides by: the note when the worker wrote none, so
             # said apart when they did (both results lead back to 待受理)
             "check_result": display.check_result_beside_note(s),
             "photos": [photo(case, a) for a in s.attachments.all()],
             "media": media.steps.get(s.pk, []) if media else []}
            for s in case.steps.all()]


def _not_offered(step) -> list[str]:
    """Why the parent of a 合并 step was not among the possible duplicates, in the reader's language."""
    found = step.data.get("not_offered") if step.action == "merge" and isinstance(step.data, dict) else None
    return [one_language(w) for w in found.get("why", [])] if isinstance(found, dict) else []


def pending_proposal(case: Case, user, proposals: dict[int, dict]) -> dict | None:
    """The latest 退回's proposal while the case waits to be dispatched again, for the dispatch form: the
    department named, the department that sent it back and why, and, when it asked for the routing rule to be
    corrected and the user may manage rules, the link that opens the rule correction pre-filled (category, the
    case's street as the dispatch form's own correction uses, the proposed department, the case as reference,
    and the case's own place)."""
    if case.department_id or case.status != Status.ACCEPTED:
        return None
    last = next((s for s in reversed(list(case.steps.all())) if s.action in ("send_back", "dispatch")), None)
    if last is None or last.action != "send_back" or last.pk not in proposals:
        return None
    proposal = {**proposals[last.pk], "step": last,
                "from": last.acting_department.name if last.acting_department else ""}
    if proposal["correct_rule"] and has_capability(user, "categories.manage"):
        # The rules page's link for the same proposal (`location`: the case's own place, where the form warns of
        # a more specific rule the correction would leave in force); saving it closes the proposal. None once a
        # rule manager has acted on it (the rules page lists what is still open).
        open_one = RoutingProposal.objects.filter(step=last, status=ProposalStatus.OPEN).select_related("case").first()
        if open_one is not None:
            proposal["rule_url"] = proposal_correction_url(open_one)
    return proposal


PHOTO_KINDS = {"photo": _("现场"), "before": _("处置前"), "after": _("处置后"), "progress": _("处置中"),
               "verify": _("核查")}


def photo(case: Case, attachment: Attachment) -> dict:
    return {"url": reverse("ui:case_attachment", args=[case.number, attachment.pk]), "pk": attachment.pk,
            "kind": PHOTO_KINDS.get(attachment.kind, attachment.kind)}


def _merged_cases(case: Case) -> list[dict]:
    """The cases merged into this one with their reporters masked; no query when its timeline shows none."""
    if not any(s.action == "merged_in" for s in case.steps.all()):
        return []
    return [{"case": c, "reporter": _merged_reporter(c), "phone": c.reporter_phone_masked}
            for c in duplicates.merged_into(case)]


def _merged_reporter(case: Case) -> str:
    """Who reported a merged case: the name a reporter gave (masked), else the staff account that reported it (a
    grid worker's report carries no reporter name: the account is the reporter, named as on the timeline); a
    resident's account is masked like a name."""
    if case.reporter_name:
        return mask_name(case.reporter_name)
    if case.reporter is None:
        return ""
    name = case.reporter.display_name or case.reporter.username
    return mask_name(name) if case.source == Source.PUBLIC else name


def _duplicates(case: Case, user, allowed: set[str]) -> list:
    """Look-alikes nearby, offered at the case's first intake (the merge transition's own condition) to whoever
    may merge, within the user's own scope: open cases to merge into, then cases closed around the report's time
    (`joinable` false: reopened on their own page, they take the merge)."""
    if "merge" not in allowed:
        return []
    found = duplicates.candidates(case, queryset=Case.objects.visible_to(user))
    # each with what its merge form states before the tick: the time apart beside the row's other figures
    return [{"case": c.case, "distance_m": c.distance_m, "text_score": c.text_score, "joinable": c.joinable,
             "apart": time_apart((c.case.reported_at - case.reported_at).total_seconds())}
            for c in found if c.case.parent_id is None]


def open311_answers(case: Case) -> dict | None:
    """What an Open311 client sent with the report beyond the case's fields: its answers to the service
    definition's questions (`attribute[code]`), labelled by the questions and their value names, in the
    definition's order (answers to questions since removed come last, under their codes)."""
    from civicgrid.integrations.open311 import catalogue
    from civicgrid.integrations.open311.models import Open311Request, ServiceAttribute

    link = Open311Request.objects.filter(case=case).select_related("client").only(
        "attributes", "client__name").first()
    if link is None:
        return None
    answers = dict(link.attributes or {})
    if case.category_id:
        questions = catalogue.attributes_for(case.category)
    else:
        questions = list(ServiceAttribute.objects.filter(category__isnull=True, is_active=True))
    rows = []
    for question in questions:
        if question.code not in answers:
            continue
        value = answers.pop(question.code)
        names = {str(v.get("key")): str(v.get("name") or v.get("key")) for v in question.values or []
                 if isinstance(v, dict)}
        values = value if isinstance(value, list) else [value]
        rows.append({"code": question.code, "label": question.description,
                     "value": "、".join(names.get(str(v), str(v)) for v in values)})
    for code, value in sorted(answers.items()):
        rows.append({"code": code, "label": code,
                     "value": "、".join(map(str, value)) if isinstance(value, list) else str(value)})
    return {"client": link.client.name, "rows": rows}


def _refill(forms: list[dict], failed_action: str, posted: dict, error: str = "", error_field: str = "") -> None:
    """Put back what was typed into the form of an action the service refused. When the refusal names one of
    the form's inputs (`error_field`), the message is also drawn beside that input and tied to it
    (`aria-invalid`, `aria-describedby`), and the input takes the focus (`autofocus`), as on /cases/new/."""
    for form in forms:
        if form["name"] == failed_action:
            form["open"] = True
            for field in form["fields"]:
                if posted.get(field["name"]):
                    field["value"] = posted[field["name"]]
                    field["initial"] = posted[field["name"]]
                if error and field["name"] == error_field:
                    field["error"] = error
                    field["error_id"] = f"error-{failed_action}-{field['name']}"


def fresh_target(case: Case, route):
    """For a case not yet sent back or reopened: `categories.dispatch_target` for it (a routing rule, else the
    category's default department, else the text router's department, else, for a label naming a community
    matter, the street office of its street); None otherwise (the router's first guess is stale then)."""
    if case.send_back_count or case.reopen_count:
        return None
    s = case.suggestion or {}
    return dispatch_target(case.category, case.region_code, model_department_id=s.get("department_id"),
                           model_local=bool(s.get("local")), route=route)


def dispatch_prefill(case: Case, route, staffed: set[int] | None = None, target=None) -> int | None:
    """The department the dispatch form starts with. A case dispatched for the first time: what
    `categories.dispatch_target` decides (`fresh_target`, or `target` when the caller has it: a routing rule,
    else the category's default department, else the text router's suggestion, or the street office for a
    community matter: the precedence auto-dispatch follows too), else the one the report was routed to
    (`suggested_department`). After a send-back or a reopening, the router's first guess is stale: the services'
    `suggested_department` (the department the returning one named, or the one that handled it before the
    reopening), else the rule. Never a department that has sent this case back or that it was redirected from,
    nor the one it is with (改派 sends it elsewhere), nor one without handlers (`staffed`, when given: dispatch
    would refuse it)."""
    refused = {s.data.get("from_department") for s in case.steps.all()
               if s.action in ("send_back", "redirect") and isinstance(s.data, dict)}
    if case.status in IN_HAND:  # 改派: not back to where it is (a reopened case keeps its department to offer it)
        refused.add(case.department_id)
    target = target if target is not None else fresh_target(case, route)
    candidates = [target.department_id] if target is not None else []
    candidates += [case.suggested_department_id, route.department.pk if route.department else None]
    return next((d for d in candidates if d and d not in refused and (staffed is None or d in staffed)), None)


def extension_closed(case: Case, user, allowed: set[str]) -> str:
    """Why the department's handler is not offered 申请延期 when only its condition keeps it away (the handling
    deadline has passed; a request already waiting shows as 延期待批), in the reader's language; "" otherwise. The
    button gone without a word left the handler looking for it: the service's refusal says why, so does the page."""
    t = CASE_WORKFLOW.transition("request_extension")
    if t.name in allowed or case.extension_pending:
        return ""
    why = CASE_WORKFLOW.held_by_condition(case, user, t.name)
    if not why or t.capability not in case.capabilities_in_scope(user, {t.capability}):
        return ""
    return one_language(why)


def _reopen_window(case: Case) -> dict | None:
    """For a closed case: until when it may be reopened, or that the time is over (the button follows the
    transition table's condition, `workflow.reopen_window_open`)."""
    if case.status != Status.CLOSED or case.closed_at is None:
        return None
    return {"until": reopen_deadline(case), "expired": not reopen_window_open(case), "days": case_conf.reopen_days()}


def publishing_actions(case: Case, allowed: set[str]) -> set[str]:
    """The actions on offer that would make the case's words and place public on Open311 (`published`): 立案 by
    a person, or 合并 by a person (published with the case it joins, once that is), or, once the router accepted
    it by itself (no person has taken it in hand: `Case.reviewed_at`), the first step a person takes
    (`workflow.REVIEW_ACTIONS`: the department starting it, a send-back …)."""
    if case.reviewed_at is not None:
        return set()
    if case.accepted_at is None:
        return allowed & {"accept", "merge"}
    return allowed & REVIEW_ACTIONS


def published_masked(case: Case) -> dict:
    """For the forms that publish the case (`publishing_actions`): what Open311 will publish otherwise than it
    was typed, when the case is one the public feed shows (a public category, not a 12345 ticket): `text`, the
    description when that masks personal data written into it (ID or phone numbers…: `pii.scrub`), and
    `address`, the address when it is published otherwise (masked, and cut after the building:
    `pii.public_address`), each "" when published as typed; an empty dict when nothing is."""
    text = case.description or case.title
    shown = {"text": scrub(text) if has_personal_data(text) else "", "address": ""}
    address = (case.address or "").strip()
    if address and public_address(address) != address:
        shown["address"] = public_address(address)
    if not (shown["text"] or shown["address"]):
        return {}
    from civicgrid.integrations.open311.selectors import public_cases_q

    return shown if Case.objects.filter(public_cases_q(), pk=case.pk).exists() else {}


def detail_context(request, case: Case, *, failed_action: str = "", posted: dict | None = None,
                   error_field: str = "", **extra) -> dict:
    """Everything the detail page draws for this user (with a refused action's form open and refilled, the
    message beside the input it names)."""
    user = request.user
    route = chosen = target = None
    transitions = allowed_actions(case, user)
    allowed = {t.name for t in transitions}
    staffed = recipients.staffed_departments() if allowed & {"dispatch", "redirect", "send_back"} else None
    if allowed & set(DISPATCHING):
        route = explain_route(case.category, case.region_code)
        target = fresh_target(case, route)
        chosen = dispatch_prefill(case, route, staffed, target)
    forms = action_forms(case, user, chosen, transitions)
    if failed_action:
        _refill(forms, failed_action, posted or {}, extra.get("error", ""), error_field)
    needs = {f["widget"] for a in forms for f in a["fields"]}
    departments = dispatch_departments(staffed=staffed) if "department" in needs else []
    prefilled = None
    # The rule's department has no handler accounts: dispatch would refuse it, so the form does not start on it.
    unstaffed = route.department if route is not None and route.department is not None and staffed is not None \
        and route.department.pk not in staffed else None
    if chosen and chosen != getattr(route.department, "pk", None):  # the form starts elsewhere than the rule: say so
        prefilled = next((d for d in departments if d["id"] == chosen), None)
    proposals = display.send_back_proposals(case)
    # what was written into the case is shown masked, the title and description and the timeline's notes alike
    contact = bool(case.reporter_name or case.reporter_phone_masked)
    masked_text = case.text_masked or bool(case.masked_notes())
    may_reveal = (contact or masked_text) and services.may_reveal_contact(user, case)
    reporter_token = ""
    if case.reporter_id == user.pk:
        # Their own report's row, also once a merge moved it to the case it joined (`case.reporters` is then
        # empty): the link still follows the report, as the case file's QR code does.
        reporter_token = (CaseReporter.objects.filter(original_case=case).order_by("pk")
                          .values_list("follow_token", flat=True).first() or "")
    return {
        "case": case,
        # The case's version as this page draws it: every action form sends it back (`expected_step`), and one
        # sent after someone else has moved the case on is refused with what happened (`common.ensure_current`).
        "last_step": last_step_id(case),
        "style": STATUS_STYLE.get(case.status, ""),
        "flags": flags_of(case),
        "actions": forms,
        "route": route,
        "route_unstaffed": unstaffed.name if unstaffed is not None else "",
        "published_masked": published_masked(case) if (publishing := publishing_actions(case, allowed)) else {},
        "publishing": publishing,
        "departments": departments,
        "categories": category_groups(user) if "category" in needs else [],
        "clocks": (clock_rows := _clocks(case)),
        # 处置期限 is the open handling clock's deadline: reckoned on a provisional calendar year, it says so
        "deadline_provisional": display.deadline_provisional(clock_rows),
        "timeline": _timeline(case, proposals, media := external_media(case, case.steps.all()),
                              rule_links=has_capability(user, "categories.manage")),
        # links the reporter sent instead of uploading (Open311 media_url): shown as links, never fetched
        "external_media": media.report,
        "send_back_proposal": pending_proposal(case, user, proposals) if "dispatch" in allowed else None,
        "photos": [photo(case, a) for a in case.attachments.all()],
        "candidates": _duplicates(case, user, allowed),
        "duplicate_hours": case_conf.duplicate_hours(),
        "merged_cases": _merged_cases(case),
        "merge_key": uuid.uuid4().hex,
        # A leader's 督办 that a merge carries to the case it joins: the merge forms say so beforehand.
        "merge_supervisions": ([{**s, "note": scrub(s["note"])} for s in services.supervisions(case)]
                               if "merge" in allowed else []),
        # The photo inputs check size and count on the phone before anything is sent (the service's limits).
        "max_photo_bytes": max_photo_bytes(),
        "max_photos": case_conf.max_photos_per_request(),
        "grid_geometry": case.grid.geometry if case.grid_id else None,
        "follow_path": reverse("ui:follow", args=[reporter_token]) if reporter_token else "",
        "follow_token": reporter_token,
        # handed to the reporter: the public address, as the QR code beside it and the SMS carry it
        "follow_link": qr.follow_link(reporter_token, request) if reporter_token else "",
        "open311": open311_answers(case) if case.source == "open311" else None,
        "ledger_url": (f"{reverse('ui:case_ledger')}?q={case.number}"
                       if has_capability(user, "cases.export") else ""),
        "show_region_link": has_capability(user, "regions.view"),
        "router_panel": suggestion_panel(case, user),
        "prefilled_department": prefilled,
        # why the form starts from the street office: the router named a community matter (社区居委会)
        "prefilled_why": local_reason(case.suggestion, target) if target is not None and prefilled is not None
        and chosen == target.department_id else "",
        "reporter_masked": mask_name(case.reporter_name),
        "reopen": _reopen_window(case),
        "extension_closed": extension_closed(case, user, allowed),
        "error_field": error_field,
        "can_reveal_contact": contact and may_reveal,
        # what was written into the case is shown masked (`Case.description_for_staff`, `Case.address_for_staff`,
        # `CaseStep.note_for_staff`); those who may call the reporter back may read it in clear, audited as 回访 is
        "can_reveal_text": masked_text and may_reveal,
        **extra,
    }


def _reveal(request, number: str, reveal, name: str, templates: tuple[str, str]):
    """Something of the case in clear, through its service (`reveal`: scope checked, audited, refused or not), as
    the htmx partial or the page `templates` (partial, page), into the context as `name`."""
    case = Case.objects.visible_to(request.user).filter(number=str(number)[:20]).first()
    if case is None:
        raise Http404("未找到该事件，或不在您的权限范围内")
    try:
        shown = reveal(actor=request.user, case=case)
    except CivicgridError as exc:
        return HttpResponse(one_language(exc.message), status=exc.status, content_type="text/plain; charset=utf-8")
    response = render(request, templates[0] if request.htmx else templates[1], {"case": case, name: shown})
    response["Cache-Control"] = "no-store"  # clear phone and ID numbers must not linger in any cache
    return response


@require_POST
@login_required
def case_reveal_contact(request, number: str):
    """回访: the reporter's name and callback number in clear, through the service (scope checked, audited). The
    service decides who may, so a refusal is recorded in the audit trail as the API's is (a decorator refusing
    roles without `cases.intake` answered 403 before anything was recorded)."""
    return _reveal(request, number, services.reveal_contact, "contact",
                   ("cases/partials/contact.html", "cases/contact_page.html"))


def _text_with_labels(*, actor, case: Case) -> dict:
    """`services.reveal_text`, each note with its step's label as the timeline names it and in the reader's
    language (the English a system-written note carries, in the English interface), and whether the page
    showed the address masked (`address_masked`: then it is shown again, in clear)."""
    text = services.reveal_text(actor=actor, case=case)
    labels = {**STEP_LABELS, **EXTRA_STEP_LABELS}
    english = (get_language() or "").startswith("en")
    # each note in the reader's language, as the timeline shows it masked (`CaseStep.shown_note`)
    return {**text, "notes": [{**n, "label": labels.get(n["action"], n["action"]),
                               "note": n["note_en"] if english and n["note_en"] else n["note"]}
                              for n in text["notes"]],
            "address_masked": case.address_for_staff != case.address}


@require_POST
@login_required
def case_reveal_text(request, number: str):
    """The title, description and address as the reporter typed them and the timeline's masked notes as they were
    written, phone and ID numbers and names in clear, through the service (scope checked, audited, refused or not:
    as `case_reveal_contact`). The htmx answer replaces the description and, out of band, a masked address and
    each masked note."""
    return _reveal(request, number, _text_with_labels, "text",
                   ("cases/partials/case_text.html", "cases/case_text_page.html"))


@page_view(selectors.CASE_FILE_CAPABILITY)
def case_detail(request, number: str):
    """One case in scope (404 outside, or for a number that does not exist)."""
    try:
        case = selectors.case_detail(request.user, number)
    except NotFound:
        raise Http404 from None
    return render(request, "cases/detail.html", detail_context(request, case))


def _inputs(request, action: str) -> dict:
    t = CASE_WORKFLOW.transition(action)
    wanted = set(t.requires) | set(OPTIONAL.get(action, ()))
    inputs = {}
    for name in wanted & set(TEXT_INPUTS):
        value = request.POST.get(name, "").strip()
        if value:
            # whole: the service refuses an over-long note or reason (a clear message, the case unchanged)
            inputs[name] = value
    for name in wanted & set(FLAG_INPUTS):
        if request.POST.get(name) in ("1", "on", "true"):
            inputs[name] = True
    if "category" in inputs and inputs.get("category") == str(request.POST.get("current_category", "")):
        del inputs["category"]  # unchanged: 立案 keeps the reported category
    return inputs


UNKNOWN_ACTION = "未知的操作 / unknown action"


@require_POST
@capability_required(selectors.CASE_FILE_CAPABILITY)
def case_act(request, number: str, action: str):
    """Take one action through `cases.services.act`; on refusal show why, with nothing changed.

    Every form carries a one-time key (`idempotency_key`, drawn with the page): the same form sent again (a
    browser resending it after a dropped connection) gets the first sending's answer, the same redirect and
    message, never a second step nor a refusal of the state the first one moved the case to; sent again with
    other words (edited after going back to the page), it is refused, the first sending's step standing.
    And the case's version as the page drew it (`expected_step`): a form sent from a page left open while
    someone else moved the case on is refused, saying what happened, and nothing changes."""
    if action not in STEP_LABELS:
        # The address names no action (a link typed or mangled): say that, not that the case is missing.
        raise Http404(UNKNOWN_ACTION)
    case = Case.objects.visible_to(request.user).filter(number=str(number)[:20]).first()
    key = request.POST.get("idempotency_key") or None
    if case is None:
        # The first sending may have moved the case out of the user's hands (退回): answer as it did.
        try:
            done = services.replayed_case(actor=request.user, number=number, action=action, idempotency_key=key,
                                          inputs=_inputs(request, action), photos=request.FILES.getlist("photos"))
        except CivicgridError as exc:
            return render(request, "ui/error.html", {"status": exc.status, "title": gettext("操作未执行"),
                                                     "detail": one_language(exc.message),
                                                     "back": reverse("ui:case_list")}, status=exc.status)
        if done is not None:
            return _done(request, done, action)
        return _left_scope(request, number, action)
    if action == "merge" and request.POST.get("preview"):
        return _merge_preview(request, case)
    try:
        if action in CONFIRMATIONS and request.POST.get("confirm") not in ("1", "on", "true"):
            raise MissingInput("请先勾选确认：合并后本案卷即告结束，不能撤销 / tick the confirmation first: a merge "
                               "cannot be undone", field="confirm")
        inputs = _inputs(request, action)
        services.act(actor=request.user, case=case, action=action, photos=request.FILES.getlist("photos"),
                     idempotency_key=key, expected_step=request.POST.get("expected_step"), **inputs)
    except NotFound:
        raise Http404 from None
    except CivicgridError as exc:
        fresh = selectors.case_detail(request.user, case.number)
        labels = {f["name"]: f["label"] for f in _fields(CASE_WORKFLOW.transition(action), fresh, None)}
        # what was typed, back in the form; a NUL (refused, `core.text`) left out
        posted = {k: request.POST.get(k, "").replace("\x00", "") for k in TEXT_INPUTS}
        extra = {"merge_preview": _preview_again(request, fresh, posted)} if action == "merge" else {}
        shown = {**labels, **MERGE_LABELS} if action == "merge" else labels  # 合并理由 names only a merge's reason
        context = detail_context(request, fresh, error=error_text(exc, shown),
                                 failed_action=action, posted=posted, error_field=exc.field or "", **extra)
        return render(request, "cases/detail.html", context, status=exc.status)
    return _done(request, case, action)


MERGE_LABELS = {"reason": _("合并理由")}


def _merge_preview(request, case: Case):
    """合并's first step: the parent named, previewed (`services.merge_preview`, nothing written) on the page with
    the confirmation (and the reason, where needed); a parent that cannot be named (not found, not in scope,
    not joinable) is refused as the merge would be, beside the input."""
    posted = {k: request.POST.get(k, "") for k in TEXT_INPUTS}
    try:
        preview = services.merge_preview(actor=request.user, case=case, parent=posted["parent"].strip())
    except NotFound:
        raise Http404 from None
    except CivicgridError as exc:
        context = detail_context(request, case, error=error_text(exc), failed_action="merge", posted=posted,
                                 error_field=exc.field or "")
        return render(request, "cases/detail.html", context, status=exc.status)
    context = detail_context(request, case, failed_action="merge", posted=posted,
                             merge_preview=merge_preview_context(preview, posted))
    return render(request, "cases/detail.html", context)


def _preview_again(request, case: Case, posted: dict) -> dict | None:
    """After a refused merge, its preview again (the reason field refilled), when the parent still previews."""
    if not posted.get("parent", "").strip():
        return None
    try:
        return merge_preview_context(services.merge_preview(actor=request.user, case=case,
                                                            parent=posted["parent"].strip()), posted)
    except CivicgridError:
        return None


def _done(request, case: Case, action: str):
    """The answer to a step taken (or to the same form sent again): the message, and back to the case."""
    success_once(request, _("已完成：%(label)s") % {"label": pgettext("action", STEP_LABELS[action])})
    if action in DISPATCHING:
        _warn_overridden_correction(request, case)
    if Case.objects.visible_to(request.user).filter(pk=case.pk).exists():
        return redirect("ui:case_detail", case.number)
    # The action moved the case out of the user's scope (退回 takes it from the department).
    return redirect("ui:case_list")


def _warn_overridden_correction(request, case: Case) -> None:
    """After a dispatch that corrected the routing rule: when a more specific rule still decides at the case's
    own place (the step's `overridden_by`), say so, in the words the rule form uses, so the dispatcher knows the
    correction does not reach cases like this one."""
    step = case.steps.filter(action__in=DISPATCHING).order_by("-pk").first()
    corrected = ((step.data or {}).get("rule_corrected") or {}) if step is not None else {}
    if not corrected.get("overridden_by"):
        return
    override = overriding_warning(case.category, corrected["region_code"], corrected["department"],
                                  case.region_code, case.number)
    if override is not None:
        messages.warning(request, _("本案所在位置%(place)s仍按更具体的规则 #%(rule)s（%(region)s）派往"
                                    "%(department)s，刚保存的规则在那里不起作用。") % override)


def _left_scope(request, number: str, action: str):
    """A form sent from a page left open on a case that has since left the user's hands (sent back, dispatched
    elsewhere): say so and what happened last, rather than the bare 404. Anyone else gets the 404."""
    step = selectors.left_scope(request.user, number)
    if step is None:
        raise Http404("未找到该事件，或不在您的权限范围内")
    detail = gettext("事件 %(number)s 已不在您的处理范围内（最近一步：%(step)s，%(at)s）。您的「%(action)s」未执行。") % {
        "number": str(number)[:20], "step": (pgettext("action", STEP_LABELS[step.action]) if step.action in STEP_LABELS
                 else pgettext("step", EXTRA_STEP_LABELS.get(step.action, step.action))),
        "at": f"{timezone.localtime(step.at):%Y-%m-%d %H:%M}", "action": pgettext("action", STEP_LABELS[action])}
    return render(request, "ui/error.html", {"status": 409, "title": gettext("事件已转出"), "detail": detail,
                                             "back": reverse("ui:case_list")}, status=409)


@require_safe
@capability_required(selectors.CASE_FILE_CAPABILITY)
def case_attachment(request, number: str, attachment_id: int):
    """A photo of a case in scope, served with safe headers (never from the web root)."""
    case = Case.objects.visible_to(request.user).filter(number=str(number)[:20]).only("pk", "number").first()
    attachment = (Attachment.objects.filter(case=case, pk=attachment_id).first()
                  if case is not None and 0 < attachment_id < 2**63 else None)
    if attachment is None:
        raise Http404("未找到该附件")
    try:
        handle = photo_mod.open_attachment(attachment)
    except FileNotFoundError:
        raise Http404("附件文件缺失") from None
    return inline_response(handle, f"{case.number}-{attachment.pk}.jpg", JPEG_TYPE)

