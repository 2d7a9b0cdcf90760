"""Reading uploaded tables (CSV, XLSX) robustly, and writing CSV/XLSX for exports and error reports.

The file type is decided by content, not by the name: an XLSX is a ZIP holding ``xl/workbook.xml``; legacy
``.xls`` (OLE2), HTML saved as ".xls", other ZIPs and binary files are refused with a message saying what to do.
CSV text may be UTF-8 (with or without BOM), UTF-16 (with BOM) or GBK/GB18030 (what Excel on Chinese Windows
writes); the delimiter is sniffed among comma, tab and semicolon.

Row numbers are the ones a person sees in Excel: the header is row 1, the first data row is row 2. Rows are
produced lazily, so a large XLSX is streamed rather than loaded into memory.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl import load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.formula import ArrayFormula

from civicgrid.foundation.core.office_xlsx import plain_rows, text_cell, write_only_workbook, xlsx_text

MAX_BYTES = 50 * 1024 * 1024
# A ZIP whose members expand beyond this many times the upload limit is treated as a zip bomb.
MAX_EXPANSION = 20
# With `expect_headers`, the header row is looked for among this many first non-blank rows (a title above it).
HEADER_SEARCH_ROWS = 5
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
_DELIMITERS = (",", "\t", ";")
# Control characters (other than tab, newlines, form feed, DOS end-of-file) never occur in real tables, and in
# UTF-8 and GB18030 they cannot hide inside multi-byte characters: their presence means binary data.
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x19\x1b-\x1f]")
_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x19\x1b-\x1f]")

Row = tuple[int, dict[str, str]]


class TableError(ValueError):
    """The upload cannot be read as a table; ``message`` is Chinese first, then English."""

    def __init__(self, message: str, *, row: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.row = row


def clean_cell(value: str) -> str:
    """Strip whitespace (including full-width and no-break spaces) and invisible BOM/zero-width characters."""
    return value.strip().strip(_INVISIBLE).strip()


def cell_to_str(value: Any) -> str:
    """Render a cell value as text: integers without ".0", dates ``YYYY-MM-DD``, datetimes ISO, None as ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return f"{value:.15g}"  # Excel keeps 15 significant digits; avoid 0.30000000000000004
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="microseconds" if value.microsecond else "seconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return clean_cell(str(value))


def _column_name(index: int) -> str:
    return f"第 {index + 1} 列（{get_column_letter(index + 1)}）"


@dataclass
class Table:
    """A parsed table: ``headers`` plus lazily produced ``rows`` of ``(row_number, {header: text})``."""

    headers: list[str]
    format: str  # "csv" or "xlsx"
    encoding: str | None = None  # CSV only: "utf-8", "utf-8-sig", "utf-16" or "gb18030"
    delimiter: str | None = None  # CSV only
    sheet_name: str | None = None  # XLSX only
    sheet_names: tuple[str, ...] = ()  # XLSX only: every worksheet of the workbook
    estimated_rows: int | None = None  # data rows, from the sheet's dimension or a line count; may be off
    header_row: int = 1
    _source: Any = field(default=None, repr=False)

    @property
    def rows(self) -> Iterator[Row]:
        """A fresh iterator over the data rows; blank rows are skipped but still counted in row numbers."""
        width = len(self.headers)
        for number, cells in self._source(self.header_row):
            extra = [c for c in cells[width:] if c]
            if extra:
                raise TableError(
                    f"第 {number} 行的单元格多于表头（{len(self.headers)} 列），多出的内容没有列名 / "
                    f"row {number} has more cells than the header has columns",
                    row=number,
                )
            if not any(cells):
                continue
            padded = list(cells[:width]) + [""] * (width - len(cells))
            yield number, dict(zip(self.headers, padded, strict=True))

    def __iter__(self) -> Iterator[Row]:
        return self.rows

    def formula_cells(self) -> dict[tuple[int, str], str]:
        """The data cells that hold a formula, as {(row number, header): column letter}; empty for CSV. A
        formula cell that reads as empty has no stored result (the file was written by a program that does not
        calculate, or saved without values): an import can say so instead of calling the cell empty. Reads the
        worksheet once more, so an importer asks only when one of its cells is empty."""
        finder = getattr(self._source, "formula_cells", None)
        return finder(self.header_row, self.headers) if finder else {}

    def count_rows(self) -> int:
        """Exact number of non-blank data rows (reads the file once more; memory stays flat)."""
        return sum(1 for _ in self.rows)

    def close(self) -> None:
        """Release the workbook behind an XLSX table (a no-op for CSV)."""
        close = getattr(self._source, "close", None)
        if close:
            close()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------- detection


