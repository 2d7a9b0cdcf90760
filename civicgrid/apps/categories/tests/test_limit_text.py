"""A category's time limit as people read it: Chinese as written, English with its plural."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from civicgrid.apps.categories.models import Category, LimitMode


@pytest.mark.parametrize(("amount", "mode", "chinese", "english"), [
    (Decimal("1"), LimitMode.WORKING_DAYS, "1 工作日", "1 working day"),
    (Decimal("3"), LimitMode.WORKING_DAYS, "3 工作日", "3 working days"),
    (Decimal("1"), LimitMode.WORKING_HOURS, "1 工作小时", "1 working hour"),
    (Decimal("4.50"), LimitMode.WORKING_HOURS, "4.5 工作小时", "4.5 working hours"),
    (Decimal("6"), LimitMode.NATURAL_HOURS, "6 自然时", "6 calendar hours"),
])
def test_the_limit_reads_right_in_both_languages(amount, mode, chinese, english):
    category = Category(time_limit_amount=amount, time_limit_mode=mode)
    with translation.override("zh-hans"):
        assert category.time_limit_text == chinese
    with translation.override("en"):
        assert category.time_limit_text == english
