"""The DigiD role in-process (issue 12): sessions and artifacts follow the injected clock
(so ``pgo-sandbox clock advance`` ends them), and errors take two shapes: a Dutch page for
the person, JSON for the back channel and the automation API."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest

from scenarios.useragent import forms
from simulators.common.clock import ManualClock
from simulators.common.config import SandboxConfig
from simulators.common.people import population_for
from simulators.digid.app import ARTIFACT_SECONDS, SESSION_SECONDS, create_app
from simulators.medmij.topology import load_topology

pytestmark = pytest.mark.anyio
DVA = "dva-nexus.sandbox.test"


class World:
    def __init__(self, state_dir: Path) -> None:
        topology = load_topology()
        addresses = {n.hostname: f"http://127.0.0.1:{18400 + i}"
                     for i, n in enumerate(topology.nodes)}
        self.config = SandboxConfig(topology, "loopback", addresses, state_dir)
        self.clock = ManualClock(1_700_000_000.0)
        population = population_for(self.config)
        self.app = create_app(self.config, "digid", population=population, clock=self.clock)
        self.bsn = population.patient(3).bsn
        self.browser = httpx.AsyncClient(transport=httpx.ASGITransport(self.app),
                                         base_url=addresses[topology.digid.hostname])

    def login_url(self, rp: str = DVA, return_to: str | None = None) -> str:
        return_to = return_to or self.config.public_url(rp, "/digid/acs")
        return "/login?" + urlencode({"rp": rp, "return_to": return_to, "RelayState": "r1"})

    async def log_in(self) -> str:
        """Log in with the BSN form; returns the artifact DigiD sends back."""
        page = await self.browser.get(self.login_url())
        form = next(f for f in forms(page.text) if f.action == "/login")
        r = await self.browser.post(urljoin(str(page.url), form.action),
                                    data=dict(form.fields) | {"bsn": self.bsn})
        assert r.status_code == 303, r.text
        return parse_qs(urlsplit(r.headers["location"]).query)["SAMLart"][0]


@pytest.fixture
async def world(tmp_path):
    w = World(tmp_path)
    async with w.browser:
        yield w


async def test_digid_session_ends_when_the_clock_passes_its_lifetime(world) -> None:
    await world.log_in()
    page = await world.browser.get(world.login_url())
    continue_form = next(f for f in forms(page.text) if f.action == "/login/continue")
    world.clock.advance(SESSION_SECONDS + 1)
    page = await world.browser.get(world.login_url())
    assert "Doorgaan als" not in page.text
    r = await world.browser.post(urljoin(str(page.url), continue_form.action),
                                 data=dict(continue_form.fields))
    assert r.status_code == 403 and "niet (meer) ingelogd" in r.text


async def test_artifact_expires_with_the_clock(world) -> None:
    artifact = await world.log_in()
    world.clock.advance(ARTIFACT_SECONDS + 1)
    r = await world.browser.post("/artifact", data={"artifact": artifact, "rp": DVA})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_artifact_resolves_once_within_its_lifetime(world) -> None:
    artifact = await world.log_in()
    world.clock.advance(ARTIFACT_SECONDS - 1)
    r = await world.browser.post("/artifact", data={"artifact": artifact, "rp": DVA})
    assert r.status_code == 200 and r.json() == {"bsn": world.bsn}
    again = await world.browser.post("/artifact", data={"artifact": artifact, "rp": DVA})
    assert again.status_code == 400


async def test_another_relying_party_does_not_spend_the_artifact(world) -> None:
    """An artifact named with another relying party is refused and stays its owner's: the
    wrong caller must not be able to burn a person's login (it was popped before the check)."""
    artifact = await world.log_in()
    wrong = await world.browser.post("/artifact", data={"artifact": artifact,
                                                        "rp": "dva-lumen.sandbox.test"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    own = await world.browser.post("/artifact", data={"artifact": artifact, "rp": DVA})
    assert own.status_code == 200 and own.json() == {"bsn": world.bsn}


async def test_back_channel_errors_are_json(world) -> None:
    artifact = await world.log_in()
    r = await world.browser.post("/artifact", data={"artifact": artifact,
                                                    "rp": "dva-lumen.sandbox.test"})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant",
                        "error_description": "unknown, used or expired artifact"}
    r = await world.browser.post("/artifact", data={"rp": DVA})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await world.browser.get("/api/test-persons", params={"n": 0})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


async def test_unknown_relying_party_is_a_dutch_page(world) -> None:
    r = await world.browser.get(world.login_url(rp="evil.example",
                                                return_to="http://evil.example/acs"))
    assert r.status_code == 400 and "text/html" in r.headers["content-type"]
    assert "lang='nl'" in r.text and "Onbekende website" in r.text


async def test_return_to_off_the_relying_partys_host_is_a_dutch_page(world) -> None:
    r = await world.browser.get(world.login_url(return_to="http://evil.example/acs"))
    assert r.status_code == 400 and "lang='nl'" in r.text and "location" not in r.headers


@pytest.mark.parametrize("port", ["99999", "abc"])
async def test_return_to_with_a_port_that_is_no_port_is_a_dutch_page(world, port) -> None:
    """Rule: a return_to whose port is out of range or not a number is refused as any other
    off-host address (it was a 500: ``urlsplit(...).port`` raises on it)."""
    r = await world.browser.get(world.login_url(return_to=f"http://127.0.0.1:{port}/acs"))
    assert r.status_code == 400 and "lang='nl'" in r.text and "location" not in r.headers


async def test_login_post_without_fields_is_a_dutch_page(world) -> None:
    r = await world.browser.post("/login", data={"rp": DVA})
    assert r.status_code == 400 and "lang='nl'" in r.text
