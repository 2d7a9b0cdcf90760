"""Validated, all-or-nothing imports and scoped exports of base-data tables.

An import is two passes. Validation reads the whole file, checks every row (formats, references by code,
duplicates within the file and against the database, the importer's scope) and, while the file is clean so far,
spools the ready rows (already encrypted) to a private temporary file. Only a file with zero errors is applied:
the spool goes into the table in ONE transaction (PostgreSQL: `COPY`; others: batched `INSERT`), so a failure at
any point leaves nothing behind. The job row's counters move during both passes, for the web page and the CLI.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ..access.scope import Scope, has_capability, scope_for
from ..audit import service as audit
from ..audit import verbs
from ..core.errors import NotFound, PermissionDenied, ValidationFailed
from ..events import bus as events
from . import readers, registry
from .models import ImportJob, JobStatus

log = logging.getLogger(__name__)
REPORT_ALL_ROWS_UP_TO = 50_000  # below this the report holds every row, so it can be fixed and resubmitted as is
_SPOOL_PROTOCOL = pickle.HIGHEST_PROTOCOL
ProgressCallback = Callable[[ImportJob], None]


def _table(key: str) -> registry.TableType:
    table = registry.get(key or "")
    if table is None:
        names = "、".join(f"{t.key}（{t.label}）" for t in registry.all_types())
        raise ValidationFailed(f"未知的数据类型，可选：{names} / unknown table type", field="table")
    return table


def _import_scope(actor, table: registry.TableType) -> Scope:
    if actor is None:  # the command line without --user: the operator already holds the server and its keys
        return Scope(everything=True)
    if not has_capability(actor, table.import_capability):
        raise PermissionDenied("您无权导入此类数据 / you may not import this table")
    return scope_for(actor, table.import_capability)


def _scope_root(scope: Scope) -> str:
    if scope.everything or not scope.region_codes:
        return ""
    prefix = os.path.commonprefix(sorted(scope.region_codes))
    return next((prefix[:n] for n in (15, 12, 9, 6) if len(prefix) >= n), "")


def check_headers(table: registry.TableType, headers: list[str]) -> None:
    """Refuse a file whose header row lacks required columns or has columns the type does not know."""
    known = table.header_map()
    unknown = [h for h in headers if h not in known and h not in registry.IGNORED_HEADERS]
    present = {known[h].key for h in headers if h in known}
    missing = [c.header for c in table.columns if c.required and c.key not in present]
    problems = []
    if missing:
        problems.append(f"缺少必填列：{'、'.join(missing)}")
    if unknown:
        problems.append(f"无法识别的列：{'、'.join(unknown)}")
    if problems:
        expected = "、".join(c.header + ("*" if c.required else "") for c in table.columns)
        raise ValidationFailed(
            f"表头不符合「{table.label}」模板：{'；'.join(problems)}。应为：{expected} / the header row does not match",
            field="file",
        )


def create_job(*, actor, table: str, file_name: str, data: bytes, dry_run: bool = False) -> ImportJob:
    """Check an upload's type, size, encoding and header at once, store it privately and create its job."""
    kind = _table(table)
    scope = _import_scope(actor, kind)
    limit = settings.CIVICGRID_MAX_IMPORT_BYTES
    try:
        with readers.read_table(data, file_name, max_bytes=limit) as parsed:
            check_headers(kind, parsed.headers)
            estimate = parsed.estimated_rows
    except readers.TableError as exc:
        raise ValidationFailed(exc.message, field="file") from None
    folder = Path(settings.MEDIA_ROOT) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"{uuid.uuid4().hex}.upload"
    fd = os.open(stored, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # personal data: owner-only
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    from ..core import context

    return ImportJob.objects.create(
        table=kind.key,
        file_name=Path(file_name or "upload").name[:200],
        stored_file=str(stored.relative_to(settings.MEDIA_ROOT)),
        file_size=len(data),
        dry_run=dry_run,
        total_rows=estimate,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        region_code=_scope_root(scope),
        request_id=context.current().request_id,
    )


def enqueue(job: ImportJob) -> None:
    """Hand the job to the background worker (the immediate backend runs it at once, e.g. in tests)."""
    from .tasks import run_import_task

    run_import_task.enqueue(job.pk)


def _path(job: ImportJob) -> Path | None:
    return Path(settings.MEDIA_ROOT) / job.stored_file if job.stored_file else None


def _save(job: ImportJob, *fields: str) -> None:
    job.save(update_fields=[*fields, "updated_at"])


# ---------------------------------------------------------------------------------------------- running


def run_import(job: ImportJob, *, progress: ProgressCallback | None = None) -> ImportJob:
    """Validate the job's file and, when it has no errors (and is not a dry run), apply it in one transaction."""
    table = _table(job.table)
    actor = job.created_by
    job.status, job.started_at = JobStatus.VALIDATING, timezone.now()
    job.processed_rows = job.applied_rows = job.error_count = 0
    job.errors, job.message = [], ""
    _save(job, "status", "started_at", "processed_rows", "applied_rows", "error_count", "errors", "message")
    spool = None
    try:
        ctx = registry.ImportContext(actor=actor, scope=_import_scope(actor, table))
        path = _path(job)
        data = path.read_bytes() if path and path.exists() else b""
        spool = tempfile.TemporaryFile(prefix="civicgrid-import-")  # unnamed: gone when closed, even on a crash
        _validate(job, table, ctx, data, spool, progress)
        if ctx.failed:
            return _finish_failed(job, table, ctx)
        if job.dry_run:
            job.status, job.message = JobStatus.DONE, f"校验通过，共 {job.total_rows} 行；仅校验，未写入 / valid (dry run)"
            job.finished_at = timezone.now()
            _save(job, "status", "message", "finished_at", "total_rows")
            return job
        _apply(job, table, ctx, spool, progress)
        if path:
            path.unlink(missing_ok=True)  # the upload holds clear personal numbers: keep it no longer than needed
            job.stored_file = ""
            _save(job, "stored_file")
        return job
    except (readers.TableError, ValidationFailed, PermissionDenied) as exc:
        return _finish_failed(job, table, None, message=exc.message)
    except IntegrityError:
        log.exception("import %s hit a constraint while applying", job.pk)
        return _finish_failed(
            job, table, None, message="写入时发现重复数据（可能有人同时导入了相同记录），未写入任何数据，请重新提交 / "
            "a concurrent change conflicted; nothing was written, please resubmit"
        )
    except Exception:
        log.exception("import %s failed", job.pk)
        return _finish_failed(job, table, None, message="导入时发生内部错误，已记录，未写入任何数据 / internal error")
    finally:
        if spool is not None:
            spool.close()
        if progress:
            progress(job)


def _validate(job, table, ctx, data: bytes, spool, progress) -> None:
    parsed = readers.read_table(data, job.file_name, max_bytes=settings.CIVICGRID_MAX_IMPORT_BYTES)
    processed = 0
    try:
        check_headers(table, parsed.headers)
        known = table.header_map()
        keys = [(h, known[h].key) for h in parsed.headers if h in known]
        table.begin(ctx)
        batch: list[tuple[int, dict]] = []
        for number, raw in parsed.rows:
            processed += 1
            values = table.parse(ctx, number, {key: raw[header] for header, key in keys})
            if values is not None:
                batch.append((number, values))
            if processed % table.batch_size == 0:
                _resolve(table, ctx, batch, spool)
                batch = []
                job.processed_rows = processed
                job.total_rows = max(job.total_rows or 0, processed)
                _save(job, "processed_rows", "total_rows")
                if progress:
                    progress(job)
        _resolve(table, ctx, batch, spool)
    except readers.TableError as exc:
        ctx.error(exc.row or 0, "文件", exc.message)
    finally:
        parsed.close()
    job.processed_rows = job.total_rows = processed
    if processed == 0 and not ctx.failed:
        ctx.error(parsed.header_row + 1, "文件", "文件中没有数据行 / the file has no data rows")
    _save(job, "processed_rows", "total_rows")


def _resolve(table, ctx, batch, spool) -> None:
    if not batch:
        return
    prepare = not ctx.failed  # once the file is known to fail, only check: no point encrypting
    rows = table.resolve(ctx, batch, prepare)
    if prepare and not ctx.failed and rows:
        pickle.dump(rows, spool, protocol=_SPOOL_PROTOCOL)


def _spooled(spool) -> Iterator[list[tuple]]:
    spool.seek(0)
    while True:
        try:
            yield pickle.load(spool)  # our own file, written above in this run: never outside input
        except EOFError:
            return


def _finish_failed(job, table, ctx, message: str = "") -> ImportJob:
    if ctx is not None:
        job.error_count = ctx.error_count
        job.errors = [list(e) for e in ctx.errors]
    job.status = JobStatus.FAILED
    job.message = message or (
        f"发现 {job.error_count} 处错误，未写入任何数据；请下载错误报告，修改后重新提交 / "
        f"{job.error_count} errors found; nothing was written"
    )
    job.applied_rows = 0
    job.finished_at = timezone.now()
    _save(job, "status", "message", "error_count", "errors", "applied_rows", "finished_at", "processed_rows", "total_rows")
    audit.record(
        actor=job.created_by or "system",
        action=verbs.Data.IMPORTED,
        target=job,
        data={"table": table.key, "rows": job.total_rows or 0, "errors": job.error_count, "applied": 0},
        result="failed",
    )
    return job


def _apply(job, table, ctx, spool, progress) -> None:
    job.status = JobStatus.APPLYING
    _save(job, "status")
    if progress:
        progress(job)
    side = _SideChannel(job)
    try:
        columns, tail = table.db_columns + table.constant_columns, table.constant_values(ctx)
        with transaction.atomic():
            written = 0
            for rows in _spooled(spool):
                if tail:
                    rows = [row + tail for row in rows]
                written += insert_rows(table.model, columns, rows)
                job.applied_rows = written
                side.report(written)
                if progress:
                    progress(job)
            table.after_apply(ctx)
            job.status, job.finished_at = JobStatus.DONE, timezone.now()
            job.message = f"已写入 {written} 行 / {written} rows imported"
            _save(job, "status", "finished_at", "applied_rows", "message")
            audit.record(
                actor=job.created_by or "system",
                action=verbs.Data.IMPORTED,
                target=job,
                data={"table": table.key, "rows": written, "errors": 0, "applied": written},
            )
            events.publish(
                "imports.job.done", payload={"id": job.pk, "table": table.key, "rows": written}, region_code=job.region_code
            )
    finally:
        side.close()


def insert_rows(model, columns: tuple[str, ...], rows: list[tuple]) -> int:
    """Insert ready rows (values in `columns` order, foreign keys as ids) in the caller's transaction.

    Bypasses model instances on purpose: bulk paths (imports, demo data) insert hundreds of thousands of rows.
    """
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    names = ", ".join(qn(model._meta.get_field(c).column) for c in columns)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return len(rows)
    fields = [model._meta.get_field(c) for c in columns]
    convert = [(i, f) for i, f in enumerate(fields) if f.get_internal_type() in ("DateField", "DateTimeField", "DecimalField")]
    if convert:
        # Dates repeat (one timestamp per run, a few thousand birth dates): convert each distinct value once.
        caches: list[dict] = [{} for _ in convert]
        prepared = []
        for row in rows:
            row = list(row)
            for (i, f), cache in zip(convert, caches, strict=True):
                value = row[i]
                if value is not None and not isinstance(value, str):  # ISO text is stored as it is
                    done = cache.get(value)
                    if done is None:
                        done = cache[value] = f.get_db_prep_value(value, connection)
                    row[i] = done
            prepared.append(row)
        rows = prepared
    placeholders = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)
    return len(rows)


