"""The docker runtime against a real engine: up healthy, hostnames inside, collect, down clean.

Skips with the reason when no engine (or no base image) is at hand; fails instead when CI ran
.ci/docker-setup.sh successfully (it leaves a marker), so a broken runtime never hides as a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from lxml import etree
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.compose_gen import IMAGE, compose_yaml
from sandbox.runtime import wait_healthy
from sandbox.runtime.local import _alive
from sandbox.state import running
from scenarios import collect
from simulators.medmij.topology import load_topology
from tests.conftest import ROOT, free_base_port

pytestmark = pytest.mark.container

DOCKER_READY = Path(os.environ.get("PGO_SANDBOX_DOCKER_WORK", "/tmp/pgo-sandbox-docker")) / "ready"
TIMINGS: dict[str, float] = {}


SETUP_PENDING = DOCKER_READY.with_name("pending")  # .ci/run: docker setup still running
SETUP_WAIT_SECONDS = 25 * 60


def _setup_running() -> bool:
    """Whether .ci/run's background docker setup is at work: its marker names a live process
    (a marker left by a killed run names a dead one and is not waited for)."""
    try:
        return _alive(int(SETUP_PENDING.read_text().strip() or 0))
    except (OSError, ValueError):
        return False


def _wait_for_setup() -> None:
    """Wait (bounded) while .ci/run's background docker setup is still at work."""
    deadline = time.monotonic() + SETUP_WAIT_SECONDS
    while _setup_running() and time.monotonic() < deadline:
        time.sleep(1)


def _expected() -> bool:
    return os.environ.get("CI") == "true" and DOCKER_READY.exists()


def _unavailable(reason: str):
    if _expected():
        pytest.fail(f".ci/docker-setup.sh succeeded, yet {reason}")
    pytest.skip(reason)


def _marker_text() -> str:
    """What .ci/docker-setup.sh wrote on success (base image, image, Compose v2), or ''."""
    return DOCKER_READY.read_text("utf-8") if DOCKER_READY.exists() else ""


COMPOSE_TOOLS = {"v2": ["docker", "compose"], "v1": ["docker-compose"]}


def compose_tool(version: str) -> list[str]:
    """The Compose ``version`` (both are installed by .ci/docker-setup.sh: v1 from bookworm,
    v2 as the CLI plugin from trixie's package), or a skip/fail saying why not."""
    command = COMPOSE_TOOLS[version]
    if shutil.which(command[0]) and subprocess.run(
            [*command, "version"], capture_output=True).returncode == 0:
        return command
    if version == "v2" and "compose_v2=unavailable" in _marker_text():
        pytest.skip(f"Compose v2: {_marker_text().split('compose_v2=', 1)[1].strip()}")
    _unavailable(f"Compose {version} (`{' '.join(command)}`) is not installed")


def _marker_base_image() -> str | None:
    if not DOCKER_READY.exists():
        return None
    for line in _marker_text().splitlines():
        if line.startswith("base_image="):
            return line.split("=", 1)[1]
    return None


@pytest.fixture(scope="module", autouse=True)
def report_timings(request):
    """The figures issue 7 asks for, on the terminal even under -q."""
    yield
    if TIMINGS:
        plugins = request.config.pluginmanager
        with plugins.getplugin("capturemanager").global_and_fixture_disabled():
            plugins.getplugin("terminalreporter").write_line("\ncontainer timings: " + ", ".join(
                f"{k} {v:.1f} s" for k, v in TIMINGS.items() if v is not None))


@pytest.fixture(scope="module")
def engine():
    """The Docker SDK client, with the base image the node image is built on."""
    from sandbox.runtime.docker import _engine, base_image

    _wait_for_setup()
    try:
        client = _engine()
    except RuntimeError as exc:
        _unavailable(str(exc))
    with pytest.MonkeyPatch.context() as mp:
        if "PGO_SANDBOX_BASE_IMAGE" not in os.environ and _marker_base_image():
            mp.setenv("PGO_SANDBOX_BASE_IMAGE", _marker_base_image())
        try:
            client.images.get(base_image())
        except Exception:  # noqa: BLE001 - any lookup failure means: not here
            _unavailable(f"base image {base_image()} is not local: run .ci/docker-setup.sh "
                         f"or `docker pull {base_image()}`")
        yield client


