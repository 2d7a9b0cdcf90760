"""Category and routing-rule use cases. Every change is checked (`categories.manage`), validated, saved in
one transaction, audited with before/after (so each object's history page works) and announced as an event.

`actor=None` is the system itself (loaders, management commands). Routing decisions live in `routing` and are
re-exported here, since intake and dispatch call them as services: `resolve_department`, `explain_route` and
`dispatch_target` (and `overriding_route`, which a rule correction asks).

包保: the hazards app's `PatronAssignment` is the one record of which department answers for a street; for the
kinds in `PATRON_LEDGER` its rows also route cases, as 包保 rules of the listed classes on that street. Both
change together, in one transaction, through `assign_patron`: the rule screen's create and update of such a
rule call it, and the hazards loader does too, so routing, the patrons API, flood tasks, hazards and materials
name the same department.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from civicgrid.foundation.access.scope import departments_with, has_capability
from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.service import record, snapshot
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.events.bus import publish
from civicgrid.foundation.orgs.models import Organisation, handles_cases, handling_kinds_text
from civicgrid.foundation.regions.models import CODE_LENGTH, Level, Region

from .models import Category, CategoryKind, LimitMode, RoutingRule, RuleKind, Taxonomy
from .permissions import MANAGE
from .routing import (
    DispatchTarget,
    Route,
    dispatch_target,
    explain_route,
    match,
    overriding_route,
    region_prefixes,
    resolve_department,
)

__all__ = [
    "DispatchTarget", "Route", "dispatch_target", "explain_route", "match", "resolve_department", "overriding_route",
    "create_taxonomy", "create_category",
    "update_category", "create_rule", "update_rule", "delete_rule", "correct_rule", "check_limit",
    "RULE_CORRECTED", "RULE_CORRECTED_AT_DISPATCH", "same_place_rules", "check_department", "staffed_departments",
    "normalise_code", "check_code", "check_name_en", "class_off_warning", "note_feed_change", "assign_patron", "ledger_kind",
    "ledger_classes", "is_ledger_rule", "PATRON_LEDGER", "PATRON_READERS",
]

RULE_CORRECTED = "categories.rule_corrected"  # audit action: a rule set from a send-back's (退回) proposal
# Audit action: a dispatcher who manages rules sent a case elsewhere than the rule said and corrected the rule
# with it, no 退回 asking for it (the history must not say 按退回 when nobody sent anything back).
RULE_CORRECTED_AT_DISPATCH = "categories.rule_corrected_at_dispatch"
TOPIC_CATEGORY_CHANGED = "categories.category_changed"
TOPIC_RULE_CHANGED = "categories.rule_changed"
# The longest time limit per unit: about a year of each clock (a longer one is a typing slip, and its deadline
# took seconds to reckon): 250 working days and 2000 working hours (250 × 8) a year, 8760 natural hours (365 × 24).
MAX_LIMITS = {
    LimitMode.WORKING_HOURS: Decimal("2000"),
    LimitMode.WORKING_DAYS: Decimal("250"),
    LimitMode.NATURAL_HOURS: Decimal("8760"),
}
_UNITS_ZH = {LimitMode.WORKING_HOURS: "工作小时", LimitMode.WORKING_DAYS: "工作日", LimitMode.NATURAL_HOURS: "自然时"}
_UNITS_EN = {LimitMode.WORKING_HOURS: "working hours", LimitMode.WORKING_DAYS: "working days",
             LimitMode.NATURAL_HOURS: "calendar hours"}  # the English of 自然时 throughout
# The capability of a department's handlers (the cases app grants it): a case sent to a department without a
# holder could not be worked on, so dispatch refuses such a department.
HANDLE_CAPABILITY = "cases.handle"

CATEGORY_FIELDS = (
    "name", "name_en", "parent", "acceptance_condition", "closure_condition", "time_limit_amount", "time_limit_mode",
    "responsible_body", "default_department", "keywords", "is_public", "in_public_feed", "is_active",
    "sort",
)
RULE_FIELDS = ("category", "region_code", "department", "kind", "priority", "is_active", "note")
# The 包保 kinds (hazards.PatronKind) whose assignments route cases, and the classes their 包保 rules cover
# (taxonomy, category kind, code): in the flood season a street's 防汛应急 cases go to its 包保 department.
PATRON_LEDGER = {"flood": (("social", CategoryKind.EVENT, "07"),)}
STREET_CODE_LENGTH = CODE_LENGTH[Level.STREET]
PATRON_NOTE = {"flood": "汛期包保", "safety": "安全生产包保"}
# What else reads a street's 包保 department (`hazards.PatronAssignment`) besides routing: what the rule pages
# name when an edit of a 包保 rule changes it.
PATRON_READERS = (gettext_noop("隐患台账"), gettext_noop("防汛任务"), gettext_noop("防汛物资"), gettext_noop("抢险救援"))


# A category code: ASCII letters, digits, "_" and "-" (GB/T 47678.5 codes are digits), at most 16.
CODE_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,16}")


def normalise_code(value) -> str:
    """A code as typed, NFKC-normalised and stripped: full-width 「０８０５」 is 0805, so that it can neither sit
    beside nor miss the ASCII code."""
    return unicodedata.normalize("NFKC", "" if value is None else str(value)).replace("\x00", "").strip()


def code_problem(code: str) -> str | None:
    """What is wrong with a new category's (normalised) code, or None."""
    if CODE_FORMAT.fullmatch(code):
        return None
    return (f"编码须为 1–16 位英文字母、数字、下划线或连字符：「{code[:32]}」 / a code is 1-16 ASCII letters, "
            f"digits, _ or -: {code[:32]}")


