"""``pgo-sandbox load --workers N --worker-containers``: Locust's master and workers as
containers on a docker sandbox's own network (issue 18 item 5, distributed load).

The container tests need the engine .ci/docker-setup.sh prepares; they skip only when its
marker is missing. The refusal on a local sandbox and the helpers run in-process, always.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from loadtests.run import LoadError, LoadOptions, run
from sandbox.load_cli import register
from sandbox.runtime.load_containers import (
    LOAD_LABEL,
    LoadContainers,
    container_env,
    network_addresses,
    refuse_reason,
)
from sandbox.state import RuntimeInfo, running
from simulators.common.config import SandboxConfig
from simulators.medmij.topology import load_topology
from tests.conftest import free_base_port
from tests.loadtests.test_load import check_shape
from tests.sandbox.runtime.test_docker import _wait_for_setup

DOCKER_READY = Path(os.environ.get("PGO_SANDBOX_DOCKER_WORK", "/tmp/pgo-sandbox-docker")) / "ready"


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command, so `load` is a subcommand as in pgo-sandbox
        """Unused."""

    return app


def _fake_state(tmp_path: Path, runtime: str) -> Path:
    """A state directory as `up` leaves it (runtime.json, sandbox.json), no nodes running."""
    topology = load_topology()
    addresses = {n.hostname: f"http://127.0.0.1:{19000 + i}"
                 for i, n in enumerate(topology.nodes)}
    network = ({n.hostname: f"http://{n.hostname}:8000" for n in topology.nodes}
               if runtime == "docker" else addresses)
    SandboxConfig(topology, "loopback" if runtime == "local" else "medmij", network,
                  tmp_path).save(tmp_path / "sandbox.json")
    RuntimeInfo(runtime, "loopback" if runtime == "local" else "medmij", addresses, {},
                time.time()).save(tmp_path)
    return tmp_path


def test_refused_on_a_local_sandbox(tmp_path) -> None:
    """Containers cannot reach the host's loopback without a private IP: refused, exit 1,
    before any probe or container (no engine needed)."""
    state = _fake_state(tmp_path, "local")
    result = CliRunner().invoke(_cli(), [
        "load", "collect", "--workers", "2", "--worker-containers", "--duration", "5s",
        "--state-dir", str(state)])
    assert result.exit_code == 1, result.output
    assert "needs a sandbox running in containers" in result.output
    assert "private IP" in result.output
    with pytest.raises(LoadError, match="needs a sandbox running in containers"):
        run(running(state), LoadOptions("collect", workers=1, containers=True,
                                        out_dir=tmp_path / "r"))
    assert not (tmp_path / "r").exists()


def test_usage_errors(tmp_path) -> None:
    state = _fake_state(tmp_path, "local")
    for extra, words in ((["--web"], "drop --web"), ([], "--workers 1 or more")):
        workers = [] if not extra else ["--workers", "1"]
        result = CliRunner().invoke(_cli(), ["load", "collect", "--worker-containers", *workers,
                                             *extra, "--state-dir", str(state)])
        assert result.exit_code == 2 and words in result.output, result.output
    with pytest.raises(LoadError, match="give N >= 1"):
        LoadOptions("collect", containers=True).check()
    LoadOptions("collect", containers=True, workers=2, max_requests=3000).check()


def test_containers_get_the_in_network_addresses_and_report_paths(tmp_path) -> None:
    """The Locust containers address the nodes by hostname inside the network, never the
    ports published on 127.0.0.1; paths under the report folder become /reports paths."""
    sandbox = running(_fake_state(tmp_path, "docker"))
    assert refuse_reason(sandbox) is None
    assert network_addresses(sandbox) == {n.hostname: f"http://{n.hostname}:8000"
                                          for n in sandbox.topology.nodes}
    out = tmp_path / "reports"
    env = container_env({"PGO_LOAD_WINDOWS_FILE": str(out / "windows.jsonl"),
                         "PGO_LOAD_USERS": "3", "HOME": "/root", "PATH": "/usr/bin"}, out)
    assert env == {"PGO_LOAD_WINDOWS_FILE": "/reports/windows.jsonl", "PGO_LOAD_USERS": "3"}


# --- real containers --------------------------------------------------------------------------

def _base_image_from_marker() -> str | None:
    for line in DOCKER_READY.read_text("utf-8").splitlines():
        if line.startswith("base_image="):
            return line.split("=", 1)[1]
    return None


@pytest.fixture(scope="module")
def docker_sandbox(tmp_path_factory):
    """A docker-runtime sandbox for this module (the engine of .ci/docker-setup.sh), with
    mutual TLS inside its network as the docker runtime has by default."""
    _wait_for_setup()  # .ci/run prepares the engine in the background
    if not DOCKER_READY.exists():
        pytest.skip(f"no container engine prepared ({DOCKER_READY} missing): run "
                    ".ci/docker-setup.sh")
    from sandbox.cli import app
    from sandbox.runtime.docker import DockerRuntime

    state = tmp_path_factory.mktemp("load-containers")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PGO_SANDBOX_DOCKER_TLS", raising=False)
        if "PGO_SANDBOX_BASE_IMAGE" not in os.environ and _base_image_from_marker():
            mp.setenv("PGO_SANDBOX_BASE_IMAGE", _base_image_from_marker())
        runtime = DockerRuntime(state)
        result = CliRunner().invoke(app, ["up", "--runtime", "docker", "--base-port",
                                          str(free_base_port()), "--timeout", "150",
                                          "--state-dir", str(state)])
        try:
            assert result.exit_code == 0, result.output
            _warm(state)
            yield state
        finally:
            runtime.down()
            runtime.wipe()


def _warm(state: Path) -> None:
    """Outside the measured run: the load image (built once per source state) and DigiD's
    test persons per provider (a fresh sandbox's first lookup is slow on a busy machine)."""
    from sandbox.runtime.docker import _engine
    from sandbox.runtime.load_containers import ensure_load_image
    from simulators.common.http import sync_client

    ensure_load_image(_engine())
    sandbox = running(state)
    with sync_client(sandbox.info.addresses, timeout=120) as client:
        for provider in sandbox.topology.providers:
            client.get(sandbox.url("digid", "/api/test-persons"),
                       params={"provider": provider.name, "n": 50}).raise_for_status()


def _load_containers(state: Path) -> list:
    from sandbox.runtime.docker import _engine, project_name

    return [c for c in _engine().containers.list(
        all=True, filters={"label": f"pgo-sandbox.project={project_name(state)}"})
        if LOAD_LABEL in c.labels]


@pytest.mark.container
def test_collect_with_two_worker_containers(docker_sandbox, tmp_path) -> None:
    """A short collect from a master and 2 workers in containers: 0 failures, the local run's
    summary (JSON and table), reports in the bind-mounted folder, containers gone after."""
    out = tmp_path / "reports"
    result = CliRunner().invoke(_cli(), [
        "load", "collect", "--workers", "2", "--worker-containers", "--users", "3",
        "--spawn-rate", "3", "--duration", "15s", "--think-scale", "0",
        "--ceiling-users", "2", "--ceiling-duration", "3s", "--out", str(out),
        "--json", str(tmp_path / "summary.json"), "--state-dir", str(docker_sandbox)])
    assert result.exit_code == 0, result.output + "".join(
        f"\n--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(out.glob("*.log")))
    assert "worker containers on the sandbox's network" in result.output
    assert "load collect:" in result.output  # the table
    summary = json.loads((tmp_path / "summary.json").read_text())
    check_shape(summary)
    assert summary["failures"] == 0
    steps = summary["steps"]
    assert sum(s["requests"] for n, s in steps.items() if n.startswith("collect flow")) >= 1
    for name in ("authorize", "login", "consent", "token"):
        assert steps[name]["requests"] >= 1, name
    assert summary["ceiling"]["rps"] > 0
    for report in ("flow_stats.csv", "flow.html", "flow.json", "ceiling.json", "summary.json",
                   "flow-worker-1.log", "flow-worker-2.log"):
        assert (out / report).exists(), report
    assert _load_containers(docker_sandbox) == []


@pytest.mark.container
def test_a_request_budget_ends_a_container_run_with_its_requests_counted(docker_sandbox,
                                                                         tmp_path) -> None:
    """--max-requests with worker containers: the run ends on the budget, well before
    --duration, and what the workers did is in the statistics (each worker reports what it
    measured before it quits)."""
    summary_path = tmp_path / "summary.json"
    result = CliRunner().invoke(_cli(), [
        "load", "collect", "--workers", "2", "--worker-containers", "--users", "4",
        "--spawn-rate", "4", "--duration", "60s", "--think-scale", "0", "--max-requests",
        "200", "--no-ceiling", "--out", str(tmp_path / "reports"), "--json",
        str(summary_path), "--state-dir", str(docker_sandbox)])
    assert result.exit_code == 0, result.output
    summary = json.loads(summary_path.read_text())
    requests = sum(s["requests"] for n, s in summary["steps"].items()
                   if not n.startswith("collect flow"))
    assert 200 <= requests < 400, requests  # 100 per worker, and what was under way
    assert summary["duration_s"] < 30, summary["duration_s"]
    assert summary["failures"] == 0


@pytest.mark.container
def test_containers_removed_on_ctrl_c(docker_sandbox, tmp_path, monkeypatch) -> None:
    """Ctrl-C while the master runs: the master, its workers and nothing else are removed."""
    seen: list[int] = []

    def interrupted(self, container, seconds, required=True):
        seen.append(len(_load_containers(docker_sandbox)))
        raise KeyboardInterrupt

    monkeypatch.setattr(LoadContainers, "_wait", interrupted)
    opts = LoadOptions("collect", users=2, duration=30, workers=2, containers=True,
                       out_dir=tmp_path, think_scale=0, ceiling=False)
    with pytest.raises(KeyboardInterrupt):
        run(running(docker_sandbox), opts, say=lambda _: None)
    assert seen == [3]  # master and two workers were running
    assert _load_containers(docker_sandbox) == []
