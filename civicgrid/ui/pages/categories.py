"""Category administration pages: categories by taxonomy, one subclass with its local rules, edit form and
history, xlsx export and import, and the routing rules (list, edit, and a correction started from a 退回).

Pages parse input and call `categories.services` / `categories.xlsx`; permission, validation and audit live
there. Everyone on the staff reads categories; only `categories.manage` holders see the forms.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_http_methods

from civicgrid.apps.cases.services import routing_proposals
from civicgrid.apps.categories import selectors, services, xlsx
from civicgrid.apps.categories.models import Category, CategoryKind, LimitMode, RoutingRule, RuleKind
from civicgrid.apps.categories.permissions import MANAGE, VIEW
from civicgrid.apps.categories.routing import REGION_LENGTHS
from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit.service import history
from civicgrid.foundation.core.downloads import XLSX_TYPE, file_response
from civicgrid.foundation.core.errors import CivicgridError
from civicgrid.foundation.orgs.models import Organisation, handles_cases
from civicgrid.foundation.regions.models import Region
from civicgrid.ui.language import one_language
from civicgrid.ui.navigation import MenuItem, register

from .audit import HISTORY_LIMIT, describe_all
from .common import (
    Column,
    capability_required,
    clean_code,
    in_region,
    page_view,
    paginate,
    search,
    table_rows,
)

COLUMNS = [
    Column(_("编码"), "code", link=True),
    Column(_("名称"), "display_name", link=True),  # the English name in the English interface, when it has one
    Column(_("类型"), "get_kind_display"),
    Column(_("上级"), "parent.display_name"),
    Column(_("处置时限"), "time_limit_text"),
    Column(_("默认处置部门"), "default_department", org=True),
    Column(_("开放公众上报"), "public_label"),
    Column(_("公开到开放接口"), "feed_label"),
    Column(_("启用"), "active_label"),
]
RULE_COLUMNS = [
    Column(_("编号"), "pk", link=True),
    Column(_("规则类型"), "kind_label"),
    Column(_("分类"), "category_label"),
    Column(_("区域代码"), "region_code"),
    Column(_("处置部门"), "department", org=True),
    Column(_("优先级"), "priority"),
    Column(_("启用"), "active_label"),
    Column(_("说明"), "note"),
    Column(_("同位规则"), "rivals_label"),
]


def _yes(value: bool) -> str:
    return str(_("是")) if value else str(_("否"))


def _bracketed(text) -> str:
    """A note after a cell's value, in the reader's brackets: （…） in Chinese, " (…)" in English."""
    return str(_("（{text}）")).format(text=text)


def _label_categories(objects) -> list:
    for c in objects:
        c.public_label, c.active_label = _yes(c.is_public), _yes(c.is_active)
        if c.is_active and c.parent_inactive:  # its own flag is on, but its class is off: not offered
            c.active_label = c.active_label + _bracketed(_("上级已停用"))
        c.feed_label = _yes(c.is_public and c.in_public_feed)
    return objects


LEDGER_MARK = _("街道包保关系")  # a 包保 rule that is a street's 包保 assignment, in the list's kind column


def _label_rules(objects) -> list:
    """The list's cells; a 包保 rule that is a street's 包保 assignment (`services.ledger_kind`) says so in its
    kind (`is_ledger`): its department is the street's 包保 department everywhere. One query for the page."""
    classes = services.ledger_classes() if objects else {}
    for r in objects:
        r.category_label = (f"{r.category.taxonomy.name} · {r.category.display_label}" if r.category_id
                            else str(_("任意分类")))
        r.active_label = _yes(r.is_active)
        r.is_ledger = bool(services.is_ledger_rule(r, classes))
        r.kind_label = r.get_kind_display() + _bracketed(LEDGER_MARK) if r.is_ledger else r.get_kind_display()
    _mark_rivals(objects)
    return objects


