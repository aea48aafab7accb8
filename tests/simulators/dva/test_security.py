"""The DVA's consent is the patient's own click (issue 11 items 1, 5, 6), in-process.

A DVA, DigiD and a stand-in registry run as ASGI apps in this process; one transport routes each
``http://127.0.0.1:<port>`` to its app, so a test can play two browsers (attacker and victim) with
their own cookies. The module also holds the harness the other ``test_dva_`` modules use.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from scenarios.useragent import forms
from simulators.common.config import SandboxConfig
from simulators.common.lists import PATHS
from simulators.digid.app import create_app as create_digid
from simulators.dva.app import create_app as create_dva
from simulators.medmij.topology import load_topology
from simulators.registry.state import RegistryState

HOSPITAL = "umcsandbox@medmij"  # served by dva-nexus
CLIENT = "pgo-alpha.sandbox.test"
DVA_ID = "dva-nexus"
COOKIE = f"{DVA_ID}_authz"



class Routed(httpx.AsyncBaseTransport):
    """Sends each request to the in-process app serving its ``host:port``."""

    def __init__(self, apps: dict[str, object]) -> None:
        self.transports = {netloc: httpx.ASGITransport(app) for netloc, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.transports.get(request.url.netloc.decode())
        if transport is None:
            raise httpx.ConnectError(f"nothing serves {request.url.netloc!r}", request=request)
        return await transport.handle_async_request(request)


class Net:
    """The default topology's DVA ``dva-nexus``, DigiD and a registry serving ``self.registry``'s
    lists (edit it, then ``await refresh_lists()``, to change what the DVA knows)."""

    def __init__(self, state_dir: Path) -> None:
        topology = load_topology()
        addresses = {n.hostname: f"http://127.0.0.1:{18400 + i}"
                     for i, n in enumerate(topology.nodes)}
        self.config = SandboxConfig(topology, "loopback", addresses, state_dir)
        self.registry = RegistryState(self.config, None)
        self.dva_app = create_dva(self.config, DVA_ID)
        self.dva = self.dva_app.state.dva
        self.digid_app = create_digid(self.config, "digid")
        routes = [Route(path, self._list_route(kind)) for kind, path in PATHS.items()]
        apps = {
            self.netloc(topology.registry.hostname): Starlette(routes=routes),
            self.netloc(topology.digid.hostname): self.digid_app,
            self.netloc(self.dva.hostname): self.dva_app,
        }
        self.transport = Routed(apps)
        self.dva.client = self.dva.lists.client = httpx.AsyncClient(transport=self.transport)
        self.clients: list[httpx.AsyncClient] = [self.dva.client]
        population = self.dva.source.population
        self.bsns = [population.patient(population.find(HOSPITAL, start)).bsn
                     for start in (0, 50)]

    def netloc(self, hostname: str) -> str:
        return urlsplit(self.config.addresses[hostname]).netloc

    def _list_route(self, kind: str):
        async def serve(request) -> Response:
            return Response(self.registry.render(kind), media_type="application/xml")
        return serve

    async def refresh_lists(self) -> None:
        await self.dva.lists.refresh()

    def browser(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=self.transport)
        self.clients.append(client)
        return client

    def url(self, node: str, path: str) -> str:
        return self.config.public_url(self.config.topology.node(node).hostname, path)

    def redirect_uri(self, dvp: str = "pgo-alpha") -> str:
        return self.url(dvp, "/oauth/callback")

    def authorize_url(self, scope: str = "umcsandbox", state: str = "s1",
                      redirect_uri: str | None = None, client: str = CLIENT) -> str:
        return self.url(DVA_ID, "/oauth/authorize") + "?" + urlencode({
            "response_type": "code", "client_id": client, "state": state, "scope": scope,
            "redirect_uri": redirect_uri or self.redirect_uri()})

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()
        self.dva.grants.db.close()
        self.dva.source.close()


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def location(r: httpx.Response) -> str:
    assert r.status_code in (302, 303), (r.status_code, r.text[:300])
    return urljoin(str(r.url), r.headers["location"])


def form_data(page: httpx.Response, action: str) -> tuple[str, dict[str, str]]:
    """The URL and hidden fields of the page's first form posting to ``action``."""
    found = [f for f in forms(page.text) if f.action.endswith(action)]
    assert found, f"no form to {action} on {page.url}: {page.text[:300]}"
    return urljoin(str(page.url), found[0].action), dict(found[0].fields)


