"""The DigiD simulator, in-process (issue 11 items 1, 4 and 6): single sign-on shows who is
logged in and needs a click, every form post carries a CSRF token and comes from DigiD's own
origin, and the inspection function gets a pseudonym, never the BSN."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest

from scenarios.useragent import forms
from simulators.common import pseudonym
from simulators.common.config import SandboxConfig
from simulators.common.people import population_for
from simulators.digid.app import create_app
from simulators.medmij.topology import load_topology

DVA = "dva-nexus.sandbox.test"
FOREIGN = "http://127.0.0.1:9"


class DigiD:
    def __init__(self, state_dir) -> None:
        topology = load_topology()
        addresses = {n.hostname: f"http://127.0.0.1:{18400 + i}"
                     for i, n in enumerate(topology.nodes)}
        self.config = SandboxConfig(topology, "loopback", addresses, state_dir)
        self.app = create_app(self.config, "digid")
        self.base = addresses[topology.digid.hostname]
        population = population_for(self.config)
        self.persons = [population.patient(i) for i in (3, 4)]
        self.clients: list[httpx.AsyncClient] = []

    def browser(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(self.app), base_url=self.base)
        self.clients.append(client)
        return client

    def login_url(self, rp: str = DVA, relay_state: str = "relay-1") -> str:
        return_to = self.config.public_url(rp, "/digid/acs")
        return "/login?" + urlencode({"rp": rp, "return_to": return_to,
                                      "RelayState": relay_state})


@pytest.fixture
async def digid(tmp_path):
    sim = DigiD(tmp_path)
    yield sim
    for client in sim.clients:
        await client.aclose()


def form(page: httpx.Response, action: str) -> tuple[str, dict[str, str], list]:
    found = [f for f in forms(page.text) if f.action == action]
    assert found, f"no form to {action}: {page.text[:300]}"
    return urljoin(str(page.url), found[0].action), dict(found[0].fields), found[0].buttons


async def log_in(browser: httpx.AsyncClient, sim: DigiD, bsn: str, **post) -> httpx.Response:
    page = await browser.get(sim.login_url())
    url, data, _ = form(page, "/login")
    return await browser.post(url, data=data | {"bsn": bsn}, **post)


def returned(r: httpx.Response, sim: DigiD, rp: str = DVA) -> dict[str, str]:
    assert r.status_code == 303, (r.status_code, r.text[:300])
    target = r.headers["location"]
    assert target.startswith(sim.config.public_url(rp, "/digid/acs"))
    return {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}


def assert_refused(r: httpx.Response) -> None:
    assert r.status_code == 403, (r.status_code, r.text[:300])
    assert "location" not in r.headers and "lang='nl'" in r.text
    assert "niet toegestaan" in r.text


async def resolve(sim: DigiD, artifact: str, rp: str = DVA) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(sim.app),
                                 base_url=sim.base) as client:
        return await client.post("/artifact", data={"artifact": artifact, "rp": rp})


# login without a DigiD session ---------------------------------------------------------------

@pytest.mark.anyio
async def test_login_page_has_the_bsn_form_with_a_csrf_token_and_safe_headers(digid):
    page = await digid.browser().get(digid.login_url())
    assert page.status_code == 200
    url, data, _ = form(page, "/login")
    assert data["csrf_token"] and data["RelayState"] == "relay-1"
    assert "name='bsn'" in page.text and "/login/continue" not in page.text
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("digid_csrf=") and "httponly" in cookie.lower()
    # item 6: not framable, not cached
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "no-store" in page.headers["cache-control"]


@pytest.mark.anyio
async def test_bsn_login_returns_an_artifact_for_that_person(digid):
    person = digid.persons[0]
    browser = digid.browser()
    r = await log_in(browser, digid, person.bsn)
    back = returned(r, digid)
    assert back["RelayState"] == "relay-1"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("digid_session=") and "samesite=lax" in cookie.lower()
    assert (await resolve(digid, back["SAMLart"])).json() == {"bsn": person.bsn}


@pytest.mark.anyio
@pytest.mark.parametrize("attempt", ["no csrf", "wrong csrf", "no cookie", "foreign origin",
                                     "foreign referer"])
async def test_bsn_login_cannot_be_posted_cross_site(digid, attempt):
    """Login CSRF: a page elsewhere cannot log the browser in as someone else."""
    browser = digid.browser()
    page = await browser.get(digid.login_url())
    url, data, _ = form(page, "/login")
    data["bsn"] = digid.persons[0].bsn
    headers: dict[str, str] = {}
    poster = browser
    if attempt == "no csrf":
        del data["csrf_token"]
    elif attempt == "wrong csrf":
        data["csrf_token"] = "0" * len(data["csrf_token"])
    elif attempt == "no cookie":
        poster = digid.browser()
    elif attempt == "foreign origin":
        headers["Origin"] = FOREIGN
    elif attempt == "foreign referer":
        headers["Referer"] = f"{FOREIGN}/evil"
    r = await poster.post(url, data=data, headers=headers)
    assert_refused(r)
    assert "digid_session" not in r.headers.get("set-cookie", "")


# single sign-on: shown, and confirmed by a click -----------------------------------------------

@pytest.mark.anyio
async def test_single_sign_on_shows_who_is_logged_in_and_needs_a_click(digid):
    person = digid.persons[0]
    browser = digid.browser()
    returned(await log_in(browser, digid, person.bsn), digid)
    page = await browser.get(digid.login_url(relay_state="relay-2"))
    assert page.status_code == 200  # no silent pass-through
    name = f"{person.given} {person.family}"
    assert f"U bent ingelogd als <strong>{name}</strong> (BSN {person.bsn})" in page.text
    first = forms(page.text)[0]
    assert first.action == "/login/continue" and first.method == "post"
    assert ("continue", "yes") in first.buttons
    assert {"rp", "return_to", "RelayState", "csrf_token"} <= set(first.fields)
    form(page, "/login")  # logging in as someone else stays possible
    r = await browser.post(urljoin(str(page.url), first.action),
                           data=first.fields | {"continue": "yes"})
    back = returned(r, digid)
    assert back["RelayState"] == "relay-2"
    assert (await resolve(digid, back["SAMLart"])).json() == {"bsn": person.bsn}


@pytest.mark.anyio
async def test_logging_in_as_someone_else_replaces_the_session(digid):
    first, second = digid.persons
    browser = digid.browser()
    returned(await log_in(browser, digid, first.bsn), digid)
    page = await browser.get(digid.login_url())
    url, data, _ = form(page, "/login")
    back = returned(await browser.post(url, data=data | {"bsn": second.bsn}), digid)
    assert (await resolve(digid, back["SAMLart"])).json() == {"bsn": second.bsn}
    page = await browser.get(digid.login_url())
    assert f"(BSN {second.bsn})" in page.text


@pytest.mark.anyio
@pytest.mark.parametrize("attempt", ["no csrf", "wrong csrf", "no session", "foreign origin",
                                     "null origin"])
async def test_continue_needs_the_session_its_token_and_our_origin(digid, attempt):
    browser = digid.browser()
    returned(await log_in(browser, digid, digid.persons[0].bsn), digid)
    page = await browser.get(digid.login_url())
    url, data, _ = form(page, "/login/continue")
    data["continue"] = "yes"
    headers: dict[str, str] = {}
    poster = browser
    if attempt == "no csrf":
        del data["csrf_token"]
    elif attempt == "wrong csrf":
        data["csrf_token"] = "0" * len(data["csrf_token"])
    elif attempt == "no session":
        poster = digid.browser()
    elif attempt == "foreign origin":
        headers["Origin"] = FOREIGN
    elif attempt == "null origin":
        headers["Origin"] = "null"
    assert_refused(await poster.post(url, data=data, headers=headers))
    # the person's own click still works
    returned(await browser.post(url, data=form(page, "/login/continue")[1] | {"continue": "yes"},
                                headers={"Origin": digid.base}), digid)


# item 4: the inspection function gets no BSN --------------------------------------------------

@pytest.mark.anyio
async def test_inspection_function_gets_only_the_localisation_pseudonym(digid):
    topology = digid.config.topology
    rp = topology.inspection.hostname
    person = digid.persons[0]
    browser = digid.browser()
    page = await browser.get(digid.login_url(rp=rp))
    url, data, _ = form(page, "/login")
    back = returned(await browser.post(url, data=data | {"bsn": person.bsn}), digid, rp=rp)
    answer = (await resolve(digid, back["SAMLart"], rp=rp)).json()
    assert set(answer) == {"localisation_pseudonym"}
    assert person.bsn not in str(answer)
    assert pseudonym.reveal(digid.config.secret, topology.registry.hostname,
                            answer["localisation_pseudonym"]) == person.bsn
    assert pseudonym.reveal(digid.config.secret, rp, answer["localisation_pseudonym"]) is None
