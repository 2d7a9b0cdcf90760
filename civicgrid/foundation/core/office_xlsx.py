"""One sheet in the layout Chinese offices use for their lists and ledgers (清单 / 台账), as xlsx bytes.

    body, count = write_office_sheet(
        sheet_name="整改台账", title="平城区2023年汛前隐患排查整改台账", unit="平城区", filled_on=None,
        columns=[("隐患编号", 15, lambda h: h.code), ("隐患名称", 28, lambda h: h.name)],
        rows=queryset.iterator(chunk_size=2000),
    )

The layout, top to bottom:

  1. the title in bold 16 pt, merged over every column;
  2. 填报单位（盖章）：<unit> over the left half and 填报日期：YYYY年M月D日 over the right half (right aligned);
  3. the column headers in bold, centred and boxed, 序号 first (this row is repeated on every printed page,
     and the sheet is frozen below it and right of 序号);
  4. one row per item of `rows`: its number (1, 2, …) centred, then one value per column from the column's
     getter, wrapped and boxed;
  5. a blank line, then the footer to sign (填表人 / 审核人 / 联系电话 by default) spread in equal parts over the width.

Text is always written as text: a value starting with "=", "+", "-" or "@" is never turned into a formula,
and a control character that XML cannot hold (a vertical tab pasted into a report, say) becomes U+FFFD
(`xlsx_text`) instead of failing the whole export.
The workbook is write-only, so rows are streamed and memory stays flat however many rows there are; `rows`
is read once, in order, and may be a generator or a queryset iterator.

`write_only_workbook()` is how every xlsx writer opens such a workbook (this one, `imports.readers.write_xlsx`,
the audit export). A write-only sheet streams its rows through two generators into a temporary file; when a
writer stops half-way (a row's query refused by the database, a getter failing) and the workbook is simply
dropped, those generators are finalised by the garbage collector in no set order, so the row stream may try to
end its XML in a file already closed ("Exception ignored in … _write_rows: I/O operation on closed file"), and
the temporary file stays until the process exits. The context manager finishes whatever was not saved.

`plain_rows(ws)` is the fast way to put many rows of plain values (text, numbers, dates, booleans, None) on
such a sheet: openpyxl (without lxml) builds an element tree and serialises it for every cell, about 35 µs a
cell, most of a big ledger's time; `plain_rows` writes each row's XML as openpyxl would have written it, in one
string. Opened back, the cells are the same (values, types and date formats).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from copy import copy
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from openpyxl import LXML, Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel

# (header, column width, value of one row); 序号 is put in front of the columns by the writer.
Column = tuple[str, float, Callable[[Any], Any]]

FOOTER = ("填表人：", "审核人：", "联系电话：")
NUMBER_HEADER = "序号"
NUMBER_WIDTH = 6
_FORMULA_STARTS = ("=", "+", "-", "@")

_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)
_WRAP = Alignment(vertical="center", wrap_text=True)
_RIGHT = Alignment(horizontal="right")
_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=16)


def official_language(func: Callable) -> Callable:
    """A ledger or case file is an official record: written in the district's language (`LANGUAGE_CODE`,
    Chinese) whoever exports it, never half in the exporter's interface language (statuses, sources and yes/no
    come from translated choices)."""

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        with translation.override(settings.LANGUAGE_CODE):
            return func(*args, **kwargs)

    return wrapped


@contextlib.contextmanager
def write_only_workbook() -> Iterator[Workbook]:
    """A write-only workbook for the block, which saves it; whatever the block leaves unsaved (it failed, or it
    never saved) is closed in order when the block ends and its temporary files are removed."""
    book = Workbook(write_only=True)
    try:
        yield book
    finally:
        for ws in book.worksheets:
            _discard(ws)


def _discard(ws) -> None:
    """Close an unsaved write-only sheet: the row stream first (it still writes </sheetData>), then the
    document and its file, then remove the file. Never raises: it runs while another error is on its way out,
    and must not take its place."""
    writer = ws._writer
    if ws.closed or writer is None:  # saved (save closed it and removed its file), or nothing written yet
        return
    with contextlib.suppress(Exception):
        if ws._rows is not None:
            ws._rows.close()
    with contextlib.suppress(Exception):
        writer.close()
    with contextlib.suppress(Exception):
        writer.cleanup()


class _Plain(list):
    """A row of plain values handed to `plain_rows`' writer as it is (no cells are made for it)."""

    __slots__ = ()


