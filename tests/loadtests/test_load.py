"""The load tests run: a short, bounded Locust run against the session sandbox (issue 5).

Few users, a few seconds, no think time, a request budget; flows must complete without a
single failed request, and the JSON summary must have the documented shape.
"""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from loadtests.run import LoadOptions, run
from loadtests.summary import FIELDS, summarise
from sandbox.load_cli import register
from tests.conftest import ROOT

TOP = {"flow": str, "duration_s": float, "users": int, "flows_per_s": float,
       "requests_per_s": float, "failures": int, "steps": dict, "ceiling": dict, "ratios": dict}


def check_shape(summary: dict) -> None:
    assert set(summary) == set(TOP)
    for key, kind in TOP.items():
        assert isinstance(summary[key], int | float if kind is float else kind), key
    for name, step in summary["steps"].items():
        assert set(step) == set(FIELDS), name
    assert set(FIELDS) <= set(summary["ceiling"])


@pytest.mark.slow
def test_bounded_collect_run(sandbox, tmp_path) -> None:
    opts = LoadOptions("collect", users=3, spawn_rate=3, duration=6, out_dir=tmp_path,
                       think_scale=0, max_requests=3000, ceiling_users=2, ceiling_duration=2)
    summary = run(sandbox, opts, say=lambda _: None)
    check_shape(summary)
    steps = summary["steps"]
    flows = {n: s for n, s in steps.items() if n.startswith("collect flow")}
    assert sum(s["requests"] for s in flows.values()) >= 1, steps.keys()
    assert summary["failures"] == 0, {n: s for n, s in steps.items() if s["failures"]}
    for name in ("authorize", "login", "consent", "token"):
        assert steps[name]["requests"] >= 1, name
    assert any(n.startswith("search ") for n in steps)
    assert summary["flows_per_s"] > 0 and summary["ceiling"]["rps"] > 0
    assert summary["ratios"]["requests_per_s"] > 0
    # the request budget stops the run; requests already in flight then still complete
    assert sum(s["requests"] for n, s in steps.items() if n not in flows) <= 3000 * 1.1
    for report in ("flow_stats.csv", "flow.html", "ceiling_stats.csv", "flow.json",
                   "summary.json"):
        assert (tmp_path / report).exists(), report
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


def test_a_request_budget_with_workers_keeps_what_the_workers_did(sandbox, tmp_path) -> None:
    """--max-requests with Locust workers: each worker stops at its share and reports what
    it measured before it quits (Locust's quit alone dropped it: the run ended empty)."""
    opts = LoadOptions("collect", users=4, spawn_rate=4, duration=60, out_dir=tmp_path,
                       think_scale=0, max_requests=200, workers=2, ceiling=False)
    summary = run(sandbox, opts, say=lambda _: None)
    requests = sum(s["requests"] for n, s in summary["steps"].items()
                   if not n.startswith("collect flow"))
    assert 200 <= requests < 400, requests  # 100 per worker, and what was under way
    assert summary["duration_s"] < 30, summary["duration_s"]  # the budget ended it
    assert summary["failures"] == 0


def _entry(name: str, method: str, times: dict[int, int], start: float, end: float) -> dict:
    count = sum(times.values())
    return {"name": name, "method": method, "start_time": start, "last_request_timestamp": end,
            "num_requests": count, "num_none_requests": 0, "num_failures": 0,
            "total_response_time": sum(t * n for t, n in times.items()),
            "max_response_time": max(times), "min_response_time": min(times),
            "total_content_length": 0, "response_times": {str(t): n for t, n in times.items()},
            "num_reqs_per_sec": {}, "num_fail_per_sec": {}}


