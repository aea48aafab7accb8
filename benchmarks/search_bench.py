"""One BgZ search over HTTP against its ceiling, warm and cold, with a native load generator
(issue 17 items 3 and 4).

A real DVA process (a local-runtime sandbox on free loopback ports) answers
``GET /fhir/<gp>/48/Condition`` with a Bearer token; wrk (C, a fraction of a core at these
rates: it is not the bottleneck, and its own CPU share is reported) sends it over
``--connections`` connections. In the same run the ceiling is a bare ASGI endpoint served
exactly as every node is (``loadtests/ceiling_app.py``) answering the *same bytes* as one real
search answer, so the ratio compares servers, not payloads.

- warm: ``--warm-patients`` patients (their records are cached after the first search) cycled
  by every connection;
- cold: every request a patient the DVA has not seen in this run (``--cold-patients``
  distinct ones, more than wrk can send in ``--seconds``), so no record cache hit; the DVA's
  own server time per request comes from its hop events (``/admin/events``: the ``ms`` of each
  FHIR hop, from the ASGI call to the last byte).

Tokens: one real authorize -> DigiD -> consent -> token flow makes the template grant; for each
patient a grant and an access token row are inserted straight into the DVA's ``dva.sqlite``
(what the resource server's token check reads on a miss, then holds in memory).

    python benchmarks/search_bench.py --json search.json
    python benchmarks/search_bench.py --connections 1,16 --seconds 20 --cold-patients 60000

Prints figures and writes JSON; asserts nothing (timing goals live in docs/benchmarks-load.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from token_bench import (  # noqa: E402  (a sibling script, not a package)
    CLIENT,
    cpu_seconds,
    free_base_port,
    machine_load,
    run_wrk,
)

PROVIDER = "huisartsdebrug@medmij"  # the GP: every patient of the population has a BgZ there
QUERY = "Condition"

WRK_SCRIPT = """
local counter = 0
local thread_id = 0
local next_id = 0
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end
function init(args)
  counter = 0
end
function request()
  local n
  if MODE == "warm" then
    n = (thread_id * 7 + counter) % COUNT
  else
    n = thread_id * PER_THREAD + counter
  end
  counter = counter + 1
  return wrk.format("GET", PATH, {["Authorization"] = "Bearer " .. PREFIX .. "-" .. n,
                                  ["Accept"] = ACCEPT})
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


def insert_tokens(db_path: Path, template: sqlite3.Row, prefix: str, first: int,
                  count: int) -> None:
    """A grant and an access token ``<prefix>-<n>`` for patients ``first .. first+count-1``."""
    db = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    now = time.time()
    for chunk in range(0, count, 20_000):
        grants, tokens = [], []
        for n in range(chunk, min(chunk + 20_000, count)):
            grant_id = f"{prefix}-g-{n}"
            grants.append((grant_id, CLIENT, template["provider"], template["services"],
                           template["scope"], first + n, 0, now, now))
            tokens.append((f"{prefix}-{n}", grant_id, now + 3600))
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO grant_ (id, client_id, provider, services, scope,"
                       " patient_index, long_lived, created, last_used)"
                       " VALUES (?,?,?,?,?,?,?,?,?)", grants)
        db.executemany("INSERT INTO token (token, kind, grant_id, expires)"
                       " VALUES (?, 'access', ?, ?)", tokens)
        db.execute("COMMIT")
    db.close()


