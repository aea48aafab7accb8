"""The inspection function (Mijn Gezondheidsoverzicht) in-process: the DigiD return binds only
the browser that started the login (issue 11 item 2), and the function holds no BSN and
forgets everything once the overview is shown or the session expires (item 4).

DigiD's artifact resolution and the registry's localisation are faked on the back-channel
(``httpx.MockTransport``); the fake DigiD answers with the BSN beside the pseudonym, as it did
before, to show the function neither needs nor keeps it.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.runtime.local import LocalRuntime
from simulators.common.clock import ManualClock
from simulators.common.config import SandboxConfig
from simulators.common.security import admin_headers, ensure_admin_token
from simulators.inspection.app import SESSION_SECONDS, create_app
from simulators.medmij.topology import load_topology

pytestmark = pytest.mark.anyio

VICTIM_BSN = "999990019"
VICTIM_PSEUDONYM = "pseudo-victim"
VICTIM_PROVIDERS = [{"provider": "ggzsandbox@medmij", "gegevensdiensten": ["48"]}]


class FakeBackChannel:
    """DigiD ``/artifact`` and the registry's ``/localisation``, recording what was asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.artifacts = {"art-victim": (VICTIM_BSN, VICTIM_PSEUDONYM)}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.url.path)
        if request.url.path == "/artifact":
            form = parse_qs(request.content.decode())
            found = self.artifacts.pop(form.get("artifact", [""])[0], None)
            if found is None:
                return httpx.Response(400, json={"detail": "unknown, used or expired artifact"})
            return httpx.Response(200, json={"bsn": found[0], "localisation_pseudonym": found[1]})
        if request.url.path == "/localisation":
            known = request.url.params.get("pseudonym") == VICTIM_PSEUDONYM
            return httpx.Response(200, json={"providers": VICTIM_PROVIDERS if known else []})
        return httpx.Response(404)


@pytest.fixture
def world(tmp_path: Path):
    topology = load_topology()
    config = SandboxConfig(topology, "loopback", LocalRuntime(Path(".")).addresses(topology, 18400),
                           tmp_path)
    ensure_admin_token(tmp_path)
    fake, clock = FakeBackChannel(), ManualClock(1000.0)
    app = create_app(config, "mgo", http=httpx.AsyncClient(transport=httpx.MockTransport(fake)),
                     clock=clock)
    return app, fake, clock, admin_headers(tmp_path)


def browser(app) -> httpx.AsyncClient:
    """A person's browser: its own cookies, redirects not followed. The app's lifespan (the
    list cache) is not started, as the back-channel is faked."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                             follow_redirects=False)


def relay_state_of(start: httpx.Response) -> str:
    assert start.status_code == 302
    return parse_qs(urlsplit(start.headers["location"]).query)["RelayState"][0]


async def held(app, headers: dict) -> dict:
    r = await browser(app).get("/admin/state", headers=headers)
    assert r.status_code == 200
    return r.json()


async def test_lured_digid_return_binds_neither_attacker_nor_victim(world) -> None:
    """The attacker starts a login and sends the victim the DigiD link with the attacker's
    RelayState; after the victim's DigiD login their browser lands on /digid/acs with it."""
    app, fake, _clock, admin = world
    attacker, victim = browser(app), browser(app)
    attacker_relay = relay_state_of(await attacker.get("/start"))
    lured = f"/digid/acs?SAMLart=art-victim&RelayState={attacker_relay}"

    r = await victim.get(lured)  # victim's browser: no session of its own
    assert r.status_code == 403 and "niet in deze browser" in r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "/artifact" not in fake.calls, "the victim's artifact is not even resolved"

    relay_v = relay_state_of(await victim.get("/start"))  # victim with a login of their own pending
    assert (await victim.get(lured)).status_code == 403
    for who in (attacker, victim):
        assert (await who.get("/next")).status_code == 403
        assert (await who.get("/overview")).status_code == 403
    state = await held(app, admin)
    assert not any(s["logged_in"] or s["queue"] for s in state["held"])
    assert "ggzsandbox" not in json.dumps(state)

    # the victim's own login still works, in the victim's browser only
    own = await victim.get(f"/digid/acs?SAMLart=art-victim&RelayState={relay_v}")
    assert own.status_code == 303
    assert (await attacker.get("/next")).status_code == 403
    assert (await victim.get("/next")).status_code == 303


async def test_relay_state_is_one_time_and_not_the_session_cookie(world) -> None:
    app, fake, _clock, _admin = world
    person = browser(app)
    relay = relay_state_of(await person.get("/start"))
    assert relay != person.cookies.get("mgo_session")
    fake.artifacts["art-2"] = fake.artifacts["art-victim"]
    acs = await person.get(f"/digid/acs?SAMLart=art-victim&RelayState={relay}")
    assert acs.status_code == 303
    replay = await person.get(f"/digid/acs?SAMLart=art-2&RelayState={relay}")
    assert replay.status_code == 403 and fake.calls.count("/artifact") == 1
    # the old design: RelayState = the session id; that no longer binds anything either
    sid = person.cookies.get("mgo_session")
    by_sid = await browser(app).get(f"/digid/acs?SAMLart=art-2&RelayState={sid}")
    assert by_sid.status_code == 403


async def test_function_holds_no_bsn_and_forgets_after_the_overview(world) -> None:
    app, _fake, _clock, admin = world
    person = browser(app)
    relay = relay_state_of(await person.get("/start"))
    acs = await person.get(f"/digid/acs?SAMLart=art-victim&RelayState={relay}")
    assert acs.status_code == 303
    during = json.dumps(await held(app, admin))
    assert "ggzsandbox@medmij" in during, "the state view shows what is held"
    assert VICTIM_BSN not in during and VICTIM_PSEUDONYM not in during
    assert (await person.get("/next")).headers["location"] == "/overview"
    overview = await person.get("/overview")
    assert overview.status_code == 200 and overview.json()["providers"] == []
    assert (await held(app, admin)) == {"sessions": 0, "results_held": 0, "held": []}
    assert (await person.get("/overview")).status_code == 403, "shown once"


async def test_session_expires_with_what_it_held(world) -> None:
    app, _fake, clock, admin = world
    person = browser(app)
    relay = relay_state_of(await person.get("/start"))
    acs = await person.get(f"/digid/acs?SAMLart=art-victim&RelayState={relay}")
    assert acs.status_code == 303
    clock.advance(SESSION_SECONDS + 1)
    assert (await person.get("/next")).status_code == 403
    assert (await held(app, admin))["sessions"] == 0


async def test_admin_state_requires_the_admin_token(world) -> None:
    app, _fake, _clock, _admin = world
    r = await browser(app).get("/admin/state")
    assert r.status_code == 401
    r = await browser(app).get("/admin/state", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401


async def test_digid_refusal_is_a_dutch_page(world) -> None:
    app, _fake, _clock, _admin = world
    person = browser(app)
    relay = relay_state_of(await person.get("/start"))
    r = await person.get(f"/digid/acs?SAMLart=unknown&RelayState={relay}")
    assert r.status_code == 400 and "kon niet worden bevestigd" in r.text
    assert (await person.get("/digid/acs")).status_code == 403
