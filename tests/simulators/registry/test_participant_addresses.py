"""An outside participant's URLs are its own (``RegistryState.check_own_address``).

``add-dvp``/``add-dva`` (``POST /admin/clients``, ``POST /admin/providers``) refuse with 400,
publishing nothing, a redirect URI or endpoint that is on the hostname or origin of a node the
sandbox runs or of another participant (every profile), and in the ``medmij`` profile one that
is not on the participant's own hostname. Otherwise ``outside.json`` and the ZAL would send one
participant's codes, tokens or persons to another's address.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from sandbox.runtime.local import LocalRuntime
from simulators.common.config import SandboxConfig
from simulators.common.security import admin_headers, ensure_admin_token
from simulators.medmij import LIST_PATHS
from simulators.medmij.topology import (
    OUTSIDE_FILE,
    Topology,
    default_topology_text,
    load_topology,
    parse_topology,
)
from simulators.registry.app import create_app
from tests.simulators.registry.test_admin import AppClient

TOPOLOGY = load_topology()
DVP, DVA = "pgo-buiten.sandbox.test", "dva-buiten.sandbox.test"
DECLARED = """
[[dvp]]
hostname = "pgo-mine.sandbox.test"
name = "Mijn PGO"
external = true
url = "http://127.0.0.1:9101"
redirect_uri = "http://127.0.0.1:9100/callback"

[[dva]]
hostname = "dva-mine.sandbox.test"
name = "Mijn DVA"
external = true