_MAX_TEXT = 32767  # what a cell holds; openpyxl cuts longer text there too
_DATE_SAMPLES = {dt.datetime: dt.datetime(2000, 1, 1), dt.date: dt.date(2000, 1, 1), dt.time: dt.time(0)}


_PLAIN_TYPES = frozenset({str, bool, int, float, dt.datetime, dt.date, dt.time})


def _as_plain(value) -> tuple[Any, type]:
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return base(value), base
    for base in (dt.datetime, dt.date, dt.time):
        if isinstance(value, base):
            return value, base
    raise TypeError(f"not a plain cell value: {type(value).__name__}")


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain_rows(ws) -> Callable[[Sequence], None]:
    """An `append` for rows of plain values on the write-only sheet `ws` (call it after the sheet's first
    `append`, which opens its row stream): a str (already `xlsx_text`-clean; written as text even when it starts
    with "="), an int, float, bool, datetime (naive), date, time or None (an empty cell). Falls back to
    `ws.append` of the same values where the fast path does not apply (openpyxl writing through lxml)."""
    if LXML:  # pragma: no cover - lxml is not installed with the project; its writer has no raw stream
        return lambda values: ws.append([text_cell(ws, v) if isinstance(v, str) else v for v in values])
    book = ws.parent
    date_styles = {kind: WriteOnlyCell(ws, value=sample).style_id for kind, sample in _DATE_SAMPLES.items()}
    epoch = book.epoch
    letters: list[str] = []
    writer = ws._writer
    if writer is None or ws._rows is None:
        raise RuntimeError("plain_rows needs a sheet with its first row appended")

    def render(values, row_idx: int) -> str:
        while len(letters) < len(values):
            letters.append(get_column_letter(len(letters) + 1))
        parts = [f'<row r="{row_idx}">']
        for index, value in enumerate(values):
            if value is None:
                continue
            ref = f"{letters[index]}{row_idx}"
            kind = type(value)
            if kind not in _PLAIN_TYPES:  # a subclass (an IntEnum, a str enum…) is written as its plain type
                value, kind = _as_plain(value)
            if kind is str:
                value = value[:_MAX_TEXT]
                if not value:
                    parts.append(f'<c r="{ref}" t="inlineStr" />')
                elif value in ERROR_CODES:
                    parts.append(f'<c r="{ref}" t="e"><v>{value}</v></c>')
                else:
                    stripped = value.strip()
                    space = ' xml:space="preserve"' if stripped and stripped != value else ""
                    parts.append(f'<c r="{ref}" t="inlineStr"><is><t{space}>{_xml_text(value)}</t></is></c>')
            elif kind is bool:
                parts.append(f'<c r="{ref}" t="b"><v>{int(value)}</v></c>')
            elif kind is int or kind is float:
                number = "" if value != value or value in (float("inf"), float("-inf")) else f"{value:.16g}"
                parts.append(f'<c r="{ref}" t="n"><v>{number}</v></c>')
            elif kind in date_styles:
                if kind is not dt.date and value.tzinfo is not None:
                    raise TypeError("Excel does not support timezones in datetimes")
                serial = to_excel(value, epoch)
                parts.append(f'<c r="{ref}" s="{date_styles[kind]}" t="n"><v>{serial:.16g}</v></c>')
            else:
                raise TypeError(f"not a plain cell value: {kind.__name__}")
        parts.append("</row>")
        return "".join(parts)

    write_row, values_to_row = writer.write_row, ws._values_to_row

    def fast_write_row(xf, row, row_idx):
        if type(row) is _Plain:
            xf._file(render(row, row_idx))
        else:
            write_row(xf, row, row_idx)

    writer.write_row = fast_write_row
    ws._values_to_row = lambda values, row_idx: values if type(values) is _Plain else values_to_row(values, row_idx)
    return lambda values: ws.append(_Plain(values))


def headers(columns: Sequence[Column]) -> list[str]:
    """The header row the writer puts out for `columns`: 序号, then each column's header."""
    return [NUMBER_HEADER] + [header for header, _, _ in columns]


def xlsx_text(value):
    """`value`, with the control characters an xlsx cell cannot hold replaced by U+FFFD when it is text."""
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    return value


