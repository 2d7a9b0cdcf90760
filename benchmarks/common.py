"""What the benchmarks share: a child process per database, the fresh databases, the synthetic district, timing
and query plans.

Every benchmark is a script (`python benchmarks/bench_x.py`, or through `run.py`); Python puts the script's
folder first on the path, so `import common` finds this file, and importing it puts the repository root on the
path so `civicgrid` and `config` import in the script and in its children alike.

The database benchmarks measure in a child process per database: the parent makes a fresh database (a
temporary SQLite file, or a PostgreSQL database named by the script or by `BENCH_PG_DB`, made from template0,
UTF-8 with C.UTF-8 collation, dropped afterwards, skipped with a message when no server answers), runs the
script again with `--child …` in an environment naming that database (`child_env`), and reads the figures back
from the child's last output line (JSON, written by `reply`). `bench_intake.py` serves the application from
such an environment instead, and `bench_locate.py` and `bench_router.py` use no database.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# ---- parent: the child's environment, its database, the run ---------------------------------------------


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """A parser whose --help shows the benchmark's docstring as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def parse_sizes(text: str) -> list[int]:
    """'1000,10000' → [1000, 10000], in the order given."""
    return [int(s) for s in text.split(",") if s.strip()]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without its database, set up for Django with the repository importable, then
    `extra` (the database: `sqlite_env` or `DATABASE_URL`, and the data directory)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CIVICGRID_SQLITE_PATH"}}
    path = [str(ROOT), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(ROOT))]
    env.update(DJANGO_SETTINGS_MODULE="config.settings", CIVICGRID_TESTING="0", CIVICGRID_LOG_LEVEL="WARNING",
               PYTHONPATH=os.pathsep.join(path))
    env.update(extra or {})
    return env


def sqlite_env(data_dir: str) -> dict[str, str]:
    """A SQLite database file (new, hence empty) and the data directory, both in `data_dir`."""
    return {"CIVICGRID_DATA_DIR": data_dir, "CIVICGRID_SQLITE_PATH": f"{data_dir}/bench.sqlite3"}


