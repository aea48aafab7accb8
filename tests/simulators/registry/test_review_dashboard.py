"""Review finding 5 on the registry's dashboard login: an anonymous login form stores nothing
(its CSRF token is the HMAC of the pre-login cookie), and a form is still valid for
LOGIN_SECONDS only. Each test names the rule it guards."""

from __future__ import annotations

import time

import httpx
import pytest

from simulators.registry.dashboard import LOGIN_SECONDS
from tests.simulators.registry.test_dashboard import CSRF, OWN, registry  # noqa: F401

pytestmark = pytest.mark.anyio


def held_sizes(board) -> dict[str, int]:
    return {name: len(value) for name, value in vars(board).items()
            if isinstance(value, dict)}


async def test_anonymous_login_forms_store_nothing(registry) -> None:  # noqa: F811
    """Rule: GET /dashboard/login keeps no server-side entry; the form still logs in."""
    board = registry.app.state.dashboard
    before = held_sizes(board)
    for _ in range(200):
        async with httpx.AsyncClient(transport=registry.http._transport,
                                     base_url=OWN) as anonymous:
            assert (await anonymous.get("/dashboard/login")).status_code == 200
    assert held_sizes(board) == before
    token = registry.admin["Authorization"].split(" ", 1)[1]
    form = await registry.http.get("/dashboard/login")
    r = await registry.http.post("/dashboard/login", data={
        "token": token, "csrf_token": CSRF.search(form.text).group(1)})
    assert r.status_code == 303 and "registry_dashboard=" in r.headers["set-cookie"]


async def test_an_expired_login_form_is_refused(registry) -> None:  # noqa: F811
    """Rule: the time in the pre-login cookie (covered by the HMAC) ends the form after
    LOGIN_SECONDS, though its token matches."""
    board = registry.app.state.dashboard
    token = registry.admin["Authorization"].split(" ", 1)[1]
    pre_login = f"{time.time() - LOGIN_SECONDS - 1:.3f}.nonce"  # issued LOGIN_SECONDS + 1 s ago
    registry.http.cookies.set(board.login_cookie, pre_login, path="/dashboard")
    r = await registry.http.post("/dashboard/login", data={
        "token": token, "csrf_token": board.login_csrf(pre_login)})
    assert r.status_code == 403 and "verlopen" in r.text
    fresh = f"{time.time():.3f}.nonce"
    registry.http.cookies.clear()  # the refusal set a new form's cookie
    registry.http.cookies.set(board.login_cookie, fresh, path="/dashboard")
    r = await registry.http.post("/dashboard/login", data={
        "token": token, "csrf_token": board.login_csrf(fresh)})
    assert r.status_code == 303


async def test_a_cookie_with_a_later_expiry_does_not_keep_its_token(registry) -> None:  # noqa: F811
    """Rule: the token is the HMAC of the whole cookie; moving its time voids it."""
    board = registry.app.state.dashboard
    token = registry.admin["Authorization"].split(" ", 1)[1]
    form = await registry.http.get("/dashboard/login")
    csrf = CSRF.search(form.text).group(1)
    value = registry.http.cookies.get(board.login_cookie)
    nonce = value.rpartition(".")[2]
    registry.http.cookies.clear()
    registry.http.cookies.set(board.login_cookie, f"{time.time() + 10**6:.3f}.{nonce}",
                              path="/dashboard")
    r = await registry.http.post("/dashboard/login", data={"token": token, "csrf_token": csrf})
    assert r.status_code == 403