def check_code(value) -> str:
    """A new category's code, normalised (`normalise_code`) and checked (`CODE_FORMAT`)."""
    code = normalise_code(value)
    problem = code_problem(code)
    if problem:
        raise ValidationFailed(problem, field="code")
    return code


def require_manager(actor) -> None:
    """Only holders of `categories.manage` (or the system) change categories and rules."""
    if actor is not None and not has_capability(actor, MANAGE):
        raise PermissionDenied("只有指挥中心或系统管理员可以维护事件分类和分拨规则 / only the command centre or a system administrator may maintain case categories and routing rules")


def limit_range_text(mode) -> str:
    """The allowed range of a time limit in ``mode``, in Chinese and English (the refusal's words)."""
    top = MAX_LIMITS[mode]
    return (f"处置时限须大于 0、不超过 {top} {_UNITS_ZH[mode]}、最多两位小数 / the time limit must be more than 0 "
            f"and at most {top} {_UNITS_EN[mode]}, with at most two decimals")


def check_limit(amount, mode) -> tuple[Decimal, str]:
    """A time limit as stored: a known unit and a positive amount with at most two decimals, at most the unit's
    `MAX_LIMITS`."""
    if mode not in LimitMode.values:
        raise ValidationFailed(f"时限单位须为工作小时、工作日或自然时：「{mode}」 / unknown time-limit unit: {mode}",
                               field="time_limit_mode")
    try:
        text = str(amount).strip()
        if "_" in text:  # Decimal reads "1_5" as 15 (digit groups): a slip of the keyboard, not a number people write
            raise ValueError(text)
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"处置时限须为数字：「{amount}」 / the time limit must be a number: {amount}",
                               field="time_limit_amount") from None
    if (not value.is_finite() or value <= 0 or value > MAX_LIMITS[mode]
            or value != value.quantize(Decimal("0.01"))):
        zh, en = limit_range_text(mode).split(" / ", 1)
        raise ValidationFailed(f"{zh}：{amount} / {en}: {amount}", field="time_limit_amount")
    return value.quantize(Decimal("0.01")), mode


