"""Reading uploaded CSV/XLSX tables and writing exports."""

import csv
import datetime as dt
import gc
import io
import os
import random
import sys
import tempfile
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from civicgrid.foundation.imports.readers import (
    Table,
    TableError,
    cell_to_str,
    read_table,
    write_csv,
    write_xlsx,
)

HEADERS = ["姓名", "身份证号", "电话", "住址"]
ROWS = [
    ["张三", "140213199001011234", "13812345678", "平城区新建北路12号"],
    ["李四", "11010519491231002X", "0352-1234567", "御东小区5栋"],
]
CHINESE_CSV = "姓名,身份证号,电话,住址\r\n" + "".join(",".join(r) + "\r\n" for r in ROWS)


def _rows(table: Table) -> list:
    return list(table.rows)


def _expected(first_row: int = 2) -> list:
    return [(first_row + i, dict(zip(HEADERS, r, strict=True))) for i, r in enumerate(ROWS)]


@pytest.mark.parametrize(
    "encoding, reported",
    [
        ("gb18030", "gb18030"),
        ("gbk", "gb18030"),
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16"),
    ],
)
def test_csv_encodings(encoding, reported):
    table = read_table(CHINESE_CSV.encode(encoding), "居民.csv")
    assert table.format == "csv"
    assert table.encoding == reported
    assert table.headers == HEADERS
    assert _rows(table) == _expected()


def test_gbk_bytes_are_really_not_utf8():
    data = CHINESE_CSV.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert read_table(data, "x.csv").headers == HEADERS


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_delimiters(delimiter):
    text = "\n".join(delimiter.join(r) for r in [HEADERS, *ROWS]) + "\n"
    table = read_table(text.encode(), "x.txt")
    assert table.delimiter == delimiter
    assert _rows(table) == _expected()


def test_commas_inside_cells_do_not_confuse_tab_sniffing():
    text = "名称\t地址\n甲\t新建路1号,2号\n乙\t魏都大道,3号\n"
    table = read_table(text.encode(), "x.tsv")
    assert table.delimiter == "\t"
    assert _rows(table)[0] == (2, {"名称": "甲", "地址": "新建路1号,2号"})


def test_single_column_csv():
    table = read_table("姓名\n张三\n李四\n".encode(), "x.csv")
    assert table.headers == ["姓名"]
    assert [r for _, r in table.rows] == [{"姓名": "张三"}, {"姓名": "李四"}]


def test_whitespace_is_stripped_including_full_width():
    text = "\u3000姓名 , 电话\u00a0\n  张三\u3000,\t138 \n"
    table = read_table(text.encode("gb18030"), "x.csv")
    assert table.headers == ["姓名", "电话"]
    assert _rows(table) == [(2, {"姓名": "张三", "电话": "138"})]


def test_row_numbers_count_blank_rows_and_multiline_cells():
    text = '姓名,备注\n张三,"第一行\n第二行"\n\n李四,\n,\n\n'
    table = read_table(text.encode(), "x.csv")
    assert _rows(table) == [
        (2, {"姓名": "张三", "备注": "第一行\n第二行"}),
        (4, {"姓名": "李四", "备注": ""}),
    ]
    assert table.count_rows() == 2


def test_leading_blank_rows_move_the_header():
    table = read_table("\n\n姓名,电话\n张三,138\n".encode(), "x.csv")
    assert table.header_row == 3
    assert _rows(table) == [(4, {"姓名": "张三", "电话": "138"})]


def test_short_rows_are_padded_and_trailing_empty_cells_tolerated():
    table = read_table("姓名,电话,,\n张三\n李四,139,,\n".encode(), "x.csv")
    assert table.headers == ["姓名", "电话"]
    assert _rows(table) == [(2, {"姓名": "张三", "电话": ""}), (3, {"姓名": "李四", "电话": "139"})]


def test_extra_cells_name_the_row():
    table = read_table("姓名,电话\n张三,138\n李四,139,多余\n".encode(), "x.csv")
    rows = iter(table.rows)
    assert next(rows) == (2, {"姓名": "张三", "电话": "138"})
    with pytest.raises(TableError, match="第 3 行的单元格多于表头") as info:
        next(rows)
    assert info.value.row == 3


def test_duplicate_header():
    with pytest.raises(TableError, match="表头“姓名”重复：第 1 列（A）和第 3 列（C）"):
        read_table("姓名,电话,姓名\n".encode(), "x.csv")