def patron_notice(rule: RoutingRule) -> dict | None:
    """For a rule that is a street's 包保 assignment (`services.ledger_kind`): the street and its 包保
    department, for the form's notice that changing the rule's department changes the street's 包保 department
    everywhere (the hazards ledger, flood tasks, materials, rescue); None for any other rule."""
    if rule.pk is None or not services.ledger_kind(rule):
        return None
    street = Region.objects.filter(code=rule.region_code).values_list("name", flat=True).first() or ""
    return {"street": f"{street}（{rule.region_code}）", "department": rule.department.name,
            "readers": "、".join(str(_(r)) for r in services.PATRON_READERS)}


def _mark_rivals(rules) -> None:
    """Name, on each rule, the other rules of its category, region and kind (only priority, then the newer id,
    decides between them). One query for the page."""
    if not rules:
        return
    others: dict[tuple, list[int]] = {}
    for pk, category_id, region_code, kind in RoutingRule.objects.filter(
            region_code__in={r.region_code for r in rules}).values_list("pk", "category_id", "region_code", "kind"):
        others.setdefault((category_id, region_code, kind), []).append(pk)
    for r in rules:
        rivals = [pk for pk in others.get((r.category_id, r.region_code, r.kind), []) if pk != r.pk]
        r.rivals_label = "、".join(f"#{pk}" for pk in sorted(rivals))


def _case_location(value: str | None) -> str:
    """The region code of the case a correction comes from (`?location=`, a grid or community), or ''."""
    code = clean_code(value)
    return code if len(code) in REGION_LENGTHS else ""


def overriding_warning(category, region_code: str, department_id, location: str, reference: str = "",
                note: str = "") -> dict | None:
    """When a correction of the rule for `category` at `region_code` would not change where the case's own
    location routes, because a more specific rule decides there and sends elsewhere: that rule, the places and
    department to name, and where to correct it instead (a routing rule: this correction form pre-filled for its
    category and region; a 包保 rule, which a correction does not change: its own page)."""
    if not location or not region_code:
        return None
    try:
        route = services.overriding_route(category, region_code, location)
    except CivicgridError:  # a region code the form will refuse anyway
        return None
    if route is None or (department_id and route.department.pk == department_id):
        return None
    rule = route.rule
    names = dict(Region.objects.filter(code__in={location, rule.region_code}).values_list("code", "name"))
    correctable = rule.kind == RuleKind.ROUTING
    if correctable:
        query = {"correct": "1", "region_code": rule.region_code, "location": location}
        for key, value in (("category", rule.category_id), ("department", department_id), ("reference", reference),
                           ("note", note)):
            if value:
                query[key] = value
        url = f"{reverse('ui:routing_rule_new')}?{urlencode(query)}"
    else:
        url = reverse("ui:routing_rule_detail", args=[rule.pk])
    return {"rule": rule.pk, "department": route.department.name, "url": url,
            "correctable": correctable, "place": f"{names.get(location, '')}（{location}）",
            "region": f"{names.get(rule.region_code, '')}（{rule.region_code}）"}


def _initial_pk(value) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() and 0 < int(value) < 2**63 else None


def _warn_rivals(request, rule: RoutingRule) -> None:
    rivals = list(services.same_place_rules(rule).filter(is_active=True).order_by("id").values_list("pk", flat=True))
    if rivals and rule.is_active:
        messages.warning(request, _("同一分类、区域和类型另有启用的规则：%(rules)s。生效的是优先级高者，优先级相同时为编号较新者。")
                         % {"rules": "、".join(f"#{pk}" for pk in rivals)})


def _dispatch_orgs(current_pk: int | None = None):
    """Organisations a case may be sent to, plus the value already stored (even when it no longer may be
    chosen), so that a form shows it and saving other fields keeps it."""
    orgs = Organisation.case_handlers()
    if current_pk:
        orgs = Organisation.objects.filter(Q(pk__in=orgs.values("pk")) | Q(pk=current_pk)).order_by("kind", "code")
    return orgs


class _OrgChoice(forms.ModelChoiceField):
    """A department drop-down; with `staffed` (the departments that have handler accounts), the others are
    marked, as the dispatch form marks them."""

    staffed: set[int] | None = None

    def label_from_instance(self, obj):
        label = obj.name
        if not handles_cases(obj):
            return f"{label}（{_('当前值，不可再选')}）"
        if self.staffed is not None and obj.pk not in self.staffed:
            return f"{label}{_('（暂无处置人员）')}"
        return label