class _SideChannel:
    """Progress written through a second connection, so others see it while the apply transaction is open.

    Only on PostgreSQL: SQLite has one writer at a time, and the apply transaction is that writer.
    """

    def __init__(self, job: ImportJob) -> None:
        self.job_id = job.pk
        self.last = 0
        # Inside a caller's transaction (tests, a wrapping command) that transaction may hold the job row's lock:
        # a second connection would wait for it forever, so progress then waits for the commit like the data.
        usable = connection.vendor == "postgresql" and not connection.in_atomic_block
        self.conn = connection.copy() if usable else None

    def report(self, applied: int) -> None:
        if self.conn is None or applied - self.last < 20_000:
            return
        self.last = applied
        try:
            with self.conn.cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")
                cursor.execute(
                    f"UPDATE {ImportJob._meta.db_table} SET applied_rows = %s, updated_at = %s WHERE id = %s",
                    [applied, timezone.now(), self.job_id],
                )
        except Exception:  # progress is a courtesy: never let it break the import
            log.warning("could not publish import progress", exc_info=True)
            self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ---------------------------------------------------------------------------------------------- reports


def error_report(job: ImportJob, fmt: str = "xlsx", *, actor=None) -> tuple[bytes, str, str]:
    """The rows of a failed import with 错误行/错误字段/错误说明 added, ready to fix and resubmit.

    The report repeats the uploaded rows (personal numbers included, as the uploader wrote them), so every
    download is recorded like an export.
    """
    by_row: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for row, header, message in job.errors:
        by_row[int(row)].append((header, message))
    extra = ["错误行", "错误字段", "错误说明"]

    def annotate(number: int) -> dict:
        problems = by_row.get(number, [])
        return {
            "错误行": number if problems else "",
            "错误字段": "、".join(dict.fromkeys(h for h, _ in problems)),
            "错误说明": "；".join(f"第 {number} 行「{h}」：{m}" for h, m in problems),
        }

    path = _path(job)
    headers, rows = extra, [annotate(n) for n in sorted(by_row)]
    if path and path.exists():
        try:
            parsed = readers.read_table(path.read_bytes(), job.file_name, max_bytes=settings.CIVICGRID_MAX_IMPORT_BYTES)
        except readers.TableError:
            parsed = None
        if parsed is not None:
            with parsed:
                original = [h for h in parsed.headers if h not in extra]
                everything = (job.total_rows or 0) <= REPORT_ALL_ROWS_UP_TO
                headers = original + extra
                try:
                    rows = [
                        {**{h: raw.get(h, "") for h in original}, **annotate(n)}
                        for n, raw in parsed.rows
                        if everything or n in by_row
                    ]
                except readers.TableError:
                    pass  # a broken row stops reading: keep the plain list of errors
                rows += [annotate(n) for n in sorted(by_row) if n <= parsed.header_row]
    name = f"{Path(job.file_name).stem}-错误报告"
    audit.record(
        actor=actor or "system",
        action=verbs.Data.EXPORTED,
        target=job,
        data={"table": job.table, "report": True, "format": fmt, "rows": len(rows), "clear": False},
    )
    if fmt == "csv":
        return readers.write_csv(headers, rows), f"{name}.csv", "text/csv; charset=utf-8"
    return readers.write_xlsx(headers, rows, sheet_title="错误报告"), f"{name}.xlsx", XLSX_TYPE


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def template_file(table_key: str) -> tuple[bytes, str]:
    """An empty XLSX with the table type's headers (required ones marked in a second row of hints)."""
    table = _table(table_key)
    headers = [c.header for c in table.columns]
    return readers.write_xlsx(headers, [], sheet_title=table.label), f"{table.label}导入模板.xlsx"