def test_duplicate_header_after_stripping():
    with pytest.raises(TableError, match="重复"):
        read_table("姓名, 姓名\u3000\n".encode(), "x.csv")


def test_empty_header_cell():
    with pytest.raises(TableError, match="第 1 行表头第 2 列（B）为空"):
        read_table("姓名,,电话\n".encode(), "x.csv")


@pytest.mark.parametrize("data", [b"", b"   \r\n\r\n", "\ufeff".encode("utf-8-sig")])
def test_empty_file(data):
    with pytest.raises(TableError):
        read_table(data, "x.csv")


def test_header_only_has_no_rows():
    table = read_table("姓名,电话\n".encode(), "x.csv")
    assert table.headers == ["姓名", "电话"] and _rows(table) == [] and table.count_rows() == 0


def test_xls_magic_is_rejected_with_advice():
    data = bytes.fromhex("d0cf11e0a1b11ae1") + os.urandom(1000)
    with pytest.raises(TableError, match="请在 Excel 中另存为 .xlsx 或 CSV"):
        read_table(data, "台账.xls")


@pytest.mark.parametrize("seed", range(20))
def test_random_binary_is_rejected(seed):
    data = random.Random(seed).randbytes(4096)
    with pytest.raises(TableError, match="文件不是 CSV 或 XLSX 表格 / not a CSV or XLSX table"):
        read_table(data, "x.csv")


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\x0b",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
        "姓名,电话\n张三,138\x00\n".encode(),
    ],
)
def test_known_binary_formats_are_rejected(data):
    with pytest.raises(TableError, match="不是 CSV 或 XLSX|文件，不是表格"):
        read_table(data, "x.csv")


def test_html_disguised_as_xls():
    data = "<html><body><table><tr><td>姓名</td></tr></table></body></html>".encode()
    with pytest.raises(TableError, match="网页"):
        read_table(data, "导出.xls")


def test_undecodable_text():
    with pytest.raises(TableError, match="无法识别文件编码"):
        read_table(b"\xff\xff\xff,abc\n", "x.csv")


def test_oversized_input_is_rejected():
    with pytest.raises(TableError, match="文件过大（上限 50 MB）"):
        read_table(b"a" * (50 * 1024 * 1024 + 1), "x.csv")
    with pytest.raises(TableError, match="上限 2 KB"):
        read_table(b"a,b\n" * 1000, "x.csv", max_bytes=2048)
    assert read_table(b"a,b\n" * 512, "x.csv", max_bytes=2048).headers == ["a", "b"]


def test_zip_that_is_not_a_workbook():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    with pytest.raises(TableError, match="Word 文档"):
        read_table(buffer.getvalue(), "x.xlsx")


def test_zip_bomb_is_rejected():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (2 * 1024 * 1024))
    with pytest.raises(TableError, match="解压后过大"):
        read_table(buffer.getvalue(), "x.xlsx", max_bytes=100 * 1024)


def test_damaged_xlsx():
    with pytest.raises(TableError):
        read_table(b"PK\x03\x04" + b"\x00" * 100, "x.xlsx")
    with pytest.raises(TableError, match="不是有效的 Excel 工作簿"):
        read_table("姓名,电话\n".encode(), "x.xlsx")


def test_xlsx_round_trip():
    rows = [*ROWS, {"姓名": "王五", "电话": "13912345678"}]
    data = write_xlsx(HEADERS, rows, sheet_title="居民")
    table = read_table(data, "export.csv")  # content wins over the name
    assert (table.format, table.sheet_name, table.encoding) == ("xlsx", "居民", None)
    assert table.headers == HEADERS
    assert _rows(table) == [
        *_expected(),
        (4, {"姓名": "王五", "身份证号": "", "电话": "13912345678", "住址": ""}),
    ]
    assert table.count_rows() == 3
    table.close()