def _warn_unstaffed(request, department) -> None:
    """Saved, but no one could take a case sent to `department` yet: say what that means and what to do."""
    if department is not None and department.pk not in services.staffed_departments():
        messages.warning(request, _("「%(name)s」还没有处置人员账号：在为其授权处置人员之前，派遣时不能派往该部门，"
                                    "派遣员须另选部门。请安全管理员为其授权处置人员，或改选有处置人员的部门。")
                         % {"name": department.name})


class CategoryForm(forms.Form):
    """The local rules of one category, as an administrator edits them."""

    name = forms.CharField(label=_("名称"), max_length=100)
    name_en = forms.CharField(label=_("英文名称"), max_length=100, required=False,
                              help_text=_("英文界面显示此名称；不填则显示中文名称"))
    time_limit_amount = forms.DecimalField(
        label=_("处置时限"), max_digits=6, decimal_places=2, min_value=0.01,
        help_text=_("不超过约一年：工作小时最多 2000，工作日最多 250，自然时最多 8760"),
        # Django's own words end in an English full stop and do not say which field; these say what to type.
        error_messages={
            "invalid": _("处置时限须为数字，如 3 或 1.5"),
            "min_value": _("处置时限须大于 0"),
            "max_decimal_places": _("处置时限最多两位小数，如 1.5 或 0.25"),
            "max_digits": _("处置时限不超过约一年：工作小时最多 2000，工作日最多 250，自然时最多 8760"),
            "max_whole_digits": _("处置时限不超过约一年：工作小时最多 2000，工作日最多 250，自然时最多 8760"),
        })
    time_limit_mode = forms.ChoiceField(label=_("时限单位"), choices=LimitMode.choices)
    acceptance_condition = forms.CharField(label=_("立案条件"), widget=forms.Textarea(attrs={"rows": 3}),
                                           required=False, max_length=2000)
    closure_condition = forms.CharField(label=_("结案条件"), widget=forms.Textarea(attrs={"rows": 3}),
                                        required=False, max_length=2000)
    responsible_body = forms.CharField(label=_("责任主体"), max_length=100, required=False)
    default_department = _OrgChoice(label=_("默认处置部门"), queryset=Organisation.objects.none(), required=False,
                                    empty_label=_("（无：由派遣员选择）"))
    keywords = forms.CharField(label=_("关键词"), max_length=300, required=False,
                               help_text=_("用逗号分隔，用于公众上报时查找分类"))
    is_public = forms.BooleanField(label=_("开放公众上报"), required=False,
                                   help_text=_("居民和志愿者可在网页、电话和接口上报此类问题"))
    in_public_feed = forms.BooleanField(
        label=_("公开到开放接口"), required=False,
        help_text=_("在 Open311 公开接口列为服务，并公开此类案件（仅对开放公众上报的分类有效）；涉及个人的类型（如养老服务、"
                    "社会救助、可疑人员）不要勾选"))
    is_active = forms.BooleanField(label=_("启用"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.initial.get("default_department")
        self.fields["default_department"].queryset = _dispatch_orgs(getattr(current, "pk", None))
        self.fields["default_department"].staffed = services.staffed_departments()


class RuleForm(forms.Form):
    """A routing rule: category (or any) × region subtree → department."""

    category = forms.ModelChoiceField(label=_("分类"), required=False, empty_label=_("任意分类"),
                                      queryset=Category.objects.none())
    region_code = forms.CharField(label=_("区域代码"), max_length=15,
                                  help_text=_("6 位为全区，9 位为街道，12 位为社区/村，15 位为网格"))
    department = _OrgChoice(label=_("处置部门"), queryset=Organisation.objects.none(), empty_label=_("请选择"))
    kind = forms.ChoiceField(label=_("规则类型"), choices=RuleKind.choices, initial=RuleKind.ROUTING)
    priority = forms.IntegerField(label=_("优先级"), initial=0, min_value=-1000, max_value=1000)
    is_active = forms.BooleanField(label=_("启用"), required=False, initial=True)
    note = forms.CharField(label=_("说明"), max_length=200, required=False)

    def __init__(self, *args, patron: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if patron:  # a street's 包保 assignment: a change of department is confirmed (`needs_patron_confirmation`)
            self.fields["confirm_patron"] = forms.BooleanField(
                label=_("确认更改该街道的包保部门"), required=False,
                help_text=_("更改处置部门即更改该街道的包保部门：隐患台账、防汛任务、防汛物资和抢险救援随之改用新部门"))
        self.fields["category"].queryset = Category.objects.select_related("taxonomy").order_by(
            "taxonomy__code", "kind", "sort", "code")
        self.fields["category"].label_from_instance = (
            lambda c: f"{c.taxonomy.name} · {c.get_kind_display()} {c.display_label}")
        current = self.initial.get("department")
        self.fields["department"].queryset = _dispatch_orgs(getattr(current, "pk", None))
        self.fields["department"].staffed = services.staffed_departments()


PATRON_CONFIRM_MISSING = _("这条规则是街道的包保关系：更改处置部门会同时更改该街道的包保部门（隐患台账、防汛任务、防汛物资和"
                           "抢险救援随之改用新部门）。请勾选“确认更改该街道的包保部门”后再保存。")


def needs_patron_confirmation(form: RuleForm, department_changes: bool) -> bool:
    """Whether a save that would change a street's 包保 department lacks its confirmation; if so the form says
    so beside the tick box and nothing is saved."""
    if "confirm_patron" not in form.fields or not department_changes or form.cleaned_data.get("confirm_patron"):
        return False
    form.add_error("confirm_patron", PATRON_CONFIRM_MISSING)
    return True


def _tell_patron_changed(request, rule: RoutingRule, notice: dict | None, department_before: int | None) -> None:
    if notice is not None and rule.department_id != department_before:
        messages.info(request, _("已同时更改%(street)s的包保部门为「%(department)s」：%(readers)s随之改用该部门。")
                      % {**notice, "department": rule.department.name})


# `correct_rule` sets the department (and re-enables the rule); kind, priority and 启用 are not its to change.
CORRECTION_IGNORES = ("kind", "priority", "is_active")


def _form_error(form: forms.Form, exc: CivicgridError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, one_language(exc.message))


# --- categories ---------------------------------------------------------------------------------------------


@page_view(VIEW)
def category_list(request):
    """Categories of one taxonomy (tabs), filtered by kind, class or text."""
    taxonomies = list(selectors.visible_taxonomies(request.user).order_by("code"))
    current = next((t for t in taxonomies if t.code == request.GET.get("taxonomy")), taxonomies[0] if taxonomies else None)
    qs = selectors.visible_categories(request.user).select_related("taxonomy", "parent", "default_department")
    kind = request.GET.get("kind", "")
    q = request.GET.get("q", "")
    qs = qs.filter(taxonomy=current) if current else qs.none()
    if kind in CategoryKind.values:
        qs = qs.filter(kind=kind)
    qs = search(qs, ("name", "name_en", "code", "keywords"), q).order_by("kind", "sort", "code")
    page_obj = paginate(request, qs, per_page=100)
    return render(request, "categories/list.html", {
        "taxonomies": taxonomies, "current": current, "kind": kind, "q": q, "kinds": CategoryKind.choices,
        "page_obj": page_obj, "can_manage": has_capability(request.user, MANAGE),
        "rows": table_rows(_label_categories(list(page_obj.object_list)), COLUMNS),
        "headers": [c.label for c in COLUMNS], "model_label": "categories.category",
        "detail_url_name": "ui:category_detail", "search_hint": _("名称、编码或关键词"),
    })


@require_http_methods(["GET", "POST"])
@capability_required(VIEW)
def category_detail(request, pk: int):
    """One category: its local rules, the edit form for managers, its routing rules and its history."""
    category = selectors.visible_categories(request.user).select_related(
        "taxonomy", "parent", "default_department").filter(pk=pk).first()
    if category is None:
        raise Http404
    can_manage = has_capability(request.user, MANAGE)
    initial = {f: getattr(category, f) for f in CategoryForm.base_fields}
    form = CategoryForm(initial=initial) if can_manage else None
    status = 200
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        form = CategoryForm(request.POST, initial=initial)
        if form.is_valid():
            try:
                # Only what the user changed: an untouched field is never rewritten from the form.
                saved = services.update_category(actor=request.user, category=category,
                                                 **{f: form.cleaned_data[f] for f in form.changed_data})
            except CivicgridError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("已保存"))
                _warn_unstaffed(request, saved.default_department)
                warning = services.class_off_warning(saved) if category.is_active else None
                if warning:
                    messages.warning(request, one_language(warning))
                return redirect("ui:category_detail", pk=category.pk)
        status = 400
    rules = _label_rules(list(selectors.visible_rules(request.user).filter(category=category)
                              .select_related("category__taxonomy", "department")))
    children = list(selectors.visible_categories(request.user).filter(parent=category).order_by("sort", "code"))
    entries = describe_all(history(category)[:HISTORY_LIMIT], Category, request.user,
                           selectors.history_read_paths(request.user))
    return render(request, "categories/detail.html", {
        "object": category, "form": form, "can_manage": can_manage, "children": children,
        "entries": entries, "limit": HISTORY_LIMIT, "rule_rows": table_rows(rules, RULE_COLUMNS),
        "rule_headers": [c.label for c in RULE_COLUMNS],
    }, status=status)


@page_view(VIEW)
def category_export(request):
    """The categories of one taxonomy (`?taxonomy=`) or of all of them, as xlsx."""
    taxonomy = selectors.visible_taxonomies(request.user).filter(code=request.GET.get("taxonomy", "")[:32]).first()
    body, filename = xlsx.export_categories(actor=request.user, taxonomy=taxonomy)
    return file_response(body, filename, XLSX_TYPE)


@page_view(MANAGE)
def rule_export(request):
    """Every routing and 包保 rule as xlsx (export only: rules are changed on their pages)."""
    body, filename = xlsx.export_rules(actor=request.user)
    return file_response(body, filename, XLSX_TYPE)


@require_http_methods(["GET", "POST"])
@capability_required(MANAGE)
def category_import(request):
    """Upload an xlsx in the export's layout; applied only when every row is right."""
    report = None
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, _("请选择要上传的文件"))
            status = 400
        else:
            report = xlsx.import_categories(actor=request.user, data=upload.read(), filename=upload.name or "")
            if report.ok:
                messages.success(request, str(report))
                for warning in report.warnings:
                    messages.warning(request, one_language(warning))
                return redirect("ui:category_list")
            status = 400
    return render(request, "categories/import.html", {"report": report, "headers": xlsx.HEADERS}, status=status)


# --- routing rules ------------------------------------------------------------------------------------------


@page_view(MANAGE)
def rule_list(request):
    """Routing rules, by kind and region subtree."""
    qs = selectors.visible_rules(request.user).select_related("category__taxonomy", "department")
    kind, region, q = request.GET.get("kind", ""), clean_code(request.GET.get("region")), request.GET.get("q", "")
    if kind in RuleKind.values:
        qs = qs.filter(kind=kind)
    if region:
        qs = qs.filter(region_code__startswith=region)
    qs = search(qs, ("category__name", "department__name", "department__short_name", "note"), q)
    if request.GET.get("deleted") == "1":  # 已删除: their last state, each opening its history
        page_obj = paginate(request, selectors.deleted_rules(request.user))
        return render(request, "categories/rules.html", {
            "page_obj": page_obj, "deleted": True, "kinds": RuleKind.choices,
            "deleted_rules": _last_states(page_obj.object_list)})
    page_obj = paginate(request, qs.order_by("region_code", "id"))
    proposals = routing_proposals.open_proposals(request.user)
    rules = _label_rules(list(page_obj.object_list))
    return render(request, "categories/rules.html", {
        "proposal_count": proposals.count(), "proposals": _proposal_rows(proposals[:PROPOSALS_SHOWN]),
        "page_obj": page_obj, "kind": kind, "region": region, "q": q, "kinds": RuleKind.choices,
        "ledger_rules": any(r.is_ledger for r in rules),
        "rows": table_rows(rules, RULE_COLUMNS),
        "headers": [c.label for c in RULE_COLUMNS], "model_label": "categories.routingrule",
        "detail_url_name": "ui:routing_rule_detail",
    })


# The open 规则更正建议 the rules page shows, oldest first; all of them are on their own page
# (`proposal_list`: filtered and paged), which the rules page links with their count.
PROPOSALS_SHOWN = 10
PROPOSAL_SEARCH = ("case__number", "category__name", "from_department__name", "from_department__short_name",
                   "proposed_department__name", "proposed_department__short_name")


@page_view(MANAGE)
def proposal_list(request):
    """Every open 规则更正建议, oldest first, by region subtree or text (case number, category, department), a
    page at a time: the same queries however many there are."""
    region, q = clean_code(request.GET.get("region")), request.GET.get("q", "")
    qs = in_region(routing_proposals.open_proposals(request.user), "region_code", region)
    page_obj = paginate(request, search(qs, PROPOSAL_SEARCH, q).order_by("created_at", "id"))
    return render(request, "categories/proposals.html", {
        "page_obj": page_obj, "proposals": _proposal_rows(page_obj.object_list), "region": region, "q": q,
        "back": request.get_full_path()})


def proposal_correction_url(proposal) -> str:
    """The rule correction form pre-filled from a proposal (as the case page's link): the case's category, its
    street, the proposed department, the case as reference and its place; saving it closes the proposal."""
    query = {"correct": "1", "region_code": proposal.region_code[:9], "location": proposal.region_code,
             "reference": proposal.case.number, "proposal": proposal.pk}
    if proposal.category_id:
        query["category"] = proposal.category_id
    if proposal.proposed_department_id:
        query["department"] = proposal.proposed_department_id
    return f"{reverse('ui:routing_rule_new')}?{urlencode(query)}"


def _proposal_rows(proposals) -> list[dict]:
    """What the rules page shows of each open proposal: the case, the rule that routed it (its page, or the
    history of a rule deleted since), who sent it back and whom they proposed, and the two ways to act."""
    rows = []
    for p in proposals:
        rule_id = p.rule_id_at_proposal
        rows.append({
            "proposal": p, "case_url": reverse("ui:case_detail", args=[p.case.number]),
            "rule_id": rule_id,
            "rule_url": reverse("ui:routing_rule_detail", args=[rule_id]) if rule_id else "",
            "category": p.category.display_label if p.category_id else "",
            "from": p.from_department, "to": p.proposed_department,  # named by `org_cell` in the table
            "accept_url": proposal_correction_url(p),
            "dismiss_url": reverse("ui:routing_proposal_dismiss", args=[p.pk]),
        })
    return rows


@require_http_methods(["POST"])
@capability_required(MANAGE)
def proposal_dismiss(request, pk: int):
    """驳回 a 规则更正建议 with a reason (the rule stays as it is); back to the list it was dismissed from (the
    rules page, or the proposals page at its filter and page)."""
    try:
        routing_proposals.dismiss(actor=request.user, proposal_id=pk, reason=request.POST.get("reason", ""))
    except CivicgridError as exc:
        messages.error(request, one_language(str(exc)))
    else:
        messages.success(request, _("已驳回该规则更正建议"))
    back = request.POST.get("next", "")
    if back.startswith(reverse("ui:routing_proposal_list")) and url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(back)
    return redirect("ui:routing_rule_list")


class _Unconfirmed(Exception):
    """A save that would change a street's 包保 department, not confirmed: the form shows why."""


@require_http_methods(["GET", "POST"])
@capability_required(MANAGE)
def rule_new(request):
    """A new rule; with `?correct=1` (from a 退回) it replaces the rule for exactly that category and region.
    The query string may pre-fill category, region_code, department, note and reference (the case number); with
    `location` (the case's own place) the correction warns when a more specific rule decides there, and offers
    to correct that one instead."""
    correcting = request.GET.get("correct") == "1"
    reference = request.GET.get("reference", "")[:64]
    proposal_id = _initial_pk(request.GET.get("proposal")) if correcting else None
    location = _case_location(request.GET.get("location")) if correcting else ""
    initial = {k: request.GET.get(k) for k in ("category", "region_code", "department", "note") if request.GET.get(k)}
    form = RuleForm(request.POST or None, initial=initial)
    if correcting:
        for name in CORRECTION_IGNORES:  # a correction sets the department only; these would be ignored
            form.fields.pop(name)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if correcting:
                with transaction.atomic():
                    rule = services.correct_rule(actor=request.user, category=data["category"],
                                                 region_code=data["region_code"], department=data["department"],
                                                 note=data["note"], reference=reference)
                    if proposal_id:  # the correction a 规则更正建议 asked for: it is closed as accepted
                        routing_proposals.accept(actor=request.user, proposal_id=proposal_id, rule_id=rule.pk)
            else:
                would_be = RoutingRule(category=data["category"], region_code=services.normalise_code(
                    data["region_code"]), kind=data["kind"])
                if services.ledger_kind(would_be) and "confirm_patron" not in form.fields:
                    # a new street's 包保 rule is its 包保 assignment: ask for the tick, keeping what was typed
                    form = RuleForm(request.POST, initial=initial, patron=True)
                    form.is_valid()
                if needs_patron_confirmation(form, True):
                    raise _Unconfirmed
                rule = services.create_rule(actor=request.user, **{k: v for k, v in data.items()
                                                                   if k != "confirm_patron"})
        except _Unconfirmed:
            pass
        except CivicgridError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("规则已保存"))
            _tell_patron_changed(request, rule, None if correcting else patron_notice(rule), None)
            _warn_unstaffed(request, rule.department)
            _warn_rivals(request, rule)
            override = overriding_warning(rule.category, rule.region_code, rule.department_id, location, reference,
                                   data["note"]) if correcting else None
            if override is not None:
                # Saved, but the case's own place still routes elsewhere: say so, and open what would change it.
                messages.warning(request, _("本案所在位置%(place)s仍按更具体的规则 #%(rule)s（%(region)s）派往"
                                            "%(department)s，刚保存的规则在那里不起作用。") % override)
                return redirect(override["url"])
            return redirect("ui:routing_rule_detail", pk=rule.pk)
    override = None
    if correcting and request.method == "GET":
        try:
            category = form.fields["category"].clean(initial.get("category"))
        except forms.ValidationError:  # not a category: the form shows none chosen, and nothing is said
            location = ""
        else:
            override = overriding_warning(category, (initial.get("region_code") or "").strip(),
                                   _initial_pk(initial.get("department")), location, reference,
                                   initial.get("note", ""))
    status = 400 if request.method == "POST" else 200
    return render(request, "categories/rule_form.html", {"form": form, "rule": None, "correcting": correcting,
                                                         "reference": reference, "override": override},
                  status=status)