# ---------------------------------------------------------------------------------------------- exports


def export_table(
    *, actor, table: str, region: str | None = None, fmt: str = "xlsx", clear: bool = False
) -> tuple[bytes, str, str, int]:
    """A scoped export with Chinese headers; personal numbers masked unless `clear` is asked for and allowed."""
    kind = _table(table)
    region = (region or "").strip()
    if region and not (region.isdigit() and len(region) <= 15):
        raise ValidationFailed("区域代码无效 / invalid region code", field="region")
    if fmt not in ("xlsx", "csv"):
        raise ValidationFailed("格式只能是 xlsx 或 csv / format must be xlsx or csv", field="format")
    if actor is not None and not has_capability(actor, kind.export_capability):
        raise PermissionDenied("您无权导出此类数据 / you may not export this table")
    if clear and actor is not None:
        reveal_scope = scope_for(actor, "people.reveal")
        if not (reveal_scope.everything or (region and reveal_scope.covers_code(region))):
            raise PermissionDenied(
                "导出完整号码需要对所选区域有查看完整号码的权限，并须指定区域 / clear export needs `people.reveal` "
                "over the chosen region"
            )
    counter = {"rows": 0}

    def counted():
        for row in kind.export_rows(actor, kind.export_queryset(actor, region), clear):
            counter["rows"] += 1
            yield row

    headers = kind.export_headers
    if fmt == "csv":
        body, content_type = readers.write_csv(headers, counted()), "text/csv; charset=utf-8"
    else:
        body, content_type = readers.write_xlsx(headers, counted(), sheet_title=kind.label), XLSX_TYPE
    audit.record(
        actor=actor or "system",
        action=verbs.Data.EXPORTED,
        target_type=kind.model._meta.label_lower,
        target_repr=f"导出{kind.label} / export {kind.key}",
        region_code=region,
        data={"table": kind.key, "region": region, "format": fmt, "rows": counter["rows"], "clear": bool(clear)},
    )
    stamp = timezone.localtime().strftime("%Y%m%d%H%M")
    return body, f"{kind.label}-{region or '全部'}-{stamp}.{fmt}", content_type, counter["rows"]


def purge_stale_uploads(*, older_than_days: int = 7) -> int:
    """Delete the stored uploads of jobs finished more than `older_than_days` ago (they hold clear personal
    numbers; a failed job's report needs its file only while someone is fixing it). Returns how many."""
    from datetime import timedelta

    cutoff = timezone.now() - timedelta(days=older_than_days)
    purged = 0
    for job in ImportJob.objects.filter(finished_at__lt=cutoff).exclude(stored_file=""):
        path = _path(job)
        if path:
            path.unlink(missing_ok=True)
        ImportJob.objects.filter(pk=job.pk).update(stored_file="")
        purged += 1
    return purged


def visible_job(actor, job_id) -> ImportJob:
    """A job the actor may follow (their own, or in their import scope); 404 otherwise."""
    try:
        return ImportJob.objects.visible_to(actor).get(pk=job_id)
    except (ImportJob.DoesNotExist, ValueError, TypeError):
        raise NotFound("未找到该导入任务 / import job not found") from None
