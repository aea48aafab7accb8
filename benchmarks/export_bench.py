"""Wall-clock speed of ``pgo-sandbox population export`` (issue 17 item 6), start-up included.

Runs the real command as a subprocess per N and reports people/s from the command's start to
its exit, the CPU it used (user + system of it and its workers), the bytes written and the load
average of the machine around the run (other work on the machine slows it down: say so).

    python benchmarks/export_bench.py --n 20000 --n 100000
    python benchmarks/export_bench.py --n 20000 --workers 1 --no-concat
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
    cpu_before = _children_cpu()
    started = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    cpu = _children_cpu() - cpu_before
    load_after = os.getloadavg()
    if done.returncode != 0:
        raise SystemExit(f"export failed:\n{done.stderr}")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    result = {
        "n": n, "workers": workers, "concat": concat, "format": fmt,
        "wall_s": round(wall, 2), "people_per_s": round(n / wall),
        "cpu_s": round(cpu, 2), "people_per_cpu_s": round(n / cpu) if cpu else None,
        "bytes": size, "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after], "cpus": os.cpu_count(),
        "estimate_line": next((line for line in done.stderr.splitlines()
                               if line.startswith("estimate")), ""),
        "command": " ".join(["pgo-sandbox", *cmd[3:]]),
    }
    if keep is None:
        shutil.rmtree(home, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="people (repeatable)")
    parser.add_argument("--workers", type=int, default=0, help="0: one per CPU")
    parser.add_argument("--no-concat", action="store_true")
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    args = parser.parse_args(argv)
    for n in args.n or [20_000, 100_000]:
        result = run_once(n, args.workers, not args.no_concat)
        if args.json:
            print(json.dumps(result))
            continue
        print(f"n={n:,} workers={args.workers or os.cpu_count()} concat={not args.no_concat}: "
              f"{result['wall_s']} s wall, {result['people_per_s']:,} people/s; "
              f"CPU {result['cpu_s']} s ({result['people_per_cpu_s']:,} people per CPU-s); "
              f"{result['bytes'] / 1e6:,.0f} MB; load {result['load_before']} -> "
              f"{result['load_after']} on {result['cpus']} CPUs", flush=True)


if __name__ == "__main__":
    main()
