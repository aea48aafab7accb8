"""The DVA's token endpoint under load (issue 17 items 1 and 5): is the cost of a code->token
exchange independent of the number of live tokens, and how many exchanges and refreshes per
second does a real DVA process sustain?

In-process, CPU per operation as live tokens grow (the store pre-populated directly: grant and
token rows in SQLite, the tokens in the store's memory index, as if issued in the last 900 s)::

    python benchmarks/token_bench.py inproc --levels 0,10000,100000,1000000 --json inproc.json

Over HTTP, wall-clock rate of a real DVA process (a sandbox started with the local runtime on
free loopback ports; wrk posts distinct codes or refresh tokens; grant + code / refresh token
rows are inserted straight into the DVA's dva.sqlite before the run, which is what the token
endpoint reads; one real authorize -> DigiD -> consent flow supplies the template row)::

    python benchmarks/token_bench.py http --seconds 180 --json http.json      # here
    python benchmarks/token_bench.py http --seconds 600 --json http-10min.json  # the goal

``--grants FILE`` runs the in-process part on another grants.py (the "before" figures:
``git show HEAD:simulators/dva/grants.py > /tmp/grants_head.py``). The HTTP part measures the
code it imports: run it with ``PYTHONPATH=<an export of the old tree>`` for "before".

Prints figures and writes JSON; asserts nothing (timing goals live in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from types import ModuleType

CLIENT = "pgo-alpha.sandbox.test"
REDIRECT = "http://127.0.0.1/oauth/callback"


def load_grants(path: str | None) -> ModuleType:
    """simulators.dva.grants, or the same module from another file (e.g. the original)."""
    if path is None:
        from simulators.dva import grants
        return grants
    spec = importlib.util.spec_from_file_location("grants_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def machine_load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


# in-process ----------------------------------------------------------------------------------

SESSION = {"client_id": CLIENT, "provider": "umcsandbox@medmij", "services": '["48", "49"]',
           "scope": "umcsandbox", "patient_index": 7, "redirect_uri": REDIRECT}


def populate(grants: ModuleType, store, count: int, now: float) -> None:
    """``count`` more live access tokens, one grant each, expiring over the next 900 s as if
    issued at a steady rate: rows in SQLite and entries in the store's memory."""
    grant_rows, token_rows, held = [], [], []
    for i in range(count):
        grant_id, token = str(uuid.uuid4()), str(uuid.uuid4())
        expires = now + grants.ACCESS_SECONDS * (i + 1) / (count + 1)
        grant_rows.append((grant_id, CLIENT, SESSION["provider"], SESSION["services"],
                           SESSION["scope"], i, 0, now, now))
        token_rows.append((token, "access", grant_id, expires))
        held.append((token, grant_id, i, expires))
    with grants.transaction(store.db) as db:
        db.executemany("INSERT INTO grant_ (id, client_id, provider, services, scope,"
                       " patient_index, long_lived, created, last_used)"
                       " VALUES (?,?,?,?,?,?,?,?,?)", grant_rows)
        db.executemany("INSERT INTO token (token, kind, grant_id, expires) VALUES (?,?,?,?)",
                       token_rows)
    services = tuple(json.loads(SESSION["services"]))
    for token, grant_id, index, expires in held:
        grant = grants.Grant(grant_id, CLIENT, SESSION["provider"], services, SESSION["scope"],
                             index, False, now)
        if hasattr(store, "index"):  # this version: the TokenIndex
            store.index.add(token, grant, expires, now)
        else:  # the original: a dict of AccessToken, rebuilt by _remember past 20,000
            store._access[token] = grants.AccessToken(grant, expires)


