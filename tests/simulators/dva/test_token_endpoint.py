"""The DVA's token endpoint and grant clock in process: clear errors for client mistakes
(issue 13 item 7) and the injected clock deciding code and token lifetimes (issue 12)."""

from __future__ import annotations

import httpx
import pytest

from simulators.common.clock import ManualClock
from simulators.dva.grants import CODE_SECONDS, GrantError, GrantStore
from simulators.medmij import SCOPE_GRAMMAR, OAuthError
from tests.simulators.dva.test_dva_role import CLIENT, PROVIDER, SLUG, Dva


def _code(dva: Dva) -> str:
    session_id = dva.grants.start_session(CLIENT, dva.redirect_uri, SLUG, "st", PROVIDER,
                                          ["48"], None, "browser", "csrf")
    dva.grants.identify(session_id, 7)
    return dva.grants.issue_code(dva.grants.session(session_id), False)


@pytest.mark.anyio
async def test_a_json_token_request_is_invalid_request_naming_the_form_encoding(dva):
    """Rule: a non-form body is ``invalid_request`` saying what to send, not
    ``invalid_client`` (the client is on the OCL and Whitelist)."""
    body = {"grant_type": "authorization_code", "code": _code(dva), "client_id": CLIENT,
            "redirect_uri": dva.redirect_uri}
    async with dva.client() as client:
        r = await client.post("/oauth/token", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == OAuthError.INVALID_REQUEST
    assert "application/x-www-form-urlencoded" in r.json()["error_description"]
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.anyio
async def test_the_form_encoded_request_still_exchanges_the_code(dva):
    body = {"grant_type": "authorization_code", "code": _code(dva), "client_id": CLIENT,
            "redirect_uri": dva.redirect_uri}
    async with dva.client() as client:
        r = await client.post("/oauth/token", data=body)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"].lower() == "bearer" and r.json()["access_token"]


@pytest.mark.anyio
async def test_a_parameter_given_twice_is_invalid_request(dva):
    """Rule: RFC 6749 section 3.2, request parameters must not be included more than once."""
    content = (f"grant_type=authorization_code&code={_code(dva)}&code=other"
               f"&client_id={CLIENT}&redirect_uri={dva.redirect_uri}")
    async with dva.client() as client:
        r = await client.post("/oauth/token", content=content,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json()["error"] == OAuthError.INVALID_REQUEST
    assert "more than once" in r.json()["error_description"]


@pytest.mark.anyio
async def test_an_unknown_scope_names_the_expected_grammar(dva):
    """Rule: ``invalid_scope`` tells the client the scope grammar it must use."""
    params = {"response_type": "code", "client_id": CLIENT, "redirect_uri": dva.redirect_uri,
              "scope": "umcsandbox:48", "state": "s1"}
    async with dva.client() as client:
        r = await client.get("/oauth/authorize", params=params)
    assert r.status_code in (302, 303), r.text
    query = httpx.URL(r.headers["location"]).params
    assert query["error"] == OAuthError.INVALID_SCOPE and query["state"] == "s1"
    assert SCOPE_GRAMMAR in query["error_description"]


def test_the_grant_store_keeps_time_by_the_injected_clock(tmp_path):
    """Rule: codes expire by the clock the DVA was given, not the process's own time."""
    clock = ManualClock(1_900_000_000.0)
    grants = GrantStore(tmp_path / "g.sqlite", clock)
    session_id = grants.start_session(CLIENT, "http://x/cb", SLUG, "st", PROVIDER, ["48"],
                                      None, "browser", "csrf")
    grants.identify(session_id, 7)
    code = grants.issue_code(grants.session(session_id), False)
    clock.advance(CODE_SECONDS + 1)
    with pytest.raises(GrantError) as refused:
        grants.exchange_code(code, CLIENT, "http://x/cb")
    assert refused.value.error == OAuthError.INVALID_GRANT
    grants.db.close()
