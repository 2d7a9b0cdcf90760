"""Converters and the base class shared by the base-data table types.

Choices accept the Chinese label or the stored value. Messages name the problem, never repeat a personal value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.db import connection, models
from django.utils import timezone

from ...access.scope import subtree_q
from ...imports import registry
from ...imports.registry import Column, ImportContext
from ...regions.models import Level, Region

GRID = Column("所属网格代码", "grid_code", hint="15 位网格代码", aliases=("网格代码", "网格编码"))
_REQUIRED = "必填 / required"
_SEP = "\x1f"  # the unit separator: never in a code or a blind index (checked before use)
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


# ---------------------------------------------------------------------------------------------- converters


def text(max_len: int) -> Callable[[str], str]:
    def convert(value: str) -> str:
        if len(value) > max_len:
            raise ValueError(f"不能超过 {max_len} 个字 / at most {max_len} characters")
        return value

    return convert


def integer(low: int, high: int) -> Callable[[str], int]:
    def convert(value: str) -> int:
        try:
            number = int(float(value)) if value.replace(".", "", 1).isdigit() else int(value)
        except ValueError:
            raise ValueError("应为整数 / must be a whole number") from None
        if not low <= number <= high:
            raise ValueError(f"应在 {low} 到 {high} 之间 / must be between {low} and {high}")
        return number

    return convert


def decimal(low: float, high: float) -> Callable[[str], float]:
    def convert(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise ValueError("应为数字 / must be a number") from None
        if not low <= number <= high:
            raise ValueError(f"应在 {low} 到 {high} 之间 / must be between {low} and {high}")
        return number

    return convert


def choice(choices: type[models.TextChoices]) -> Callable[[str], str]:
    lookup = {str(label): value for value, label in choices.choices} | {v: v for v in choices.values}
    allowed = "、".join(str(label) for _, label in choices.choices)

    def convert(value: str) -> str:
        try:
            return lookup[value]
        except KeyError:
            raise ValueError(f"应为以下之一：{allowed} / must be one of the listed values") from None

    return convert


def yes_no(value: str) -> bool:
    if value in ("是", "Y", "y", "1", "true", "TRUE", "True"):
        return True
    if value in ("否", "N", "n", "0", "false", "FALSE", "False"):
        return False
    raise ValueError("应为“是”或“否” / must be 是 or 否")


def credit_code(value: str) -> str:
    """A unified social credit code (GB 32100-2015) with a correct check character."""
    code = value.upper()
    if len(code) != 18 or any(c not in _CREDIT_CHARS for c in code):
        raise ValueError("统一社会信用代码应为 18 位数字或大写字母 / must be 18 digits or capital letters")
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(code[:17], _CREDIT_WEIGHTS, strict=True))
    if _CREDIT_CHARS[(31 - total % 31) % 31] != code[17]:
        raise ValueError("统一社会信用代码校验位错误 / the check character is wrong")
    return code


LNG, LAT = decimal(73.0, 136.0), decimal(3.0, 54.0)


# ---------------------------------------------------------------------------------------------- base


class BaseDataTable(registry.TableType):
    """A base-data table: generic per-column conversion, a grid, a unique code and scoped export."""

    converters: dict[str, Callable] = {}
    constant_columns = ("is_demo", "import_job", "created_at", "updated_at")
    unique_code = True  # the `code` column must be new (within the file and in the database)
    select: tuple[str, ...] = ()

    def begin(self, ctx: ImportContext) -> None:
        now = timezone.now()
        ctx.cache.update(now=now, codes={}, grid_ok={})
        ctx.cache["grids"] = dict(Region.objects.filter(level=Level.GRID).values_list("code", "id"))

    def convert(self, ctx: ImportContext, number: int, row: dict[str, str]) -> dict | None:
        out: dict = {}
        ok = True
        for column in self.columns:
            value = row.get(column.key, "")
            if not value:
                if column.required:
                    ctx.error(number, column.header, _REQUIRED)
                    ok = False
                continue
            convert = self.converters.get(column.key)
            if convert is None:
                out[column.key] = value
                continue
            try:
                out[column.key] = convert(value)
            except ValueError as exc:
                ctx.error(number, column.header, str(exc))
                ok = False
        return out if ok else None

    def grid(self, ctx: ImportContext, number: int, code: str) -> int | None:
        """The id of the grid with this code, if it is a grid inside the importer's scope."""
        grid_id = ctx.cache["grids"].get(code)
        if grid_id is None:
            ctx.error(number, GRID.header, "网格代码不存在，须为 15 位网格代码 / unknown grid code")
            return None
        allowed = ctx.cache["grid_ok"].get(code)
        if allowed is None:
            allowed = ctx.cache["grid_ok"][code] = ctx.scope.covers_code(code)
        if not allowed:
            ctx.error(number, GRID.header, "该网格不在您的管理范围内 / the grid is outside your scope")
            return None
        return grid_id

    def first_time(self, ctx: ImportContext, number: int, key: str, value, header: str, what: str) -> bool:
        """False (with an error) when `value` already appeared in an earlier row of the file."""
        seen = ctx.cache.setdefault(key, {})
        first = seen.setdefault(value, number)
        if first != number:
            ctx.error(number, header, f"与第 {first} 行的{what}重复 / duplicates row {first}")
            return False
        return True

    def parse(self, ctx: ImportContext, number: int, row: dict[str, str]) -> dict | None:
        out = self.convert(ctx, number, row)
        if out is None:
            return None
        if out.get("grid_code"):
            out["grid_id"] = self.grid(ctx, number, out["grid_code"])
            if out["grid_id"] is None:
                return None
        if self.unique_code and not self.first_time(ctx, number, "codes", out["code"], self.columns[0].header, "编码"):
            return None
        return out

    def constant_values(self, ctx: ImportContext) -> tuple:
        return (False, ctx.job_id, ctx.cache["now"], ctx.cache["now"])

    def existing_codes(self, batch) -> set[str]:
        return {row[0] for row in fetch(self.model, "code", (), [values["code"] for _, values in batch])}

    def parents(self, ctx, batch, key: str, model, header: str) -> dict[str, tuple]:
        """Look up referenced parents by code for a batch: code → (id, region_code, grid_id); errors for others."""
        codes = {values[key] for _, values in batch if values.get(key)}
        found = {
            code: (pk, region, grid)
            for code, pk, region, grid in fetch(model, "code", ("id", "region_code", "grid_id"), codes)
            if ctx.scope.covers_code(region)
        }
        for number, values in batch:
            if values.get(key) and values[key] not in found:
                ctx.error(number, header, f"{header}不存在或不在您的管理范围内 / unknown {key}")
        return found

    def resolve(self, ctx, batch, prepare):
        if self.unique_code:
            taken = self.existing_codes(batch)
            for number, values in batch:
                if values["code"] in taken:
                    ctx.error(number, self.columns[0].header, "该编码已存在 / this code already exists")
        rows = self.link(ctx, batch)
        if not prepare or ctx.failed:
            return []
        return [self.db_row(values) for values in rows]

    def link(self, ctx, batch) -> list[dict]:
        return [values for _, values in batch]

    def db_row(self, values: dict) -> tuple:
        raise NotImplementedError

    # --- exports
    def export_queryset(self, actor, region):
        qs = self.model.objects.visible_to(actor, "export") if actor is not None else self.model.objects.all()
        if region:
            qs = qs.filter(subtree_q("region_code", region))
        if self.select:
            qs = qs.select_related(*self.select)
        return qs.order_by("region_code", "id")

    def export_rows(self, actor, queryset, clear: bool) -> Iterator[dict]:
        for obj in queryset.iterator(chunk_size=2000):
            values = self.export_values(obj, clear)
            yield {c.header: values.get(c.key) for c in self.columns}

    def export_values(self, obj, clear: bool) -> dict:
        raise NotImplementedError