def test_xlsx_value_conversion_and_row_numbers():
    wb = Workbook()
    ws = wb.active
    ws.title = "数据"
    ws.append(["整数", "小数", "日期", "时间", "布尔", "文本", "大数"])
    ws.append([42, 2.5, dt.datetime(2024, 3, 5), dt.datetime(2024, 3, 5, 8, 30), True, "  a\u3000", 1.0])
    ws.append([])  # blank row 3
    ws.append([7.0, 0.1 + 0.2, dt.date(2001, 1, 2), dt.time(9, 15), False, None, 140213199001011234])
    ws.cell(row=10, column=1, value="x")
    buffer = io.BytesIO()
    wb.save(buffer)
    with read_table(buffer.getvalue(), "x.xlsx") as table:
        rows = _rows(table)
    assert rows[0] == (
        2,
        {
            "整数": "42",
            "小数": "2.5",
            "日期": "2024-03-05",
            "时间": "2024-03-05 08:30:00",
            "布尔": "TRUE",
            "文本": "a",
            "大数": "1",
        },
    )
    assert rows[1][0] == 4
    assert rows[1][1]["整数"] == "7" and rows[1][1]["小数"] == "0.3" and rows[1][1]["日期"] == "2001-01-02"
    assert rows[1][1]["时间"] == "09:15:00" and rows[1][1]["布尔"] == "FALSE" and rows[1][1]["文本"] == ""
    assert rows[2] == (
        10,
        {"整数": "x", "小数": "", "日期": "", "时间": "", "布尔": "", "文本": "", "大数": ""},
    )
    assert table.estimated_rows == 9


def test_xlsx_named_sheet_and_missing_sheet():
    wb = Workbook()
    wb.active.append(["封面"])
    second = wb.create_sheet("名单")
    second.append(["姓名"])
    second.append(["张三"])
    buffer = io.BytesIO()
    wb.save(buffer)
    assert read_table(buffer.getvalue(), "x.xlsx").headers == ["封面"]
    assert _rows(read_table(buffer.getvalue(), "x.xlsx", sheet="名单")) == [(2, {"姓名": "张三"})]
    with pytest.raises(TableError, match="找不到工作表“汇总”"):
        read_table(buffer.getvalue(), "x.xlsx", sheet="汇总")


def test_xlsx_duplicate_header_and_extra_cells():
    with pytest.raises(TableError, match="重复"):
        read_table(write_xlsx(["a", "a"], []), "x.xlsx")
    table = read_table(write_xlsx(["a", "b"], [["1", "2", "3"]]), "x.xlsx")
    with pytest.raises(TableError, match="第 2 行"):
        _rows(table)


def test_xlsx_streams_large_sheet():
    data = write_xlsx(["编号", "姓名"], ([i, f"居民{i}"] for i in range(5000)))
    table = read_table(data, "x.xlsx")
    rows = table.rows
    assert next(rows) == (2, {"编号": "0", "姓名": "居民0"})
    assert table.count_rows() == 5000


def test_write_xlsx_layout_and_formula_text():
    data = write_xlsx(["名称", "公式"], [["很长的社区名称" * 3, "=1+1"]], sheet_title="a/b:c?")
    wb = load_workbook(io.BytesIO(data))
    ws = wb.active
    assert ws.title == "a_b_c_"
    assert ws["A1"].font.b and ws.freeze_panes == "A2"
    assert ws.column_dimensions["A"].width > ws.column_dimensions["B"].width >= 8
    assert ws["B2"].data_type == "s" and ws["B2"].value == "=1+1"


def test_write_xlsx_text_columns_keep_leading_zeros():
    """Columns named as text are text-formatted cells, and so is the column for rows typed below them; a number
    given for such a column is written as its text."""
    data = write_xlsx(["编码", "数量"], [["01100", 3], [1200, 4], [None, 5]], text_columns=["编码"])
    ws = load_workbook(io.BytesIO(data)).active
    assert [ws.cell(r, 1).value for r in (2, 3, 4)] == ["01100", "1200", None]
    assert all(ws.cell(r, 1).number_format == "@" for r in (2, 3, 4))
    assert ws.column_dimensions["A"].number_format == "@"
    assert ws["B2"].value == 3 and ws["B2"].number_format == "General" and ws["A1"].number_format == "General"


def test_write_xlsx_replaces_control_characters():
    data = write_xlsx(["名称", "备注"], [["幸福\x0b小区", "第一行\n第二行\t完"]])
    ws = load_workbook(io.BytesIO(data)).active
    assert ws["A2"].value == "幸福\ufffd小区" and ws["B2"].value == "第一行\n第二行\t完"


def test_write_csv_bom_and_round_trip():
    data = write_csv(HEADERS, [*ROWS, {"姓名": "王五", "电话": None}])
    assert data.startswith(b"\xef\xbb\xbf")
    table = read_table(data, "x.csv")
    assert table.encoding == "utf-8-sig"
    assert _rows(table)[:2] == _expected()
    assert _rows(table)[2] == (4, {"姓名": "王五", "身份证号": "", "电话": "", "住址": ""})


