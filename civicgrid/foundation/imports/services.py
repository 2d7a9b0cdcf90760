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
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from civicgrid.foundation.core.downloads import XLSX_TYPE

from ..access.scope import Scope, has_capability, scope_for
from ..audit import service as audit
from ..audit import verbs
from ..core import dbstats
from ..core.errors import NotFound, PermissionDenied, ValidationFailed
from ..events import bus as events
from . import readers, registry
from .models import ImportJob, JobStatus

log = logging.getLogger(__name__)
# From this many rows a PostgreSQL import drops the table's secondary indexes and rebuilds them after loading
# (see `_BulkLoad`); `settings.CIVICGRID_IMPORT_BULK_ROWS` overrides it.
BULK_ROWS_DEFAULT = 50_000
# From this many rows (estimated at upload) the costly per-row work runs in worker processes (`_Batches`);
# `settings.CIVICGRID_IMPORT_PARALLEL_ROWS` overrides it.
PARALLEL_ROWS_DEFAULT = 20_000
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

    here = context.current()
    return ImportJob.objects.create(
        table=kind.key,
        file_name=Path(file_name or "upload").name[:200],
        stored_file=str(stored.relative_to(settings.MEDIA_ROOT)),
        file_size=len(data),
        dry_run=dry_run,
        total_rows=estimate,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        region_code=_scope_root(scope),
        request_id=here.request_id,
        source_ip=here.source_ip,
        user_agent=here.user_agent,
        channel=here.channel,
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
    """Validate the job's file and, when it has no errors (and is not a dry run), apply it in one transaction.

    Its audit entries are the uploader's: they carry the request id, address, channel and user agent the upload
    came with (kept on the job), wherever the job runs (in the worker, later)."""
    from ..core import context

    here = context.current()
    with context.acting(channel=job.channel or here.channel, source_ip=job.source_ip,
                        request_id=job.request_id or here.request_id, user_agent=job.user_agent):
        return _run_import(job, progress)


def _run_import(job: ImportJob, progress: ProgressCallback | None) -> ImportJob:
    table = _table(job.table)
    actor = job.created_by
    job.status, job.started_at = JobStatus.VALIDATING, timezone.now()
    job.processed_rows = job.applied_rows = job.error_count = 0
    job.errors, job.message = [], ""
    _save(job, "status", "started_at", "processed_rows", "applied_rows", "error_count", "errors", "message")
    spool = None
    try:
        ctx = registry.ImportContext(actor=actor, scope=_import_scope(actor, table), job_id=job.pk)
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
    except OperationalError as exc:
        if getattr(getattr(exc, "__cause__", None), "sqlstate", None) != "55P03":  # lock_not_available
            log.exception("import %s failed", job.pk)
            return _finish_failed(job, table, None, message="导入时发生内部错误，已记录，未写入任何数据 / internal error")
        log.warning("import %s: the table stayed busy past lock_timeout", job.pk)
        return _finish_failed(
            job, table, None, message="数据表正被使用，未写入任何数据；大批量导入请在业务空闲时（如夜间）重新提交 / "
            "the table was busy; nothing was written: resubmit large imports off-hours"
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
    batches = _Batches(table, ctx, spool, parallel=(job.total_rows or 0) >= parallel_threshold())
    try:
        check_headers(table, parsed.headers)
        known = table.header_map()
        keys = [(h, known[h].key) for h in parsed.headers if h in known]
        table.begin(ctx)
        batch: list[tuple[int, dict]] = []
        append, parse, size = batch.append, table.parse, table.batch_size
        for number, raw in parsed.rows:
            processed += 1
            values = parse(ctx, number, {key: raw[header] for header, key in keys})
            if values is not None:
                append((number, values))
            if processed % size == 0:
                batches.add(batch)
                batch = []
                append = batch.append
                job.processed_rows = processed
                job.total_rows = max(job.total_rows or 0, processed)
                _save(job, "processed_rows", "total_rows")
                if progress:
                    progress(job)
        batches.add(batch)
        batches.finish()
    except readers.TableError as exc:
        batches.finish()
        ctx.error(exc.row or 0, "文件", exc.message)
    finally:
        batches.close()
        parsed.close()
    job.processed_rows = job.total_rows = processed
    if processed == 0 and not ctx.failed:
        ctx.error(parsed.header_row + 1, "文件", "文件中没有数据行 / the file has no data rows")
    _save(job, "processed_rows", "total_rows")


def parallel_threshold() -> int:
    """Rows (as estimated at upload) from which the costly per-row work runs in worker processes."""
    return int(getattr(settings, "CIVICGRID_IMPORT_PARALLEL_ROWS", PARALLEL_ROWS_DEFAULT))


class _Batches:
    """Checked batches on their way to the spool.

    A table type may declare the costly part of its rows (encryption, blind indexes) with `offload(ctx, batch,
    prepare) -> (function, args)` and take the result back with `absorb(ctx, batch, result) -> batch`. For large
    files that part runs in a pool of worker processes (`settings.CIVICGRID_IMPORT_WORKERS`, default: the CPUs,
    at most 2), a few batches ahead, while this process goes on reading and checking; results are taken back in
    file order, so reports are the same as when run here. The function must need no Django and no database:
    workers are fresh interpreters, given only what the table's `worker_init` needs (e.g. the key ring).
    """

    def __init__(self, table, ctx, spool, *, parallel: bool) -> None:
        self.table, self.ctx, self.spool = table, ctx, spool
        self.offload = getattr(table, "offload", None)
        self.pending: deque = deque()
        self.pool = None
        self.parallel = parallel and self.offload is not None

    def _start_pool(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        workers = int(getattr(settings, "CIVICGRID_IMPORT_WORKERS", 0) or min(2, os.cpu_count() or 1))
        init = getattr(self.table, "worker_init", None)
        initializer, initargs = init() if init else (None, ())
        # spawn: a clean interpreter, not a fork of this one with its database connections and threads
        self.pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=initializer, initargs=initargs
        )
        self.ahead = workers + 1

    def add(self, batch) -> None:
        if not batch:
            return
        if self.offload is None:
            _resolve(self.table, self.ctx, batch, self.spool)
            return
        function, args = self.offload(self.ctx, batch, not self.ctx.failed)
        if self.parallel:
            try:
                if self.pool is None:
                    self._start_pool()
                self.pending.append((batch, function, args, self.pool.submit(function, *args)))
            except (BrokenProcessPool, OSError):
                self._give_up_pool()
                self.finish()  # the batches before this one, in order
            else:
                while len(self.pending) > self.ahead:
                    self._drain_one()
                return
        self._finish(batch, function(*args))

    def _drain_one(self) -> None:
        batch, function, args, future = self.pending.popleft()
        try:
            result = future.result() if future is not None else function(*args)
        except BrokenProcessPool:  # a worker died (killed, out of memory, cannot start): do the rest here
            self._give_up_pool()
            result = function(*args)
        self._finish(batch, result)

    def _give_up_pool(self) -> None:
        log.warning("import worker processes are unavailable; continuing in this process", exc_info=True)
        self.parallel = False
        self.pending = deque((b, f, a, None) for b, f, a, _ in self.pending)
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None

    def _finish(self, batch, result) -> None:
        _resolve(self.table, self.ctx, self.table.absorb(self.ctx, batch, result), self.spool)

    def finish(self) -> None:
        while self.pending:
            self._drain_one()

    def close(self) -> None:
        self.pending.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


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
        # In row order: some checks run per batch (and possibly in workers), after the row's own checks.
        job.errors = [list(e) for e in sorted(ctx.errors, key=lambda e: e[0])]
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
        data={"table": table.key, "rows": job.total_rows or 0, "errors": job.error_count, "applied": 0,
              **_submitted(job)},
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
            with _BulkLoad(table.model, job.total_rows or 0):
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
                data={"table": table.key, "rows": written, "errors": 0, "applied": written, **_submitted(job)},
            )
            events.publish(
                "imports.job.done", payload={"id": job.pk, "table": table.key, "rows": written}, region_code=job.region_code
            )
    finally:
        side.close()
    if job.status == JobStatus.DONE and job.applied_rows >= dbstats.big_import_rows():
        dbstats.refresh_statistics([table.model])  # the planner's statistics after a large load


def _submitted(job: ImportJob) -> dict:
    """What the job's audit entries add about the upload: the file and the uploader's user agent (the address
    and channel are the entry's own columns)."""
    return {"job": job.pk, "file": job.file_name, "user_agent": job.user_agent}


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


def bulk_threshold() -> int:
    """Rows from which an import loads PostgreSQL tables the bulk way (`settings.CIVICGRID_IMPORT_BULK_ROWS`)."""
    return int(getattr(settings, "CIVICGRID_IMPORT_BULK_ROWS", BULK_ROWS_DEFAULT))


class _BulkLoad:
    """Around the inserts of a large import on PostgreSQL: drop the table's secondary indexes and constraints, and
    build them again once the rows are in, all inside the apply transaction.

    Maintaining six indexes and a deferred foreign-key check row by row costs several times what the rows
    themselves do; one sorted build per index (and one join to check a foreign key) afterwards is much cheaper.
    DDL is transactional on PostgreSQL, so all-or-nothing holds: if anything fails (including the rebuilt unique
    index finding a duplicate that slipped past validation, e.g. a concurrent insert) the whole import rolls back
    with the indexes as they were, and once committed no reader ever sees the table without them.

    The price: dropping an index takes an ACCESS EXCLUSIVE lock on the table until the transaction ends, so
    other readers and writers of the table wait for the whole load. Imports above the threshold are best run
    off-hours. Waiting for the lock itself is bounded by `lock_timeout` (`settings.CIVICGRID_IMPORT_BULK_LOCK_TIMEOUT`).

    The primary key stays, and so do unique indexes that foreign keys of other tables depend on. Definitions are
    read from the catalog (`pg_indexes`, `pg_constraint`), so whatever later migrations add is handled too.
    """

    def __init__(self, model, rows: int) -> None:
        self.model = model
        self.active = connection.vendor == "postgresql" and rows >= bulk_threshold()
        self.indexes: list[tuple[str, str]] = []  # (name, CREATE INDEX …) of plain indexes
        self.constraints: list[tuple[str, str, str]] = []  # (name, type, definition) of unique / FK / exclusion
        self.cache_size = None

    def __enter__(self) -> _BulkLoad:
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:  # a bigger page cache for this connection while the rows go in
                self.cache_size = cursor.execute("PRAGMA cache_size").fetchone()[0]
                cursor.execute("PRAGMA cache_size = -262144")  # KiB: 256 MB
        if not self.active:
            return self
        table = self.model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.conname, c.contype, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                "WHERE c.conrelid = %s::regclass AND c.contype IN ('u', 'f', 'x') "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint r WHERE r.contype = 'f' AND r.conindid = c.conindid "
                "AND c.contype <> 'f' AND r.conrelid <> c.conrelid) ORDER BY c.conname",
                [table],
            )
            self.constraints = cursor.fetchall()
            cursor.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                "JOIN pg_class x ON x.relname = i.indexname AND x.relnamespace = to_regnamespace(i.schemaname) "
                "JOIN pg_index d ON d.indexrelid = x.oid "
                "WHERE i.tablename = %s AND i.schemaname = current_schema() AND NOT d.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.oid) ORDER BY i.indexname",
                [table],
            )
            self.indexes = cursor.fetchall()
            qn, name = connection.ops.quote_name, connection.ops.quote_name(table)
            # A constraint with checks still pending in this transaction cannot be dropped: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, true)",
                           [_lock_timeout()])
            previous = cursor.fetchone()[0]
            for conname, _, _ in sorted(self.constraints, key=lambda c: c[1] != "f"):  # foreign keys first
                cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {qn(conname)}")
            for index, _ in self.indexes:
                cursor.execute(f"DROP INDEX {qn(index)}")
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
        log.info("bulk load of %s: dropped %d indexes and %d constraints until the rows are in",
                 table, len(self.indexes), len(self.constraints))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if connection.vendor == "sqlite" and self.cache_size is not None:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA cache_size = {int(self.cache_size)}")
        if not self.active or exc_type is not None:  # on failure the transaction rolls back the drops as well
            return
        qn, name = connection.ops.quote_name, connection.ops.quote_name(self.model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for _, definition in self.indexes:
                cursor.execute(definition)
            for conname, _, definition in sorted(self.constraints, key=lambda c: c[1] == "f"):  # keys last
                cursor.execute(f"ALTER TABLE {name} ADD CONSTRAINT {qn(conname)} {definition}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # Django's constraints are all INITIALLY DEFERRED


def _lock_timeout() -> str:
    return str(getattr(settings, "CIVICGRID_IMPORT_BULK_LOCK_TIMEOUT", "30s"))


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


def report_in_clear(actor, job: ImportJob) -> bool:
    """Whether the error report may show the uploaded personal numbers as written: to a reader who may reveal
    them over the whole of the job's region (as a clear export asks), or to the command line without a user
    (the operator holds the server and its keys)."""
    if actor is None:
        return True
    reveal = scope_for(actor, "people.reveal")
    return reveal.everything or bool(job.region_code and reveal.covers_code(job.region_code))


def error_report(job: ImportJob, fmt: str = "xlsx", *, actor=None) -> tuple[bytes, str, str]:
    """The rows of a failed import that have errors, as uploaded, with 错误行/错误字段/错误说明 added.

    Rows without errors are left out: the uploader fixes the flagged rows in their own file, and a report of
    every row would hand each reader everyone in the file. Personal numbers (the columns a table type gives a
    `mask`) are masked unless `report_in_clear`; a table type no longer registered cannot say which columns
    those are, so a reader who may not see them in clear gets the errors alone. Every download is recorded
    like an export, saying whether it was in clear.
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

    clear = report_in_clear(actor, job)
    table = registry.get(job.table)
    masks = {h: c.mask for h, c in table.header_map().items() if c.mask} if table else {}

    def shown(header: str, value):
        mask = masks.get(header)
        return mask(str(value)) if mask and not clear and value not in (None, "") else value

    path = _path(job)
    headers, rows = extra, [annotate(n) for n in sorted(by_row)]
    if path and path.exists() and (clear or table is not None):
        try:
            parsed = readers.read_table(path.read_bytes(), job.file_name, max_bytes=settings.CIVICGRID_MAX_IMPORT_BYTES)
        except readers.TableError:
            parsed = None
        if parsed is not None:
            with parsed:
                original = [h for h in parsed.headers if h not in extra]
                headers = original + extra
                try:
                    rows = [
                        {**{h: shown(h, raw.get(h, "")) for h in original}, **annotate(n)}
                        for n, raw in parsed.rows
                        if n in by_row
                    ]
                except readers.TableError:
                    rows = [annotate(n) for n in sorted(by_row)]  # a broken row stops reading: the errors alone
                else:
                    rows += [annotate(n) for n in sorted(by_row) if n <= parsed.header_row]
    name = f"{Path(job.file_name).stem}-错误报告"
    audit.record(
        actor=actor or "system",
        action=verbs.Data.EXPORTED,
        target=job,
        data={"table": job.table, "report": True, "format": fmt, "rows": len(rows), "clear": clear},
    )
    if fmt == "csv":
        return readers.write_csv(headers, rows), f"{name}.csv", "text/csv; charset=utf-8"
    return readers.write_xlsx(headers, rows, sheet_title="错误报告"), f"{name}.xlsx", XLSX_TYPE


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
        _refuse_export(actor, kind, region, fmt, clear, "您无权导出此类数据 / you may not export this table")
    if clear and actor is not None:
        reveal_scope = scope_for(actor, "people.reveal")
        if not (reveal_scope.everything or (region and reveal_scope.covers_code(region))):
            _refuse_export(
                actor, kind, region, fmt, clear,
                "导出完整号码需要对所选区域有查看完整号码的权限，并须指定区域 / clear export needs `people.reveal` "
                "over the chosen region",
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


def _refuse_export(actor, kind: registry.TableType, region: str, fmt: str, clear: bool, message: str) -> None:
    """Record a refused export as the trail records a refused reveal (the attempt, who, where, whether in
    clear, result `refused`), then refuse it. Nothing was read."""
    audit.record(
        actor=actor,
        action=verbs.Data.EXPORTED,
        target_type=kind.model._meta.label_lower,
        target_repr=f"导出{kind.label} / export {kind.key}",
        region_code=region,
        data={"table": kind.key, "region": region, "format": fmt, "rows": 0, "clear": bool(clear)},
        result="refused",
    )
    raise PermissionDenied(message)


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
