"""The authorization-side faults at the DVA (issue 16), each answered as the real step would:
with the step's own OAuth error, at the place a client meets it. In process, on the
``test_security`` network (a DVA, DigiD and a registry); faults are set in the nodes' books."""

from __future__ import annotations

import httpx
import pytest

from simulators.medmij import OAuthError
from tests.simulators.dva.test_security import (
    CLIENT,
    DVA_ID,
    allow,
    consent_screen,
    location,
    login_at_digid,
    query,
    read_patient,
    refresh,
    tokens,
)

pytestmark = pytest.mark.anyio


def dva_faults(net):
    return net.dva_app.state.faults


def fired(net, kind: str) -> list[dict]:
    return [e for e in net.dva_app.state.events.since(0)
            if e["kind"] == "fault" and e["name"] == kind]


async def authorize(net, browser: httpx.AsyncClient) -> httpx.Response:
    return await browser.get(net.authorize_url(), headers={"X-Correlation-ID": "corr-auth"})


async def test_unknown_provider_is_invalid_scope_at_the_clients_redirect_uri(net):
    """Rule: unknown_provider answers as a scope naming no provider of this DVA."""
    dva_faults(net).add("unknown_provider", {"provider": "umcsandbox@medmij"}, count=1)
    r = await authorize(net, net.browser())
    target = location(r)
    assert target.startswith(net.redirect_uri())
    assert query(target)["error"] == OAuthError.INVALID_SCOPE and query(target)["state"] == "s1"
    assert fired(net, "unknown_provider")[0]["corr"] == "corr-auth"
    again = await authorize(net, net.browser())  # count 1: the next one goes to DigiD
    assert "/login?" in location(again)


async def test_client_not_on_ocl_is_refused_without_redirect_and_at_the_token_endpoint(net):
    """Rule: client_not_on_ocl answers as the OCL check does: a page for the person (no
    redirect to an untrusted client), 401 invalid_client at the token endpoint."""
    dva_faults(net).add("client_not_on_ocl", {"client": "pgo-alpha"}, count=2)
    r = await authorize(net, net.browser())
    assert r.status_code == 400 and "location" not in r.headers
    assert "OAuth Client List" in r.text
    async with httpx.AsyncClient(transport=net.transport) as client:
        t = await client.post(net.url(DVA_ID, "/oauth/token"), data={
            "grant_type": "authorization_code", "code": "x", "client_id": CLIENT,
            "redirect_uri": net.redirect_uri()})
    assert t.status_code == 401 and t.json()["error"] == OAuthError.INVALID_CLIENT


async def test_temporarily_unavailable_redirects_with_the_oauth_error_and_state(net):
    """Rule: temporarily_unavailable is RFC 6749 4.1.2.1's error at the redirect_uri."""
    dva_faults(net).add("temporarily_unavailable", count=1)
    target = location(await authorize(net, net.browser()))
    assert query(target)["error"] == OAuthError.TEMPORARILY_UNAVAILABLE
    assert query(target)["state"] == "s1"


async def test_no_data_makes_the_availability_check_find_nothing(net):
    """Rule: no_data: after DigiD the provider holds nothing for the person: access_denied."""
    dva_faults(net).add("no_data", {"person": net.bsns[0]}, count=1)
    browser = net.browser()
    acs = await login_at_digid(browser, location(await authorize(net, browser)), net.bsns[0])
    target = location(await browser.get(acs))
    assert query(target)["error"] == OAuthError.ACCESS_DENIED
    assert query(target)["error_description"] == "No such resources."


async def test_consent_refused_is_access_denied_and_only_for_the_person_matched(net):
    """Rule: consent_refused answers as the person's "no"; a fault for another person does
    not fire (match by person, as BSN)."""
    dva_faults(net).add("consent_refused", {"person": net.bsns[1]}, count=1)
    browser = net.browser()
    other = await allow(browser, await consent_screen(net, browser, net.bsns[0]))
    assert "code" in query(location(other))  # bsns[0] is not matched
    browser = net.browser()
    r = await allow(browser, await consent_screen(net, browser, net.bsns[1]))
    assert query(location(r))["error"] == OAuthError.ACCESS_DENIED
    assert query(location(r))["state"] == "s1"


async def test_code_expired_is_invalid_grant_and_spends_the_code(net):
    """Rule: code_expired answers as an expired code: invalid_grant, and the code is used."""
    browser = net.browser()
    r = await allow(browser, await consent_screen(net, browser, net.bsns[0]))
    code = query(location(r))["code"]
    dva_faults(net).add("code_expired", count=1)
    form = {"grant_type": "authorization_code", "code": code, "client_id": CLIENT,
            "redirect_uri": net.redirect_uri()}
    async with httpx.AsyncClient(transport=net.transport) as client:
        first = await client.post(net.url(DVA_ID, "/oauth/token"), data=form)
        second = await client.post(net.url(DVA_ID, "/oauth/token"), data=form)
    assert first.status_code == 400 and first.json() == {
        "error": OAuthError.INVALID_GRANT, "error_description": "Authorization code expired."}
    assert second.json()["error_description"] == "Authorization code already used."


async def test_refresh_refused_is_invalid_grant_and_changes_nothing(net):
    """Rule: refresh_refused refuses a valid refresh token once; the consent stays."""
    body = await tokens(net, long_lived=True)
    dva_faults(net).add("refresh_refused", {"client": CLIENT}, count=1)
    refused = await refresh(net, body["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == OAuthError.INVALID_GRANT
    assert (await refresh(net, body["refresh_token"])).status_code == 200


async def test_token_expired_is_401_invalid_token_once(net):
    """Rule: token_expired answers as an expired access token (RFC 6750 invalid_token)."""
    access = (await tokens(net, long_lived=False))["access_token"]
    dva_faults(net).add("token_expired", {"provider": "umcsandbox"}, count=1)
    r = await read_patient(net, access)
    assert r.status_code == 401
    assert f'error="{OAuthError.INVALID_TOKEN}"' in r.headers["www-authenticate"]
    assert (await read_patient(net, access)).status_code == 200


async def test_token_revoked_revokes_the_whole_consent(net):
    """Rule: token_revoked is the person withdrawing consent: this and every later request,
    and the refresh token, are refused."""
    body = await tokens(net, long_lived=True)
    dva_faults(net).add("token_revoked", count=1)
    assert (await read_patient(net, body["access_token"])).status_code == 401
    assert (await read_patient(net, body["access_token"])).status_code == 401
    assert (await refresh(net, body["refresh_token"])).status_code == 400


async def test_digid_cancelled_comes_back_as_access_denied(net):
    """Rule: a DigiD login the person cancelled reaches the PGO as access_denied (and opens
    no DigiD session); a failed one as unauthorized_client."""
    net.digid_app.state.faults.add("digid_cancelled", count=1)
    browser = net.browser()
    acs = await login_at_digid(browser, location(await authorize(net, browser)), net.bsns[0])
    assert query(location(await browser.get(acs)))["error"] == OAuthError.ACCESS_DENIED
    assert not any(c.endswith("_session") for c in browser.cookies)
    net.digid_app.state.faults.add("digid_failed", count=1)
    browser = net.browser()
    acs = await login_at_digid(browser, location(await authorize(net, browser)), net.bsns[0])
    assert query(location(await browser.get(acs)))["error"] == OAuthError.UNAUTHORIZED_CLIENT