async def login_at_digid(browser: httpx.AsyncClient, login_url: str, bsn: str) -> str:
    """The person logs in at DigiD with a BSN (or, with a DigiD session, presses "Doorgaan");
    returns the URL DigiD sends the browser back to."""
    page = await browser.get(login_url)
    assert page.status_code == 200, page.text[:300]
    if "/login/continue" in page.text:
        url, data = form_data(page, "/login/continue")
        return location(await browser.post(url, data=data | {"continue": "yes"}))
    url, data = form_data(page, "/login")
    return location(await browser.post(url, data=data | {"bsn": bsn}))


async def consent_screen(net: Net, browser: httpx.AsyncClient, bsn: str,
                         scope: str = "umcsandbox") -> httpx.Response:
    """authorize -> DigiD -> the DVA's consent (or confirmation) screen, in one browser."""
    r = await browser.get(net.authorize_url(scope))
    acs = await login_at_digid(browser, location(r), bsn)
    page = await browser.get(acs)
    assert page.status_code == 200, page.text[:300]
    return page


async def allow(browser: httpx.AsyncClient, page: httpx.Response, long_lived: bool = False,
                **extra) -> httpx.Response:
    url, data = form_data(page, "/oauth/consent")
    data |= {"decision": "allow"} | ({"long_lived": "on"} if long_lived else {})
    return await browser.post(url, data=data, **extra)


def code_of(net: Net, r: httpx.Response) -> str:
    target = location(r)
    assert target.startswith(net.redirect_uri()), target
    return parse_qs(urlsplit(target).query)["code"][0]


def codes_issued(net: Net) -> int:
    return net.dva.grants.db.execute("SELECT COUNT(*) FROM code").fetchone()[0]


def assert_refused_page(r: httpx.Response) -> None:
    """A Dutch page for the person: no redirect (so no code), 403."""
    assert r.status_code == 403, (r.status_code, r.text[:300])
    assert "location" not in r.headers
    assert r.headers["content-type"].startswith("text/html")
    assert "lang='nl'" in r.text and "Niet toegestaan" in r.text


async def tokens(net: Net, long_lived: bool = True, bsn_index: int = 0) -> dict:
    """A token response for the person's consent, given in their own browser."""
    browser = net.browser()
    page = await consent_screen(net, browser, net.bsns[bsn_index])
    code = code_of(net, await allow(browser, page, long_lived=long_lived))
    r = await browser.post(net.url(DVA_ID, "/oauth/token"), data={
        "grant_type": "authorization_code", "code": code, "client_id": CLIENT,
        "redirect_uri": net.redirect_uri()})
    assert r.status_code == 200, r.text
    return r.json()


async def read_patient(net: Net, access_token: str, query: str = "") -> httpx.Response:
    async with httpx.AsyncClient(transport=net.transport) as client:
        return await client.get(net.url(DVA_ID, f"/fhir/umcsandbox/48/Patient{query}"),
                                headers={"Authorization": f"Bearer {access_token}"})


