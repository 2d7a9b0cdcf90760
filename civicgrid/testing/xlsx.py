"""Workbooks for tests: an xlsx file built from rows, and a file's first sheet read back as rows (openpyxl, the
reader the imports use, so a test's file is what a person's Excel or WPS would hand over)."""

from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook


def workbook(rows: list[list]) -> bytes:
    """An xlsx file whose first sheet holds `rows`, one list per row."""
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def sheet_rows(body: bytes) -> list[list]:
    """The values of the first sheet of the xlsx file `body`, row by row."""
    return [list(r) for r in load_workbook(io.BytesIO(body), read_only=True).active.iter_rows(values_only=True)]
