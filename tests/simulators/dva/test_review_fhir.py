"""The resource server's answers to an outside review (findings F1, F3, F4, F5, F9): a Binary
only on the Documenten endpoint, Delen refusing malformed and oversized transactions with an
OperationOutcome and storing nothing, search modifiers done or refused, framework refusals on
FHIR paths as OperationOutcomes. One test per rule; removing that rule alone makes it fail.

Searches and the framework refusals run on the ``dva`` fixture (the fake source system of
``test_dva_role``); Binary reads and Delen on a DVA with its production source system (the
synthetic population and a ``received.sqlite`` in ``tmp_path``), as ``test_isolation`` does.
Requests go through ``FastRoutes`` as the running node serves them, and an exception in the
app comes back as its 500 answer, so a crash fails the status assertion.
"""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import orjson
import pytest

from simulators.common.app import FastRoutes
from simulators.common.clock import ManualClock
from simulators.common.config import SandboxConfig
from simulators.dva import resource_server as rs
from simulators.dva.app import create_app
from simulators.dva.grants import GrantStore
from simulators.dva.search import SearchError, search
from simulators.medmij import LOINC, MEDMIJ_REQUEST_ID, build_scope, fhir_accept
from simulators.medmij.topology import load_topology
from simulators.provider import SourceRecord
from simulators.provider.received import MAX_ENTRIES
from tests.simulators.dva.test_dva_role import CLIENT, NODE, SLUG, START, unreachable

HOSPITAL = "umcsandbox@medmij"  # 48, 51 and 53 at dva-nexus
GP = "huisartsdebrug@medmij"  # 48, 49, 51, 52 and 53 at dva-nexus
SCAN = 300  # population indices searched for a patient
STU3 = fhir_accept("3.0")
BP = {"resourceType": "Observation", "status": "final",
      "code": {"coding": [{"system": LOINC, "code": "85354-9"}]}}
PDF = base64.b64encode(b"%PDF-1.4 shared by a PGO").decode()
DOC = {"resourceType": "DocumentReference", "status": "current",
       "content": [{"attachment": {"url": "urn:uuid:bin", "contentType": "application/pdf"}}]}
BINARY = {"resourceType": "Binary", "contentType": "application/pdf", "content": PDF}


def outcome(r: httpx.Response, status: int) -> str:
    """The diagnostics of the OperationOutcome ``r`` must be, answered with ``status``."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    assert body["resourceType"] == "OperationOutcome", body
    return body["issue"][0]["diagnostics"]


def entry(resource: dict, full_url: str | None = None) -> dict:
    e = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    return e if full_url is None else e | {"fullUrl": full_url}


def transaction(*entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


class RealDva:
    """One DVA app with its production source system, built from injected parts as
    ``test_dva_role.Dva`` (grants in ``tmp_path``, a ``ManualClock``, no outside calls)."""

    def __init__(self, tmp_path: Path) -> None:
        topology = load_topology()
        addresses = {n.hostname: f"http://127.0.0.1:{18600 + i}"
                     for i, n in enumerate(topology.nodes)}
        self.config = SandboxConfig(topology, "loopback", addresses, tmp_path)
        self.grants = GrantStore(tmp_path / "grants.sqlite")
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(unreachable))
        self.app = create_app(self.config, NODE, http=self.http, grants=self.grants,
                              clock=ManualClock(START))
        self.dva = self.app.state.dva
        self.source = self.dva.source
        self.dva.lists.lists.ocl = {CLIENT: "PGO Alpha"}
        self.dva.lists.lists.whitelist = frozenset({CLIENT})
        self.base = self.config.public_base(self.dva.hostname)
        self.redirect_uri = self.config.public_url(topology.node("pgo-alpha").hostname,
                                                   "/oauth/callback")

    def patient(self, provider: str, *services: str) -> int:
        """A population index whose record at ``provider`` holds ``services``."""
        for index in range(SCAN):
            if set(services) <= set(self.source.held_services(index, provider)):
                return index
        raise LookupError(f"no patient with {services} at {provider}")

    def token(self, index: int, provider: str, services: tuple[str, ...]) -> str:
        """An access token through the grant store's own code exchange."""
        slug = provider.split("@")[0]
        scope = " ".join(build_scope(slug, s) for s in services)
        session_id = self.grants.start_session(CLIENT, self.redirect_uri, scope, "st", provider,
                                               list(services), None, "browser", "csrf")
        self.grants.identify(session_id, index)
        code = self.grants.issue_code(self.grants.session(session_id), False)
        return self.grants.exchange_code(code, CLIENT, self.redirect_uri)["access_token"]

    def stored(self) -> int:
        """Rows in the received store: what Delen wrote."""
        return self.source.received.db.execute("SELECT COUNT(*) FROM received").fetchone()[0]

    async def close(self) -> None:
        await self.http.aclose()
        self.grants.db.close()
        self.source.close()