def text_cell(ws, value, *, font=None, alignment=None, border=None) -> WriteOnlyCell:
    """A write-only cell of `value`; text that looks like a formula stays text."""
    value = xlsx_text(value)
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        cell.data_type = "s"
    if font is not None:
        cell.font = font
    if alignment is not None:
        cell.alignment = alignment
    if border is not None:
        cell.border = border
    return cell


class _Styled:
    """Cells of one style made fast: the style is registered once (on a template cell) and its index array is
    copied into each new cell, instead of looking font, border and alignment up again for every cell."""

    def __init__(self, ws, **style):
        self.ws = ws
        self.style = text_cell(ws, None, **style)._style

    def __call__(self, value) -> WriteOnlyCell:
        value = xlsx_text(value)
        cell = WriteOnlyCell(self.ws, value=value)
        if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
            cell.data_type = "s"
        cell._style = copy(self.style)
        return cell


def _spans(width: int, parts: int) -> list[tuple[int, int]]:
    """`parts` runs of columns (first, last; 1-based) splitting 1..width as evenly as whole columns allow; a
    part that finds no column left (a sheet narrower than the number of parts) gets first > width."""
    spans, end = [], 0
    for i in range(1, parts + 1):
        start = end + 1
        end = width if i == parts else max(i * width // parts, start)
        spans.append((start, end))
    return spans


def _merge(ws, row: int, first: int, last: int) -> None:
    ws.merged_cells.add(f"{get_column_letter(first)}{row}:{get_column_letter(last)}{row}")


def write_office_sheet(*, sheet_name: str, title: str, unit: str, columns: Sequence[Column], rows: Iterable,
                       filled_on: dt.date | None = None, footer: Sequence[str] = FOOTER) -> tuple[bytes, int]:
    """The sheet as xlsx bytes, and the number of rows written (rows of `rows`, not lines of the sheet).

    `unit` is written after 填报单位（盖章）：, `filled_on` (default today, local time) after 填报日期：. `columns`
    are (header, width, getter): getter(row) gives the value of that column for one item of `rows` (a str,
    number, date, None…). `footer` labels the parts of the line to sign; an empty `footer` leaves it out."""
    if not columns:
        raise ValueError("an office sheet needs at least one column")
    width = len(columns) + 1
    with write_only_workbook() as book:
        ws = book.create_sheet(sheet_name)
        ws.column_dimensions["A"].width = NUMBER_WIDTH
        for index, (_, col_width, _) in enumerate(columns, start=2):
            ws.column_dimensions[get_column_letter(index)].width = col_width
        ws.freeze_panes = "B4"
        ws.print_title_rows = "3:3"

        # 1: the title over every column
        ws.row_dimensions[1].height = 30
        ws.append([text_cell(ws, title, font=_TITLE, alignment=_CENTRE)])
        _merge(ws, 1, 1, width)

        # 2: 填报单位 over the left half, 填报日期 over the right half
        day = filled_on or timezone.localdate()
        half = max(width // 2, 1)
        ws.append([text_cell(ws, f"填报单位（盖章）：{unit}")] + [None] * (half - 1)
                  + [text_cell(ws, f"填报日期：{day.year}年{day.month}月{day.day}日", alignment=_RIGHT)])
        if half > 1:
            _merge(ws, 2, 1, half)
        _merge(ws, 2, half + 1, width)

        # 3: the headers; then one numbered, boxed row per item
        ws.append([text_cell(ws, name, font=_BOLD, alignment=_CENTRE, border=_BOX) for name in headers(columns)])
        number_cell = _Styled(ws, alignment=_CENTRE, border=_BOX)
        body_cell = _Styled(ws, alignment=_WRAP, border=_BOX)
        getters = [get for _, _, get in columns]
        count = 0
        for count, row in enumerate(rows, start=1):
            ws.append([number_cell(count), *(body_cell(get(row)) for get in getters)])

        # a blank line, then the footer to sign
        if footer:
            ws.append([])
            footer_row = 3 + count + 2
            line: list = [None] * width
            for (start, end), label in zip(_spans(width, len(footer)), footer, strict=True):
                if start > width:
                    continue
                line[start - 1] = text_cell(ws, label, font=_BOLD)
                if end > start:
                    _merge(ws, footer_row, start, end)
            ws.append(line)

        out = io.BytesIO()
        book.save(out)
        return out.getvalue(), count
