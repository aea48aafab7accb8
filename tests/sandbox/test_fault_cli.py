"""`pgo-sandbox fault` against real node processes (issue 16): a fault set from the CLI fires
at the node, answers in the protocol's shape, and shows in the node's event stream with the
correlation id it hit; ``sandbox.testing`` gives a developer's test suite the same in a
``with`` block. Every fault added here is cleared before the test ends."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import typer
from typer.testing import CliRunner

from sandbox.fault_cli import register
from sandbox.testing import FaultRefused, Faults
from simulators.medmij import CORRELATION_ID

FHIR = "/fhir/umcsandbox/48/Patient"


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def run(sandbox, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli(), [*args, "--state-dir", str(sandbox.state_dir)])
    return result.exit_code, result.output


def test_fault_cli_sets_lists_fires_and_clears_with_the_correlation_id(sandbox):
    node = sandbox.url("dva-nexus")
    events = httpx.get(f"{node}/admin/events", headers=sandbox.admin_headers, timeout=30)
    since = events.json()["last"]
    try:
        code, out = run(sandbox, "fault", "add", "dva-nexus", "status", "--param", "status=503",
                        "--param", "retry_after=2", "--path", "/fhir/", "--count", "1",
                        "--json")
        assert code == 0, out
        fault = json.loads(out)
        code, out = run(sandbox, "fault", "list", "dva-nexus", "--json")
        assert code == 0 and [f["id"] for f in json.loads(out)] == [fault["id"]]
        r = httpx.get(node + FHIR, headers={CORRELATION_ID: "corr-cli-16"}, timeout=30)
        assert r.status_code == 503 and r.headers["retry-after"] == "2"
        assert r.json()["resourceType"] == "OperationOutcome"
        fired = Faults(sandbox).fired("dva-nexus", "status", since)
        assert [(e["fault"], e["corr"]) for e in fired] == [(fault["id"], "corr-cli-16")]
        assert httpx.get(node + FHIR, timeout=30).status_code == 401  # count used: the DVA
        code, out = run(sandbox, "fault", "add", "dva-nexus", "slow", "--for", "2m")
        assert code == 0, out
        code, out = run(sandbox, "fault", "clear", "dva-nexus")
        assert code == 0 and "cleared 1" in out
    finally:
        Faults(sandbox).clear("dva-nexus")


def test_fault_cli_refuses_unknown_names_with_exit_2(sandbox):
    code, out = run(sandbox, "fault", "add", "dva-nope", "status")
    assert code == 2 and "unknown node 'dva-nope'; known: registry" in out
    code, out = run(sandbox, "fault", "add", "dva-nexus", "lists_stale")
    assert code == 2 and "fires at the registry" in out
    code, out = run(sandbox, "fault", "add", "dva-nexus", "status", "--provider", "nobody")
    assert code == 2 and "unknown provider" in out


def test_reset_drops_the_connection_and_the_testing_helper_cleans_up(sandbox):
    """A developer's test suite: a fault for a ``with`` block, gone afterwards; a reset is a
    real dropped connection for the client."""
    faults = Faults(sandbox)
    node = sandbox.url("dva-nexus")
    try:
        with faults.fault("dva-nexus", "reset", path="/fhir/", count=1):
            with pytest.raises(httpx.HTTPError):
                httpx.get(node + FHIR, timeout=30)
        assert faults.list("dva-nexus") == []
        with pytest.raises(FaultRefused, match="unknown fault kind"):
            faults.add("dva-nexus", "nope")
    finally:
        faults.cleanup()


def test_a_kinds_params_never_clash_with_the_fault_options():
    """Rule: clock_jump's ``seconds`` param is not the fault's duration (``--param
    seconds=3600`` once ended in a TypeError)."""
    sent: list[dict] = []

    class Recording(Faults):
        def _call(self, node, method, path, body=None):
            sent.append(body)
            return {"id": "f1", **(body or {})}

    faults = Recording(sandbox=None)  # type: ignore[arg-type]
    faults.add("mgo", "clock_jump", params={"seconds": 3600})
    faults.add("dva-nexus", "status", seconds=30, status=429)
    assert sent[0]["params"] == {"seconds": 3600} and sent[0]["seconds"] is None
    assert sent[1]["params"] == {"status": 429} and sent[1]["seconds"] == 30
    assert faults.added == [("mgo", "f1"), ("dva-nexus", "f1")]


# the CLI in process: every node's real fault API, without processes -----------------------

class InProcess(Faults):
    """``Faults`` whose calls go to one in-process fault API per node (the real router and
    books, with each role's kinds), so the CLI's output and exit codes are tested fast."""

    def __init__(self) -> None:
        from types import SimpleNamespace

        from fastapi import FastAPI

        from simulators.common.faults import (
            DIGID_KINDS,
            DVA_KINDS,
            REGISTRY_KINDS,
            FaultBook,
            faults_router,
        )
        from simulators.medmij.topology import load_topology

        topology = load_topology()
        super().__init__(SimpleNamespace(topology=topology))  # type: ignore[arg-type]
        extra = {"registry": REGISTRY_KINDS, "digid": DIGID_KINDS}
        self.apps = {}
        for node in topology.nodes:
            book = FaultBook(node.id)
            book.supports(DVA_KINDS if node.role == "dva" else extra.get(node.id, ()))
            app = FastAPI()
            app.include_router(faults_router(book, lambda: None))
            self.apps[node.id] = app

    def _call(self, node, method, path, body=None):
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(self.apps[node]),
                                         base_url="http://node.test") as client:
                return await client.request(method, path, json=body)

        r = asyncio.run(send())
        if r.status_code >= 400:
            raise FaultRefused(f"{node} refused ({r.status_code}): "
                               f"{r.json()['error_description']}")
        return r.json()


@pytest.fixture
def in_process(monkeypatch):
    faults = InProcess()
    monkeypatch.setattr("sandbox.fault_cli._faults", lambda state_dir: faults)
    return faults


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli(), list(args))
    return result.exit_code, result.output


def test_cli_add_list_and_clear_in_process(in_process):
    code, out = invoke("fault", "add", "dva-nexus", "status", "--param", "status=429",
                       "--param", "retry_after=5", "--provider", "umcsandbox", "--client",
                       "pgo-alpha", "--person", "42", "--count", "3", "--for", "2m",
                       "--probability", "0.5")
    assert code == 0 and "set at dva-nexus: status (any node)" in out, out
    code, out = invoke("fault", "add", "registry", "lists_stale", "--json")
    assert code == 0 and json.loads(out)["kind"] == "lists_stale"
    code, out = invoke("fault", "list")
    assert code == 0 and "node" in out and "kind" in out and "no faults set" not in out
    code, out = invoke("fault", "list", "dva-nexus", "--json")
    listed = json.loads(out)[0]
    assert listed["match"] == {"provider": "umcsandbox", "client": "pgo-alpha", "person": "42"}
    assert (listed["count"], listed["seconds"], listed["probability"]) == (3, 120.0, 0.5)
    assert listed["params"] == {"status": 429, "retry_after": 5}
    code, out = invoke("fault", "list", "registry", "--json")
    fault_id = json.loads(out)[0]["id"]
    assert code == 0 and json.loads(out)[0]["node"] == "registry"
    assert invoke("fault", "clear", "--id", fault_id)[0] == 2  # --id needs the node
    code, out = invoke("fault", "clear", "registry", "--id", fault_id)
    assert code == 0 and f"cleared fault {fault_id}" in out
    assert invoke("fault", "clear", "registry", "--id", fault_id)[0] == 1  # already gone
    code, out = invoke("fault", "clear")
    assert code == 0 and "cleared 1 fault(s)" in out
    assert "no faults set" in invoke("fault", "list")[1]


def test_cli_refusals_in_process(in_process):
    assert invoke("fault", "add", "dva-nexus", "status", "--param", "status")[0] == 2
    code, out = invoke("fault", "add", "dva-nexus", "status", "--client", "pgo-nope")
    assert code == 2 and "unknown client 'pgo-nope'" in out
    code, out = invoke("fault", "add", "dva-nexus", "status", "--param", "status=418")
    assert code == 2 and "status must be one of" in out
    assert invoke("fault", "add", "dva-nexus", "slow", "--for", "soon")[0] == 2
    assert invoke("fault", "list", "nowhere")[0] == 2
    assert invoke("fault", "clear", "nowhere")[0] == 2
    code, out = invoke("fault", "add", "registry", "vendor_removed", "--param",
                       "hostname=pgo-gamma")
    assert code == 2 and "no action" in out  # a bare book: the registry's actions are its own