@pytest.fixture
async def real(tmp_path):
    node = RealDva(tmp_path)
    yield node
    await node.close()


def client(node) -> httpx.AsyncClient:
    app = FastRoutes(node.app, node.app.state.fast_routes)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url=node.base)


# --- F1: a Binary is part of the Documenten record -------------------------------------------

@pytest.mark.anyio
async def test_binary_is_served_on_the_documents_endpoint_only(real):
    """Rule: a document's Binary is looked up only on the gegevensdienst whose
    DocumentReferences point to it (51); on the BgZ endpoint (48) it is an unknown id (404),
    even for a token that covers both."""
    index = real.patient(HOSPITAL, "48", "51")
    doc = real.source.record(index, HOSPITAL, "51").of_type("DocumentReference")[0]
    binary = doc["content"][0]["attachment"]["url"]
    assert binary.startswith("Binary/")
    slug = HOSPITAL.split("@")[0]
    both = real.token(index, HOSPITAL, ("48", "51"))
    async with client(real) as c:
        for token in (real.token(index, HOSPITAL, ("48",)), both):
            for accept in (STU3, None):  # FHIR JSON, and the raw PDF
                headers = {"Authorization": f"Bearer {token}"} | (
                    {"Accept": accept} if accept else {})
                r = await c.get(f"/fhir/{slug}/48/{binary}", headers=headers)
                assert "not found" in outcome(r, 404)
        r = await c.get(f"/fhir/{slug}/51/{binary}", headers={"Authorization": f"Bearer {both}"})
        assert r.status_code == 200 and r.content.startswith(b"%PDF")
        r = await c.get(f"/fhir/{slug}/51/{binary}",
                        headers={"Authorization": f"Bearer {both}", "Accept": STU3})
        assert r.status_code == 200 and r.json()["resourceType"] == "Binary"


# --- F3: Delen refuses a malformed transaction whole -----------------------------------------

