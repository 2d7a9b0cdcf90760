"""Intake under concurrent load: Open311 `POST requests.json` against a bare one-INSERT endpoint, same stack.

    python benchmarks/bench_intake.py                      # SQLite and PostgreSQL, 10 s per measurement, 3 rounds
    python benchmarks/bench_intake.py --duration 5 --only sqlite
    python benchmarks/bench_intake.py --connections 16 --threads 2
    python benchmarks/bench_intake.py --duration 5 --rounds 5   # 4 more rounds of bare then queued; 1: no more

For each database, in one run: a fresh demo (SQLite in a new `CIVICGRID_DATA_DIR`; PostgreSQL in a new database
`bench_intake`, UTF-8 from template0, dropped afterwards), `civicgrid migrate` + `civicgrid demo --history-days 0`, then granian as
RECIPES.md serves Django (`--interface wsgi --workers 2 --blocking-threads 1 --no-ws`, persistent connections)
on 127.0.0.1 only, with `CIVICGRID_BENCH_ENDPOINTS=1` so the baseline is mounted:

  (a) bare:   POST /open311/v2/_bench/insert   - parse the form, INSERT one row, answer JSON;
  (b) intake: POST /open311/v2/requests.json   - key check, service and attribute checks, locate the point to
              its grid, number, route, SLA clock, audit (twice), outbox, the Open311 link row.

  (c) queued: POST /open311/v2/requests.json from a client set to queue - the same checks and location, one
              INSERT, the token answered; meanwhile a drainer process does what the worker's job does on each
              pass (once a second, at the worker's niceness): `open311.services.drain`, which makes the queue
              into cases in batches with every row (b) writes. After the last request the drainer empties the
              queue; printed are the HTTP figures, how long that took, and the end-to-end rate (requests ÷ the
              time from the first request to the empty queue) with the CPU of server, drainer and database.

wrk drives all three with the same Lua-generated bodies (form-encoded; a unique device id and Idempotency-Key per
request; points that lie inside the district's grids), after a short warm-up of each. With `--rounds N`,
N - 1 more rounds of (a) then (c) follow, and each round's ratios (queued over the bare measurement just before
it) are printed with their median: the machine's speed drifts, and neighbouring measurements drift apart less.
Printed: req/s, p50/p99 latency, errors (non-2xx and socket errors), the server's CPU time per request (granian
and its workers, and on PostgreSQL the database's own server processes, from /proc) and the ratio intake/bare
(goal ≥ 0.5 with zero errors), in requests and in CPU per request. Figures are printed, never asserted; compare
ratios within one run (the machines are noisy). Every process it starts is stopped at the end; it needs `wrk`
(`apt-get install -y wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

import common
from common import ROOT

BIN = Path(sys.executable).parent
PG_DB = "bench_intake"
DESCRIPTION = "小区门口垃圾堆放，影响通行，请尽快处理。"
BARE_PATH = "/open311/v2/_bench/insert"
INTAKE_PATH = "/open311/v2/requests.json"

# ---- child: set up the benchmark's client, table and points inside the freshly loaded demo -------------------


def setup_child() -> dict:
    common.setup_django()
    from django.db import connection

    from civicgrid.foundation.regions.models import Level, Region
    from civicgrid.foundation.regions.selectors import locate
    from civicgrid.integrations.open311 import bench, catalogue, services
    from civicgrid.integrations.open311.models import ServiceAttribute

    _, key = services.create_client(actor=None, name=f"bench-{uuid.uuid4().hex[:8]}", rate_per_minute=10**6,
                                    burst=10**6)
    _, queued_key = services.create_client(actor=None, name=f"bench-q-{uuid.uuid4().hex[:8]}",
                                           rate_per_minute=10**6, burst=10**6, queued=True)
    with connection.cursor() as cursor:
        cursor.execute(bench.CREATE[connection.vendor])
    required = set(ServiceAttribute.objects.filter(required=True).values_list("category_id", flat=True))
    code = next(s["service_code"] for s in catalogue.service_list()
                if catalogue.find_service(s["service_code"]).pk not in required)
    points = []
    grids = Region.objects.filter(level=Level.GRID).order_by("code").values_list("centroid_lng", "centroid_lat")
    for lng, lat in list(grids)[::4]:
        try:
            found = locate(lng, lat, "wgs84")
        except Exception:  # noqa: BLE001 - a centroid outside its concave grid is simply not used
            continue
        if found.grid is not None:
            points.append((round(lng, 6), round(lat, 6)))
        if len(points) >= 200:
            break
    return {"key": key, "queued_key": queued_key, "code": code, "points": points}


def drain_child() -> None:
    """The queued measurement's drainer: `services.drain()` once a second (what the worker's job does on each
    pass, at its default interval and niceness, here without the worker's other work, such as delivering the new cases'
    events, which neither measurement includes), until SIGTERM; then it drains
    what is left, prints how many reports the queue holds in each state and waits for its stdin to close (so
    the parent can read its CPU time, and on PostgreSQL its server process's, before it goes)."""
    common.setup_django()
    from django.db import connection
    from django.db.models import Count

    from civicgrid.apps.cases.services.intake import warm as warm_intake
    from civicgrid.foundation.core import context
    from civicgrid.integrations.open311 import services
    from civicgrid.integrations.open311.models import QueuedRequest

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    warm_intake()
    print("BENCH_DRAIN_READY", flush=True)
    from django.conf import settings

    from civicgrid.foundation.core.management.commands.worker import yield_cpu

    yield_cpu(settings.CIVICGRID_WORKER_NICE)  # as the worker does
    interval = settings.CIVICGRID_WORKER_INTERVAL
    busy = False
    with context.acting(channel="worker"):
        while True:  # the worker's cadence: a pass, then sleep for the rest of the interval
            began = time.monotonic()
            n = services.drain()
            if busy and not n:  # the queue is empty again (CLOCK_MONOTONIC: the parent compares it with its own)
                print(f"BENCH_DRAIN_IDLE {time.monotonic()}", flush=True)
            busy = bool(n)
            if stopping and not n:
                break
            if not stopping:
                time.sleep(max(0.0, interval - (time.monotonic() - began)))
    counts = dict.fromkeys(("pending", "made", "failed"), 0)
    counts.update(QueuedRequest.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    print("BENCH_DRAIN " + json.dumps(counts), flush=True)
    sys.stdin.read()
    connection.close()


# ---- parent ----------------------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], env: dict, what: str) -> str:
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return out.stdout


def lua_script(path: str, key: str, code: str, points: list, tag: str) -> str:
    """A wrk script: unique ids per request (thread number + counter), points taken in turn."""
    table = ",".join(f"{{{lng},{lat}}}" for lng, lat in points)
    return f"""
local points = {{{table}}}
local prefix = "api_key={quote(key)}&service_code={quote(code)}&description={quote(DESCRIPTION)}"
local counter = 0
local threads = {{}}
local n = 0
function setup(thread)
  n = n + 1
  thread:set("tid", n)
  table.insert(threads, thread)
end
function request()
  counter = counter + 1
  local p = points[(counter * 7 + tid * 13) % #points + 1]
  local id = string.format("{tag}-%d-%d", tid, counter)
  local body = prefix .. "&lat=" .. p[2] .. "&long=" .. p[1] .. "&device_id=" .. id
  return wrk.format("POST", "{path}", {{["Content-Type"] = "application/x-www-form-urlencoded",
                                          ["Idempotency-Key"] = id}}, body)
end
function response(status, headers, body)
  if status >= 300 and first_error == nil then
    first_error = tostring(status) .. " " .. string.sub(body, 1, 300)
  end
end
function done(summary, latency, requests)
  local first = ""
  for _, t in ipairs(threads) do
    local e = t:get("first_error")
    if e ~= nil and first == "" then first = string.gsub(e, '[%c"\\\\]', " ") end
  end
  local e = summary.errors
  io.write(string.format('BENCH_JSON {{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"first_error":"%s"}}\\n',
    summary.requests, summary.duration, math.floor(latency:percentile(50)), math.floor(latency:percentile(99)),
    math.floor(latency.max),
    e.status, e.connect, e.read, e.write, e.timeout, first))
end
"""


def run_wrk(base: str, script: Path, seconds: float, threads: int, connections: int) -> dict:
    cmd = [_tool("wrk"), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "-s", str(script), base]
    out = subprocess.run(cmd, capture_output=True, encoding="utf-8", errors="replace", timeout=seconds + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    r = json.loads(line[len("BENCH_JSON "):])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    return r


def serve(env: dict, port: int, log: Path) -> subprocess.Popen:
    cmd = [_tool("granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
           "--blocking-threads", "1", "--no-ws", "--no-access-log", "config.wsgi:application"]
    handle = open(log, "w")  # noqa: SIM115 - closed with the process below
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_handle = handle
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"granian exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    stop(proc)
    raise RuntimeError("granian did not answer /healthz within 60 s")


def stop(proc: subprocess.Popen) -> None:
    """Stop the server this benchmark started (its own process group), politely first."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    proc.log_handle.close()


def _postgres_backends(vendor: str) -> set[int]:
    """The PostgreSQL server processes serving the benchmark's database (none on SQLite)."""
    if vendor != "postgres":
        return set()
    import psycopg

    with psycopg.connect(f"{common.PG_SERVER}/postgres", autocommit=True, connect_timeout=3) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [PG_DB]).fetchall()
    return {pid for (pid,) in rows}


def server_cpu_seconds(proc: subprocess.Popen, vendor: str) -> float:
    """CPU time (user + system) used so far by every process of the server's session (granian and its workers)
    and, on PostgreSQL, by the database's server processes for the benchmark's database; Linux only (/proc),
    0.0 elsewhere. Compared per request, it says what a request costs whatever else the machine is running."""
    if not Path("/proc/self/stat").exists():
        return 0.0
    backends = _postgres_backends(vendor)
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(int(entry.name))
        # the process group (the server was started in its own session), or a database server process
        if stat is not None and (stat[0] == proc.pid or int(entry.name) in backends):
            total += stat[1]
    return total


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(process group, user + system CPU seconds) of a process, from /proc; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[3]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def warm(base: str, path: str, info: dict, seconds: float = 180.0) -> float:
    """Send rounds of 4 concurrent requests until a whole round answers within a second: every worker has then
    loaded what it loads on first use (the locator index, the text router's model). Returns the time taken."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlencode

    lng, lat = info["points"][0]
    body = urlencode({"api_key": info["key"], "service_code": info["code"], "lat": lat, "long": lng,
                      "description": DESCRIPTION}).encode()

    def one(_):
        started = time.monotonic()
        request = urllib.request.Request(base + path, data=body, method="POST")
        with urllib.request.urlopen(request, timeout=seconds) as r:
            r.read()
        return time.monotonic() - started

    began = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        while time.monotonic() - began < seconds:
            if max(pool.map(one, range(4))) < 1.0:
                break
    return time.monotonic() - began


def measure(vendor: str, env: dict, args, tmp: Path) -> dict:
    civicgrid = _tool("civicgrid")
    started = time.perf_counter()
    _run([civicgrid, "migrate", "--noinput", "-v0"], env, "migrate")
    _run([civicgrid, "demo", "--history-days", "0"], env, "demo")  # measured as before: no case history
    prepared_s = time.perf_counter() - started
    info = json.loads(_run([sys.executable, __file__, "--setup"], env, "setup").strip().splitlines()[-1])
    port = _free_port()
    server_env = {**env, "CIVICGRID_BENCH_ENDPOINTS": "1", "CIVICGRID_OPEN311_ADDRESS_RATE": "100000000",
                  "CIVICGRID_OPEN311_ADDRESS_BURST": "100000000", "CIVICGRID_LOG_LEVEL": "ERROR"}
    proc = serve(server_env, port, tmp / "granian.log")
    base = f"http://127.0.0.1:{port}"
    result = {"vendor": vendor, "prepared_s": prepared_s, "points": len(info["points"]), "code": info["code"]}

    def direct(name: str, path: str) -> dict:
        tag = uuid.uuid4().hex[:6]
        result.setdefault(f"{name}_warm_s", warm(base, path, info))
        script = tmp / f"{name}.lua"
        script.write_text(lua_script(path, info["key"], info["code"], info["points"], f"w{tag}"))
        run_wrk(base, script, min(2, args.duration), args.threads, args.connections)  # warm-up
        script.write_text(lua_script(path, info["key"], info["code"], info["points"], f"m{tag}"))
        cpu_before = server_cpu_seconds(proc, vendor)
        measured = run_wrk(base, script, args.duration, args.threads, args.connections)
        used = server_cpu_seconds(proc, vendor) - cpu_before
        measured["cpu_ms"] = 1000 * used / measured["requests"] if measured["requests"] else 0.0
        return measured

    try:
        for name, path in (("bare", BARE_PATH), ("intake", INTAKE_PATH)):
            result[name] = direct(name, path)
        if not args.no_queued:
            result["queued"] = measure_queued(base, info, proc, vendor, env, args, tmp)
            # Further rounds of bare then queued: the machine's speed drifts between measurements, and a ratio
            # of two neighbouring measurements drifts less than one of measurements minutes apart.
            result["rounds"] = [_round(result["bare"], result["queued"])]
            for _ in range(args.rounds - 1):
                result["rounds"].append(_round(direct("bare", BARE_PATH),
                                               measure_queued(base, info, proc, vendor, env, args, tmp)))
    finally:
        stop(proc)
    result["ratio"] = result["intake"]["rps"] / result["bare"]["rps"] if result["bare"]["rps"] else 0.0
    return result


def _round(bare: dict, queued: dict) -> dict:
    """One round's ratios (queued over bare): HTTP, end to end, CPU per report; and whether it was clean."""
    return {"bare_rps": bare["rps"], "http": queued["rps"] / bare["rps"], "e2e": queued["e2e_rps"] / bare["rps"],
            "cpu": bare["cpu_ms"] / queued["cpu_ms"] if queued["cpu_ms"] else 0.0,
            "clean": not (bare["errors"] or queued["errors"] or queued["queue"]["failed"] or queued["queue"]["pending"])}


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc; 0.0 elsewhere)."""
    stat = _proc_stat(pid)
    return stat[1] if stat is not None else 0.0


def measure_queued(base: str, info: dict, proc, vendor: str, env: dict, args, tmp: Path) -> dict:
    """(c) the same POST from a queued client, with a drainer process making the cases meanwhile: the HTTP
    figures, then the time the drainer needs after the last request to empty the queue, and the whole: reports
    made into cases per second from the first request to the empty queue, CPU per report of server, drainer and
    (PostgreSQL) their database processes together."""
    drainer = subprocess.Popen([sys.executable, __file__, "--drain"], env=env, cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        if drainer.stdout.readline().strip() != "BENCH_DRAIN_READY":
            raise RuntimeError("the drainer did not start")
        out = {"warm_s": warm(base, INTAKE_PATH, {**info, "key": info["queued_key"]})}
        tag = uuid.uuid4().hex[:6]
        script = tmp / "queued.lua"
        script.write_text(lua_script(INTAKE_PATH, info["queued_key"], info["code"], info["points"], f"w{tag}"))
        run_wrk(base, script, min(2, args.duration), args.threads, args.connections)  # warm-up
        warmed = time.monotonic()
        while True:  # until the drainer has emptied the warm-up's queue
            line = drainer.stdout.readline()
            if not line:
                raise RuntimeError("the drainer stopped")
            if line.startswith("BENCH_DRAIN_IDLE ") and float(line.split()[1]) >= warmed:
                break
        script.write_text(lua_script(INTAKE_PATH, info["queued_key"], info["code"], info["points"], f"m{tag}"))
        server_before, drainer_before = server_cpu_seconds(proc, vendor), proc_cpu_seconds(drainer.pid)
        started = time.monotonic()
        out.update(run_wrk(base, script, args.duration, args.threads, args.connections))
        http_done = time.monotonic()
        os.kill(drainer.pid, signal.SIGTERM)
        line = drainer.stdout.readline()
        while line.startswith("BENCH_DRAIN_IDLE "):
            line = drainer.stdout.readline()
        drained = time.monotonic()
        if not line.startswith("BENCH_DRAIN "):
            raise RuntimeError(f"the drainer gave no summary: {line!r}")
        out["queue"] = json.loads(line[len("BENCH_DRAIN "):])
        server_used = server_cpu_seconds(proc, vendor) - server_before
        drainer_used = proc_cpu_seconds(drainer.pid) - drainer_before
        used = server_used + drainer_used
        out["drainer_cpu_ms"] = 1000 * drainer_used / out["requests"] if out["requests"] else 0.0
        out["tail_s"] = drained - http_done
        out["e2e_s"] = drained - started
        out["e2e_rps"] = out["requests"] / out["e2e_s"]
        out["cpu_ms"] = 1000 * used / out["requests"] if out["requests"] else 0.0
    finally:
        if drainer.poll() is None:
            drainer.stdin.close()
            try:
                drainer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(drainer.pid, signal.SIGKILL)
    return out


def run_sqlite(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        return measure("sqlite", common.child_env(common.sqlite_env(tmp)), args, Path(tmp))


def run_postgres(args) -> dict | None:
    with common.fresh_postgres(PG_DB) as url:
        if url is None:
            return None
        with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
            env = common.child_env({"CIVICGRID_DATA_DIR": tmp, "DATABASE_URL": url})
            return measure("postgres", env, args, Path(tmp))


def report(r: dict, args) -> None:
    def line(name: str, m: dict) -> str:
        return (f"    {name:<7} {m['rps']:8.0f} req/s   p50 {m['p50_us'] / 1000:6.1f} ms   p99 {m['p99_us'] / 1000:6.1f} ms"
                f"   errors {m['errors']} (non-2xx {m['status']}, socket {m['errors'] - m['status']})   "
                f"{m['requests']} requests   server CPU {m['cpu_ms']:.2f} ms/request")

    print(f"{r['vendor']}: demo ready in {r['prepared_s']:.0f} s; wrk -t{args.threads} -c{args.connections} "
          f"-d{args.duration:g}s; granian 2 workers × 1 blocking thread; {r['points']} points; service {r['code']}")
    print(f"    warm-up until 4 concurrent requests answer within 1 s: bare {r['bare_warm_s']:.1f} s, intake "
          f"{r['intake_warm_s']:.1f} s (first use loads the locator index and the text router's model)")
    print(line("bare", r["bare"]))
    print(line("intake", r["intake"]))
    for name in ("bare", "intake"):
        if r[name]["first_error"]:
            print(f"    first error ({name}): {r[name]['first_error']}")
    verdict = "met" if r["ratio"] >= 0.5 and not r["intake"]["errors"] else "NOT met"
    print(f"    ratio intake/bare {r['ratio']:.2f} (goal ≥ 0.5 with zero errors: {verdict})", flush=True)
    if r["intake"]["cpu_ms"]:
        print(f"    server CPU per request bare/intake {r['bare']['cpu_ms'] / r['intake']['cpu_ms']:.2f} (the same "
              f"ratio measured in CPU time: it does not move with other load on the machine)", flush=True)
    q = r.get("queued")
    if q:
        bare = r["bare"]
        print(line("queued", q) .replace("server CPU", "CPU incl. drainer"))
        if q["first_error"]:
            print(f"    first error (queued): {q['first_error']}")
        print(f"    queue after the run: {q['queue']['made']} made into cases, {q['queue']['failed']} failed, "
              f"{q['queue']['pending']} pending; the drainer needed {q['tail_s']:.1f} s after the last request")
        ok = not q["errors"] and not q["queue"]["failed"] and not q["queue"]["pending"]
        http_ratio, e2e_ratio = q["rps"] / bare["rps"], q["e2e_rps"] / bare["rps"]
        print(f"    ratio queued/bare: HTTP {http_ratio:.2f} ({'met' if http_ratio >= 0.5 and ok else 'NOT met'}); "
              f"end to end (requests ÷ time from the first request to the empty queue: {q['e2e_rps']:.0f}/s) "
              f"{e2e_ratio:.2f} ({'met' if e2e_ratio >= 0.5 and ok else 'NOT met'})")
        if q["cpu_ms"]:
            print(f"    CPU per report bare/queued {bare['cpu_ms'] / q['cpu_ms']:.2f} (server, drainer and their "
                  f"database processes; the drainer's own process {q['drainer_cpu_ms']:.2f} ms)", flush=True)
    rounds = r.get("rounds") or []
    if len(rounds) > 1:
        print(f"    {len(rounds)} rounds of bare then queued (the first is the one above):")
        for i, x in enumerate(rounds, 1):
            print(f"      round {i}: bare {x['bare_rps']:6.0f} req/s   queued/bare HTTP {x['http']:.2f}   end to end "
                  f"{x['e2e']:.2f}   CPU per report {x['cpu']:.2f}{'' if x['clean'] else '   (errors or reports left)'}")
        med = {k: statistics.median(x[k] for x in rounds) for k in ("http", "e2e", "cpu")}
        clean = all(x["clean"] for x in rounds)
        print(f"      median: HTTP {med['http']:.2f}, end to end {med['e2e']:.2f} "
              f"({'met' if med['e2e'] >= 0.5 and clean else 'NOT met'}), CPU per report {med['cpu']:.2f}",
              flush=True)


def main() -> int:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--no-queued", action="store_true", help="skip the queued client's measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of bare then queued (the first after the direct intake), with their median")
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--drain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        common.reply(setup_child())
        return 0
    if args.drain:
        drain_child()
        return 0
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not (shutil.which("wrk") or (BIN / "wrk").exists()):
        print("wrk is missing: apt-get install -y wrk")
        return 1
    if args.only in (None, "sqlite"):
        report(run_sqlite(args), args)
    if args.only in (None, "postgres"):
        result = run_postgres(args)
        if result:
            report(result, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
