"""The holiday-schedule text and the working-hours text: what they accept, and each mistake named by its line."""

from datetime import date

import pytest

from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.sla.calendar_text import (
    DEFAULT,
    HOLIDAY,
    WORKDAY,
    DayChange,
    parse_hours_text,
    parse_schedule,
)

YEARS = range(2004, 2037)


def test_ranges_single_days_make_up_days_and_defaults():
    text = """# 2027
2027-01-01 元旦
2027/2/5 至 2027/2/7 春节
2027-02-14 调休上班 春节
2027年3月1日 恢复默认
2027-04-05~2027-04-05 清明节
2027-05-08 workday
"""
    changes = parse_schedule(text, years=YEARS)
    assert changes == [
        DayChange(date(2027, 1, 1), HOLIDAY, "元旦", 2),
        DayChange(date(2027, 2, 5), HOLIDAY, "春节", 3),
        DayChange(date(2027, 2, 6), HOLIDAY, "春节", 3),
        DayChange(date(2027, 2, 7), HOLIDAY, "春节", 3),
        DayChange(date(2027, 2, 14), WORKDAY, "春节", 4),
        DayChange(date(2027, 3, 1), DEFAULT, "", 5),
        DayChange(date(2027, 4, 5), HOLIDAY, "清明节", 6),
        DayChange(date(2027, 5, 8), WORKDAY, "", 7),
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("2027-02-30 春节", "不是有效日期"),
        ("春节 2027-02-05", "不是有效日期"),
        ("2027-02-05 2027-02-31 春节", "“2027-02-31”不是有效日期"),
        ("2027-02-11 2027-02-05 春节", "结束日期早于开始日期"),
        ("2027-01-01 2027-03-01 寒假", "日期范围超过31天"),
        ("1999-10-01 国庆节", "1999年不在可设置的范围（2004–2036年）内"),
        ("2027-02-05", "缺少节日名称"),
        ("2027-02-05 调休", "“调休”不明确"),
        ("2027-02-05 恢复默认 春节", "“恢复默认”后不能再写名称"),
        ("2027-02-05 " + "节" * 65, "名称不能超过64个字"),
    ],
)
def test_a_faulty_line_is_named_with_its_problem(line, problem):
    with pytest.raises(ValidationFailed) as caught:
        parse_schedule(f"2027-01-01 元旦\n{line}", years=YEARS)
    assert caught.value.message.startswith("有 1 行无法录入，未作任何修改")
    assert len(caught.value.details) == 1 and caught.value.details[0].startswith("第2行：")
    assert problem in caught.value.details[0]


def test_duplicate_and_overlapping_lines_are_refused_with_the_earlier_line():
    with pytest.raises(ValidationFailed) as caught:
        parse_schedule("2027-02-05 2027-02-11 春节\n2027-02-11 春节\n2027-02-12 调休上班\n2027-02-12 上班", years=YEARS)
    assert caught.value.details == [
        "第2行：2027-02-11 已在第1行设置过（日期重复或重叠） / line 2: 2027-02-11 is already set on line 1 "
        "(duplicate or overlapping dates)",
        "第4行：2027-02-12 已在第3行设置过（日期重复或重叠） / line 4: 2027-02-12 is already set on line 3 "
        "(duplicate or overlapping dates)",
    ]


def test_empty_text_is_refused():
    with pytest.raises(ValidationFailed, match="请至少填写一行"):
        parse_schedule("# only a comment\n\n", years=YEARS)


def test_working_hours_text():
    assert parse_hours_text("8:30-12:00， 14:30 - 18:00") == [("08:30", "12:00"), ("14:30", "18:00")]
    assert parse_hours_text("09:00至17:00") == [("09:00", "17:00")]
    for bad in ("", "9-17", "09:00"):
        with pytest.raises(ValidationFailed):
            parse_hours_text(bad)
