"""Reading the audit trail back out: who may, the filters, and the CSV/XLSX export (itself audited).

The audit trail is not a scoped model: the audit administrator (capability ``audit.view``) sees every record,
nobody else sees any (三员分立: the system and security administrators do not read the log of their own
actions). `visible_audit` is the one selector the pages, the API and the scope contract test share.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time

from django.apps import apps
from django.conf import settings
from django.db import connections, models, router
from django.utils import timezone, translation

from ..access.scope import has_capability
from ..core.days import day_end
from ..core.errors import PermissionDenied, ValidationFailed
from . import labels, verbs
from .models import AuditEntry
from .service import record, shown_repr, shown_snapshot

MAX_EXPORT_ROWS = 200_000
REFUSED = ("refused", "denied")  # the results a page names 被拒绝  # an export bigger than this should be narrowed by time range

# Export columns: field, header. `before`/`after`/`data` are already masked snapshots (see service.snapshot);
# `before`/`after` are read through `service.shown_snapshot` (withheld fields of older records).
COLUMNS: list[tuple[str, str]] = [
    ("id", "编号 id"),
    ("at", "时间 time"),
    ("actor_name", "操作人 actor"),
    ("source_ip", "来源地址 source"),
    ("channel", "渠道 channel"),
    ("request_id", "请求号 request"),
    ("action", "动作 action"),
    ("action_name", "动作名称 action name"),
    ("target_type", "对象类型 object type"),
    ("target_id", "对象编号 object id"),
    ("target_repr", "对象 object"),
    ("region_code", "区域代码 region"),
    ("result", "结果 result"),
    ("before", "修改前 before"),
    ("after", "修改后 after"),
    ("data", "详情 details"),
]


def visible_audit(user) -> models.QuerySet:
    """The audit records a user may read: all of them for the audit administrator, none otherwise."""
    if has_capability(user, "audit.view"):
        return AuditEntry.objects.all()
    return AuditEntry.objects.none()


@dataclass
class AuditFilter:
    """What the audit administrator narrows the trail by; every part optional."""

    actor: str = ""  # account name, exact
    action: str = ""  # exact ("auth.login") or a domain prefix ending in "." ("auth.")
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    target_type: str = ""  # "people.resident"
    target_id: str = ""
    result: str = ""  # ok | refused (with denied) | failed
    source_ip: str = ""

    def __post_init__(self) -> None:
        if self.since and self.until and self.since >= self.until:
            # An empty range is a mistake in the form, never a quiet empty list (or an empty export).
            raise ValidationFailed("开始日期晚于结束日期，请把开始日期改为结束日期当天或之前 / "
                                   "the start date is after the end date: choose a start on or before the end",
                                   field="since")

    def as_data(self) -> dict:
        """The filter as recorded in the export's own audit record."""
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items() if v}


def apply_filter(queryset: models.QuerySet, f: AuditFilter) -> models.QuerySet:
    """Narrow a queryset of audit records (already limited by `visible_audit`)."""
    if f.actor:
        queryset = queryset.filter(actor_name=f.actor.strip()[:150])
    if f.action:
        action = f.action.strip()[:64]
        queryset = queryset.filter(action__startswith=action) if action.endswith(".") else queryset.filter(action=action)
    if f.since:
        queryset = queryset.filter(at__gte=f.since)
    if f.until:
        queryset = queryset.filter(at__lt=f.until)
    if f.target_type:
        queryset = queryset.filter(target_type=f.target_type.strip().lower()[:64])
    if f.target_id:
        queryset = queryset.filter(target_id=f.target_id.strip()[:64])
    if f.result:
        result = f.result.strip()[:16]
        # A refused reveal (people, a reporter's contact) records `denied`: the reader asks for 被拒绝 as one.
        queryset = queryset.filter(result__in=REFUSED) if result == "refused" else queryset.filter(result=result)
    if f.source_ip:
        queryset = queryset.filter(source_ip=f.source_ip.strip()[:64])
    return queryset.order_by("-at", "-id")


def object_types() -> list[tuple[str, str]]:
    """The types of object the trail records (as the `target_type` filter takes them, "people.resident"), each
    with its model's name in the reader's language, by name."""
    return sorted(((code, _model_name(code)) for code in recorded_target_types()),
                  key=lambda item: (item[1], item[0]))


def recorded_target_types() -> list[str]:
    """Every non-empty `target_type` in the trail, in index order.

    A loose index scan: each step asks the (target_type, target_id, at) index for the first type above the last
    one found, so the page pays one index probe per type (a few dozen) instead of a DISTINCT over every record
    (a full read of a table that only grows: ~0.4 s at a million records on PostgreSQL, see
    benchmarks/bench_audit_types.py). Read from the trail itself, never from a list kept beside it, so a type
    recorded by any path (services, imports, a model since removed) is offered."""
    connection = connections[router.db_for_read(AuditEntry)]
    with connection.cursor() as cursor:
        cursor.execute(target_types_sql(connection), [""])
        return [row[0] for row in cursor.fetchall()]


