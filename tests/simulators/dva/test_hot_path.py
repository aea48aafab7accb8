"""The resource server's hot path (issue 17 items 3-4): searches read the raw ASGI request once
and answer with prebuilt headers, and must still mean exactly what Starlette's ``Request`` and
``fhir_response`` meant. In process, through ``FastRoutes`` as the running node serves them;
one test per rule (removing it alone makes the test fail)."""

from __future__ import annotations

import gc
import sys

import httpx
import pytest

import simulators.serve as serve_module
from simulators.common.app import GC_THRESHOLDS, FastRoutes, HopLog, serving_app, tune_gc
from simulators.common.config import SandboxConfig
from simulators.common.fhir import fhir_response
from simulators.dva.answers import SearchAnswers
from simulators.dva.resources import as_answer, fhir_json
from simulators.medmij import CORRELATION_ID, FHIR_JSON, FHIR_VERSIONS, FHIR_XML
from simulators.medmij.topology import load_topology
from simulators.provider import SourceRecord
from tests.simulators.dva.test_dva_role import PROVIDER, SLUG, Dva, FakeSource

SEARCH = f"/fhir/{SLUG}/48/Observation"


@pytest.mark.parametrize("version", sorted(FHIR_VERSIONS))
def test_a_prebuilt_json_answer_is_what_fhir_response_sends(version):
    """Rule: ``fhir_json`` sends the status, headers (content-length, content-type with the
    fhirVersion and charset) and bytes of ``fhir_response(..., fmt="json")``."""
    body = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    fast = fhir_json(b'{"resourceType":"Bundle","type":"searchset","total":0}', version)
    assert fast == as_answer(fhir_response(body, fhir_version=version))


async def search(dva, query: str = "", accept: list[str] | None = None) -> httpx.Response:
    headers = [("Authorization", f"Bearer {dva.token()}")]
    headers += [("Accept", a) for a in (accept if accept is not None else [FHIR_JSON])]
    async with dva.client(fast=True) as client:
        return await client.get(SEARCH + query, headers=headers)


@pytest.mark.anyio
async def test_the_first_accept_header_decides_as_starlette_would(dva):
    """Rule: of two Accept headers the first counts (Starlette's ``Headers.get``), not the
    last one the one-pass header scan sees."""
    answer = await search(dva, accept=[FHIR_XML, FHIR_JSON])
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(FHIR_XML)


@pytest.mark.anyio
async def test_the_last_format_parameter_decides_and_a_space_is_a_plus(dva):
    """Rule: ``_format`` overrides Accept; repeated, the last one counts (``QueryParams.get``);
    an unencoded ``+`` that arrived as a space is read as ``+``."""
    repeated = await search(dva, "?_format=json&_format=xml")
    spaced = await search(dva, "?_format=application/fhir+xml".replace("+", "%20"))
    assert repeated.headers["content-type"].startswith(FHIR_XML)
    assert spaced.status_code == 200 and spaced.headers["content-type"].startswith(FHIR_XML)


@pytest.mark.anyio
async def test_a_search_without_a_query_is_json_with_its_self_link(dva):
    """Rule: no query string parses as no parameters (no QueryParams built) and the self link
    carries no '?'; with one, the raw query string is the self link's."""
    plain = await search(dva)
    coded = await search(dva, "?code=http://loinc.org|85354-9")
    assert plain.status_code == 200 and plain.json()["link"][0]["url"].endswith("/Observation")
    assert plain.headers["content-type"] == f"{FHIR_JSON}; fhirVersion=3.0; charset=utf-8"
    assert coded.json()["link"][0]["url"].endswith("/Observation?code=http://loinc.org|85354-9")
    assert [e["resource"]["id"] for e in coded.json()["entry"]] == ["bp-1"]


@pytest.mark.anyio
async def test_a_blank_parameter_is_kept_and_judged(dva):
    """Rule: blank values are kept (``keep_blank_values``, as QueryParams): ``?code=`` matches
    nothing instead of being dropped and matching everything."""
    answer = await search(dva, "?code=")
    assert answer.status_code == 200 and answer.json()["total"] == 0


