"""The fault catalogue's machinery (issue 16): the book (count, duration, probability,
match), the token-protected admin API, and the generic resource-side kinds answered by
``FaultMiddleware`` in the protocol's own shape. In process, on a DVA built from injected parts
and served as uvicorn serves it (``serving_app``: hop log, faults, fast routes)."""

from __future__ import annotations

import time

import httpx
import pytest

from simulators.common.app import serving_app
from simulators.common.clock import SandboxClock
from simulators.common.faults import KINDS, FaultBook, FaultError, FaultMiddleware, latency_ms
from simulators.common.security import ensure_admin_token
from simulators.medmij import CORRELATION_ID, OAuthError, fhir_accept
from tests.simulators.dva.test_dva_role import SLUG, Dva, FakeSource

pytestmark = pytest.mark.anyio


class ManySource(FakeSource):
    """The fake source system with five blood pressures, to cut and page."""

    def __init__(self) -> None:
        super().__init__()
        self.observations = [dict(self.observation, id=f"bp-{i}") for i in range(5)]

    def record(self, index, provider, service):
        from simulators.provider import SourceRecord
        if (index, provider, service) == (7, "umcsandbox@medmij", "48"):
            return SourceRecord.of([self.patient, *self.observations])
        return SourceRecord.of([])


class Node:
    def __init__(self, tmp_path) -> None:
        ensure_admin_token(tmp_path)
        self.dva = Dva(tmp_path)
        self.dva.source.__class__ = ManySource
        ManySource.__init__(self.dva.source)
        self.book: FaultBook = self.dva.app.state.faults
        self.admin = {"Authorization": f"Bearer {self.dva.config.admin_token}"}
        self.headers = {"Authorization": f"Bearer {self.dva.token()}",
                        "Accept": fhir_accept("3.0"), CORRELATION_ID: "corr-1"}
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=serving_app(self.dva.app, "dva-nexus")),
            base_url=self.dva.base)

    async def search(self, path: str = "Observation", **kw) -> httpx.Response:
        return await self.client.get(f"/fhir/{SLUG}/48/{path}",
                                     headers=kw.pop("headers", self.headers), **kw)

    async def add(self, kind: str, **body) -> httpx.Response:
        return await self.client.post("/admin/faults", json={"kind": kind, **body},
                                      headers=self.admin)

    def events(self, kind: str) -> list[dict]:
        return [e for e in self.dva.app.state.events.since(0) if e["kind"] == kind]


@pytest.fixture
async def node(tmp_path):
    n = Node(tmp_path)
    yield n
    await n.client.aclose()
    await n.dva.close()


# the book ---------------------------------------------------------------------------------

def test_a_count_fires_that_many_times_then_the_fault_is_gone():
    """Rule: count N fires N times."""
    book = FaultBook("n")
    book.add("status", count=2)
    assert [book.take("status") is not None for _ in range(3)] == [True, True, False]
    assert book.list() == [] and book.active is False


def test_seconds_end_a_fault_and_no_count_means_until_cleared():
    """Rule: ``seconds`` ends a fault on time; without count or seconds it stays."""
    book = FaultBook("n")
    now = [1000.0]
    book.now = lambda: now[0]
    book.add("slow", seconds=30)
    forever = book.add("reset")
    assert book.take("slow") is not None
    now[0] += 31
    assert book.take("slow") is None
    assert all(book.take("reset") is not None for _ in range(50))
    assert [f.id for f in book.list()] == [forever.id]
    assert book.clear() == 1 and not book.active


def test_probability_is_a_seeded_deterministic_draw():
    """Rule: probability draws from a seeded RNG: the same seed fires on the same requests."""
    def run() -> list[bool]:
        book = FaultBook("n", seed=7)
        book.add("status", probability=0.5)
        return [book.take("status") is not None for _ in range(200)]

    first = run()
    assert first == run() and 60 < sum(first) < 140
    never = FaultBook("n")
    never.add("status", probability=0.0)
    assert all(never.take("status") is None for _ in range(50))


def test_match_by_provider_client_person_and_path():
    """Rule: a fault fires only for the request it matches; a key the step does not know (the
    person before DigiD) does not match."""
    book = FaultBook("n")
    book.person_index = {"999911120": 7}.get
    book.add("status", {"provider": "umcsandbox@medmij", "client": "pgo-alpha",
                        "person": "999911120", "path": "/fhir/"})
    hit = {"provider": "umcsandbox", "client": "pgo-alpha.sandbox.test", "person": 7,
           "path": "/fhir/umcsandbox/48/Patient"}
    assert book.take("status", **{**hit, "provider": "huisarts@medmij"}) is None
    assert book.take("status", **{**hit, "client": "pgo-beta"}) is None
    assert book.take("status", **{**hit, "person": 8}) is None
    assert book.take("status", **{**hit, "path": "/oauth/token"}) is None
    assert book.take("status", **{k: v for k, v in hit.items() if k != "person"}) is None
    assert book.take("status", **hit) is not None


