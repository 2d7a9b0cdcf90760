"""A ranking table as an Excel file with Chinese headers (the way evaluations are exchanged), audited as an
export. The table is the first sheet (header on row 1, as before); a second sheet, 说明, says which subjects,
period and moment (统计于) it covers and how it was scored."""

from __future__ import annotations

from django.utils import timezone

from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.service import record
from civicgrid.foundation.imports.readers import write_xlsx

from . import formulas
from .selectors import Evaluation


def headers(ev: Evaluation) -> list[str]:
    """排名, 名称, 编码, the counts, the rates (%), 综合得分, 等级."""
    code = "账号" if ev.kind.names == "user" else "编码"
    return (["排名", "名称", code]
            + [formulas.count_label(ev.kind.key, c) for c in ev.count_keys]
            + [f"{formulas.RATES[r].label}(%)" for r in ev.rate_keys]
            + ["综合得分", "等级"])


SYSTEM_RANK = "系统账号（不参与排名）"
NO_GRADE = formulas.NO_SCORE  # as the page says it: no rate applies, so there is no score to grade


def rows(ev: Evaluation) -> list[list]:
    """One line per subject, in ranking order; a rate or score that does not apply is left empty (number
    columns), and without a score the grade column says why, as the page does (无数据; a grid worker without
    reports: 本期无上报，不参与排名). Accounts the system acts under follow the ranking, marked in the rank
    column instead of ranked."""
    return [
        [SYSTEM_RANK if r.system else r.rank, r.name, r.code]
        + [r.counts.get(c, 0) for c in ev.count_keys]
        + [formulas.as_percent(r.rates.get(k)) for k in ev.rate_keys]
        + [formulas.as_score(r.score), r.grade or r.unscored_reason or NO_GRADE]
        for r in [*ev.rows, *ev.system_rows]
    ]


def filename(ev: Evaluation) -> str:
    return f"evaluation-{ev.kind.key}-{ev.start:%Y%m%d}-{ev.end:%Y%m%d}.xlsx"


def sheet_title(ev: Evaluation) -> str:
    """The ranking sheet's name: the subject kind and the whole period (it used to name the first month only)."""
    return f"{ev.kind.label}{ev.start:%Y%m%d}-{ev.end:%Y%m%d}"


def moment(ev: Evaluation) -> str:
    """统计于 in district time, to the second, and with its fraction when it has one (a table computed now): typed
    back as `as_of` it gives the same moment, so the same table (cut to the second, it gave an earlier one: a step
    taken within that second was undone)."""
    local = timezone.localtime(ev.as_of)
    return f"{local:%Y-%m-%d %H:%M:%S.%f}" if local.microsecond else f"{local:%Y-%m-%d %H:%M:%S}"


def notes(ev: Evaluation) -> list[tuple[str, str]]:
    """What the table covers, on the file's second sheet 说明: the subjects, the period, the moment it was
    computed (district time), and how it was scored."""
    formula = " + ".join(f"{t.display(kind=ev.kind.key)}×{float(t.weight) * 100:g}%" for t in ev.terms)
    return [
        ("评价对象", ev.kind.label),
        ("统计期间", f"{ev.start:%Y-%m-%d} 至 {ev.end:%Y-%m-%d}（按上报日期）"),
        ("统计于", f"{moment(ev)}（{timezone.get_current_timezone_name()}）"),
        ("综合指标值", formula),
        ("等级", "A ≥ 90，B ≥ 75，C ≥ 60，D ≥ 40，其余为 E；无可计算的比率时不评分，不参与排名"
                 + ("；监督员本期无上报时不评分、不参与排名" if ev.kind.key == "grid_worker" else "")),
    ]


def export(ev: Evaluation, *, actor) -> bytes:
    """The table as .xlsx bytes (the ranking, then 说明: period and 统计于), with an audit record of who exported
    what."""
    body = write_xlsx(headers(ev), rows(ev), sheet_title=sheet_title(ev), notes=notes(ev))
    record(actor=actor, action=verbs.Data.EXPORTED, target_type="evaluation.ranking",
           target_repr=f"{ev.kind.label} {ev.start}–{ev.end}",
           data={"subject": ev.kind.key, "start": ev.start.isoformat(), "end": ev.end.isoformat(),
                 "rows": len(ev.rows) + len(ev.system_rows), "format": "xlsx"})
    return body
