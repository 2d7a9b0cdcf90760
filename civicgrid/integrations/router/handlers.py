"""自动派遣: a report whose router suggestion is confident enough is accepted and dispatched without waiting.

Threshold: `CIVICGRID_AUTO_DISPATCH_THRESHOLD` (setting, else the environment variable of the same name, else
0.9; above 1 turns auto-dispatch off). At or above it, a case still in `reported` is accepted and dispatched
through `cases.services.act`, and flagged `auto_dispatched`: to the department a routing rule (or the
category's default) names for its category and region, and only where none applies to the model's department
(`categories.dispatch_target`, which the dispatch form follows too), and only when that department IS the
model's: the confidence is the model's about its own label, so a label naming no department (社区居委会: 建议由
社区处理; the dispatch form starts from the street office of the case's street, `local_reason` says why) or a
rule sending the case elsewhere waits for a dispatcher (`disagreement`); below it, the case
waits in the triage queue (the page `ui:router_triage`, `GET /api/v1/router/triage`). No active model: no
auto-dispatch at all. A case whose confidence reaches the threshold but which is held back (`outlook`: no
category, no department with handlers, a likely duplicate; or the loop refused it) gets a 未自动派遣 timeline
step saying why, for the dispatcher who expected it dispatched. Delivered after commit by the worker, at least once: a redelivered event finds the case
no longer `reported` and does nothing.

Who acts: the built-in account `system-router` (智能分拨（系统）), made on first use, idempotently: it cannot
sign in (no usable password) and holds a command-dispatcher grant over the top region of the case (the
district), made on demand. The case loop checks it like any dispatcher, and the audit log and the timeline
name it.

`case.dispatched` and `case.redirected` (改派) also feed the corrections (:mod:`.corrections`).
"""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from civicgrid.foundation.audit import service as audit
from civicgrid.foundation.core.errors import CivicgridError
from civicgrid.foundation.events import bus as events

from . import corrections  # noqa: F401  (case.dispatched, case.redirected → RouterCorrection)

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.9
SYSTEM_USERNAME = "system-router"
SYSTEM_DISPLAY_NAME = "智能分拨（系统）"


def threshold() -> float:
    value = getattr(settings, "CIVICGRID_AUTO_DISPATCH_THRESHOLD", None)
    if value is None:
        value = os.environ.get("CIVICGRID_AUTO_DISPATCH_THRESHOLD") or DEFAULT_THRESHOLD
    try:
        return float(value)
    except (TypeError, ValueError):
        log.warning("CIVICGRID_AUTO_DISPATCH_THRESHOLD=%r is not a number; using %s", value, DEFAULT_THRESHOLD)
        return DEFAULT_THRESHOLD


def enabled() -> bool:
    """Auto-dispatch runs only with a live model and a threshold a confidence can reach."""
    from .versions import active

    return threshold() <= 1.0 and active() is not None


def _top_region(region_code: str):
    """The top-most region above (or at) a code: the district the system account dispatches in."""
    from civicgrid.foundation.regions.models import Region

    region = Region.objects.filter(code=region_code).only("pk", "code", "parent_id").first()
    seen = 0
    while region is not None and region.parent_id and seen < 8:
        region = Region.objects.filter(pk=region.parent_id).only("pk", "code", "parent_id").first()
        seen += 1
    return region


def system_account(region_code: str | None = None):
    """The non-login `system-router` account (made if missing) with a command-dispatcher grant over the top
    region of `region_code` (made if missing). Both are audited when made."""
    from civicgrid.foundation.access.models import Grant
    from civicgrid.foundation.access.roles import Role

    User = get_user_model()
    user = User.objects.filter(username=SYSTEM_USERNAME).first()
    if user is None:
        try:
            with transaction.atomic():
                user = User(username=SYSTEM_USERNAME, display_name=SYSTEM_DISPLAY_NAME, is_active=True)
                user.set_unusable_password()
                user.save()
                audit.record(actor="system", action="router.system_account", target=user,
                             after={"username": SYSTEM_USERNAME, "login": False})
        except IntegrityError:  # made by a concurrent worker meanwhile
            user = User.objects.get(username=SYSTEM_USERNAME)
    if user.has_usable_password():  # never a login account, whatever was done to it
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if region_code:
        top = _top_region(region_code)
        if top is not None and not Grant.objects.filter(user=user, role=Role.COMMAND_DISPATCHER,
                                                        region=top, department=None).exists():
            try:
                with transaction.atomic():
                    grant = Grant.objects.create(user=user, role=Role.COMMAND_DISPATCHER, region=top)
                    audit.record(actor="system", action="router.system_grant", target=grant,
                                 after={"user": SYSTEM_USERNAME, "role": Role.COMMAND_DISPATCHER,
                                        "region": top.code})
            except IntegrityError:
                pass
    return user


