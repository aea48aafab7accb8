"""Mijn Gezondheidsoverzicht's pages (issue 15 items 4 and 5): its own consent text without a
long-lived option, a readable overview grouped as in a PGO with the provider's display name,
and a Dutch page (never JSON) on reload or back.

Each test names the rule it guards; removing that rule alone makes it fail.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.simulators.inspection.test_inspection_app import PROVIDER, Peers, World

pytestmark = pytest.mark.anyio
HTML = {"Accept": "text/html,application/xhtml+xml"}
VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'
MEDICATION = {"resourceType": "MedicationRequest", "id": "m1",
              "medicationReference": {"display": "Furosemide 40mg tablet"},
              "authoredOn": "2024-01-02", "dosageInstruction": [{"text": "1x per dag"}]}
CONDITION = {"resourceType": "Condition", "id": "c1", "code": {"text": "Hypertensie"},
             "onsetDateTime": "2017-05-04"}


class RichPeers(Peers):
    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/fhir/"):
            return httpx.Response(200, json={"resourceType": "Bundle", "entry": [
                {"resource": MEDICATION}, {"resource": CONDITION}]})
        return super().__call__(request)


@pytest.fixture
def world(tmp_path) -> World:
    world = World(tmp_path)
    world.peers.__class__ = RichPeers
    return world


async def overview(world: World) -> httpx.Response:
    await world.logged_in()
    go = await world.browser.get("/next")
    state = parse_qs(urlsplit(go.headers["location"]).query)["state"][0]
    await world.browser.get("/oauth/callback", params={"state": state, "code": "c"})
    assert (await world.browser.get("/next")).headers["location"] == "/overview"
    return await world.browser.get("/overview", headers=HTML)


async def test_home_is_its_own_consent_text_without_long_lived_option(world) -> None:
    """Rule: the start page says once, nothing stored, not a PGO; the decision is a
    fieldset with a legend; no long-lived checkbox and no "in uw PGO"."""
    page = (await world.browser.get("/", headers=HTML)).text
    assert "niets bewaard" in page and "geen PGO" in page and "één keer" in page
    assert "<fieldset><legend>" in page and 'action="/start"' in page
    assert "long_lived" not in page and "in uw PGO" not in page
    assert VIEWPORT in page and "<main" in page


async def test_overview_groups_the_data_per_provider_in_plain_words(world) -> None:
    """Rule: the overview shows, per provider by display name, the grouped data in the
    resources' own words (not counts of FHIR types)."""
    r = await overview(world)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    display = world.config.topology.provider(PROVIDER).display \
        if any(p.name == PROVIDER for p in world.config.topology.providers) else PROVIDER
    assert f">{display}</h2>" in r.text
    assert "Furosemide 40mg tablet" in r.text and "Hypertensie" in r.text
    assert ">Medicatie <small>" in r.text and ">Problemen <small>" in r.text
    assert "MedicationRequest" not in r.text and "niet bewaard" in r.text


async def test_reload_and_back_give_a_dutch_page_not_json(world) -> None:
    """Rule: after the overview, reload (/overview) and back (/oauth/callback, /next) are
    Dutch pages with a way back, never JSON, for a browser."""
    await overview(world)
    for path in ("/overview", "/next", "/oauth/callback?state=x&code=y"):
        r = await world.browser.get(path, headers=HTML)
        assert r.status_code == 403 and r.headers["content-type"].startswith("text/html"), path
        assert "overzicht wordt niet bewaard" in r.text and "href='/'" in r.text
        assert VIEWPORT in r.text
