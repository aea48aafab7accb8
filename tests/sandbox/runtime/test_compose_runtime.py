"""`pgo-sandbox up --runtime compose`, the base image choice and the build log (issue 18).

The unit tests run everywhere (fake engine); the real ones need an engine and Compose and skip
as the docker tests do (fail instead when CI's docker setup succeeded).
"""

from __future__ import annotations

import json
import time

import pytest
import yaml
from docker.errors import APIError, ImageNotFound
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.compose_gen import runtime_compose
from sandbox.runtime import docker as docker_rt
from sandbox.runtime import forget_stale
from sandbox.state import RuntimeInfo, running
from scenarios import collect
from simulators.medmij.topology import load_topology
from tests.conftest import free_base_port
from tests.sandbox.runtime.test_docker import (  # noqa: F401 - engine is a fixture
    TIMINGS,
    _unavailable,
    compose_tool,
    engine,
)


class _Images:
    def __init__(self, present: set[str]) -> None:
        self.present = present

    def get(self, name: str):
        if name not in self.present:
            raise ImageNotFound(name)
        return object()


class _Api:
    def __init__(self, registry: bool) -> None:
        self.registry, self.timeout = registry, 60

    def inspect_distribution(self, image: str) -> dict:
        if not self.registry:
            raise APIError("lookup registry-1.docker.io: no such host")
        return {}


class _Client:
    def __init__(self, present: set[str], registry: bool) -> None:
        self.images, self.api = _Images(present), _Api(registry)


@pytest.mark.parametrize(("present", "registry", "chosen"), [
    (set(), True, docker_rt.DEFAULT_BASE_IMAGE),
    ({docker_rt.DEFAULT_BASE_IMAGE}, False, docker_rt.DEFAULT_BASE_IMAGE),
    ({docker_rt.LOCAL_BASE_IMAGE}, False, docker_rt.LOCAL_BASE_IMAGE),
    ({docker_rt.LOCAL_BASE_IMAGE}, True, docker_rt.DEFAULT_BASE_IMAGE),
])
def test_base_image_is_chosen_by_what_is_here_and_what_a_registry_serves(
        monkeypatch, present, registry, chosen):
    monkeypatch.delenv("PGO_SANDBOX_BASE_IMAGE", raising=False)
    client = _Client(present, registry)
    image, why = docker_rt.choose_base_image(client)
    assert image == chosen and why
    assert client.api.timeout == 60  # the short probe timeout is put back


def test_base_image_variable_overrides_and_nothing_at_hand_says_how_to_get_one(monkeypatch):
    monkeypatch.setenv("PGO_SANDBOX_BASE_IMAGE", "debian-python:mine")
    assert docker_rt.choose_base_image(_Client(set(), False))[0] == "debian-python:mine"
    monkeypatch.delenv("PGO_SANDBOX_BASE_IMAGE")
    with pytest.raises(RuntimeError, match="docker-setup.sh"):
        docker_rt.choose_base_image(_Client(set(), False))


def test_a_failed_build_prints_its_log_one_line_per_line(tmp_path, monkeypatch):
    monkeypatch.delenv("PGO_SANDBOX_IMAGE", raising=False)

    class Api:
        def build(self, **kwargs):
            yield {"stream": "Step 1/2 : FROM base\n"}
            yield {"stream": " ---> abc\nStep 2/2 : RUN pip install"}
            yield {"stream": " x\nERROR: no matching distribution\n"}
            yield {"error": "The command returned a non-zero code: 1"}

    class Client:
        images, api = _Images(set()), Api()

    (tmp_path / "compose").mkdir()
    (tmp_path / docker_rt.DOCKERFILE).write_text("FROM base\n")
    with pytest.raises(RuntimeError) as failure:
        docker_rt.ensure_image(Client(), root=tmp_path, base="base")
    lines = str(failure.value).splitlines()
    assert lines[0] == "image build failed: The command returned a non-zero code: 1"
    assert "  Step 2/2 : RUN pip install x" in lines
    assert "  ERROR: no matching distribution" in lines


def test_runtime_compose_file_runs_the_built_image_with_the_runs_nonce_and_volume():
    topology = load_topology()
    spec = runtime_compose(topology, 18400, "pgo-sandbox-node:abc", "n0nce", "vol",
                           {"pgo-sandbox.project": "p"})
    assert set(spec["services"]) == {n.id for n in topology.nodes}
    for node_id, service in spec["services"].items():
        assert "build" not in service and service["image"] == "pgo-sandbox-node:abc"
        assert service["pull_policy"] == "never"
        assert service["environment"]["PGO_SANDBOX_RUN_NONCE"] == "n0nce"
        assert service["labels"]["pgo-sandbox.node"] == node_id
    assert spec["volumes"]["state"] == {"external": True, "name": "vol"}
    yaml.safe_dump(spec)  # plain data: no anchors left to resolve


def test_a_gone_attached_sandbox_is_forgotten_a_running_one_kept(tmp_path, sandbox):
    """After `docker-compose down`, the state `attach` wrote must not block `up`."""
    state = tmp_path / "attached"
    state.mkdir()
    (state / "sandbox.json").write_text((sandbox.state_dir / "sandbox.json").read_text())
    dead = {h: f"http://127.0.0.1:{free_base_port() + 1}" for h in sandbox.info.addresses}
    RuntimeInfo("compose", "medmij", dead, {}, time.time()).save(state)
    assert forget_stale(state) and RuntimeInfo.load(state) is None
    RuntimeInfo("compose", "medmij", sandbox.info.addresses, {}, time.time()).save(state)
    assert not forget_stale(state) and RuntimeInfo.load(state) is not None
    RuntimeInfo("docker", "medmij", dead, {"registry": "c1"}, time.time()).save(state)
    assert not forget_stale(state)  # a runtime's own sandbox: only `down` ends it


@pytest.mark.container
def test_up_runtime_compose_collects_and_down_removes_it(engine, tmp_path):  # noqa: F811
    """`up --runtime compose` with the Compose the runtime takes: v2 (`docker compose`) when
    it is there, as .ci/docker-setup.sh makes it (both Composes read the shipped file in
    test_docker.py)."""
    from sandbox.runtime.compose import ComposeRuntime, compose_command

    command = compose_tool("v2")
    assert compose_command() == command
    state = tmp_path / "state"
    args = ["--state-dir", str(state)]
    start = time.perf_counter()
    up = CliRunner().invoke(app, ["up", "--runtime", "compose", "--base-port",
                                  str(free_base_port()), "--timeout", "120", *args])
    TIMINGS[f"compose ({' '.join(command)}) up"] = time.perf_counter() - start
    runtime = ComposeRuntime(state, client=engine)
    try:
        assert up.exit_code == 0, up.output
        assert (state / "compose.yml").exists()
        status = CliRunner().invoke(app, ["status", "--json", *args])
        assert status.exit_code == 0, status.output
        assert all(r["healthy"] for r in json.loads(status.output))
        report = collect.run(running(state))
        assert report.ok, report.to_dict()
    finally:
        down = CliRunner().invoke(app, ["down", *args])
        leftover = runtime._containers()
        runtime.wipe()
    assert down.exit_code == 0 and "stopped 8 nodes" in down.output, down.output
    assert leftover == []
    assert not (state / "runtime.json").exists()