def rss_mb() -> int:
    """This process's resident memory (the store's index lives in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def live_tokens(store) -> int:
    return len(store.index) if hasattr(store, "index") else len(store._access)


def measure(store, batch: int, long_lived: bool, budget: float) -> dict:
    """CPU and wall time per exchange, per refresh and per token check, over ``batch`` each
    (fewer if ``budget`` seconds run out: the original at 1 M tokens)."""
    codes = [store.issue_code(dict(SESSION), long_lived) for _ in range(batch)]
    figures: dict = {}
    tokens, refreshes = [], []
    cpu, wall, done = time.process_time(), time.perf_counter(), 0
    for code in codes:
        body = store.exchange_code(code, CLIENT, REDIRECT)
        tokens.append(body["access_token"])
        refreshes.append(body.get("refresh_token"))
        done += 1
        if time.perf_counter() - wall > budget:
            break
    figures["exchange"] = _per_op(cpu, wall, done)
    if long_lived:
        cpu, wall, done = time.process_time(), time.perf_counter(), 0
        for refresh in refreshes:
            tokens.append(store.refresh(refresh, CLIENT)["access_token"])
            done += 1
            if time.perf_counter() - wall > budget:
                break
        figures["refresh"] = _per_op(cpu, wall, done)
    cpu, wall = time.process_time(), time.perf_counter()
    for token in tokens:
        assert store.access(token) is not None
    figures["check"] = _per_op(cpu, wall, len(tokens))
    return figures


def _per_op(cpu: float, wall: float, count: int) -> dict:
    cpu_us = (time.process_time() - cpu) / max(count, 1) * 1e6
    wall_us = (time.perf_counter() - wall) / max(count, 1) * 1e6
    return {"count": count, "cpu_us": round(cpu_us, 1), "wall_us": round(wall_us, 1),
            "per_second_one_core": round(1e6 / cpu_us) if cpu_us else None}


def inproc(args) -> dict:
    grants = load_grants(args.grants)
    levels = sorted(int(x) for x in args.levels.split(","))
    rows = []
    with tempfile.TemporaryDirectory(prefix="token-bench-") as tmp:
        store = grants.GrantStore(Path(tmp) / "dva.sqlite")
        for level in levels:
            missing = level - live_tokens(store)
            start = time.perf_counter()
            if missing > 0:
                populate(grants, store, missing, grants.clock.now())
            fill = time.perf_counter() - start
            figures = measure(store, args.batch, args.long_lived, args.budget)
            size = os.path.getsize(Path(tmp) / "dva.sqlite")
            rows.append({"live_tokens": level, "held_after": live_tokens(store),
                         "fill_seconds": round(fill, 1), "sqlite_mb": round(size / 2**20),
                         "rss_mb": rss_mb(), **figures})
            row = rows[-1]
            line = (f"{level:>9,} live  exchange {row['exchange']['cpu_us']:>8.1f} us CPU"
                    f" ({row['exchange']['count']})")
            if "refresh" in row:
                line += f"  refresh {row['refresh']['cpu_us']:>8.1f} us"
            line += (f"  check {row['check']['cpu_us']:>6.1f} us  sqlite {row['sqlite_mb']} MB"
                     f"  RSS {row['rss_mb']} MB")
            print(line, flush=True)
    return {"grants": args.grants or "simulators/dva/grants.py", "machine": machine_load(),
            "batch": args.batch, "long_lived": args.long_lived, "levels": rows}


# over HTTP -----------------------------------------------------------------------------------

WRK_SCRIPT = """
-- distinct codes (or refresh tokens) per request: thread t posts <prefix>-<t>-<n>, n = 0, 1, ...
-- thread_id is a global: setup() sets it in each thread's own Lua state
counter = 0
thread_id = 0
local next_id = 0
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end
function request()
  local secret = string.format("%s-%d-%d", PREFIX, thread_id, counter)
  counter = counter + 1
  local body
  if KIND == "refresh" then
    body = "grant_type=refresh_token&client_id=" .. CLIENT .. "&refresh_token=" .. secret
  else
    body = "grant_type=authorization_code&client_id=" .. CLIENT .. "&redirect_uri=" .. REDIRECT
      .. "&code=" .. secret
  end
  return wrk.format("POST", PATH, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "non2xx": %d,'
    .. ' "socket_errors": %d, "p50_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def insert_secrets(db_path: Path, template: sqlite3.Row, kind: str, prefix: str, threads: int,
                   per_thread: int) -> float:
    """Grant + code (kind "code") or grant + refresh token (kind "refresh") rows for every
    secret wrk will post, cloned from a grant the real flow made. Written by a second SQLite
    connection while the DVA runs (WAL): the token endpoint reads exactly these tables."""
    from simulators.medmij import CONSENT_LAPSE_SECONDS
    db = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    now = time.time()
    start = time.perf_counter()
    for t in range(threads):
        for chunk in range(0, per_thread, 20_000):
            grant_rows, secret_rows = [], []
            for n in range(chunk, min(chunk + 20_000, per_thread)):
                grant_id = f"{prefix}-g-{t}-{n}"
                grant_rows.append((grant_id, CLIENT, template["provider"], template["services"],
                                   template["scope"], template["patient_index"],
                                   int(kind == "refresh"), now, now))
                secret_rows.append((f"{prefix}-{t}-{n}", grant_id))
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO grant_ (id, client_id, provider, services, scope,"
                           " patient_index, long_lived, created, last_used)"
                           " VALUES (?,?,?,?,?,?,?,?,?)", grant_rows)
            if kind == "refresh":
                db.executemany("INSERT INTO token (token, kind, grant_id, expires)"
                               " VALUES (?, 'refresh', ?, ?)",
                               [(s, g, now + CONSENT_LAPSE_SECONDS) for s, g in secret_rows])
            else:
                db.executemany("INSERT INTO code (code, grant_id, redirect_uri, expires)"
                               " VALUES (?, ?, ?, ?)",
                               [(s, g, REDIRECT, now + 900) for s, g in secret_rows])
            db.execute("COMMIT")
    db.close()
    return time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """user + system CPU of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, seconds: float, threads: int, connections: int, script: Path | None,
            env: dict[str, str] | None = None) -> tuple[dict, float]:
    """One wrk run: its JSON summary (or requests/s parsed) and wrk's own CPU seconds."""
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:.0f}s",
               "--timeout", "10s"]
    if script is not None:
        command += ["-s", str(script)]
    before = os.times()
    out = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60,
                         env={**os.environ, **(env or {})})
    after = os.times()
    wrk_cpu = (after.children_user - before.children_user
               + after.children_system - before.children_system)
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[8:]), wrk_cpu
    rate = next(float(line.split()[1]) for line in out.stdout.splitlines()
                if line.startswith("Requests/sec"))
    return {"requests": round(rate * seconds), "duration_us": seconds * 1e6, "non2xx": 0,
            "socket_errors": 0, "raw": out.stdout}, wrk_cpu


