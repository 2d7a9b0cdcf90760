"""The intake's parts counted in CPU instructions (valgrind's callgrind), which a busy machine does not disturb.

    python benchmarks/bench_intake_instructions.py                 # 200 reports per part, SQLite
    python benchmarks/bench_intake_instructions.py --reports 100

`bench_intake_parts.py` times the same parts in CPU seconds, which drift when other processes share the cores
(caches, frequency). Instructions executed do not: the same code on the same data counts the same, whatever else
runs, so a change to the intake can be judged by one run of this script even on a loaded machine. The figures
are still only a proxy for time (an instruction that waits on memory costs more than one that does not).

For SQLite only (on PostgreSQL most of an INSERT's work runs in the server process, which callgrind does not
see): a fresh demo as `bench_intake.py` makes it, copied for each part; then, for each part, one child process
under `valgrind --tool=callgrind --collect-atstart=no --toggle-collect=dropwhile_next`. The child warms up as a
web process does at its start (`intake.warm`), then every path (100 bare and 100 queued requests and a drain,
not counted), then runs its part inside an `itertools.dropwhile` loop, whose C iterator function is the only
place where callgrind counts:

  bare     POST /open311/v2/_bench/insert, `--reports` times (Django's WSGI handler called in-process);
  queued   POST /open311/v2/requests.json from a queued client, as many times;
  drain    `open311.services.drain()` over as many queued reports (queued first, not counted).

Printed: millions of instructions per report, each part as a multiple of the bare request, and the ratio
bare ÷ (queued + drain) that the issue's end-to-end goal (≥ 0.5) is about. Needs valgrind; slow (each part
runs the whole start of Django under valgrind: a few minutes on a quiet machine).
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from itertools import dropwhile
from pathlib import Path
from urllib.parse import quote

import bench_intake
import bench_intake_parts
import common

PARTS = ("bare", "queued", "drain")


def part_child(part: str, reports: int) -> None:
    """Runs under valgrind: warm up uncounted, then `part` inside dropwhile (the counted region)."""
    common.setup_django()
    info = bench_intake.setup_child()
    from civicgrid.apps.cases.services.intake import warm as warm_intake
    from civicgrid.foundation.core import context
    from civicgrid.integrations.open311 import services
    from config.wsgi import application

    warm_intake()  # as every web process does at its start (config/wsgi.py)

    points = itertools.cycle(info["points"])
    serial = itertools.count()
    prefix = f"service_code={quote(info['code'])}&description={quote(bench_intake.DESCRIPTION)}"

    def post(path: str, key: str) -> None:
        lng, lat = next(points)
        device = f"instr-{next(serial)}"
        body = f"api_key={quote(key)}&{prefix}&lat={lat}&long={lng}&device_id={device}".encode()
        bench_intake_parts._post(application, path, body, device)

    for _ in range(100):
        post(bench_intake.BARE_PATH, info["key"])
        post(bench_intake.INTAKE_PATH, info["queued_key"])
    with context.acting(channel="worker"):
        services.drain()

    def counted(step, n: int) -> None:
        for _ in dropwhile(lambda _i: step() is None, range(n)):
            pass

    if part == "bare":
        counted(lambda: post(bench_intake.BARE_PATH, info["key"]), reports)
    elif part == "queued":
        counted(lambda: post(bench_intake.INTAKE_PATH, info["queued_key"]), reports)
    else:
        for _ in range(reports):
            post(bench_intake.INTAKE_PATH, info["queued_key"])
        made: list[int] = []
        with context.acting(channel="worker"):
            counted(lambda: made.append(services.drain()), 1)
        if made[0] != reports:
            raise RuntimeError(f"the drain made {made[0]} cases of {reports} queued reports")


def count(part: str, reports: int, base: Path, env: dict) -> int:
    """Instructions the part executed, in a copy of the demo in `base`."""
    with tempfile.TemporaryDirectory(prefix=f"bench-instr-{part}-") as tmp:
        shutil.copytree(base, tmp, dirs_exist_ok=True)
        out = Path(tmp) / "callgrind.out"
        child_env = {**env, **common.sqlite_env(tmp)}
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=dropwhile_next",
             f"--callgrind-out-file={out}", sys.executable, __file__, "--child", part, "--reports", str(reports)],
            env=child_env, cwd=common.ROOT, capture_output=True, text=True, timeout=3600)
        found = re.search(r"Collected : (\d+)", run.stderr)
        if run.returncode != 0 or found is None:
            raise RuntimeError(f"the {part} part failed ({run.returncode}):\n{run.stderr[-3000:]}")
        return int(found.group(1))


def main() -> int:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--reports", type=int, default=200, help="reports per part")
    parser.add_argument("--child", choices=PARTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reports < 1:
        parser.error("--reports must be at least 1")
    if args.child:
        part_child(args.child, args.reports)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install -y valgrind): nothing measured")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-instr-") as base:
        env = common.child_env(common.sqlite_env(base))
        civicgrid = bench_intake._tool("civicgrid")
        bench_intake._run([civicgrid, "migrate", "--noinput", "-v0"], env, "migrate")
        bench_intake._run([civicgrid, "demo", "--history-days", "0"], env, "demo")
        env = {**env, "CIVICGRID_BENCH_ENDPOINTS": "1", "CIVICGRID_OPEN311_ADDRESS_RATE": "100000000",
               "CIVICGRID_OPEN311_ADDRESS_BURST": "100000000", "CIVICGRID_LOG_LEVEL": "ERROR"}
        per = {part: count(part, args.reports, Path(base), env) / args.reports for part in PARTS}
    bare = per["bare"]
    print(f"sqlite: {args.reports} reports per part; instructions per report (callgrind), and as a multiple of "
          f"the bare request")
    for part, label in (("bare", "bare request (the baseline)"), ("queued", "queued request"),
                        ("drain", "drain, per report")):
        print(f"    {label:<40} {per[part] / 1e6:8.2f} M   {per[part] / bare:5.2f} ×")
    print(f"    ratio bare ÷ (queued + drain):           {bare / (per['queued'] + per['drain']):.2f}"
          f"   (goal of the issue: ≥ 0.5)")
    print(f"    … if the drain cost nothing:             {bare / per['queued']:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")  # the same hashing in every child: repeatable counts
    sys.exit(main())
