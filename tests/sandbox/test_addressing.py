"""The loopback address plan of the medmij profile and `pgo-sandbox hosts` (issue 13, item 2):
one stable loopback address per node, and an idempotent, reversible /etc/hosts block."""

from __future__ import annotations

import ipaddress

import pytest
import typer
from typer.testing import CliRunner

from sandbox import addressing
from sandbox.pki_cli import register
from simulators.medmij.topology import load_topology

ORIGINAL = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n# my own comment\n"


def test_every_node_gets_its_own_stable_loopback_address():
    topology = load_topology()
    plan = addressing.topology_plan(topology)
    assert list(plan) == [n.hostname for n in topology.nodes]
    assert plan["registry.sandbox.test"] == "127.77.0.1"
    assert len(set(plan.values())) == len(plan)
    assert all(ipaddress.ip_address(a).is_loopback for a in plan.values())
    assert addressing.topology_plan(load_topology()) == plan


def test_addresses_skip_network_and_broadcast_octets():
    assert addressing.address_of(253) == "127.77.0.254"
    assert addressing.address_of(254) == "127.77.1.1"
    assert addressing.plan(["a.test", "b.test", "a.test"]) == {
        "a.test": "127.77.0.1", "b.test": "127.77.0.2"}


def test_install_is_idempotent_updates_in_place_and_removes_cleanly(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text(ORIGINAL)
    plan = {"dva-nexus.sandbox.test": "127.77.0.3"}
    assert addressing.install(plan, hosts) is True
    text = hosts.read_text()
    assert text.startswith(ORIGINAL) and "127.77.0.3\tdva-nexus.sandbox.test" in text
    assert addressing.install(plan, hosts) is False and hosts.read_text() == text

    addressing.install({"pgo-alpha.sandbox.test": "127.77.0.6"}, hosts)
    text = hosts.read_text()
    assert text.count(addressing.BEGIN) == 1 and "dva-nexus" not in text
    assert addressing.remove(hosts) is True
    assert hosts.read_text() == ORIGINAL
    assert addressing.remove(hosts) is False


def test_unwritable_hosts_file_gives_a_clear_error(tmp_path, monkeypatch):
    hosts = tmp_path / "hosts"
    hosts.write_text(ORIGINAL)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(addressing, "open", denied, raising=False)
    with pytest.raises(addressing.HostsFileError, match="sudo pgo-sandbox hosts --write"):
        addressing.install({"a.sandbox.test": "127.77.0.1"}, hosts)
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["hosts", "--write", "--hosts-file", str(hosts),
                                      "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 1 and "not writable" in result.output
    assert "Traceback" not in result.output and hosts.read_text() == ORIGINAL


def test_hosts_command_prints_writes_and_removes(tmp_path):
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    state = ["--state-dir", str(tmp_path / "state")]
    printed = runner.invoke(app, ["hosts", *state])
    assert printed.exit_code == 0, printed.output
    assert "127.77.0.1\tregistry.sandbox.test" in printed.output.splitlines()

    hosts = tmp_path / "hosts"
    hosts.write_text(ORIGINAL)
    wrote = runner.invoke(app, ["hosts", "--write", "--hosts-file", str(hosts), *state])
    assert wrote.exit_code == 0 and "updated" in wrote.output, wrote.output
    assert printed.output.strip() in hosts.read_text()
    again = runner.invoke(app, ["hosts", "--write", "--hosts-file", str(hosts), *state])
    assert "already up to date" in again.output
    removed = runner.invoke(app, ["hosts", "--remove", "--hosts-file", str(hosts), *state])
    assert removed.exit_code == 0 and hosts.read_text() == ORIGINAL
    both = runner.invoke(app, ["hosts", "--write", "--remove", *state])
    assert both.exit_code == 2 and "not both" in both.output  # a usage error
