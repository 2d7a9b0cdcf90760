"""What the case pages share: error messages in the reader's language, labels of steps, clocks and inputs,
the category and department choices, and the channel a signed-in reporter speaks for.

Nothing here decides scope or rules: reads start from `Case.objects.visible_to`, writes go through
`civicgrid.apps.cases.services`.
"""

from __future__ import annotations

from django.contrib import messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civicgrid.apps.cases.services.intake import default_source
from civicgrid.apps.cases.workflow import EXTRA_STEP_LABELS  # noqa: F401  (the case pages read it from here)
from civicgrid.apps.categories.models import Category, in_use_q
from civicgrid.apps.categories.selectors import visible_categories
from civicgrid.foundation.access.scope import scope_for
from civicgrid.foundation.orgs.models import Organisation
from civicgrid.foundation.regions.models import Region
from civicgrid.ui.language import one_language

# The inputs a transition may require (CASE_WORKFLOW `requires`), as a person reads them.
FIELD_LABELS = {
    "reason": _("原因"),
    # "Note", not the "Description" 说明 reads elsewhere: the case has a Description of its own
    "note": pgettext_lazy("input", "说明"),
    "department": _("处置部门"),
    "hours": _("延期时长（工作小时）"),  # natural hours where the limit is in natural hours: see cases_detail
    "decision": _("审批结果"),
    "result": _("核实结果"),
    "photos": _("现场照片"),
    "parent": _("主案卷号"),
    "category": _("分类"),
    "title": _("标题"),
    "description": _("描述"),
    "location": _("位置"),
    "lat": _("位置"),
    "lng": _("位置"),
    "crs": _("坐标系"),
    "address": _("地址"),
    "reporter_name": _("来电人"),
    "reporter_phone": _("回访电话"),
    "hotline_ticket": _("热线工单号"),
    "idempotency_key": _("提交编号"),
    "rule_region": _("规则区域"),
    "score": _("评分"),
    "comment": _("评价内容"),
}

# The workflow table's labels live, untranslated, in civicgrid/apps/cases/workflow.py. Listed here so that
# makemessages extracts them: as buttons (context "action": 督办 → "Supervise") and as timeline entries
# (context "step": 督办 → "Supervision"), which need different English than the status of the same name.
_ACTIONS = (
    pgettext_lazy("action", "立案"), pgettext_lazy("action", "派发核实"), pgettext_lazy("action", "核实反馈"),
    pgettext_lazy("action", "不予受理"), pgettext_lazy("action", "作废"), pgettext_lazy("action", "合并到主案卷"),
    pgettext_lazy("action", "派遣"), pgettext_lazy("action", "退回"), pgettext_lazy("action", "开始处置"),
    pgettext_lazy("action", "处置进展"), pgettext_lazy("action", "申请延期"), pgettext_lazy("action", "审批延期"),
    pgettext_lazy("action", "处置反馈"), pgettext_lazy("action", "核查通过"),
    pgettext_lazy("action", "核查不通过（返工）"), pgettext_lazy("action", "结案"), pgettext_lazy("action", "挂账"),
    pgettext_lazy("action", "恢复办理"), pgettext_lazy("action", "督办"), pgettext_lazy("action", "重新办理"),
    pgettext_lazy("action", "标记重大事件"), pgettext_lazy("action", "取消重大事件"), pgettext_lazy("action", "改派"),
)
_STEPS = (
    pgettext_lazy("step", "上报"), pgettext_lazy("step", "自行处置"), pgettext_lazy("step", "合并案卷"),
    pgettext_lazy("step", "评价"), pgettext_lazy("step", "超期自动督办"), pgettext_lazy("step", "补充照片"),
    pgettext_lazy("step", "立案"), pgettext_lazy("step", "派发核实"), pgettext_lazy("step", "核实反馈"),
    pgettext_lazy("step", "不予受理"), pgettext_lazy("step", "作废"), pgettext_lazy("step", "合并到主案卷"),
    pgettext_lazy("step", "派遣"), pgettext_lazy("step", "退回"), pgettext_lazy("step", "开始处置"),
    pgettext_lazy("step", "处置进展"), pgettext_lazy("step", "申请延期"), pgettext_lazy("step", "审批延期"),
    pgettext_lazy("step", "处置反馈"), pgettext_lazy("step", "核查通过"), pgettext_lazy("step", "核查不通过（返工）"),
    pgettext_lazy("step", "结案"), pgettext_lazy("step", "挂账"), pgettext_lazy("step", "恢复办理"),
    pgettext_lazy("step", "督办"), pgettext_lazy("step", "重新办理"), pgettext_lazy("step", "未自动派遣"),
    pgettext_lazy("step", "留言"), pgettext_lazy("step", "标记重大事件"), pgettext_lazy("step", "取消重大事件"),
    pgettext_lazy("step", "改派"), pgettext_lazy("step", "并入案卷的督办"),
    # a 返工 as the public reads it (cases.services.follow.PUBLIC_LABELS: the follow page)
    pgettext_lazy("step", "核查未通过，重新处置"),
)
# The inputs' choices (civicgrid/apps/cases/services: DECISIONS, CHECK_RESULTS), for the same reason.
_CHOICES = (_("同意"), _("不同意"), _("属实"), _("不属实"))
CLOCK_LABELS = {
    "case.intake": pgettext_lazy("clock", "受理"),
    "case.check": pgettext_lazy("clock", "核实"),
    "case.dispatch": pgettext_lazy("clock", "派遣"),
    "case.handle": pgettext_lazy("clock", "处置"),
    "case.verify": pgettext_lazy("clock", "核查"),
    "case.close": pgettext_lazy("clock", "结案"),
}
# How a status is drawn (a CSS class of the status tag).
STATUS_STYLE = {
    "reported": "st-new", "checking": "st-new", "accepted": "st-new", "dispatched": "st-work",
    "handling": "st-work", "handled": "st-check", "verified": "st-check", "closed": "st-done",
    "suspended": "st-hold", "refused": "st-off", "voided": "st-off", "merged": "st-off",
}