def test_summary_from_locust_json(tmp_path) -> None:
    """Locust's --json-file shape in, the documented summary out, ratios to the ceiling."""
    (tmp_path / "f.json").write_text(json.dumps([
        _entry("search Condition", "GET", {10: 90, 40: 10}, 100.0, 105.0),
        _entry("collect flow (48)", "FLOW", {300: 5}, 100.5, 104.0),
    ]))
    (tmp_path / "c.json").write_text(json.dumps([_entry("ceiling", "GET", {1: 1000}, 0, 5)]))
    summary = summarise("collect", 5, tmp_path / "f.json", tmp_path / "c.json", 5)
    check_shape(summary)
    assert summary["duration_s"] == 5.0
    assert summary["flows_per_s"] == 1 and summary["requests_per_s"] == 20
    assert summary["steps"]["search Condition"]["p50_ms"] == 10
    assert summary["steps"]["search Condition"]["p95_ms"] == 40
    assert summary["ratios"]["search_requests_per_s"] == 0.1


def test_load_command_help_has_an_example() -> None:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """pgo-sandbox"""

    register(app)
    result = CliRunner().invoke(app, ["load", "--help"])
    assert result.exit_code == 0
    assert "Example: pgo-sandbox load collect" in result.output


@pytest.mark.slow
def test_bounded_collect_run_of_templated_and_document_services(sandbox, tmp_path) -> None:
    """49 (date templates) and 51 (Binary reads): the Locust PGO sends what the DVP sends."""
    opts = LoadOptions("collect", users=2, spawn_rate=2, duration=5, out_dir=tmp_path,
                       think_scale=0, max_requests=2000, ceiling_users=1, ceiling_duration=1,
                       services="49,51")
    summary = run(sandbox, opts, say=lambda _: None)
    steps = summary["steps"]
    assert summary["failures"] == 0, {n: s for n, s in steps.items() if s["failures"]}
    assert any(n.startswith("collect flow") for n in steps), steps.keys()
    assert any(n.startswith("read Binary (51)") for n in steps), steps.keys()


def test_locust_queries_are_the_dvps_rendered_queries() -> None:
    """loadtests/medmij.py imports ``collect_queries`` from the DVP's collect (checked here
    by source, not by import: importing Locust monkey-patches this test process)."""

    source = (ROOT / "loadtests" / "medmij.py").read_text()
    assert "collect_queries(service)" in source and "dienst.searches" not in source
    from simulators.dvp.collect import collect_queries, render_query
    from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN

    for service in ("48", "49", "51", "63"):
        queries = collect_queries(service)
        assert not any("${" in q for q in queries), service
        assert queries == [render_query(q) for q in GEGEVENSDIENSTEN[service].searches]
    assert any("${" in q for q in GEGEVENSDIENSTEN["49"].searches)  # there was a template


@pytest.mark.parametrize("today,template,expected", [
    ("2026-03-31", "${CURRENTDATE,M,-14}", "2025-01-31"),  # not clamped to the 28th
    ("2026-03-31", "${CURRENTDATE,M,-1}", "2026-02-28"),  # February has no 31st
    ("2024-03-30", "${CURRENTDATE,M,-1}", "2024-02-29"),  # leap year
    ("2026-05-29", "${CURRENTDATE,M,-3}", "2026-02-28"),
    ("2024-02-29", "${DATE, T, Y, -1}", "2023-02-28"),
    ("2026-03-15", "${CURRENTDATE,M,-14}", "2025-01-15"),
])
def test_month_steps_keep_the_day_of_the_month(today, template, expected) -> None:
    from datetime import date

    from simulators.dvp.collect import render_query

    assert render_query(f"X?date=ge{template}", date.fromisoformat(today)) == \
        f"X?date=ge{expected}"


def test_a_plain_sandbox_needs_no_pki() -> None:
    """A loopback sandbox (plain HTTP) is loaded as before: no CA, no certificate; what a
    TLS sandbox needs is in test_load_tls.py."""
    from types import SimpleNamespace

    from loadtests.run import check_tls, serves_tls

    addresses = {"registry.sandbox.test": "http://127.0.0.1:18400"}
    plain = SimpleNamespace(state_dir=ROOT / "no-such-state", info=SimpleNamespace(
        addresses=addresses), config=SimpleNamespace(addresses=addresses))
    assert not serves_tls(plain)  # type: ignore[arg-type]
    check_tls(plain, ["collect"])  # type: ignore[arg-type]
