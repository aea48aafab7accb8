"""The DVP role in process (issue 12): ``create_app`` with injected parts (a ``ManualClock``, an
``httpx.MockTransport`` standing in for the DVA, a fake list cache), one test per rule.

Each test names the rule it guards; removing that rule alone makes it fail.
"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.runtime.local import LocalRuntime
from simulators.common.clock import ManualClock
from simulators.common.config import SandboxConfig
from simulators.common.lists import ServiceEndpoints
from simulators.common.medmij_client import collect_queries
from simulators.common.security import ensure_admin_token
from simulators.dvp.app import create_app
from simulators.medmij import OAuthError, utc_timestamp
from simulators.medmij.topology import load_topology

NODE = "pgo-alpha"
PROVIDER = "umcsandbox@medmij"
DVA = "http://dva.test"
HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}
START = 1_900_000_000.0  # 2030-03-17, far from today: a timestamp from the wall clock shows
DVP_DIR = Path(__file__).resolve().parents[3] / "simulators" / "dvp"


class FakeDva:
    """The DVA's token and resource endpoints as the PGO's back channel sees them; records
    what the PGO sent. ``hang`` makes the token endpoint never answer, ``down`` refuses
    connections (shared by the DVP's in-process tests)."""

    def __init__(self) -> None:
        self.token_forms: list[dict] = []
        self.searches: list[httpx.Request] = []
        self.token_answer: tuple[int, dict] = (200, {
            "access_token": "at", "token_type": "Bearer", "expires_in": 900,
            "refresh_token": "rt", "scope": "umcsandbox~48"})
        self.hang = False
        self.down = False

    @property
    def token_calls(self) -> int:
        return len(self.token_forms)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/oauth/token":
            self.token_forms.append(dict(parse_qs(request.content.decode())))
            if self.hang:
                await asyncio.sleep(30)
            status, body = self.token_answer
            return httpx.Response(status, json=body)
        self.searches.append(request)
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset",
                                         "entry": [{"resource": {"resourceType": "Patient",
                                                                 "id": "p1"}}]})


class Pgo:
    """One DVP app built from injected parts."""

    def __init__(self, tmp_path: Path) -> None:
        topology = load_topology()
        addresses = LocalRuntime(tmp_path).addresses(topology, 30000)
        ensure_admin_token(tmp_path)
        config = SandboxConfig(topology, "loopback", addresses, tmp_path)
        self.dva = FakeDva()
        self.clock = ManualClock(START)
        zal = {PROVIDER: {s: ServiceEndpoints(f"{DVA}/oauth/authorize", f"{DVA}/oauth/token",
                                              {"x": f"{DVA}/fhir/umcsandbox/{s}"})
                          for s in ("48", "52")}}
        lists = SimpleNamespace(lists=SimpleNamespace(zal=zal), ready=asyncio.Event())
        self.app = create_app(config, NODE, clock=self.clock, lists=lists,  # type: ignore[arg-type]
                              http=httpx.AsyncClient(transport=httpx.MockTransport(self.dva)))
        self.dvp = self.app.state.dvp
        self.base = addresses[topology.node(NODE).hostname]

    async def account(self) -> tuple[httpx.AsyncClient, str, str]:
        browser = httpx.AsyncClient(transport=httpx.ASGITransport(self.app), base_url=self.base)
        r = await browser.post("/api/persons", json={"name": "Jan", "password": "x" * 12})
        assert r.status_code == 201, r.text
        return browser, r.json()["id"], r.json()["csrf_token"]

    async def connect(self, browser, person_id: str, csrf: str, service: str = "48") -> str:
        r = await browser.post(f"/persons/{person_id}/connect",
                               data={"csrf_token": csrf, "provider": PROVIDER,
                                     "service": service})
        assert r.status_code == 302, r.text
        return parse_qs(urlsplit(r.headers["location"]).query)["state"][0]


@pytest.fixture
def pgo(tmp_path) -> Pgo:
    return Pgo(tmp_path)


def run(coro):
    return asyncio.run(coro)


# the callback, against the injected DVA ------------------------------------------------------

def test_callback_exchanges_the_code_and_keeps_the_summary_shape(pgo):
    """Rule: the callback sends the code with this PGO's client_id and registered redirect_uri
    to the DVA's token endpoint, then the gegevensdienst's searches; its JSON answer is the
    collect summary (a result, not an error shape)."""
    async def go():
        browser, person_id, csrf = await pgo.account()
        state = await pgo.connect(browser, person_id, csrf)
        r = await browser.get(f"/oauth/callback?state={state}&code=c1", headers=JSON)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "collected" and body["gegevensdiensten"] == ["48"]
        assert body["requests"] == len(pgo.dva.searches) > 0 and body["long_lived"] is True
        assert set(body) >= {"person_id", "provider", "failed_requests", "resources",
                             "correlation_id"} and "error" not in body
        form = pgo.dva.token_forms[0]
        assert form["grant_type"] == ["authorization_code"] and form["code"] == ["c1"]
        assert form["client_id"] == [pgo.dvp.hostname]
        assert form["redirect_uri"] == [pgo.dvp.redirect_uri]
    run(go())


def test_connect_asks_for_the_scope_in_medmij_grammar(pgo):
    """Rule: one gegevensdienst is asked as ``<slug>~<id>`` (vocabulary ``build_scope``)."""
    async def go():
        browser, person_id, csrf = await pgo.account()
        r = await browser.post(f"/persons/{person_id}/connect",
                               data={"csrf_token": csrf, "provider": PROVIDER, "service": "48"})
        assert parse_qs(urlsplit(r.headers["location"]).query)["scope"] == ["umcsandbox~48"]
    run(go())