def _log_tails(logs: Path, lines: int = 5) -> str:
    """The last lines of every node's log, saved by `down` (the failure says why)."""
    return "".join(f"\n--- {p.stem}\n" + "\n".join(p.read_text("utf-8").splitlines()[-lines:])
                   for p in sorted(logs.glob("*.log")))


@pytest.fixture(scope="module")
def docker_sandbox(engine, tmp_path_factory):
    """`pgo-sandbox up --runtime docker` on the default topology, for this module, with the
    plain in-network HTTP of PGO_SANDBOX_DOCKER_TLS=0: the load run below needs it (Locust
    speaks no mutual TLS); TLS, the default, is test_docker_tls.py's."""
    from sandbox.runtime.docker import DockerRuntime

    state = tmp_path_factory.mktemp("docker-sandbox")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PGO_SANDBOX_DOCKER_TLS", "0")
        runtime = DockerRuntime(state, client=engine)
        args = ["--state-dir", str(state)]
        start = time.perf_counter()
        result = CliRunner().invoke(app, ["up", "--runtime", "docker", "--base-port",
                                          str(free_base_port()), "--timeout", "90", *args])
        TIMINGS["up (build if needed + start + healthy)"] = time.perf_counter() - start
        try:
            assert result.exit_code == 0, result.output + _log_tails(state / "logs")
            yield state, runtime, args
        finally:
            runtime.down()
            runtime.wipe()


def test_up_prints_the_node_table_and_every_node_is_healthy(docker_sandbox):
    state, _, args = docker_sandbox
    result = CliRunner().invoke(app, ["status", "--json", *args])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["node"] for r in rows} == {n.id for n in running(state).topology.nodes}
    assert all(r["healthy"] for r in rows)
    assert all(r["url"].startswith("http://127.0.0.1:") for r in rows)
    TIMINGS["healthy after start"] = running(state).info.healthy_seconds


def test_nodes_run_as_non_root_and_reach_each_other_by_medmij_hostname(docker_sandbox, engine):
    _, runtime, _ = docker_sandbox
    (alpha,) = [c for c in runtime._containers() if c.labels["pgo-sandbox.node"] == "pgo-alpha"]
    assert alpha.exec_run(["id", "-u"]).output.strip() == b"10001"
    for container in runtime._containers():  # no capability, none to gain (UNPRIVILEGED)
        host = container.attrs["HostConfig"]
        assert host["CapDrop"] == ["ALL"], container.name
        assert "no-new-privileges" in (host["SecurityOpt"] or []), container.name
    probe = ("import urllib.request as u; "
             "print(u.urlopen('http://dva-nexus.sandbox.test:8000/health').status)")
    result = alpha.exec_run(["python", "-c", probe])
    assert result.exit_code == 0 and result.output.strip() == b"200", result.output


def test_registry_publishes_medmij_profile_lists_valid_against_the_xsd(docker_sandbox,
                                                                       medmij_dir):
    state, _, _ = docker_sandbox
    sandbox = running(state)
    assert sandbox.info.profile == sandbox.config.profile == "medmij"
    schema = etree.XMLSchema(etree.parse(
        str(medmij_dir / "lists" / "xsd" / "MedMij_Zorgaanbiederslijst.xsd")))
    zal = httpx.get(sandbox.url("registry", "/MedMij_Zorgaanbiederslijst.xml?api=1"))
    assert zal.status_code == 200
    document = etree.fromstring(zal.content)
    assert schema.validate(document), schema.error_log
    assert b"https://dva-nexus.sandbox.test/" in zal.content


def test_collect_scenario_passes_in_containers(docker_sandbox):
    state, _, args = docker_sandbox
    start = time.perf_counter()
    report = collect.run(running(state))
    TIMINGS["collect scenario"] = time.perf_counter() - start
    assert report.ok, report.to_dict()
    # A node writes its hop lines every 0.2 s (HopLog's FLUSH_SECONDS) and the whole flow
    # takes ~0.3 s: the last lines reach the container's log a moment after the flow ends.
    deadline = time.monotonic() + 10
    while True:
        logs = CliRunner().invoke(app, ["logs", "dva-nexus", "--lines", "500", *args])
        assert logs.exit_code == 0, logs.output
        if report.summary["correlation_id"] in logs.output or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert report.summary["correlation_id"] in logs.output


