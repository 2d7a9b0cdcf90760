"""Import of a district's population from CSV, against a raw load of the same file, on PostgreSQL and SQLite.

    python benchmarks/bench_import.py                 # 1,120,000 residents (Pingcheng's population)
    python benchmarks/bench_import.py --rows 100000   # smaller
    python benchmarks/bench_import.py --only postgres # one database

The CSV (Chinese headers, valid synthetic ID numbers, phones, grid and household codes) is written to /tmp. Each
database runs in a child process with its own settings, in a database made for the benchmark
(`bench_civicgrid`, UTF-8 from template0, dropped afterwards; SQLite: a file under /tmp):

* baseline on PostgreSQL: `COPY` of the file into a plain staging table (text columns, no indexes);
* baseline on SQLite: `executemany` INSERT of the file's rows into a plain table, in one transaction;
* civicgrid: the product's import path — `imports.services.create_job` + `run_import`, as `civicgrid import_table`
  runs it: read, detect encoding, validate every row (ID check, duplicates in the file and against the database,
  grid and household codes, scope), encrypt ID numbers and phones, blind indexes, masks, then one transaction
  that inserts everything (COPY on PostgreSQL) and updates household sizes.

Regions (1,000 grids) and the households the residents belong to are set up before timing. The figure of merit
is rows/s as a ratio to the baseline measured in the same run (goal for PostgreSQL: ≥ 0.25).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import common

BENCH_DB = "bench_civicgrid"
HEADERS = ["姓名", "身份证号", "联系电话", "所属网格代码", "户编号", "与户主关系", "人口类型", "民族", "工作单位"]
GRIDS = [f"140213{s:03d}{c:03d}{g:03d}" for s in range(1, 11) for c in range(1, 11) for g in range(1, 11)]
PER_HOUSEHOLD = 3


# ---------------------------------------------------------------------------------------------- the file


def write_csv(path: Path, rows: int) -> None:
    """N residents with distinct valid ID numbers (enumerated, so never a duplicate), in UTF-8 with BOM."""
    from civicgrid.foundation.core.pii import id_number_check_char

    surnames, given = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗", "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚华"
    start, days = date(1940, 1, 1), 25_000
    relations = ("户主", "配偶", "子女")
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        for i in range(rows):
            born = start + timedelta(days=i % days)
            order, sex = (i // days) % 99 + 1, (i // (days * 99)) % 10
            body = f"140213{born:%Y%m%d}{order:02d}{sex}"
            household = i // PER_HOUSEHOLD
            writer.writerow([
                surnames[i % 20] + given[(i * 7) % len(given)] + given[(i * 13) % len(given)],
                body + id_number_check_char(body),
                f"1{3 + i % 7}{(i * 7919) % 10**9:09d}",
                GRIDS[household % len(GRIDS)],
                f"BH{household:08d}",
                relations[i % PER_HOUSEHOLD],
                "户籍人口" if i % 10 else "流动人口",
                "汉族",
                "",
            ])


# ---------------------------------------------------------------------------------------------- a child


def _cpu(connection) -> float:
    """CPU seconds used so far by this process and its finished children (the import's worker processes) plus,
    on a local PostgreSQL, by its server backend.

    The machines running this are shared: wall-clock time swings with other work, CPU time much less, so both
    are reported.
    """
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the import's worker processes, once they are joined
    used = time.process_time() + children.ru_utime + children.ru_stime
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")  # a remote server: CPU not visible from here
    return used


def child(database: str, csv_path: Path, rows: int) -> dict:
    """Run in a fresh process on the benchmark database (named by the parent) and time both paths."""
    common.setup_django()
    from django.db import connection

    common.migrate()
    _setup(rows)
    baseline_1, cpu_1 = _baseline(connection, csv_path)
    cpu = _cpu(connection)
    result = _product(csv_path, rows)
    result["product_cpu_s"] = _cpu(connection) - cpu
    baseline_2, cpu_2 = _baseline(connection, csv_path)
    result.update(database=database, baseline_s=[baseline_1, baseline_2], baseline_cpu_s=[cpu_1, cpu_2])
    connection.close()
    return result


def _setup(rows: int) -> None:
    from django.db import transaction
    from django.utils import timezone

    from civicgrid.foundation.imports.services import insert_rows
    from civicgrid.foundation.people.models import Household
    from civicgrid.foundation.regions.models import Level, Region

    with transaction.atomic():
        district = Region.objects.create(code="140213", name="平城区", level=Level.DISTRICT)
        streets = {c[:9] for c in GRIDS}
        made = {district.code: district}
        for level, length, codes in ((Level.STREET, 9, streets), (Level.COMMUNITY, 12, {c[:12] for c in GRIDS}),
                                     (Level.GRID, 15, set(GRIDS))):
            objs = [Region(code=c, name=f"区域{c[-6:]}", level=level, parent=made[c[: length - 3 if length > 9 else 6]])
                    for c in sorted(codes)]
            for obj in Region.objects.bulk_create(objs, batch_size=1000):
                made[obj.code] = obj
        grid_ids = {c: made[c].pk for c in GRIDS}
        now = timezone.now()
        households = []
        for h in range((rows + PER_HOUSEHOLD - 1) // PER_HOUSEHOLD):
            grid = GRIDS[h % len(GRIDS)]
            households.append((f"BH{h:08d}", f"平城区测试路{h}号", "", True, 0, grid_ids[grid], grid, False, now, now))
        columns = ("code", "address", "head_name", "registered", "size", "grid", "region_code", "is_demo",
                   "created_at", "updated_at")
        for start in range(0, len(households), 50_000):
            insert_rows(Household, columns, households[start : start + 50_000])


def _baseline(connection, csv_path: Path) -> float:
    """The raw load: COPY on PostgreSQL, executemany on SQLite, into a plain table; (wall, CPU) seconds."""
    columns = ", ".join(f"c{i} text" for i in range(len(HEADERS)))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_raw")
        cursor.execute(f"CREATE TABLE bench_raw ({columns})")
    cpu = _cpu(connection)
    started = time.perf_counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, cursor.cursor.copy(
            "COPY bench_raw FROM STDIN (FORMAT csv, HEADER true, ENCODING 'UTF8')"
        ) as copy, csv_path.open("rb") as fh:
            fh.read(3)  # the BOM: COPY would take it as part of the header line
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
    else:
        from django.db import transaction

        with transaction.atomic(), csv_path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            placeholders = ", ".join(["%s"] * len(HEADERS))
            with connection.cursor() as cursor:
                cursor.executemany(f"INSERT INTO bench_raw VALUES ({placeholders})", reader)
    elapsed = time.perf_counter() - started
    cpu = _cpu(connection) - cpu
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_raw")
    return elapsed, cpu


def _product(csv_path: Path, rows: int) -> dict:
    from civicgrid.foundation.core import context
    from civicgrid.foundation.imports import services
    from civicgrid.foundation.imports.models import JobStatus
    from civicgrid.foundation.people.models import Household, Resident

    phases: dict[str, float] = {}

    def progress(job) -> None:
        phases.setdefault(job.status, time.perf_counter())

    started = time.perf_counter()
    with context.acting(channel="command"):
        job = services.create_job(actor=None, table="resident", file_name=csv_path.name, data=csv_path.read_bytes())
        job = services.run_import(job, progress=progress)
    elapsed = time.perf_counter() - started
    if job.status != JobStatus.DONE or Resident.objects.count() != rows:
        raise SystemExit(f"import failed: {job.status} {job.message} {job.errors[:3]}")
    sizes = Household.objects.filter(size=PER_HOUSEHOLD).count()
    applying = phases.get(JobStatus.APPLYING, started + elapsed)
    return {
        "product_s": elapsed,
        "validate_s": applying - started,
        "apply_s": started + elapsed - applying,
        "households_sized": sizes,
    }


# ---------------------------------------------------------------------------------------------- the parent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_120_000)
    parser.add_argument("--only", choices=["postgres", "sqlite"])
    parser.add_argument("--child", choices=["postgres", "sqlite"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        common.reply(child(args.child, Path(args.csv), args.rows))
        return 0
    csv_path = Path(tempfile.gettempdir()) / f"civicgrid-bench-residents-{args.rows}.csv"
    started = time.perf_counter()
    write_csv(csv_path, args.rows)
    size_mb = csv_path.stat().st_size / 1024 / 1024
    print(f"{args.rows:,} synthetic residents → {csv_path} ({size_mb:.1f} MB, {time.perf_counter() - started:.1f} s)")
    results = []
    env = {"CIVICGRID_MAX_IMPORT_BYTES": str(2 * 1024**3)}  # the full-size file is larger than the default cap
    try:
        for database in [args.only] if args.only else ["postgres", "sqlite"]:
            child_args = ["--child", database, "--csv", str(csv_path), "--rows", str(args.rows)]
            try:
                if database == "postgres":
                    result = common.on_postgres(__file__, child_args, db=BENCH_DB, prefix="civicgrid-bench-", env=env)
                else:
                    result = common.on_sqlite(__file__, child_args, prefix="civicgrid-bench-", env=env)
            except RuntimeError as exc:  # report and go on with the other database
                print(exc)
                continue
            if result:
                results.append(result)
    finally:
        csv_path.unlink(missing_ok=True)
    for r in results:
        baseline = sum(r["baseline_s"]) / len(r["baseline_s"])
        name = {"postgres": "PostgreSQL", "sqlite": "SQLite"}[r["database"]]
        raw = "COPY" if r["database"] == "postgres" else "executemany"
        print(f"\n{name}, {args.rows:,} rows")
        print(f"  baseline ({raw} into a plain table): {baseline:7.2f} s  {args.rows / baseline:>10,.0f} rows/s"
              f"   (runs: {', '.join(f'{b:.2f}' for b in r['baseline_s'])} s)")
        print(f"  civicgrid import:                    {r['product_s']:7.2f} s  {args.rows / r['product_s']:>10,.0f} rows/s"
              f"   (validate+encrypt {r['validate_s']:.1f} s, apply {r['apply_s']:.1f} s)")
        goal = "   goal ≥ 0.25" if r["database"] == "postgres" else ""
        cpu_base = sum(r["baseline_cpu_s"]) / len(r["baseline_cpu_s"])
        print(f"  ratio import/baseline: {baseline / r['product_s']:.3f}{goal}")
        print(f"  CPU seconds (client + database server): baseline {cpu_base:.2f}, import {r['product_cpu_s']:.2f}"
              f" → CPU ratio {cpu_base / r['product_cpu_s']:.3f}   (load average {os.getloadavg()[0]:.1f})")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
