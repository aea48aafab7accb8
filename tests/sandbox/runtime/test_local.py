"""The local runtime never runs against someone else's processes and keeps its nodes alive
(issue 11, items 12 and 17): the health probe checks the node id and the run's nonce, a node
that cannot start fails `up` with its own error, test port ranges are handed out without a
race, and a killed node is restarted by the supervisor with back-off."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from sandbox.runtime import _probe
from sandbox.runtime.local import LocalRuntime, _alive
from sandbox.state import running
from simulators.launch import BACKOFF_FIRST, BACKOFF_MAX, backoff
from tests.conftest import ROOT, free_base_port, up_on_free_ports

# item 12: identity of the node behind a port ----------------------------------------------


def probe(body: object, status: int = 200, node: str = "dva-nexus", nonce: str = "n1"):
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/health"
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            return await _probe(client, "http://127.0.0.1:1", node, nonce)

    return asyncio.run(run())


def test_probe_accepts_only_the_node_itself_of_this_run():
    assert probe({"status": "ok", "node": "dva-nexus", "run": "n1"}) == (True, "200")
    ok, detail = probe("<html>some other web server</html>")
    assert not ok and "not a sandbox node" in detail
    ok, detail = probe({"status": "ok", "node": "pgo-alpha", "run": "n1"})
    assert not ok and "another program" in detail
    ok, detail = probe({"status": "ok", "node": "dva-nexus", "run": "older-run"})
    assert not ok and "another sandbox run" in detail
    ok, detail = probe({"status": "ok"})
    assert not ok
    assert probe({"status": "starting", "node": "dva-nexus", "run": "n1"}, 503)[0] is False


def test_nodes_answer_their_id_and_the_runs_nonce(running_sandbox):
    sandbox = running_sandbox
    assert sandbox.config.run_nonce
    for node in sandbox.topology.nodes:
        body = httpx.get(sandbox.url(node.id, "/health"), timeout=5).json()
        # a node with MedMij lists adds their age and Volgnummers (lists_*), nothing else
        assert {k: v for k, v in body.items() if not k.startswith("lists_")} == {
            "status": "ok", "node": node.id, "run": sandbox.config.run_nonce}


def test_node_that_cannot_bind_fails_up_with_its_own_error(tmp_path, monkeypatch):
    """Another program took a node's port between the check and the bind: `up` exits 1 with
    that node's own error (uvicorn's Errno 98 line from its log), and nothing stays behind."""
    from sandbox import cli
    from sandbox.runtime import local

    base = free_base_port()
    monkeypatch.setattr(local, "check_can_start", lambda *a: None)  # the race, made certain
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT
    squatter.bind(("127.0.0.1", base + 2))  # dva-nexus's port
    squatter.listen()
    try:
        result = CliRunner().invoke(cli.app, ["up", "--base-port", str(base), "--timeout", "60"],
                                    env={"PGO_SANDBOX_HOME": str(tmp_path), "COLUMNS": "300"})
    finally:
        squatter.close()
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert re.search(r"dva-nexus died during start \(exit code [1-9]", out), result.output
    assert "address already in use" in out, result.output
    assert not (tmp_path / "runtime.json").exists()
    report = json.loads((tmp_path / "supervisor.json").read_text())
    assert not _alive(report["supervisor"])
    assert not any(_alive(n["pid"]) for n in report["nodes"].values())


def test_port_ranges_are_not_handed_out_twice_across_processes():
    """Another test process asks at the same time: it must get another range, although the
    ports of this one are not bound yet."""
    mine = free_base_port()
    code = ("import sys, time; from tests.conftest import free_base_port; "
            "print(free_base_port(), flush=True)")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, cwd=ROOT)
    assert int(other.stdout) != mine
    assert free_base_port() != mine  # nor twice in one process


# item 17: supervision --------------------------------------------------------------------


@pytest.fixture(scope="module")
def running_sandbox(tmp_path_factory):
    """A sandbox of its own: these tests kill its nodes."""
    state = tmp_path_factory.mktemp("supervised")
    runtime = LocalRuntime(state)
    up_on_free_ports(runtime, timeout=90)
    try:
        yield running(state)
    finally:
        runtime.down()


def test_backoff_doubles_up_to_a_ceiling():
    assert backoff(1) == BACKOFF_FIRST
    assert backoff(2) == 2 * BACKOFF_FIRST
    assert backoff(50) == BACKOFF_MAX


def test_killed_dva_is_restarted_and_serves_again(running_sandbox):
    from scenarios import collect

    sandbox = running_sandbox
    runtime = LocalRuntime(sandbox.state_dir)
    before = {r.node: r for r in runtime.status(sandbox.info, sandbox.topology)}
    assert before["dva-nexus"].healthy and before["dva-nexus"].restarts == 0
    pid = runtime.supervisor()["nodes"]["dva-nexus"]["pid"]
    os.kill(pid, signal.SIGKILL)
    url = sandbox.url("dva-nexus", "/health")
    deadline = time.monotonic() + 15
    body = None
    while time.monotonic() < deadline:  # restarted (new pid) and serving again (lists loaded)
        try:
            body = httpx.get(url, timeout=1).json()
            if runtime.supervisor()["nodes"]["dva-nexus"]["pid"] != pid \
                    and body.get("status") == "ok":
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    assert body is not None and {k: v for k, v in body.items() if not k.startswith("lists_")} \
        == {"status": "ok", "node": "dva-nexus", "run": sandbox.config.run_nonce}
    after = {r.node: r for r in runtime.status(sandbox.info, sandbox.topology)}
    assert after["dva-nexus"].healthy and after["dva-nexus"].restarts == 1, after["dva-nexus"]
    assert "SIGKILL" in runtime.supervisor()["nodes"]["dva-nexus"]["last_exit"]
    assert all(r.restarts == 0 for n, r in after.items() if n != "dva-nexus")
    status = CliRunner().invoke(__import__("sandbox.cli", fromlist=["app"]).app,
                                ["status", "--json", "--state-dir", str(sandbox.state_dir)])
    assert status.exit_code == 0, status.output
    rows = {r["node"]: r for r in json.loads(status.output)}
    assert rows["dva-nexus"]["restarts"] == 1
    report = collect.run(sandbox, provider="umcsandbox@medmij")
    assert report.ok, report.to_dict()


def test_down_stops_the_supervisor_and_leaves_no_node(tmp_path):
    runtime = LocalRuntime(tmp_path)
    up_on_free_ports(runtime, timeout=90)
    report = runtime.supervisor()
    pids = [report["supervisor"], *(n["pid"] for n in report["nodes"].values())]
    assert all(_alive(p) for p in pids)
    assert runtime.down() == 8
    assert not any(_alive(p) for p in pids)


def test_nodes_do_not_outlive_a_killed_supervisor(tmp_path):
    runtime = LocalRuntime(tmp_path)
    up_on_free_ports(runtime, timeout=90)
    report = runtime.supervisor()
    nodes = [n["pid"] for n in report["nodes"].values()]
    os.kill(report["supervisor"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in nodes):
        time.sleep(0.1)
    assert not any(_alive(p) for p in nodes)
    runtime.down()
