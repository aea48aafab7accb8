"""The inspection function (MGO) in-process (issue 12): sessions follow the injected clock,
the person sees Dutch pages and the admin API answers JSON, and the per-provider round trip
works against a fake DVA on the injected back channel."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.runtime.local import LocalRuntime
from simulators.common.clock import ManualClock
from simulators.common.config import SandboxConfig
from simulators.common.lists import ListCache, ServiceEndpoints
from simulators.common.medmij_client import collect_queries
from simulators.common.security import ensure_admin_token
from simulators.inspection.app import SESSION_SECONDS, create_app
from simulators.medmij import build_scope
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN
from simulators.medmij.topology import load_topology

pytestmark = pytest.mark.anyio
PROVIDER, SERVICE = "ggzsandbox@medmij", "48"
DVA = "http://dva.test"
PSEUDONYM = "pseudo-person"


class Peers:
    """DigiD's /artifact, the registry's /localisation and one DVA, on the back channel."""

    def __init__(self) -> None:
        self.localisation_status = 200
        self.tokens: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/artifact":
            return httpx.Response(200, json={"localisation_pseudonym": PSEUDONYM})
        if path == "/localisation":
            return httpx.Response(self.localisation_status, json={"providers": [
                {"provider": PROVIDER, "gegevensdiensten": [SERVICE]}]})
        if path == "/token":
            self.tokens.append(parse_qs(request.content.decode()))
            return httpx.Response(200, json={"access_token": "at", "token_type": "Bearer",
                                             "scope": build_scope(PROVIDER, SERVICE)})
        if path.startswith("/fhir/"):
            return httpx.Response(200, json={"resourceType": "Bundle", "entry": [
                {"resource": {"resourceType": "Observation"}}]})
        return httpx.Response(404)


class World:
    def __init__(self, tmp_path: Path) -> None:
        topology = load_topology()
        self.config = SandboxConfig(topology, "loopback",
                                    LocalRuntime(Path(".")).addresses(topology, 18400), tmp_path)
        self.admin = {"Authorization": f"Bearer {ensure_admin_token(tmp_path)}"}
        self.peers = Peers()
        self.back = httpx.AsyncClient(transport=httpx.MockTransport(self.peers))
        self.clock = ManualClock(1_700_000_000.0)
        lists = ListCache("http://registry.test", self.back, 60)
        lists.lists.zal = {PROVIDER: {SERVICE: ServiceEndpoints(
            f"{DVA}/authorize", f"{DVA}/token",
            {GEGEVENSDIENSTEN[SERVICE].systeemrolcode: f"{DVA}/fhir/ggzsandbox/48"})}}
        self.app = create_app(self.config, "mgo", http=self.back, clock=self.clock, lists=lists)
        base = self.config.addresses[topology.inspection.hostname]
        self.browser = httpx.AsyncClient(transport=httpx.ASGITransport(self.app), base_url=base)

    async def logged_in(self) -> httpx.Response:
        start = await self.browser.get("/start")
        relay = parse_qs(urlsplit(start.headers["location"]).query)["RelayState"][0]
        return await self.browser.get("/digid/acs",
                                      params={"SAMLart": "art", "RelayState": relay})


@pytest.fixture
async def world(tmp_path):
    w = World(tmp_path)
    async with w.browser, w.back:
        yield w


async def test_session_ends_when_the_clock_passes_its_lifetime(world) -> None:
    assert (await world.logged_in()).status_code == 303
    world.clock.advance(SESSION_SECONDS - 1)
    assert (await world.browser.get("/next")).status_code == 302, "still alive"
    world.clock.advance(2)
    r = await world.browser.get("/next")
    assert r.status_code == 403 and "niet ingelogd" in r.text
    state = await world.browser.get("/admin/state", headers=world.admin)
    assert state.json()["sessions"] == 0


async def test_pending_digid_login_ends_with_the_clock(world) -> None:
    start = await world.browser.get("/start")
    relay = parse_qs(urlsplit(start.headers["location"]).query)["RelayState"][0]
    world.clock.advance(SESSION_SECONDS + 1)
    r = await world.browser.get("/digid/acs", params={"SAMLart": "art", "RelayState": relay})
    assert r.status_code == 403 and "niet in deze browser" in r.text


async def test_person_errors_are_dutch_pages_with_a_way_back(world) -> None:
    r = await world.browser.get("/next")
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "lang='nl'" in r.text and "href='/'" in r.text
    await world.logged_in()
    r = await world.browser.get("/oauth/callback", params={"state": "not-sent", "code": "c"})
    assert r.status_code == 400 and "Onbekend of al gebruikt antwoord" in r.text


async def test_localisation_failure_is_a_502_page(world) -> None:
    world.peers.localisation_status = 500
    r = await world.logged_in()
    assert r.status_code == 502 and "konden nu niet worden opgezocht" in r.text


async def test_admin_api_errors_are_json(world) -> None:
    r = await world.browser.get("/admin/state")
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert "error_description" in r.json()
    assert r.headers["www-authenticate"].startswith("Bearer")  # RFC 6750: say how to log in


async def test_each_provider_is_asked_with_its_slug_and_collected(world) -> None:
    await world.logged_in()
    r = await world.browser.get("/next")
    assert r.status_code == 302 and r.headers["location"].startswith(f"{DVA}/authorize?")
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["scope"] == ["ggzsandbox"] and query["client_id"] == ["mgo.sandbox.test"]
    r = await world.browser.get("/oauth/callback", params={"state": query["state"][0],
                                                           "code": "the-code"})
    assert r.headers["location"] == "/next"
    assert world.peers.tokens[0]["code"] == ["the-code"]
    assert (await world.browser.get("/next")).headers["location"] == "/overview"
    overview = (await world.browser.get("/overview")).json()
    searches = len(collect_queries(SERVICE, clock=world.clock))
    assert overview["providers"][0]["status"] == "collected"
    assert overview["total"] == searches == overview["providers"][0]["by_type"]["Observation"]


async def test_a_providers_refusal_is_a_line_of_the_overview(world) -> None:
    await world.logged_in()
    state = parse_qs(urlsplit((await world.browser.get("/next")).headers["location"]).query)
    r = await world.browser.get("/oauth/callback", params={
        "state": state["state"][0], "error": "access_denied"})
    assert r.status_code == 303 and not world.peers.tokens
    await world.browser.get("/next")
    html = await world.browser.get("/overview", headers={"Accept": "text/html"})
    assert "refused" in html.text and "niet bewaard" in html.text
