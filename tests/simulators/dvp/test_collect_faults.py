"""A PGO collecting from a DVA that misbehaves (issue 16 item 2), in process: the real DVA app
(``simulators.dva.app.create_app`` with a small fake source system) behind a fault-injecting
httpx transport (ARCHITECTURE principle 9), and the real DVP app in front of it.

Each test names the rule it guards; removing that rule alone makes it fail.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.runtime.local import LocalRuntime
from simulators.common import medmij_client
from simulators.common.clock import ManualClock
from simulators.common.config import SandboxConfig
from simulators.common.lists import LIST_PATHS, ListCache, ServiceEndpoints
from simulators.common.security import ensure_admin_token
from simulators.dva.app import create_app as create_dva
from simulators.dva.grants import GrantStore
from simulators.dvp.app import create_app as create_dvp
from simulators.medmij import FHIR_JSON
from simulators.medmij.topology import load_topology
from simulators.provider import SourceRecord

PGO, DVA_NODE = "pgo-alpha", "dva-nexus"
PROVIDER, SLUG = "umcsandbox@medmij", "umcsandbox"
START = 1_900_000_000.0
HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}
CONDITIONS = 5


class FakeSource:
    """Patient 7 at UMC Sandbox: a Patient and five Conditions in the BgZ (48)."""

    def __init__(self) -> None:
        self.resources = [{"resourceType": "Patient", "id": "p7", "name": [{"text": "Jan"}]}] + [
            {"resourceType": "Condition", "id": f"c{i}", "clinicalStatus": "active"}
            for i in range(CONDITIONS)]

    def index_of(self, bsn: str) -> int | None:
        return 7

    def held_services(self, index: int, provider: str) -> list[str]:
        return ["48"]

    def record(self, index: int, provider: str, service: str) -> SourceRecord:
        return SourceRecord.of(self.resources if service == "48" else [])

    def binary(self, index: int, provider: str, binary_id: str) -> dict | None:
        return None


class Faulty(httpx.AsyncBaseTransport):
    """The DVA app in process, with faults switched on per path fragment (a count or until
    removed), the way ``pgo-sandbox fault add`` switches them on a running node."""

    def __init__(self, app) -> None:
        self.inner = httpx.ASGITransport(app)
        self.faults: list[dict] = []
        self.seen: list[httpx.Request] = []
        self.pages: dict[str, list[dict]] = {}

    def add(self, kind: str, path: str, count: int | None = None, **params: object) -> None:
        self.faults.append({"kind": kind, "path": path, "count": count, **params})

    def hits(self, fragment: str) -> list[httpx.Request]:
        return [r for r in self.seen if fragment in str(r.url)]

    def _fault(self, request: httpx.Request) -> dict | None:
        for fault in self.faults:
            if fault["path"] in str(request.url) and fault["count"] != 0:
                if fault["count"] is not None:
                    fault["count"] -= 1
                return fault
        return None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if "page=" in request.url.query.decode():  # a next link of a paged Bundle
            key, number = parse_qs(request.url.query.decode())["page"][0].split(":")
            return self._bundle(self.pages[key][int(number)])
        fault = self._fault(request)
        if fault is None:
            return await self.inner.handle_async_request(request)
        kind = fault["kind"]
        if kind == "status":
            headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else {}
            return httpx.Response(fault["status"], headers=headers, json={
                "resourceType": "OperationOutcome", "issue": [
                    {"severity": "error", "code": "transient", "diagnostics": "injected"}]})
        if kind == "reset":
            raise httpx.RemoteProtocolError("peer closed the connection", request=request)
        if kind == "slow":
            await asyncio.sleep(fault["seconds"])
            return await self.inner.handle_async_request(request)
        answer = await self.inner.handle_async_request(request)
        body = json.loads(await answer.aread())
        assert answer.status_code == 200, body
        if kind == "wrong_content_type":
            return httpx.Response(200, headers={"content-type": "text/plain"},
                                  content=json.dumps(body).encode())
        if kind == "partial_bundle":
            body["entry"] = body["entry"][:fault["keep"]]
        elif kind == "warnings":
            body["entry"].append({"resource": {
                "resourceType": "OperationOutcome", "id": "w", "issue": [
                    {"severity": "warning", "code": "incomplete",
                     "diagnostics": "de labuitslagen van 2029 ontbreken"}]},
                "search": {"mode": "outcome"}})
        elif kind == "paged_bundle":
            size, entries = fault["page_size"], body["entry"]
            base = fault.get("next_base", str(request.url))
            key = str(len(self.pages))
            pages = [dict(body, entry=entries[i:i + size])
                     for i in range(0, len(entries), size)]
            for number, page in enumerate(pages[:-1]):
                joint = "&" if "?" in base else "?"
                page["link"] = [{"relation": "next",
                                 "url": f"{base}{joint}page={key}:{number + 1}"}]
            self.pages[key] = pages
            body = pages[0]
        return self._bundle(body)

    @staticmethod
    def _bundle(body: dict) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": f"{FHIR_JSON}; fhirVersion=3.0"},
                              content=json.dumps(body).encode())


class World:
    """A real DVA (dva-nexus) and a real PGO (pgo-alpha) in process, the PGO's back channel
    through ``Faulty``; the person's DigiD login and consent are the DVA's grant store."""

    def __init__(self, tmp_path: Path, lists=None) -> None:
        topology = load_topology()
        addresses = LocalRuntime(tmp_path).addresses(topology, 30000)
        ensure_admin_token(tmp_path)
        self.config = SandboxConfig(topology, "loopback", addresses, tmp_path)
        self.grants = GrantStore(tmp_path / "grants.sqlite")
        dva_app = create_dva(self.config, DVA_NODE, source=FakeSource(), grants=self.grants,
                             clock=ManualClock(START),
                             http=httpx.AsyncClient(transport=httpx.MockTransport(_nowhere)))
        self.client_id = topology.node(PGO).hostname
        dva_lists = dva_app.state.dva.lists.lists
        dva_lists.ocl = {self.client_id: "PGO Alpha"}
        dva_lists.whitelist = frozenset({self.client_id})
        self.dva_base = self.config.public_base(topology.node(DVA_NODE).hostname)
        self.faulty = Faulty(dva_app)
        self.lists = lists if lists is not None else ListCache("http://registry.test",
                                                               httpx.AsyncClient(), 60)
        self.lists.lists.zal = {PROVIDER: {"48": ServiceEndpoints(
            f"{self.dva_base}/oauth/authorize", f"{self.dva_base}/oauth/token",
            {"MM-2.0-BZB-FHIR": f"{self.dva_base}/fhir/{SLUG}/48"})}}
        self.app = create_dvp(self.config, PGO, clock=ManualClock(START), lists=self.lists,
                              http=httpx.AsyncClient(transport=self.faulty))
        self.dvp = self.app.state.dvp
        self.base = addresses[self.client_id]
        self.browser = httpx.AsyncClient(transport=httpx.ASGITransport(self.app),
                                         base_url=self.base)
        self.person_id = self.csrf = ""

    async def account(self) -> None:
        r = await self.browser.post("/api/persons", json={"name": "Jan", "password": "x" * 12})
        assert r.status_code == 201, r.text
        self.person_id, self.csrf = r.json()["id"], r.json()["csrf_token"]

    async def connect(self) -> str:
        """Start a collect; the state the DVA would send back."""
        r = await self.browser.post(f"/persons/{self.person_id}/connect", data={
            "csrf_token": self.csrf, "provider": PROVIDER, "service": "48"})
        assert r.status_code == 302, r.text
        return parse_qs(urlsplit(r.headers["location"]).query)["state"][0]

    async def collect(self, accept: dict = JSON) -> httpx.Response:
        """One collect: connect, the person logs in and consents (grant store), callback."""
        state = await self.connect()
        session = self.grants.start_session(self.client_id, self.dvp.redirect_uri, "umcsandbox",
                                            state, PROVIDER, ["48"], None, "b", "c")
        self.grants.identify(session, 7)
        code = self.grants.issue_code(self.grants.session(session), False)
        return await self.browser.get(f"/oauth/callback?state={state}&code={code}",
                                      headers=accept)

    async def resources(self) -> list[dict]:
        return (await self.browser.get(f"/api/persons/{self.person_id}/resources")).json()[
            "items"]

    async def page(self) -> str:
        r = await self.browser.get(f"/persons/{self.person_id}", headers=HTML)
        assert r.status_code == 200, r.text
        return r.text


def _nowhere(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"the DVA called out: {request.url}")


def _search(summary: dict, fragment: str) -> dict:
    return next(s for s in summary["searches"] if s["request_uri"].endswith(fragment))


@pytest.fixture
def world(tmp_path, monkeypatch) -> World:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(medmij_client, "_sleep", no_sleep)
    w = World(tmp_path)
    w.waits = waits  # type: ignore[attr-defined]
    return w


# retries: only what is safe ------------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("kind,params", [("status", {"status": 503, "retry_after": 600}),
                                         ("status", {"status": 429, "retry_after": 2}),
                                         ("status", {"status": 502}),
                                         ("reset", {})])
async def test_a_search_is_retried_on_429_502_503_and_reset_honouring_retry_after(
        world, kind, params):
    """Rule: a GET search answered 429/502/503 or dropped is sent again (at most
    ``SEARCH_ATTEMPTS`` in all), after ``Retry-After`` capped at ``RETRY_AFTER_CAP_SECONDS``
    (else a short backoff); then the collect is complete."""
    await world.account()
    world.faulty.add(kind, "/Condition", count=2, **params)
    r = await world.collect()
    assert r.status_code == 200 and r.json()["status"] == "collected", r.text
    assert len(world.faulty.hits("/Condition")) == 3
    assert _search(r.json(), "/Condition")["attempts"] == 3
    cap = medmij_client.RETRY_AFTER_CAP_SECONDS
    expected = min(params.get("retry_after", medmij_client.RETRY_BASE_SECONDS), cap)
    assert world.waits[0] == expected and max(world.waits) <= cap  # type: ignore[attr-defined]
    assert sum(i["resource"]["resourceType"] == "Condition"
               for i in await world.resources()) == CONDITIONS


@pytest.mark.anyio
@pytest.mark.parametrize("status", [401, 403, 404, 500])
async def test_a_search_refused_for_good_is_not_retried_and_recorded_failed(world, status):
    """Rule: 401/403/404/500 are not retried (sending again changes nothing); the search is
    recorded failed with its reason, the others still complete (the collect is partial)."""
    await world.account()
    world.faulty.add("status", "/Condition", status=status)
    r = await world.collect()
    summary = r.json()
    assert len(world.faulty.hits("/Condition")) == 1 and not world.waits  # type: ignore
    search = _search(summary, "/Condition")
    assert search["outcome"] == "failed" and search["reason"] == f"HTTP {status}"
    assert summary["status"] == "partial" and r.status_code == 502
    assert any(i["resource"]["resourceType"] == "Patient" for i in await world.resources())


@pytest.mark.anyio
async def test_a_search_that_times_out_is_not_retried(world, monkeypatch):
    """Rule: a search with no answer in time is not sent again (it would double the wait)."""
    monkeypatch.setattr(medmij_client, "SEARCH_TIMEOUT_SECONDS", 0.2)
    await world.account()
    world.faulty.add("slow", "/Condition", seconds=2.0)
    summary = (await world.collect()).json()
    assert len(world.faulty.hits("/Condition")) == 1
    assert _search(summary, "/Condition")["status"] == 504
    assert "no answer within" in _search(summary, "/Condition")["reason"]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["status", "reset"])
async def test_the_code_is_never_posted_twice(world, kind):
    """Rule: the token request (authorization code) is sent once, whatever the DVA answers:
    the code may already be used; the person starts again with a new one."""
    await world.account()
    world.faulty.add(kind, "/oauth/token", count=1, status=503, retry_after=1)
    r = await world.collect()
    assert r.status_code == 502 and r.json()["error"] in ("error", "temporarily_unavailable")
    assert len(world.faulty.hits("/oauth/token")) == 1
    assert r.json()["retry"].startswith(f"/persons/{world.person_id}/connect")
    record = (await world.browser.get(f"/api/persons/{world.person_id}/collections")).json()
    assert record[0]["status"] == "failed" and record[0]["step"] == "token"


# keep what it has; record and tell -------------------------------------------------------------

@pytest.mark.anyio
async def test_a_failed_recollect_keeps_what_was_collected_and_says_so(world):
    """Rule: a re-collect that fails (every search 503) erases nothing collected before; the
    collection is recorded failed and the person reads what happened and what to do."""
    await world.account()
    assert (await world.collect()).json()["status"] == "collected"
    before = await world.resources()
    world.faulty.add("status", "/fhir/", status=503)
    r = await world.collect()
    assert r.json()["status"] == "failed" and r.json()["resources"] == 0
    assert await world.resources() == before and len(before) == CONDITIONS + 1
    html = await world.page()
    assert "Het ziekenhuis kon nu geen gegevens leveren." in html
    assert "Uw eerder opgehaalde gegevens blijven bewaard." in html and "Mislukt" in html


@pytest.mark.anyio
async def test_a_partial_bundle_is_recorded_partial_and_the_person_is_told(world):
    """Rule: a Bundle whose ``total`` says more than it holds is a partial search, recorded
    with its reason; page and API say "kon nu niet alle gegevens leveren"."""
    await world.account()
    world.faulty.add("partial_bundle", "/Condition", keep=2)
    r = await world.collect(accept=HTML)
    assert r.status_code == 303  # the browser goes back to the person page
    collections = (await world.browser.get(
        f"/api/persons/{world.person_id}/collections")).json()
    assert collections[0]["status"] == "partial"
    search = next(s for s in collections[0]["searches"]
                  if s["request_uri"].endswith("/Condition"))
    assert search["outcome"] == "partial" and search["received"] == 2
    assert search["reason"] == f"Bundle.total is {CONDITIONS}, 2 received"
    assert "kon nu niet alle gegevens leveren. Probeer het later opnieuw." in \
        collections[0]["message"]
    html = await world.page()
    assert "Het ziekenhuis kon nu niet alle gegevens leveren. Probeer het later opnieuw." in html
    assert "Gedeeltelijk" in html and "Opnieuw ophalen" in html


@pytest.mark.anyio
async def test_a_paged_bundle_is_followed_to_its_end_and_bounded(world, monkeypatch):
    """Rule: ``next`` links are followed (every page's entries kept), at most ``MAX_PAGES``;
    past that the search is partial, not endless."""
    await world.account()
    world.faulty.add("paged_bundle", "/Condition", page_size=2)
    summary = (await world.collect()).json()
    assert summary["status"] == "collected" and len(world.faulty.hits("page=")) == 2
    assert _search(summary, "/Condition")["received"] == CONDITIONS
    monkeypatch.setattr(medmij_client, "MAX_PAGES", 2)
    world.faulty.add("paged_bundle", "/Condition", page_size=2)
    search = _search((await world.collect()).json(), "/Condition")
    assert search["outcome"] == "partial" and "more than 2 pages" in search["reason"]


@pytest.mark.anyio
async def test_a_next_link_elsewhere_is_not_followed(world):
    """Rule: the access token goes only below the ZAL's resource endpoint, also on paging."""
    await world.account()
    world.faulty.add("paged_bundle", "/Condition", page_size=2,
                     next_base="http://evil.test/fhir/Condition?x=1")
    search = _search((await world.collect()).json(), "/Condition")
    assert not [r for r in world.faulty.seen if r.url.host == "evil.test"]
    assert search["outcome"] == "partial" and "next link outside" in search["reason"]


@pytest.mark.anyio
async def test_a_wrong_content_type_fails_that_search_not_the_collect(world):
    """Rule: an answer that is not FHIR JSON is a failed search with its reason (never a 500);
    the other searches are kept."""
    await world.account()
    world.faulty.add("wrong_content_type", "/Patient?")
    r = await world.collect()
    assert r.status_code == 502 and r.json()["status"] == "partial"
    search = _search(r.json(), "/Patient?_include=Patient:general-practitioner")
    assert search["outcome"] == "failed" and search["reason"] == "wrong Content-Type text/plain"
    assert all(i["resource"]["resourceType"] == "Condition" for i in await world.resources())


@pytest.mark.anyio
async def test_an_operation_outcome_with_warnings_is_shown_not_stored(world):
    """Rule: an OperationOutcome in a Bundle is no data: its warnings are recorded and shown;
    the search stays complete."""
    await world.account()
    world.faulty.add("warnings", "/Condition")
    summary = (await world.collect()).json()
    assert summary["status"] == "collected"
    assert summary["warnings"] == ["de labuitslagen van 2029 ontbreken"]
    assert not [i for i in await world.resources()
                if i["resource"]["resourceType"] == "OperationOutcome"]
    assert "de labuitslagen van 2029 ontbreken" in await world.page()


# OAuth errors at the redirect -------------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("error,words", [
    ("temporarily_unavailable", "kan nu even geen gegevens geven"),
    ("access_denied", "U gaf geen toestemming"),
    ("invalid_scope", "kon de aanvraag niet uitvoeren (invalid_scope)")])
