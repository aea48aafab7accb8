"""The DVA role in process (issue 12): ``create_app`` with injected parts (a tiny fake
``SourceSystem``, a grant store in ``tmp_path``, a ``ManualClock``, an ``httpx.MockTransport``
for DigiD and the registry that nothing should reach), one test per rule.

Tokens come from the grant store itself (session, code, exchange), so a resource-server rule
is tested without DigiD or a browser. Each test names the rule it guards; removing that rule
alone makes it fail.
"""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from simulators.common.app import FastRoutes
from simulators.common.clock import ManualClock
from simulators.common.config import SandboxConfig
from simulators.dva.app import create_app
from simulators.dva.grants import GrantStore
from simulators.medmij import (
    CORRELATION_ID,
    FHIR_JSON,
    MEDMIJ_REQUEST_ID,
    OAuthError,
    build_scope,
    fhir_accept,
)
from simulators.medmij.topology import load_topology
from simulators.provider import ShareRefused, SourceRecord, Stored

NODE = "dva-nexus"
PROVIDER = "umcsandbox@medmij"  # served by dva-nexus
SLUG = "umcsandbox"
CLIENT = "pgo-alpha.sandbox.test"
BSN = "999911120"
START = 1_900_000_000.0
DVA_DIR = Path(__file__).resolve().parents[3] / "simulators" / "dva"


class FakeSource:
    """A source system with one patient (index 7) at one provider: a Patient and a blood
    pressure in the BgZ (48); it accepts any share and records it."""

    def __init__(self) -> None:
        self.patient = {"resourceType": "Patient", "id": "fake-1", "name": [{"text": "Fake"}]}
        self.observation = {"resourceType": "Observation", "id": "bp-1", "status": "final",
                            "code": {"coding": [{"system": "http://loinc.org",
                                                 "code": "85354-9"}]}}
        self.received: list[tuple] = []
        self.refuse: ShareRefused | None = None

    def index_of(self, bsn: str) -> int | None:
        return 7 if bsn == BSN else None

    def held_services(self, index: int, provider: str) -> list[str]:
        return ["48"] if (index, provider) == (7, PROVIDER) else []

    def record(self, index: int, provider: str, service: str) -> SourceRecord:
        held = (index, provider, service) == (7, PROVIDER, "48")
        return SourceRecord.of([self.patient, self.observation] if held else [])

    def binary(self, index: int, provider: str, binary_id: str) -> dict | None:
        return None

    def receive(self, provider: str, index: int, client_id: str, share_service: str,
                accepts: tuple[str, ...], bundle: object) -> list[Stored]:
        if self.refuse is not None:
            raise self.refuse
        self.received.append((provider, index, client_id, share_service, bundle))
        return [Stored("Observation", "new-1", "urn:uuid:a")]


def unreachable(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"the DVA called out: {request.url}")


class Dva:
    """One DVA app built from injected parts, its lists set by hand (no registry)."""

    def __init__(self, tmp_path: Path) -> None:
        topology = load_topology()
        addresses = {n.hostname: f"http://127.0.0.1:{18600 + i}"
                     for i, n in enumerate(topology.nodes)}
        self.config = SandboxConfig(topology, "loopback", addresses, tmp_path)
        self.source = FakeSource()
        self.clock = ManualClock(START)
        self.grants = GrantStore(tmp_path / "grants.sqlite")
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(unreachable))
        self.app = create_app(self.config, NODE, http=self.http, source=self.source,
                              grants=self.grants, clock=self.clock)
        self.dva = self.app.state.dva
        lists = self.dva.lists.lists
        lists.ocl = {CLIENT: "PGO Alpha"}
        lists.whitelist = frozenset({CLIENT})
        self.base = self.config.public_base(self.dva.hostname)
        self.redirect_uri = self.config.public_url(
            self.config.topology.node("pgo-alpha").hostname, "/oauth/callback")

    def client(self, fast: bool = False) -> httpx.AsyncClient:
        """In process; ``fast``: through FastRoutes, as the running node serves searches."""
        app = FastRoutes(self.app, self.app.state.fast_routes) if fast else self.app
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=self.base)

    def token(self, services: tuple[str, ...] = ("48",)) -> str:
        """An access token for patient 7, through the grant store's own code exchange."""
        scope = " ".join(build_scope(SLUG, s) for s in services)
        session_id = self.grants.start_session(CLIENT, self.redirect_uri, scope, "st", PROVIDER,
                                               list(services), None, "browser", "csrf")
        self.grants.identify(session_id, 7)
        code = self.grants.issue_code(self.grants.session(session_id), False)
        return self.grants.exchange_code(code, CLIENT, self.redirect_uri)["access_token"]

    async def close(self) -> None:
        await self.http.aclose()
        self.grants.db.close()