def read_table(
    data: bytes, filename: str = "", max_bytes: int = MAX_BYTES, sheet: str | None = None, *,
    prefer_sheet: str | None = None, expect_headers: Sequence[str] = (),
) -> Table:
    """Parse an uploaded CSV or XLSX file (type decided by content) into a :class:`Table`.

    ``sheet`` names an XLSX worksheet (default: the first). ``prefer_sheet`` names the worksheet to read when
    the workbook has it (e.g. the one an export writes); else, with ``expect_headers``, the first worksheet whose
    first rows hold one of them; else the first. With ``expect_headers``, the header row is the first of the
    first ``HEADER_SEARCH_ROWS`` non-blank rows that holds one of those names (a title row above it is
    skipped), else the first non-blank row. Raises :class:`TableError` for anything that is not a readable
    table: too large, empty, legacy .xls, HTML, other binary files, bad or duplicate headers.
    """
    if len(data) > max_bytes:
        limit = _human_size(max_bytes)
        raise TableError(f"文件过大（上限 {limit}） / file too large (limit {limit})")
    name = (filename or "").lower()
    if not data.strip():
        raise TableError("文件是空的 / the file is empty")
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise TableError(
            "这是旧版 Excel（.xls）文件或加密的工作簿，请在 Excel 中另存为 .xlsx 或 CSV 后再上传 / "
            "legacy .xls or password-protected workbook: save it as .xlsx or CSV and upload again"
        )
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data, max_bytes, sheet, prefer_sheet, expect_headers)
    if name.endswith((".xlsx", ".xlsm")):
        raise TableError(
            "文件扩展名是 .xlsx，但内容不是有效的 Excel 工作簿（可能已损坏） / "
            "the file is named .xlsx but is not a valid workbook (it may be damaged)"
        )
    for magic, zh, en in _OTHER_FORMATS:  # a document or image that may read as text at first (a PDF's header)
        if data.startswith(magic):
            raise TableError(f"这是{zh}文件，不是表格：请上传 .xlsx 或 CSV 文件 / this is a {en} file, not a table: "
                             f"upload an .xlsx or CSV file")
    return _read_csv(data, expect_headers)


# Files people upload by mistake, told by their first bytes and named in the refusal rather than read as CSV.
_OTHER_FORMATS = (
    (b"%PDF-", " PDF ", "PDF"), (b"\x89PNG", " PNG 图片", "PNG image"), (b"\xff\xd8\xff", " JPEG 图片", "JPEG image"),
    (b"GIF8", " GIF 图片", "GIF image"), (b"{\\rtf", " RTF ", "RTF"), (b"\x1f\x8b", " gzip 压缩", "gzip"),
    (b"Rar!", " RAR 压缩", "RAR"), (b"7z\xbc\xaf", " 7z 压缩", "7z"),
)


def _human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.3g} MB"
    return f"{size / 1024:.3g} KB"


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise TableError("UTF-16 文本无法解码 / the UTF-16 text cannot be decoded") from None
    if _CONTROL_BYTES.search(data):
        raise _not_a_table()  # binary, or UTF-16 without a BOM (which nobody can tell from binary)
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError:
            raise TableError(
                "文件以 UTF-8 标记开头但内容不是 UTF-8 / the file has a UTF-8 BOM but is not UTF-8"
            ) from None
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise TableError(
        "无法识别文件编码，请另存为“CSV UTF-8”或 .xlsx / "
        "unknown text encoding: save the file as CSV UTF-8 or .xlsx"
    )


def _not_a_table() -> TableError:
    return TableError("文件不是 CSV 或 XLSX 表格 / not a CSV or XLSX table")


def _looks_binary(text: str) -> bool:
    return _CONTROL_TEXT.search(text) is not None


def _sniff_delimiter(text: str) -> str:
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    best, best_score = ",", (False, 0.0, 0)
    for delimiter in _DELIMITERS:
        widths = [len(r) for r in _safe_rows(sample, delimiter) if any(c.strip() for c in r)][:50]
        if not widths:
            continue
        header = widths[0]
        consistent = sum(1 for w in widths if w == header) / len(widths)
        score = (header > 1, consistent, header)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _safe_rows(sample: str, delimiter: str) -> list[list[str]]:
    try:
        return list(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter))
    except csv.Error:
        return []