@contextmanager
def fresh_postgres(name: str) -> Iterator[str | None]:
    """A new, empty PostgreSQL database `name` (UTF-8, C.UTF-8 collation, from template0) for the block, its URL
    yielded; dropped afterwards, even if the block fails. Yields None, having said why, when psycopg is missing
    or no server answers at BENCH_PG_URL. `BENCH_PG_DB` names the database instead (two runs side by side, or
    a machine where only some names are free)."""
    name = os.environ.get("BENCH_PG_DB") or name
    try:
        import psycopg
    except ImportError:
        print("psycopg not installed: PostgreSQL skipped")
        yield None
        return
    try:
        admin = psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL not reachable at {PG_SERVER}: skipped ({exc})")
        yield None
        return
    with admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' "
                      "LC_CTYPE 'C.UTF-8'")
        try:
            yield f"{PG_SERVER}/{name}"
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run_child(script: str, args: list[str], env_extra: dict[str, str], *, what: str) -> dict:
    """Run `script` with `args` in a child process (environment `child_env(env_extra)`, from the repository
    root) and return the JSON of its last output line; RuntimeError with the end of its stderr if it fails."""
    out = subprocess.run([sys.executable, script, *args], env=child_env(env_extra), cwd=ROOT, capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{what} run failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def on_sqlite(script: str, args: list[str], *, prefix: str, env: dict[str, str] | None = None) -> dict:
    """`run_child` on a new SQLite database in a temporary data directory (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        return run_child(script, args, {**sqlite_env(tmp), **(env or {})}, what="sqlite")


def on_postgres(script: str, args: list[str], *, db: str, prefix: str, env: dict[str, str] | None = None,
                what: str = "postgres") -> dict | None:
    """`run_child` on a fresh PostgreSQL database `db` (see `fresh_postgres`) with a temporary data directory;
    None when PostgreSQL is not available."""
    with fresh_postgres(db) as url:
        if url is None:
            return None
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            return run_child(script, args, {"CIVICGRID_DATA_DIR": tmp, "DATABASE_URL": url, **(env or {})},
                             what=what)


def each_database(script: str, vendors: list[str], child_args: Callable[[str], list[str]], *, db: str,
                  prefix: str) -> Iterator[dict]:
    """The child's figures on each database in turn: 'sqlite' (`on_sqlite`), 'postgres' or 'postgresql' (the
    name the child is given; `on_postgres` on database `db`, left out when PostgreSQL is not available)."""
    for vendor in vendors:
        if vendor == "sqlite":
            yield on_sqlite(script, child_args(vendor), prefix=prefix)
        elif (result := on_postgres(script, child_args(vendor), db=db, prefix=prefix, what=vendor)) is not None:
            yield result


# ---- child: Django, the schema, the answer ----------------------------------------------------------------


def setup_django() -> None:
    """Set Django up in a child (the parent's `child_env` named the settings and the database)."""
    import django

    django.setup()


def migrate(*apps: str) -> None:
    """Create the schema: every app's, or only the named apps' (with what they depend on)."""
    from django.core.management import call_command

    for app in apps or (None,):
        call_command("migrate", *([app] if app else []), verbosity=0)


def reply(result: dict) -> None:
    """The child's answer to `run_child`: one JSON line, the last of its output."""
    print(json.dumps(result))


# ---- synthetic data -------------------------------------------------------------------------------------------


def build_district(*, first_street: int, streets: int = 18, communities: int = 10, grids: int = 5) -> tuple:
    """平城区 (140213) with `streets` streets (codes from 140213 + `first_street`), `communities` communities in
    each and `grids` grids in each community, laid out on a lattice, each region with a centroid and a box of
    0.01°; bulk-inserted. Returns (district, streets, communities, grids)."""
    from civicgrid.foundation.regions.models import Level, Region

    def region(code, name, level, parent, lng, lat):
        return Region(code=code, name=name, level=level, parent=parent, centroid_lng=lng, centroid_lat=lat,
                      min_lng=lng - 0.005, max_lng=lng + 0.005, min_lat=lat - 0.005, max_lat=lat + 0.005)

    district = Region.objects.create(code="140213", name="平城区", level=Level.DISTRICT, centroid_lng=113.3,
                                     centroid_lat=40.08)
    street_rows = Region.objects.bulk_create([
        region(f"140213{s + first_street:03d}", f"街道{s + 1}", Level.STREET, district, 113.2 + 0.012 * s, 40.08)
        for s in range(streets)])
    community_rows = Region.objects.bulk_create([
        region(f"{st.code}{c + 1:03d}", f"{st.name}社区{c + 1}", Level.COMMUNITY, st, st.centroid_lng,
               40.0 + 0.016 * c) for st in street_rows for c in range(communities)])
    grid_rows = Region.objects.bulk_create([
        region(f"{cm.code}{g + 1:03d}", f"{cm.name}网格{g + 1}", Level.GRID, cm, cm.centroid_lng + 0.002 * g,
               cm.centroid_lat) for cm in community_rows for g in range(grids)])
    return district, street_rows, community_rows, grid_rows


# ---- timing and plans ---------------------------------------------------------------------------------------


def seconds(func: Callable[[], object]) -> float:
    """Wall time of one call, in seconds."""
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def best_of(repeat: int, func: Callable[[], object]) -> float:
    """Shortest wall time in seconds of `repeat` calls (the least disturbed by other work on the machine)."""
    return min(seconds(func) for _ in range(repeat))


def first_best_median(func: Callable[[], object], runs: int = 5) -> dict[str, float]:
    """The first call (cold caches), then the best and the median of `runs` more, in milliseconds."""
    t = time.perf_counter()
    func()
    first = (time.perf_counter() - t) * 1000
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        func()
        times.append((time.perf_counter() - t) * 1000)
    return {"first_ms": first, "best_ms": min(times), "median_ms": statistics.median(times)}


def timing_line(name: str, t: dict[str, float], width: int) -> str:
    """One `first_best_median` result, indented under its database's line."""
    return (f"           {name:<{width}} first {t['first_ms']:8.1f} ms   best {t['best_ms']:8.1f} ms   "
            f"median {t['median_ms']:8.1f} ms")


def explain(sql: str, params: list | tuple = (), *, indent: bool = False) -> str:
    """The database's plan for a statement, on one line: its lines joined by ' | ', stripped unless `indent`
    (PostgreSQL indents a node's children under it)."""
    from django.db import connection

    sqlite = connection.vendor == "sqlite"
    with connection.cursor() as cur:
        cur.execute(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + sql, params)
        lines = [str(r[-1] if sqlite else r[0]) for r in cur.fetchall()]
    return " | ".join(line if indent else line.strip() for line in lines)


def plan(queryset, limit: int = 700) -> str:
    """`explain` for a queryset, cut at `limit` characters."""
    sql, params = queryset.query.sql_with_params()
    return explain(sql, params)[:limit]