def test_the_collect_is_stamped_by_the_injected_clock(pgo):
    """Rule: the DVP's time is the injected clock (not the process clock): the request log of
    a collect carries the ManualClock's instant, and moves with it."""
    async def go():
        browser, person_id, csrf = await pgo.account()
        pgo.clock.advance(3600)
        state = await pgo.connect(browser, person_id, csrf)
        await browser.get(f"/oauth/callback?state={state}&code=c1", headers=JSON)
        log = (await browser.get(f"/api/persons/{person_id}/log")).json()
        assert log and {e["timestamp"] for e in log} == {utc_timestamp(START + 3600)}
    run(go())


def test_query_templates_use_the_given_clock():
    """Rule: the searches' date templates are filled in with the caller's clock's date."""
    queries = collect_queries("51", clock=ManualClock(START))  # 2030-03-17
    assert any("indexed=ge2028-03-17&indexed=le2029-03-17" in q for q in queries), queries


def test_refused_refresh_is_invalid_grant_in_the_one_shape(pgo):
    """Rule: a refresh the DVA refuses with ``invalid_grant`` (revoked, lapsed) is a 409 in the
    one refusal shape, with the DVA's code."""
    async def go():
        browser, person_id, csrf = await pgo.account()
        state = await pgo.connect(browser, person_id, csrf)
        await browser.get(f"/oauth/callback?state={state}&code=c1", headers=JSON)
        pgo.dva.token_answer = (400, {"error": "invalid_grant",
                                      "error_description": "consent lapsed"})
        r = await browser.post(f"/api/persons/{person_id}/grants/{PROVIDER}/refresh",
                               headers={"X-CSRF-Token": csrf, "Origin": pgo.base})
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["error"] == OAuthError.INVALID_GRANT
        assert body["error_description"] == "consent lapsed"
        assert pgo.dva.token_forms[-1]["grant_type"] == ["refresh_token"]
    run(go())


# one error model -----------------------------------------------------------------------------

def test_unknown_state_is_json_error_for_an_api_client(pgo):
    """Rule: a refusal to an API client is ``{"error", "error_description"}`` (no ``detail``)."""
    async def go():
        browser, _, _ = await pgo.account()
        r = await browser.get("/oauth/callback?state=nope&code=c", headers=JSON)
        assert r.status_code == 400
        assert r.json() == {"error": OAuthError.INVALID_REQUEST,
                            "error_description": "unknown or already used state"}
    run(go())


def test_unknown_state_is_a_dutch_page_for_a_browser(pgo):
    """Rule: a refusal to a person's browser is a Dutch HTML page with a way back."""
    async def go():
        browser, _, _ = await pgo.account()
        r = await browser.get("/oauth/callback?state=nope&code=c", headers=HTML)
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
        assert "Onbekend of al gebruikt antwoord" in r.text and "href='/'" in r.text
    run(go())


def test_unknown_person_is_one_shape_too(pgo):
    """Rule: "no such person" is the one shape, not FastAPI's ``{"detail"}``."""
    async def go():
        browser, person_id, csrf = await pgo.account()
        db = pgo.dvp.store.db
        db.execute("PRAGMA foreign_keys = OFF")
        db.execute("DELETE FROM person WHERE id = ?", (person_id,))
        r = await browser.get(f"/api/persons/{person_id}/resources")
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        assert "detail" not in r.json()
    run(go())


def test_curator_refusal_is_the_one_shape(pgo):
    """Rule: a bankrupt vendor refuses a connect as ``{"error": "curator",
    "error_description": <notice>}`` (formerly ``{"error", "notice"}``)."""
    async def go():
        browser, person_id, csrf = await pgo.account()
        pgo.dvp.curator.active, pgo.dvp.curator.notice = True, "Failliet."
        r = await browser.post(f"/persons/{person_id}/connect", headers=JSON,
                               data={"csrf_token": csrf, "provider": PROVIDER})
        assert r.status_code == 403
        assert r.json() == {"error": "curator", "error_description": "Failliet."}
        r = await browser.get(f"/persons/{person_id}/connect?provider={PROVIDER}",
                              headers=HTML)
        assert r.status_code == 403 and "Failliet." in r.text
    run(go())


def test_the_dvas_refusal_is_passed_on_with_its_code(pgo):
    """Rule: the DVA's authorization error reaches the client with the DVA's own code."""
    async def go():
        browser, person_id, csrf = await pgo.account()
        state = await pgo.connect(browser, person_id, csrf)
        r = await browser.get(f"/oauth/callback?state={state}&error=access_denied"
                              "&error_description=declined", headers=JSON)
        assert r.status_code == 400
        body = r.json()
        assert body["error"] == OAuthError.ACCESS_DENIED
        assert body["error_description"] == "declined" and body["status"] == "refused"
        assert body["provider"] == PROVIDER and not pgo.dva.token_forms
    run(go())


# layers ---------------------------------------------------------------------------------------



def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in tree.body:  # module level only: TYPE_CHECKING blocks are not imports at run
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("name", ["collect.py", "grants.py", "share.py", "portability.py",
                                  "curator.py", "store.py", "report.py", "errors.py"])
def test_services_do_not_import_the_web_framework(name):
    """Rule: protocol logic lives in services without FastAPI/Starlette."""
    bad = {m for m in _imports(DVP_DIR / name) if m.split(".")[0] in ("fastapi", "starlette")}
    assert not bad, f"{name} imports {bad}"


def test_the_dvp_imports_no_other_role():
    """Rule: no role imports another role (the shared MedMij client is in common)."""
    roles = ("simulators.dva", "simulators.inspection", "simulators.registry",
             "simulators.digid", "simulators.mgo")
    for path in sorted(DVP_DIR.glob("*.py")):
        bad = {m for m in _imports(path) if m.startswith(roles)}
        assert not bad, f"{path.name} imports {bad}"