def _text(value, field: str, max_length: int, *, required: bool = False) -> str:
    text = ("" if value is None else str(value)).replace("\x00", "").strip()
    if required and not text:
        raise ValidationFailed(f"{field} 不能为空 / {field} is required", field=field)
    if len(text) > max_length:
        raise ValidationFailed(f"{field} 最多 {max_length} 个字符 / {field} is too long", field=field)
    return text


def check_department(department, *, keep_id: int | None = None) -> Organisation | None:
    """A department a case may be sent to (`orgs.models.CASE_HANDLING_KINDS`, active), or None.

    `keep_id` is the value already stored: keeping it is always allowed, so saving other fields never fails on
    (or clears) a department that has since been deactivated or was set before this check existed."""
    if department is None:
        return None
    if not isinstance(department, Organisation) or not department.pk:
        raise ValidationFailed("处置部门不存在或已停用 / unknown or inactive department", field="department")
    if department.pk == keep_id:
        return department
    if not department.is_active:
        raise ValidationFailed(f"{department.name} 已停用 / this organisation is inactive", field="department")
    if not handles_cases(department):
        raise ValidationFailed(
            f"{department.name}（{department.get_kind_display()}）不处置案件：处置部门须为{handling_kinds_text()}"
            f" / {department.name} does not handle cases: choose a department, street office, command centre"
            " or rescue team", field="department")
    return department


def staffed_departments() -> set[int]:
    """The ids of the departments with at least one handler account (an active holder of `cases.handle`). A rule
    or default department may name another one (its accounts are often created after the routing is set up, by
    the security administrator): the forms mark it and warn on save, and dispatch refuses it until then."""
    return departments_with(HANDLE_CAPABILITY)


def _check_parent(category: Category, parent: Category | None) -> None:
    if parent is None:
        return
    if parent.taxonomy_id != category.taxonomy_id or parent.kind != category.kind:
        raise ValidationFailed("上级分类须属于同一分类体系和类型 / the parent must be of the same taxonomy and kind",
                               field="parent")
    seen, node = set(), parent
    while node is not None:
        if node.pk == category.pk or node.pk in seen:
            raise ValidationFailed("上级分类不能是自己或自己的下级 / a category cannot be its own ancestor",
                                   field="parent")
        seen.add(node.pk)
        node = node.parent


def two_levels_problem(code: str, parent_code: str, grandparent_code: str, subclass_codes) -> str | None:
    """What is wrong with putting category `code` under `parent_code` in a taxonomy two levels deep (classes hold
    subclasses, subclasses hold nothing), or None: the parent is itself a subclass (of `grandparent_code`), or
    the category has subclasses of its own (`subclass_codes`). The one wording the xlsx import and the
    category services share."""
    if grandparent_code:
        return (f"分类只有大类、小类两级：上级 {parent_code} 本身是 {grandparent_code} 的小类，不能再有下级 / "
                f"categories are two levels deep: the parent {parent_code} is itself a subclass of {grandparent_code}")
    below = sorted(subclass_codes)
    if below:
        listed = "、".join(below[:3]) + ("等" if len(below) > 3 else "")
        return (f"分类只有大类、小类两级：{code} 下有小类（{listed}），不能再作为小类 / "
                f"categories are two levels deep: {code} has subclasses ({', '.join(below[:3])}) and cannot "
                "become one")
    return None


def _check_two_levels(category: Category) -> None:
    """Refuse (on `parent`) a category placed under a subclass, or one with subclasses given a parent. Asked
    when the parent is set or changed: categories already nested deeper are left for the administrator to move,
    as the import leaves them."""
    parent = category.parent
    if parent is None:
        return
    grandparent = parent.parent.code if parent.parent_id else ""
    below = (list(Category.objects.filter(parent_id=category.pk).order_by("code").values_list("code", flat=True)[:4])
             if category.pk else [])
    problem = two_levels_problem(category.code, parent.code, grandparent, below)
    if problem:
        raise ValidationFailed(problem, field="parent")


NAME_EN_LENGTH = 100


