"""DigiD's pages (issue 15 items 4 and 5): the login page offers test persons with data at
the relying party's providers, the first with hospital data, each with where they have data
and a button to log in as them; the root is a page, not a JSON 404.

Each test names the rule it guards; removing that rule alone makes it fail.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from scenarios.useragent import forms
from tests.simulators.digid.test_digid_app import DVA, World

pytestmark = pytest.mark.anyio
VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'


@pytest.fixture
async def world(tmp_path):
    w = World(tmp_path)
    async with w.browser:
        yield w


def listed(page: str) -> list[tuple[str, str]]:
    """(BSN, "Gegevens bij" cell) of each row of the test persons' table."""
    return re.findall(r"<td>(\d{9})</td><td>([^<]*)</td>", page)


async def test_the_first_listed_person_has_hospital_data(world) -> None:
    """Rule: for a DVA's login the persons offered have data at its providers, most first:
    the first listed has data at UMC Sandbox (the README's browser walk)."""
    page = (await world.browser.get(world.login_url())).text
    rows = listed(page)
    assert rows and "UMC Sandbox" in rows[0][1], rows
    nexus = {"UMC Sandbox", "Huisartsenpraktijk De Brug"}
    assert all(nexus & set(cell.split(", ")) for _, cell in rows)


async def test_each_person_shows_where_they_have_data(world) -> None:
    """Rule: every listed person's row names the providers (display names) holding data."""
    population = world.app.state.digid.population
    topology = world.config.topology
    page = (await world.browser.get(world.login_url(rp=topology.inspection.hostname))).text
    for bsn, cell in listed(page):
        index = population.index_of(bsn)
        expected = [topology.provider(h).display for h in population.holders(index)]
        assert cell == ", ".join(expected), (bsn, cell)


async def test_a_persons_button_logs_in_as_them(world) -> None:
    """Rule: the "Kies" button of a row posts that person's BSN with the page's CSRF token
    and DigiD sends the browser back with an artifact; the BSN form stays the first form."""
    page = await world.browser.get(world.login_url())
    login_forms = [f for f in forms(page.text) if f.action == "/login"]
    assert "bsn" in login_forms[0].fields and login_forms[0].fields["bsn"] == ""
    row = login_forms[1]
    assert row.fields["bsn"] == listed(page.text)[0][0] and row.fields["csrf_token"]
    r = await world.browser.post("/login", data=row.fields)
    assert r.status_code == 303 and "SAMLart" in parse_qs(urlsplit(r.headers["location"]).query)


async def test_pages_are_accessible_and_the_root_is_a_page(world) -> None:
    """Rule: login page and root have the viewport meta, landmarks, a labelled BSN field and
    table headers with scope; the root answers a Dutch page (no JSON 404)."""
    page = (await world.browser.get(world.login_url())).text
    assert VIEWPORT in page and "<main" in page and "<label for=\"bsn\">" in page
    assert "<th>" not in page and 'scope="col"' in page
    root = await world.browser.get("/")
    assert root.status_code == 200 and root.headers["content-type"].startswith("text/html")
    assert "Testpersonen" in root.text and VIEWPORT in root.text
    assert DVA not in root.text