@require_http_methods(["GET", "POST"])
@capability_required(MANAGE)
def rule_detail(request, pk: int):
    """One rule: edit, delete, and its history."""
    rule = selectors.visible_rules(request.user).select_related("category__taxonomy", "department").filter(pk=pk).first()
    if rule is None:
        return _deleted_rule_page(request, pk)
    initial = {f: getattr(rule, f) for f in RuleForm.base_fields}
    patron = patron_notice(rule)
    form = RuleForm(request.POST or None, initial=initial, patron=patron is not None)
    delete_error = ""
    if request.method == "POST":
        try:
            if request.POST.get("delete") == "1":
                if request.POST.get("confirm") != "1":
                    # No deletion on one click: the form asks for an explicit tick (works without JavaScript).
                    delete_error = _("请勾选“确认删除”后再删除此规则")
                    form = RuleForm(initial=initial, patron=patron is not None)
                else:
                    services.delete_rule(actor=request.user, rule=rule)
                    messages.success(request, _("规则已删除"))
                    return redirect("ui:routing_rule_list")
            elif form.is_valid() and not needs_patron_confirmation(form, "department" in form.changed_data):
                department_before = rule.department_id
                rule = services.update_rule(actor=request.user, rule=rule,
                                            **{f: form.cleaned_data[f] for f in form.changed_data
                                               if f != "confirm_patron"})
                messages.success(request, _("规则已保存"))
                _tell_patron_changed(request, rule, patron, department_before)
                _warn_unstaffed(request, rule.department)
                _warn_rivals(request, rule)
                return redirect("ui:routing_rule_detail", pk=rule.pk)
        except CivicgridError as exc:
            _form_error(form, exc)
    entries = describe_all(history(rule)[:HISTORY_LIMIT], RoutingRule, request.user,
                           selectors.history_read_paths(request.user))
    status = 400 if request.method == "POST" else 200
    return render(request, "categories/rule_form.html", {"form": form, "rule": rule, "entries": entries,
                                                         "limit": HISTORY_LIMIT, "delete_error": delete_error,
                                                         "patron": patron},
                  status=status)


