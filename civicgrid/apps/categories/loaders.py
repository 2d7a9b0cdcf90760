"""Load the category directories and the default routing data, idempotently.

* `load_gbt47678()`: taxonomy `gbt47678_5_2026` from the standard's directory (`civicgrid/data/
  gb47678_5_2026_directory.csv`: 153 components and 250 matters as transcribed; a few codes are absent in
  the transcription, see `civicgrid/data/SOURCES.md`), with classes named from its `major_name` column and
  default local rules from `data/gbt47678_defaults.csv` (by class, by a word in the name, by code);
  and the English names of the classes from `data/gbt47678_class_names_en.csv` and of the subclasses from
  `data/gbt47678_subclass_names_en.csv` (each only beside the Chinese name it translates);
* `load_social_types()`: taxonomy `social`, the social-governance event types of `data/social_types.csv`;
* `load_baobao()`: the flood-season 包保 table (`civicgrid/data/baobao_flood.csv`) as 包保 assignments: the
  hazards ledger and the patron routing rules on the 防汛应急 class of each street, through
  `services.assign_patron`.

Re-running changes nothing an administrator has touched: missing categories and rules are created; existing
categories that no administrator has edited get only their empty fields filled. Each run that changes
something leaves one summary audit record.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from django.db import transaction

from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.service import record
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.events.bus import publish
from civicgrid.foundation.orgs.models import Organisation, OrgKind
from civicgrid.foundation.regions.models import Region

from .models import Category, CategoryKind, RoutingRule, RuleKind, Taxonomy
from .selectors import organisations_by_name
from .services import PATRON_LEDGER, assign_patron, check_limit, ledger_categories, require_manager

PROJECT_DATA = Path(__file__).resolve().parents[2] / "data"
APP_DATA = Path(__file__).resolve().parent / "data"
GBT_CSV = PROJECT_DATA / "gb47678_5_2026_directory.csv"
GBT_DEFAULTS_CSV = APP_DATA / "gbt47678_defaults.csv"
GBT_CLASS_NAMES_EN_CSV = APP_DATA / "gbt47678_class_names_en.csv"
GBT_SUBCLASS_NAMES_EN_CSV = APP_DATA / "gbt47678_subclass_names_en.csv"
SOCIAL_CSV = APP_DATA / "social_types.csv"
BAOBAO_CSV = PROJECT_DATA / "baobao_flood.csv"

GBT = "gbt47678_5_2026"
SOCIAL = "social"
TAXONOMIES = {
    GBT: ("GB/T 47678.5-2026 城市管理部件和事项", "GB/T 47678.5-2026（第三方转录目录，个别编码缺失）"),
    SOCIAL: ("社会治理事件类型", "本地分类（无国家编码表），区里可按需调整"),
}
KIND_OF = {"管理部件": CategoryKind.COMPONENT, "管理事项": CategoryKind.MATTER}
FLOOD = "flood"  # the 包保 table's kind (hazards.PatronKind.FLOOD)
_FILLABLE = ("name_en", "acceptance_condition", "closure_condition", "responsible_body", "keywords")


@dataclass(frozen=True)
class Spec:
    """One category as a loader wants it; empty text means "nothing to say"."""

    kind: str
    code: str
    name: str
    parent_code: str = ""
    name_en: str = ""
    amount: str = ""
    unit: str = ""
    responsible_body: str = ""
    department: str = ""
    public: str = ""
    feed: str = ""  # 公开到开放接口 (Open311); empty: as `public`
    keywords: str = ""
    acceptance: str = ""
    closure: str = ""


@dataclass
class LoadResult:
    """What a load did."""

    created: int = 0
    filled: int = 0  # existing, unedited categories (or rules) that got missing values
    unchanged: int = 0
    missing_departments: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.filled)

    def __str__(self) -> str:
        if not self.changed:
            return "已存在，未改动"
        text = f"新建 {self.created} 个，补充 {self.filled} 个"
        if self.missing_departments:
            text += f"（未找到部门：{'、'.join(self.missing_departments)}）"
        return text


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def _merge(base: Spec, row: dict[str, str]) -> Spec:
    """`base` with the non-empty values of a defaults row laid over it."""
    names = {"amount": "amount", "unit": "unit", "responsible_body": "responsible_body",
             "department": "department", "public": "public", "feed": "feed", "acceptance": "acceptance",
             "closure": "closure"}
    values = {attr: row[col] for col, attr in names.items() if row.get(col)}
    if row.get("keywords"):
        values["keywords"] = ";".join(x for x in (base.keywords, row["keywords"]) if x)
    return replace(base, **values)


def _keywords(*parts: str) -> str:
    """Comma-separated search words (Open311 `keywords`), unique, in order, within the 300-character field."""
    words: list[str] = []
    for part in parts:
        for word in re.split(r"[;；,，、（）()/\s]+", part or ""):
            word = word.removesuffix("异常").removesuffix("类").strip()
            if len(word) >= 2 and word not in words:
                words.append(word)
    text = ""
    for word in words:
        if len(text) + len(word) + 1 > 300:
            break
        text = f"{text},{word}" if text else word
    return text


def gbt_subclass_names_en(path: Path = GBT_SUBCLASS_NAMES_EN_CSV) -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, code) → (the Chinese name translated, its English name) for the GB/T 47678.5 subclasses."""
    return {(KIND_OF[row["kind"]], row["code"]): (row["name"], row["name_en"]) for row in _read(path)}