def name_en_problem(text: str) -> str | None:
    """What is wrong with an English name (already stripped), or None: too long, or holding a control character
    (a tab, line break or other character pasted from elsewhere that a label cannot show)."""
    if len(text) > NAME_EN_LENGTH:
        return (f"英文名称最多 {NAME_EN_LENGTH} 个字符 / the English name must be at most {NAME_EN_LENGTH} "
                "characters")
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in text):
        return "英文名称不能含控制字符（如换行、制表符） / the English name must not hold control characters"
    return None


def check_name_en(value) -> str:
    """An English name as stored: stripped, at most `NAME_EN_LENGTH` characters, no control characters."""
    text = ("" if value is None else str(value)).strip()
    problem = name_en_problem(text)
    if problem:
        raise ValidationFailed(problem, field="name_en")
    return text


def clean_category(category: Category, *, keep_department_id: int | None = None) -> None:
    """Normalise and check a category before saving it (raises ValidationFailed naming the field).

    `keep_department_id`: the default department stored before this change, which may stay as it is."""
    category.code = _text(category.code, "code", 16, required=True)
    category.name = _text(category.name, "name", 100, required=True)
    category.name_en = check_name_en(category.name_en)
    if category.kind not in CategoryKind.values:
        raise ValidationFailed(f"未知的分类类型：「{category.kind}」 / unknown kind: {category.kind}", field="kind")
    category.acceptance_condition = _text(category.acceptance_condition, "acceptance_condition", 2000)
    category.closure_condition = _text(category.closure_condition, "closure_condition", 2000)
    category.responsible_body = _text(category.responsible_body, "responsible_body", 100)
    category.keywords = _text(category.keywords, "keywords", 300)
    category.time_limit_amount, category.time_limit_mode = check_limit(category.time_limit_amount,
                                                                      category.time_limit_mode)
    try:
        check_department(category.default_department, keep_id=keep_department_id)
    except ValidationFailed as exc:
        exc.field = "default_department"
        raise
    _check_parent(category, category.parent)


@transaction.atomic
def create_taxonomy(*, actor, code: str, name: str, source: str = "") -> Taxonomy:
    """A new taxonomy (a local classification beside the national ones); audited."""
    require_manager(actor)
    code = _text(code, "code", 32, required=True)
    if not code.replace("_", "").replace("-", "").isalnum():
        raise ValidationFailed("分类体系代码只能含字母、数字、下划线和连字符 / bad taxonomy code", field="code")
    if Taxonomy.objects.filter(code=code).exists():
        raise ValidationFailed(f"分类体系 {code} 已存在 / taxonomy exists", field="code")
    taxonomy = Taxonomy.objects.create(code=code, name=_text(name, "name", 100, required=True),
                                       source=_text(source, "source", 200))
    record(actor=actor, action=verbs.Data.CREATED, target=taxonomy, after=snapshot(taxonomy))
    return taxonomy


@transaction.atomic
def create_category(*, actor, taxonomy: Taxonomy, code: str, name: str, kind: str = CategoryKind.EVENT,
                    **fields) -> Category:
    """A new category in a taxonomy (classes have no parent; subclasses name theirs); audited."""
    require_manager(actor)
    unknown = set(fields) - set(CATEGORY_FIELDS)
    if unknown:
        raise ValidationFailed(f"不能设置的字段：{'、'.join(sorted(unknown))} / unknown fields")
    category = Category(taxonomy=taxonomy, code=check_code(code), name=name, kind=kind, **fields)
    clean_category(category)
    _check_two_levels(category)
    if Category.objects.filter(taxonomy=taxonomy, kind=category.kind, code=category.code).exists():
        raise ValidationFailed(f"编码 {category.code} 已存在 / code exists", field="code")
    category.edited_at = timezone.now() if actor is not None else None
    category.save()
    record(actor=actor, action=verbs.Data.CREATED, target=category, after=snapshot(category))
    publish(TOPIC_CATEGORY_CHANGED, aggregate=category, payload={"change": "created"})
    return category