def test_unknown_kinds_kinds_of_other_nodes_and_bad_params_are_refused():
    """Rule: a typo is refused with the list of known names, never a silent other fault."""
    book = FaultBook("dva-x")
    with pytest.raises(FaultError, match="unknown fault kind nope; known: unknown_provider"):
        book.add("nope")
    with pytest.raises(FaultError, match="fires at the registry"):
        book.add("lists_stale")
    with pytest.raises(FaultError, match="status must be one of"):
        book.add("status", params={"status": 418})
    with pytest.raises(FaultError, match="count"):
        book.add("status", count=0)
    with pytest.raises(FaultError, match="unknown match key"):
        book.add("status", {"bsn": "1"})
    assert len(KINDS) == 24


def test_a_lognormal_latency_has_its_median():
    book = FaultBook("n", seed=1)
    draws = sorted(latency_ms({"median_ms": 100, "p95_ms": 400}, book.rng) for _ in range(2001))
    assert 85 < draws[1000] < 115 and 300 < draws[1900] < 520


def test_clock_jump_moves_the_sandbox_clock_of_every_node(tmp_path):
    """Rule: clock_jump moves the shared sandbox clock at once (clock.json)."""
    dva = Dva(tmp_path)
    clock = SandboxClock(tmp_path)
    before = clock.now()
    fault = dva.app.state.faults.add("clock_jump", params={"seconds": 86400})
    assert fault.fired == 1 and dva.app.state.faults.list() == []
    assert 86000 < clock.now() - before < 86800
    dva.app.state.faults.add("clock_jump", params={"seconds": -86400})
    assert not (tmp_path / "clock.json").exists()


# the admin API ----------------------------------------------------------------------------

async def test_the_fault_api_needs_the_admin_token(node):
    """Rule: only the admin token switches faults (anyone else could break every flow)."""
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        assert (await node.client.post("/admin/faults", json={"kind": "status"},
                                       headers=headers)).status_code == 401
        assert (await node.client.get("/admin/faults", headers=headers)).status_code == 401
        assert (await node.client.delete("/admin/faults", headers=headers)).status_code == 401
    assert node.book.faults == {}


async def test_add_list_remove_and_clear_through_the_api(node):
    r = await node.add("status", match={"path": "/fhir/"}, count=2, params={"status": 429})
    assert r.status_code == 201 and r.json()["params"] == {"status": 429}
    listed = (await node.client.get("/admin/faults", headers=node.admin)).json()
    assert listed["node"] == "dva-nexus" and [f["id"] for f in listed["faults"]] == [r.json()["id"]]
    gone = await node.client.delete(f"/admin/faults/{r.json()['id']}", headers=node.admin)
    assert gone.status_code == 200
    again = await node.client.delete(f"/admin/faults/{r.json()['id']}", headers=node.admin)
    assert again.status_code == 404
    await node.add("slow")
    cleared = await node.client.delete("/admin/faults", headers=node.admin)
    assert cleared.json() == {"cleared": 1} and not node.book.active


async def test_an_unknown_kind_is_400_with_the_known_kinds(node):
    r = await node.add("nope")
    assert r.status_code == 400
    assert r.json()["error"] == OAuthError.INVALID_REQUEST
    assert r.json()["error_description"].startswith("unknown fault kind nope; known: ")
    bad = await node.client.post("/admin/faults", content=b"{", headers=node.admin)
    assert bad.status_code == 400


# the resource-side kinds ------------------------------------------------------------------

@pytest.mark.parametrize("status,code", [(401, "login"), (403, "forbidden"), (404, "not-found"),
                                         (429, "throttled"), (500, "exception"),
                                         (502, "transient"), (503, "transient")])
async def test_a_status_fault_is_an_operation_outcome_on_fhir(node, status, code):
    """Rule: on /fhir/ a faulted status is an OperationOutcome; 401 names the Bearer realm
    with invalid_token, 429/503 say when to retry; the request's ids are echoed."""
    await node.add("status", count=1, params={"status": status, "retry_after": 7})
    r = await node.search()
    assert r.status_code == status
    assert r.json()["resourceType"] == "OperationOutcome"
    assert r.json()["issue"][0]["code"] == code
    assert r.headers[CORRELATION_ID] == "corr-1"
    assert ("retry-after" in r.headers) == (status in (429, 503))
    if status == 401:
        assert r.headers["www-authenticate"] == (f'Bearer realm="{node.dva.dva.name}", '
                                                 f'error="{OAuthError.INVALID_TOKEN}"')
    assert (await node.search()).status_code == 200  # count 1


async def test_a_status_fault_is_oauth_json_at_the_token_endpoint_and_json_elsewhere(node):
    await node.add("status", count=2, params={"status": 503, "retry_after": 3})
    token = await node.client.post("/oauth/token", data={"grant_type": "x"})
    other = await node.client.get("/oauth/authorize")
    assert token.status_code == 503 and token.json()["error"] == "temporarily_unavailable"
    assert token.headers["retry-after"] == "3"
    assert other.status_code == 503 and "error_description" in other.json()