def fhir_hop_ms(base: str, admin: dict[str, str], since: int) -> tuple[list[float], int]:
    """Server milliseconds of the DVA's FHIR hops after event ``since`` (the last 5,000 kept)."""
    answer = httpx.get(f"{base}/admin/events", params={"since": since}, headers=admin,
                       timeout=30).json()
    ms = [e["ms"] for e in answer["events"]
          if e["kind"] == "hop" and e["path"].startswith("/fhir/") and e["status"] == 200]
    return ms, answer["last"]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3) if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="1,16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warm-patients", type=int, default=64)
    parser.add_argument("--cold-patients", type=int, default=60_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from loadtests.run import free_port
    from sandbox.runtime.local import LocalRuntime
    from sandbox.state import running
    from scenarios.oauth_probe import exchange, get_code, resource_base
    from scenarios.persons import find_persons
    from simulators.common.http import sync_client
    from simulators.common.security import admin_headers
    from simulators.medmij import FHIR_JSON
    from simulators.medmij.topology import load_topology

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    state = Path(tempfile.mkdtemp(prefix="search-bench-"))
    runtime = LocalRuntime(state)
    runtime.up(load_topology(), base_port=free_base_port(), timeout=90)
    result: dict = {"machine_before": machine_load(), "seconds": args.seconds,
                    "threads": args.threads, "provider": PROVIDER, "query": QUERY, "runs": []}
    ceiling = None
    try:
        sandbox = running(state)
        dva_id = sandbox.topology.node(sandbox.topology.provider(PROVIDER).dva).id
        dva_base = sandbox.url(dva_id)
        dva_pid = int(sandbox.info.processes[dva_id])
        db_path = sandbox.config.node_dir(dva_id) / "dva.sqlite"
        admin = admin_headers(state)
        with sync_client(sandbox.info.addresses) as client:
            bsn = find_persons(client, sandbox, PROVIDER)[0]["bsn"]
            code, redirect_uri = get_code(sandbox, PROVIDER, bsn)
            token = exchange(client, sandbox, PROVIDER, code, redirect_uri, CLIENT).json()
            search_url = f"{resource_base(sandbox, PROVIDER)}/{QUERY}"
            body = client.get(search_url, headers={
                "Authorization": f"Bearer {token['access_token']}"}).content
        path = "/" + search_url.split("/", 3)[3]
        reader = sqlite3.connect(db_path)
        reader.row_factory = sqlite3.Row
        template = reader.execute("SELECT * FROM grant_ ORDER BY created DESC").fetchone()
        reader.close()
        result["answer_bytes"] = len(body)

        # the ceiling: a bare endpoint with the same answer, served like every node
        body_file = state / "ceiling-body.json"
        body_file.write_bytes(body)
        port = free_port()
        ceiling = subprocess.Popen(
            [sys.executable, "-m", "loadtests.ceiling_app", "--port", str(port),
             "--body-file", str(body_file)], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)

        warm_prefix = f"warm{uuid.uuid4().hex[:6]}"
        insert_tokens(db_path, template, warm_prefix, 0, args.warm_patients)
        cold_first = args.warm_patients
        _, last_event = fhir_hop_ms(dva_base, admin, 0)
        for connections in [int(c) for c in args.connections.split(",")]:
            row: dict = {"connections": connections}
            c_summary, c_cpu = run_wrk(f"http://127.0.0.1:{port}{path}", args.seconds,
                                       min(args.threads, connections), connections, None)
            row["ceiling_per_s"] = round(c_summary["requests"] / c_summary["duration_us"] * 1e6)
            row["ceiling_wrk_cpu_share"] = round(c_cpu / args.seconds, 2)
            for mode in ("warm", "cold"):
                threads = min(args.threads, connections)
                per_thread = (args.cold_patients - cold_first) // threads
                prefix = warm_prefix
                if mode == "cold":
                    prefix = f"cold{uuid.uuid4().hex[:6]}"
                    insert_tokens(db_path, template, prefix, cold_first, per_thread * threads)
                script = state / f"{mode}.lua"
                script.write_text(
                    f'MODE = "{mode}"\nPREFIX = "{prefix}"\nCOUNT = {args.warm_patients}\n'
                    f'PER_THREAD = {per_thread}\nPATH = "{path}"\nACCEPT = "{FHIR_JSON}"\n'
                    + WRK_SCRIPT)
                if mode == "warm":  # every warm patient searched once before measuring
                    run_wrk(f"{dva_base}{path}", 2, threads, connections, script)
                    _, last_event = fhir_hop_ms(dva_base, admin, last_event)
                cpu = cpu_seconds(dva_pid)
                summary, wrk_cpu = run_wrk(f"{dva_base}{path}", args.seconds, threads,
                                           connections, script)
                cpu = cpu_seconds(dva_pid) - cpu
                seconds = summary["duration_us"] / 1e6
                server_ms, last_event = fhir_hop_ms(dva_base, admin, last_event)
                per_s = round((summary["requests"] - summary["non2xx"]) / seconds)
                row[mode] = {
                    **summary, "per_s": per_s,
                    "ratio": round(per_s / max(row["ceiling_per_s"], 1), 3),
                    "dva_cpu_share": round(cpu / seconds, 2),
                    "wrk_cpu_share": round(wrk_cpu / seconds, 2),
                    "server_ms_p50": _pct(server_ms, 0.5), "server_ms_p95": _pct(server_ms, 0.95),
                    "server_ms_mean": round(statistics.fmean(server_ms), 3) if server_ms else 0,
                    "server_ms_samples": len(server_ms)}
                if mode == "cold":
                    if summary["requests"] > per_thread * threads:
                        row[mode]["warning"] = "wrk outran the distinct patients: raise " \
                                               "--cold-patients"
                    cold_first += per_thread * threads
            result["runs"].append(row)
            for mode in ("warm", "cold"):
                r = row[mode]
                print(f"{connections:>3} connections, {mode}: {r['per_s']:,}/s "
                      f"({r['non2xx']} non-2xx, {r['socket_errors']} socket errors) = "
                      f"{r['ratio']:.2f} x ceiling {row['ceiling_per_s']:,}/s; server "
                      f"p50 {r['server_ms_p50']} ms p95 {r['server_ms_p95']} ms; DVA "
                      f"{r['dva_cpu_share']:.0%} of a core, wrk {r['wrk_cpu_share']:.0%}",
                      flush=True)
        result["machine_after"] = machine_load()
    finally:
        if ceiling is not None:
            ceiling.terminate()
            ceiling.wait(10)
        runtime.down()
        shutil.rmtree(state, ignore_errors=True)
    print(f"machine load before {result['machine_before']}, after "
          f"{result.get('machine_after')}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
