"""The rules that turn readings into signals and signals into response levels, with their defaults.

Signal rule (documented for users on the configuration page): a reading of `window_hours` W and `rain_mm` R meets
a threshold (w, r) when W ≤ w and R ≥ r, i.e. at least r mm fell within w hours. The reading's signal is the
highest signal among the active thresholds it meets; `none` when it meets none. With the defaults (CMA order
No.16) a 3-hour reading of 60 mm meets orange (3 h ≥ 50), yellow (6 h ≥ 50) and blue (12 h ≥ 50): orange.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from .models import (
    LEVEL_RANK,
    FloodSeason,
    Level,
    ResponseRule,
    Signal,
    SignalThreshold,
    TaskTarget,
    TaskTemplate,
    default_season_bounds,
    signal_rank,
)

# CMA order No.16 (气象灾害预警信号发布与传播办法) rainstorm signals.
DEFAULT_THRESHOLDS = [
    (Signal.BLUE, 12, Decimal("50")),
    (Signal.YELLOW, 6, Decimal("50")),
    (Signal.ORANGE, 3, Decimal("50")),
    (Signal.RED, 3, Decimal("100")),
]
DEFAULT_RESPONSE_RULES = [(Signal.BLUE, Level.IV), (Signal.YELLOW, Level.III), (Signal.ORANGE, Level.II),
                          (Signal.RED, Level.I)]
# (level, target, title, description, ack minutes, done hours, lists hazards)
DEFAULT_TEMPLATES = [
    (Level.IV, TaskTarget.STREET, "巡查低洼易涝点", "组织人员巡查辖区低洼易涝点、下穿通道和地下空间，发现积水立即上报。",
     30, 6, True),
    (Level.IV, TaskTarget.DEPARTMENT, "督导包保街道防汛值守", "包保部门联系包保街道，核实值班到岗和隐患点巡查情况。",
     30, 6, False),
    (Level.III, TaskTarget.STREET, "物资前置", "沙袋、挡水板、水泵等防汛物资前置到易涝点，抢险队伍集结待命。",
     30, 4, False),
    (Level.III, TaskTarget.DEPARTMENT, "派员下沉包保街道", "包保部门派员到包保街道，协助物资前置和隐患点值守。",
     30, 4, False),
    (Level.II, TaskTarget.STREET, "地下空间人员撤离", "地下车库、地下商场、下穿通道等地下空间人员撤离并封闭，危旧房屋人员转移。",
     30, 2, False),
    (Level.II, TaskTarget.DEPARTMENT, "包保部门负责人到岗督战", "包保部门负责人到包保街道现场督导转移撤离。",
     30, 2, False),
    (Level.I, TaskTarget.STREET, "全员上岗", "街道全体干部职工上岗，网格员全部到网格，随时报告险情。", 30, 1, False),
    (Level.I, TaskTarget.DEPARTMENT, "包保部门全员到街道", "包保部门全体人员到包保街道参加抢险救援。", 30, 1, False),
]

# Above these a reading is impossible (the world records are about 305 mm in one hour and 3,930 mm in three days).
MAX_RAIN_PER_HOUR_MM = Decimal("305")
MAX_RAIN_MM = Decimal("4000")
MAX_WINDOW_HOURS = 72
CLOCK_SKEW_MINUTES = 5


# Whether this process has seen the default thresholds, rules and templates in the database (or seen its own
# writes of them committed): once it has, `ensure_defaults` asks the database nothing. The configuration
# services and the tests reset it; an empty thresholds table seen by `active_thresholds` resets it too.
_defaults_present = False


def forget_defaults() -> None:
    """Make the next `ensure_defaults` look in the database again."""
    global _defaults_present
    _defaults_present = False


def _remember_defaults() -> None:
    global _defaults_present
    _defaults_present = True


def active_thresholds() -> list[tuple[str, int, Decimal]]:
    """The active thresholds. None at all while this process believed the defaults were there means the tables
    were emptied behind its back (a test flush, plain SQL): the defaults are put back, as before the flag."""
    rows = list(SignalThreshold.objects.filter(is_active=True).values_list("signal", "window_hours", "rain_mm"))
    if not rows and _defaults_present:
        forget_defaults()
        if ensure_defaults():
            rows = list(SignalThreshold.objects.filter(is_active=True).values_list("signal", "window_hours", "rain_mm"))
    return [(s, int(w), Decimal(r)) for s, w, r in rows]


def signal_for(window_hours: int, rain_mm: Decimal, thresholds: Iterable[tuple[str, int, Decimal]]) -> str:
    """The highest signal whose threshold the reading meets (W ≤ w and R ≥ r), or `none`."""
    best = Signal.NONE.value
    for signal, window, amount in thresholds:
        if window_hours <= window and rain_mm >= amount and signal_rank(signal) > signal_rank(best):
            best = str(signal)
    return best


def response_rules() -> dict[str, str]:
    return dict(ResponseRule.objects.values_list("signal", "level"))


def level_for(signal: str, rules: dict[str, str] | None = None) -> str | None:
    """The response level a signal starts, or None (no signal, or no rule for it)."""
    if signal_rank(signal) == 0:
        return None
    return (rules if rules is not None else response_rules()).get(signal)


def levels_up_to(level: str) -> list[str]:
    """The levels from Ⅳ up to and including `level`, lowest first."""
    return [lv for lv, rank in sorted(LEVEL_RANK.items(), key=lambda kv: kv[1]) if rank <= LEVEL_RANK[level]]


def season_bounds(year: int) -> tuple[datetime, datetime, bool]:
    """(opens, closes, configured) for a year: the configured row or the default dates."""
    row = FloodSeason.objects.filter(year=year).first()
    if row is not None:
        return row.opens_at, row.closes_at, True
    opens, closes = default_season_bounds(year)
    return opens, closes, False


def season_open(at: datetime | None = None) -> bool:
    """Whether the flood season is open now (or at `at`), by the season of that year in district time."""
    at = at or timezone.now()
    opens, closes, _ = season_bounds(timezone.localtime(at).year)
    return opens <= at < closes


def ensure_defaults(*, recheck: bool = False) -> int:
    """Write the default thresholds, response rules and task templates where none exist; returns rows written.

    The first migration writes them; this puts them back after a test flush or an administrator emptied a table.
    The check and the writes happen under a lock on the response rules' table so concurrent first readings write
    them once (the rules are few and unique per signal). Every reading calls this: once the process knows the
    defaults are there it returns at once without a query, unless `recheck`."""
    from django.db import connection, transaction

    if _defaults_present and not recheck:
        return 0
    if connection.vendor == "postgresql" and not (
        SignalThreshold.objects.exists() and ResponseRule.objects.exists() and TaskTemplate.objects.exists()
    ):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x466C6F6F64])  # "Flood"
    written = 0
    if not SignalThreshold.objects.exists():
        SignalThreshold.objects.bulk_create([
            SignalThreshold(signal=s, window_hours=w, rain_mm=r, note="气象局令第16号") for s, w, r in DEFAULT_THRESHOLDS
        ])
        written += len(DEFAULT_THRESHOLDS)
    if not ResponseRule.objects.exists():
        ResponseRule.objects.bulk_create([ResponseRule(signal=s, level=lv) for s, lv in DEFAULT_RESPONSE_RULES])
        written += len(DEFAULT_RESPONSE_RULES)
    if not TaskTemplate.objects.exists():
        TaskTemplate.objects.bulk_create([
            TaskTemplate(level=lv, target=t, title=title, description=d, ack_minutes=ack, done_hours=done,
                         lists_hazards=hz, order=i)
            for i, (lv, t, title, d, ack, done, hz) in enumerate(DEFAULT_TEMPLATES)
        ])
        written += len(DEFAULT_TEMPLATES)
    if written:
        transaction.on_commit(_remember_defaults)  # a rolled-back first reading leaves the tables empty again
    else:
        _remember_defaults()
    return written
