"""The shared office-layout sheet writer opens back in openpyxl with its title, unit/date line, headers, numbered
boxed rows and footer; formula-like text stays text; the row count comes back; an empty sheet is still laid out.
A writer that fails half-way leaves no workbook behind: nothing for the garbage collector to trip over, no
temporary file."""

from __future__ import annotations

import datetime as dt
import gc
import io
import sys
import tempfile
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook
from openpyxl.cell import WriteOnlyCell

from civicgrid.foundation.core.office_xlsx import headers, plain_rows, write_office_sheet, write_only_workbook

COLUMNS = [
    ("编号", 12, lambda r: r.code),
    ("名称", 24, lambda r: r.name),
    ("数量", 8, lambda r: r.qty),
    ("日期", 12, lambda r: r.day.isoformat()),
]
ROWS = [
    SimpleNamespace(code="A-1", name="冲锋舟", qty=2, day=dt.date(2024, 6, 1)),
    SimpleNamespace(code="A-2", name="=HYPERLINK(\"http://x\")", qty=0, day=dt.date(2024, 6, 2)),
    SimpleNamespace(code="-3", name="+1", qty=None, day=dt.date(2024, 6, 3)),
]


def _write(rows=ROWS, **kwargs):
    args = {"sheet_name": "物资清单", "title": "平城区2024年防汛物资清单", "unit": "平城区应急管理局",
            "filled_on": dt.date(2024, 6, 30), "columns": COLUMNS, "rows": rows} | kwargs
    body, count = write_office_sheet(**args)
    ws = load_workbook(io.BytesIO(body)).worksheets[0]
    return ws, [list(r) for r in ws.iter_rows(values_only=True)], count


def _merged(ws) -> set[str]:
    return {str(r) for r in ws.merged_cells.ranges}


def test_layout_title_unit_headers_numbered_rows_and_footer():
    ws, rows, count = _write()
    assert count == 3
    assert ws.title == "物资清单"
    assert rows[0][0] == "平城区2024年防汛物资清单"
    assert "A1:E1" in _merged(ws)  # the title over 序号 and the four columns
    assert ws.cell(1, 1).font.bold and ws.cell(1, 1).font.size == 16
    assert rows[1][0] == "填报单位（盖章）：平城区应急管理局"
    assert rows[1][2] == "填报日期：2024年6月30日"
    assert {"A2:B2", "C2:E2"} <= _merged(ws)
    assert rows[2] == ["序号", "编号", "名称", "数量", "日期"] == headers(COLUMNS)
    assert all(ws.cell(3, c).font.bold for c in range(1, 6))
    assert [r[0] for r in rows[3:6]] == [1, 2, 3]
    assert rows[3][1:] == ["A-1", "冲锋舟", 2, "2024-06-01"]
    body = ws.cell(4, 3)
    assert body.border.left.style == "thin" and body.alignment.wrap_text
    assert ws.cell(4, 1).alignment.horizontal == "center"
    assert not any(rows[6])  # the blank line before the footer
    assert [v for v in rows[7] if v] == ["填表人：", "审核人：", "联系电话："]
    assert {"B8:C8", "D8:E8"} <= _merged(ws)  # three parts of the width
    assert len(rows) == 3 + 3 + 2
    assert ws.freeze_panes == "B4"
    assert ws.column_dimensions["A"].width == 6 and ws.column_dimensions["C"].width == 24


def test_text_that_looks_like_a_formula_stays_text():
    ws, rows, _ = _write()
    assert rows[4][2] == "=HYPERLINK(\"http://x\")"
    assert ws.cell(5, 3).data_type == "s"
    assert rows[5][1:3] == ["-3", "+1"]


def test_control_characters_become_replacement_marks_instead_of_failing_the_export():
    rows = [SimpleNamespace(code="A-1", name="垂直\x0b制表\x00符\x1f", qty=1, day=dt.date(2024, 6, 1))]
    _, values, count = _write(rows=rows, title="台账\x07")
    assert count == 1
    assert values[0][0] == "台账\ufffd"
    assert values[3][2] == "垂直\ufffd制表\ufffd符\ufffd"  # tab, newline and CR are kept by xlsx: untouched


def test_zero_rows_still_has_title_headers_and_footer():
    ws, rows, count = _write(rows=[])
    assert count == 0
    assert rows[0][0] == "平城区2024年防汛物资清单" and rows[2][0] == "序号"
    assert len(rows) == 5 and not any(rows[3])
    assert [v for v in rows[4] if v] == ["填表人：", "审核人：", "联系电话："]
    assert {"A1:E1", "B5:C5", "D5:E5"} <= _merged(ws)  # the footer sits right under the blank line


def test_rows_are_streamed_from_a_generator_and_counted():
    made = (SimpleNamespace(code=f"G-{i}", name="沙袋", qty=i, day=dt.date(2024, 1, 1)) for i in range(250))
    _, rows, count = _write(rows=made)
    assert count == 250
    assert rows[3 + 249][0] == 250 and rows[3 + 249][1] == "G-249"


