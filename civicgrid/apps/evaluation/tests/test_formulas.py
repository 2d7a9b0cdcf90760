"""The formulas of DOMAIN.md §4 against hand-computed examples: every band edge, every grade edge, each
composite, the re-normalisation when a rate does not apply, and the configurable region weights."""

from __future__ import annotations

from fractions import Fraction

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from civicgrid.apps.evaluation import formulas as f


@pytest.mark.parametrize("n, score", [
    (0, 100), (50, 100), (51, 90), (100, 90), (101, 75), (200, 75), (201, 60), (500, 60), (501, 40),
    (1000, 40), (1001, 0), (50_000, 0),
])
def test_department_count_band_edges(n, score):
    assert f.department_count_score(n) == score


@pytest.mark.parametrize("n, score", [
    (0, 0), (100, 0), (101, 40), (300, 40), (301, 60), (500, 60), (501, 75), (1200, 75), (1201, 90),
    (2000, 90), (2001, 100), (90_000, 100),
])
def test_staff_count_band_edges(n, score):
    assert f.staff_count_score(n) == score


@pytest.mark.parametrize("score, letter", [
    (Fraction(100), "A"), (Fraction(90), "A"), (Fraction(8999999, 100000), "B"), (Fraction(75), "B"),
    (Fraction(7499, 100), "C"), (Fraction(60), "C"), (Fraction(5999, 100), "D"), (Fraction(40), "D"),
    (Fraction(3999, 100), "E"), (Fraction(0), "E"), (None, None),
])
def test_grade_edges(score, letter):
    assert f.grade(score) == letter


def test_rates_are_exact_fractions_and_undefined_without_a_denominator():
    assert f.rate(3, 4) == Fraction(3, 4)
    assert f.rate(0, 0) is None and f.rate(5, 0) is None
    counts = {"dispatch_acts": 12, "due_dispatch_acts": 12, "dispatch_rework": 4, "accepted": 20, "voided": 1}
    got = f.rates_of(counts, ["accurate_dispatch_rate", "accurate_accept_rate", "closure_rate"])
    assert got == {"accurate_dispatch_rate": Fraction(8, 12), "accurate_accept_rate": Fraction(19, 20),
                   "closure_rate": None}


def test_department_composite():
    # 立案数 120 → 75; 结案率 90/100; 按期处置率 60/80 = 75 %; 返工率 7/70 = 10 % → 90.
    # 75×10% + 90×30% + 75×30% + 90×30% = 7.5 + 27 + 22.5 + 27 = 84 → B
    counts = {"accepted": 120, "due_close": 100, "closed": 90, "due_handle": 80, "handled_timely": 60,
              "handled": 70, "reworked": 7}
    score = f.composite("department", counts)
    assert score == 84 and f.grade(score) == "B"


def test_grid_worker_composite_lands_exactly_on_the_a_edge():
    # 有效上报率 90 %, 漏报率 10 % → 90, 按时核实率 90 %, 按时核查率 90 %: exactly 90, an A (no float drift).
    counts = {"reports": 30, "valid_reports": 27, "accepted": 10, "public_accepted": 1, "checked": 10,
              "checked_timely": 9, "verified": 20, "verified_timely": 18}
    score = f.composite("grid_worker", counts)
    assert score == 90 and isinstance(score, Fraction) and f.grade(score) == "A"


def test_dispatcher_composite():
    # 派遣数 1500 → 90; 按时派遣率 1350/1500 = 90 %; 准确派遣率 (1500 − 30)/1500 = 98 %.
    # 90×20% + 90×40% + 98×40% = 18 + 36 + 39.2 = 93.2 → A
    counts = {"dispatched": 1500, "due_dispatch": 1500, "dispatched_timely": 1350, "dispatch_rework": 30,
              "dispatch_acts": 1500, "due_dispatch_acts": 1500}
    score = f.composite("dispatcher", counts)
    assert score == Fraction(932, 10) and f.grade(score) == "A"


def test_dispatcher_rates_divide_by_what_was_due_to_be_dispatched():
    """按时派遣率 and 准确派遣率 divide by 应派遣数 (DOMAIN.md §4), not by 派遣数: 20 cases left waiting for their
    派遣 past the dispatch clock count against the dispatcher. 按时派遣率 1350/1520; 准确派遣率 (1500 − 30)/1520."""
    counts = {"dispatched": 1500, "due_dispatch": 1520, "dispatched_timely": 1350, "dispatch_rework": 30,
              "dispatch_acts": 1500, "due_dispatch_acts": 1520}
    rates = f.rates_of(counts, f.needed_rates("dispatcher"))
    assert rates == {"timely_dispatch_rate": Fraction(1350, 1520), "accurate_dispatch_rate": Fraction(1470, 1520)}
    # a dispatcher who dispatched nothing and left a case waiting scores 0, ranked: not 无数据
    idle = {"dispatched": 0, "due_dispatch": 1, "dispatched_timely": 0, "dispatch_rework": 0, "dispatch_acts": 0,
            "due_dispatch_acts": 1}
    assert f.composite("dispatcher", idle) == 0


def test_intake_composite():
    # 受理数 400 → 60; 核实按时派发率 45/50 = 90 %; 核查按时派发率 300/300 = 100 %.
    # 60×25% + 90×40% + 100×35% = 15 + 36 + 35 = 86 → B
    counts = {"accepted": 400, "check_sent": 50, "check_sent_timely": 45, "verify_sent": 300,
              "verify_sent_timely": 300}
    assert f.composite("intake", counts) == 86


