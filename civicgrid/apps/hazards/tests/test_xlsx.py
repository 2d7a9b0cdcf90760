"""The three lists open back in openpyxl with the office layout, the right rows and the right columns."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from civicgrid.apps.hazards import selectors, services, xlsx
from civicgrid.foundation.core.errors import ValidationFailed

from .conftest import flood_fields

pytestmark = pytest.mark.django_db


def _open(data: bytes):
    book = load_workbook(io.BytesIO(data))
    ws = book.worksheets[0]
    return ws, [list(r) for r in ws.iter_rows(values_only=True)]


@pytest.fixture
def hazards(world):
    first = services.register_hazard(actor=world.worker, **flood_fields(name="甲路低洼积水点", address="甲路1号"))
    second = services.register_hazard(actor=world.worker, **flood_fields(name="乙街排水不畅", category="poor_drainage"))
    day = (timezone.localdate() + dt.timedelta(days=10)).isoformat()
    services.act(actor=world.street, hazard=second, action="start", measures="疏通管网", deadline=day, budget="8000.5",
                 interim_measures="设置警示牌")
    services.act(actor=world.street, hazard=second, action="report_done", note="已疏通")
    services.act(actor=world.street, hazard=second, action="pass_check", checker="李科长")
    services.act(actor=world.centre, hazard=second, action="close_out")
    return first, second


@pytest.mark.parametrize("which", ["issues", "responsibility", "ledger"])
def test_each_list_has_title_unit_headers_rows_footer(world, hazards, which):
    qs = selectors.hazard_list(world.centre, kind="flood")
    data = xlsx.export_list(which, qs, title="平城区2023年汛前隐患排查问题清单", unit="平城区应急管理局",
                            filled_on=dt.date(2023, 5, 31))
    ws, rows = _open(data)
    assert rows[0][0] == "平城区2023年汛前隐患排查问题清单"
    assert f"A1:{ws.cell(3, len(rows[2])).column_letter}1" in {str(r) for r in ws.merged_cells.ranges}
    assert "填报单位" in rows[1][0] and "平城区应急管理局" in rows[1][0]
    assert any(v and "填报日期：2023年5月31日" in str(v) for v in rows[1])
    assert rows[2] == xlsx.headers(which) and rows[2][0] == "序号"
    body = rows[3:5]
    assert [r[0] for r in body] == [1, 2]
    assert [r[1] for r in body] == [h.code for h in hazards]
    footer = [v for v in rows[-1] if v]
    assert footer == ["填表人：", "审核人：", "联系电话："]
    assert len(rows) == 3 + 2 + 2  # title, unit line, headers, 2 hazards, blank, footer


def test_ledger_carries_the_rectification_and_checks(world, hazards):
    data = xlsx.export_list("ledger", selectors.hazard_list(world.centre))
    _, rows = _open(data)
    head = rows[2]
    open_row, closed_row = (dict(zip(head, r, strict=True)) for r in rows[3:5])
    assert open_row["整改措施"] in (None, "") and open_row["当前状态"] == "已登记"
    assert closed_row["整改措施"] == "疏通管网" and closed_row["整改资金（元）"] == 8000.5
    assert closed_row["临时管控措施"] == "设置警示牌" and closed_row["验收人"] == "李科长"
    assert closed_row["验收结果"] == "通过" and closed_row["销号日期"] == timezone.localdate().isoformat()
    assert closed_row["整改前照片"] == "无" and closed_row["整改后照片"] == "无"


def test_responsibility_names_patron_and_masks_phone(world, hazards):
    _, rows = _open(xlsx.export_list("responsibility", selectors.hazard_list(world.centre)))
    row = dict(zip(rows[2], rows[3], strict=True))
    assert row["包保部门"] == world.patron.name and row["联系电话"] == "139****5678"
    assert row["责任单位"] == "区住建局" and row["属地监管街道"].endswith("办事处")
    assert b"13912345678" not in xlsx.export_list("responsibility", selectors.hazard_list(world.centre))


def test_formula_like_text_stays_text(world):
    services.register_hazard(actor=world.worker, **flood_fields(name="=HYPERLINK(\"x\")", description="=1+1"))
    _, rows = _open(xlsx.export_list("issues", selectors.hazard_list(world.centre)))
    assert rows[3][2] == "=HYPERLINK(\"x\")"


def test_empty_list_and_unknown_list(world):
    _, rows = _open(xlsx.export_list("issues", selectors.hazard_list(world.centre)))
    assert rows[2][0] == "序号" and len(rows) == 5
    with pytest.raises(ValidationFailed):
        xlsx.export_list("budget", selectors.hazard_list(world.centre))


@pytest.mark.parametrize("which", ["issues", "responsibility", "ledger"])
def test_export_queries_do_not_grow_with_rows(world, which, django_assert_max_num_queries):
    for i in range(6):
        services.register_hazard(actor=world.worker, **flood_fields(name=f"积水点{i}"))
    with django_assert_max_num_queries(6):
        xlsx.export_list(which, selectors.hazard_list(world.centre))


def test_default_title():
    assert xlsx.default_title("issues", "flood", 2023) == "平城区2023年汛前隐患排查问题清单"
    assert xlsx.default_title("ledger", "safety", 2023) == "平城区2023年安全生产隐患排查整改台账"


def test_body_cells_are_bordered_and_wrapped(world, hazards):
    ws, _ = _open(xlsx.export_list("ledger", selectors.hazard_list(world.centre)))
    cell = ws.cell(4, 3)
    assert cell.border.left.style == "thin" and cell.alignment.wrap_text
    assert ws.cell(3, 1).font.bold and ws.cell(1, 1).font.size == 16
