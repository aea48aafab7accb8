"""The inspection function (Mijn Gezondheidsoverzicht) gets one-time consent only: it stores
nothing and is not a PGO (issue 15), so the DVA neither offers nor grants long-lived consent."""

from __future__ import annotations

import pytest

from simulators.dva.pages import consent_page
from tests.simulators.dva.test_dva_role import PROVIDER, SLUG, Dva


def _session(dva: Dva, client_id: str, redirect_uri: str) -> dict:
    session_id = dva.grants.start_session(client_id, redirect_uri, SLUG, "st", PROVIDER,
                                          ["48"], None, "browser", "csrf")
    dva.grants.identify(session_id, 7)
    return dva.grants.session(session_id)


@pytest.mark.anyio
async def test_the_inspection_function_never_gets_a_refresh_token(dva):
    """Rule: long-lived consent asked for the inspection function is not granted."""
    mgo = dva.config.topology.inspection.hostname
    redirect_uri = dva.config.public_url(mgo, "/oauth/callback")
    session = _session(dva, mgo, redirect_uri)
    location = dva.dva.answer_consent(session, True, True)
    code = location.split("code=")[1].split("&")[0]
    body = dva.grants.exchange_code(code, mgo, redirect_uri)
    assert "refresh_token" not in body


@pytest.mark.anyio
async def test_a_pgo_still_gets_long_lived_consent(dva):
    session = _session(dva, "pgo-alpha.sandbox.test", dva.redirect_uri)
    location = dva.dva.answer_consent(session, True, True)
    code = location.split("code=")[1].split("&")[0]
    assert "refresh_token" in dva.grants.exchange_code(code, "pgo-alpha.sandbox.test",
                                                       dva.redirect_uri)


@pytest.mark.anyio
async def test_the_consent_screen_for_the_inspection_function_has_its_own_text(dva):
    mgo = dva.config.topology.inspection.hostname
    session = _session(dva, mgo, dva.config.public_url(mgo, "/oauth/callback"))
    provider = dva.config.topology.provider(PROVIDER)
    mgo_page = consent_page("DVA", dva.dva.lists.lists, session, provider, ["48"],
                            long_lived_allowed=dva.dva.may_consent_long_lived(session))
    assert "long_lived" not in mgo_page and "in uw PGO" not in mgo_page
    assert "geen PGO" in mgo_page and "<legend>" in mgo_page
    pgo_page = consent_page("DVA", dva.dva.lists.lists, session, provider, ["48"])
    assert "name='long_lived'" in pgo_page
