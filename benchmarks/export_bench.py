"""Wall-clock speed of ``pgo-sandbox population export`` (issue 17 item 6), start-up included.

Runs the real command as a subprocess per N and reports people/s from the command's start to
its exit, the CPU it used (user + system of it and its workers), the CPU everything else on the
machine used meanwhile (/proc/stat; kernel writeback included), the bytes written and the load
average around the run (other work on the machine slows it down: say so).

    python benchmarks/export_bench.py --n 20000 --n 100000
    python benchmarks/export_bench.py --n 20000 --workers 1 --no-concat
    python benchmarks/export_bench.py --cpu 5000   # CPU per person in one process, no CLI

``--cpu N`` judges the generator on a shared machine: CPU seconds (``time.process_time`` and
rusage), one process, GC off and the population built as in the workers, the packaged
topology, three rounds: rendering only (``render_person``: FHIR of every holder x
gegevensdienst, orjson lines), then twice the whole single-process export of N people
(streamed parts, fsync) into a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all CPUs, /proc/stat): minus the export's
    own CPU, what everything else took during a run (kernel writeback included)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_once(n: int, workers: int, concat: bool, fmt: str = "ndjson",
             keep: Path | None = None) -> dict:
    """One export of n people into a fresh directory; the figures of that run."""
    home = Path(tempfile.mkdtemp(prefix="export-bench-"))
    out = keep or home / "out"
    env = os.environ | {"PGO_SANDBOX_HOME": str(home)}
    cmd = [sys.executable, "-m", "sandbox.cli", "population", "export", "--n", str(n),
           "--format", fmt, "--out", str(out), "--workers", str(workers),
           "--concat" if concat else "--no-concat"]
    load_before = os.getloadavg()
    cpu_before, busy_before = _children_cpu(), _machine_busy()
    started = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    cpu = _children_cpu() - cpu_before
    others = _machine_busy() - busy_before - cpu
    load_after = os.getloadavg()
    if done.returncode != 0:
        raise SystemExit(f"export failed:\n{done.stderr}")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    result = {
        "n": n, "workers": workers, "concat": concat, "format": fmt,
        "wall_s": round(wall, 2), "people_per_s": round(n / wall),
        "cpu_s": round(cpu, 2), "people_per_cpu_s": round(n / cpu) if cpu else None,
        "other_cpu_s": round(others, 2),
        "bytes": size, "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after], "cpus": os.cpu_count(),
        "estimate_line": next((line for line in done.stderr.splitlines()
                               if line.startswith("estimate")), ""),
        "command": " ".join(["pgo-sandbox", *cmd[3:]]),
    }
    if keep is None:
        shutil.rmtree(home, ignore_errors=True)
    return result


def cpu_per_person(n: int) -> None:
    """Print microseconds of CPU per person: render only, and the single-process export.
    Both render from the population a worker builds (``Job.population``)."""
    import gc

    from simulators.population import export
    from simulators.population.cli import _population

    packaged = _population(None, None, at_least=3 * n)
    job = export.Job(packaged.seed, packaged.size, packaged.providers, n, "ndjson",
                     export.default_chunk(n))
    pop = job.population()
    export.render_person(pop, 3 * n - 1, False)  # name pools and caches: no per-person cost
    gc.freeze()
    gc.disable()
    for k in range(3):
        started = time.process_time()
        for index in range(k * n, (k + 1) * n):
            export.render_person(pop, index, False)
        spent = time.process_time() - started
        print(f"render_person: {spent / n * 1e6:.0f} us CPU per person "
              f"({n / spent:,.0f} people per CPU-s)", flush=True)
    for _ in range(2):
        out = Path(tempfile.mkdtemp(prefix="export-cpu-"))
        before = resource.getrusage(resource.RUSAGE_SELF)
        export.run(job, out, workers=1, concat=False)
        after = resource.getrusage(resource.RUSAGE_SELF)
        shutil.rmtree(out, ignore_errors=True)
        user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
        print(f"export, one process: {user / n * 1e6:.0f} us user + {system / n * 1e6:.0f} us "
              f"system per person ({n / (user + system):,.0f} people per CPU-s); "
              f"load {[round(x, 2) for x in os.getloadavg()]}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="people (repeatable)")
    parser.add_argument("--workers", type=int, default=0, help="0: one per CPU")
    parser.add_argument("--no-concat", action="store_true")
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    parser.add_argument("--cpu", type=int, metavar="N",
                        help="CPU per person in this process (N people per round) and stop")
    args = parser.parse_args(argv)
    if args.cpu:
        cpu_per_person(args.cpu)
        return
    for n in args.n or [20_000, 100_000]:
        result = run_once(n, args.workers, not args.no_concat)
        if args.json:
            print(json.dumps(result))
            continue
        print(f"n={n:,} workers={args.workers or os.cpu_count()} concat={not args.no_concat}: "
              f"{result['wall_s']} s wall, {result['people_per_s']:,} people/s; "
              f"CPU {result['cpu_s']} s ({result['people_per_cpu_s']:,} people per CPU-s), "
              f"everything else {result['other_cpu_s']} s; "
              f"{result['bytes'] / 1e6:,.0f} MB; load {result['load_before']} -> "
              f"{result['load_after']} on {result['cpus']} CPUs", flush=True)


if __name__ == "__main__":
    main()
