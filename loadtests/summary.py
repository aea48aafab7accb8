"""The JSON summary of a load run, from Locust's statistics (no Locust import: the CLI uses it).

Shape (docs/load-testing.md; scenarios/national reads "search …" and "token" from ``steps``)::

    {"flow", "duration_s", "users", "flows_per_s", "requests_per_s", "failures",
     "steps": {name: {"requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms"}},
     "ceiling": {same figures for the bare endpoint, plus "users" and "duration_s"} or {},
     "ratios": {"requests_per_s", "search_requests_per_s", "steps": {name: rps / ceiling rps}}}

Transactions (request type FLOW) are steps too, so end-to-end latency sits beside per-step
latency; they are not counted in ``requests_per_s``.
"""

from __future__ import annotations

import json
from pathlib import Path

FLOW = "FLOW"
FIELDS = ("requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms")


def percentile(response_times: dict[str, int], count: int, share: float) -> float:
    """Locust's own percentile over its rounded response-time histogram."""
    wanted, seen = int(count * share), 0
    for ms in sorted(response_times, key=float, reverse=True):
        seen += response_times[ms]
        if count - seen <= wanted:
            return float(ms)
    return 0.0


def read_stats(path: Path) -> tuple[dict[str, dict[str, float]], set[str], float]:
    """(steps, names of FLOW transactions, window in seconds) from Locust's ``--json-file``.

    The JSON is written after the run stops, so it holds every request (the CSV is flushed on
    a timer and can miss the last seconds).
    """
    entries = json.loads(Path(path).read_text(encoding="utf-8"))
    starts = [e["start_time"] for e in entries if e["num_requests"]]
    ends = [e["last_request_timestamp"] for e in entries if e["last_request_timestamp"]]
    window = (max(ends) - min(starts)) if starts and ends else 0.0
    steps: dict[str, dict[str, float]] = {}
    flows: set[str] = set()
    for e in sorted(entries, key=lambda e: e["num_requests"]):  # same name: the busier wins
        count = e["num_requests"]
        times = e["response_times"]
        steps[e["name"]] = {
            "requests": count,
            "failures": e["num_failures"],
            "rps": round(count / window, 3) if window else 0.0,
            "p50_ms": percentile(times, count, 0.50),
            "p95_ms": percentile(times, count, 0.95),
            "p99_ms": percentile(times, count, 0.99),
            "mean_ms": round(e["total_response_time"] / count, 2) if count else 0.0,
        }
        if e["method"] == FLOW:
            flows.add(e["name"])
    return steps, flows, window


def summarise(flow: str, users: int, stats: Path, ceiling: Path | None = None,
              ceiling_users: int | None = None) -> dict:
    """The run's summary; ``ceiling`` is the bare endpoint's stats of the same command."""
    steps, flows, window = read_stats(stats)
    requests = {n: s for n, s in steps.items() if n not in flows}
    summary: dict = {
        "flow": flow,
        "duration_s": round(window, 2),
        "users": users,
        "flows_per_s": round(sum(steps[n]["rps"] for n in flows), 3),
        "requests_per_s": round(sum(s["rps"] for s in requests.values()), 3),
        "failures": int(sum(s["failures"] for s in steps.values())),
        "steps": dict(sorted(steps.items())),
        "ceiling": {},
        "ratios": {},
    }
    if ceiling is not None and ceiling.exists():
        c_steps, _, c_window = read_stats(ceiling)
        bare = c_steps.get("ceiling")
        if bare:
            summary["ceiling"] = bare | {"users": ceiling_users or users,
                                         "duration_s": round(c_window, 2)}
            summary["ratios"] = ratios(summary, bare["rps"])
    return summary


def ratios(summary: dict, ceiling_rps: float) -> dict:
    """Each throughput as a share of the ceiling's requests/s in the same run."""
    if ceiling_rps <= 0:
        return {}
    searches = [s["rps"] for n, s in summary["steps"].items() if n.startswith("search ")]
    return {
        "requests_per_s": round(summary["requests_per_s"] / ceiling_rps, 4),
        "search_requests_per_s": round(sum(searches) / ceiling_rps, 4),
        "steps": {n: round(s["rps"] / ceiling_rps, 4) for n, s in summary["steps"].items()},
    }