def _last_states(entries) -> list[dict]:
    """Deleted rules as their deletion records keep them (`before`), the category and department named (two
    queries whatever the number)."""
    entries = list(entries)
    states = [(e, e.before if isinstance(e.before, dict) else {}) for e in entries]
    categories = {c.pk: c.display_label for c in Category.objects.filter(
        pk__in={st.get("category") for _e, st in states} - {None})}
    departments = {o.pk: o for o in Organisation.objects.filter(
        pk__in={st.get("department") for _e, st in states} - {None})}
    kinds = dict(RuleKind.choices)
    return [{"pk": int(e.target_id), "deleted_at": e.at, "deleted_by": e.actor_name,
             "url": reverse("ui:routing_rule_detail", args=[int(e.target_id)]),
             "kind": kinds.get(st.get("kind"), st.get("kind", "")),
             "category": categories.get(st.get("category"), _("任意分类") if st.get("category") is None else
                                        f"#{st.get('category')}"),
             "region_code": st.get("region_code", ""),
             # in full on the deleted rule's page; `org_cell` in the rules page's table of deleted rules
             "department": str(departments.get(st.get("department"), f"#{st.get('department')}")),
             "department_org": departments.get(st.get("department")),
             "priority": st.get("priority"), "active": _yes(bool(st.get("is_active"))), "note": st.get("note", "")}
            for e, st in states if e.target_id.isdigit()]


