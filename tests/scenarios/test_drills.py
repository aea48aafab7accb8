"""Drills (issue 16 item 3): a kill under a bounded load, measured, and a data-lost check that
really finds lost data. Two drills run for real against the session sandbox (each ~15 s);
the timeline arithmetic and the CLI's refusals are tested in-process."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sandbox import drill
from sandbox.drill import DrillError, DrillOptions, check_collects, check_imports, timeline
from sandbox.drill_cli import register


def _records(spec: dict[int, tuple[int, int]], base: int = 1000) -> list[dict]:
    """(ok, failed) requests per second from ``base``."""
    out = []
    for second, (ok, failed) in spec.items():
        out += [{"t": base + second + 0.5, "type": "GET", "name": "x", "ms": 10.0, "ok": True}
                for _ in range(ok)]
        out += [{"t": base + second + 0.5, "type": "GET", "name": "x", "ms": 10.0,
                 "ok": False} for _ in range(failed)]
    return out


def test_timeline_recovery_is_the_first_second_after_the_fault_with_the_old_rate() -> None:
    records = _records({0: (10, 0), 1: (10, 0), 2: (2, 8), 3: (5, 1), 4: (9, 0), 5: (9, 0)})
    records.append({"t": 1003.2, "type": "FLOW", "name": "collect at p", "ms": 1, "ok": False})
    line = timeline(records, 1000.0, 1006.0, (1002.1, 1002.9))
    assert line["pre_fault_success_rate"] == 1.0
    assert line["recovered"] and line["recovered_at"] == 1004.0  # second 3 still failed
    assert line["time_to_recover_s"] == pytest.approx(1.9)
    assert line["affected"] == 16 and line["failed"] == 9  # seconds 2 and 3, flows apart
    assert line["failures"] == 9 and line["failed_after_recovery"] == 0
    assert [s["failures"] for s in line["seconds"]][:4] == [0, 0, 8, 1]


def test_timeline_not_recovered_and_never_before_the_fault_ended() -> None:
    line = timeline(_records({0: (10, 0), 1: (1, 1), 2: (1, 1)}), 1000.0, 1003.0,
                    (1001.0, 1001.2))
    assert not line["recovered"] and line["time_to_recover_s"] is None
    ok_during = timeline(_records({0: (10, 0), 1: (4, 0), 2: (4, 0)}), 1000.0, 1003.0,
                         (1001.0, 1001.6))
    assert ok_during["recovered_at"] == 1001.6  # the second it ended in, not its start


def test_options_refuse_a_drill_without_time_to_recover() -> None:
    with pytest.raises(DrillError, match="no time to recover"):
        DrillOptions("registry-down", duration=8, fault_at=3, fault_for=4).check()
    with pytest.raises(DrillError, match="unknown drill"):
        DrillOptions("kill-everything").check()


def test_report_xml_is_inflated_within_the_import_limits() -> None:
    from simulators.dvp.portability import MAX_REPLAY_PER_PROVIDER
    from simulators.dvp.report import CollectAction, Report, build_report, parse_report

    base = "https://dva.test/fhir/x/48/"
    actions = [CollectAction("za@medmij", "48", "t", [(f"{base}Condition", "t"),
                                                       (f"{base}Patient?x=1", "t")])]
    xml = drill.inflate(build_report(Report("pgo.test", "t", "t", "t", actions)), total=100)
    uris = [u for a in parse_report(xml).actions for u, _ in a.requests]
    assert len(uris) == len(set(uris)) == 100 <= MAX_REPLAY_PER_PROVIDER
    assert f"{base}Patient?x=1&_count=101" in uris and f"{base}Condition?_count=101" in uris


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command, so `drill` is a subcommand as in pgo-sandbox
        """Unused."""

    return app


def test_cli_refuses_unknown_names_and_a_too_short_run(tmp_path) -> None:
    runner = CliRunner()
    r = runner.invoke(_cli(), ["drill", "kill-all", "--state-dir", str(tmp_path)])
    assert r.exit_code == 2 and "unknown drill 'kill-all'; known: kill-dva" in r.output
    r = runner.invoke(_cli(), ["drill", "kill-dva", "--duration", "5s", "--state-dir",
                               str(tmp_path)])
    assert r.exit_code == 2 and "no time to recover" in r.output
    r = runner.invoke(_cli(), ["drill", "--help"])
    assert r.exit_code == 0 and "Example: pgo-sandbox drill kill-dva" in r.output


def test_cli_exits_1_when_data_was_lost(tmp_path, monkeypatch) -> None:
    """The verdict reaches the exit code: a report with data lost is exit 1."""
    from sandbox import state

    report = {"drill": "kill-dva", "node": "dva-nexus", "ok": False, "data_lost": 2,
              "problems": ["data lost: 2"], "recovered": True, "time_to_recover_s": 1.0,
              "pre_fault_success_rate": 1.0, "data": {"collects": {"lost": 2}},
              "fault": {"injected": 1, "start_s": 1.0, "end_s": 2.0, "restart_s": 1.0,
                        "notes": []},
              "requests": {"requests": 10, "affected": 3, "failed": 1,
                           "failed_after_recovery": 0}}
    monkeypatch.setattr(drill, "run", lambda *a, **k: report)
    monkeypatch.setattr("sandbox.drill_cli.running_or_exit", lambda _: object())
    monkeypatch.setattr(state, "running", lambda _: object())
    r = CliRunner().invoke(_cli(), ["drill", "kill-dva", "--state-dir", str(tmp_path),
                                    "--out", str(tmp_path)])
    assert r.exit_code == 1, r.output
    assert "data lost: 2" in r.output


# --- for real, against the session sandbox -----------------------------------------------------

@pytest.fixture(scope="module")
def kill_dva(sandbox, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("drill-kill-dva")
    opts = DrillOptions("kill-dva", users=3, duration=9, fault_at=3, out_dir=out)
    return drill.run(sandbox, opts, say=lambda _: None)


def test_kill_dva_drill_measures_failures_restart_recovery_and_no_loss(kill_dva) -> None:
    r = kill_dva
    assert r["fault"]["injected"] == 1 and r["fault"]["error"] == ""
    assert 0 < r["fault"]["restart_s"] < 60
    assert r["requests"]["pre_fault_requests"] > 0
    # requests sent from the kill until recovery are counted (whether one was in flight at the
    # moment of the kill, and so failed, is the scheduler's choice: failed >= 0)
    assert r["requests"]["affected"] > 0, "no request during the kill: was it mid-collect?"
    assert 0 <= r["requests"]["failed"] <= r["requests"]["affected"]
    assert r["recovered"] and r["time_to_recover_s"] >= r["fault"]["restart_s"] - 0.01
    collects = r["data"]["collects"]
    assert collects["collects_acknowledged"] > 0 and collects["resources_expected"] > 0
    assert r["data_lost"] == 0 and r["ok"], r["problems"]
    saved = json.loads(Path(r["files"]["json"]).read_text())
    assert saved["data_lost"] == 0 and saved["timeline"]
    assert Path(r["files"]["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_data_lost_check_finds_a_deleted_record(sandbox, kill_dva) -> None:
    """Remove one resource an acknowledged collect stored: the check must count it lost."""
    ledger = drill.read_jsonl(Path(kill_dva["files"]["ledger"]))
    entry = next(e for e in ledger if e["kind"] == "collect" and e["resources"])
    db = sqlite3.connect(sandbox.config.node_dir(entry["dvp"]) / "dvp.sqlite", timeout=30)
    with db:
        deleted = db.execute(
            "DELETE FROM resource WHERE rowid = (SELECT rowid FROM resource WHERE person_id = ?"
            " AND provider = ? LIMIT 1)", (entry["person_id"], entry["provider"])).rowcount
    db.close()
    assert deleted == 1
    found = check_collects(sandbox, ledger)
    assert found["lost"] >= 1 and found["resources_missing"] >= 1
    assert any(w["person_id"] == entry["person_id"] for w in found["where"])


@pytest.fixture(scope="module")
def kill_import(sandbox, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("drill-kill-import")
    opts = DrillOptions("kill-pgo-import", users=3, duration=9, fault_at=3, out_dir=out)
    return drill.run(sandbox, opts, say=lambda _: None)


def test_kill_pgo_import_drill_leaves_whole_imports_only(kill_import) -> None:
    r = kill_import
    assert r["fault"]["injected"] == 1 and 0 < r["fault"]["restart_s"] < 60
    assert r["requests"]["failed"] > 0 and r["recovered"], r["requests"]
    imports = r["data"]["imports"]
    assert imports["imports_acknowledged"] > 0 and imports["requests_per_report"] > 100
    assert imports["partial_plans"] == 0 and imports["acknowledged_incomplete"] == 0
    assert imports["retries_completed"] == imports["retried_by_drill"]
    assert r["data_lost"] == 0 and r["ok"], r["problems"]


def test_import_check_finds_a_partial_plan(sandbox, kill_import) -> None:
    """Drop some rows of an acknowledged import's plan: the check must see it partial."""
    ledger = drill.read_jsonl(Path(kill_import["files"]["ledger"]))
    entry = next(e for e in ledger if e["kind"] == "import")
    db = sqlite3.connect(sandbox.config.node_dir(entry["dvp"]) / "dvp.sqlite", timeout=30)
    with db:
        db.execute("DELETE FROM import_request WHERE rowid IN (SELECT rowid FROM import_request"
                   " WHERE person_id = ? LIMIT 3)", (entry["person_id"],))
    db.close()
    found = check_imports(sandbox, [entry], b"")
    assert found["partial_plans"] == 1 and found["lost"] >= 1
