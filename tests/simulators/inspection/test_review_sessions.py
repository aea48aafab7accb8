"""Review findings 5 and 9 on the inspection function (MGO): an anonymous ``/start`` stores
nothing (the pending login is bound to its browser by an HMAC, not by a table), the admin view
shows counts and never the person's clinical items, and a provider answer with neither code
nor error is refused without a token request. Each test names the rule it guards."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from simulators.inspection.sessions import LOGIN_SECONDS, RESULT_COUNTS
from tests.simulators.inspection.test_inspection_app import DVA, Peers, World

pytestmark = pytest.mark.anyio
CLINICAL = "Depressieve stoornis"  # a diagnosis in plain words, as the overview shows it


class ClinicalPeers(Peers):
    """The fake DVA answers every search with one Condition named in plain words."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/fhir/"):
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset",
                                             "entry": [{"resource": {
                                                 "resourceType": "Condition", "id": "c1",
                                                 "code": {"text": CLINICAL}}}]})
        return super().__call__(request)


@pytest.fixture
async def world(tmp_path):
    w = World(tmp_path)
    w.peers.__class__ = ClinicalPeers  # World builds its Peers inline; same state, new answers
    async with w.browser, w.back:
        yield w


async def _state_for_provider(world: World) -> str:
    assert (await world.logged_in()).status_code == 303
    r = await world.browser.get("/next")
    assert r.status_code == 302 and r.headers["location"].startswith(f"{DVA}/authorize?")
    return parse_qs(urlsplit(r.headers["location"]).query)["state"][0]


async def test_anonymous_starts_store_nothing(world) -> None:
    """Rule (finding 5): ``/start`` keeps no server-side entry for a browser that has not
    logged in; each browser gets a pre-login cookie and a RelayState derived from it."""
    for _ in range(200):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(world.app),
                                     base_url="http://x") as anonymous:
            r = await anonymous.get("/start")
            assert r.status_code == 302 and "mgo_login=" in r.headers["set-cookie"]
    assert world.app.state.sessions.sessions == {}
    state = await world.browser.get("/admin/state", headers=world.admin)
    assert state.json()["sessions"] == 0
    assert (await world.logged_in()).status_code == 303, "a real login still works"
    assert len(world.app.state.sessions.sessions) == 1


async def test_pre_login_cookie_with_another_time_binds_nothing(world) -> None:
    """Rule (finding 5): the RelayState is the HMAC of the whole cookie, its time included;
    an expired pending login whose cookie time is moved up to now does not come back."""
    start = await world.browser.get("/start")
    relay = parse_qs(urlsplit(start.headers["location"]).query)["RelayState"][0]
    cookie = world.browser.cookies["mgo_login"]
    _, _, nonce = cookie.rpartition(".")
    world.clock.advance(LOGIN_SECONDS + 1)
    world.browser.cookies.set("mgo_login", f"{world.clock.now():.3f}.{nonce}")
    r = await world.browser.get("/digid/acs", params={"SAMLart": "art", "RelayState": relay})
    assert r.status_code == 403


async def test_admin_state_shows_counts_not_clinical_items(world) -> None:
    """Rule (finding 9): the admin view shows per provider result only its counts; the
    person's items in plain words stay in the session for the person's own overview."""
    state = await _state_for_provider(world)
    r = await world.browser.get("/oauth/callback", params={"state": state, "code": "c"})
    assert r.status_code == 303
    admin = (await world.browser.get("/admin/state", headers=world.admin)).json()
    assert admin["results_held"] == 1
    [result] = admin["held"][0]["results"]
    assert set(result) <= set(RESULT_COUNTS) and result["resources"] >= 1
    assert CLINICAL not in json.dumps(admin) and "groups" not in json.dumps(admin)
    overview = await world.browser.get("/overview", headers={"accept": "application/json"})
    assert CLINICAL in overview.text, "the person still sees what was found"


async def test_callback_without_code_or_error_is_refused_without_a_token_request(
        world) -> None:
    """Rule (finding 9): neither ``code`` nor ``error`` is a Dutch error page; the token
    endpoint is not called with an empty code, and the state is used up."""
    state = await _state_for_provider(world)
    r = await world.browser.get("/oauth/callback", params={"state": state},
                                headers={"accept": "text/html"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "geen code en geen foutmelding" in r.text and "lang='nl'" in r.text
    assert world.peers.tokens == []
    again = await world.browser.get("/oauth/callback", params={"state": state, "code": "c"})
    assert again.status_code == 400 and world.peers.tokens == []