def note_feed_change(category: Category, *, was_published: bool, now) -> None:
    """Mark when a category's cases leave the public feed and when they come back (`left_feed_at`,
    `back_in_feed_at`; Open311 dates what happened to them in between at their return). Call before saving."""
    if was_published and not category.published:
        category.left_feed_at, category.back_in_feed_at = now, None
    elif category.published and not was_published:
        category.back_in_feed_at = now


@transaction.atomic
def update_category(*, actor, category: Category, **changes) -> Category:
    """Change a category's local rules (limits, conditions, body, department, keywords, flags); audited with
    before/after and marked as edited, so loaders never overwrite it. No change, no record."""
    require_manager(actor)
    unknown = set(changes) - set(CATEGORY_FIELDS)
    if unknown:
        raise ValidationFailed(f"不能修改的字段：{'、'.join(sorted(unknown))} / fields that cannot be changed")
    current = Category.objects.select_for_update().get(pk=category.pk)  # no joins: PostgreSQL locks no outer join
    before = snapshot(current)
    stored_department, stored_parent = current.default_department_id, current.parent_id
    for name, value in changes.items():
        setattr(current, name, value)
    clean_category(current, keep_department_id=stored_department)
    if current.parent_id != stored_parent:
        _check_two_levels(current)
    after = snapshot(current)
    if {k: v for k, v in after.items() if k != "updated_at"} == {k: v for k, v in before.items() if k != "updated_at"}:
        return current
    current.edited_at = timezone.now()
    note_feed_change(current, was_published=before["is_public"] and before["in_public_feed"], now=current.edited_at)
    current.save()
    record(actor=actor, action=verbs.Data.CHANGED, target=current, before=before, after=snapshot(current))
    publish(TOPIC_CATEGORY_CHANGED, aggregate=current, payload={"change": "changed",
                                                                "fields": sorted(k for k in after if after[k] != before.get(k))})
    return current


SUBCLASSES_LISTED = 10


def class_off_warning(category: Category) -> str | None:
    """When `category` is a class switched off that still has subclasses switched on: what that means, naming
    them (bilingual, as service messages are). They keep their own 启用 but are no longer offered for new
    reports (`models.in_use_q`: 上级已停用) until the class is switched on again; None otherwise."""
    if category.parent_id is not None or category.is_active:
        return None
    below = list(Category.objects.filter(parent_id=category.pk, is_active=True).order_by("sort", "code")
                 .values_list("code", "name"))
    if not below:
        return None
    listed = "、".join(f"{code} {name}" for code, name in below[:SUBCLASSES_LISTED])
    listed_en = ", ".join(f"{code} {name}" for code, name in below[:SUBCLASSES_LISTED])
    more = f"等 {len(below)} 个" if len(below) > SUBCLASSES_LISTED else f"共 {len(below)} 个"
    return (f"大类 {category.code} {category.name} 已停用：其下启用的小类（{listed}{more}）随之不再可选"
            f"（上级已停用），各自的“启用”保持不变，大类重新启用后恢复 / class {category.code} {category.name} "
            f"is switched off: its {len(below)} enabled subclasses ({listed_en}) are no longer offered for new "
            "reports (class disabled); their own 启用 flags are kept and apply again when the class is switched on")


# --- routing rules ------------------------------------------------------------------------------------------


def _check_rule(rule: RoutingRule, *, keep_department_id: int | None = None) -> None:
    rule.region_code = normalise_code(rule.region_code)  # full-width digits typed or pasted
    region_prefixes(rule.region_code)  # format
    if not Region.objects.filter(code=rule.region_code).exists():
        raise ValidationFailed(f"区域 {rule.region_code} 不存在 / unknown region", field="region_code")
    if rule.department_id is None:
        raise ValidationFailed("请选择处置部门 / a department is required", field="department")
    check_department(rule.department, keep_id=keep_department_id)
    if rule.kind not in RuleKind.values:
        raise ValidationFailed(f"未知的规则类型：「{rule.kind}」 / unknown rule kind: {rule.kind}", field="kind")
    if not isinstance(rule.priority, int) or not -1000 <= rule.priority <= 1000:
        raise ValidationFailed("优先级须为 -1000 到 1000 的整数 / priority must be an integer in -1000..1000",
                               field="priority")
    rule.note = _text(rule.note, "note", 200)


