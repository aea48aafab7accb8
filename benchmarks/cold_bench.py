"""The DVA's cold path, in process (issue 17 item 4): the first search of one resource type for a
patient the DVA has never seen, server-side work only: generate the record, select (FHIR search
with the DVA's own ``simulators.dva.search``) and serialise the searchset Bundle with orjson.

Every patient is measured once per query, on a fresh ``Population`` (no record cache hit);
median and p95 over >= 10,000 distinct patients where the provider holds that many. "before"
runs the same code in a subprocess on the ``simulators`` tree of a git revision (default HEAD,
exported with ``git archive`` into a temp dir: the work tree is not touched); "after" runs on
the work tree, using ``Population.record_view`` (lazy, per resource type) when it exists.

    python benchmarks/cold_bench.py                 # before (HEAD) and after, 10,000 patients
    python benchmarks/cold_bench.py --before-ref bf2cf29 --patients 20000
    python benchmarks/cold_bench.py --only after
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (label, provider kind, gegevensdienst, resource type, search parameters)
QUERIES = [
    ("GP BgZ Condition", "gp", "48", "Condition", []),
    ("GP BgZ MedicationRequest +medication", "gp", "48", "MedicationRequest",
     [("_include", "MedicationRequest:medication")]),
    ("GP 49 Composition", "gp", "49", "Composition", []),
    ("RIVM 63 Immunization", "rivm", "63", "Immunization", []),
    ("Hospital BgZ Condition", "hospital", "48", "Condition", []),
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(patients: int) -> dict:
    """Run every query over ``patients`` distinct held patients; microseconds per search."""
    import orjson

    from simulators.dva.search import search
    from simulators.medmij.topology import load_topology
    from simulators.population import Population, ProviderRef
    from simulators.provider.record import SourceRecord

    topo = load_topology(None)
    providers = tuple(ProviderRef(p.name, p.kind, p.display) for p in topo.providers)
    lazy = hasattr(Population, "record_view")
    chooser = Population(topo.seed, topo.population, providers)  # picks held patients only
    results: dict = {"lazy": lazy, "queries": {}}
    for label, kind, service, rtype, params in QUERIES:
        provider = next(p.name for p in providers if p.kind == kind)
        held: list[int] = []
        for i in range(topo.population):
            if service in chooser.services(i, provider):
                held.append(i)
                if len(held) == patients:
                    break
        pop = Population(topo.seed, topo.population, providers)  # cold: nothing cached
        cold: list[float] = []
        warm: list[float] = []
        matched = 0
        for i in held:
            started = time.perf_counter_ns()
            if lazy:
                record = pop.record_view(i, provider, service)
            else:
                record = SourceRecord.of(pop.resources(i, provider, service))
            matches, includes = search(record, rtype, params)
            orjson.dumps(_bundle(matches, includes))
            cold.append((time.perf_counter_ns() - started) / 1000)
            started = time.perf_counter_ns()  # the same search again: the record is kept
            matches, includes = search(record, rtype, params)
            orjson.dumps(_bundle(matches, includes))
            warm.append((time.perf_counter_ns() - started) / 1000)
            matched += len(matches)
        results["queries"][label] = {
            "patients": len(held), "resources_found": matched,
            "cold_median_us": round(statistics.median(cold), 1),
            "cold_mean_us": round(statistics.fmean(cold), 1),
            "cold_p95_us": round(_percentile(cold, 0.95), 1),
            "warm_median_us": round(statistics.median(warm), 1),
        }
    return results


def _bundle(matches: list[dict], includes: list[dict]) -> dict:
    entries = [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r,
                "search": {"mode": "match"}} for r in matches]
    entries += [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r,
                 "search": {"mode": "include"}} for r in includes]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(matches),
            "entry": entries}


def _tree(ref: str) -> Path:
    """The ``simulators`` package of git revision ``ref`` in a temp dir (git archive)."""
    data = subprocess.run(["git", "archive", ref, "simulators"], cwd=ROOT, check=True,
                          capture_output=True).stdout
    target = Path(tempfile.mkdtemp(prefix="cold-bench-"))
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(target, filter="data")
    return target


def _run(pythonpath: Path | None, patients: int) -> dict:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    done = subprocess.run([sys.executable, __file__, "--child", "--patients", str(patients)],
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--before-ref", default="HEAD")
    parser.add_argument("--only", choices=("before", "after"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.patients)))
        return
    runs: dict[str, dict] = {}
    load = os.getloadavg()
    before_label = f"before ({args.before_ref})"
    if args.only != "after":
        tree = _tree(args.before_ref)
        try:
            runs[before_label] = _run(tree, args.patients)
        finally:
            shutil.rmtree(tree, ignore_errors=True)
    if args.only != "before":
        runs["after (work tree)"] = _run(None, args.patients)
    for name, run in runs.items():
        print(f"{name}: {'lazy record_view' if run['lazy'] else 'whole record (resources)'}")
    print(f"load average at start {tuple(round(x, 2) for x in load)}, now "
          f"{tuple(round(x, 2) for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    print(f"{'query':38} {'run':18} {'patients':>8} {'cold p50':>9} {'cold p95':>9} "
          f"{'cold mean':>9} {'warm p50':>9}  (microseconds)")
    for label, *_ in QUERIES:
        for name, run in runs.items():
            q = run["queries"][label]
            print(f"{label:38} {name:18} {q['patients']:>8} {q['cold_median_us']:>9} "
                  f"{q['cold_p95_us']:>9} {q['cold_mean_us']:>9} {q['warm_median_us']:>9}")


if __name__ == "__main__":
    main()