def error_text(exc, labels: dict | None = None) -> str:
    """The half of a service message ("中文 / English") in the reader's language; a missing required input is
    named by its label rather than its field name: the form's own (`labels`, where an action words an input
    its own way, as 处置反馈 does its note), else the usual one."""
    label = (labels or {}).get(exc.field) or FIELD_LABELS.get(exc.field)
    if getattr(exc, "code", "") == "missing" and label:
        return str(_("请填写「%(label)s」")) % {"label": label}
    return one_language(exc.message)


def report_source(user, *, self_handled: bool = False) -> str:
    """The channel a report from a signed-in account comes through: field staff report as 网格员上报 (or
    自行处置), residents and volunteers as 群众上报 (the services' `default_source`)."""
    return default_source(user, self_handled=self_handled)


def category_groups(user) -> list[dict]:
    """The subclasses a user may report under (staff: all; residents: those open to the public), grouped by
    taxonomy and class for a `<select>` with `<optgroup>`s. One query."""
    rows = (
        visible_categories(user)
        .filter(in_use_q(), parent__isnull=False)  # a subclass of a class switched off is not offered
        .select_related("taxonomy", "parent")
        .only("pk", "code", "name", "name_en", "keywords", "taxonomy__name", "parent__name", "parent__name_en",
              "parent__code")
        .order_by("taxonomy__name", "parent__code", "sort", "code")
    )
    groups: list[dict] = []
    for c in rows:  # names in the reader's language (`Category.display_name`)
        label = f"{c.taxonomy.name} · {c.parent.display_name}"
        if not groups or groups[-1]["label"] != label:
            groups.append({"label": label, "options": []})
        groups[-1]["options"].append({"id": c.pk, "code": c.code, "name": c.display_name, "keywords": c.keywords,
                                      "path": f"{c.parent.display_name} › {c.display_name}"})
    return groups


def category_classes() -> list[Category]:
    """Top-level classes of every active taxonomy (the list's category filter; a class matches its subclasses)."""
    return list(
        Category.objects.filter(parent__isnull=True, is_active=True, taxonomy__is_active=True)
        .select_related("taxonomy").only("pk", "code", "name", "name_en", "taxonomy__name")
        .order_by("taxonomy__name", "code")
    )


def dispatch_departments(*, staffed: set[int] | None = None) -> list[dict]:
    """Organisations a case may be dispatched to, named in full as the case page names its department (the
    dispatch form's and the case list filter's choices). One query. With `staffed` (the departments that have
    handlers), each says whether it can take a case now (`takes`)."""
    orgs = Organisation.case_handlers().only("pk", "name", "kind", "code")
    return [{"id": o.pk, "label": o.name, "takes": staffed is None or o.pk in staffed} for o in orgs]


def scope_root(user, capability: str) -> str:
    """The code of the smallest region holding everything the user may reach for `capability` (the report
    map starts there); '' when the user has no region scope."""
    scope = scope_for(user, capability)
    if scope.everything:
        top = Region.objects.filter(parent__isnull=True).order_by("code").values_list("code", flat=True).first()
        return top or ""
    codes = sorted(scope.region_codes)
    if not codes:
        return ""
    common = codes[0]
    for code in codes[1:]:
        while not code.startswith(common):
            common = common[:-1]
    for length in (15, 12, 9, 6):  # cut back to a real level (codes grow 6 → 9 → 12 → 15 digits)
        if len(common) >= length:
            return common[:length]
    return ""


def success_once(request, text) -> None:
    """A success message, unless the same one already waits to be shown: a form sent again after its answer was
    lost is told what the first sending was, once (that answer's message never reached the page)."""
    storage = messages.get_messages(request)
    pending = [str(m) for m in storage]
    storage.used = False  # reading them here does not show them: they stay for the next page
    if str(text) not in pending:
        messages.success(request, text)