def _refuse_duplicate(rule: RoutingRule) -> None:
    duplicate = same_place_rules(rule).filter(priority=rule.priority).order_by("id").first()
    if duplicate is not None:
        # Two rules alike in everything routing compares would be decided silently by the newer id.
        raise ValidationFailed(
            f"已有相同的规则 #{duplicate.pk}（同分类、同区域、同类型、同优先级，派往 {duplicate.department}）：请修改该规则"
            f" / an identical rule #{duplicate.pk} exists (same category, region, kind and priority): edit that one",
            field="priority")


def same_place_rules(rule: RoutingRule):
    """Other rules of the same category, region and kind as `rule`: only priority (then the newest id) decides
    between them, so a rule list and a save point them out."""
    others = RoutingRule.objects.filter(category_id=rule.category_id, region_code=rule.region_code, kind=rule.kind)
    return others.exclude(pk=rule.pk) if rule.pk else others


@transaction.atomic
def create_rule(*, actor, category: Category | None, region_code: str, department: Organisation,
                kind: str = RuleKind.ROUTING, priority: int = 0, note: str = "", is_active: bool = True) -> RoutingRule:
    """A new rule: cases of `category` (None: any) in the subtree of `region_code` go to `department`."""
    require_manager(actor)
    rule = RoutingRule(category=category, region_code=normalise_code(region_code), department=department, kind=kind,
                       priority=priority, note=note, is_active=is_active)
    _check_rule(rule)
    _refuse_duplicate(rule)
    ledger = _check_ledger_rule(rule)
    rule.save()
    record(actor=actor, action=verbs.Data.CREATED, target=rule, after=snapshot(rule))
    publish(TOPIC_RULE_CHANGED, aggregate=rule, payload={"change": "created"})
    if ledger:
        assign_patron(actor=actor, street_code=rule.region_code, kind=ledger, department=rule.department)
    return rule


@transaction.atomic
def update_rule(*, actor, rule: RoutingRule, **changes) -> RoutingRule:
    """Change a rule (audited with before/after); no change, no record."""
    require_manager(actor)
    unknown = set(changes) - set(RULE_FIELDS)
    if unknown:
        raise ValidationFailed(f"不能修改的字段：{'、'.join(sorted(unknown))} / fields that cannot be changed")
    current = RoutingRule.objects.select_for_update().get(pk=rule.pk)
    before = snapshot(current)
    stored_department = current.department_id
    was_ledger = ledger_kind(current)
    for name, value in changes.items():
        setattr(current, name, value)
    _check_rule(current, keep_department_id=stored_department)
    moved = any(before[key] != snapshot(current)[key] for key in ("category", "region_code", "kind"))
    if moved or before["priority"] != current.priority:
        _refuse_duplicate(current)  # only a change of place or priority can make one (old duplicates stay editable)
    if moved and (was_ledger or ledger_kind(current)):
        raise ValidationFailed(
            "包保规则是街道的包保关系：分类、区域和类型不能改，换包保部门请改处置部门 / a 包保 rule is the street's patron "
            "assignment: its category, region and kind stay; change its department to change the patron",
            field="region_code" if before["region_code"] != current.region_code else "kind")
    ledger = _check_ledger_rule(current, creating=False)
    if {k: v for k, v in snapshot(current).items() if k != "updated_at"} != {
            k: v for k, v in before.items() if k != "updated_at"}:
        current.save()
        record(actor=actor, action=verbs.Data.CHANGED, target=current, before=before, after=snapshot(current))
        publish(TOPIC_RULE_CHANGED, aggregate=current, payload={"change": "changed"})
    if ledger:
        # The ledger and the street's other 包保 rules follow, even when the rule itself did not change (a save
        # makes the two agree again); no change there, no record.
        assign_patron(actor=actor, street_code=current.region_code, kind=ledger, department=current.department)
    return current


