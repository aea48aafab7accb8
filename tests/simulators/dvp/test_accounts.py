"""PGO accounts (issue 11, items 3, 6 and 14), in process: the DVP app on an ASGI transport and
a fake DVA behind its HTTP client, so every rule is tried as an attacker would try it.

Each test names the rule it guards; removing that rule alone makes it fail.
"""

from __future__ import annotations

import asyncio
import sqlite3
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.runtime.local import LocalRuntime
from scenarios.useragent import forms
from simulators.common import medmij_client as collect_module
from simulators.common.config import SandboxConfig
from simulators.common.lists import ServiceEndpoints
from simulators.common.security import ensure_admin_token
from simulators.dvp import accounts as accounts_module
from simulators.dvp.app import create_app
from simulators.dvp.deps import current_person
from simulators.medmij.topology import load_topology
from tests.simulators.dvp.test_dvp_role import FakeDva

NODE = "pgo-alpha"
PROVIDER = "umcsandbox@medmij"
DVA = "http://dva.test"
HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}
PASSWORD = "correct horse battery"


class Pgo:
    """One DVP app with its origin, its guard and the fake DVA."""

    def __init__(self, tmp_path) -> None:
        topology = load_topology()
        self.addresses = LocalRuntime(tmp_path).addresses(topology, 30000)
        ensure_admin_token(tmp_path)
        self.config = SandboxConfig(topology, "loopback", self.addresses, tmp_path)
        self.app = create_app(self.config, NODE)
        self.dvp = self.app.state.dvp
        self.base = self.addresses[topology.node(NODE).hostname]
        self.dva = FakeDva()
        self.dvp.client = httpx.AsyncClient(transport=httpx.MockTransport(self.dva))
        services = {s: ServiceEndpoints(f"{DVA}/oauth/authorize", f"{DVA}/oauth/token",
                                        {"x": f"{DVA}/fhir/umcsandbox/{s}"})
                    for s in ("48", "52")}
        self.dvp.lists.lists.zal = {PROVIDER: services}

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(self.app), base_url=self.base)

    async def account(self, name: str = "Jan") -> tuple[httpx.AsyncClient, str, str]:
        """A browser logged in to a new account: (browser, person id, CSRF token)."""
        browser = self.browser()
        r = await browser.post("/api/persons", json={"name": name, "password": PASSWORD})
        assert r.status_code == 201, r.text
        return browser, r.json()["id"], r.json()["csrf_token"]


@pytest.fixture
def pgo(tmp_path):
    return Pgo(tmp_path)


def run(coro):
    return asyncio.run(coro)


async def start_connect(browser, person_id: str, csrf: str, service: str | None = None) -> str:
    """POST the connect form; returns the state the PGO sent to the DVA."""
    data = {"csrf_token": csrf, "provider": PROVIDER} | ({"service": service} if service else {})
    r = await browser.post(f"/persons/{person_id}/connect", data=data)
    assert r.status_code == 302, r.text
    return parse_qs(urlsplit(r.headers["location"]).query)["state"][0]


# item 3: every person route is the person's own -------------------------------------------