[[provider]]
name = "mijnkliniek@medmij"
display = "Mijn Kliniek"
dva = "dva-mine.sandbox.test"
gegevensdiensten = ["48"]
[provider.endpoints.48]
authorize = "http://127.0.0.1:9200/auth/start"
token = "http://127.0.0.1:9200/auth/token"
resource = "http://127.0.0.1:9200/api/fhir/mijnkliniek/48"
"""


class Registry:
    def __init__(self, tmp_path: Path, profile: str = "loopback",
                 topology: Topology = TOPOLOGY) -> None:
        addresses = (LocalRuntime.medmij_addresses(topology) if profile == "medmij"
                     else LocalRuntime(tmp_path).addresses(topology, 18400))
        ensure_admin_token(tmp_path)
        self.config = SandboxConfig(topology, profile, addresses, tmp_path)
        self.client = AppClient(create_app(self.config, "registry"))
        self.admin = admin_headers(tmp_path)
        self.state_dir = tmp_path

    def address(self, node_id: str) -> str:
        return self.config.addresses[self.config.topology.node(node_id).hostname]

    def add_dvp(self, redirect_uri: str, hostname: str = DVP):
        return self.client.post("/admin/clients", headers=self.admin, json={
            "hostname": hostname, "name": "Buiten PGO", "redirect_uri": redirect_uri})

    def add_dva(self, base: str, token: str | None = None, resource: str | None = None,
                hostname: str = DVA, provider: str = "buitenkliniek@medmij"):
        return self.client.post("/admin/providers", headers=self.admin, json={
            "name": provider, "dva": hostname, "gegevensdiensten": ["48"],
            "dva_name": "Buiten DVA", "endpoints": {"48": {
                "authorize": f"{base}/auth/start", "token": token or f"{base}/auth/token",
                "resource": resource or f"{base}/api/fhir/buiten/48"}}})

    def snapshot(self) -> tuple:
        lists = tuple(self.client.get(p).content for p in LIST_PATHS.values())
        outside = self.state_dir / OUTSIDE_FILE
        return lists, json.loads(outside.read_text()) if outside.exists() else {}

    def refused(self, response, reason: str, before: tuple) -> None:
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["error"] == "invalid_request" and reason in body["error_description"], body
        assert self.snapshot() == before


def declared(tmp_path: Path) -> Registry:
    return Registry(tmp_path, topology=parse_topology(tomllib.loads(default_topology_text()
                                                                    + DECLARED)))


# every profile: a sandbox node's hostname or address -----------------------------------------

def test_a_redirect_uri_on_a_sandbox_nodes_address_is_refused(tmp_path) -> None:
    """The finding's repro: pgo-mine would be mapped to pgo-alpha's origin in outside.json."""
    registry = Registry(tmp_path)
    before = registry.snapshot()
    r = registry.add_dvp(f"{registry.address('pgo-alpha')}/callback")
    registry.refused(r, "is at the address of pgo-alpha.sandbox.test", before)


def test_a_redirect_uri_on_a_sandbox_nodes_hostname_is_refused(tmp_path) -> None:
    registry = Registry(tmp_path)
    before = registry.snapshot()
    r = registry.add_dvp("https://pgo-alpha.sandbox.test/cb", hostname="pgo-two.sandbox.test")
    registry.refused(r, "is on pgo-alpha.sandbox.test", before)


def test_endpoints_on_a_sandbox_dvas_hostname_are_refused(tmp_path) -> None:
    """dva-nexus is on no OCL: its hostname is taken as a node the sandbox runs."""
    registry = Registry(tmp_path)
    before = registry.snapshot()
    r = registry.add_dva("http://dva-nexus.sandbox.test:9400")
    registry.refused(r, "is on dva-nexus.sandbox.test", before)


@pytest.mark.parametrize("node", ["dva-nexus", "registry"])
@pytest.mark.parametrize("kind", ["authorize", "token", "resource"])
def test_endpoints_on_a_sandbox_nodes_address_are_refused(tmp_path, node, kind) -> None:
    registry = Registry(tmp_path)
    before = registry.snapshot()
    theirs = registry.address(node)
    urls = {"authorize": "http://127.0.0.1:9400", "token": None, "resource": None}
    urls[kind] = theirs if kind == "authorize" else f"{theirs}/{kind}"
    r = registry.add_dva(urls["authorize"], token=urls["token"], resource=urls["resource"])
    registry.refused(r, f"endpoints.48.{kind}", before)


# every profile: another participant's hostname or address ------------------------------------

def test_a_live_dvps_address_is_its_own(tmp_path) -> None:
    registry = Registry(tmp_path)
    assert registry.add_dvp("http://127.0.0.1:9300/callback").status_code == 201
    before = registry.snapshot()
    r = registry.add_dvp("http://127.0.0.1:9300/other", hostname="pgo-twee.sandbox.test")
    registry.refused(r, f"is at the address of {DVP}", before)
    registry.refused(registry.add_dva("http://127.0.0.1:9300"), "endpoints.48.authorize",
                     before)


def test_a_live_dvas_endpoints_are_its_own(tmp_path) -> None:
    """Every endpoint's origin, not only the authorize one the outside record keeps."""
    registry = Registry(tmp_path)
    r = registry.add_dva("http://127.0.0.1:9400", token="http://127.0.0.1:9401/token")
    assert r.status_code == 201, r.text
    before = registry.snapshot()
    registry.refused(registry.add_dvp("http://127.0.0.1:9401/callback"),
                     f"is at the address of {DVA}", before)


def test_a_live_dvas_hostname_is_its_own(tmp_path) -> None:
    registry = Registry(tmp_path)
    assert registry.add_dva("http://127.0.0.1:9400").status_code == 201
    before = registry.snapshot()
    registry.refused(registry.add_dvp(f"http://{DVA}:9500/callback"), f"is on {DVA}", before)


def test_a_listed_clients_hostname_is_its_own(tmp_path) -> None:
    """A client on the OCL without a redirect URI still owns its hostname."""
    registry = Registry(tmp_path)
    r = registry.client.post("/admin/clients", headers=registry.admin,
                             json={"hostname": "pgo-plain.sandbox.test", "name": "Plain"})
    assert r.status_code == 201, r.text
    before = registry.snapshot()
    registry.refused(registry.add_dvp("http://pgo-plain.sandbox.test:9500/cb"),
                     "is on pgo-plain.sandbox.test", before)