def gbt_specs(directory: Path = GBT_CSV, defaults: Path = GBT_DEFAULTS_CSV,
              names_en: Path = GBT_CLASS_NAMES_EN_CSV,
              subclass_names_en: Path = GBT_SUBCLASS_NAMES_EN_CSV) -> list[Spec]:
    """Classes and subclasses of GB/T 47678.5-2026 with their default local rules, in directory order."""
    rules = _read(defaults)
    # By the Chinese class name, so that a renamed class in another transcription gets no stale English.
    english = {row["major_name"]: row["name_en"] for row in _read(names_en)}
    # By kind and code, given only where the directory names the subclass as the translation read it.
    sub_english = gbt_subclass_names_en(subclass_names_en)

    def applies(row: dict[str, str], kind: str) -> bool:
        return not row["kind"] or row["kind"] == kind

    specs: list[Spec] = []
    classes: dict[tuple[str, str], Spec] = {}
    for row in _read(directory):
        kind = KIND_OF[row["kind"]]
        major, code, name = row["major_code"], row["code"], row["name"]
        key = (kind, major)
        if key not in classes:
            spec = Spec(kind, major, row["major_name"], name_en=english.get(row["major_name"], ""))
            for rule in rules:
                if rule["match"] == "all" and applies(rule, kind):
                    spec = _merge(spec, rule)
            for rule in rules:
                if rule["match"] == f"class:{major}" and applies(rule, kind):
                    spec = _merge(spec, rule)
            spec = replace(spec, keywords=_keywords(spec.name, spec.keywords))
            classes[key] = spec
            specs.append(spec)
        translated, name_en = sub_english.get((kind, code), ("", ""))
        spec = replace(classes[key], code=code, name=name, name_en=name_en if translated == name else "",
                       parent_code=major, keywords="")
        by_name = next((r for r in rules if r["match"].startswith("name:") and r["match"][5:] in name
                        and applies(r, kind)), None)
        if by_name:
            spec = _merge(spec, by_name)
        for rule in rules:
            if rule["match"] == f"code:{code}" and applies(rule, kind):
                spec = _merge(spec, rule)
        specs.append(replace(spec, keywords=_keywords(name, spec.keywords, classes[key].name)))
    return specs


def social_specs(path: Path = SOCIAL_CSV) -> list[Spec]:
    """The social-governance types: each subtype inherits what it leaves empty from its type."""
    specs: dict[str, Spec] = {}
    for row in _read(path):
        parent = specs.get(row["parent"])
        base = replace(parent, keywords="", parent_code=row["parent"]) if parent else Spec(CategoryKind.EVENT, "", "")
        spec = _merge(replace(base, code=row["code"], name=row["name"], name_en=row.get("name_en", "")), row)
        words = [row["name"], row.get("keywords", "")] + ([parent.name] if parent else [])
        specs[row["code"]] = replace(spec, keywords=_keywords(*words))
    return list(specs.values())