def target_types_sql(connection) -> str:
    """The loose index scan of `recorded_target_types`, its one parameter the value to start above ("")."""
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    column = connection.ops.quote_name(AuditEntry._meta.get_field("target_type").column)
    following = f"SELECT {column} FROM {table} WHERE {column} > %s ORDER BY {column} LIMIT 1"
    return (f"WITH RECURSIVE found(name) AS (SELECT ({following})"
            f" UNION ALL SELECT ({following.replace('%s', 'found.name')}) FROM found WHERE found.name IS NOT NULL)"
            f" SELECT name FROM found WHERE name IS NOT NULL")


def _model_name(code: str) -> str:
    try:
        return str(apps.get_model(code)._meta.verbose_name)
    except (LookupError, ValueError):
        return code  # a model since removed, or not a model label: its code is all there is


def parse_moment(value: str | None, *, end_of_day: bool = False) -> datetime | None:
    """A date ("2026-05-01") or date-time from a form or query string, in the site's time zone.

    A bare date as the upper bound means "to the end of that day". Raises ValidationFailed on nonsense.
    """
    value = (value or "").strip()
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = day_end(day) if end_of_day else datetime.combine(day, time.min)
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"无法识别的时间：{value[:32]} / not a date or time", field="time") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    try:
        return moment.astimezone(UTC)  # offsets beyond ±15:59 are ISO 8601 but not database values
    except (OverflowError, ValueError):
        raise ValidationFailed(f"时间超出范围：{value[:32]} / time out of range", field="time") from None


ACTION_FILTER = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]*)?$")


def clean_action(value: str | None) -> str:
    """An action filter: a code ("cases.dispatch") or a domain prefix ending in a dot ("auth."), in lower case."""
    value = (value or "").strip().lower()
    if value and (len(value) > 64 or not ACTION_FILTER.match(value)):
        raise ValidationFailed(
            f"无法识别的动作代码：{value[:32]}，应为 auth. 或 cases.dispatch 这样的代码 / "
            "not an action code: use a code such as cases.dispatch or a prefix such as auth.", field="action")
    return value


def _action_param(params) -> str:
    # The page sends the grouped list and the typed box under one name; a typed code (the later one) wins.
    values = params.getlist("action") if hasattr(params, "getlist") else [params.get("action", "")]
    filled = [v for v in values if v and v.strip()]
    return clean_action(filled[-1] if filled else "")


def filter_from_query(params) -> AuditFilter:
    """An AuditFilter from a QueryDict or dict of strings (pages and the export link use the same names)."""
    return AuditFilter(
        actor=params.get("actor", "") or "",
        action=_action_param(params),
        since=parse_moment(params.get("since")),
        until=parse_moment(params.get("until"), end_of_day=True),
        target_type=params.get("target_type", "") or "",
        target_id=params.get("target_id", "") or "",
        result=params.get("result", "") or "",
        source_ip=params.get("source_ip", "") or "",
    )


def _cell(entry: AuditEntry, name: str):
    if name == "action_name":
        return labels.action_name(entry.action)
    value = shown_repr(entry) if name == "target_repr" else getattr(entry, name)
    if name in ("before", "after"):
        value = shown_snapshot(entry.target_type, value)
    if name == "at":
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else value


def _defuse(value):
    """Keep spreadsheet programs from running a cell as a formula (CSV/formula injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _rows(queryset):
    # The action's name in the official language, whoever exports: the file is a record, like the headers.
    with translation.override(settings.LANGUAGE_CODE):
        for entry in queryset.iterator(chunk_size=2000):
            yield [_defuse(_cell(entry, name)) for name, _ in COLUMNS]


def _csv(queryset) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header for _, header in COLUMNS])
    writer.writerows(_rows(queryset))
    # A byte-order mark so that Excel on Chinese Windows opens the UTF-8 file correctly.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _xlsx(queryset) -> bytes:
    from ..core.office_xlsx import write_only_workbook, xlsx_text

    with write_only_workbook() as book:  # finished even when reading the rows fails half-way
        sheet = book.create_sheet("审计记录")
        sheet.append([header for _, header in COLUMNS])
        for row in _rows(queryset):
            sheet.append([xlsx_text(value) for value in row])
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


FORMATS = {
    "csv": ("text/csv; charset=utf-8", _csv),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _xlsx),
}


def export_entries(*, actor, f: AuditFilter, fmt: str = "csv") -> tuple[bytes, str, str]:
    """The filtered trail as a file (content, content type, file name); the export is audited first.

    The export's own record is written before the rows are read, so that an export that fails half-way is
    on record too.
    """
    if not has_capability(actor, "audit.export"):
        raise PermissionDenied("只有审计管理员可以导出审计记录 / only the audit administrator exports the trail")
    if fmt not in FORMATS:
        raise ValidationFailed("格式须为 csv 或 xlsx / format must be csv or xlsx", field="format")
    queryset = apply_filter(visible_audit(actor), f)
    total = queryset.count()
    if total > MAX_EXPORT_ROWS:
        raise ValidationFailed(
            f"共 {total} 条，超过 {MAX_EXPORT_ROWS} 条上限，请缩小时间范围 / too many rows, narrow the time range"
        )
    record(actor=actor, action=verbs.AuditLog.EXPORTED, data={"filter": f.as_data(), "format": fmt, "rows": total})
    content_type, writer = FORMATS[fmt]
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return writer(queryset), content_type, f"audit-{stamp}.{fmt}"
