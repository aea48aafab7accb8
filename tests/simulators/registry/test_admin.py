"""The registry's admin API (MedMij Beheer): only with the admin token, and one bad request
never poisons the lists: every change is validated first and published as one step or not at
all, with a 4xx and a reason when refused (issue 11, items 7 and 8)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from sandbox.runtime.local import LocalRuntime
from simulators.common.config import SandboxConfig
from simulators.common.lists import parse_list
from simulators.common.security import admin_headers, ensure_admin_token
from simulators.medmij.topology import load_topology
from simulators.registry import state as registry_state
from simulators.registry.app import create_app

ZAL = "/MedMij_Zorgaanbiederslijst.xml"
OCL = "/MedMij_OAuthclientlist.xml"
NEW_PROVIDER = {"name": "nieuwezorg@medmij", "dva": "dva-lumen.sandbox.test",
                "gegevensdiensten": ["48"]}


class AppClient:
    """A synchronous httpx client on the registry app in-process (ASGITransport)."""

    def __init__(self, app) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(self.app),
                                         base_url="http://registry.test") as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


def make_registry(tmp_path: Path, profile: str = "loopback") -> tuple[AppClient, dict]:
    topology = load_topology()
    config = SandboxConfig(topology, profile, LocalRuntime(tmp_path).addresses(topology, 18400),
                           tmp_path)
    ensure_admin_token(tmp_path)
    return AppClient(create_app(config, "registry")), admin_headers(tmp_path)


@pytest.fixture
def registry(tmp_path):
    return make_registry(tmp_path)


def volgnummer(client: AppClient, path: str, kind: str) -> int:
    r = client.get(path, params={"api": "1"})
    assert r.status_code == 200, r.text
    return parse_list(kind, r.content)[0]


def assert_lists_still_served(client: AppClient) -> None:
    for api in ("1", "2"):
        assert client.get(ZAL, params={"api": api}).status_code == 200, api
    assert client.get(OCL, params={"api": "1"}).status_code == 200


# item 8: the admin token ---------------------------------------------------------------

@pytest.mark.parametrize("method, path, body", [
    ("GET", "/admin/state", None),
    ("POST", "/admin/providers", NEW_PROVIDER),
    ("DELETE", "/admin/providers/umcsandbox@medmij", None),
    ("POST", "/admin/clients", {"hostname": "pgo-delta.sandbox.test", "name": "Delta PGO"}),
    ("DELETE", "/admin/clients/pgo-alpha.sandbox.test", None),
])
def test_anonymous_admin_call_is_refused_and_changes_nothing(registry, method, path, body):
    client, headers = registry
    before = client.get("/admin/state", headers=headers).json()
    for bad in ({}, {"Authorization": "Bearer wrong"}):
        r = client.request(method, path, json=body, headers=bad)
        assert r.status_code == 401 and "admin token" in r.json()["error_description"]
        assert "Bearer" in r.headers["www-authenticate"]
    assert client.get("/admin/state", headers=headers).json() == before


def test_admin_call_with_the_token_works(registry):
    client, headers = registry
    r = client.delete("/admin/clients/pgo-beta.sandbox.test", headers=headers)
    assert r.status_code == 200 and sorted(r.json()["changed"]) == ["ocl", "whitelist"]


# item 7: validate first, publish as one step --------------------------------------------

def test_unknown_dva_is_a_400_and_the_lists_stay_served(registry):
    client, headers = registry
    before = volgnummer(client, ZAL, "zal")
    r = client.post("/admin/providers", headers=headers,
                    json={**NEW_PROVIDER, "dva": "dva-nowhere.sandbox.test"})
    assert r.status_code == 400 and "unknown DVA" in r.json()["error_description"]
    assert_lists_still_served(client)
    assert volgnummer(client, ZAL, "zal") == before
    # a later good change publishes
    r = client.post("/admin/providers", headers=headers, json=NEW_PROVIDER)
    assert r.status_code == 201 and r.json()["changed"] == ["zal"]
    assert volgnummer(client, ZAL, "zal") == before + 1
    assert b"nieuwezorg@medmij" in client.get(ZAL, params={"api": "2"}).content


def test_unknown_dva_is_refused_in_the_medmij_profile_too(tmp_path):
    """There every hostname renders, so only the validation stops a ZAL entry that sends
    persons' PGOs to a DVA that does not exist."""
    client, headers = make_registry(tmp_path, "medmij")
    r = client.post("/admin/providers", headers=headers,
                    json={**NEW_PROVIDER, "dva": "dva-nowhere.sandbox.test"})
    assert r.status_code == 400 and "unknown DVA" in r.json()["error_description"]
    assert b"dva-nowhere" not in client.get(ZAL).content