MALFORMED = {
    "duplicate fullUrl": transaction(entry(BP, "urn:uuid:a"), entry(BP, "urn:uuid:a")),
    "fullUrl not a string": transaction(entry(BP, "urn:uuid:a"),
                                        {**entry(BP), "fullUrl": {"x": 1}}),
    "no resourceType": transaction(
        entry(BP, "urn:uuid:a"), {"resource": {}, "request": {"method": "POST"}}),
    "resourceType a list": transaction(
        entry(BP, "urn:uuid:a"),
        {"resource": {"resourceType": ["x"]}, "request": {"method": "POST", "url": ["x"]}}),
    "code a string": transaction(entry(BP, "urn:uuid:a"), entry(BP | {"code": "x"})),
    "code.coding a string": transaction(entry(BP, "urn:uuid:a"),
                                        entry(BP | {"code": {"coding": "x"}})),
    "meta a string": transaction(entry(BP, "urn:uuid:a"), entry(BP | {"meta": "x"})),
    "meta null": transaction(entry(BP, "urn:uuid:a"), entry(BP | {"meta": None})),
    "meta.tag a string": transaction(entry(BP, "urn:uuid:a"),
                                     entry(BP | {"meta": {"tag": "x"}})),
    "content a dict": transaction(entry(DOC | {"content": {"a": 1}})),
    "content a list of strings": transaction(entry(DOC | {"content": ["x"]})),
    "attachment a string": transaction(entry(DOC | {"content": [{"attachment": "x"}]})),
    "attachment.url a list": transaction(
        entry(DOC | {"content": [{"attachment": {"url": ["x"]}}]})),
    "document and Binary share a fullUrl": transaction(
        entry(DOC, "urn:uuid:bin"), entry(BINARY, "urn:uuid:bin")),
    "effectiveDateTime an object": transaction(
        entry(BP, "urn:uuid:a"), entry(BP | {"effectiveDateTime": {"x": 1}})),
    "issued a number": transaction(entry(BP | {"issued": 5})),
    "effectivePeriod.start a number": transaction(
        entry(BP | {"effectivePeriod": {"start": 5}})),
    "related a list of numbers": transaction(entry(BP | {"related": [1]})),
    "extension a list of strings": transaction(entry(BP | {"extension": ["x"]})),
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_a_malformed_transaction_is_400_and_stores_nothing(real, case):
    """Rule: every entry's structure is checked before anything is written: a 400
    OperationOutcome naming the problem, and no row stored (a transaction is all or
    nothing). The first entry of most cases is a valid blood pressure."""
    bundle = MALFORMED[case]
    service = "53" if any(e["resource"].get("resourceType") == "DocumentReference"
                          for e in bundle["entry"]) else "52"
    index = real.patient(GP)
    headers = {"Authorization": f"Bearer {real.token(index, GP, (service,))}",
               "Accept": STU3, MEDMIJ_REQUEST_ID: "req-1"}
    async with client(real) as c:
        r = await c.post(f"/fhir/huisartsdebrug/{service}", content=orjson.dumps(bundle),
                         headers=headers)
    assert "entry" in outcome(r, 400)
    assert r.headers[MEDMIJ_REQUEST_ID] == "req-1"
    assert real.stored() == 0


@pytest.mark.anyio
async def test_a_valid_document_share_still_stores_both(real):
    """The checks refuse no valid transaction: a DocumentReference with its Binary."""
    index = real.patient(GP)
    headers = {"Authorization": f"Bearer {real.token(index, GP, ('53',))}", "Accept": STU3}
    async with client(real) as c:
        r = await c.post("/fhir/huisartsdebrug/53", headers=headers, content=orjson.dumps(
            transaction(entry(DOC, "urn:uuid:doc"), entry(BINARY, "urn:uuid:bin"))))
    assert r.status_code == 200, r.text
    assert real.stored() == 2


@pytest.mark.anyio
async def test_json_nested_deeper_than_the_store_writes_is_400(real):
    """Rule: a body orjson can read but not write back (nested deeper than 254 levels) is
    refused as 400, not a 500 from the store."""
    index = real.patient(GP)
    headers = {"Authorization": f"Bearer {real.token(index, GP, ('52',))}", "Accept": STU3}
    deep = b'{"n":' * 300 + b"1" + b"}" * 300  # orjson cannot write it: written by hand
    resource = orjson.dumps(BP)[:-1] + b',"extension":[' + deep + b"]}"
    body = (b'{"resourceType":"Bundle","type":"transaction","entry":[{"resource":' + resource
            + b',"request":{"method":"POST","url":"Observation"}}]}')
    assert orjson.loads(body)["entry"][0]["resource"]["status"] == "final"
    async with client(real) as c:
        r = await c.post("/fhir/huisartsdebrug/52", headers=headers, content=body)
    assert "nested" in outcome(r, 400)
    assert real.stored() == 0


# --- F4: the size of a share ---------------------------------------------------------------

@pytest.mark.anyio
async def test_more_entries_than_the_cap_is_413(real):
    """Rule: a transaction holds at most ``MAX_ENTRIES`` entries (413 too-long), and nothing
    of it is stored."""
    index = real.patient(GP)
    headers = {"Authorization": f"Bearer {real.token(index, GP, ('52',))}", "Accept": STU3}
    async with client(real) as c:
        r = await c.post("/fhir/huisartsdebrug/52", headers=headers, content=orjson.dumps(
            transaction(*[entry(BP) for _ in range(MAX_ENTRIES + 1)])))
    assert str(MAX_ENTRIES) in outcome(r, 413)
    assert r.json()["issue"][0]["code"] == "too-long"
    assert real.stored() == 0


@pytest.mark.anyio
async def test_a_declared_length_over_the_cap_is_413_before_reading(real, monkeypatch):
    """Rule: a Content-Length over ``MAX_SHARE_BYTES`` is refused before the body is read
    (here the body itself is small: only the declared length can refuse it)."""
    monkeypatch.setattr(rs, "MAX_SHARE_BYTES", 1000)
    index = real.patient(GP)
    body = orjson.dumps(transaction(entry(BP)))
    headers = {"Authorization": f"Bearer {real.token(index, GP, ('52',))}", "Accept": STU3}
    async with client(real) as c:
        request = c.build_request("POST", "/fhir/huisartsdebrug/52", headers=headers,
                                  content=body)
        request.headers["Content-Length"] = "1001"
        r = await c.send(request)
    assert "1000 bytes" in outcome(r, 413)
    assert real.stored() == 0


@pytest.mark.anyio
async def test_a_streamed_body_over_the_cap_is_413_while_reading(real, monkeypatch):
    """Rule: without a Content-Length the body is counted while it streams in and refused
    once past ``MAX_SHARE_BYTES``: the rest is never read."""
    monkeypatch.setattr(rs, "MAX_SHARE_BYTES", 4096)
    index = real.patient(GP)
    sent = []

    async def chunks():
        for _ in range(64):
            sent.append(1024)
            yield b" " * 1024

    headers = {"Authorization": f"Bearer {real.token(index, GP, ('52',))}", "Accept": STU3}
    async with client(real) as c:
        r = await c.post("/fhir/huisartsdebrug/52", headers=headers, content=chunks())
    assert "4096 bytes" in outcome(r, 413)
    assert sum(sent) < 64 * 1024


@pytest.mark.anyio
async def test_a_collect_service_refuses_a_post_before_reading_it(real, monkeypatch):
    """Rule: POST to a collect gegevensdienst is 405 before the body is read: a body over
    the cap there is not a 413."""
    monkeypatch.setattr(rs, "MAX_SHARE_BYTES", 10)
    index = real.patient(GP, "48")
    headers = {"Authorization": f"Bearer {real.token(index, GP, ('48',))}", "Accept": STU3}
    async with client(real) as c:
        r = await c.post("/fhir/huisartsdebrug/48", headers=headers, content=b" " * 100)
    assert "collecting" in outcome(r, 405)


# --- F5: search modifiers done or refused ----------------------------------------------------

RECORD = SourceRecord.of([
    {"resourceType": "Observation", "id": "bp", "status": "final",
     "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
     "effectiveDateTime": "2024-01-01", "hasMember": [{"reference": "Observation/w"}]},
    {"resourceType": "Observation", "id": "w", "status": "final",
     "code": {"coding": [{"system": LOINC, "code": "29463-7"}]},
     "related": [{"target": {"reference": "Observation/bp"}}],
     "specimen": {"reference": "Specimen/s"}},
    {"resourceType": "Observation", "id": "none"},
    {"resourceType": "Specimen", "id": "s", "parent": [{"reference": "Specimen/s0"}]},
    {"resourceType": "Specimen", "id": "s0"},
])


def ids(resources: list[dict]) -> list[str]:
    return sorted(r["id"] for r in resources)


ODD = SourceRecord.of([  # shapes Delen now refuses; data from before, or another source
    {"resourceType": "Observation", "id": "ok", "code": {"coding": [
        {"system": LOINC, "code": "85354-9"}]}, "effectiveDateTime": "2024-01-01"},
    {"resourceType": "Observation", "id": "odd", "code": {"coding": [
        {"system": LOINC, "code": "85354-9"}, {"system": 5, "code": {"x": 1}}]},
     "effectiveDateTime": {"x": 1}, "issued": 5, "related": [1, {"target": 5}],
     "extension": ["x", {"url": 5}]},
    {"resourceType": "Observation", "id": "period", "code": {"coding": [
        {"system": LOINC, "code": "85354-9"}]}, "effectivePeriod": {"start": 5}},
])


@pytest.mark.parametrize("query", [
    [("date", "ge2000-01-01")], [("date:missing", "true")], [("_count", "5")],
    [("_include", "Observation:related-target")],
    [("_include:iterate", "Observation:related-target")], [("code", "85354-9")]])
def test_a_search_reads_values_of_another_shape_as_missing(query):
    """Rule: the search reads a date, period, coding or reference of another shape than
    FHIR's as missing, never fails on it: the answer is the other resources'."""
    found, _ = search(ODD, "Observation", query)
    if query[0][0] == "date":
        assert ids(found) == ["ok"]
    elif query[0][0] == "date:missing":
        assert ids(found) == ["odd", "period"]
    else:
        assert ids(found) == ["odd", "ok", "period"]


def test_lastn_reads_values_of_another_shape_as_missing():
    """Rule: $lastn compares the resources' times as text, a time of another shape as none."""
    found, _ = search(ODD, "Observation", [], lastn=True)
    assert "ok" in ids(found)


def test_not_on_a_token_excludes_the_values():
    """Rule: ``code:not`` keeps what does not match (a resource without a code too), never
    what was excluded."""
    assert ids(search(RECORD, "Observation", [("code:not", "85354-9")])[0]) == ["none", "w"]
    assert ids(search(RECORD, "Observation", [("code:not", f"{LOINC}|85354-9,29463-7")])[0]) \
        == ["none"]


def test_not_on_id_excludes_the_ids():
    """Rule: ``_id:not`` keeps the other resources."""
    assert ids(search(RECORD, "Observation", [("_id:not", "bp")])[0]) == ["none", "w"]


def test_missing_on_token_and_date_parameters():
    """Rule: ``:missing=true`` keeps the resources without a value for the parameter,
    ``false`` those with one; any other value is refused."""
    assert ids(search(RECORD, "Observation", [("code:missing", "true")])[0]) == ["none"]
    assert ids(search(RECORD, "Observation", [("status:missing", "false")])[0]) == ["bp", "w"]
    assert ids(search(RECORD, "Observation", [("date:missing", "true")])[0]) == ["none", "w"]
    with pytest.raises(SearchError, match="true or false"):
        search(RECORD, "Observation", [("code:missing", "yes")])


@pytest.mark.parametrize("name", ["code:text", "code:above", "code:below", "code:in",
                                  "status:of-type", "_id:missing", "date:not", "date:exact"])
def test_other_modifiers_are_refused(name):
    """Rule: a modifier the server does not implement is refused, naming it, never read as
    a plain match."""
    with pytest.raises(SearchError, match=f":{name.split(':')[1]}"):
        search(RECORD, "Observation", [(name, "85354-9")])


@pytest.mark.parametrize("name,value", [("_revinclude", "Provenance:target"),
                                        ("_summary", "count"), ("_summary", "true"),
                                        ("_count:x", "5")])
def test_result_parameters_not_applied_are_refused(name, value):
    """Rule: ``_revinclude`` and ``_summary`` (other than ``false``) would change the answer
    and are not implemented: refused, not ignored; nor does a result parameter take a
    modifier."""
    with pytest.raises(SearchError, match=name.split(":")[0]):
        search(RECORD, "Observation", [(name, value)])
    assert ids(search(RECORD, "Observation", [("_summary", "false")])[0]) == ["bp", "none", "w"]


@pytest.mark.parametrize("name, value", [("_count", "-1"), ("_count", "ten"), ("max", "1.5"),
                                         ("_count", "")])
def test_a_count_that_is_no_count_is_refused(name, value):
    """Rule: ``_count`` and ``$lastn``'s ``max`` are accepted (a server may return fewer)
    but only as whole numbers of 0 or more."""
    with pytest.raises(SearchError, match=name):
        search(RECORD, "Observation", [(name, value)])
    assert ids(search(RECORD, "Observation", [("_count", "10")])[0]) == ["bp", "none", "w"]


@pytest.mark.parametrize("value", ["2020-13-45", "2021-02-30", "ge2020-13", "le2020-00",
                                   "2020-01-01T25:00", "2020-01-01T10:61:00"])
def test_a_date_that_is_no_date_is_refused(value):
    """Rule: a date search value must name a real month, day and time, not only look like
    one."""
    with pytest.raises(SearchError, match="date"):
        search(RECORD, "Observation", [("date", value)])
    assert ids(search(RECORD, "Observation", [("date", "ge2023-12-31T23:00:00Z")])[0]) == ["bp"]


def test_include_iterate_follows_the_included_resources():
    """Rule: ``_include:iterate`` (STU3 ``:recurse``) also applies to what was included,
    until nothing new comes in; a plain ``_include`` does not."""
    params = [("_id", "w"), ("_include", "Observation:specimen")]
    assert ids(search(RECORD, "Observation", params)[1]) == ["s"]
    for modifier in ("iterate", "recurse"):
        found = search(RECORD, "Observation",
                       params + [(f"_include:{modifier}", "Specimen:parent")])[1]
        assert ids(found) == ["s", "s0"]
    chain = search(RECORD, "Observation",
                   [("_id", "w"), ("_include:iterate", "Observation:related-target"),
                    ("_include:iterate", "Observation:has-member")])[1]
    assert ids(chain) == ["bp", "w"]  # w -> bp -> w again: each once, and the loop ends


@pytest.mark.parametrize("name,value", [("_include:deep", "Observation:specimen"),
                                        ("_include:iterate", "specimen")])
def test_an_unknown_include_modifier_or_spec_is_refused(name, value):
    """Rule: ``_include`` takes only ``:iterate``/``:recurse`` and a ``Type:param[:Type]``."""
    with pytest.raises(SearchError, match="_include"):
        search(RECORD, "Observation", [(name, value)])


@pytest.mark.anyio
async def test_a_refused_modifier_is_a_400_operation_outcome(dva):
    """Over HTTP: the refusal is a 400 OperationOutcome that names the modifier."""
    headers = {"Authorization": f"Bearer {dva.token()}", "Accept": STU3}
    async with client(dva) as c:
        r = await c.get(f"/fhir/{SLUG}/48/Observation?code:text=85354-9", headers=headers)
        assert ":text" in outcome(r, 400)
        r = await c.get(f"/fhir/{SLUG}/48/Observation?code:not=85354-9", headers=headers)
        assert r.status_code == 200 and r.json().get("entry", []) == []


# --- F9: framework refusals on FHIR paths -----------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("method,path,status,allow", [
    ("PUT", "48/Patient/fake-1", 405, "GET"),
    ("DELETE", "48/Patient/fake-1", 405, "GET"),
    ("POST", "48/Patient", 405, "GET"),
    ("GET", "48", 405, "POST"),
    ("GET", "", 404, None),
])
async def test_framework_refusals_on_fhir_paths_are_operation_outcomes(dva, method, path,
                                                                       status, allow):
    """Rule: a 404 or 405 the router gives under /fhir/ is an OperationOutcome with the same
    status, the ``Allow`` header kept and the request's id echoed."""
    headers = {"Authorization": f"Bearer {dva.token()}", "Accept": STU3,
               MEDMIJ_REQUEST_ID: "req-9"}
    async with client(dva) as c:
        r = await c.request(method, f"/fhir/{SLUG}/{path}".rstrip("/"), headers=headers)
    outcome(r, status)
    assert r.headers[MEDMIJ_REQUEST_ID] == "req-9"
    if allow:
        assert allow in r.headers["allow"]


@pytest.mark.anyio
async def test_framework_refusals_elsewhere_keep_their_shape(dva):
    """Outside /fhir/ an API client still gets FastAPI's JSON."""
    async with client(dva) as c:
        r = await c.get("/no/such/path", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
