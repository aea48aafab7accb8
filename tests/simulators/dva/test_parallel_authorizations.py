"""Several authorizations pending in one browser at once (a PGO connecting a person to two
providers of the same DVA, in two tabs): all are bound to the browser's one DVA cookie, whose
secret the next authorization reuses instead of overwriting. In process, on the
``test_security`` network (a DVA, DigiD and a registry), each browser an httpx client with its
own cookie jar. Each test names the rule it guards; removing that rule alone makes it fail.
"""

from __future__ import annotations

import httpx
import pytest

from simulators.dva.grants import CODE_SECONDS
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
COOKIE = f"{DVA_ID}_authz"


async def start(net: Net, browser: httpx.AsyncClient, state: str) -> tuple[str, str, str]:
    """Authorization ``state`` (scope ``SCOPES[state]``) started in ``browser``: its DigiD
    login URL, its session id (RelayState) and its binding cookie's Set-Cookie header."""
    r = await browser.get(net.authorize_url(SCOPES[state], state=state))
    login_url = location(r)
    return login_url, query(login_url)["RelayState"], r.headers["set-cookie"]


@pytest.mark.parametrize("order", ["a then b", "b then a", "both screens, then b and a"])
async def test_two_authorizations_in_one_browser_both_complete(net, order):
    """Rule: a second authorization started in the same browser reuses the browser's secret
    instead of overwriting it, so both complete, in either order."""
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
    set_cookies = [set_cookie for _, _, set_cookie in started.values()]
    assert len({c.partition(";")[0] for c in set_cookies}) == 1  # the same cookie, same secret
    for set_cookie in set_cookies:
        lowered = set_cookie.lower()
        assert set_cookie.startswith(f"{COOKIE}=") and "httponly" in lowered
        assert "samesite=lax" in lowered and "path=/" in lowered
        assert f"max-age={CODE_SECONDS}" in lowered


async def test_another_browser_cannot_continue_an_authorization(net):
    """Rule: each step checks the browser's secret against the one its session was started
    with: another browser, with its own secret or one of the same shape it made up, cannot
    continue it, at DigiD's return, on the consent screen or with the session's own form."""
    holder, owner = net.browser(), net.browser()
    login_a, _, _ = await start(net, holder, "a")
    login_b, session_b, _ = await start(net, owner, "b")
    assert holder.cookies[COOKIE] != owner.cookies[COOKIE]

    acs_b = await login_at_digid(holder, login_b, net.bsns[0])  # B's link, in A's browser
    assert_refused_page(await holder.get(acs_b))
    stranger = net.browser()
    stranger.cookies.set(COOKIE, "A" * 43)
    assert_refused_page(await stranger.get(acs_b))
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


async def test_a_browser_holds_one_cookie_however_many_authorizations(net):
    """Rule: authorizations started over and over (a page sending the browser to
    /oauth/authorize in a loop) leave the browser one DVA cookie with one secret, not a cookie
    each that would fill its jar and push out the host's other cookies; the first of them
    still completes."""
    browser = net.browser()
    login_first, _, _ = await start(net, browser, "a")
    secret = browser.cookies[COOKIE]
    for _ in range(60):
        await start(net, browser, "b")
    assert [c.name for c in browser.cookies.jar if c.name.startswith(COOKIE)] == [COOKIE]
    assert browser.cookies[COOKIE] == secret
    page = await browser.get(await login_at_digid(browser, login_first, net.bsns[0]))
    assert query(location(await allow(browser, page)))["state"] == "a"


async def test_a_cookie_value_not_of_ours_is_not_reused(net):
    """Rule: only a secret of the shape the DVA makes is reused; anything else the browser
    sends in the cookie (planted, or cut short) is replaced by a new secret."""
    browser = net.browser()
    browser.cookies.set(COOKIE, "short")
    _, _, set_cookie = await start(net, browser, "a")
    value = set_cookie.partition("=")[2].partition(";")[0]
    assert value != "short" and len(value) == 43