def test_write_csv_neutralises_formulas():
    data = write_csv(["a", "b", "c", "d"], [['=HYPERLINK("x")', "-5", "+86 138", "@SUM(A1)"]])
    row = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1]
    assert row == ['\'=HYPERLINK("x")', "-5", "'+86 138", "'@SUM(A1)"]


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, ""),
        (3, "3"),
        (3.0, "3"),
        (1e20, "1e+20"),
        (dt.date(2024, 1, 2), "2024-01-02"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02 03:04:05"),
        (" x ", "x"),
    ],
)
def test_cell_to_str(value, expected):
    assert cell_to_str(value) == expected


@pytest.mark.parametrize("failing_at", [3, 250])  # inside the first 200 rows read for the widths, and after them
def test_rows_failing_half_way_leave_no_workbook_behind(tmp_path, monkeypatch, failing_at):
    """An export whose rows fail (a refused query, a broken row) raises that error and leaves nothing for the
    garbage collector to trip over ("Exception ignored in … _write_rows: I/O operation on closed file") and no
    temporary file of openpyxl's streamed sheet."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ignored = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: ignored.append(f"{u.exc_type.__name__}: {u.exc_value}"))

    def rows():
        for i in range(failing_at):
            yield [f"居民{i}", "", "13812345678", ""]
        raise RuntimeError("the database refused the next chunk")

    with pytest.raises(RuntimeError, match="refused the next chunk"):
        write_xlsx(HEADERS, rows(), sheet_title="居民")
    gc.collect()
    assert ignored == [] and list(tmp_path.iterdir()) == []


def test_expected_headers_skip_a_title_row_within_the_first_rows():
    data = ("平城区居民名册（2026）\r\n\r\n" + CHINESE_CSV).encode()
    with read_table(data, "a.csv") as table:  # without: the title is the header
        assert table.headers == ["平城区居民名册（2026）"]
    with read_table(data, "a.csv", expect_headers=HEADERS) as table:
        assert table.headers == HEADERS and table.header_row == 3
        assert [n for n, _ in table.rows] == [4, 5]
    titles = "".join(f"标题{i}\r\n" for i in range(5))  # the header only after five other rows: not looked for
    with read_table((titles + CHINESE_CSV).encode(), "a.csv", expect_headers=HEADERS) as table:
        assert table.headers == ["标题0"]


def test_a_preferred_sheet_or_the_first_holding_the_headers_is_read():
    book = Workbook()
    book.active.title = "说明"
    book.active.append(["填写说明"])
    for title in ("名册", "附表"):
        sheet = book.create_sheet(title)
        sheet.append(HEADERS)
        sheet.append([*ROWS[0][:3], title])
    buffer = io.BytesIO()
    book.save(buffer)
    data = buffer.getvalue()
    with read_table(data, "a.xlsx") as table:
        assert table.sheet_name == "说明" and table.sheet_names == ("说明", "名册", "附表")
    with read_table(data, "a.xlsx", expect_headers=HEADERS) as table:
        assert table.sheet_name == "名册"
    with read_table(data, "a.xlsx", prefer_sheet="附表", expect_headers=HEADERS) as table:
        assert table.sheet_name == "附表" and next(iter(table.rows))[1]["住址"] == "附表"
    with read_table(data, "a.xlsx", prefer_sheet="没有这张表") as table:
        assert table.sheet_name == "说明"


@pytest.mark.parametrize(("data", "named"), [
    (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n", "这是 PDF 文件，不是表格"),
    (b"\x89PNG\r\n\x1a\n" + bytes(64), "这是 PNG 图片文件，不是表格"),
    (b"\xff\xd8\xff\xe0" + bytes(64), "这是 JPEG 图片文件，不是表格"),
    ("{\\rtf1\\ansi 编码,名称\n".encode(), "这是 RTF 文件，不是表格"),
])
def test_a_document_or_image_is_named_not_read_as_a_table(data, named):
    """A PDF's first lines are text: read as CSV it came back as "missing columns", which sent people looking for
    a column. A file of another kind is named for what it is."""
    with pytest.raises(TableError, match=named) as refused:
        read_table(data, "分类.csv", expect_headers=("编码", "名称"))
    assert "upload an .xlsx or CSV file" in str(refused.value)