# ---------------------------------------------------------------------------------------------- CSV


def _read_csv(data: bytes, expect_headers: Sequence[str] = ()) -> Table:
    text, encoding = _decode(data)
    head = text[:2048].lstrip().lower()
    if head.startswith(("<html", "<!doctype", "<table", "<?xml")):
        raise TableError(
            "这是网页（HTML/XML）文件，不是表格；请用 Excel 打开后另存为 .xlsx 或 CSV / "
            "this is an HTML/XML page, not a table: open it in Excel and save as .xlsx or CSV"
        )
    if _looks_binary(text):
        raise _not_a_table()
    delimiter = _sniff_delimiter(text)
    if expect_headers:  # a title row above the header can mislead the sniffing: the header decides
        head_rows = {d: [r for r in _safe_rows(text[:65536], d) if any(c.strip() for c in r)][:HEADER_SEARCH_ROWS]
                     for d in (delimiter, *_DELIMITERS)}
        delimiter = next((d for d, rows in head_rows.items()
                          if any(_holds_header([clean_cell(c) for c in r], expect_headers) for r in rows)), delimiter)

    def source(header_row: int) -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        number = 0
        while True:
            number += 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise TableError(
                    f"第 {number} 行无法解析：{exc} / row {number} cannot be parsed: {exc}", row=number
                ) from None
            if number > header_row:
                yield number, [clean_cell(c) for c in cells]

    header_row, headers = _find_header(source(0), expect_headers)
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    return Table(
        headers=headers,
        format="csv",
        encoding=encoding,
        delimiter=delimiter,
        estimated_rows=max(lines - header_row, 0),
        header_row=header_row,
        _source=source,
    )


def _holds_header(cells: Sequence[str], expect_headers: Sequence[str]) -> bool:
    return bool(set(expect_headers) & set(cells))


def _find_header(rows: Iterable[tuple[int, list[str]]],
                 expect_headers: Sequence[str] = ()) -> tuple[int, list[str]]:
    """The header row (the first non-blank row, or with `expect_headers` the first of the first
    `HEADER_SEARCH_ROWS` non-blank rows holding one of them); validated, trailing empty header cells dropped."""
    first = None
    if expect_headers:
        seen = 0
        for number, cells in rows:
            if not any(cells):
                continue
            first = first or (number, cells)
            if _holds_header(cells, expect_headers):
                first = (number, cells)
                break
            seen += 1
            if seen >= HEADER_SEARCH_ROWS:
                break
        rows = [first] if first else []
    for number, cells in rows:
        if not any(cells):
            continue
        cells = list(cells)
        while cells and not cells[-1]:
            cells.pop()
        seen: dict[str, int] = {}
        for index, name in enumerate(cells):
            if not name:
                raise TableError(
                    f"第 {number} 行表头{_column_name(index)}为空 / header cell in column {index + 1} is empty",
                    row=number,
                )
            if name in seen:
                raise TableError(
                    f"表头“{name}”重复：{_column_name(seen[name])}和{_column_name(index)} / "
                    f"duplicate header {name!r} in columns {seen[name] + 1} and {index + 1}",
                    row=number,
                )
            seen[name] = index
        return number, cells
    raise TableError("表格没有表头行 / the table has no header row")


# ---------------------------------------------------------------------------------------------- XLSX


