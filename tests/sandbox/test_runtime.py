"""Runtimes share one interface (issue 12, item 4): ``Runtime`` in ``sandbox.runtime``, which the
local and docker runtimes implement and the CLI reaches only through ``runtime_for``, so a
swarm runtime later is one class and one ``RUNTIMES`` entry. In-process: no node starts."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sandbox import runtime as runtimes
from sandbox.cli import app
from sandbox.runtime import (
    LAST_RUNTIME_FILE,
    NodeStatus,
    Runtime,
    UnknownRuntime,
    runtime_for,
    runtime_named,
)
from sandbox.runtime.docker import DockerRuntime
from sandbox.runtime.local import LocalRuntime
from sandbox.state import RuntimeInfo
from simulators.common.config import SandboxConfig
from simulators.medmij.topology import load_topology

runner = CliRunner()
PROTOCOL_METHODS = ("addresses", "up", "down", "status", "logs", "wipe", "write_state_file")


def info(name: str) -> RuntimeInfo:
    return RuntimeInfo(name, "loopback", {}, {}, 0.0)


@pytest.mark.parametrize("cls", [LocalRuntime, DockerRuntime])
def test_local_and_docker_implement_the_runtime_protocol(cls, tmp_path):
    rt = cls(tmp_path)  # docker: the engine is reached lazily, none needed here
    assert isinstance(rt, Runtime)
    assert rt.name in runtimes.RUNTIMES and rt.state_dir == tmp_path
    for method in PROTOCOL_METHODS:  # same parameter names as the protocol, in order; a
        # runtime may add keyword-only options of its own after them (local: network)
        want = list(inspect.signature(getattr(Runtime, method)).parameters)
        params = inspect.signature(getattr(cls, method)).parameters
        assert list(params)[:len(want)] == want, method
        extra = list(params.values())[len(want):]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in extra), method


def test_runtime_for_follows_runtime_json_then_the_last_up_then_local(tmp_path):
    assert isinstance(runtime_for(None, tmp_path), LocalRuntime)
    (tmp_path / LAST_RUNTIME_FILE).write_text("docker\n")
    assert isinstance(runtime_for(None, tmp_path), DockerRuntime)  # reset after down
    assert isinstance(runtime_for(info("local"), tmp_path), LocalRuntime)  # the running one
    with pytest.raises(UnknownRuntime, match="local or docker or compose or swarm"):
        runtime_named("nomad", tmp_path)


def test_cli_refuses_an_unknown_runtime_with_the_known_ones(tmp_path):
    result = runner.invoke(app, ["up", "--runtime", "nomad", "--state-dir", str(tmp_path)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "known: local, docker, compose, swarm" in result.output
    assert "Traceback" not in result.output


def test_docker_refuses_reference_data_before_touching_the_engine(tmp_path):
    class NoEngine:
        def __getattr__(self, name):
            raise AssertionError(f"docker engine used: {name}")

    with pytest.raises(RuntimeError, match="needs the local runtime"):
        DockerRuntime(tmp_path, client=NoEngine()).up(load_topology(),
                                                       reference_data=(("p@medmij", "/x"),))


def test_local_write_state_file_writes_and_removes(tmp_path):
    rt = LocalRuntime(tmp_path)
    rt.write_state_file("clock.json", b'{"offset_seconds": 5}')
    assert json.loads((tmp_path / "clock.json").read_text()) == {"offset_seconds": 5}
    rt.write_state_file("clock.json", None)
    assert not (tmp_path / "clock.json").exists()


class FakeRuntime:
    """A third runtime, registered the way a swarm runtime would be: the CLI must drive it
    through the protocol alone."""

    name = "fake"
    calls: list[str] = []

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def addresses(self, topology, base_port):
        return {n.hostname: f"http://127.0.0.1:{base_port + i}"
                for i, n in enumerate(topology.nodes)}

    def up(self, topology, base_port=0, timeout=60.0, on_progress=None, reference_data=()):
        self.calls.append("up")
        addresses = self.addresses(topology, base_port)
        SandboxConfig(topology, "loopback", addresses, self.state_dir).save(
            self.state_dir / "sandbox.json")
        result = RuntimeInfo(self.name, "loopback", addresses, {}, 0.0, 0.1)
        result.save(self.state_dir)
        return result

    def down(self, timeout=5.0):
        self.calls.append("down")
        (self.state_dir / "runtime.json").unlink(missing_ok=True)
        return 8

    def status(self, info, topology):
        self.calls.append("status")
        return [NodeStatus(n.id, n.role, n.hostname, info.addresses[n.hostname], True)
                for n in topology.nodes]

    def logs(self, node_id):
        self.calls.append("logs")
        return f"log of {node_id}\n"

    def wipe(self):
        self.calls.append("wipe")

    def write_state_file(self, name, data):
        self.calls.append(f"write {name}")


def test_the_cli_drives_any_registered_runtime_through_the_protocol(tmp_path, monkeypatch):
    monkeypatch.setitem(runtimes.RUNTIMES, "fake", f"{__name__}:FakeRuntime")
    FakeRuntime.calls = []
    assert isinstance(FakeRuntime(tmp_path), Runtime)
    env = {"PGO_SANDBOX_HOME": str(tmp_path), "COLUMNS": "200"}

    def cli(*args: str):
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.output

    assert "healthy in" in cli("up", "--runtime", "fake", "--base-port", "40000")
    assert (tmp_path / LAST_RUNTIME_FILE).read_text() == "fake"
    assert len(json.loads(cli("status", "--json"))) == 8
    assert "log of dva-nexus" in cli("logs", "dva-nexus")
    cli("clock", "advance", "1d")
    assert "reset and restarted" in cli("reset")
    assert "stopped 8 nodes" in cli("down")
    assert "wiped" in cli("reset")  # not running: the last runtime wipes
    assert FakeRuntime.calls == ["up", "status", "status", "logs", "write clock.json", "down",
                                 "wipe", "up", "down", "wipe"]
