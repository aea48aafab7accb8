"""A DVA whose MedMij lists are older than the allowed maximum trusts no client on them: it
refuses new authorizations (a page, not a redirect: the redirect_uri cannot be checked against
an OCL it no longer trusts) and /health says how old its lists are (issue 16 item 2)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from simulators.medmij import LIST_PATHS
from tests.simulators.dva.test_dva_role import CLIENT, SLUG

pytestmark = pytest.mark.anyio


def confirmed_ago(dva, seconds: float) -> None:
    """Every list last confirmed by the registry ``seconds`` ago."""
    cache = dva.dva.lists
    cache.now = lambda: 1_000_000.0
    cache.confirmed = {kind: 1_000_000.0 - seconds for kind in LIST_PATHS}
    cache.ready.set()


def authorize(dva) -> str:
    return "/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": CLIENT, "state": "s1", "scope": SLUG,
        "redirect_uri": dva.redirect_uri})


async def test_lists_older_than_allowed_refuse_new_authorizations(dva):
    confirmed_ago(dva, dva.config.topology.list_max_age_seconds + 60)
    async with dva.client() as client:
        refused = await client.get(authorize(dva), headers={"Accept": "text/html"})
        health = (await client.get("/health")).json()
    assert refused.status_code == 503, refused.text
    assert "location" not in refused.headers  # no redirect to an unchecked redirect_uri
    assert health["status"] == "ok" and health["lists_trusted"] is False
    assert health["lists_age_s"] > dva.config.topology.list_max_age_seconds


async def test_fresh_lists_let_the_authorization_through(dva):
    confirmed_ago(dva, 30)
    async with dva.client() as client:
        answer = await client.get(authorize(dva))
        health = (await client.get("/health")).json()
    assert answer.status_code in (302, 303), answer.text  # on to DigiD
    assert health["lists_trusted"] is True and health["lists_age_s"] == 30.0