def _check_zip(data: bytes, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        raise TableError("压缩包已损坏，无法读取 / the ZIP/XLSX file is damaged") from None
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names:
        # Each half in its own language, so that the page can show the reader's half only (" / " splits once).
        if "xl/workbook.bin" in names:
            zh, en = "这是 .xlsb 二进制工作簿", "this is a binary .xlsb workbook"
        elif "content.xml" in names:
            zh, en = "这是 OpenDocument（.ods）表格", "this is an OpenDocument (.ods) sheet"
        elif "word/document.xml" in names:
            zh, en = "这是 Word 文档", "this is a Word document"
        else:
            zh, en = "这是 ZIP 压缩包", "this is a ZIP archive"
        raise TableError(f"{zh}，请另存为 .xlsx 或 CSV 后再上传 / {en}: save it as .xlsx or CSV and upload again")
    if sum(i.file_size for i in infos) > max_bytes * MAX_EXPANSION:
        raise TableError("工作簿解压后过大 / the workbook is too large when unpacked")


class _XlsxSource:
    """Re-iterable row source over one worksheet of a read-only workbook."""

    def __init__(self, workbook: Any, worksheet: Any, data: bytes = b"") -> None:
        self.workbook = workbook
        self.worksheet = worksheet
        self.data = data

    def formula_cells(self, header_row: int, headers: Sequence[str]) -> dict[tuple[int, str], str]:
        """See `Table.formula_cells`: the worksheet read again with its formulas rather than their values."""
        found: dict[tuple[int, str], str] = {}
        book = load_workbook(io.BytesIO(self.data), read_only=True, data_only=False)
        try:
            sheet = book[self.worksheet.title]
            sheet.reset_dimensions()
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                if number <= header_row:
                    continue
                for index, value in enumerate(values[:len(headers)]):
                    if isinstance(value, ArrayFormula) or (isinstance(value, str) and value.startswith("=")):
                        found[(number, headers[index])] = get_column_letter(index + 1)
        finally:
            book.close()
        return found

    def __call__(self, header_row: int) -> Iterator[tuple[int, list[str]]]:
        for number, values in enumerate(self.worksheet.iter_rows(values_only=True), start=1):
            if number > header_row:
                yield number, [cell_to_str(v) for v in values]

    def close(self) -> None:
        self.workbook.close()


def _sheet_holds_header(worksheet: Any, expect_headers: Sequence[str]) -> bool:
    """Whether one of the first non-blank rows of `worksheet` holds one of `expect_headers`."""
    if not hasattr(worksheet, "iter_rows"):
        return False
    seen = 0
    for values in worksheet.iter_rows(values_only=True):
        cells = [cell_to_str(v) for v in values]
        if not any(cells):
            continue
        if _holds_header(cells, expect_headers):
            return True
        seen += 1
        if seen >= HEADER_SEARCH_ROWS:
            return False
    return False


def _read_xlsx(data: bytes, max_bytes: int, sheet: str | None, prefer_sheet: str | None = None,
               expect_headers: Sequence[str] = ()) -> Table:
    _check_zip(data, max_bytes)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise TableError(
            f"工作簿无法打开（可能已损坏） / the workbook cannot be opened: {type(exc).__name__}"
        ) from None
    try:
        if sheet is None:
            if not workbook.worksheets:
                raise TableError("工作簿里没有数据表 / the workbook has no worksheet")
            worksheet = workbook.worksheets[0]
            if prefer_sheet in workbook.sheetnames:
                worksheet = workbook[prefer_sheet]
            elif expect_headers:
                worksheet = next((w for w in workbook.worksheets if _sheet_holds_header(w, expect_headers)),
                                 worksheet)
        elif sheet in workbook.sheetnames:
            worksheet = workbook[sheet]
        else:
            raise TableError(
                f"找不到工作表“{sheet}”，现有：{'、'.join(workbook.sheetnames)} / no sheet named {sheet!r}"
            )
        if not hasattr(worksheet, "iter_rows"):
            raise TableError("第一个工作表是图表，不是数据表 / the first sheet is a chart, not a worksheet")
        dimension_rows = worksheet.max_row
        worksheet.reset_dimensions()  # some writers store a wrong <dimension>; trusting it would drop rows
        source = _XlsxSource(workbook, worksheet, data)
        header_row, headers = _find_header(source(0), expect_headers)
    except BaseException:
        workbook.close()
        raise
    return Table(
        headers=headers,
        format="xlsx",
        sheet_name=worksheet.title,
        sheet_names=tuple(workbook.sheetnames),
        estimated_rows=max(dimension_rows - header_row, 0) if dimension_rows else None,
        header_row=header_row,
        _source=source,
    )


# ---------------------------------------------------------------------------------------------- writers


def _row_values(headers: Sequence[str], row: Mapping[str, Any] | Sequence[Any]) -> list[Any]:
    if isinstance(row, Mapping):
        return [row.get(h) for h in headers]
    return list(row)


def _neutralise_formula(text: str) -> str:
    """Prefix ' to text Excel would run as a formula (CSV injection); plain numbers are left alone."""
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


def write_csv(headers: Sequence[str], rows: Iterable[Mapping[str, Any] | Sequence[Any]]) -> bytes:
    """CSV bytes in UTF-8 with BOM (so Excel shows Chinese correctly); formula-like text is neutralised."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_neutralise_formula(str(h)) for h in headers])
    for row in rows:
        writer.writerow([_neutralise_formula(cell_to_str(v)) for v in _row_values(headers, row)])
    return buffer.getvalue().encode("utf-8-sig")


def _display_width(text: str) -> int:
    return sum(2 if ord(c) > 0x2E7F else 1 for c in text)  # CJK characters are about two columns wide


def _sheet_title(title: str) -> str:
    cleaned = "".join("_" if c in "[]:*?/\\" else c for c in title).strip("'") or "Sheet1"
    return cleaned[:31]


def _plain_values(values: Sequence[Any]) -> list[Any]:
    """A row's values as `write_xlsx` writes them: numbers, dates, times and booleans as they are, anything else
    as clean text (`cell_to_str`, then `xlsx_text`)."""
    return [xlsx_text(clean_cell(value)) if type(value) is str  # the common case, as cell_to_str cleans it
            else value if value is None or isinstance(value, _NATIVE) else xlsx_text(cell_to_str(value))
            for value in values]


_NATIVE = (int, float, dt.date, dt.time, bool)


def write_xlsx(
    headers: Sequence[str],
    rows: Iterable[Mapping[str, Any] | Sequence[Any]],
    sheet_title: str = "Sheet1",
    text_columns: Sequence[str] = (),
    notes: Sequence[tuple[str, str]] = (),
    notes_title: str = "说明",
    autofilter: bool = False,
) -> bytes:
    """XLSX bytes with a bold, frozen header row and column widths fitted to the first rows; streamed.

    The cells of `text_columns` (headers) are formatted as text ("@"), the whole column included: a code such as
    01100 then keeps its leading zero when someone edits it in Excel, or types a new one below. `notes` (label,
    text) go on a second sheet, `notes_title`, one per line: what the table covers, for whoever opens the file
    later; the table stays the first (active) sheet, its header on row 1. With `autofilter`, the header row carries
    Excel's filter buttons over every column and row written (a ledger read by sorting and narrowing it)."""
    text_at = {index for index, header in enumerate(headers) if header in set(text_columns)}
    with write_only_workbook() as workbook:  # finished even when `rows` fails half-way
        worksheet = workbook.create_sheet(_sheet_title(sheet_title))
        iterator = iter(rows)
        preview = [_row_values(headers, r) for _, r in zip(range(200), iterator, strict=False)]
        for index, header in enumerate(headers):
            longest = max(
                [_display_width(str(header))]
                + [_display_width(cell_to_str(r[index])) for r in preview if index < len(r)]
            )
            dimension = worksheet.column_dimensions[get_column_letter(index + 1)]
            dimension.width = min(max(longest + 2, 8), 60)
            if index in text_at:
                dimension.number_format = "@"
        worksheet.freeze_panes = "A2"
        bold = Font(bold=True)

        def cells(values: Sequence[Any], font: Font | None = None) -> list[Any]:
            out = []
            for index, value in enumerate(values):
                if index in text_at and value is not None:
                    value = cell_to_str(value)
                if value is not None and not isinstance(value, int | float | dt.date | dt.time | bool):
                    value = xlsx_text(cell_to_str(value))
                cell = WriteOnlyCell(worksheet, value=value)
                if isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"  # text, never a formula
                if font:
                    cell.font = font
                elif index in text_at:
                    cell.number_format = "@"
                out.append(cell)
            return out

        worksheet.append(cells([str(h) for h in headers], bold))
        lines = len(preview)  # the table's rows, header not counted: the filter's range
        if text_at:  # cells styled as text: through openpyxl's cells
            for values in preview:
                worksheet.append(cells(values))
            for row in iterator:
                lines += 1
                worksheet.append(cells(_row_values(headers, row)))
        else:  # plain values: each row's XML at once (`plain_rows`), the same cells several times faster
            append = plain_rows(worksheet)
            for values in preview:
                append(_plain_values(values))
            for row in iterator:
                lines += 1
                append(_plain_values(_row_values(headers, row)))
        if autofilter:  # written after the rows (the sheet's tail), so it spans as many as there were
            worksheet.auto_filter.ref = f"A1:{get_column_letter(max(len(headers), 1))}{lines + 1}"
        if notes:
            about = workbook.create_sheet(_sheet_title(notes_title))
            about.column_dimensions["A"].width = min(max(_display_width(label) for label, _ in notes) + 2, 30)
            about.column_dimensions["B"].width = min(max(_display_width(text) for _, text in notes) + 2, 100)
            for label, text in notes:
                about.append([text_cell(about, label, font=bold), text_cell(about, text)])
        buffer = io.BytesIO()
        workbook.save(buffer)
        return buffer.getvalue()
