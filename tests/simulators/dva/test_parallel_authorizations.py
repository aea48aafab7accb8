"""Several authorizations pending in one browser at once (a PGO connecting a person to two
providers of the same DVA, in two tabs): each is bound to the browser by a cookie of its own,
read only by its own steps and deleted when it ends. In process, on the ``test_security``
network (a DVA, DigiD and a registry), each browser an httpx client with its own cookie jar.
Each test names the rule it guards; removing that rule alone makes it fail.
"""

from __future__ import annotations

import re

import httpx
import pytest

from simulators.dva.grants import CODE_SECONDS
from simulators.medmij import OAuthError
from tests.simulators.dva.test_security import (
    DVA_ID,
    Net,
    allow,
    assert_refused_page,
    codes_issued,
    form_data,
    location,
    login_at_digid,
    query,
)

pytestmark = pytest.mark.anyio
SCOPES = {"a": "umcsandbox", "b": "huisartsdebrug"}  # two providers served by dva-nexus


async def start(net: Net, browser: httpx.AsyncClient, state: str) -> tuple[str, str, str]:
    """Authorization ``state`` (scope ``SCOPES[state]``) started in ``browser``: its DigiD
    login URL, its session id (RelayState) and its binding cookie's Set-Cookie header."""
    r = await browser.get(net.authorize_url(SCOPES[state], state=state))
    login_url = location(r)
    return login_url, query(login_url)["RelayState"], r.headers["set-cookie"]


def name_of(set_cookie: str) -> str:
    return set_cookie.partition("=")[0]


def deletes(response: httpx.Response, name: str) -> bool:
    """Whether ``response`` tells the browser to drop cookie ``name`` (Max-Age=0 or expired)."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}=") and (
                re.search(r"max-age=0(;|$)", header, re.I)
                or re.search(r"expires=[^;]*1970", header, re.I)):
            return True
    return False


@pytest.mark.parametrize("order", ["a then b", "b then a", "both screens, then b and a"])
async def test_two_authorizations_in_one_browser_both_complete(net, order):
    """Rule: each authorization binds the browser with its own cookie, so a second one started
    in the same browser does not overwrite the first's; both complete, in either order."""
    browser = net.browser()
    started = {state: await start(net, browser, state) for state in ("a", "b")}

    async def screen(state: str) -> httpx.Response:
        acs = await login_at_digid(browser, started[state][0], net.bsns[0])
        page = await browser.get(acs)
        assert page.status_code == 200, (state, page.status_code, page.text[:300])
        return page

    async def answer(state: str, page: httpx.Response) -> str:
        target = location(await allow(browser, page))
        assert target.startswith(net.redirect_uri()) and query(target)["state"] == state
        return query(target)["code"]

    if order == "both screens, then b and a":
        pages = {state: await screen(state) for state in ("a", "b")}
        codes = [await answer(state, pages[state]) for state in ("b", "a")]
    else:
        codes = [await answer(state, await screen(state)) for state in order.split(" then ")]
    assert len(set(codes)) == 2 and codes_issued(net) == 2
    names = {name_of(set_cookie) for _, _, set_cookie in started.values()}
    assert len(names) == 2  # one cookie per authorization, each as safe as before
    for _, _, set_cookie in started.values():
        assert re.match(rf"{DVA_ID}_authz_[0-9a-f]{{16}}=", set_cookie)
        lowered = set_cookie.lower()
        assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
        assert f"max-age={CODE_SECONDS}" in lowered


async def test_a_browser_with_only_another_authorizations_cookie_cannot_continue_it(net):
    """Rule: each step reads the cookie of its own session and checks its secret: a browser
    holding authorization A's cookie (even under B's cookie name) cannot continue B, at DigiD's
    return, on the consent screen or with B's own form; it meets today's refusal page."""
    holder, owner = net.browser(), net.browser()
    login_a, _, cookie_a = await start(net, holder, "a")
    login_b, session_b, cookie_b = await start(net, owner, "b")
    assert set(holder.cookies) == {name_of(cookie_a)}

    acs_b = await login_at_digid(holder, login_b, net.bsns[0])  # B's link, in A's browser
    assert_refused_page(await holder.get(acs_b))
    holder.cookies.set(name_of(cookie_b), holder.cookies[name_of(cookie_a)])
    assert_refused_page(await holder.get(acs_b))  # the name alone proves nothing
    assert net.dva.grants.session(session_b)["patient_index"] is None  # nobody identified

    page_b = await owner.get(await login_at_digid(owner, login_b, net.bsns[1]))
    assert page_b.status_code == 200, page_b.text[:300]
    url, data = form_data(page_b, "/oauth/consent")
    assert_refused_page(await holder.get(net.url(DVA_ID, "/oauth/consent"),
                                         params={"session_id": session_b}))
    assert_refused_page(await holder.post(url, data=data | {"decision": "allow"}))
    assert codes_issued(net) == 0 and net.dva.grants.session(session_b) is not None

    # each browser still completes its own
    assert query(location(await allow(owner, page_b)))["state"] == "b"
    page_a = await holder.get(await login_at_digid(holder, login_a, net.bsns[0]))
    assert query(location(await allow(holder, page_a)))["state"] == "a"


@pytest.mark.parametrize("ending", ["code issued", "consent denied", "refused after DigiD"])
async def test_an_authorizations_cookie_is_deleted_when_it_ends(net, ending):
    """Rule: the step that ends an authorization (a code, or the client's redirect with an
    error) deletes that authorization's cookie, and only that one: a browser holds at most
    one per pending authorization."""
    browser = net.browser()
    login_a, _, cookie_a = await start(net, browser, "a")
    _, _, cookie_b = await start(net, browser, "b")
    name_a, name_b = name_of(cookie_a), name_of(cookie_b)
    assert name_a != name_b
    if ending == "refused after DigiD":
        net.dva_app.state.faults.add("no_data", {"person": net.bsns[0]}, count=1)
    acs = await login_at_digid(browser, login_a, net.bsns[0])
    r = await browser.get(acs)
    if ending != "refused after DigiD":
        assert r.status_code == 200 and name_a in browser.cookies  # pending: kept
        url, data = form_data(r, "/oauth/consent")
        decision = "allow" if ending == "code issued" else "deny"
        r = await browser.post(url, data=data | {"decision": decision})
    target = query(location(r))
    if ending == "code issued":
        assert target["code"] and target["state"] == "a"
    else:
        assert target["error"] == OAuthError.ACCESS_DENIED and target["state"] == "a"
    assert deletes(r, name_a) and not deletes(r, name_b)
    deletion = next(h for h in r.headers.get_list("set-cookie") if h.startswith(f"{name_a}="))
    assert "path=/" in deletion.lower()
    assert name_a not in browser.cookies and name_b in browser.cookies
