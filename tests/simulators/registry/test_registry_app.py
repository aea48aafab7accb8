"""The registry role in-process (issue 12): built by ``create_app`` with an injected clock and
a state without a file, its errors in one JSON shape, localisation by pseudonym only."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sandbox.runtime.local import LocalRuntime
from simulators.common import pseudonym
from simulators.common.clock import ManualClock
from simulators.common.config import SandboxConfig
from simulators.common.lists import parse_list
from simulators.common.people import population_for
from simulators.common.security import admin_headers, ensure_admin_token
from simulators.medmij import LIST_PATHS, utc_timestamp
from simulators.medmij.topology import load_topology
from simulators.registry.app import create_app
from simulators.registry.state import RegistryState

pytestmark = pytest.mark.anyio
START = 1_700_000_000.0
NEW_PROVIDER = {"name": "nieuwezorg@medmij", "dva": "dva-lumen.sandbox.test",
                "gegevensdiensten": ["48"]}


class Registry:
    def __init__(self, tmp_path: Path) -> None:
        topology = load_topology()
        self.config = SandboxConfig(topology, "loopback",
                                    LocalRuntime(tmp_path).addresses(topology, 18400), tmp_path)
        ensure_admin_token(tmp_path)
        self.admin = admin_headers(tmp_path)
        self.clock = ManualClock(START)
        self.state = RegistryState(self.config, None, clock=self.clock)
        self.app = create_app(self.config, "registry", state=self.state)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(self.app),
                                      base_url="http://registry.test")


@pytest.fixture
async def registry(tmp_path):
    reg = Registry(tmp_path)
    async with reg.http:
        yield reg


def assert_error(r: httpx.Response, status: int, error: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error, body
    return body


async def test_tijdstempel_comes_from_the_injected_clock(registry) -> None:
    zal = await registry.http.get(LIST_PATHS["zal"], params={"api": "1"})
    assert f"<Tijdstempel>{utc_timestamp(START)}</Tijdstempel>" in zal.text
    registry.clock.advance(86_400)
    r = await registry.http.post("/admin/providers", json=NEW_PROVIDER, headers=registry.admin)
    assert r.status_code == 201 and r.json()["changed"] == ["zal"]
    zal = await registry.http.get(LIST_PATHS["zal"], params={"api": "1"})
    assert f"<Tijdstempel>{utc_timestamp(START + 86_400)}</Tijdstempel>" in zal.text
    assert parse_list("zal", zal.content)[0] == 2


async def test_refused_change_is_error_json(registry) -> None:
    r = await registry.http.post("/admin/providers", headers=registry.admin,
                                 json=NEW_PROVIDER | {"dva": "dva-nowhere.sandbox.test"})
    assert "unknown DVA" in assert_error(r, 400, "invalid_request")["error_description"]


async def test_removing_what_is_not_listed_is_404_json(registry) -> None:
    r = await registry.http.delete("/admin/providers/nergens@medmij", headers=registry.admin)
    assert_error(r, 404, "not_found")
    r = await registry.http.delete("/admin/clients/nergens.sandbox.test", headers=registry.admin)
    assert_error(r, 404, "not_found")


async def test_conflict_is_409_json(registry) -> None:
    r = await registry.http.post("/admin/clients", headers=registry.admin,
                                 json={"hostname": "pgo-alpha.sandbox.test", "name": "Ander"})
    assert_error(r, 409, "conflict")


async def test_missing_admin_token_is_401_json(registry) -> None:
    assert_error(await registry.http.get("/admin/state"), 401, "invalid_token")


async def test_invalid_body_is_400_json(registry) -> None:
    r = await registry.http.post("/admin/clients", headers=registry.admin, json={"hostname": "x"})
    assert_error(r, 400, "invalid_request")


async def test_unsupported_list_api_is_400_json(registry) -> None:
    r = await registry.http.get(LIST_PATHS["ocl"], params={"api": "2"})
    assert "supported: 1" in assert_error(r, 400, "invalid_request")["error_description"]


async def test_localisation_opens_only_the_registrys_pseudonym(registry) -> None:
    population = population_for(registry.config)
    provider = registry.config.topology.providers[0].name
    bsn = population.patient(population.find(provider)).bsn
    topology = registry.config.topology
    mine = pseudonym.pseudonymise(registry.config.secret, topology.registry.hostname, bsn)
    mgo = {"Authorization": "Bearer " + pseudonym.localisation_credential(
        registry.config.secret, topology.inspection.hostname)}
    r = await registry.http.get("/localisation", params={"pseudonym": mine}, headers=mgo)
    assert r.status_code == 200
    assert provider in {p["provider"] for p in r.json()["providers"]}
    theirs = pseudonym.pseudonymise(registry.config.secret, topology.inspection.hostname, bsn)
    r = await registry.http.get("/localisation", params={"pseudonym": theirs}, headers=mgo)
    assert_error(r, 400, "invalid_request")


async def test_localisation_names_only_providers_on_the_zal(registry) -> None:
    population = population_for(registry.config)
    provider = registry.config.topology.providers[0].name
    bsn = population.patient(population.find(provider)).bsn
    secret, host = registry.config.secret, registry.config.topology.registry.hostname
    r = await registry.http.delete(f"/admin/providers/{provider}", headers=registry.admin)
    assert r.status_code == 200
    mgo = {"Authorization": "Bearer " + pseudonym.localisation_credential(
        secret, registry.config.topology.inspection.hostname)}
    r = await registry.http.get("/localisation",
                                params={"pseudonym": pseudonym.pseudonymise(secret, host, bsn)},
                                headers=mgo)
    assert provider not in {p["provider"] for p in r.json()["providers"]}