def _ensure_taxonomy(code: str) -> Taxonomy:
    name, source = TAXONOMIES[code]
    taxonomy, _ = Taxonomy.objects.get_or_create(code=code, defaults={"name": name, "source": source})
    return taxonomy


def _bool(text: str, default: bool) -> bool:
    return {"是": True, "否": False}.get(text, default)


@transaction.atomic
def apply_specs(*, actor, taxonomy: Taxonomy, specs: list[Spec]) -> LoadResult:
    """Create the missing categories; fill empty fields of existing, unedited ones; leave the rest alone."""
    require_manager(actor)
    result = LoadResult()
    spec_of = {(s.kind, s.code): s for s in specs}
    departments = organisations_by_name(s.department for s in specs)
    result.missing_departments = sorted(name for name, org in departments.items() if org is None)
    existing = {(c.kind, c.code): c for c in Category.objects.filter(taxonomy=taxonomy)}
    new: list[Category] = []
    filled: list[Category] = []
    orphans: list[Category] = []  # unedited subclasses whose parent is missing (fixed once classes exist)
    for sort, spec in enumerate(specs, start=1):
        department = departments.get(spec.department)
        current = existing.get((spec.kind, spec.code))
        if current is None:
            amount, unit = check_limit(spec.amount or "3", spec.unit or "working_days")
            current = Category(
                taxonomy=taxonomy, kind=spec.kind, code=spec.code, name=spec.name, name_en=spec.name_en, sort=sort,
                acceptance_condition=spec.acceptance, closure_condition=spec.closure, time_limit_amount=amount,
                time_limit_mode=unit, responsible_body=spec.responsible_body[:100], default_department=department,
                keywords=spec.keywords, is_public=_bool(spec.public, False),
                in_public_feed=_bool(spec.feed, _bool(spec.public, False)),
            )
            existing[(spec.kind, spec.code)] = current
            new.append(current)
            continue
        if current.edited_at is not None:
            result.unchanged += 1
            continue
        # The English name only beside the Chinese name it translates (a class renamed in the meantime keeps none).
        wanted = {"name_en": spec.name_en if current.name == spec.name else "",
                  "acceptance_condition": spec.acceptance, "closure_condition": spec.closure,
                  "responsible_body": spec.responsible_body[:100], "keywords": spec.keywords}
        fills = {f: wanted[f] for f in _FILLABLE if not getattr(current, f) and wanted[f]}
        if current.default_department_id is None and department is not None:
            fills["default_department"] = department
        for name, value in fills.items():
            setattr(current, name, value)
        if spec.parent_code and current.parent_id is None:
            orphans.append(current)
        if fills or (spec.parent_code and current.parent_id is None):
            filled.append(current)
        else:
            result.unchanged += 1
    # Classes first, so that the subclasses created next (and orphans) can point at them.
    Category.objects.bulk_create([c for c in new if not spec_of[(c.kind, c.code)].parent_code], batch_size=500)
    subclasses = [c for c in new if spec_of[(c.kind, c.code)].parent_code]
    for category in subclasses + orphans:
        category.parent = existing[(category.kind, spec_of[(category.kind, category.code)].parent_code)]
    Category.objects.bulk_create(subclasses, batch_size=500)
    if filled:
        Category.objects.bulk_update(filled, [*_FILLABLE, "default_department", "parent"], batch_size=500)
    result.created, result.filled = len(new), len(filled)
    if result.changed:
        record(actor=actor, action=verbs.Data.IMPORTED, target_type="categories.category",
               target_repr=f"{taxonomy.name}：{result}", data={"taxonomy": taxonomy.code, "created": result.created,
                                                               "filled": result.filled})
        publish("categories.loaded", payload={"taxonomy": taxonomy.code, "created": result.created,
                                              "filled": result.filled})
    return result


def load_gbt47678(*, actor=None) -> LoadResult:
    """Taxonomy `gbt47678_5_2026`: the standard's classes and subclasses with default local rules."""
    require_manager(actor)
    with transaction.atomic():
        return apply_specs(actor=actor, taxonomy=_ensure_taxonomy(GBT), specs=gbt_specs())


def load_social_types(*, actor=None) -> LoadResult:
    """Taxonomy `social`: 矛盾纠纷, 治安隐患, 安全隐患, 民生服务, 特殊人群, 公共卫生, 防汛应急, 其他 and subtypes."""
    require_manager(actor)
    with transaction.atomic():
        return apply_specs(actor=actor, taxonomy=_ensure_taxonomy(SOCIAL), specs=social_specs())