def is_system_account(user) -> bool:
    return getattr(user, "username", None) == SYSTEM_USERNAME


SOURCE_TEXT = {"rule": ("分拨规则", "routing rule"), "patron": ("汛期包保规则", "flood patron rule"),
               "default": ("分类的默认处置部门", "the category's default department")}


def _category(suggestion: dict | None, category=None):
    """The category a report is accepted under: its own, else the active one its suggestion names."""
    from civicgrid.apps.categories.models import Category, in_use_q

    if category is not None:
        return category
    category_id = (suggestion or {}).get("category_id")
    if isinstance(category_id, int) and not isinstance(category_id, bool):
        return Category.objects.filter(in_use_q(), pk=category_id).first()
    return None


def target(case):
    """Where auto-dispatch sends `case`: `categories.dispatch_target` for its category (or, before 立案, the
    category the suggestion names and accepting will set) in its region, the model's department only where no
    rule or default applies — the precedence the dispatch form uses too."""
    return _target(case.suggestion, _category(case.suggestion, case.category if case.category_id else None),
                   case.region_code)


def _target(suggestion: dict | None, category, region_code: str):
    from civicgrid.apps.categories.services import dispatch_target

    s = suggestion or {}
    return dispatch_target(category, region_code, model_department_id=s.get("department_id"),
                           model_local=bool(s.get("local")))


def local_reason(suggestion: dict | None, goal) -> str:
    """Why the dispatch form starts from a street office ("中文 / English"): the model's label names a community
    matter, which the street office of the case's street passes to its committee; "" for any other target."""
    if goal.source != "street_office" or goal.office is None:
        return ""
    label = (suggestion or {}).get("label") or ""
    office = goal.office.name
    return (f"模型建议「{label}」，属社区事项（不是可派遣的部门）：社区事项经所在街道办事处转交，已预选本案所在街道的"
            f"「{office}」，请派遣员确认后派遣 / the model's \"{label}\" is a community matter, not a department: "
            f"community matters go through the street office, so {office}, the office of the case's street, is "
            f"pre-selected for a dispatcher to confirm")


NO_MODEL = "没有启用的模型 / no active model"
NO_SUGGESTION = "无建议 / no suggestion"


def outlook(suggestion: dict | None, *, category=None, region_code: str = "", alike=None) -> tuple[bool | None, str]:
    """Whether a report with this router `suggestion`, `category` (None: the suggestion's) and region would be
    dispatched automatically, and why not ("中文 / English"); None when only its place can tell (no
    `region_code` yet: the routing rules and the nearby cases decide). `alike()` returns the best possible
    duplicate as `(number, joinable)` (or None), the one the case page offers first (`duplicates.candidates`: an
    open case however old, else one closed within the window): asked last, as it reads the nearby cases. `decide` asks this for a new case, and the
    intake forms' live panel for the report being typed, so the panel promises only what will happen."""
    from .versions import active

    limit = threshold()
    if limit > 1.0:
        return False, "自动派遣已关闭 / auto-dispatch is off"
    if active() is None:
        return False, NO_MODEL
    s = suggestion or {}
    if not s or s.get("confidence") is None:
        return False, NO_SUGGESTION
    conf = float(s["confidence"])
    if conf < limit:
        return False, f"置信度 {conf:.2f} 低于阈值 {limit:.2f} / below threshold: triage"
    category = _category(s, category)
    if category is None:  # 立案 needs one (`cases` refuses "立案须确定事项分类")
        return False, "未确定事项分类，立案须先选择分类 / no category: a case is accepted only with one"
    if not region_code:
        return None, "尚未定位 / not located yet"
    goal = _target(s, category, region_code)
    if goal.department_id is None:
        return False, (f"建议的标签「{s.get('label')}」不对应任何部门，也没有适用的分拨规则 / the label maps to no "
                       f"department and no routing rule applies")
    disagree = disagreement(s, goal)
    if disagree:
        return False, disagree
    from civicgrid.apps.cases import recipients

    if not recipients.department_handlers(goal.department_id):  # dispatch refuses a department nobody handles for
        return False, "派往的部门还没有处置人员账号 / the department has no handler accounts"
    # A likely duplicate waits for a dispatcher to merge it: once dispatched, it could no longer be merged. Near
    # a case closed lately the problem may have come back: the dispatcher reopens that one and merges, or not.
    found = alike() if alike is not None else None
    if found:
        number, joinable = found
        if joinable:
            return False, f"可能与 {number} 重复，留待人工合并 / may duplicate {number}: triage"
        return False, (f"可能与刚结案的 {number} 重复（问题可能复发），留待人工处理 / may duplicate {number}, "
                       f"closed lately (the problem may be back): triage")
    return True, f"置信度 {conf:.2f} ≥ 阈值 {limit:.2f}"


