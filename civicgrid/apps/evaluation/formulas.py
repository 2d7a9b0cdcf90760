"""综合评价: the rates, count bands, composite scores and grades of DOMAIN.md §4, as pure functions.

Everything is exact: rates are `Fraction`s and weights are parsed from decimal strings, so a score of exactly 90
is an A and never 89.99999999999999 (band and grade edges are tested one by one). Floats appear only at the
edge, when a figure is shown or returned as JSON (`as_percent`, `as_score`).

The counts the rates divide (what 应结案数, 处置数 … mean in terms of case fields) are defined in
`selectors.COUNTS`; here a rate is only numerator / denominator.

A rate whose denominator is 0 is *not applicable* (None): there was nothing to measure. In a composite score
the weights of the terms that are not applicable are spread over the others (the weights are re-normalised).

A score needs at least one applicable term that measures the subject's *own work* in the period (`own_work`).
Count bands (how much came the subject's way) and a 监督员's grid terms (漏报率, 按时核实率, 按时核查率: the
figures of the grids they are granted, shared with the grid's other workers) are context: alone they make no
score (None), and a subject without a score is not graded or ranked (`unscored_reason` says why). Otherwise a
department with no cases would rank first with the 100 points its empty 立案数 band gives, and a grid worker
who reported nothing would rank first on the figures of their grid, with 有效上报率's 40 % spread over them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_noop

HUNDRED = Fraction(100)


@dataclass(frozen=True)
class RateDef:
    """One rate: its Chinese name and the counts it divides. `minus` is subtracted from the numerator
    (准确派遣率 = (派遣数 − 返工数) / 应派遣数, 准确立案率 = (立案数 − 作废数) / 立案数)."""

    key: str
    label: str
    numerator: str
    denominator: str
    minus: str | None = None


RATES: dict[str, RateDef] = {r.key: r for r in (
    RateDef("closure_rate", gettext_noop("结案率"), "closed", "due_close"),
    RateDef("timely_closure_rate", gettext_noop("按期结案率"), "closed_timely", "due_close"),
    RateDef("handling_rate", gettext_noop("处置率"), "handled", "due_handle"),
    RateDef("timely_handling_rate", gettext_noop("按期处置率"), "handled_timely", "due_handle"),
    RateDef("rework_rate", gettext_noop("返工率"), "reworked", "handled"),
    # Per dispatch: 派遣数 is the dispatcher's 派遣次数, each one it was due to make; 应派遣数 (应派遣次数) adds the
    # 派遣 still owed for each case it answers for that waited for one past the dispatch clock at the period's
    # end (DOMAIN.md §4 divides by 应派遣数, not 派遣数: a case left undispatched counts against it).
    RateDef("accurate_dispatch_rate", gettext_noop("准确派遣率"), "dispatch_acts", "due_dispatch_acts",
            minus="dispatch_rework"),
    # 按时派遣数 / 应派遣数, as §4's other 按时/按期 rates divide by their 应…数: the cases dispatched, and those
    # still waiting for their 派遣 past the dispatch clock (never dispatched in time).
    RateDef("timely_dispatch_rate", gettext_noop("按时派遣率"), "dispatched_timely", "due_dispatch"),
    RateDef("timely_accept_rate", gettext_noop("按时立案率"), "accepted_timely", "accepted"),
    RateDef("accurate_accept_rate", gettext_noop("准确立案率"), "accepted", "accepted", minus="voided"),
    RateDef("valid_report_rate", gettext_noop("有效上报率"), "valid_reports", "reports"),
    RateDef("missed_report_rate", gettext_noop("漏报率"), "public_accepted", "accepted"),
    RateDef("timely_check_rate", gettext_noop("按时核实率"), "checked_timely", "checked"),
    RateDef("timely_verify_rate", gettext_noop("按时核查率"), "verified_timely", "verified"),
    RateDef("timely_check_dispatch_rate", gettext_noop("核实按时派发率"), "check_sent_timely", "check_sent"),
    RateDef("timely_verify_dispatch_rate", gettext_noop("核查按时派发率"), "verify_sent_timely", "verify_sent"),
    RateDef("timely_close_step_rate", gettext_noop("按时结案率"), "close_step_timely", "closed"),
)}


def rate(numerator: int, denominator: int, minus: int = 0) -> Fraction | None:
    """(numerator − minus) / denominator, exactly; None when the denominator is 0 (nothing to measure)."""
    if not denominator:
        return None
    return Fraction(numerator - minus, denominator)


def rates_of(counts: Mapping[str, int], keys) -> dict[str, Fraction | None]:
    """The named rates from a subject's counts."""
    out = {}
    for key in keys:
        d = RATES[key]
        out[key] = rate(counts.get(d.numerator, 0), counts.get(d.denominator, 0),
                        counts.get(d.minus, 0) if d.minus else 0)
    return out