async def test_the_hop_shows_the_faulted_status_and_the_fault_event_its_correlation_id(node):
    """Rule: the fault fires inside the hop log, and is published with the corr it hit."""
    fault = (await node.add("status", count=1, params={"status": 502})).json()
    await node.search()
    event = node.events("fault")[-1]
    assert (event["fault"], event["name"], event["corr"]) == (fault["id"], "status", "corr-1")
    assert event["path"] == f"/fhir/{SLUG}/48/Observation"
    assert node.events("hop")[-1]["status"] == 502


async def test_partial_bundle_keeps_a_part_and_total_says_more(node):
    await node.add("partial_bundle", count=1, params={"keep": 2})
    r = await node.search()
    assert r.status_code == 200 and r.json()["total"] == 5 and len(r.json()["entry"]) == 2
    await node.add("partial_bundle", count=1, params={"keep": 0.5})
    assert len((await node.search()).json()["entry"]) == 2  # half of 5, rounded down


async def test_paged_bundle_links_next_pages_only_for_the_same_token(node):
    """Rule: a paged Bundle stays valid FHIR (total, self, next) and its pages are served
    only to the bearer of the token that searched."""
    await node.add("paged_bundle", count=1, params={"page_size": 2})
    first = (await node.search()).json()
    assert first["total"] == 5 and len(first["entry"]) == 2
    links = {lk["relation"]: lk["url"] for lk in first["link"]}
    assert set(links) == {"self", "next"}
    seen = [e["resource"]["id"] for e in first["entry"]]
    url = links["next"]
    while url:
        page = (await node.client.get(url, headers=node.headers)).json()
        seen += [e["resource"]["id"] for e in page["entry"]]
        url = {lk["relation"]: lk["url"] for lk in page["link"]}.get("next")
    assert seen == [f"bp-{i}" for i in range(5)]
    stranger = await node.client.get(links["next"], headers={**node.headers,
                                                             "Authorization": "Bearer other"})
    assert stranger.status_code == 401


async def test_warnings_add_an_outcome_entry_with_severity_warning(node):
    await node.add("warnings", count=1)
    entries = (await node.search()).json()["entry"]
    outcome = entries[-1]
    assert outcome["search"]["mode"] == "outcome"
    assert outcome["resource"]["issue"][0]["severity"] == "warning"


async def test_wrong_content_type_keeps_the_body(node):
    await node.add("wrong_content_type", count=1, params={"content_type": "text/html"})
    r = await node.search()
    assert r.headers["content-type"] == "text/html" and r.json()["resourceType"] == "Bundle"


async def test_slow_delays_the_answer(node):
    await node.add("slow", count=1, params={"ms": 150})
    start = time.perf_counter()
    assert (await node.search()).status_code == 200
    assert time.perf_counter() - start >= 0.15


async def test_reset_leaves_the_answer_incomplete(node):
    """Rule: reset sends less than the Content-Length it announced and never completes the
    answer (uvicorn then drops the connection; the real-process test sees the client's
    error)."""
    await node.add("reset", count=1)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": f"/fhir/{SLUG}/48/Observation",
             "raw_path": f"/fhir/{SLUG}/48/Observation".encode(), "query_string": b"",
             "root_path": "", "scheme": "http", "http_version": "1.1",
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
             "headers": [(k.lower().encode(), v.encode()) for k, v in node.headers.items()]}
    await serving_app(node.dva.app, "dva-nexus")(scope, receive, send)
    start, body = sent[0], sent[1]
    length = int(dict(start["headers"])[b"content-length"])
    assert len(body["body"]) < length and body["more_body"] is True and len(sent) == 2
    assert node.events("fault")[-1]["name"] == "reset"


async def test_a_fault_for_another_provider_or_client_leaves_the_request_alone(node):
    await node.add("status", match={"provider": "huisarts@medmij"})
    await node.add("status", match={"client": "pgo-beta"})
    await node.add("status", match={"person": "8"})
    assert (await node.search()).status_code == 200
    await node.add("status", match={"person": "7"}, count=1)  # the token's patient
    assert (await node.search()).status_code == 503


async def test_no_fault_leaves_the_answer_unchanged_and_costs_one_attribute_check(node):
    """Rule: without faults the middleware passes the request straight on."""
    plain = await node.search()
    calls = []

    async def app(scope, receive, send):
        calls.append(scope)

    middleware = FaultMiddleware(app, node.book)
    await middleware({"type": "http", "path": "/fhir/x"}, None, None)  # no headers read
    assert len(calls) == 1 and plain.status_code == 200
    assert [e["resource"]["id"] for e in plain.json()["entry"]] == [f"bp-{i}" for i in range(5)]
