"""compose/docker-compose.yml stays in step with the topology, and the compose tool accepts it.

The file is generated (``python -m sandbox.compose_gen``); these tests fail when someone edits
the topology or the generator without regenerating, or breaks a rule of issue 7.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from sandbox.compose_gen import (
    COMPOSE_FILE,
    compose_yaml,
    runtime_compose,
    swarm_stack,
    topology_toml,
)
from simulators.medmij.topology import load_topology, parse_topology
from tests.conftest import ROOT

DOCKER_READY = Path(os.environ.get("PGO_SANDBOX_DOCKER_WORK", "/tmp/pgo-sandbox-docker")) / "ready"


def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text("utf-8"))


def test_compose_file_is_generated_from_the_topology():
    assert COMPOSE_FILE.read_text("utf-8") == compose_yaml(load_topology()), (
        "compose/docker-compose.yml is out of date: run python -m sandbox.compose_gen")


def test_one_service_per_node_with_its_medmij_hostname_as_alias():
    topology, services = load_topology(), compose()["services"]
    assert set(services) == {n.id for n in topology.nodes}
    for node in topology.nodes:
        service = services[node.id]
        assert service["command"] == [node.id]
        assert service["networks"]["medmij"]["aliases"] == [node.hostname]
        assert service["volumes"] == ["state:/state"]
        assert "test" in service["healthcheck"]


def test_every_node_waits_for_a_healthy_registry():
    topology, services = load_topology(), compose()["services"]
    for node in topology.nodes[1:]:
        assert services[node.id]["depends_on"] == {
            topology.registry.id: {"condition": "service_healthy"}}
    assert "build" in services[topology.registry.id]


def test_ports_are_published_on_loopback_only():
    for service in compose()["services"].values():
        for port in service["ports"]:
            assert port.startswith("127.0.0.1:"), port


def test_every_node_runs_without_capabilities():
    """Rule: the compose file, the runtimes' compose and the swarm stack drop every capability
    (a node binds 443 by the port sysctl, as its own user), as the Kubernetes manifests do;
    the compose files also forbid gaining one (Swarm ignores ``security_opt``)."""
    topology = load_topology()
    runtime = runtime_compose(topology, 18400, "img:1", "n0nce", "vol", {}, "pki-vol")
    for service in [*compose()["services"].values(), *runtime["services"].values()]:
        assert service["cap_drop"] == ["ALL"]
        assert service["security_opt"] == ["no-new-privileges:true"]
    stack = swarm_stack(topology, 18400, "img:1", "n0nce", "vol", None, "pki-vol")
    assert all(s["cap_drop"] == ["ALL"] for s in stack["services"].values())


def test_topology_round_trips_through_toml():
    """The docker runtime hands containers the host's topology as TOML."""
    topology = load_topology()
    assert parse_topology(tomllib.loads(topology_toml(topology))) == topology
    odd = parse_topology(tomllib.loads(topology_toml(topology).replace(
        'name = "Nexus DVA"', 'name = "Nexus \\"DVA\\" – ziekenhuis"')))
    assert parse_topology(tomllib.loads(topology_toml(odd))) == odd


@pytest.mark.container
@pytest.mark.parametrize("version", ["v2", "v1"])
def test_compose_tool_accepts_the_file(version):
    """The shipped compose file as both Composes read it (the README shows `docker compose`)."""
    from tests.sandbox.runtime.test_docker import compose_tool

    command = compose_tool(version)
    result = subprocess.run([*command, "-f", str(COMPOSE_FILE), "config", "-q"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