@pytest.mark.parametrize("name", ["inspection", "share", "long-lived-consent", "portability",
                                  "bankruptcy"])
def test_every_scenario_runs_unchanged_in_containers(docker_sandbox, name):
    """The same scenarios as on the local runtime (long-lived consent moves the clock in the
    containers' shared volume; bankruptcy waits for the DVAs' list refresh)."""
    state, _, args = docker_sandbox
    extra = ["--users", "1"] if name == "bankruptcy" else []
    result = CliRunner().invoke(app, ["scenario", "run", name, *extra, *args],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"scenario {name} passed" in result.output


def test_bounded_load_run_in_containers(docker_sandbox, tmp_path):
    state, _, args = docker_sandbox
    summary = tmp_path / "summary.json"
    result = CliRunner().invoke(app, [
        "load", "collect", "--users", "2", "--spawn-rate", "2", "--duration", "4",
        "--think-scale", "0", "--max-requests", "400", "--ceiling-users", "2",
        "--ceiling-duration", "2", "--out", str(tmp_path), "--json", str(summary), *args])
    assert result.exit_code == 0, result.output
    data = json.loads(summary.read_text())
    assert data["failures"] == 0 and data["requests_per_s"] > 0


def test_reset_forgets_node_data(docker_sandbox):
    state, _, args = docker_sandbox
    sandbox = running(state)
    from scenarios.accounts import create_account
    from scenarios.useragent import Browser

    with Browser(sandbox.info.addresses) as browser:
        account = create_account(browser, sandbox.url("pgo-alpha"), "reset test")
        person_url = account.url(f"/api/persons/{account.person_id}")
        assert browser.get(person_url).status_code == 200
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["reset", *args])
    TIMINGS["reset (down + wipe + up, warm)"] = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    assert httpx.get(running(state).url("pgo-alpha", "/health")).status_code == 200
    login = httpx.post(account.url("/api/login"), json={"person_id": account.person_id,
                                                       "password": account.password})
    assert login.status_code == 401  # the account went with the reset


def test_down_leaves_nothing_behind(docker_sandbox, engine):
    state, runtime, args = docker_sandbox
    result = CliRunner().invoke(app, ["down", *args])
    assert result.exit_code == 0, result.output
    label = {"label": f"pgo-sandbox.project={runtime.project}"}
    assert engine.containers.list(all=True, filters=label) == []
    assert engine.networks.list(filters=label) == []
    assert not (state / "runtime.json").exists()
    logs = CliRunner().invoke(app, ["logs", "registry", *args])  # saved at down
    assert logs.exit_code == 0 and logs.output.strip()
    runtime.wipe()
    assert engine.volumes.list(filters=label) == []


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_compose_file_runs_the_collect_scenario(engine, tmp_path, version):
    """`docker compose up` on the generated file (own ports and project name, so it can run
    beside a developer's sandbox), then the collect scenario from this machine."""
    from sandbox.runtime.docker import attach_compose, ensure_image

    command = compose_tool(version)
    topology, base_port = load_topology(), free_base_port()
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(compose_yaml(topology, base_port).replace(IMAGE, ensure_image(engine)))
    project = f"pgo-test-{os.getpid()}"
    compose = [*command, "-f", str(compose_file), "--project-directory", str(ROOT / "compose"),
               "-p", project]
    state = tmp_path / "state"
    addresses = attach_compose(state, topology, base_port).addresses
    start = time.perf_counter()
    try:
        up = subprocess.run([*compose, "up", "-d", "--no-build"], capture_output=True, text=True)
        assert up.returncode == 0, up.stderr
        wait_healthy({n.id: addresses[n.hostname] for n in topology.nodes}, timeout=90)
        TIMINGS[f"compose {version} up to healthy"] = time.perf_counter() - start
        report = collect.run(running(state))
        assert report.ok, report.to_dict()
    finally:
        down = subprocess.run([*compose, "down", "-v", "--timeout", "5"], capture_output=True,
                              text=True)
    assert down.returncode == 0, down.stderr
    label = {"label": f"com.docker.compose.project={project}"}
    assert engine.containers.list(all=True, filters=label) == []
    assert engine.volumes.list(filters=label) == []