@pytest.mark.anyio
async def test_a_client_that_accepts_neither_format_gets_406_naming_its_accept(dva):
    """Rule: an Accept with neither JSON nor XML is 406 (not-supported), as before."""
    answer = await search(dva, accept=["text/csv"])
    assert answer.status_code == 406
    assert "text/csv" in answer.json()["issue"][0]["diagnostics"]


# the node process: the garbage collector -------------------------------------------------

def test_tune_gc_freezes_what_start_up_built_and_sets_the_thresholds():
    """Rule: ``tune_gc`` moves start-up's objects out of later collections and sets
    ``GC_THRESHOLDS`` (CPython's defaults ran a full collection over every live token and
    record every few thousand searches)."""
    old = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*old)


def test_a_served_node_tunes_the_collector_after_building_its_app(monkeypatch, tmp_path):
    """Rule: ``serve`` builds the node's app, then calls ``tune_gc``, then runs uvicorn (so the
    freeze holds what start-up built)."""
    calls: list[str] = []
    monkeypatch.setattr(serve_module, "build_asgi", lambda *a: calls.append("build"))
    monkeypatch.setattr(serve_module, "tune_gc", lambda: calls.append("tune_gc"))
    monkeypatch.setattr(serve_module.uvicorn, "run", lambda *a, **k: calls.append("run"))
    monkeypatch.setattr(serve_module.clock, "configure", lambda state_dir: None)
    topology = load_topology()
    addresses = {n.hostname: f"http://127.0.0.1:{18600 + i}" for i, n in enumerate(topology.nodes)}
    serve_module.serve(SandboxConfig(topology, "loopback", addresses, tmp_path), "dva-nexus",
                       "127.0.0.1", 18600)
    assert calls == ["build", "tune_gc", "run"]


# the hop log line ----------------------------------------------------------------------------

class Stream:
    """A log stream that records each write."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


async def answer_ok(scope, receive, send) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def ignore(message: dict) -> None:
    pass


@pytest.mark.anyio
async def test_hop_lines_are_written_together_and_when_the_node_stops(monkeypatch):
    """Rule: the hop log keeps its lines and writes them in one go at the flush (not a write
    per request, which cost a file write every ~80 requests), and writes what is pending when
    the node's lifespan ends."""
    stream = Stream()
    monkeypatch.setattr(sys, "stdout", stream)
    hop = HopLog(answer_ok, "dva-nexus")
    hop.enabled = True
    request = {"type": "http", "method": "GET", "path": "/fhir/x/48/Condition", "headers": []}
    for _ in range(3):
        await hop(request, None, ignore)
    assert stream.writes == []
    hop._flush()
    assert len(stream.writes) == 1
    assert stream.writes[0].count(" INFO hop dva-nexus GET /fhir/x/48/Condition 200 ") == 3
    await hop(request, None, ignore)
    await hop({"type": "lifespan"}, None, ignore)  # the app's lifespan returns: the node stops
    assert len(stream.writes) == 2 and " INFO hop dva-nexus GET " in stream.writes[1]


# the hot path in front of the node: HotPath and the route memory -----------------------------

async def served_search(dva, path: str = SEARCH, headers: list | None = None) -> httpx.Response:
    """A request through ``serving_app``, as uvicorn serves the node."""
    app = serving_app(dva.app, "dva-nexus")
    headers = headers if headers is not None else [
        ("Authorization", f"Bearer {dva.token()}"), ("Accept", FHIR_JSON),
        (CORRELATION_ID, "corr-7")]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=dva.base) as client:
        return await client.get(path, headers=headers)


@pytest.mark.anyio
async def test_a_search_answered_in_front_is_logged_as_a_hop(dva):
    """Rule: ``HotPath`` answers a fast route itself while no fault is set, and still logs the
    hop (status, the correlation id), as ``HopLog`` does for every other request."""
    events = dva.app.state.events
    answer = await served_search(dva)
    assert answer.status_code == 200 and answer.json()["total"] == 1
    hops = [e for e in events.since(0) if e["kind"] == "hop" and e["path"] == SEARCH]
    assert len(hops) == 1 and hops[0]["status"] == 200 and hops[0]["corr"] == "corr-7"
    refused = await served_search(dva, headers=[("Accept", FHIR_JSON)])
    assert refused.status_code == 401
    assert [e["status"] for e in events.since(0) if e["kind"] == "hop"][-1] == 401


