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
  distinct ones per connection count, more than wrk can send in ``--seconds``; each run has
  its own range, the population is made large enough), so no record cache hit; wrk reports
  how many distinct patients it asked for and warns when a thread ran out of them. The DVA
  holds each cold patient's token beforehand, as it holds every token it issued itself (a
  priming pass sends each once with a ``patient`` parameter: the gate checks the token, the
  search refuses before any record is built); ``--unseen-tokens`` skips that, so every cold
  search also pays the token's SQLite lookup (a token the DVA issued before a restart);
- server time per request comes from the DVA's hop events (``/admin/events``: the ``ms`` of
  each FHIR hop, from the ASGI call to the last byte; the last 5,000 of a run);
- CPU: the DVA's and the ceiling's user + system CPU over the run, per request, so figures
  taken on a busy machine still compare (a starved server shows a low share of a core, not a
  higher cost per request).

``--profile DIR`` attaches py-spy to the DVA during each measured run and writes a flame graph
(``<connections>-<mode>.svg``) and the collapsed stacks (``.txt``) there; the rates of such a
run include py-spy's sampling.

Tokens: one real authorize -> DigiD -> consent -> token flow makes the template grant; for each
patient a grant and an access token row are inserted straight into the DVA's ``dva.sqlite``
(what the resource server's token check reads on a miss, then holds in memory).

    python benchmarks/search_bench.py --json search.json
    python benchmarks/search_bench.py --connections 1,16 --seconds 15 --cold-patients 150000
    python benchmarks/search_bench.py --connections 16 --seconds 10 --profile /tmp/prof
    python benchmarks/search_bench.py --connections 16 --modes warm   # warm runs only

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
from dataclasses import replace
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
# Cold searches a run can send per second: ~9,800/s at 16 connections here (2026-11-30); a wrk
# thread that runs out of new patients sends warm ones and says so.
COLD_PER_SECOND = 12_000

# ``counter`` and ``thread_id`` are globals of each thread's Lua state: ``thread:set`` and
# ``thread:get`` reach globals only (a ``local`` at the top would shadow them, and every thread
# would walk the same patients)
WRK_SCRIPT = """
counter = 0
thread_id = 0
local next_id = 0
local threads = {}
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
function init(args)
  counter = 0
end
function request()
  local n
  if MODE == "warm" then
    n = (thread_id * 7 + counter) % COUNT
  else
    n = thread_id * PER_THREAD + counter % PER_THREAD
  end
  counter = counter + 1
  return wrk.format("GET", PATH, {["Authorization"] = "Bearer " .. PREFIX .. "-" .. n,
                                  ["Accept"] = ACCEPT})
end
function done(summary, latency, requests)
  local errors = summary.errors
  local distinct, wrapped = 0, 0
  for _, thread in ipairs(threads) do
    local sent = thread:get("counter")
    if MODE == "warm" then
      distinct = COUNT
    else
      distinct = distinct + math.min(sent, PER_THREAD)
      if sent > PER_THREAD then wrapped = wrapped + 1 end
    end
  end
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "non2xx": %d,'
    .. ' "socket_errors": %d, "p50_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f,'
    .. ' "distinct_patients": %d, "threads_wrapped": %d, "bytes": %d}\\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    distinct, wrapped, summary.bytes))
end
"""


def wrk_script(mode: str, prefix: str, state: Path, count: int, per_thread: int, path: str,
               accept: str) -> Path:
    """The Lua script of one run: ``warm`` cycles ``count`` patients, ``cold`` gives each
    thread its own ``per_thread`` patients, one per request."""
    out = state / f"{mode}.lua"
    out.write_text(f'MODE = "{mode}"\nPREFIX = "{prefix}"\nCOUNT = {count}\n'
                   f'PER_THREAD = {per_thread}\nPATH = "{path}"\nACCEPT = "{accept}"\n'
                   + WRK_SCRIPT)
    return out


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


def prime_tokens(url: str, prefix: str, lua: dict, threads: int, connections: int,
                 total: int) -> int:
    """Let the DVA hold the cold tokens as it holds the ones it issued itself, without
    building any record: each is sent once with a ``patient`` parameter, which the gate checks
    the token for and the search then refuses (400) before the record is asked for. Returns
    how many tokens were sent (wrk walks each thread's range once in order)."""
    script = wrk_script("cold", prefix, **{**lua, "path": lua["path"] + "?patient=prime"})
    summary, _ = run_wrk(url + "?patient=prime", max(2.0, total / 12_000 + 1), threads,
                         connections, script)
    return int(summary.get("distinct_patients", 0))


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


class Profiler:
    """py-spy attached to the DVA for one measured run (``--profile``), or nothing: the
    collapsed stacks go to ``<name>.txt`` and a summary (where the samples were) is printed."""

    def __init__(self, directory: Path | None, pid: int, native: bool = False) -> None:
        self.directory, self.pid, self.native = directory, pid, native
        self.running: tuple[subprocess.Popen, Path] | None = None

    def start(self, name: str, seconds: float) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        out = self.directory / f"{name}.txt"
        self.running = (subprocess.Popen(
            ["py-spy", "record", "-p", str(self.pid), "-r", "250", "-d", f"{seconds:.0f}",
             "-f", "raw", "-o", str(out)]
            + (["--native"] if self.native else ["--nonblocking"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out)

    def stop(self) -> dict[str, float]:
        """The share of samples (inclusive) of the busiest functions of the run."""
        if self.running is None:
            return {}
        process, out = self.running
        self.running = None
        process.wait(60)
        return stack_summary(out.read_text("utf-8") if out.exists() else "")


def stack_summary(collapsed: str, top: int = 25) -> dict[str, float]:
    """Inclusive share of samples per function (``name (file)``) in py-spy's collapsed stacks
    (one line per distinct stack: ``frame;frame;... count``), the ``top`` busiest first."""
    total = 0
    inclusive: dict[str, int] = {}
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        for frame in {f.rsplit(":", 1)[0] + ")" for f in stack.split(";")}:
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]
    return {frame: round(n / max(total, 1), 3) for frame, n in ranked}


def cpu_per_request(cpu: float, requests: int) -> float:
    return round(cpu / max(requests, 1) * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="1,16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warm-patients", type=int, default=64)
    parser.add_argument("--cold-patients", type=int, default=None,
                        help="distinct patients per cold run (one run per connection count); "
                        f"default {COLD_PER_SECOND:,} per second of --seconds, more than a "
                        "cold run gets through on this machine")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write py-spy flame graphs of the DVA per measured run here")
    parser.add_argument("--native", action="store_true",
                        help="with --profile: C frames too (uvloop, orjson, the kernel calls)")
    parser.add_argument("--unseen-tokens", action="store_true",
                        help="cold: tokens the DVA has never seen (one SQLite lookup each), "
                        "instead of tokens it holds as if it had issued them")
    parser.add_argument("--modes", default="warm,cold",
                        help="which runs after the ceiling: warm, cold or both (warm,cold)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.cold_patients is None:
        args.cold_patients = max(10_000, int(COLD_PER_SECOND * args.seconds))
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(modes) - {"warm", "cold"})
    if unknown or not modes:
        raise SystemExit(f"unknown mode {', '.join(unknown) or '(none)'}; known: warm, cold")

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
    if args.profile is not None and shutil.which("py-spy") is None:
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    connection_counts = [int(c) for c in args.connections.split(",")]
    # every cold run its own range of patients: the population must hold them all
    topology = load_topology()
    needed = args.warm_patients + args.cold_patients * len(connection_counts) * ("cold" in modes)
    if topology.population < needed:
        topology = replace(topology, population=needed)
    state = Path(tempfile.mkdtemp(prefix="search-bench-"))
    runtime = LocalRuntime(state)
    runtime.up(topology, base_port=free_base_port(), timeout=90)
    result: dict = {"machine_before": machine_load(), "seconds": args.seconds,
                    "threads": args.threads, "provider": PROVIDER, "query": QUERY,
                    "population": topology.population, "runs": []}
    ceiling = None
    try:
        sandbox = running(state)
        dva_id = sandbox.topology.node(sandbox.topology.provider(PROVIDER).dva).id
        dva_base = sandbox.url(dva_id)
        dva_pid = int(sandbox.info.processes[dva_id])
        profiler = Profiler(args.profile, dva_pid, args.native)
        db_path = sandbox.config.node_dir(dva_id) / "dva.sqlite"
        admin = admin_headers(state)
        with sync_client(sandbox.info.addresses) as client:
            bsn = find_persons(client, sandbox, PROVIDER)[0]["bsn"]
            code, redirect_uri = get_code(sandbox, PROVIDER, bsn)
            token = exchange(client, sandbox, PROVIDER, code, redirect_uri, CLIENT).json()
            search_url = f"{resource_base(sandbox, PROVIDER)}/{QUERY}"
            client.get(search_url, headers={"Authorization": f"Bearer {token['access_token']}"})
        path = "/" + search_url.split("/", 3)[3]
        reader = sqlite3.connect(db_path)
        reader.row_factory = sqlite3.Row
        template = reader.execute("SELECT * FROM grant_ ORDER BY created DESC").fetchone()
        reader.close()

        # the warm patients' answers (this also caches their records): the ceiling answers
        # each warm token with the very bytes the DVA answers it (one real search answer)
        warm_prefix = f"warm{uuid.uuid4().hex[:6]}"
        insert_tokens(db_path, template, warm_prefix, 0, args.warm_patients)
        answers: dict[str, str] = {}
        with httpx.Client(timeout=30) as plain:
            for n in range(args.warm_patients):
                authorization = f"Bearer {warm_prefix}-{n}"
                answer = plain.get(f"{dva_base}{path}", headers={
                    "Authorization": authorization, "Accept": FHIR_JSON})
                answer.raise_for_status()
                answers[authorization] = answer.content.decode("utf-8")
        sizes = [len(a.encode()) for a in answers.values()]
        result["answer_bytes"] = {"warm_min": min(sizes), "warm_max": max(sizes),
                                  "warm_mean": round(statistics.fmean(sizes))}

        # the ceiling: a bare endpoint with the same answers, served like every node
        bodies_file = state / "ceiling-bodies.json"
        bodies_file.write_text(json.dumps(answers), encoding="utf-8")
        port = free_port()
        ceiling = subprocess.Popen(
            [sys.executable, "-m", "loadtests.ceiling_app", "--port", str(port),
             "--bodies", str(bodies_file)], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)

        cold_first = args.warm_patients
        _, last_event = fhir_hop_ms(dva_base, admin, 0)
        for connections in connection_counts:
            row: dict = {"connections": connections}
            threads = min(args.threads, connections)
            per_thread = args.cold_patients // threads
            lua = {"state": state, "count": args.warm_patients, "per_thread": per_thread,
                   "path": path, "accept": FHIR_JSON}

            # the ceiling is sent exactly the warm requests (and answers the same bytes)
            cpu = cpu_seconds(ceiling.pid)
            c_summary, c_cpu = run_wrk(f"http://127.0.0.1:{port}{path}", args.seconds,
                                       threads, connections, wrk_script("warm", warm_prefix, **lua))
            cpu = cpu_seconds(ceiling.pid) - cpu
            c_seconds = c_summary["duration_us"] / 1e6
            row["ceiling_bytes_per_response"] = round(c_summary.get("bytes", 0)
                                                      / max(c_summary["requests"], 1))
            row["ceiling_per_s"] = round(c_summary["requests"] / c_seconds)
            row["ceiling_cpu_share"] = round(cpu / c_seconds, 2)
            row["ceiling_cpu_us_per_request"] = cpu_per_request(cpu, c_summary["requests"])
            row["ceiling_wrk_cpu_share"] = round(c_cpu / c_seconds, 2)
            for mode in modes:
                prefix = warm_prefix
                if mode == "cold":
                    prefix = f"cold{uuid.uuid4().hex[:6]}"
                    insert_tokens(db_path, template, prefix, cold_first, per_thread * threads)
                    if not args.unseen_tokens:
                        row["cold_tokens_held"] = prime_tokens(
                            f"{dva_base}{path}", prefix, lua, threads, connections,
                            per_thread * threads)
                        _, last_event = fhir_hop_ms(dva_base, admin, last_event)
                script = wrk_script(mode, prefix, **lua)
                if mode == "warm":  # every warm patient searched once before measuring
                    run_wrk(f"{dva_base}{path}", 2, threads, connections, script)
                    _, last_event = fhir_hop_ms(dva_base, admin, last_event)
                profiler.start(f"{connections}-{mode}", args.seconds)
                cpu = cpu_seconds(dva_pid)
                summary, wrk_cpu = run_wrk(f"{dva_base}{path}", args.seconds, threads,
                                           connections, script)
                cpu = cpu_seconds(dva_pid) - cpu
                profile = profiler.stop()
                seconds = summary["duration_us"] / 1e6
                server_ms, last_event = fhir_hop_ms(dva_base, admin, last_event)
                per_s = round((summary["requests"] - summary["non2xx"]) / seconds)
                row[mode] = {
                    **summary, "per_s": per_s,
                    "bytes_per_response": round(summary.get("bytes", 0)
                                                / max(summary["requests"], 1)),
                    "ratio": round(per_s / max(row["ceiling_per_s"], 1), 3),
                    "dva_cpu_share": round(cpu / seconds, 2),
                    "dva_cpu_us_per_request": cpu_per_request(cpu, summary["requests"]),
                    "wrk_cpu_share": round(wrk_cpu / seconds, 2),
                    "server_ms_p50": _pct(server_ms, 0.5), "server_ms_p95": _pct(server_ms, 0.95),
                    "server_ms_mean": round(statistics.fmean(server_ms), 3) if server_ms else 0,
                    "server_ms_samples": len(server_ms)}
                if profile:
                    row[mode]["profile"] = profile
                if mode == "cold":
                    if summary.get("threads_wrapped"):
                        row[mode]["warning"] = ("a wrk thread ran out of distinct patients"
                                                " (later requests were warm): raise"
                                                " --cold-patients")
                    cold_first += per_thread * threads
            result["runs"].append(row)
            print(f"{connections:>3} connections, ceiling {row['ceiling_per_s']:,}/s "
                  f"({row['ceiling_bytes_per_response']:,} B/answer) "
                  f"({row['ceiling_cpu_share']:.0%} of a core, "
                  f"{row['ceiling_cpu_us_per_request']} us/request; "
                  f"wrk {row['ceiling_wrk_cpu_share']:.0%})", flush=True)
            for mode in modes:
                r = row[mode]
                print(f"{connections:>3} connections, {mode}: {r['per_s']:,}/s "
                      f"({r['non2xx']} non-2xx, {r['socket_errors']} socket errors, "
                      f"{r.get('distinct_patients', 0):,} patients, "
                      f"{r['bytes_per_response']:,} B/answer) = {r['ratio']:.2f} x "
                      f"ceiling; server p50 {r['server_ms_p50']} ms p95 {r['server_ms_p95']} "
                      f"ms; DVA {r['dva_cpu_share']:.0%} of a core, "
                      f"{r['dva_cpu_us_per_request']} us/request; wrk {r['wrk_cpu_share']:.0%}"
                      + (f"; tokens held beforehand {row['cold_tokens_held']:,}"
                         if mode == "cold" and "cold_tokens_held" in row else "")
                      + (f"; WARNING {r['warning']}" if "warning" in r else ""), flush=True)
                for frame, share in r.get("profile", {}).items():
                    print(f"      {share:6.1%}  {frame}")
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
