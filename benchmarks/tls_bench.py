"""What TLS and mutual TLS cost: the `medmij` profile against `loopback`, in the same run.

    python benchmarks/tls_bench.py --flows 10 --seconds 3     # as root (binds <address>:443)

For each profile it starts a local sandbox in a temporary state directory, runs collect flows
back to back at pgo-alpha (flows/s), then one BgZ search (Condition) at the DVA as pgo-alpha:
on one keep-alive connection (per-request overhead) and on a new connection per request
(handshake included). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sandbox.runtime.local import LocalRuntime
from sandbox.state import running
from scenarios import collect
from scenarios.oauth_probe import exchange, get_code, resource_base
from scenarios.persons import find_persons
from simulators.common import tls
from simulators.common.http import sync_client
from simulators.medmij import fhir_accept
from simulators.medmij.topology import load_topology

PGO = "pgo-alpha.sandbox.test"


def flows_per_second(sandbox, flows: int, provider: str) -> float:
    seconds = 0.0
    for _ in range(flows):
        report = collect.run(sandbox, dvp="pgo-alpha", provider=provider)
        if not report.ok:
            raise SystemExit(f"flow failed: {report.to_dict()}")
        seconds += sum(s.seconds for s in report.steps[1:])  # the person pick aside
    return flows / seconds


def rate(send, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        if send().status_code != 200:
            raise SystemExit("search failed")
        count += 1
    return count / (time.perf_counter() - start)


def measure(profile: str, flows: int, seconds: float, provider: str) -> dict[str, float]:
    state = Path(tempfile.mkdtemp(prefix=f"tls-bench-{profile}-"))
    runtime = LocalRuntime(state)
    extra = {"profile": "medmij", "network": "127.78.0.0/24"} if profile == "medmij" else {}
    runtime.up(load_topology(), base_port=18900, timeout=90, **extra)
    try:
        sandbox = running(state)
        result = {"flows/s": flows_per_second(sandbox, flows, provider)}
        if profile == "medmij":
            tls.use_identity(state / "pki", PGO)  # the searches below are pgo-alpha's calls
        with sync_client(sandbox.info.addresses) as http:
            bsn = find_persons(http, sandbox, provider)[0]["bsn"]
            code, redirect_uri = get_code(sandbox, provider, bsn)
            token = exchange(http, sandbox, provider, code, redirect_uri, PGO).json()
            headers = {"Authorization": f"Bearer {token['access_token']}",
                       "Accept": fhir_accept("3.0")}
            url = f"{resource_base(sandbox, provider)}/Condition"
            result["search req/s (keep-alive)"] = rate(
                lambda: http.get(url, headers=headers), seconds)
            close = {**headers, "Connection": "close"}  # the server closes: a new handshake
            result["search req/s (new connection)"] = rate(
                lambda: http.get(url, headers=close), seconds)
        return result
    finally:
        runtime.down()
        tls._identity = None  # the next profile's process identity starts clean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flows", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--provider", default="umcsandbox@medmij")
    args = parser.parse_args()
    results = {p: measure(p, args.flows, args.seconds, args.provider)
               for p in ("loopback", "medmij")}
    print(f"{'':32s} {'loopback':>10s} {'medmij':>10s} {'ratio':>7s}")
    for key in results["loopback"]:
        a, b = results["loopback"][key], results["medmij"][key]
        print(f"{key:32s} {a:10.1f} {b:10.1f} {b / a:7.2f}")


if __name__ == "__main__":
    main()