async def test_an_oauth_error_at_the_redirect_is_a_dutch_page_with_a_way_back(
        world, error, words):
    """Rule: the DVA's error at the callback is a Dutch page saying what happened and what to
    do, with the way back; recorded on the person page; API clients keep the DVA's code."""
    await world.account()
    state = await world.connect()
    r = await world.browser.get(f"/oauth/callback?state={state}&error={error}", headers=HTML)
    assert r.status_code == 400 and words in r.text and "href='/'" in r.text
    html = await world.page()
    assert words in html and "Niet gelukt" in html
    state = await world.connect()
    r = await world.browser.get(f"/oauth/callback?state={state}&error={error}", headers=JSON)
    assert r.json()["error"] == error and words in r.json()["message"]


# lists too old ------------------------------------------------------------------------------------

@pytest.mark.anyio
async def test_lists_older_than_allowed_mean_the_provider_cannot_be_reached_now(tmp_path):
    """Rule: past ``list_max_age_seconds`` the PGO trusts no endpoint on its lists: a collect
    is refused with ``temporarily_unavailable`` and a Dutch "niet bereikbaar", not sent."""
    now = [0.0]
    cache = ListCache("http://registry.test", httpx.AsyncClient(), 60, max_age=100,
                      now=lambda: now[0])
    cache.confirmed = {kind: 0.0 for kind in LIST_PATHS}
    world = World(tmp_path, lists=cache)
    await world.account()
    await world.connect()  # fresh lists: allowed
    now[0] = 101.0
    r = await world.browser.post(f"/persons/{world.person_id}/connect", data={
        "csrf_token": world.csrf, "provider": PROVIDER, "service": "48"}, headers=HTML)
    assert r.status_code == 503 and "is nu niet bereikbaar" in r.text
    r = await world.browser.get(f"/persons/{world.person_id}/connect",
                                params={"provider": PROVIDER})
    assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable"
    assert not world.faulty.seen