@transaction.atomic
def delete_rule(*, actor, rule: RoutingRule) -> None:
    """Remove a rule (audited with what it was)."""
    require_manager(actor)
    current = RoutingRule.objects.select_for_update().get(pk=rule.pk)
    if ledger_kind(current) and not same_place_rules(current).exists():
        raise ValidationFailed(
            "这条包保规则是该街道的包保关系，不能删除：换包保部门请改处置部门 / this 包保 rule is the street's patron "
            "assignment and cannot be deleted: change its department to change the patron")
    before = snapshot(current)
    record(actor=actor, action=verbs.Data.DELETED, target=current, before=before)
    publish(TOPIC_RULE_CHANGED, aggregate=current, payload={"change": "deleted", "id": current.pk})
    current.delete()


def ledger_kind(rule: RoutingRule) -> str | None:
    """The 包保 kind (`PATRON_LEDGER`) whose assignment `rule` carries to routing, or None: a 包保 rule of a
    listed class on a street. Its subclasses, and places above or below a street, keep rules of their own."""
    if rule.kind != RuleKind.PATRON or rule.category_id is None or len(rule.region_code) != STREET_CODE_LENGTH:
        return None
    category = Category.objects.select_related("taxonomy").get(pk=rule.category_id)
    key = (category.taxonomy.code, category.kind, category.code)
    return next((kind for kind, classes in PATRON_LEDGER.items() if key in classes), None)


def ledger_classes() -> dict[int, str]:
    """The classes whose 包保 rules carry a 包保 assignment, as {category id: kind}: with `is_ledger_rule`, what
    a rule list marks without a query per rule."""
    return {category.pk: kind for kind in PATRON_LEDGER for category in ledger_categories(kind)}


def is_ledger_rule(rule: RoutingRule, classes: dict[int, str]) -> str | None:
    """`ledger_kind` of `rule` from `ledger_classes()` (no query)."""
    if rule.kind != RuleKind.PATRON or len(rule.region_code) != STREET_CODE_LENGTH:
        return None
    return classes.get(rule.category_id)


def _check_ledger_rule(rule: RoutingRule, *, creating: bool = True) -> str | None:
    """For a rule that carries a 包保 assignment: its kind, once the rule is one the ledger can follow (on a
    enabled, the only one of its class on the street); None for any other rule."""
    kind = ledger_kind(rule)
    if kind is None:
        return None
    if not rule.is_active:
        raise ValidationFailed("包保规则不能停用：它是街道的包保关系，换包保部门请改处置部门 / a 包保 rule cannot be "
                               "switched off: it is the street's patron assignment; change its department instead",
                               field="is_active")
    other = same_place_rules(rule).order_by("id").first() if creating else None
    if other is not None:
        raise ValidationFailed(f"该街道已有包保规则 #{other.pk}（派往 {other.department}）：请修改该规则 / the street "
                               f"already has 包保 rule #{other.pk}: edit that one", field="region_code")
    return kind


def ledger_categories(kind: str) -> list[Category]:
    """The classes whose 包保 rules carry the assignments of `kind` (those loaded so far)."""
    found = []
    for taxonomy, category_kind, code in PATRON_LEDGER.get(kind, ()):
        category = Category.objects.filter(taxonomy__code=taxonomy, kind=category_kind, code=code).first()
        if category is not None:
            found.append(category)
    return found


