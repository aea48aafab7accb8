"""A soak test: a long bounded load, read window by window, and a verdict on growth.

``pgo-sandbox load mixed --duration 30m --window 5m`` runs the load as usual and, beside it,
samples every node of the local runtime every few seconds: RSS and PSS
(``/proc/<pid>/smaps_rollup``), open sockets (``/proc/<pid>/fd``) and the size of its SQLite
files (``<state>/nodes/<id>/*.sqlite*``). The Locust side (``loadtests/windows.py``) writes per
window the requests, failures and p50/p95/p99 of every step. ``windows()`` joins both per
window; ``growth()`` says what kept growing.

Growth, not speed: the guard compares the second half of the run with the first. A metric
fails when it still rises in the second half by more than a quarter of what it rose in the
first half *and* by more than an absolute allowance (memory 24 MB, sockets 24, SQLite 8 MB per
node): a warm-up (caches filling, a token store reaching its steady state as tokens expire)
rises early and flattens; a leak keeps rising. Absolute rates are reported, never judged, so
a busy machine does not fail the guard.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from loadtests.summary import FLOW
from sandbox.runtime.local import LocalRuntime

SAMPLE_EVERY_S = 2.0
# metric -> absolute allowance for growth in the second half of the run
ALLOWANCE = {"rss_mb": 24.0, "pss_mb": 24.0, "sockets": 24.0, "sqlite_mb": 8.0}
GUARDED = ("rss_mb", "sockets", "sqlite_mb")  # pss follows rss; reported, not judged twice
SECOND_HALF_SHARE = 0.25  # second-half rise allowed, as a share of the first half's
PERCENTILES = (0.50, 0.95, 0.99)
Snapshot = dict[str, tuple[int, int, dict[int, int]]]  # step -> (requests, failures, histogram)


def percentile(histogram: dict[int, int], fraction: float) -> float:
    """The response time under which ``fraction`` of the histogram's requests fall."""
    total = sum(histogram.values())
    if total <= 0:
        return 0.0
    needed = fraction * total
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= needed:
            return float(bucket)
    return float(max(histogram))


def window(index: int, start: float, end: float, before: Snapshot, after: Snapshot) -> dict:
    """One window's line: per step what happened between the two snapshots."""
    steps = {}
    for name, (requests, failures, histogram) in after.items():
        r0, f0, h0 = before.get(name, (0, 0, {}))
        delta = {b: c - h0.get(b, 0) for b, c in histogram.items() if c - h0.get(b, 0) > 0}
        if requests - r0 <= 0 and failures - f0 <= 0:
            continue
        steps[name] = {"requests": requests - r0, "failures": failures - f0,
                       **{f"p{round(p * 100)}_ms": percentile(delta, p) for p in PERCENTILES}}
    return {"window": index, "start": round(start, 3), "end": round(end, 3), "steps": steps}


def _smaps_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a process in MB from smaps_rollup; (0, 0) if it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss / 1024, pss / 1024


def _sockets(pid: int) -> int:
    """Open sockets of a process (listening and connected)."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    count = 0
    for name in names:
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


def _sqlite_mb(node_dir: Path) -> float:
    """Bytes of a node's SQLite files (with their WAL and journal), in MB."""
    total = 0
    for path in node_dir.glob("*.sqlite*"):
        try:
            total += path.stat().st_size
        except OSError:
            continue
    return total / 1_000_000


@dataclass
class Sampler:
    """Samples every node of a local sandbox on a thread until ``stop()``."""

    state_dir: Path
    every: float = SAMPLE_EVERY_S
    samples: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)

    def sample(self) -> dict:
        nodes = LocalRuntime(self.state_dir).supervisor().get("nodes", {})
        row: dict = {"t": round(time.time(), 3), "nodes": {}}
        for node_id, info in nodes.items():
            pid = int(info.get("pid") or 0)
            rss, pss = _smaps_mb(pid) if pid else (0.0, 0.0)
            row["nodes"][node_id] = {
                "rss_mb": round(rss, 2), "pss_mb": round(pss, 2),
                "sockets": _sockets(pid) if pid else 0,
                "sqlite_mb": round(_sqlite_mb(self.state_dir / "nodes" / node_id), 3),
                "restarts": int(info.get("restarts") or 0)}
        return row

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(self.every)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join(timeout=10)
        self.samples.append(self.sample())
        return self.samples


def windows(locust_windows: list[dict], samples: list[dict]) -> list[dict]:
    """Each Locust window with the nodes' last sample inside it (the state at its end)."""
    rows = []
    for w in locust_windows:
        inside = [s for s in samples if w["start"] <= s["t"] <= w["end"] + SAMPLE_EVERY_S]
        at_end = inside[-1]["nodes"] if inside else {}
        steps = w["steps"]
        # whole flows (Locust request type FLOW) are reported, not counted as requests
        counted = [s for name, s in steps.items() if not name.startswith(FLOW + " ")]
        requests = sum(s["requests"] for s in counted)
        failures = sum(s["failures"] for s in counted)
        seconds = max(w["end"] - w["start"], 1e-9)
        rows.append({"window": w["window"], "start": w["start"], "end": w["end"],
                     "requests": requests, "failures": failures,
                     "requests_per_s": round(requests / seconds, 1),
                     "steps": steps, "nodes": at_end})
    return rows


def _series(samples: list[dict], node: str, metric: str) -> list[tuple[float, float]]:
    return [(s["t"], s["nodes"][node][metric]) for s in samples if node in s["nodes"]]


def growth(samples: list[dict]) -> list[dict]:
    """Every guarded metric of every node that still grows in the run's second half.

    Each finding: node, metric, the rise in the first and the second half, and the allowance.
    Samples taken after a node restarted are compared only with samples of the same life.
    """
    if len(samples) < 4:
        return []
    findings = []
    nodes = set().union(*(s["nodes"] for s in samples))
    for node in sorted(nodes):
        restarts = {s["nodes"][node]["restarts"] for s in samples if node in s["nodes"]}
        life = [s for s in samples
                if node in s["nodes"] and s["nodes"][node]["restarts"] == max(restarts)]
        for metric in GUARDED:
            series = _series(life, node, metric)
            if len(series) < 4:
                continue
            mid = series[0][0] + (series[-1][0] - series[0][0]) / 2
            first = [v for t, v in series if t <= mid]
            second = [v for t, v in series if t >= mid]
            rise_1 = max(first) - first[0]
            rise_2 = max(second) - max(first)
            allowed = max(ALLOWANCE[metric], SECOND_HALF_SHARE * rise_1)
            if rise_2 > allowed:
                findings.append({"node": node, "metric": metric,
                                 "first_half_rise": round(rise_1, 2),
                                 "second_half_rise": round(rise_2, 2),
                                 "allowed": round(allowed, 2)})
    return findings
