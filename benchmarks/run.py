"""Run the benchmarks one after another and print their figures.

Each benchmark measures its own baseline in the same run and prints ratios against it (the machines are
noisy; absolute numbers from different runs are not comparable). Usage:

    python benchmarks/run.py              # all, at their default (full) sizes
    python benchmarks/run.py locate sla   # only those whose file name contains one of the words
    python benchmarks/run.py --quick      # smaller sizes, for a smoke check

`bench_router.py` needs a labelled message file, named by BENCH_MESSAGES_CSV (id,text,label); without it the
router benchmark is skipped. What the benchmarks share (a child process per fresh database, timing, plans)
is in `common.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK_ARGS = {
    "bench_account_delete.py": ["--sizes", "10000,50000"],
    "bench_audit_types.py": ["--sizes", "10000,50000"],
    "bench_board.py": ["--sizes", "10000,50000"],
    "bench_case_ledger.py": ["--sizes", "200,2000", "--repeat", "1"],
    "bench_case_saves.py": ["--sizes", "10000", "--cases", "50"],
    "bench_case_list.py": ["--sizes", "10000,50000"],
    "bench_evaluation.py": ["--sizes", "10000,50000"],
    "bench_hazard_ledger.py": ["--sizes", "100,1000", "--postgres"],
    "bench_import.py": ["--rows", "50000"],
    "bench_intake.py": ["--duration", "2", "--rounds", "2"],
    "bench_intake_parts.py": ["--reports", "300"],
    "bench_intake_instructions.py": ["--reports", "50"],
    "bench_locate.py": ["--points", "100000"],
    "bench_nearest_warehouse.py": ["--sizes", "100,1000", "--postgres"],
    "bench_outbox_poll.py": ["--sizes", "1000,20000"],
    "bench_retention.py": ["--sizes", "10000,50000"],
    "bench_router.py": ["--folds", "2", "--skip-timing"],
    "bench_sla_sweep.py": ["--clocks", "100000"],
}


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    words = [a for a in argv if not a.startswith("--")]
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not words or any(w in p.name for w in words))
    failures = 0
    for script in scripts:
        args = QUICK_ARGS.get(script.name, []) if quick else []
        if script.name == "bench_router.py":
            if not os.environ.get("BENCH_MESSAGES_CSV"):
                print(f"\n=== {script.name}: skipped (set BENCH_MESSAGES_CSV to a labelled message file)", flush=True)
                continue
            args = ["--csv", os.environ["BENCH_MESSAGES_CSV"], *args]
        print(f"\n=== {script.name} {' '.join(args)}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *args], cwd=HERE.parent)
        print(f"=== {script.name}: exit {code}, {time.perf_counter() - started:.1f} s", flush=True)
        failures += code != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