@transaction.atomic
def assign_patron(*, actor, street_code: str, kind: str, department: Organisation, note: str = ""):
    """Make `department` the 包保 department of a street for `kind` (hazards.PatronKind): the ledger row
    (`hazards.PatronAssignment`, which flood tasks, hazards, materials and rescue read) and, for the kinds in
    `PATRON_LEDGER`, every 包保 rule of the listed classes on that street (created if missing, enabled, sent to
    `department`), so routing agrees. Each changed row is audited with before/after; no change, no record."""
    from civicgrid.apps.hazards.models import PatronAssignment
    from civicgrid.apps.hazards.services.patrons import record_assignment

    require_manager(actor)
    note = _text(note, "note", 200)
    street = Region.objects.filter(code=normalise_code(street_code), level=Level.STREET).first()
    if street is None:
        raise ValidationFailed(f"街道 {street_code} 不存在 / unknown street", field="region_code")
    stored = (PatronAssignment.objects.filter(street=street, kind=kind).values_list("department_id", flat=True)
              .first())
    check_department(department, keep_id=stored)
    assignment = record_assignment(actor=actor, street=street, kind=kind, department=department, note=note)
    label = department.short_name or department.name
    for category in ledger_categories(kind):
        rules = list(RoutingRule.objects.select_for_update()
                     .filter(kind=RuleKind.PATRON, category=category, region_code=street.code).order_by("id"))
        if not rules:
            rule = RoutingRule.objects.create(category=category, region_code=street.code, department=department,
                                              kind=RuleKind.PATRON,
                                              note=(note or f"{PATRON_NOTE[kind]}：{label}包保{street.name}")[:200])
            record(actor=actor, action=verbs.Data.CREATED, target=rule, after=snapshot(rule))
            publish(TOPIC_RULE_CHANGED, aggregate=rule, payload={"change": "created"})
        for rule in rules:
            if rule.department_id == department.pk and rule.is_active:
                continue
            before = snapshot(rule)
            rule.department, rule.is_active = department, True
            rule.save(update_fields=["department", "is_active", "updated_at"])
            record(actor=actor, action=verbs.Data.CHANGED, target=rule, before=before, after=snapshot(rule))
            publish(TOPIC_RULE_CHANGED, aggregate=rule, payload={"change": "changed"})
    return assignment


@transaction.atomic
def correct_rule(*, actor, category: Category | None, region_code: str, department: Organisation,
                 note: str = "", reference: str = "", at_dispatch: bool = False) -> RoutingRule:
    """Fix routing: from now on cases of `category` in `region_code` go to `department`. Updates the routing
    rule for exactly that category and region, or creates one; audited with before/after and the `reference`
    (e.g. the case number) as `categories.rule_corrected` (from a 退回's proposal) or, with `at_dispatch`, as
    `categories.rule_corrected_at_dispatch` (a dispatcher's own override, no 退回 behind it).

    `note` is the rule's 说明, written only when given: a correction never takes a case step's note (which may
    name residents and phone numbers) for the rule's, and an existing rule keeps the administrator's note."""
    require_manager(actor)
    note = _text(note, "note", 200)
    reference = _text(reference, "reference", 64)
    region_code = normalise_code(region_code)
    existing = (RoutingRule.objects.select_for_update()
                .filter(category=category, region_code=region_code, kind=RuleKind.ROUTING)
                .order_by("-is_active", "-priority", "-id").first())
    if existing is None:
        rule = RoutingRule(category=category, region_code=region_code, department=department,
                           note=note or ("派遣时更正" if at_dispatch else "由退回更正"))
        _check_rule(rule)
        rule.save()
        before = None
    else:
        before = snapshot(existing)
        rule = existing
        rule.department, rule.is_active = department, True
        if note:
            rule.note = note
        _check_rule(rule)
        rule.save()
    record(actor=actor, action=RULE_CORRECTED_AT_DISPATCH if at_dispatch else RULE_CORRECTED, target=rule,
           before=before, after=snapshot(rule), data={"reference": reference} if reference else None)
    publish(TOPIC_RULE_CHANGED, aggregate=rule, payload={"change": "corrected", "reference": reference})
    return rule
