"""The inspection function (MGO) when providers misbehave (issue 16 item 2): the overview
shows per provider whether it answered, and which could not (with the reason), instead of
failing whole. In process: DigiD, the registry and three providers' DVAs on the injected back
channel, each DVA misbehaving its own way. Each test names the rule it guards."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.runtime.local import LocalRuntime
from simulators.common import medmij_client
from simulators.common.clock import ManualClock
from simulators.common.config import SandboxConfig
from simulators.common.lists import LIST_PATHS, ListCache, ServiceEndpoints
from simulators.common.security import ensure_admin_token
from simulators.inspection.app import create_app
from simulators.medmij import FHIR_JSON
from simulators.medmij.topology import load_topology

pytestmark = pytest.mark.anyio
SERVICE = "48"
# provider -> how its DVA behaves: answers, answers part of one search, token down, not FHIR
PROVIDERS = {"umcsandbox@medmij": "ok", "ggzsandbox@medmij": "partial",
             "huisartsdebrug@medmij": "token_down", "rivmvaccinaties@medmij": "not_fhir"}


def dva(name: str) -> str:
    return f"http://{name.split('@')[0]}.dva.test"


class Peers:
    """DigiD's /artifact, the registry's /localisation, and one DVA per provider."""

    def __init__(self) -> None:
        self.token_posts: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, host = request.url.path, request.url.host
        if path == "/artifact":
            return httpx.Response(200, json={"localisation_pseudonym": "pseudo"})
        if path == "/localisation":
            return httpx.Response(200, json={"providers": [
                {"provider": p, "gegevensdiensten": [SERVICE]} for p in PROVIDERS]})
        behaviour = next(b for p, b in PROVIDERS.items() if urlsplit(dva(p)).hostname == host)
        if path == "/token":
            self.token_posts[host] = self.token_posts.get(host, 0) + 1
            if behaviour == "token_down":
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(200, json={"access_token": "at", "token_type": "Bearer"})
        if behaviour == "not_fhir":
            return httpx.Response(200, text="<html>maintenance</html>",
                                  headers={"content-type": "text/html"})
        entry = [{"resource": {"resourceType": "Condition", "id": "c1"}}]
        total = 3 if behaviour == "partial" and path.endswith("/Condition") else 1
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset",
                                         "total": total, "entry": entry},
                              headers={"content-type": FHIR_JSON})


class World:
    def __init__(self, tmp_path: Path, now: list[float]) -> None:
        topology = load_topology()
        ensure_admin_token(tmp_path)
        config = SandboxConfig(topology, "loopback",
                               LocalRuntime(Path(".")).addresses(topology, 18500), tmp_path)
        self.peers = Peers()
        self.back = httpx.AsyncClient(transport=httpx.MockTransport(self.peers))
        self.lists = ListCache("http://registry.test", self.back, 60, max_age=100,
                               now=lambda: now[0])
        self.lists.confirmed = {kind: 0.0 for kind in LIST_PATHS}
        self.lists.lists.zal = {p: {SERVICE: ServiceEndpoints(
            f"{dva(p)}/authorize", f"{dva(p)}/token", {"MM": f"{dva(p)}/fhir/{SERVICE}"})}
            for p in PROVIDERS}
        self.app = create_app(config, "mgo", http=self.back, lists=self.lists,
                              clock=ManualClock(1_700_000_000.0))
        base = config.addresses[topology.inspection.hostname]
        self.browser = httpx.AsyncClient(transport=httpx.ASGITransport(self.app), base_url=base)

    async def visit_all(self) -> None:
        """Log in, then let every provider's DVA answer with a code, to the end."""
        start = await self.browser.get("/start")
        relay = parse_qs(urlsplit(start.headers["location"]).query)["RelayState"][0]
        await self.browser.get("/digid/acs", params={"SAMLart": "a", "RelayState": relay})
        while True:
            r = await self.browser.get("/next")
            if r.headers["location"] == "/overview":
                return
            state = parse_qs(urlsplit(r.headers["location"]).query)["state"][0]
            r = await self.browser.get("/oauth/callback", params={"state": state, "code": "c"})
            assert r.status_code == 303, r.text


@pytest.fixture
async def now():
    return [0.0]


@pytest.fixture
async def world(tmp_path, now, monkeypatch):
    async def no_sleep(seconds: float) -> None:
        return None

    monkeypatch.setattr(medmij_client, "_sleep", no_sleep)
    w = World(tmp_path, now)
    async with w.browser, w.back:
        yield w


async def test_the_overview_shows_per_provider_who_answered_and_who_could_not(world) -> None:
    """Rule: one provider's failure (token down, no FHIR answer) or partial answer is its own
    line with the reason; the others are shown as collected; never a failed overview."""
    await world.visit_all()
    lines = {p["provider"]: p for p in (await world.browser.get("/overview")).json()[
        "providers"]}
    assert lines["umcsandbox@medmij"]["status"] == "collected"
    assert lines["ggzsandbox@medmij"]["status"] == "partial"
    assert "Bundle.total is 3, 1 received" in lines["ggzsandbox@medmij"]["reason"]
    assert lines["huisartsdebrug@medmij"]["status"] == "failed"
    assert "token" in lines["huisartsdebrug@medmij"]["reason"]
    assert lines["rivmvaccinaties@medmij"]["status"] == "failed"
    assert "wrong Content-Type text/html" in lines["rivmvaccinaties@medmij"]["reason"]


async def test_the_overview_page_says_which_provider_could_not_deliver(world) -> None:
    """Rule: the person's page shows partial and failed providers in Dutch with the reason."""
    await world.visit_all()
    html = (await world.browser.get("/overview", headers={"Accept": "text/html"})).text
    assert html.count('data-status="partial"') == 1 and html.count('data-status="failed"') == 2
    assert "kon nu niet alle gegevens leveren. Probeer het later opnieuw." in html
    assert "Ophalen is mislukt bij deze zorgaanbieder." in html


async def test_with_lists_too_old_no_provider_is_visited(world, now) -> None:
    """Rule: lists older than the allowed maximum: no DVA is sent the person; every provider
    is a line "could not be reached now" with the reason."""
    now[0] = 101.0
    await world.visit_all()
    lines = (await world.browser.get("/overview")).json()["providers"]
    assert len(lines) == len(PROVIDERS) and not world.peers.token_posts
    assert {p["status"] for p in lines} == {"failed"}
    assert "older than allowed" in lines[0]["reason"]
