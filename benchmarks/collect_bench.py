"""Collect flows per second for one DVP run back to back, and requests per second of one BgZ
search, against a running sandbox (``pgo-sandbox up`` first).

    python benchmarks/collect_bench.py --flows 20 --seconds 5

Prints figures; asserts nothing (timing goals live here, not in tests).
"""

from __future__ import annotations

import argparse
import statistics
import time

from sandbox.state import running
from scenarios import collect
from scenarios.oauth_probe import exchange, get_code, resource_base
from scenarios.persons import find_persons
from simulators.common.http import sync_client
from simulators.medmij import fhir_accept


def collect_flows(sandbox, flows: int, provider: str) -> None:
    totals, steps = [], {}
    for _ in range(flows):
        report = collect.run(sandbox, dvp="pgo-alpha", provider=provider)
        if not report.ok:
            raise SystemExit(f"flow failed: {report.to_dict()}")
        totals.append(sum(s.seconds for s in report.steps[1:]))  # person pick aside
        for s in report.steps:
            steps.setdefault(s.name, []).append(s.seconds)
    wall = sum(totals)
    print(f"collect flows back to back at pgo-alpha ({provider}): {flows} flows, "
          f"{flows / wall:.1f} flows/s, mean {statistics.mean(totals) * 1000:.0f} ms")
    for name, values in steps.items():
        print(f"  {name:32s} mean {statistics.mean(values) * 1000:7.1f} ms")


def sequential(http, url: str, headers: dict, seconds: float) -> None:
    """One keep-alive connection, back to back: latency-bound, a floor not a ceiling (the
    Locust benchmark measures throughput against a bare endpoint)."""
    count, failures = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        failures += http.get(url, headers=headers).status_code != 200
        count += 1
    elapsed = time.perf_counter() - start
    print(f"GET {url.rsplit('/', 1)[-1]}: {count / elapsed:.0f} req/s on one connection, "
          f"{elapsed / count * 1000:.2f} ms each, {failures} failures")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flows", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--provider", default="umcsandbox@medmij")
    args = parser.parse_args()
    sandbox = running()
    collect_flows(sandbox, args.flows, args.provider)
    with sync_client(sandbox.info.addresses) as http:
        bsn = find_persons(http, sandbox, args.provider)[0]["bsn"]
        code, redirect_uri = get_code(sandbox, args.provider, bsn)
        token = exchange(http, sandbox, args.provider, code, redirect_uri,
                         "pgo-alpha.sandbox.test").json()["access_token"]
        headers = {"Authorization": f"Bearer {token}",
                   "Accept": fhir_accept("3.0")}
        base = resource_base(sandbox, args.provider)
        sequential(http, sandbox.url("dva-nexus", "/health"), {}, args.seconds)
        sequential(http, f"{base}/Condition", headers, args.seconds)


if __name__ == "__main__":
    main()