# ------------------------------------------------------------------------------------------- count bands

def department_count_score(n: int) -> int:
    """立案数分值 of a 专业部门: 0–50 → 100, 51–100 → 90, 101–200 → 75, 201–500 → 60, 501–1000 → 40,
    more → 0 (fewer cases in its charge scores higher)."""
    for upper, score in ((50, 100), (100, 90), (200, 75), (500, 60), (1000, 40)):
        if n <= upper:
            return score
    return 0


def staff_count_score(n: int) -> int:
    """派遣数分值 / 受理数分值 of a 派遣员 or 受理员: more than 2000 → 100, 1201–2000 → 90, 501–1200 → 75,
    301–500 → 60, 101–300 → 40, 100 or fewer → 0 (more work done scores higher).

    The bands are the deployed systems' monthly ones and are applied to the period's count as it is; compare
    count scores of periods other than a calendar month with that in mind."""
    for lower, score in ((2000, 100), (1200, 90), (500, 75), (300, 60), (100, 40)):
        if n > lower:
            return score
    return 0


BANDS = {"department": department_count_score, "staff": staff_count_score}


# ------------------------------------------------------------------------------------------- composites

@dataclass(frozen=True)
class Term:
    """One term of a composite: a rate (×100), its complement (1 − rate, ×100) or a count band."""

    key: str  # "closure_rate", "1-rework_rate" or "band:accepted"
    weight: Fraction

    @property
    def kind(self) -> str:
        if self.key.startswith("band:"):
            return "band"
        return "complement" if self.key.startswith("1-") else "rate"

    @property
    def source(self) -> str:
        """The rate key, or the count a band reads."""
        return self.key.split(":", 1)[1] if self.kind == "band" else self.key.removeprefix("1-")

    @property
    def label(self) -> str:
        return self.display()

    def display(self, translate=str, kind: str = "") -> str:
        """The term's name (Chinese; `translate`, e.g. `gettext`, gives it in the active language); a band is
        named by the count it scores as the `kind`'s table names it (受理员: 受理数分值, DOMAIN.md §4)."""
        if self.kind == "band":
            count = translate(count_label(kind, self.source))
            return translate(gettext_noop("%(count)s分值")) % {"count": count}
        name = translate(RATES[self.source].label)
        return translate(gettext_noop("(1−%(rate)s)")) % {"rate": name} if self.kind == "complement" else name


# Labels of the counts (Chinese, as the tables and the xlsx headers show them).
COUNT_LABELS = {
    "reports": gettext_noop("上报数"), "valid_reports": gettext_noop("有效上报数"), "accepted": gettext_noop("立案数"), "accepted_timely": gettext_noop("按时立案数"),
    "voided": gettext_noop("作废数"), "public_accepted": gettext_noop("公众举报立案数"), "due_dispatch": gettext_noop("应派遣数"),
    "dispatched": gettext_noop("派遣数"), "dispatched_timely": gettext_noop("按时派遣数"),
    "due_dispatch_acts": gettext_noop("应派遣次数"), "dispatch_acts": gettext_noop("派遣次数"),
    "dispatch_rework": gettext_noop("派遣返工数"), "due_handle": gettext_noop("应处置数"),
    "handled": gettext_noop("处置数"), "handled_timely": gettext_noop("按期处置数"), "reworked": gettext_noop("返工数"), "due_close": gettext_noop("应结案数"),
    "closed": gettext_noop("结案数"), "closed_timely": gettext_noop("按期结案数"), "close_step_timely": gettext_noop("按时结案数"), "checked": gettext_noop("核实数"),
    "checked_timely": gettext_noop("按时核实数"), "verified": gettext_noop("核查数"), "verified_timely": gettext_noop("按时核查数"),
    "check_sent": gettext_noop("核实派发数"), "check_sent_timely": gettext_noop("核实按时派发数"), "verify_sent": gettext_noop("核查派发数"),
    "verify_sent_timely": gettext_noop("核查按时派发数"),
}