def sample_tokens(db_path: Path, stop: threading.Event, every: float, rows_per_op: int,
                  out: list) -> None:
    """Operations per window, read as the token table's max(rowid) (O(1), no count): a code
    exchange writes one token row, a refresh two (access + refresh)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    last_rowid = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM token").fetchone()[0]
    last = time.perf_counter()
    while not stop.wait(every):
        rowid = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM token").fetchone()[0]
        now = time.perf_counter()
        out.append(round((rowid - last_rowid) / rows_per_op / (now - last)))
        last_rowid, last = rowid, now
    db.close()


def free_base_port(count: int = 16) -> int:
    """A run of free loopback ports (as tests/conftest.py picks them)."""
    for base in range(29000, 39000, 50):
        try:
            for port in range(base, base + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")


def http(args) -> dict:
    from sandbox.runtime.local import LocalRuntime
    from sandbox.state import running
    from scenarios.oauth_probe import exchange, get_code
    from scenarios.persons import find_persons
    from simulators.common.http import sync_client
    from simulators.medmij.topology import load_topology

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    state = Path(tempfile.mkdtemp(prefix="token-bench-"))
    runtime = LocalRuntime(state)
    runtime.up(load_topology(), base_port=free_base_port(), timeout=90)
    result: dict = {"machine_before": machine_load(), "seconds": args.seconds,
                    "threads": args.threads, "connections": args.connections}
    try:
        sandbox = running(state)
        provider = args.provider
        dva_id = sandbox.topology.node(sandbox.topology.provider(provider).dva).id
        db_path = sandbox.config.node_dir(dva_id) / "dva.sqlite"
        dva_pid = int(sandbox.info.processes[dva_id])
        with sync_client(sandbox.info.addresses) as client:  # one real flow: the template
            bsn = find_persons(client, sandbox, provider)[0]["bsn"]
            code, redirect_uri = get_code(sandbox, provider, bsn)
            response = exchange(client, sandbox, provider, code, redirect_uri, CLIENT)
            assert response.status_code == 200, response.text
        reader = sqlite3.connect(db_path)
        reader.row_factory = sqlite3.Row
        template = reader.execute("SELECT * FROM grant_ ORDER BY created DESC").fetchone()
        reader.close()
        token_url = sandbox.url(dva_id, "/oauth/token")
        script = state / "token.lua"
        health, wrk_cpu = run_wrk(sandbox.url(dva_id, "/health"), args.ceiling_seconds,
                                  args.threads, args.connections, None)
        result["health"] = {"per_second": round(health["requests"] / health["duration_us"] * 1e6),
                            "wrk_cpu_share": round(wrk_cpu / args.ceiling_seconds, 2)}
        print(f"/health ceiling (same DVA, FastAPI route): {result['health']['per_second']:,}/s,"
              f" wrk used {result['health']['wrk_cpu_share']:.0%} of a core", flush=True)
        for kind in args.kinds.split(","):
            per_thread = int(args.max_rate * args.seconds / args.threads) + 1
            prefix = f"bench{kind}{uuid.uuid4().hex[:6]}"
            fill = insert_secrets(db_path, template, kind, prefix, args.threads, per_thread)
            print(f"{kind}: inserted {per_thread * args.threads:,} grants in {fill:.0f} s",
                  flush=True)
            script.write_text(
                f'PREFIX = "{prefix}"\nKIND = "{kind}"\nCLIENT = "{CLIENT}"\n'
                f'REDIRECT = "{REDIRECT}"\nPATH = "/oauth/token"\n' + WRK_SCRIPT)
            windows: list[int] = []
            stop = threading.Event()
            rows_per_op = 2 if kind == "refresh" else 1
            sampler = threading.Thread(target=sample_tokens,
                                       args=(db_path, stop, args.window, rows_per_op, windows))
            sampler.start()
            dva_cpu = cpu_seconds(dva_pid)
            summary, wrk_cpu = run_wrk(token_url, args.seconds, args.threads, args.connections,
                                       script)
            dva_cpu = cpu_seconds(dva_pid) - dva_cpu
            stop.set()
            sampler.join()
            seconds = summary["duration_us"] / 1e6
            ok = summary["requests"] - summary["non2xx"] - summary["socket_errors"]
            figures = {**summary, "per_second": round(summary["requests"] / seconds),
                       "ok_per_second": round(ok / seconds),
                       "dva_cpu_share": round(dva_cpu / seconds, 2),
                       "dva_cpu_us_per_request": round(dva_cpu / max(summary["requests"], 1)
                                                       * 1e6),
                       "wrk_cpu_share": round(wrk_cpu / seconds, 2),
                       "per_second_by_window": windows}
            result[kind] = figures
            print(f"{kind}: {figures['ok_per_second']:,}/s ok over {seconds:.0f} s"
                  f" ({summary['non2xx']} non-2xx, {summary['socket_errors']} socket errors),"
                  f" p50 {summary.get('p50_ms')} ms p99 {summary.get('p99_ms')} ms;"
                  f" DVA {figures['dva_cpu_share']:.0%} of a core,"
                  f" {figures['dva_cpu_us_per_request']} us CPU each;"
                  f" wrk {figures['wrk_cpu_share']:.0%}", flush=True)
            print(f"  {kind}s/s per {args.window:.0f} s window: {windows}", flush=True)
        result["dva_sqlite_mb"] = round(db_path.stat().st_size / 2**20)
        result["machine_after"] = machine_load()
    finally:
        runtime.down()
        shutil.rmtree(state, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    a = sub.add_parser("inproc", help="CPU per exchange as live tokens grow")
    a.add_argument("--levels", default="0,10000,100000,1000000")
    a.add_argument("--batch", type=int, default=2000, help="exchanges measured per level")
    a.add_argument("--long-lived", action=argparse.BooleanOptionalAction, default=True,
                   help="codes for long-lived consent, so refresh is measured too")
    a.add_argument("--budget", type=float, default=20.0,
                   help="seconds per measured batch at most (the original is slow at 1 M)")
    a.add_argument("--grants", help="another grants.py to measure (e.g. the original)")
    b = sub.add_parser("http", help="exchanges/s of a real DVA process, wrk as load generator")
    b.add_argument("--seconds", type=float, default=180)
    b.add_argument("--kinds", default="code,refresh")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--connections", type=int, default=16)
    b.add_argument("--ceiling-seconds", type=float, default=10)
    b.add_argument("--window", type=float, default=30, help="seconds per reported window")
    b.add_argument("--max-rate", type=float, default=5000,
                   help="secrets inserted per second of run (more than the DVA can take)")
    b.add_argument("--provider", default="umcsandbox@medmij")
    for p in (a, b):
        p.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    result = inproc(args) if args.part == "inproc" else http(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
