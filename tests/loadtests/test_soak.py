"""The soak test (issue 17 item 2): per-window statistics from Locust, node samples beside
them, and a guard that fails on growth, not on speed. The CI form is short and bounded; the
30-minute run is a benchmark (docs/benchmarks-load.md)."""

from __future__ import annotations

import json
import os

import pytest

from loadtests import soak
from loadtests.run import LoadError, LoadOptions, run
from loadtests.soak import percentile, window


def samples(rss: list[float], restarts: list[int] | None = None) -> list[dict]:
    restarts = restarts or [0] * len(rss)
    return [{"t": float(i), "nodes": {"dva-x": {"rss_mb": r, "pss_mb": r, "sockets": 5,
                                                "sqlite_mb": 1.0, "restarts": n}}}
            for i, (r, n) in enumerate(zip(rss, restarts, strict=True))]


def test_a_warm_up_that_flattens_is_not_growth() -> None:
    assert soak.growth(samples([100, 160, 200, 210, 212, 213, 214, 214])) == []


def test_memory_that_keeps_rising_is_growth() -> None:
    found = soak.growth(samples([100, 130, 160, 190, 220, 250, 280, 310]))
    assert [(g["node"], g["metric"]) for g in found] == [("dva-x", "rss_mb")]
    assert found[0]["second_half_rise"] > found[0]["allowed"]


def test_a_restart_starts_a_new_life() -> None:
    # the node died and came back small, then warmed up again: only the new life is judged
    rows = samples([300, 320, 330, 335, 90, 120, 125, 126, 126, 127],
                   restarts=[0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    assert soak.growth(rows) == []


def test_window_percentiles_come_from_the_windows_own_requests() -> None:
    before = {"GET search": (100, 0, {10: 100})}
    after = {"GET search": (110, 1, {10: 100, 50: 9, 900: 1})}
    line = window(3, 0.0, 60.0, before, after)
    step = line["steps"]["GET search"]
    assert (step["requests"], step["failures"]) == (10, 1)
    assert (step["p50_ms"], step["p95_ms"], step["p99_ms"]) == (50.0, 900.0, 900.0)
    assert percentile({}, 0.5) == 0.0


def test_the_window_is_checked() -> None:
    with pytest.raises(LoadError, match="--window"):
        LoadOptions("collect", duration=10, window=60).check()


@pytest.mark.slow
def test_short_soak_reports_windows_and_nothing_keeps_growing(sandbox, tmp_path) -> None:
    seconds = float(os.environ.get("PGO_SOAK_CI_SECONDS", "60"))
    opts = LoadOptions("collect,registry", users=4, spawn_rate=4, duration=seconds,
                       out_dir=tmp_path, think_scale=0.05, max_requests=200_000,
                       ceiling=False, window=seconds / 4)
    summary = run(sandbox, opts, say=lambda _: None)
    result = summary["soak"]
    assert result["sampled"] and len(result["windows"]) >= 4, result["windows"]
    for w in result["windows"][:4]:
        failed = {n: s for n, s in w["steps"].items() if s["failures"]}
        assert w["requests"] > 0 and not failed, failed
        assert any(name.startswith("GET") or name.startswith("POST") for name in w["steps"])
        assert set(w["nodes"]) >= {"dva-nexus", "registry", "pgo-alpha"}
        assert w["nodes"]["dva-nexus"]["rss_mb"] > 10
    assert result["growth"] == [], result["growth"]
    assert json.loads((tmp_path / "samples.json").read_text())