# the source system is injected ---------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("fast", [False, True])
async def test_a_dva_built_with_a_fake_source_system_serves_its_data(dva, fast):
    """Rule: the DVA serves whatever SourceSystem it is given (issue 12 item 5)."""
    headers = {"Authorization": f"Bearer {dva.token()}", "Accept": fhir_accept("3.0")}
    async with dva.client(fast) as client:
        search = await client.get(f"/fhir/{SLUG}/48/Observation",
                                  params={"code": "http://loinc.org|85354-9"}, headers=headers)
        read = await client.get(f"/fhir/{SLUG}/48/Patient/fake-1", headers=headers)
    assert search.status_code == 200, search.text
    assert [e["resource"]["id"] for e in search.json()["entry"]] == ["bp-1"]
    assert search.headers["content-type"].startswith(FHIR_JSON)
    assert read.status_code == 200 and read.json()["name"][0]["text"] == "Fake"


@pytest.mark.anyio
async def test_a_share_goes_to_the_source_system_with_the_tokens_patient(dva):
    """Rule: Delen writes into the injected source system, for the patient of the token."""
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    token = dva.token(("53",))
    async with dva.client() as client:
        r = await client.post(f"/fhir/{SLUG}/53", json=bundle,
                              headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["entry"][0]["response"]["location"] == "Observation/new-1/_history/1"
    assert dva.source.received == [(PROVIDER, 7, CLIENT, "53", bundle)]


@pytest.mark.anyio
async def test_a_refused_share_is_an_operation_outcome_with_the_source_systems_reason(dva):
    """Rule: ShareRefused from the source system becomes an OperationOutcome, not a 500."""
    dva.source.refuse = ShareRefused(422, "not-supported", "no thanks")
    token = dva.token(("53",))
    async with dva.client() as client:
        r = await client.post(f"/fhir/{SLUG}/53", json={"resourceType": "Bundle"},
                              headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422
    assert r.json()["issue"][0] == {"severity": "error", "code": "not-supported",
                                    "diagnostics": "no thanks"}


# FHIR errors: OperationOutcome with the request's ids echoed ----------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("fast", [False, True])
async def test_operation_outcome_echoes_medmij_request_id_and_correlation_id(dva, fast):
    """Rule: every FHIR refusal echoes MedMij-Request-ID and X-Correlation-ID, on the hot
    path (FastRoutes) and through FastAPI alike."""
    ids = {MEDMIJ_REQUEST_ID: "req-42", CORRELATION_ID: "corr-42"}
    async with dva.client(fast) as client:
        r = await client.get(f"/fhir/{SLUG}/48/Patient", headers=ids)
        missing = await client.get("/fhir/nobody/48/metadata", headers=ids)
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"
    assert r.headers[MEDMIJ_REQUEST_ID] == "req-42"
    assert r.headers[CORRELATION_ID] == "corr-42"
    assert missing.status_code == 404 and missing.headers[MEDMIJ_REQUEST_ID] == "req-42"


@pytest.mark.anyio
async def test_an_unknown_token_is_401_with_invalid_token_challenge(dva):
    """Rule: RFC 6750 section 3.1: an invalid token gets WWW-Authenticate error=invalid_token;
    no token at all gets the realm alone."""
    async with dva.client(fast=True) as client:
        bad = await client.get(f"/fhir/{SLUG}/48/Patient",
                               headers={"Authorization": "Bearer nope"})
        none = await client.get(f"/fhir/{SLUG}/48/Patient")
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == (f'Bearer realm="{dva.dva.name}",'
                                               f' error="{OAuthError.INVALID_TOKEN}"')
    assert none.headers["www-authenticate"] == f'Bearer realm="{dva.dva.name}"'


@pytest.mark.anyio
async def test_a_token_for_another_gegevensdienst_is_403_insufficient_scope(dva):
    """Rule: the token covers only its provider and gegevensdiensten."""
    token = dva.token(("48",))
    async with dva.client(fast=True) as client:
        r = await client.get(f"/fhir/{SLUG}/51/DocumentReference",
                             headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert f'error="{OAuthError.INSUFFICIENT_SCOPE}"' in r.headers["www-authenticate"]


@pytest.mark.anyio
async def test_a_client_off_the_whitelist_loses_access_at_once(dva):
    """Rule: the resource server checks the Whitelist on every request."""
    token = dva.token()
    dva.dva.lists.lists.whitelist = frozenset()
    async with dva.client(fast=True) as client:
        r = await client.get(f"/fhir/{SLUG}/48/Patient",
                             headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "Whitelist" in r.json()["issue"][0]["diagnostics"]


@pytest.mark.anyio
async def test_the_capability_statement_names_the_full_fhir_release(dva):
    async with dva.client() as client:
        stu3 = await client.get(f"/fhir/{SLUG}/48/metadata")
    assert stu3.status_code == 200 and stu3.json()["fhirVersion"] == "3.0.2"


# the token endpoint: OAuth JSON errors, never cached -------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize(("form", "status", "error"), [
    ({"grant_type": "authorization_code", "code": "x", "client_id": "stranger.test",
      "redirect_uri": "http://x"}, 401, OAuthError.INVALID_CLIENT),
    ({"grant_type": "password", "client_id": CLIENT}, 400, OAuthError.UNSUPPORTED_GRANT_TYPE),
    ({"grant_type": "authorization_code", "client_id": CLIENT}, 400, OAuthError.INVALID_REQUEST),
    ({"grant_type": "authorization_code", "code": "unknown", "client_id": CLIENT,
      "redirect_uri": "http://x"}, 400, OAuthError.INVALID_GRANT),
])
async def test_token_endpoint_errors_are_oauth_json_with_no_store(dva, form, status, error):
    """Rule: RFC 6749 section 5.2: errors are JSON {error, error_description} and the answer
    is never cached; a client that cannot authenticate gets 401 with WWW-Authenticate."""
    async with dva.client() as client:
        r = await client.post("/oauth/token", data=form)
    assert r.status_code == status
    assert r.json()["error"] == error and r.json()["error_description"]
    assert r.headers["cache-control"] == "no-store"
    assert ("www-authenticate" in r.headers) == (status == 401)


@pytest.mark.anyio
async def test_a_revoke_without_its_fields_is_oauth_json_with_no_store(dva):
    """Rule: a missing form field at the token endpoints is invalid_request in OAuth's shape
    (not FastAPI's validation JSON), not cached."""
    async with dva.client() as client:
        r = await client.post("/oauth/revoke", data={"client_id": CLIENT})
    assert r.status_code == 400
    assert r.json()["error"] == OAuthError.INVALID_REQUEST and "token" in \
        r.json()["error_description"]
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.anyio
async def test_a_token_response_is_never_cached(dva):
    """Rule: the token response itself carries Cache-Control: no-store."""
    scope = build_scope(SLUG, "48")
    session_id = dva.grants.start_session(CLIENT, dva.redirect_uri, scope, "st", PROVIDER, ["48"],
                                          None, "browser", "csrf")
    dva.grants.identify(session_id, 7)
    code = dva.grants.issue_code(dva.grants.session(session_id), False)
    async with dva.client() as client:
        r = await client.post("/oauth/token", data={
            "grant_type": "authorization_code", "code": code, "client_id": CLIENT,
            "redirect_uri": dva.redirect_uri})
    assert r.status_code == 200 and r.json()["access_token"]
    assert r.headers["cache-control"] == "no-store"


# the authorize endpoint: redirect when the redirect_uri is trusted, else a Dutch page --------

@pytest.mark.anyio
async def test_an_unknown_client_gets_a_dutch_page_and_no_redirect(dva):
    """Rule: with a client not on the OCL the redirect_uri cannot be trusted: tell the person."""
    async with dva.client() as client:
        r = await client.get("/oauth/authorize", params={
            "response_type": "code", "client_id": "stranger.test", "state": "s",
            "scope": SLUG, "redirect_uri": dva.redirect_uri})
    assert r.status_code == 400 and "location" not in r.headers
    assert r.headers["content-type"].startswith("text/html")
    assert "lang='nl'" in r.text and OAuthError.INVALID_REQUEST in r.text
    assert "Ga terug naar uw PGO" in r.text  # a way back


@pytest.mark.anyio
async def test_an_unknown_scope_is_redirected_with_error_and_the_clients_state(dva):
    """Rule: RFC 6749 section 4.1.2.1: with a trusted redirect_uri, the error goes back to the
    client with its state."""
    async with dva.client() as client:
        r = await client.get("/oauth/authorize", params={
            "response_type": "code", "client_id": CLIENT, "state": "s-9",
            "scope": "nosuchprovider", "redirect_uri": dva.redirect_uri})
    assert r.status_code == 302
    target = r.headers["location"]
    assert target.startswith(dva.redirect_uri)
    query = parse_qs(urlsplit(target).query)
    assert query["error"] == [OAuthError.INVALID_SCOPE] and query["state"] == ["s-9"]


@pytest.mark.anyio
async def test_authorize_binds_the_browser_and_sends_it_to_digid(dva):
    """Rule: an accepted authorization sets the node's HttpOnly binding cookie and redirects to
    DigiD with the session as RelayState."""
    async with dva.client() as client:
        r = await client.get("/oauth/authorize", params={
            "response_type": "code", "client_id": CLIENT, "state": "s",
            "scope": SLUG, "redirect_uri": dva.redirect_uri})
    assert r.status_code == 302 and r.headers["location"].startswith(dva.dva.digid_base)
    assert r.headers["set-cookie"].startswith(f"{NODE}_authz=")
    relay = parse_qs(urlsplit(r.headers["location"]).query)["RelayState"][0]
    assert dva.grants.session(relay)["provider"] == PROVIDER


@pytest.mark.anyio
async def test_a_browser_missing_consent_fields_gets_a_dutch_page(dva):
    """Rule: a person's browser never sees FastAPI's validation JSON: a Dutch page instead."""
    async with dva.client() as client:
        r = await client.post("/oauth/consent", data={"decision": "allow"},
                              headers={"Accept": "text/html", "Origin": dva.base})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "lang='nl'" in r.text and "session_id" in r.text


# layering ------------------------------------------------------------------------------------

def test_dva_services_import_no_web_framework():
    """Rule: protocol logic (service, resource server, search, grants, request log) has no
    FastAPI or Starlette import; only routers, errors, deps and app do."""
    for name in ("service.py", "resource_server.py", "search.py", "request_log.py"):
        tree = ast.parse((DVA_DIR / name).read_text())
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                    for a in n.names}
        imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree)
                     if isinstance(n, ast.ImportFrom)}
        assert not imported & {"fastapi", "starlette"}, name