def _deleted_rule_page(request, pk: int):
    """A deleted rule, for those who manage rules: its last state and its history, read-only (what a case
    timeline's 「按分拨规则 #21」 refers to). 404 when no rule of that id was ever deleted."""
    entry = selectors.deleted_rule(request.user, pk)
    if entry is None:
        raise Http404
    entries = describe_all(history(RoutingRule(pk=pk))[:HISTORY_LIMIT], RoutingRule, request.user,
                           selectors.history_read_paths(request.user))
    return render(request, "categories/rule_deleted.html", {"state": _last_states([entry])[0], "entries": entries,
                                                            "limit": HISTORY_LIMIT})


urlpatterns = [
    path("", category_list, name="category_list"),
    path("<int:pk>/", category_detail, name="category_detail"),
    path("export.xlsx", category_export, name="category_export"),
    path("import/", category_import, name="category_import"),
    path("rules/", rule_list, name="routing_rule_list"),
    path("rules/new/", rule_new, name="routing_rule_new"),
    path("rules/export.xlsx", rule_export, name="routing_rule_export"),
    path("rules/<int:pk>/", rule_detail, name="routing_rule_detail"),
    path("rules/proposals/", proposal_list, name="routing_proposal_list"),
    path("rules/proposals/<int:pk>/dismiss/", proposal_dismiss, name="routing_proposal_dismiss"),
]

data_endpoint("ui:category_list", "categories.Category", "list")
data_endpoint("ui:category_detail", "categories.Category", "detail")
data_endpoint("ui:category_export", "categories.Category", "export")
data_endpoint("ui:routing_rule_list", "categories.RoutingRule", "list")
data_endpoint("ui:routing_rule_detail", "categories.RoutingRule", "detail")
data_endpoint("ui:routing_rule_export", "categories.RoutingRule", "export")
data_endpoint("ui:routing_proposal_list", "cases.RoutingProposal", "list")
non_data_endpoint("ui:category_import", "ui:routing_rule_new", "ui:routing_proposal_dismiss")

register(MenuItem("categories", gettext_noop("事件分类"), "ui:category_list", VIEW, order=60))