def test_footer_can_be_changed_or_left_out_and_default_date_is_today():
    from django.utils import timezone

    _, rows, _ = _write(footer=("经办人：", "负责人："), filled_on=None)
    today = timezone.localdate()
    assert rows[1][2] == f"填报日期：{today.year}年{today.month}月{today.day}日"
    assert [v for v in rows[-1] if v] == ["经办人：", "负责人："]
    _, rows, _ = _write(footer=())
    assert len(rows) == 3 + 3 and rows[-1][1] == "-3"


def test_a_single_column_sheet_keeps_every_footer_label_it_has_room_for():
    ws, rows, count = _write(columns=COLUMNS[:1], rows=ROWS[:1])
    assert count == 1 and rows[2] == ["序号", "编号"]
    assert rows[-1] == ["填表人：", "审核人："]  # two columns: the third label finds no column


def test_no_columns_is_refused():
    with pytest.raises(ValueError):
        write_office_sheet(sheet_name="x", title="x", unit="x", columns=[], rows=[])


@pytest.fixture
def leftovers(tmp_path, monkeypatch):
    """collect() → (exceptions ignored while the garbage collector finalised something, temporary files left):
    what a workbook dropped half-way leaves behind. openpyxl streams write-only sheets through temp files."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ignored: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: ignored.append(f"{u.exc_type.__name__}: {u.exc_value}"))

    def collect():
        gc.collect()
        return ignored, sorted(p.name for p in tmp_path.iterdir())

    return collect


def _failing_rows(after: int):
    """Rows that fail after `after` of them, like a queryset whose next chunk the database refuses."""
    yield from ROWS[:after]
    raise RuntimeError("the database refused the next chunk")


@pytest.mark.parametrize("after", [0, 2])
def test_rows_failing_half_way_raise_their_error_and_leave_nothing_behind(leftovers, after):
    with pytest.raises(RuntimeError, match="refused the next chunk"):
        _write(rows=_failing_rows(after))
    assert leftovers() == ([], [])


def test_a_getter_failing_raises_its_error_and_leaves_nothing_behind(leftovers):
    columns = [*COLUMNS, ("坏列", 8, lambda r: r.missing)]
    with pytest.raises(AttributeError):
        _write(columns=columns)
    assert leftovers() == ([], [])


def test_a_value_openpyxl_refuses_inside_its_row_stream_leaves_nothing_behind(leftovers):
    from openpyxl.utils.exceptions import IllegalCharacterError

    with pytest.raises(IllegalCharacterError), write_only_workbook() as book:
        sheet = book.create_sheet("s")
        sheet.append(["序号"])
        sheet.append(["a\x0bb"])  # the cell is made inside openpyxl's row generator, and fails there
    assert leftovers() == ([], [])


def test_a_workbook_never_saved_is_closed_and_a_saved_one_is_left_as_it_is(leftovers):
    with write_only_workbook() as book:
        book.create_sheet("未保存").append(["a", 1])
    assert leftovers() == ([], [])

    with write_only_workbook() as book:
        book.create_sheet("已保存").append(["a", 1])
        book.create_sheet("空表")
        out = io.BytesIO()
        book.save(out)
    assert [list(r) for r in load_workbook(out).worksheets[0].iter_rows(values_only=True)] == [["a", 1]]
    assert leftovers() == ([], [])


def _through(rows, *, fast: bool) -> list[tuple]:
    """`rows` under a header, written through openpyxl's cells or through `plain_rows`, read back as cells."""
    with write_only_workbook() as book:
        ws = book.create_sheet("t")
        ws.append(["a", "b", "c", "d", "e", "f"])
        append = plain_rows(ws) if fast else None
        for values in rows:
            if fast:
                append(values)
            else:
                cells = []
                for value in values:
                    cell = WriteOnlyCell(ws, value=value)
                    if isinstance(value, str) and value.startswith("="):
                        cell.data_type = "s"
                    cells.append(cell)
                ws.append(cells)
        out = io.BytesIO()
        book.save(out)
    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    return [tuple((c.value, c.data_type, c.number_format) for c in row) for row in sheet.iter_rows()]


def test_plain_rows_write_the_cells_openpyxl_writes():
    """The fast row writer of the big exports (the case ledger) gives the cells openpyxl's own cells give:
    values, types and date formats, text that looks like a formula or an error kept as openpyxl keeps it."""
    import enum

    class Level(enum.IntEnum):
        HIGH = 3

    rows = [
        ["文本 & <标签>", 3, 2.5, True, dt.datetime(2026, 5, 1, 8, 30, 15), dt.date(2026, 5, 2)],
        [" 前后空格 ", -7, 1e20, False, dt.time(9, 45), None],
        ["=1+1", Level.HIGH, 0.1 + 0.2, None, "", "#N/A"],
        [None, None, "x" * 40000, 10**17, "-5", "@home"],
    ]
    fast = _through(rows, fast=True)
    assert fast == _through(rows, fast=False)
    assert fast[1][0] == ("文本 & <标签>", "s", "General") and fast[1][4][2] == "yyyy-mm-dd h:mm:ss"
    assert fast[3][0][:2] == ("=1+1", "s") and len(fast[4][2][0]) == 32767