def _source_text(goal) -> tuple[str, str]:
    """How the configuration chose `goal`'s department, e.g. ("分拨规则 #21", "routing rule #21")."""
    zh, en = SOURCE_TEXT[goal.source]
    rule = goal.route.rule
    return (f"{zh} #{rule.pk}", f"{en} #{rule.pk}") if rule else (zh, en)


def disagreement(suggestion: dict, goal) -> str:
    """Why a confident suggestion still does not dispatch by itself ("中文 / English"), or "" when the model's
    department is the one the case would go to. The confidence is the model's about its own label: it vouches
    for a dispatch only to that department, so a label that names no department (建议由社区处理) or a rule that
    sends the case elsewhere leaves the choice to a dispatcher."""
    s = suggestion or {}
    label = s.get("label")
    if goal.source == "model" or s.get("department_id") == goal.department_id:
        return ""
    if goal.source == "street_office":  # a pre-fill from the model's community label: the model named no department
        office = goal.office.name if goal.office is not None else ""
        return (f"模型建议「{label}」建议由社区处理，不是可派遣的部门（已预选所在街道的「{office}」），留待人工确认 / the "
                f"model's \"{label}\" is for the community to handle ({office}, the street office, is pre-selected): "
                f"triage")
    dept = goal.route.department.name if goal.route.department else ""
    zh, en = _source_text(goal)
    if not s.get("department_id"):
        what = "建议由社区处理，不是可派遣的部门" if s.get("local") else "不对应可派遣的部门"
        what_en = "is for the community to handle, not a department" if s.get("local") else "names no department"
        return (f"模型建议「{label}」{what}（{zh}将派往 {dept}），留待人工确认 / the model's \"{label}\" {what_en} "
                f"({en} would send it to {dept}): triage")
    return (f"模型建议「{s.get('department') or label}」，{zh}派往 {dept}，二者不一致，留待人工确认 / the model "
            f"suggested {s.get('department') or label}, {en} sends it to {dept}: triage")


def routing(suggestion: dict | None, *, category=None, region_code: str = "") -> dict | None:
    """The department the routing would choose for a report (rule, 包保, category default, else the model's), for
    the panels to show beside the model's guess: {"department", "source", "agrees"}; None before the report
    has a place."""
    if not region_code:
        return None
    s = suggestion or {}
    goal = _target(s, _category(s, category), region_code)
    if goal.department_id is None:
        return {"department": None, "source": "", "agrees": False}
    if goal.source == "model":
        return {"department": s.get("department"), "source": ("模型建议", "the model"), "agrees": True}
    if goal.source == "street_office":  # the model's community label, through the street's office: never automatic
        return {"department": goal.office.name, "source": ("社区事项，所在街道办事处", "a community matter, the street "
                "office"), "agrees": False, "local": True}
    return {"department": goal.route.department.name, "source": _source_text(goal),
            "agrees": s.get("department_id") == goal.department_id}


def decide(case) -> tuple[bool, str]:
    """Whether `case` should be dispatched automatically, and why (or why not)."""
    from civicgrid.apps.cases import duplicates
    from civicgrid.apps.cases.models import Status

    if case.status != Status.REPORTED:
        return False, f"状态为 {case.status} / not in reported"

    def alike():
        found = duplicates.candidates(case, limit=1)  # the case page's first offer (open before closed)
        return (found[0].case.number, found[0].joinable) if found else None

    return outlook(case.suggestion, category=case.category if case.category_id else None,
                   region_code=case.region_code, alike=alike)