@pytest.mark.anyio
async def test_with_a_fault_set_a_search_takes_the_usual_way(dva):
    """Rule: with a fault set the hot path steps aside, so the fault layer answers (here a 503
    for the search), and the hop shows the faulted status."""
    dva.app.state.faults.add("status", {"path": SEARCH}, params={"status": 503})
    answer = await served_search(dva)
    assert answer.status_code == 503
    assert [e["status"] for e in dva.app.state.events.since(0) if e["kind"] == "hop"] == [503]


@pytest.mark.anyio
async def test_the_route_memory_is_bounded_and_keeps_each_paths_parameters(dva):
    """Rule: ``FastRoutes`` remembers the route of a (method, path) with that path's own
    parameters, and forgets when it holds ``SEEN`` paths (a client may send any path)."""
    routes = FastRoutes(dva.app, dva.app.state.fast_routes)
    scopes = [{"method": "GET", "path": f"/fhir/{SLUG}/48/Observation/{n}"} for n in range(3)]
    for scope in scopes * 2:
        assert routes.find(scope) is not None
    assert [s["path_params"]["path"] for s in scopes] == [f"Observation/{n}" for n in range(3)]
    assert routes.find({"method": "POST", "path": scopes[0]["path"]}) is None
    for n in range(FastRoutes.SEEN + 10):
        routes.find({"method": "GET", "path": f"/elsewhere/{n}"})
    assert len(routes._seen) <= FastRoutes.SEEN


# the kept answers of cached records (simulators.dva.answers) ----------------------------------

def test_a_kept_answer_is_the_body_around_a_new_bundle_id():
    """Rule: an answer is kept as the bytes before and after its Bundle id, for the record it
    came from only, and no more than ``size`` answers are kept."""
    answers, record = SearchAnswers(size=2), object()
    body = b'{"resourceType":"Bundle","id":"abc-7","type":"searchset","entry":[{"id":"abc-7"}]}'
    answers.put("k", record, body, "abc-7")
    before, after = answers.get("k", record)
    assert before + b"abc-7" + after == body
    assert answers.get("k", object()) is None  # another (rebuilt, re-cached) record
    answers.put("l", record, body, "abc-7")
    answers.put("m", record, body, "abc-7")
    assert len(answers) == 2 and answers.get("k", record) is None


class CachingSource(FakeSource):
    """The fake source system with a cache, as the production one: the same record object
    until a share rebuilds it."""

    def __init__(self) -> None:
        super().__init__()
        self.cached: dict[tuple, SourceRecord] = {}

    def record(self, index: int, provider: str, service: str) -> SourceRecord:
        key = (index, provider, service)
        if key not in self.cached:
            self.cached[key] = super().record(index, provider, service)
        return self.cached[key]

    def receive(self, provider, index, client_id, share_service, accepts, bundle):
        stored = super().receive(provider, index, client_id, share_service, accepts, bundle)
        self.observation = dict(self.observation, id="bp-2")  # what the share changed
        self.cached.clear()
        return stored


@pytest.mark.anyio
async def test_a_repeated_search_is_the_same_answer_with_a_new_id_until_the_record_changes(
        tmp_path):
    """Rule: the same search on the same cached record answers the same bytes but for a new
    Bundle id; once the record is rebuilt (a share), the answer is made from the new one."""
    node = Dva(tmp_path)
    node.source = node.dva.source = CachingSource()
    try:
        first, second = (await search(node)).json(), (await search(node)).json()
        assert first["id"] != second["id"] and len(node.dva.answers) == 1
        assert {**first, "id": None} == {**second, "id": None}
        node.dva.source.receive(PROVIDER, 7, "pgo", "48", (), {})
        third = (await search(node)).json()
        assert [e["resource"]["id"] for e in third["entry"]] == ["bp-2"]
    finally:
        await node.close()