def test_shift_lead_composite():
    # 按时立案率 180/200 = 90 %; 准确立案率 (200 − 10)/200 = 95 %; 按时结案率 120/150 = 80 %.
    # 90×25% + 95×40% + 80×35% = 22.5 + 38 + 28 = 88.5 → B
    counts = {"accepted": 200, "accepted_timely": 180, "voided": 10, "closed": 150, "close_step_timely": 120}
    score = f.composite("shift_lead", counts)
    assert score == Fraction(885, 10) and f.grade(score) == "B"


def test_region_composite_with_the_default_weights():
    # 结案率 80 %, 按期结案率 60 %, 漏报率 30/120 = 25 % → 75, 有效上报率 90 %, 按时核查率 90 %.
    # 80×25% + 60×25% + 75×20% + 90×15% + 90×15% = 20 + 15 + 15 + 13.5 + 13.5 = 77 → B
    counts = {"due_close": 100, "closed": 80, "closed_timely": 60, "accepted": 120, "public_accepted": 30,
              "reports": 100, "valid_reports": 90, "verified": 50, "verified_timely": 45}
    for kind in ("street", "community", "grid"):
        assert f.composite(kind, counts) == 77


def test_a_rate_that_does_not_apply_gives_its_weight_to_the_others():
    # No case handled yet: 返工率 is not applicable. 立案数 10 → 100; 结案率 50 %; 按期处置率 0/4 = 0 %.
    # (100×10% + 50×30% + 0×30%) / 70% = 25 / 0.7 = 35.714… → E
    counts = {"accepted": 10, "due_close": 10, "closed": 5, "due_handle": 4, "handled_timely": 0, "handled": 0,
              "reworked": 0}
    score = f.composite("department", counts)
    assert score == Fraction(250, 7) and f.grade(score) == "E"
    assert f.as_score(score) == 35.71


def test_count_bands_alone_make_no_score():
    # A department with a few cases, none due yet: its empty 立案数 band would be 100, but nothing was measured.
    assert f.composite("department", {"accepted": 3}) is None
    assert f.composite("dispatcher", {}) is None


def test_a_grid_worker_without_reports_has_no_score():
    # No reports: 有效上报率 does not apply, and the grid's figures alone (漏报率 0 %, 核实 and 核查 all in time)
    # are the grid's, shared with its other workers: no score (it was 100, an A, ahead of every active worker).
    grid = {"accepted": 10, "public_accepted": 0, "checked": 4, "checked_timely": 4, "verified": 6,
            "verified_timely": 6}
    assert f.composite("grid_worker", {"reports": 0, "valid_reports": 0, **grid}) is None
    assert f.unscored_reason("grid_worker") == "本期无上报，不参与排名"
    assert f.unscored_reason("department") == "无数据"
    # one report that did not hold is work of their own: scored (0×40% + 100×60%) = 60
    assert f.composite("grid_worker", {"reports": 1, "valid_reports": 0, **grid}) == 60


def test_the_shared_terms_are_terms_of_their_formula():
    for kind, keys in f.SHARED_TERMS.items():
        own = [t for t in f.formula(kind) if f.own_work(t, kind)]
        assert keys <= {t.key for t in f.formula(kind)} and own, kind


def test_display_rounding_is_half_up_and_exact():
    assert f.as_score(Fraction(89955, 1000)) == 89.96
    assert f.as_percent(Fraction(2, 3)) == 66.67
    assert f.as_percent(Fraction(1, 8)) == 12.5
    assert f.as_percent(None) is None


@override_settings(CIVICGRID_EVALUATION_REGION_WEIGHTS={"closure_rate": 0.5, "1-missed_report_rate": 0.3,
                                                         "timely_verify_rate": 0.2})
def test_region_weights_are_configurable():
    counts = {"due_close": 10, "closed": 10, "accepted": 10, "public_accepted": 5, "verified": 4,
              "verified_timely": 2}
    # 100×50% + 50×30% + 50×20% = 75
    assert f.composite("grid", counts) == 75
    assert [t.label for t in f.formula("street")] == ["结案率", "(1−漏报率)", "按时核查率"]
    assert f.composite("department", {"accepted": 1, "due_close": 1, "closed": 1}) is not None  # others unchanged


@pytest.mark.parametrize("weights, message", [
    ({"closure_rate": "0.5", "timely_closure_rate": "0.4"}, "add up to 0.9"),
    ({"closure_rate": "0.5", "popularity": "0.5"}, "unknown evaluation term"),
    ({"closure_rate": "1.5", "timely_closure_rate": "-0.5"}, "must be positive"),
    ({"band:nothing": "1"}, "unknown evaluation term"),
])
def test_wrong_region_weights_are_refused(weights, message):
    with override_settings(CIVICGRID_EVALUATION_REGION_WEIGHTS=weights):
        with pytest.raises(ImproperlyConfigured, match=message):
            f.region_terms()


def test_every_formula_reads_known_counts_and_adds_up_to_one():
    for kind in [*f.FORMULAS, *f.REGION_KINDS]:
        items = f.formula(kind)
        assert sum(t.weight for t in items) == 1
        for key in f.needed_rates(kind):
            d = f.RATES[key]
            assert {d.numerator, d.denominator, d.minus or d.numerator} <= set(f.COUNT_LABELS)