def held_back(case, why: str) -> bool:
    """Whether `why` (from `decide`) is worth a line on the case's timeline: the suggestion reached the
    threshold, so the intake form said it would be dispatched automatically, yet it was not (no category,
    no department, a likely duplicate, a refusal). Below the threshold, or with auto-dispatch off, the case
    page's router panel already says why."""
    s = case.suggestion or {}
    return (case.status == "reported" and threshold() <= 1.0 and s.get("confidence") is not None
            and float(s["confidence"]) >= threshold() and why not in (NO_MODEL, NO_SUGGESTION))


def _note_held(case, why: str) -> None:
    """A timeline entry (staff see it on the case page; the follow page shows no such step) saying why the case
    was not dispatched automatically, once per case; audited."""
    from civicgrid.apps.cases.models import CaseStep
    from civicgrid.apps.cases.services.common import add_step, record

    if CaseStep.objects.filter(case=case, action=HELD_STEP).exists():  # a redelivered event
        return
    zh, _sep, en = why.partition(" / ")
    with transaction.atomic():
        add_step(case, action=HELD_STEP, actor="system", at=None, note=f"未自动派遣：{zh}",
                 note_en=f"not dispatched automatically: {en or zh}", data={"reason": why})
        record(case, actor="system", action=HELD_STEP, before=None, data={"reason": why})


HELD_STEP = "auto_dispatch_held"


def auto_dispatch(case_id: int) -> str:
    """Accept and dispatch one case if its suggestion allows it; returns what happened (for logs and tests)."""
    from civicgrid.apps.cases.models import Case
    from civicgrid.apps.cases.services import act

    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        return "missing"
    ok, why = decide(case)
    if not ok:
        if held_back(case, why):
            _note_held(case, why)
        return f"triage: {why}"
    s = case.suggestion
    goal = target(case)
    actor = system_account(case.region_code)
    note = f"自动派遣：模型 {s.get('model_version')} 建议「{s.get('label')}」，{why}"
    note_en = (f"dispatched automatically: model {s.get('model_version')} suggested \"{s.get('label')}\", "
               f"confidence {float(s['confidence']):.2f} ≥ threshold {threshold():.2f}")
    if goal.source in SOURCE_TEXT:  # the district's configuration agrees with the model's department
        zh, en = _source_text(goal)
        dept = goal.route.department.name
        note += f"；{zh}同样派往 {dept}"
        note_en += f"; {en} sends it to {dept} too"
    try:
        with transaction.atomic():
            inputs = {"category": s["category_id"]} if s.get("category_id") and not case.category_id else {}
            case = act(actor=actor, case=case, action="accept", note=note, note_en=note_en, **inputs)
            case = act(actor=actor, case=case, action="dispatch", department=goal.department_id, note=note,
                       note_en=note_en)
            Case.objects.filter(pk=case.pk).update(auto_dispatched=True)
            audit.record(actor=actor, action="router.auto_dispatch", target=case,
                         data={"number": case.number, "department": goal.department_id,
                               "department_source": goal.source,
                               "rule": goal.route.rule.pk if goal.route.rule else None,
                               "confidence": s.get("confidence"), "threshold": threshold(),
                               "model_version": s.get("model_version")})
    except CivicgridError as exc:
        log.warning("auto-dispatch of case %s refused; it stays for triage: %s", case_id, exc.message)
        case = Case.objects.filter(pk=case_id).first()
        if case is not None and case.status == "reported":
            zh, _sep, en = exc.message.partition(" / ")
            _note_held(case, f"被拒绝：{zh} / refused: {en or zh}")
        return f"triage: refused ({exc.message})"
    return "dispatched"


@events.handler("case.reported", name="router.auto_dispatch")
def on_case_reported(event) -> None:
    if event.aggregate_type != "cases.case" or (event.payload or {}).get("self_handled"):
        return
    try:
        case_id = int(event.aggregate_id)
    except (TypeError, ValueError):
        return
    outcome = auto_dispatch(case_id)
    log.info("router auto-dispatch of case %s: %s", case_id, outcome)
