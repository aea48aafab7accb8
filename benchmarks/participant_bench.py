"""How long until a live-added DVP is usable at every DVA (issue 13, "Measure and report").

    python benchmarks/participant_bench.py --adds 5                    # loopback profile
    python benchmarks/participant_bench.py --adds 5 --profile medmij   # as root (<address>:443)
    python benchmarks/participant_bench.py --refresh 2 --json out.json  # another list refresh

For each profile it starts a local sandbox in a temporary state directory, then ``--adds``
times: adds an outside DVP through the registry's admin API (``POST /admin/clients``, what
``pgo-sandbox participant add-dvp`` calls) and polls every DVA's authorize with that client_id
until it answers 302 (on to DigiD) instead of 400 "Unknown client: not on the OAuth Client
List". The time from sending the POST to the last DVA accepting is "usable at every DVA"; it
is bounded by one list refresh (``list_refresh_seconds``, polled by every DVA on its own
timer) plus one list download. Between adds the DVP is removed again and the script waits a
random part of a refresh, so the adds fall at independent phases of the DVAs' timers.

Prints min/median/max; asserts nothing (the figures are in docs/bring-your-own.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

from sandbox.runtime.local import LocalRuntime
from sandbox.state import Running, running
from simulators.common.http import sync_client
from simulators.medmij import build_scope
from simulators.medmij.topology import load_topology

POLL_SECONDS = 0.02  # between two authorize requests at one DVA
NOT_LISTED = "not on the OAuth Client List"


def start(profile: str, refresh: float | None) -> tuple[LocalRuntime, Running]:
    """A sandbox on free loopback ports (loopback) or a random 127.x.y.0/24 (medmij)."""
    topology = load_topology()
    if refresh is not None:
        topology = dataclasses.replace(topology, list_refresh_seconds=refresh)
    state = Path(tempfile.mkdtemp(prefix=f"participant-bench-{profile}-"))
    runtime = LocalRuntime(state)
    for attempt in range(5):
        try:
            if profile == "medmij":
                network = f"127.{random.randint(150, 250)}.{random.randint(0, 255)}.0/24"
                runtime.up(topology, timeout=90, profile="medmij", network=network)
            else:
                runtime.up(topology, base_port=random.randrange(20000, 40000, 100), timeout=90)
            return runtime, running(state)
        except RuntimeError as exc:
            if attempt == 4 or "in use" not in str(exc):
                raise
    raise AssertionError("unreachable")


def authorize_url(sandbox: Running, dva: str, client_id: str, redirect_uri: str) -> str:
    provider = sandbox.topology.providers_of(dva)[0]
    query = urlencode({"response_type": "code", "client_id": client_id, "state": "bench",
                       "redirect_uri": redirect_uri, "scope": build_scope(provider.name)})
    return sandbox.public_url(dva, f"/oauth/authorize?{query}")


def wait_usable(http: httpx.Client, url: str, start: float, limit: float) -> float:
    """Seconds from ``start`` until the DVA's authorize answers 302 for the client."""
    while True:
        r = http.get(url)
        now = time.perf_counter()
        if r.status_code == 302:
            return now - start
        if NOT_LISTED not in r.text:  # any other refusal is a failure, not a delay
            raise SystemExit(f"authorize answered {r.status_code}: {r.text[:300]}")
        if now - start > limit:
            raise SystemExit(f"not usable within {limit:g} s: {url}")
        time.sleep(POLL_SECONDS)


def one_add(sandbox: Running, http: httpx.Client, index: int) -> dict:
    """Add one DVP, time it at every DVA, remove it again."""
    hostname = f"pgo-bench{index}.{sandbox.topology.domain}"
    redirect_uri = (f"https://{hostname}/callback" if sandbox.config.profile == "medmij"
                    else f"http://127.0.0.1:{9100 + index}/callback")
    registry = sandbox.url("registry")
    refresh = sandbox.topology.list_refresh_seconds
    dvas = [d.hostname for d in sandbox.topology.dvas]
    urls = {dva: authorize_url(sandbox, dva, hostname, redirect_uri) for dva in dvas}
    for url in urls.values():  # the control: refused before the add
        assert NOT_LISTED in http.get(url).text
    start = time.perf_counter()
    added = http.post(f"{registry}/admin/clients", headers=sandbox.admin_headers, json={
        "hostname": hostname, "name": f"Bench PGO {index}", "redirect_uri": redirect_uri})
    post_seconds = time.perf_counter() - start
    if added.status_code >= 300:
        raise SystemExit(f"add refused: {added.status_code} {added.text[:300]}")
    per_dva = {dva: wait_usable(http, url, start, 3 * refresh + 10) for dva, url in urls.items()}
    removed = http.delete(f"{registry}/admin/participants/{hostname}",
                          headers=sandbox.admin_headers)
    if removed.status_code != 200:
        raise SystemExit(f"remove refused: {removed.status_code} {removed.text[:300]}")
    return {"hostname": hostname, "post_seconds": post_seconds, "per_dva": per_dva,
            "every_dva": max(per_dva.values())}


def measure(profile: str, adds: int, refresh: float | None) -> dict:
    runtime, sandbox = start(profile, refresh)
    try:
        runs = []
        with sync_client(sandbox.info.addresses, timeout=30.0) as http:
            for index in range(adds):
                time.sleep(random.uniform(0, sandbox.topology.list_refresh_seconds))
                runs.append(one_add(sandbox, http, index))
                print(f"  {profile} add {index + 1}: usable at every DVA after "
                      f"{runs[-1]['every_dva']:.2f} s", flush=True)
        every = [r["every_dva"] for r in runs]
        return {"profile": profile, "list_refresh_seconds": sandbox.topology.list_refresh_seconds,
                "dvas": len(sandbox.topology.dvas), "adds": adds,
                "min": min(every), "median": statistics.median(every), "max": max(every),
                "post_max": max(r["post_seconds"] for r in runs), "runs": runs}
    finally:
        runtime.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adds", type=int, default=5)
    parser.add_argument("--profile", action="append", choices=("loopback", "medmij"),
                        help="repeat for both (default: loopback)")
    parser.add_argument("--refresh", type=float, help="list_refresh_seconds (default: the "
                        "topology's)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    results = [measure(p, args.adds, args.refresh) for p in args.profile or ["loopback"]]
    print(f"{'profile':9s} {'refresh':>8s} {'DVAs':>5s} {'adds':>5s} {'min':>7s} "
          f"{'median':>7s} {'max':>7s}  (s until usable at every DVA; POST max)")
    for r in results:
        print(f"{r['profile']:9s} {r['list_refresh_seconds']:8g} {r['dvas']:5d} {r['adds']:5d} "
              f"{r['min']:7.2f} {r['median']:7.2f} {r['max']:7.2f}  ({r['post_max']:.3f})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