def test_every_person_route_carries_the_person_guard(pgo):
    """Removing the guard from any one ``{person_id}`` route (app, consent, share,
    portability) fails here, whatever the route."""
    def walk(routes):  # included routers stay routers in this FastAPI (no prefixes here)
        for route in routes:
            inner = getattr(route, "original_router", None)
            yield from walk(inner.routes) if inner is not None else (route,)

    guarded = []
    for route in walk(pgo.app.routes):
        path = getattr(route, "path", "")
        if "{person_id}" not in path:
            continue
        calls = [d.call for d in route.dependant.dependencies]
        assert current_person in calls, f"{route.methods} {path} has no guard"
        guarded.append(path)
    assert len(guarded) >= 14


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/persons/{id}"), ("GET", "/api/persons/{id}/resources"),
    ("GET", "/api/persons/{id}/log"), ("GET", "/api/persons/{id}/consents"),
    ("GET", "/api/persons/{id}/shares"), ("GET", "/api/persons/{id}/portability"),
    ("GET", "/api/persons/{id}/portability/fhir"),
    ("POST", f"/api/persons/{{id}}/grants/{PROVIDER}/refresh"),
    ("POST", f"/api/persons/{{id}}/grants/{PROVIDER}/revoke"),
    ("POST", "/api/persons/{id}/portability/import"),
])
def test_without_session_401_and_for_another_person_403(pgo, method, path):
    async def go():
        owner, person_id, _ = await pgo.account("Eigenaar")
        attacker, _, csrf = await pgo.account("Aanvaller")
        url = path.format(id=person_id)
        async with pgo.browser() as anonymous:
            r = await anonymous.request(method, url)
            assert r.status_code == 401 and r.json()["error"] == "login_required"
        r = await attacker.request(method, url, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        assert "Eigenaar" not in r.text
        await owner.aclose()
        await attacker.aclose()
    run(go())


def test_person_pages_send_a_browser_to_login_and_refuse_others(pgo):
    async def go():
        owner, person_id, _ = await pgo.account()
        r = await owner.get(f"/persons/{person_id}", headers=HTML)
        assert r.status_code == 200 and person_id in r.text
        async with pgo.browser() as anonymous:
            r = await anonymous.get(f"/persons/{person_id}", headers=HTML)
            assert r.status_code == 303 and r.headers["location"] == "/"
        other, _, _ = await pgo.account("Ander")
        r = await other.get(f"/persons/{person_id}/connect", params={"provider": PROVIDER},
                            headers=HTML)
        assert r.status_code == 403 and "Geen toegang" in r.text
    run(go())


def test_home_page_lists_no_accounts(pgo):
    async def go():
        _, person_id, _ = await pgo.account("Geheime Naam")
        async with pgo.browser() as visitor:
            r = await visitor.get("/", headers=HTML)
        assert r.status_code == 200
        assert "Geheime Naam" not in r.text and person_id not in r.text
        assert {f.action for f in forms(r.text)} >= {"/login", "/persons"}
    run(go())


def test_login_with_password_only(pgo):
    async def go():
        _, person_id, _ = await pgo.account()
        async with pgo.browser() as browser:
            wrong = await browser.post("/api/login", json={"person_id": person_id,
                                                           "password": "not the password"})
            assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_credentials"
            unknown = await browser.post("/api/login", json={"person_id": "nobody",
                                                             "password": PASSWORD})
            assert unknown.status_code == 401
            assert (await browser.get(f"/api/persons/{person_id}")).status_code == 401
            r = await browser.post("/api/login", json={"person_id": person_id,
                                                       "password": PASSWORD})
            assert r.status_code == 200 and r.json()["id"] == person_id and r.json()["csrf_token"]
            assert (await browser.get(f"/api/persons/{person_id}")).status_code == 200
            r = await browser.post("/api/logout", headers={"X-CSRF-Token": r.json()["csrf_token"]})
            assert r.status_code == 200
            assert (await browser.get(f"/api/persons/{person_id}")).status_code == 401
    run(go())


def test_passwords_and_session_ids_are_not_stored_in_clear(pgo):
    async def go():
        browser, person_id, _ = await pgo.account()
        cookie = browser.cookies[f"{NODE}_session"]
        db = sqlite3.connect(pgo.dvp.node_dir / "dvp.sqlite")
        dump = "\n".join(db.iterdump())
        assert PASSWORD not in dump and cookie not in dump
        assert "scrypt$16384$8$1$" in dump
    run(go())


def test_session_expires_after_idle_time(pgo):
    async def go():
        browser, person_id, _ = await pgo.account()
        store = pgo.dvp.accounts.store
        start = store.now()
        store.now = lambda: start + accounts_module.SESSION_IDLE_SECONDS - 5
        assert (await browser.get(f"/api/persons/{person_id}")).status_code == 200
        store.now = lambda: start + 2 * accounts_module.SESSION_IDLE_SECONDS + 10
        assert (await browser.get(f"/api/persons/{person_id}")).status_code == 401
    run(go())


def test_session_cookie_is_http_only_and_named_after_the_node(pgo):
    async def go():
        async with pgo.browser() as browser:
            r = await browser.post("/api/persons", json={"name": "x", "password": PASSWORD})
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{NODE}_session=") and "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()
    run(go())


# CSRF and origin ---------------------------------------------------------------------------

@pytest.mark.parametrize("path,data", [
    (f"/api/persons/{{id}}/grants/{PROVIDER}/refresh", None),
    (f"/api/persons/{{id}}/grants/{PROVIDER}/revoke", None),
    ("/api/persons/{id}/portability/import", None),
    ("/persons/{id}/connect", {"provider": PROVIDER}),
    ("/persons/{id}/share", {"provider": PROVIDER, "service": "52"}),
])
def test_state_changes_need_the_csrf_token_and_own_origin(pgo, path, data):
    async def go():
        browser, person_id, csrf = await pgo.account()
        url = path.format(id=person_id)
        r = await browser.post(url, data=data)
        assert r.status_code == 403 and "CSRF" in r.json()["error_description"]
        r = await browser.post(url, data=data, headers={"X-CSRF-Token": "guessed"})
        assert r.status_code == 403
        r = await browser.post(url, data=data, headers={"X-CSRF-Token": csrf,
                                                        "Origin": "http://evil.test"})
        assert r.status_code == 403 and "cross-origin" in r.json()["error_description"]
        r = await browser.post(url, data=data, headers={"X-CSRF-Token": csrf,
                                                        "Origin": pgo.base})
        assert r.status_code != 403, r.text  # the same request from the PGO's own page
    run(go())


def test_html_forms_carry_the_token_and_work_end_to_end(pgo):
    """Create an account through the page's form (pre-session token), then the connect page's
    form; a form posted without the pre-session cookie is refused."""
    async def go():
        async with pgo.browser() as browser:
            home = await browser.get("/", headers=HTML)
            form = next(f for f in forms(home.text) if f.action == "/persons")
            data = form.fields | {"name": "Formulier", "password": PASSWORD}
            async with pgo.browser() as stranger:  # the token without its cookie
                r = await stranger.post("/persons", data=data, headers=HTML)
                assert r.status_code == 403
            r = await browser.post("/persons", data=data, headers=HTML)
            assert r.status_code == 303
            person_id = r.headers["location"].rsplit("/", 1)[1]
            page = await browser.get(f"/persons/{person_id}/connect",
                                     params={"provider": PROVIDER}, headers=HTML)
            form = next(f for f in forms(page.text) if f.action.endswith("/connect"))
            r = await browser.post(form.action, data=form.fields, headers=HTML)
            assert r.status_code == 302 and r.headers["location"].startswith(DVA)
    run(go())


def test_api_account_creation_refuses_a_foreign_origin(pgo):
    async def go():
        async with pgo.browser() as browser:
            r = await browser.post("/api/persons", json={"name": "x", "password": PASSWORD},
                                   headers={"Origin": "http://evil.test"})
            assert r.status_code == 403
            assert f"{NODE}_session" not in browser.cookies
    run(go())


def test_admin_api_needs_the_admin_token(pgo):
    async def go():
        async with pgo.browser() as browser:
            for method, path in (("GET", "/admin/curator"), ("POST", "/admin/curator"),
                                 ("POST", "/admin/erase"), ("POST", "/admin/reopen")):
                r = await browser.request(method, path)
                assert r.status_code == 401, (method, path, r.status_code)
            token = pgo.config.admin_token
            r = await browser.get("/admin/curator",
                                  headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
    run(go())


# the callback belongs to the browser that started it ---------------------------------------

def test_callback_in_another_browser_is_refused_and_the_state_survives(pgo):
    async def go():
        owner, person_id, csrf = await pgo.account("Eigenaar")
        state = await start_connect(owner, person_id, csrf, "48")
        callback = f"/oauth/callback?state={state}&code=c1"
        attacker, _, _ = await pgo.account("Aanvaller")
        r = await attacker.get(callback, headers=JSON)
        assert r.status_code == 403 and r.json()["error"] == "session_mismatch"
        r = await attacker.get(callback, headers=HTML)
        assert r.status_code == 403 and "andere sessie" in r.text
        async with pgo.browser() as anonymous:
            assert (await anonymous.get(callback, headers=JSON)).status_code == 403
        assert pgo.dva.token_calls == 0  # the code never left for the DVA
        r = await owner.get(callback, headers=JSON)  # the state is still the person's
        assert r.status_code == 200 and r.json()["status"] == "collected", r.text
        assert (await owner.get(callback, headers=JSON)).status_code == 400  # used once
    run(go())


def test_share_callback_in_another_browser_is_refused(pgo):
    async def go():
        owner, person_id, csrf = await pgo.account()
        r = await owner.post(f"/persons/{person_id}/share",
                             data={"csrf_token": csrf, "provider": PROVIDER, "service": "52"})
        assert r.status_code == 302
        state = parse_qs(urlsplit(r.headers["location"]).query)["state"][0]
        attacker, _, _ = await pgo.account("Aanvaller")
        r = await attacker.get(f"/oauth/share/callback?state={state}&error=access_denied",
                               headers=JSON)
        assert r.status_code == 403 and r.json()["error"] == "session_mismatch"
        r = await owner.get(f"/oauth/share/callback?state={state}&error=access_denied",
                            headers=JSON)
        assert r.status_code == 400 and r.json()["status"] == "refused"  # the owner's answer
    run(go())


# item 14: a slow or dead DVA ---------------------------------------------------------------

def test_token_request_times_out_with_a_retry(pgo, monkeypatch):
    monkeypatch.setattr(collect_module, "TOKEN_TIMEOUT_SECONDS", 0.3)
    assert collect_module.TOKEN_TIMEOUT_SECONDS < 60

    async def go():
        browser, person_id, csrf = await pgo.account()
        pgo.dva.hang = True
        state = await start_connect(browser, person_id, csrf, "48")
        r = await asyncio.wait_for(
            browser.get(f"/oauth/callback?state={state}&code=c1", headers=JSON), timeout=5)
        body = r.json()
        assert r.status_code == 504, r.text
        assert body["step"] == "token" and body["error"] == "temporarily_unavailable"
        assert body["retry"] == f"/persons/{person_id}/connect?provider=umcsandbox%40medmij" \
                                "&service=48"
        state = await start_connect(browser, person_id, csrf, "48")
        r = await browser.get(f"/oauth/callback?state={state}&code=c2", headers=HTML)
        assert r.status_code == 504 and "Opnieuw proberen" in r.text
        retry = next(f for f in forms(r.text) if f.action.endswith("/connect"))
        pgo.dva.hang = False  # the DVA is back: the person tries again
        r = await browser.post(retry.action, data=retry.fields, headers=HTML)
        assert r.status_code == 302 and r.headers["location"].startswith(DVA)
        state = parse_qs(urlsplit(r.headers["location"]).query)["state"][0]
        r = await browser.get(f"/oauth/callback?state={state}&code=c3", headers=JSON)
        assert r.status_code == 200 and r.json()["status"] == "collected"
    run(go())


def test_unreachable_dva_is_temporarily_unavailable_not_500(pgo):
    async def go():
        browser, person_id, csrf = await pgo.account()
        pgo.dva.down = True
        state = await start_connect(browser, person_id, csrf)
        r = await browser.get(f"/oauth/callback?state={state}&code=c1", headers=JSON)
        assert r.status_code == 502 and r.json()["error"] == "temporarily_unavailable"
    run(go())


def test_token_timeout_default_is_medmij_ten_seconds():
    """A fresh interpreter without the override (reloading the module here would give the
    other tests a second CollectError class that the DVP's handlers do not catch)."""
    import os
    import subprocess
    import sys

    assert accounts_module is not None
    env = {k: v for k, v in os.environ.items() if k != "PGO_TOKEN_TIMEOUT_SECONDS"}
    out = subprocess.run(
        [sys.executable, "-c", "from simulators.common.medmij_client import "
         "TOKEN_TIMEOUT_SECONDS as t; print(t)"],
        env=env, capture_output=True, text=True, check=True)
    assert float(out.stdout) == 10.0


# item 6: PGO pages are not framed and not cached -------------------------------------------

def test_pgo_pages_forbid_framing_and_caching(pgo):
    async def go():
        browser, person_id, _ = await pgo.account()
        for path in ("/", f"/persons/{person_id}",
                     f"/persons/{person_id}/connect?provider={PROVIDER}"):
            r = await browser.get(path, headers=HTML)
            assert r.status_code == 200, path
            assert r.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
            assert r.headers["cache-control"] == "no-store"
    run(go())