def test_unknown_gegevensdienst_is_a_400(registry):
    client, headers = registry
    r = client.post("/admin/providers", headers=headers,
                    json={**NEW_PROVIDER, "gegevensdiensten": ["48", "999"]})
    assert r.status_code == 400 and "unknown gegevensdiensten" in r.json()["error_description"]
    assert b"nieuwezorg" not in client.get(ZAL).content
    assert_lists_still_served(client)


def test_gegevensdienst_listed_twice_is_a_400(registry):
    client, headers = registry
    r = client.post("/admin/providers", headers=headers,
                    json={**NEW_PROVIDER, "gegevensdiensten": ["48", "48"]})
    assert r.status_code == 400 and "twice" in r.json()["error_description"]
    assert b"nieuwezorg" not in client.get(ZAL).content


def test_provider_already_listed_with_other_data_is_a_409(registry):
    client, headers = registry
    assert client.post("/admin/providers", headers=headers, json=NEW_PROVIDER).status_code == 201
    again = client.post("/admin/providers", headers=headers, json=NEW_PROVIDER)
    assert again.status_code == 201 and again.json()["changed"] == []  # the same: no change
    before = volgnummer(client, ZAL, "zal")
    other = client.post("/admin/providers", headers=headers,
                        json={**NEW_PROVIDER, "gegevensdiensten": ["48", "49"]})
    assert other.status_code == 409 and "already on the ZAL" in other.json()["error_description"]
    assert volgnummer(client, ZAL, "zal") == before


def test_client_already_listed_under_another_name_is_a_409(registry):
    client, headers = registry
    before = volgnummer(client, OCL, "ocl")
    r = client.post("/admin/clients", headers=headers,
                    json={"hostname": "pgo-alpha.sandbox.test", "name": "Someone Else"})
    assert r.status_code == 409 and "already on the OCL" in r.json()["error_description"]
    _, ocl = parse_list("ocl", client.get(OCL).content)
    assert ocl["pgo-alpha.sandbox.test"] == "Alpha Gezond PGO"
    assert volgnummer(client, OCL, "ocl") == before


@pytest.mark.parametrize("name", ["Bad\u001bName", " padded ", "x" * 51])
def test_client_name_the_ocl_cannot_carry_is_a_400(registry, name):
    client, headers = registry
    r = client.post("/admin/clients", headers=headers,
                    json={"hostname": "pgo-odd.sandbox.test", "name": name})
    assert r.status_code == 400
    assert b"pgo-odd" not in client.get(OCL).content
    assert_lists_still_served(client)


def test_delete_answers_404_only_when_nothing_was_removed(registry):
    client, headers = registry
    r = client.delete("/admin/clients/pgo-nobody.sandbox.test", headers=headers)
    assert r.status_code == 404
    r = client.delete("/admin/providers/nobody@medmij", headers=headers)
    assert r.status_code == 404
    r = client.delete("/admin/clients/pgo-gamma.sandbox.test", headers=headers)
    assert r.status_code == 200 and "ocl" in r.json()["changed"]
    assert b"pgo-gamma" not in client.get(OCL).content
    assert client.delete("/admin/clients/pgo-gamma.sandbox.test",
                         headers=headers).status_code == 404


def test_a_change_the_lists_cannot_build_leaves_the_old_state(registry, monkeypatch):
    """Apply and publish as one step: when building a list fails (whatever the reason), the
    published lists and the admitted clients stay as they were, nothing is written, and the
    next good change publishes."""
    client, headers = registry
    real = registry_state.build_list

    def failing(kind, config, providers, clients, nodes, header):
        if "pgo-broken.sandbox.test" in clients:
            raise ValueError("cannot serialise")
        return real(kind, config, providers, clients, nodes, header)

    monkeypatch.setattr(registry_state, "build_list", failing)
    state_file = client.app.state.config.node_dir("registry") / "registry.json"
    saved = state_file.read_bytes()
    before = volgnummer(client, OCL, "ocl")
    r = client.post("/admin/clients", headers=headers,
                    json={"hostname": "pgo-broken.sandbox.test", "name": "Broken PGO"})
    assert r.status_code == 422 and "cannot be published" in r.json()["error_description"]
    state = client.get("/admin/state", headers=headers).json()
    assert "pgo-broken.sandbox.test" not in state["clients"]
    assert "pgo-broken.sandbox.test" not in state["whitelist"]
    assert state_file.read_bytes() == saved
    assert_lists_still_served(client)
    # the DELETE of a listed client still removes it and says so
    r = client.delete("/admin/clients/pgo-beta.sandbox.test", headers=headers)
    assert r.status_code == 200 and sorted(r.json()["changed"]) == ["ocl", "whitelist"]
    assert volgnummer(client, OCL, "ocl") == before + 1