def _department_code(district: str, name: str) -> str:
    # Stable, so that a department created here is found again by code on the next run.
    return f"{district}-BB{hashlib.sha1(name.encode()).hexdigest()[:6].upper()}"


def _departments(names: list[str], district: str) -> dict[str, Organisation]:
    """The departments of the 包保 table by the names used there; those missing are created (audited)."""
    from civicgrid.foundation.orgs.services import OrgSpec, ensure_organisations

    found = organisations_by_name(names)
    missing = [name for name, org in found.items() if org is None]
    if missing:
        if not Region.objects.filter(code=district).exists():
            raise ValidationFailed(f"区 {district} 不存在：请先加载区域 / load the region tree first")
        ensure_organisations(actor=None, specs=[
            OrgSpec(_department_code(district, name), name, OrgKind.DEPARTMENT, district, short_name=name[:32])
            for name in missing
        ])
        found.update(organisations_by_name(missing))
    return {name: org for name, org in found.items() if org is not None}


@transaction.atomic
def load_baobao(*, actor=None, path: Path = BAOBAO_CSV) -> LoadResult:
    """The 包保 table as flood 包保 assignments (`services.assign_patron`: the hazards ledger and the 包保 rules
    of the flood classes of `services.PATRON_LEDGER` on each street, together). A street already assigned, in
    the ledger or by a rule, keeps its department; the other side is completed to agree with it."""
    from civicgrid.apps.hazards.models import PatronAssignment

    require_manager(actor)
    rows = [r for r in _read(path) if r.get("street_code") and r.get("department")]
    streets = {r["street_code"] for r in rows}
    known = set(Region.objects.filter(code__in=streets).values_list("code", flat=True))
    if streets - known:
        raise ValidationFailed(f"包保表中的街道不存在：{'、'.join(sorted(streets - known))} / unknown streets")
    targets = ledger_categories(FLOOD)
    if len(targets) != len(PATRON_LEDGER[FLOOD]):
        raise ValidationFailed("防汛应急分类不存在：请先加载分类 / load the categories first")
    departments = _departments(sorted({r["department"] for r in rows}), rows[0]["street_code"][:6] if rows else "")
    ledger = dict(PatronAssignment.objects.filter(kind=FLOOD, street_code__in=streets)
                  .values_list("street_code", "department_id"))
    patron_rules = RoutingRule.objects.filter(kind=RuleKind.PATRON, category__in=targets, region_code__in=streets)
    ruled = {}  # street → the department its 包保 rule routes to (the one routing picks)
    for code, department_id in (patron_rules.order_by("-is_active", "-priority", "-id")
                                .values_list("region_code", "department_id")):
        ruled.setdefault(code, department_id)
    complete = {code for code in ledger if {(c.pk, code) for c in targets} <= set(
        patron_rules.values_list("category_id", "region_code"))}
    rules_before = patron_rules.count()
    for row in rows:
        code = row["street_code"]
        if code in complete:
            continue
        kept = ruled.get(code) or ledger.get(code)
        department = Organisation.objects.get(pk=kept) if kept else departments[row["department"]]
        assign_patron(actor=actor, street_code=code, kind=FLOOD, department=department,
                      note=f"汛期包保：{row['department']}包保{row.get('street_name', '')}" if not kept else "")
        complete.add(code)
    created = patron_rules.count() - rules_before
    result = LoadResult(created=created, unchanged=len(rows) * len(targets) - created)
    if created:
        record(actor=actor, action=verbs.Data.IMPORTED, target_type="categories.routingrule",
               target_repr=f"汛期包保规则 {created} 条", data={"created": created})
        publish("categories.rules_loaded", payload={"created": created, "kind": RuleKind.PATRON})
    return result


def load_all(*, actor=None, baobao: bool = True) -> dict[str, LoadResult]:
    """Both taxonomies and (optionally) the 包保 rules, in the order they depend on each other."""
    results = {"gbt47678": load_gbt47678(actor=actor), "social": load_social_types(actor=actor)}
    if baobao:
        results["baobao"] = load_baobao(actor=actor)
    return results

