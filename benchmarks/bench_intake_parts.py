"""Where an Open311 report's CPU goes, part by part, against the bare one-INSERT endpoint in the same process.

    python benchmarks/bench_intake_parts.py                   # SQLite and PostgreSQL, 2,000 reports each
    python benchmarks/bench_intake_parts.py --reports 500 --only sqlite

`bench_intake.py` measures the whole under concurrent load; this one takes it apart, to show which part would
have to shrink for the intake to reach half the bare endpoint's rate. For each database, a fresh demo as
`bench_intake.py` makes it (`civicgrid migrate`, `civicgrid demo --history-days 0`), then in one child process
(no server: Django's WSGI handler called in-process, so each figure is this process's CPU, plus on PostgreSQL
its server process's; bare and queued requests alternate in five rounds):

  bare     POST /open311/v2/_bench/insert, `--reports` times: form, one INSERT, JSON answer (the baseline);
  queued   POST /open311/v2/requests.json from a queued client, as many times: key check, service and
           attribute checks, location, one INSERT of the checked report, the token answered;
  drain    `open311.services.drain()` making those reports into cases (numbered, routed, timed, audited,
           published, linked), CPU per report;
    of which, the database: SQLite: every statement the drain sent, captured and replayed straight on the
           driver (Django's own sqlite3 cursor class, no ORM) against a copy of the database as it was before
           the drain; PostgreSQL: the drain's server process;
    of which, the text router: its batch form over the same reports' texts, in batches as the drain takes them.

Printed: microseconds per report and each as a multiple of the bare request, then three bounds on the ratio
intake/bare that `bench_intake.py`'s end-to-end figure approaches (its server adds the same per-request cost
to both sides, which moves the ratio a little toward 1): as measured, bare ÷ (queued + drain); if the drain
cost nothing but the database's work, bare ÷ (queued + database); if the drain were free, bare ÷ queued.
Figures are printed, never asserted; compare them within one run.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import bench_intake
import common

PG_DB = "bench_intake_parts"


# ---- child ----------------------------------------------------------------------------------------------------


def _post(application, path: str, body: bytes, key: str) -> None:
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
               "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
               "CONTENT_TYPE": "application/x-www-form-urlencoded", "HTTP_IDEMPOTENCY_KEY": key}
    status = []
    answer = application(environ, lambda s, headers, *_: status.append(s))
    text = b"".join(answer)
    answer.close()
    if not status[0].startswith("2"):
        raise RuntimeError(f"{path} answered {status[0]}: {text[:300]!r}")


class _Clock:
    """CPU seconds of this process and (PostgreSQL) of its database server process."""

    def __init__(self, connection):
        self.backend = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.backend = cursor.fetchone()[0]

    def read(self) -> tuple[float, float]:
        server = 0.0
        if self.backend is not None:
            stat = bench_intake._proc_stat(self.backend)
            server = stat[1] if stat is not None else 0.0
        return time.process_time(), server


def _replay(statements: list, copy: Path) -> float:
    """CPU seconds to send `statements` (sql, params, many) straight to SQLite against `copy`, with Django's
    sqlite3 cursor class (which only turns `%s` into `?`) and the connection settings of config/settings.py.
    Django commits with the driver's commit(), not a statement: an open transaction is committed before each
    BEGIN, and at the end."""
    import sqlite3

    from django.db.backends.sqlite3.base import SQLiteCursorWrapper

    db = sqlite3.connect(copy, isolation_level=None, check_same_thread=False)
    db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;")
    cursor = db.cursor(factory=SQLiteCursorWrapper)
    started = time.process_time()
    for sql, params, many in statements:
        if sql.startswith("BEGIN") and db.in_transaction:
            db.commit()
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
            if cursor.description:
                cursor.fetchall()
    if db.in_transaction:
        db.commit()
    used = time.process_time() - started
    db.close()
    return used


def parts_child(reports: int) -> dict:
    common.setup_django()
    info = bench_intake.setup_child()
    from django.conf import settings
    from django.db import connection

    from civicgrid.apps.cases.services.intake import router_suggestions
    from civicgrid.apps.cases.services.intake import warm as warm_intake
    from civicgrid.foundation.core import context
    from civicgrid.integrations.open311 import services
    from civicgrid.integrations.open311.models import QueuedRequest, QueueState
    from config.wsgi import application

    warm_intake()
    points = itertools.cycle(info["points"])
    serial = itertools.count()
    prefix = f"service_code={quote(info['code'])}&description={quote(bench_intake.DESCRIPTION)}"

    def body(key: str) -> tuple[bytes, str]:
        lng, lat = next(points)
        device = f"parts-{os.getpid()}-{next(serial)}"
        return f"api_key={quote(key)}&{prefix}&lat={lat}&long={lng}&device_id={device}".encode(), device

    def requests(path: str, key: str, n: int) -> None:
        for _ in range(n):
            data, device = body(key)
            _post(application, path, data, device)

    clock = _Clock(connection)

    def timed(fn) -> tuple[float, float]:
        own0, server0 = clock.read()
        fn()
        own1, server1 = clock.read()
        return own1 - own0, server1 - server0

    warm_n = min(200, reports)
    out: dict = {"vendor": connection.vendor, "reports": reports}
    # Warm every path first (imports, caches, the first prepared statements), and empty the queue.
    requests(bench_intake.BARE_PATH, info["key"], warm_n)
    requests(bench_intake.INTAKE_PATH, info["queued_key"], warm_n)
    with context.acting(channel="worker"):
        services.drain()
    # Bare and queued requests in alternating rounds, so a slow spell of the machine falls on both.
    rounds = 5
    sizes = [reports // rounds + (i < reports % rounds) for i in range(rounds)]
    out["bare"], out["queued"] = (0.0, 0.0), (0.0, 0.0)
    for size in sizes:
        part = timed(lambda size=size: requests(bench_intake.BARE_PATH, info["key"], size))
        out["bare"] = (out["bare"][0] + part[0], out["bare"][1] + part[1])
        part = timed(lambda size=size: requests(bench_intake.INTAKE_PATH, info["queued_key"], size))
        out["queued"] = (out["queued"][0] + part[0], out["queued"][1] + part[1])

    pending = list(QueuedRequest.objects.filter(state=QueueState.PENDING).order_by("id").values_list("report", flat=True))
    texts = [f"{r['payload']['title']} {r['payload']['description']}" for r in pending]
    copy = None
    if connection.vendor == "sqlite":  # the database as it is before the drain, for the replay
        connection.close()
        source = Path(settings.DATABASES["default"]["NAME"])
        copy = source.with_name(source.name + ".before-drain")
        for suffix in ("", "-wal"):
            if Path(f"{source}{suffix}").exists():
                shutil.copyfile(f"{source}{suffix}", f"{copy}{suffix}")
    statements: list = []

    def capture(execute, sql, params, many, context_):
        statements.append((sql, params, many))
        return execute(sql, params, many, context_)

    made = []
    with context.acting(channel="worker"), connection.execute_wrapper(capture):
        out["drain"] = timed(lambda: made.append(services.drain()))
    if made[0] != reports:
        raise RuntimeError(f"the drain made {made[0]} cases of {reports} queued reports")
    out["statements"] = len(statements)
    out["database"] = (_replay(statements, copy), 0.0) if copy is not None else (out["drain"][1], 0.0)
    batch = services.DRAIN_BATCH
    out["router"] = timed(lambda: [router_suggestions(texts[i:i + batch]) for i in range(0, len(texts), batch)])
    return out


# ---- parent ---------------------------------------------------------------------------------------------------


def measure(vendor: str, env: dict, args) -> dict:
    civicgrid = bench_intake._tool("civicgrid")
    bench_intake._run([civicgrid, "migrate", "--noinput", "-v0"], env, "migrate")
    bench_intake._run([civicgrid, "demo", "--history-days", "0"], env, "demo")
    child_env = {**env, "CIVICGRID_BENCH_ENDPOINTS": "1", "CIVICGRID_OPEN311_ADDRESS_RATE": "100000000",
                 "CIVICGRID_OPEN311_ADDRESS_BURST": "100000000", "CIVICGRID_LOG_LEVEL": "ERROR"}
    text = bench_intake._run([sys.executable, __file__, "--child", "--reports", str(args.reports)], child_env,
                             "the measuring child")
    return json.loads(text.strip().splitlines()[-1])


def report(r: dict) -> None:
    n = r["reports"]

    def us(part: tuple[float, float]) -> float:
        return 1e6 * (part[0] + part[1]) / n

    bare, queued, drain = us(r["bare"]), us(r["queued"]), us(r["drain"])
    database = us(r["database"])
    pg = r["vendor"] == "postgresql"
    where = "its server process" if pg else f"{r['statements']} statements replayed on the driver"
    print(f"{r['vendor']}: {n} reports; CPU per report{' (this process + the database server)' if pg else ''}, "
          f"and as a multiple of the bare request")
    rows = [("bare request (the baseline)", r["bare"]), ("queued request", r["queued"]),
            ("drain, per report", r["drain"]), (f"  of which the database ({where})", r["database"]),
            ("  of which the text router", r["router"])]
    for label, part in rows:
        value = us(part)
        split = f"   ({1e6 * part[0] / n:.0f} + {1e6 * part[1] / n:.0f})" if pg and part[1] else ""
        print(f"    {label:<62} {value:8.0f} µs   {value / bare:5.2f} ×{split}")
    print(f"    ratio bare ÷ (queued + drain), as measured:                        {bare / (queued + drain):.2f}")
    print(f"    … if the drain cost only the database's work:                      {bare / (queued + database):.2f}")
    print(f"    … if the drain cost nothing (the queued request alone):            {bare / queued:.2f}"
          f"   (goal of the issue: ≥ 0.5)", flush=True)


def main() -> int:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--reports", type=int, default=2000, help="reports per part")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reports < 1:
        parser.error("--reports must be at least 1")
    if args.child:
        common.reply(parts_child(args.reports))
        return 0
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory(prefix="bench-parts-") as tmp:
            report(measure("sqlite", common.child_env(common.sqlite_env(tmp)), args))
    if args.only in (None, "postgres"):
        with common.fresh_postgres(PG_DB) as url:
            if url is not None:
                with tempfile.TemporaryDirectory(prefix="bench-parts-") as tmp:
                    report(measure("postgres", common.child_env({"CIVICGRID_DATA_DIR": tmp, "DATABASE_URL": url}),
                                   args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
