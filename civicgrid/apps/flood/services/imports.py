"""Rainfall (or water-level) readings from a CSV/XLSX file: every row through the one service, all or nothing.

The file is read with the foundation's readers (UTF-8, UTF-8 with BOM, GBK; XLSX). Every row is applied inside
one transaction, each in a savepoint; when any row fails, everything is rolled back and the result lists every
failing row with its column and message, so a corrected file can simply be sent again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from civicgrid.foundation.core.errors import CivicgridError
from civicgrid.foundation.imports.readers import TableError, read_table

from ..models import Source
from .common import REPORT, Invalid, is_system, record, require
from .readings import record_rainfall, record_water_level

COLUMNS = {
    "station": ("station", "站点编号", "站点", "站号", "测站编码"),
    "lat": ("lat", "纬度", "latitude"),
    "lng": ("lng", "经度", "longitude", "lon"),
    "observed_at": ("observed_at", "观测时间", "时间"),
    "window_hours": ("window_hours", "时段（小时）", "时段(小时)", "时段", "历时（小时）"),
    "rain_mm": ("rain_mm", "雨量（毫米）", "雨量(毫米)", "雨量", "降雨量（毫米）", "降雨量"),
}
WATER_COLUMNS = {
    "station": COLUMNS["station"], "lat": COLUMNS["lat"], "lng": COLUMNS["lng"],
    "observed_at": COLUMNS["observed_at"],
    "level_m": ("level_m", "水位（米）", "水位(米)", "水位"),
}
TEMPLATE_HEADERS = ["站点编号", "纬度", "经度", "观测时间", "时段（小时）", "雨量（毫米）"]
WATER_TEMPLATE_HEADERS = ["站点编号", "纬度", "经度", "观测时间", "水位（米）"]
MAX_ROWS = 5000


@dataclass
class ImportResult:
    """What an import did: rows stored and replayed when it passed, or every row's problem when it did not."""

    rows: int = 0
    created: int = 0
    replayed: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (row number, column, message)

    @property
    def ok(self) -> bool:
        return not self.errors


class _Rollback(Exception):
    pass


def _columns(headers: list[str], columns: dict = COLUMNS) -> dict[str, str]:
    norm = {h.strip().lower().replace(" ", ""): h for h in headers}
    found: dict[str, str] = {}
    for key, aliases in columns.items():
        for alias in aliases:
            if alias.lower() in norm:
                found[key] = norm[alias.lower()]
                break
    missing = [columns[k][1] for k in columns if k not in found]
    if missing:
        expected = WATER_TEMPLATE_HEADERS if columns is WATER_COLUMNS else TEMPLATE_HEADERS
        raise Invalid(f"缺少列：{'、'.join(missing)}（表头应为 {'、'.join(expected)}） / missing columns", field="file")
    return found


def import_rainfall(*, actor, data: bytes, filename: str = "", water: bool = False) -> ImportResult:
    """Validate and store every reading of the file, or none of them (`water`: water levels instead of rain)."""
    if not is_system(actor):
        require(actor, REPORT, "录入雨量")
    try:
        table = read_table(data, filename)
    except TableError as exc:
        raise Invalid(exc.message, field="file") from None
    result = ImportResult()
    with table:
        cols = _columns(table.headers, WATER_COLUMNS if water else COLUMNS)
        store = record_water_level if water else record_rainfall
        try:
            with transaction.atomic():
                for number, row in table.rows:
                    result.rows += 1
                    if result.rows > MAX_ROWS:
                        raise Invalid(f"一次最多导入 {MAX_ROWS} 行 / at most {MAX_ROWS} rows per file", field="file")
                    values = {key: row.get(header, "") for key, header in cols.items()}
                    try:
                        with transaction.atomic():
                            _, created = store(actor=actor, source=Source.CSV, **values)
                    except CivicgridError as exc:
                        column = cols.get(exc.field or "", exc.field or "")
                        result.errors.append((number, column, exc.message))
                        continue
                    result.created += created
                    result.replayed += not created
                if result.rows == 0:
                    raise Invalid("文件中没有数据行 / the file has no data rows", field="file")
                if result.errors:
                    raise _Rollback
                record(actor, "water_levels_imported" if water else "rainfall_imported", None,
                       data={"file": filename[:100], "rows": result.rows, "created": result.created})
        except TableError as exc:
            result.errors.append((exc.row or 0, "", exc.message))
        except _Rollback:
            pass
    if result.errors:
        result.created = result.replayed = 0
    return result