async def refresh(net: Net, refresh_token: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=net.transport) as client:
        return await client.post(net.url(DVA_ID, "/oauth/token"), data={
            "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT})


# item 1: the legitimate path ------------------------------------------------------------------

@pytest.mark.anyio
async def test_person_in_own_browser_gets_code_and_the_binding_cookie_is_safe(net):
    browser = net.browser()
    r = await browser.get(net.authorize_url())
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower() and "path=/" in cookie.lower()
    acs = await login_at_digid(browser, location(r), net.bsns[0])
    page = await browser.get(acs)
    url, data = form_data(page, "/oauth/consent")
    assert data["csrf_token"] and data["session_id"]
    assert code_of(net, await allow(browser, page))


# item 1: the review's exploit ------------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("victim_has_digid_session", [True, False])
async def test_attackers_relaystate_never_gives_a_code_for_the_victim(net,
                                                                      victim_has_digid_session):
    """The review's exploit: the attacker starts an authorization in their own browser, sends
    the victim (logged in at DigiD a minute ago, or not) the DigiD URL with the attacker's
    RelayState, then posts the consent with the session id. Nothing yields a code."""
    attacker, victim = net.browser(), net.browser()
    if victim_has_digid_session:  # the victim used DigiD recently: single sign-on
        page = await consent_screen(net, victim, net.bsns[1])
        code_of(net, await allow(victim, page))
    before = codes_issued(net)

    r = await attacker.get(net.authorize_url(state="attacker"))
    login_url = location(r)
    session_id = parse_qs(urlsplit(login_url).query)["RelayState"][0]

    acs = await login_at_digid(victim, login_url, net.bsns[1])
    assert parse_qs(urlsplit(acs).query)["RelayState"] == [session_id]
    assert_refused_page(await victim.get(acs))

    for poster, extra in ((attacker, {}), (net.browser(), {})):  # with and without the cookie
        r = await poster.post(net.url(DVA_ID, "/oauth/consent"), data={
            "session_id": session_id, "decision": "allow", "long_lived": "on", **extra})
        assert r.status_code in (400, 403) and "location" not in r.headers
    assert codes_issued(net) == before
    assert net.dva.grants.session(session_id)["patient_index"] is None  # nobody identified


@pytest.mark.anyio
async def test_victims_digid_return_is_refused_before_the_artifact_is_resolved(net):
    """A stranger's browser at /digid/acs: the DVA does not identify anyone for the session."""
    attacker, victim = net.browser(), net.browser()
    login_url = location(await attacker.get(net.authorize_url()))
    acs = await login_at_digid(victim, login_url, net.bsns[0])
    assert_refused_page(await victim.get(acs))
    # the artifact was not spent: the right browser could still use it
    assert (await attacker.get(acs)).status_code == 200


# item 1: every refusal of the consent post, each with everything else right ----------------------

FOREIGN = "http://127.0.0.1:9"


@pytest.mark.anyio
@pytest.mark.parametrize("attempt", [
    "no cookie", "wrong cookie", "no csrf", "wrong csrf", "foreign origin", "foreign referer",
    "null origin",
])
async def test_consent_post_is_refused_and_the_session_stays_unanswered(net, attempt):
    browser = net.browser()
    page = await consent_screen(net, browser, net.bsns[0])
    url, data = form_data(page, "/oauth/consent")
    data["decision"] = "allow"
    headers: dict[str, str] = {}
    poster = browser
    if attempt in ("no cookie", "wrong cookie"):
        poster = net.browser()
        if attempt == "wrong cookie":  # the cookie's name and shape, another secret
            poster.cookies.set(COOKIE, "x" * 43)
    elif attempt == "no csrf":
        del data["csrf_token"]
    elif attempt == "wrong csrf":
        data["csrf_token"] = data["csrf_token"][:-1] + ("A" if data["csrf_token"][-1] != "A"
                                                        else "B")
    elif attempt == "foreign origin":
        headers["Origin"] = FOREIGN
    elif attempt == "foreign referer":
        headers["Referer"] = f"{FOREIGN}/evil"
    elif attempt == "null origin":
        headers["Origin"] = "null"
    assert_refused_page(await poster.post(url, data=data, headers=headers))
    assert codes_issued(net) == 0
    # not consumed: the person's own answer still works
    own = {"Origin": net.config.addresses["dva-nexus.sandbox.test"],
           "Referer": str(page.url)}
    assert code_of(net, await allow(browser, page, headers=own))


@pytest.mark.anyio
async def test_bevestigingsverklaring_is_bound_too(net):
    """Delen: the confirmation screen posts to the same consent endpoint with a CSRF token."""
    browser = net.browser()
    page = await consent_screen(net, browser, net.bsns[0], scope="umcsandbox~53")
    assert "Bevestigingsverklaring" in page.text
    url, data = form_data(page, "/oauth/consent")
    assert data["csrf_token"]
    assert_refused_page(await net.browser().post(url, data=data | {"decision": "allow"}))
    assert_refused_page(await browser.post(url, data={"session_id": data["session_id"],
                                                      "decision": "allow"}))
    assert code_of(net, await allow(browser, page))


# item 5: refresh-token reuse revokes the grant ------------------------------------------------

@pytest.mark.anyio
async def test_replayed_refresh_token_revokes_the_whole_grant(net):
    first = await tokens(net)
    r = await refresh(net, first["refresh_token"])
    assert r.status_code == 200
    second = r.json()
    assert (await read_patient(net, second["access_token"])).status_code == 200

    replay = await refresh(net, first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"

    assert (await read_patient(net, second["access_token"])).status_code == 401
    assert (await read_patient(net, first["access_token"])).status_code == 401
    again = await refresh(net, second["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


# item 6: security headers on the consent screen ---------------------------------------------

@pytest.mark.anyio
async def test_consent_screen_cannot_be_framed_or_cached(net):
    page = await consent_screen(net, net.browser(), net.bsns[0])
    assert page.headers["x-frame-options"] == "DENY"
    assert re.search(r"frame-ancestors 'none'", page.headers["content-security-policy"])
    assert "no-store" in page.headers["cache-control"]