def fetch(model, key: str, columns: tuple[str, ...], values) -> list[tuple]:
    """Rows `(key, *columns)` of `model` whose `key` is among `values`.

    Plain SQL on purpose: the ORM spends ~10 µs preparing each parameter of a large `IN`, which is most of the
    cost of checking a million-row file against the database.
    """
    qn = connection.ops.quote_name
    names = [qn(model._meta.get_field(name).column) for name in (key, *columns)]
    select = f"SELECT {', '.join(names)} FROM {qn(model._meta.db_table)} WHERE {names[0]}"
    values = list(values)
    found: list[tuple] = []
    postgres = connection.vendor == "postgresql"
    step = 5000 if postgres else 1000  # SQLite binds each value separately; keep well under its limit
    for start in range(0, len(values), step):
        chunk = values[start : start + step]
        with connection.cursor() as cursor:
            if postgres and all(isinstance(value, str) and _SEP not in value for value in chunk):
                # One text parameter split by the server: no query text with thousands of placeholders to build
                # and parse, and none of psycopg's per-element array dumping (~10 µs a value, in Python).
                cursor.execute(f"{select} = ANY(string_to_array(%s, %s))", [_SEP.join(chunk), _SEP])
            elif postgres:
                cursor.execute(f"{select} = ANY(%s)", [chunk])
            else:
                cursor.execute(f"{select} IN ({', '.join(['%s'] * len(chunk))})", chunk)
            found.extend(cursor.fetchall())
    return found


def _label(choices, value) -> str:
    return str(dict(choices.choices).get(value, value)) if value else ""


def area(value: str):
    from decimal import Decimal, InvalidOperation

    try:
        number = Decimal(value).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueError("应为数字 / must be a number") from None
    if not Decimal(0) < number < Decimal(1_000_000):
        raise ValueError("面积应大于 0 且小于 1000000 / area out of range")
    return number
