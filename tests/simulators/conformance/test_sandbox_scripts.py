"""End to end: the official Nictiz BgZ XIS-Server Test scripts (JSON) against our DVA, with
the Nictiz reference patients loaded, tokens through the real MedMij flow."""

from __future__ import annotations

import json
import time

import pytest

from sandbox.conformance_cli import run_sandbox_suite
from sandbox.runtime.local import LocalRuntime
from sandbox.state import running
from simulators.conformance import report
from simulators.conformance.results import STATUSES
from simulators.medmij.topology import load_topology
from tests.conftest import MEDMIJ, free_base_port

TESTSCRIPTS = MEDMIJ / "testscripts"
BGZ_TEST_REF = TESTSCRIPTS / "STU3" / "BgZ-3-0" / "MedMij" / "Test" / "_reference"

pytestmark = pytest.mark.skipif(not BGZ_TEST_REF.is_dir(), reason="Nictiz testscripts absent")


def test_bgz_xis_server_test_scripts_in_json_against_our_dva(tmp_path) -> None:
    runtime = LocalRuntime(tmp_path / "state")
    runtime.up(load_topology(), base_port=free_base_port(), timeout=120,
               reference_data=(("umcsandbox@medmij", str(BGZ_TEST_REF)),))
    try:
        sandbox = running(tmp_path / "state")
        started = time.perf_counter()
        results = run_sandbox_suite(sandbox, "umcsandbox@medmij", ["bgz"], ["Test"], ["json"],
                                    root=TESTSCRIPTS)
        seconds = time.perf_counter() - started
    finally:
        runtime.down()
    summary = report.summary(results)
    total = summary["total"]
    (tmp_path / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"\nBgZ Test XIS-Server JSON: {json.dumps(total)} in {seconds:.1f} s")
    assert len(results) == 52 and total["scripts_skipped"] == 0  # both persons got a token
    assert total["asserts"] > 900
    assert total["passed"] > 0.9 * total["asserts"]
    for r in results:
        assert r.tests and all(p.actions for p in r.tests), r.id
        ops = [a for p in r.all_parts for a in p.actions if a.kind == "operation"]
        assert ops and all(o.exchange is not None and o.exchange.status for o in ops), r.id
        for part in r.all_parts:
            for a in part.asserts:
                assert a.status in STATUSES
                if a.status in ("failed", "not_evaluated", "warning", "skipped"):
                    assert a.message, (r.id, a.description)
                if a.status == "passed" and a.exchange is not None:
                    assert "***" in a.exchange.request_headers.get("Authorization", "***")
    # the only kind the engine cannot judge in these scripts: profile validation
    not_evaluated = {x["reason"] for x in summary["reasons"] if x["status"] == "not_evaluated"}
    assert all("StructureDefinition validator" in why for why in not_evaluated)