def test_the_default_port_is_the_same_address(tmp_path) -> None:
    registry = Registry(tmp_path)
    assert registry.add_dvp("http://127.0.0.1/callback").status_code == 201
    before = registry.snapshot()
    r = registry.add_dvp("http://127.0.0.1:80/cb", hostname="pgo-twee.sandbox.test")
    registry.refused(r, f"is at the address of {DVP}", before)


@pytest.mark.parametrize(("url", "holder"), [
    ("http://127.0.0.1:9100/cb", "pgo-mine.sandbox.test"),  # its redirect_uri
    ("http://127.0.0.1:9101/cb", "pgo-mine.sandbox.test"),  # its url
    ("http://127.0.0.1:9200/cb", "dva-mine.sandbox.test"),  # its provider's endpoints
])
def test_declared_participants_addresses_are_theirs(tmp_path, url, holder) -> None:
    registry = declared(tmp_path)
    before = registry.snapshot()
    registry.refused(registry.add_dvp(url), f"is at the address of {holder}", before)


def test_a_declared_dvas_hostname_is_its_own(tmp_path) -> None:
    registry = declared(tmp_path)
    before = registry.snapshot()
    registry.refused(registry.add_dvp("http://dva-mine.sandbox.test:9500/cb"),
                     "is on dva-mine.sandbox.test", before)


def test_a_participant_keeps_using_its_own_address(tmp_path) -> None:
    """Its own hostname and origins are not another's: a second provider of the same DVA on
    the same origin and host, the same DVP again, and an address freed by a removal."""
    registry = Registry(tmp_path)
    base = f"http://{DVA}:9400"
    assert registry.add_dva(base).status_code == 201
    r = registry.add_dva(base, provider="tweedekliniek@medmij")
    assert r.status_code == 201, r.text
    assert registry.add_dvp("http://127.0.0.1:9300/callback").status_code == 201
    assert registry.add_dvp("http://127.0.0.1:9300/callback").json()["changed"] == []
    assert registry.client.delete(f"/admin/participants/{DVP}",
                                  headers=registry.admin).status_code == 200
    r = registry.add_dvp("http://127.0.0.1:9300/callback", hostname="pgo-twee.sandbox.test")
    assert r.status_code == 201, r.text


# medmij: on the participant's own hostname ---------------------------------------------------

def test_medmij_redirect_uri_on_another_host_is_refused(tmp_path) -> None:
    registry = Registry(tmp_path, "medmij")
    before = registry.snapshot()
    r = registry.add_dvp("https://pgo-elders.sandbox.test/callback")
    registry.refused(r, f"must be on {DVP} itself", before)


@pytest.mark.parametrize("kind", ["authorize", "token", "resource"])
def test_medmij_endpoints_on_another_host_are_refused(tmp_path, kind) -> None:
    registry = Registry(tmp_path, "medmij")
    before = registry.snapshot()
    urls = {"authorize": f"https://{DVA}", "token": None, "resource": None}
    elsewhere = "https://dva-elders.sandbox.test"
    urls[kind] = elsewhere if kind == "authorize" else f"{elsewhere}/{kind}"
    r = registry.add_dva(urls["authorize"], token=urls["token"], resource=urls["resource"])
    registry.refused(r, f"endpoints.48.{kind}: ", before)


def test_medmij_participants_on_their_own_hostnames_are_listed(tmp_path) -> None:
    registry = Registry(tmp_path, "medmij")
    assert registry.add_dvp(f"https://{DVP}/callback").status_code == 201
    assert registry.add_dva(f"https://{DVA}", token=f"https://{DVA}:8443/token").status_code == 201
    r = registry.add_dva(f"https://{DVA}", provider="tweedekliniek@medmij")
    assert r.status_code == 201, r.text
