"""--calibrate: DVA service times measured by a load run of the live sandbox (issue 6).

The load-run summary (written by the load-test issue) is read defensively: unknown fields are
ignored, steps without usable numbers are skipped, and only when nothing usable remains is it
an error. Searches ("search <Resource>") set the search service time, weighted by their request
counts; "token" sets the token time; "authorize", "login" and "consent" the flow pages. Kinds
the run did not measure keep the model's defaults.

A load run measures latency under its own load, not pure service time; it is the best figure
the sandbox gives, and using it is stated as a limit in docs/national-model.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from scenarios.national.params import ServiceTime, ServiceTimes

FLOW_STEPS = ("authorize", "login", "consent")


class CalibrationError(ValueError):
    """The summary cannot be read or holds no usable step timings."""


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and value > 0 else None


def _step_time(step: object) -> tuple[ServiceTime, float] | None:
    """(service time, weight) of one step, or None when it carries no usable timing."""
    if not isinstance(step, dict):
        return None
    median = _number(step.get("p50_ms")) or _number(step.get("mean_ms"))
    if median is None:
        return None
    p95 = _number(step.get("p95_ms")) or median * 2.0
    weight = _number(step.get("requests")) or 1.0
    return ServiceTime(median, max(p95, median)), weight


def _combine(times: list[tuple[ServiceTime, float]]) -> ServiceTime | None:
    """Request-weighted geometric blend of several steps' medians and p95s."""
    if not times:
        return None
    total = sum(w for _, w in times)
    median = math.exp(sum(math.log(t.median_ms) * w for t, w in times) / total)
    p95 = math.exp(sum(math.log(t.p95_ms) * w for t, w in times) / total)
    return ServiceTime(median, p95)


def service_times(summary: dict[str, object], source: str = "load run") -> ServiceTimes:
    """ServiceTimes from a parsed load-run summary."""
    steps = summary.get("steps") if isinstance(summary, dict) else None
    if not isinstance(steps, dict):
        raise CalibrationError("summary has no 'steps' object")
    searches, tokens, flows = [], [], []
    for name, step in steps.items():
        timed = _step_time(step)
        if timed is None or not isinstance(name, str):
            continue
        key = name.strip().lower()
        if key.startswith("search "):
            searches.append(timed)
        elif key == "token":
            tokens.append(timed)
        elif key in FLOW_STEPS:
            flows.append(timed)
    search = _combine(searches)
    if search is None:
        raise CalibrationError("summary has no 'search …' step with usable timings")
    default = ServiceTimes()
    flow = str(summary.get("flow", "?"))
    return ServiceTimes(search=search, token=_combine(tokens) or default.token,
                        flow=_combine(flows) or default.flow,
                        source=f"{source} (flow {flow}, {len(searches)} search steps)")


def load(path: Path) -> ServiceTimes:
    """Read a load-run JSON summary from `path`."""
    try:
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"cannot read load-run summary {path}: {exc}") from exc
    return service_times(summary, source=str(path))
