"""The registry's system faults (issue 16): stale or unreachable lists, a lower Volgnummer, a
registry outage, a vendor removed mid-flow. In process, served as uvicorn serves the node."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from sandbox.runtime.local import LocalRuntime
from simulators.common.app import serving_app
from simulators.common.config import SandboxConfig
from simulators.common.lists import parse_list
from simulators.common.security import admin_headers, ensure_admin_token
from simulators.medmij.topology import load_topology
from simulators.registry.app import create_app

OCL = "/MedMij_OAuthclientlist.xml"
ZAL = "/MedMij_Zorgaanbiederslijst.xml"
GAMMA = "pgo-gamma.sandbox.test"


class Registry:
    def __init__(self, tmp_path: Path) -> None:
        topology = load_topology()
        config = SandboxConfig(topology, "loopback",
                               LocalRuntime(tmp_path).addresses(topology, 18400), tmp_path)
        ensure_admin_token(tmp_path)
        self.app = create_app(config, "registry")
        self.served = serving_app(self.app, "registry")
        self.admin = admin_headers(tmp_path)
        self.book = self.app.state.faults

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(self.served),
                                         base_url="http://registry.test") as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def ocl(self) -> tuple[int, dict]:
        r = self.request("GET", OCL, params={"api": "1"})
        assert r.status_code == 200, r.text
        return parse_list("ocl", r.content)

    def add(self, kind: str, **body) -> httpx.Response:
        return self.request("POST", "/admin/faults", json={"kind": kind, **body},
                            headers=self.admin)


@pytest.fixture
def registry(tmp_path):
    return Registry(tmp_path)


def test_vendor_removed_takes_the_dvp_off_the_ocl_at_once(registry):
    """Rule: vendor_removed is MedMij Beheer taking a DVP off the OCL (and the Whitelist)."""
    number, clients = registry.ocl()
    assert GAMMA in clients
    r = registry.add("vendor_removed", params={"hostname": "pgo-gamma"})
    assert r.status_code == 201 and r.json()["fired"] == 1
    after, clients = registry.ocl()
    assert GAMMA not in clients and after == number + 1
    again = registry.add("vendor_removed", params={"hostname": "pgo-gamma"})
    assert again.status_code == 400 and "no client" in again.json()["error_description"]
    assert registry.add("vendor_removed").status_code == 400  # hostname is required


def test_lists_stale_serves_the_lists_as_they_were(registry):
    """Rule: with lists_stale a published change is not served until the fault ends."""
    number, _ = registry.ocl()
    fault = registry.add("lists_stale").json()
    registry.request("DELETE", f"/admin/clients/{GAMMA}", headers=registry.admin)
    stale_number, clients = registry.ocl()
    assert stale_number == number and GAMMA in clients
    registry.request("DELETE", f"/admin/faults/{fault['id']}", headers=registry.admin)
    assert GAMMA not in registry.ocl()[1]


def test_lower_volgnummer_serves_a_list_older_than_the_last_published(registry):
    number, _ = registry.ocl()
    registry.add("lower_volgnummer", count=1, params={"by": 1})
    assert registry.ocl()[0] == number - 1
    assert registry.ocl()[0] == number


def test_lists_unreachable_is_503_on_the_list_paths_only(registry):
    registry.add("lists_unreachable", count=1)
    r = registry.request("GET", ZAL, params={"api": "1"})
    assert r.status_code == 503 and r.headers["retry-after"] == "30"
    assert r.json()["error"] == "temporarily_unavailable"
    assert registry.request("GET", "/lists").status_code == 200


def test_registry_down_is_503_everywhere_but_health_and_the_admin_api(registry):
    """Rule: registry_down answers 503 on every path; /health and the admin API stay, so the
    sandbox can see the node and clear the fault."""
    registry.add("registry_down", seconds=60)
    assert registry.request("GET", OCL, params={"api": "1"}).status_code == 503
    assert registry.request("GET", "/lists").status_code == 503
    assert registry.request("GET", "/health").status_code == 200
    assert registry.request("DELETE", "/admin/faults", headers=registry.admin).json() == {
        "cleared": 1}
    assert registry.request("GET", "/lists").status_code == 200