# What a count is of one subject kind, where the count's own label would say something else (`count_label`):
# a region's 立案数 and 公众举报立案数 are the cases filed in its grids, whoever filed them; a 监督员's table holds
# their own reports beside the figures of the grids they are granted (漏报率, 按时核实率, 按时核查率); a 受理员's
# 立案数 is the cases they accepted, which DOMAIN.md §4 calls 受理数 (受理数分值).
_GRIDS_CASES = {"accepted": gettext_noop("所辖网格立案数"), "public_accepted": gettext_noop("所辖网格公众举报立案数")}
SUBJECT_COUNT_LABELS: dict[str, dict[str, str]] = {
    "grid": _GRIDS_CASES,
    "community": _GRIDS_CASES,
    "street": _GRIDS_CASES,
    "grid_worker": {**_GRIDS_CASES,
                    "reports": gettext_noop("本人上报数"), "valid_reports": gettext_noop("本人有效上报数"),
                    "checked": gettext_noop("所辖网格核实数"), "checked_timely": gettext_noop("所辖网格按时核实数"),
                    "verified": gettext_noop("所辖网格核查数"), "verified_timely": gettext_noop("所辖网格按时核查数")},
    "intake": {"accepted": gettext_noop("受理数")},
}


def count_label(kind: str, key: str) -> str:
    """The label of count `key` in the tables of subject `kind` (Chinese, marked for translation)."""
    return SUBJECT_COUNT_LABELS.get(kind, {}).get(key) or COUNT_LABELS[key]


def terms(*pairs: tuple[str, str]) -> tuple[Term, ...]:
    """Terms from (key, weight as a decimal string); the weights must add up to exactly 1."""
    out = tuple(Term(key, Fraction(weight)) for key, weight in pairs)
    check_terms(out)
    return out


def check_terms(items: tuple[Term, ...]) -> None:
    """Refuse unknown rates or counts, non-positive weights, and weights that do not add up to 1."""
    if not items:
        raise ImproperlyConfigured("a composite needs at least one term")
    for t in items:
        known = COUNT_LABELS if t.kind == "band" else RATES
        if t.source not in known:
            raise ImproperlyConfigured(f"unknown evaluation term {t.key!r}")
        if t.weight <= 0:
            raise ImproperlyConfigured(f"the weight of {t.key!r} must be positive")
    total = sum(t.weight for t in items)
    if total != 1:
        raise ImproperlyConfigured(f"evaluation weights add up to {float(total):g}, not 1")


# DOMAIN.md §4, exactly. The band of a term names the count it scores and the band table (see BAND_OF).
FORMULAS: dict[str, tuple[Term, ...]] = {
    # 专业部门 = 立案数分值×10% + 结案率×30% + 按期处置率×30% + (1−返工率)×30%
    "department": terms(("band:accepted", "0.1"), ("closure_rate", "0.3"), ("timely_handling_rate", "0.3"),
                        ("1-rework_rate", "0.3")),
    # 监督员 = 有效上报率×40% + (1−漏报率)×20% + 按时核实率×20% + 按时核查率×20%
    "grid_worker": terms(("valid_report_rate", "0.4"), ("1-missed_report_rate", "0.2"),
                         ("timely_check_rate", "0.2"), ("timely_verify_rate", "0.2")),
    # 派遣员 = 派遣数分值×20% + 按时派遣率×40% + 准确派遣率×40%
    "dispatcher": terms(("band:dispatched", "0.2"), ("timely_dispatch_rate", "0.4"),
                        ("accurate_dispatch_rate", "0.4")),
    # 受理员 = 受理数分值×25% + 核实按时派发率×40% + 核查按时派发率×35%
    "intake": terms(("band:accepted", "0.25"), ("timely_check_dispatch_rate", "0.4"),
                    ("timely_verify_dispatch_rate", "0.35")),
    # 值班长 = 按时立案率×25% + 准确立案率×40% + 按时结案率×35%
    "shift_lead": terms(("timely_accept_rate", "0.25"), ("accurate_accept_rate", "0.4"),
                        ("timely_close_step_rate", "0.35")),
}
BAND_OF = {"department": "department", "dispatcher": "staff", "intake": "staff"}
# 受理数 is the count of cases the intake accepted: the band reads `accepted` with the staff table (and the
# tables name it 受理数, `count_label`).

# Region (street, community, grid) weights are *unverified* in DOMAIN.md §4: this is the documented default,
# and `settings.CIVICGRID_EVALUATION_REGION_WEIGHTS` ({term: weight}, adding up to 1) replaces it. It scores
# what a region's own people answer for: cases closed, closed in time, found before the public reports them,
# reports that hold, and on-site checks in time.
DEFAULT_REGION_WEIGHTS: dict[str, str] = {
    "closure_rate": "0.25",
    "timely_closure_rate": "0.25",
    "1-missed_report_rate": "0.2",
    "valid_report_rate": "0.15",
    "timely_verify_rate": "0.15",
}
REGION_KINDS = ("street", "community", "grid")


def region_terms() -> tuple[Term, ...]:
    """The region composite's terms: the setting when given, else the default (checked either way)."""
    configured = getattr(settings, "CIVICGRID_EVALUATION_REGION_WEIGHTS", None) or DEFAULT_REGION_WEIGHTS
    # str() first: a weight written as the float 0.1 must mean one tenth, not 0.1000000000000000055…
    return terms(*((key, str(weight)) for key, weight in dict(configured).items()))


def formula(kind: str) -> tuple[Term, ...]:
    """The terms of a subject kind's composite."""
    return region_terms() if kind in REGION_KINDS else FORMULAS[kind]


def needed_rates(kind: str) -> list[str]:
    """The rates a kind's composite uses (the tables show these)."""
    return list(dict.fromkeys(t.source for t in formula(kind) if t.kind != "band"))


def term_score(t: Term, rates: Mapping[str, Fraction | None], counts: Mapping[str, int], kind: str) -> Fraction | None:
    """One term's score out of 100, or None when its rate is not applicable."""
    if t.kind == "band":
        return Fraction(BANDS[BAND_OF[kind]](counts.get(t.source, 0)))
    value = rates.get(t.source)
    if value is None:
        return None
    return (1 - value) * HUNDRED if t.kind == "complement" else value * HUNDRED


# The terms of a kind that measure what the subject shares with others rather than its own work (see the
# module docstring); count bands are never its own work either.
SHARED_TERMS: dict[str, frozenset[str]] = {
    "grid_worker": frozenset({"1-missed_report_rate", "timely_check_rate", "timely_verify_rate"}),
}
# Why a subject has no score (Chinese, as the data keeps labels; the page translates it). A 监督员's only term of
# their own is 有效上报率, whose denominator is their 上报数.
NO_SCORE = gettext_noop("无数据")
NO_SCORE_REASONS = {"grid_worker": gettext_noop("本期无上报，不参与排名")}


def own_work(t: Term, kind: str) -> bool:
    """Whether the term measures the subject's own work in the period (a rate that is not shared)."""
    return t.kind != "band" and t.key not in SHARED_TERMS.get(kind, ())


def unscored_reason(kind: str) -> str:
    """Why a subject of this kind without a score has none: no term of its own work applied."""
    return NO_SCORE_REASONS.get(kind, NO_SCORE)


def composite(kind: str, counts: Mapping[str, int], rates: Mapping[str, Fraction | None] | None = None, *,
              terms: tuple[Term, ...] | None = None) -> Fraction | None:
    """综合指标值 out of 100: the weighted terms, weights re-normalised over the applicable ones; None when no
    term of the subject's own work applies (`own_work`). `terms` saves reading the formula again for every row
    of a table."""
    items = terms or formula(kind)
    if rates is None:
        rates = rates_of(counts, needed_rates(kind))
    scored = [(t, term_score(t, rates, counts, kind)) for t in items]
    applicable = [(t, s) for t, s in scored if s is not None]
    if not any(own_work(t, kind) for t, _ in applicable):
        return None
    total_weight = sum(t.weight for t, _ in applicable)
    return sum(t.weight * s for t, s in applicable) / total_weight


GRADES = ((90, "A"), (75, "B"), (60, "C"), (40, "D"))


def grade(score: Fraction | Decimal | int | float | None) -> str | None:
    """A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, E below; None without a score."""
    if score is None:
        return None
    for floor, letter in GRADES:
        if score >= floor:
            return letter
    return "E"


# ------------------------------------------------------------------------------------------- presentation

def shown(value: Fraction | None, places: int = 2) -> Fraction | None:
    """A score rounded half up to the places it is shown with, still exact: the tables grade and rank on the
    score as shown, so two rows showing 86.00 share a rank and a grade (85.996 and 86 are both 86.00), and a row
    showing 90.00 is an A."""
    if value is None:
        return None
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return Fraction(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def as_score(value: Fraction | None, places: int = 2) -> float | None:
    """A score rounded half up for display."""
    rounded = shown(value, places)
    return None if rounded is None else float(rounded)


def as_percent(value: Fraction | None, places: int = 2) -> float | None:
    """A rate as a percentage rounded half up (0.98765 → 98.77)."""
    return None if value is None else as_score(value * HUNDRED, places)
