"""Findings 3, 4, 6 and 8 of the outside review of the PGO (and the MGO's collect), one test per
rule; removing the rule alone makes its test fail.

- 3: the upload page's 4 MiB limit holds on the stream, before the form is parsed (413).
- 4: a DVA's answer of an unexpected shape (collect, share write, revoke) is a 502-style
  ``failed`` (or a ``failed``/``partial`` line in the MGO's overview), never a 500; what the
  PGO records afterwards agrees with what it answered.
- 6: a revoke forgets the consent's tokens; refresh and revoke of a revoked consent are refused.
- 8: a collect's state is unknown at the share callback and the reverse.

The DVA here is the DVP tests' ``FakeDva`` (an ``httpx.MockTransport`` handler): it stands in
for an EXTERNAL DVA that misbehaves (a person's own DVA, which the sandbox supports); the PGO
and the MGO are the real apps.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from simulators.common.medmij_client import SearchResult, binary_refs
from simulators.dvp import portability
from simulators.medmij import FHIR_JSON
from tests.simulators.dvp.test_dvp_role import PROVIDER, FakeDva, Pgo
from tests.simulators.inspection import test_inspection_app as mgo_tests

HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}


class MisbehavingDva(FakeDva):
    """``FakeDva`` whose resource answers (searches, the share's write) and revocation answer
    a test sets: a body, an ``httpx.Response``, or an exception to raise (a dropped
    connection). Stands in for an external DVA, not for any of our own services."""

    def __init__(self) -> None:
        super().__init__()
        self.search_answer: object = None  # None: FakeDva's own searchset
        self.write_answer: object = httpx.Response(200, json={
            "resourceType": "Bundle", "type": "transaction-response",
            "entry": [{"response": {"status": "201 Created", "location": "Observation/o1"}},
                      {"response": {"status": "201 Created", "location": "Observation/o2"}}]})
        self.revoke_answer: object = httpx.Response(200)
        self.calls: list[str] = []

    @staticmethod
    def _answer(answer: object, request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer, headers={"content-type": FHIR_JSON})

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        if request.url.path == "/oauth/revoke":
            return self._answer(self.revoke_answer, request)
        if request.method == "POST" and request.url.path.startswith("/fhir/"):
            return self._answer(self.write_answer, request)
        if request.url.path.startswith("/fhir/") and self.search_answer is not None:
            return self._answer(self.search_answer, request)
        return await super().__call__(request)


@pytest.fixture
def pgo(tmp_path) -> Pgo:
    pgo = Pgo(tmp_path)
    pgo.dva = MisbehavingDva()
    pgo.dvp.client = httpx.AsyncClient(transport=httpx.MockTransport(pgo.dva))
    return pgo


def run(coro):
    return asyncio.run(coro)


async def share_state(browser, person_id: str, csrf: str) -> str:
    r = await browser.post(f"/persons/{person_id}/share",
                           data={"csrf_token": csrf, "provider": PROVIDER, "service": "52"})
    assert r.status_code == 302, r.text
    return parse_qs(urlsplit(r.headers["location"]).query)["state"][0]


# finding 3: the upload page's limit is counted while the body is read -----------------------

LIMIT = 64 * 1024
CHUNK = 4096


class CountedUpload:
    """A multipart upload of ``size`` bytes sent chunked (no Content-Length); ``sent`` counts
    what the app pulled from it."""

    def __init__(self, csrf: str | None, size: int) -> None:
        csrf_part = (b'--B\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
                     + csrf.encode() + b"\r\n") if csrf else b""
        self.body = (csrf_part + b'--B\r\nContent-Disposition: form-data; name="report"; '
                     b'filename="r.xml"\r\nContent-Type: application/xml\r\n\r\n'
                     b"<PortabiliteitsRapport><!--" + b"a" * size
                     + b"--></PortabiliteitsRapport>\r\n--B--\r\n")
        self.sent = 0

    async def __aiter__(self):
        for i in range(0, len(self.body), CHUNK):
            self.sent += len(self.body[i:i + CHUNK])
            yield self.body[i:i + CHUNK]


@pytest.mark.parametrize("token_in", ["form", "header"])
def test_the_upload_page_refuses_a_chunked_upload_over_the_limit_while_reading(
        pgo, monkeypatch, token_in):
    """Rules: the CSRF check reads a form through the capped reader (``read_form`` in
    ``AccountGuard._given_token``: token in the form), and the upload page does too before it
    parses the form (token in the header, so the check read nothing): a 413 Dutch page once
    the limit is passed, the rest of the body never pulled."""
    monkeypatch.setattr(portability, "MAX_BODY_BYTES", LIMIT)

    async def go():
        browser, person_id, csrf = await pgo.account()
        upload = CountedUpload(csrf if token_in == "form" else None, 16 * LIMIT)
        headers = HTML | {"Content-Type": "multipart/form-data; boundary=B"}
        if token_in == "header":
            headers["X-CSRF-Token"] = csrf
        r = await browser.post(f"/persons/{person_id}/portability/import", content=upload,
                               headers=headers)
        assert r.status_code == 413, r.text
        assert r.headers["content-type"].startswith("text/html") and "te groot" in r.text
        assert upload.sent <= LIMIT + 2 * CHUNK < len(upload.body)
    run(go())


def test_an_upload_under_the_limit_still_reads_through_the_page(pgo):
    """The cap does not get in the way: a form under the limit reaches the import (a report
    it cannot read is the import's own 400, not a 413)."""
    async def go():
        browser, person_id, csrf = await pgo.account()
        upload = CountedUpload(csrf, 1000)
        r = await browser.post(f"/persons/{person_id}/portability/import", content=upload,
                               headers=HTML | {"Content-Type": "multipart/form-data; "
                                                               "boundary=B"})
        assert r.status_code == 400 and "portabiliteitsrapport" in r.text
    run(go())


# finding 4: collect answers of an unexpected shape ------------------------------------------

def bundle(*entries: object, **more: object) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": list(entries), **more}


PATIENT = {"resource": {"resourceType": "Patient", "id": "p1"}}
ODD_SEARCH_ANSWERS = {  # rule guarded -> the DVA's answer
    "issue not an object": bundle(PATIENT, {"resource": {
        "resourceType": "OperationOutcome", "issue": ["x"]}}),
    "issue not a list": bundle(PATIENT, {"resource": {
        "resourceType": "OperationOutcome", "issue": 5}}),
    "details not an object": bundle(PATIENT, {"resource": {
        "resourceType": "OperationOutcome", "issue": [{"severity": "warning",
                                                       "details": "x"}]}}),
    "search not an object": bundle(dict(PATIENT, search="x")),
    "entry not a list": {"resourceType": "Bundle", "type": "searchset", "entry": 5},
    "link not a list": bundle(PATIENT, link=5),
    "entry resourceType not text": bundle({"resource": {"resourceType": 5, "id": "n1"}}),
    "answer resourceType not text": {"resourceType": 5, "id": "n2"},
}


@pytest.mark.parametrize("case", list(ODD_SEARCH_ANSWERS))
def test_a_collect_answer_of_an_unexpected_shape_is_never_a_500(pgo, case):
    """Rules (``medmij_client``): every part of a search answer is checked for its shape
    (``_read_bundle``, ``_read_outcome``, ``_next_link``, ``_is_resource``) before it is read;
    the callback answers the collect summary and the collection record says the same."""
    pgo.dva.search_answer = ODD_SEARCH_ANSWERS[case]

    async def go():
        browser, person_id, csrf = await pgo.account()
        state = await pgo.connect(browser, person_id, csrf)
        r = await browser.get(f"/oauth/callback?state={state}&code=c", headers=JSON)
        assert r.status_code in (200, 502), r.text
        summary = r.json()
        assert summary["status"] in ("collected", "partial", "failed"), summary
        record = (await browser.get(f"/api/persons/{person_id}/collections")).json()[-1]
        assert record["status"] == {"collected": "complete"}.get(summary["status"],
                                                                  summary["status"])
        kept = (await browser.get(f"/api/persons/{person_id}/resources")).json()
        assert set(kept["by_type"]) <= {"Patient"}, kept  # nothing of another shape stored
        page = await browser.get(f"/persons/{person_id}", headers=HTML)
        assert page.status_code == 200
    run(go())


ODD_RESOURCES = {  # kept by the collect (a resource of its type), unreadable by the page
    "coding of strings": {"resourceType": "Condition", "id": "c1", "code": {"coding": ["x"]}},
    "reference as text": {"resourceType": "MedicationStatement", "id": "m1",
                          "medicationReference": "Medication/x"},
    "period as text": {"resourceType": "Encounter", "id": "e1", "period": "2020"},
}


@pytest.mark.parametrize("case", list(ODD_RESOURCES))
def test_the_person_page_lists_what_it_can_read_of_odd_resources(pgo, case):
    """Rule (``health_summary.group_resources``): a resource whose fields a renderer cannot
    read (an outside DVA's shape) is not listed and counted with the resources not listed;
    the person's page still shows, with the readable ones."""
    readable = {"resourceType": "Condition", "id": "ok",
                "code": {"coding": [{"display": "Astma"}]}}
    pgo.dva.search_answer = bundle({"resource": ODD_RESOURCES[case]}, {"resource": readable})

    async def go():
        browser, person_id, csrf = await pgo.account()
        state = await pgo.connect(browser, person_id, csrf)
        r = await browser.get(f"/oauth/callback?state={state}&code=c", headers=JSON)
        assert r.status_code == 200, r.text
        page = await browser.get(f"/persons/{person_id}", headers=HTML)
        assert page.status_code == 200 and "Astma" in page.text
    run(go())


@pytest.mark.parametrize("content", [
    5, ["Binary/x"], [{"attachment": "Binary/x"}], [{"attachment": {"url": 5}}]])
def test_binary_refs_read_only_document_references_of_the_fhir_shape(content):
    """Rule: ``binary_refs`` checks content, attachment and url for their shape (a Documenten
    collect reads the DocumentReferences a DVA sent before it reads their Binaries)."""
    odd = {"resourceType": "DocumentReference", "id": "d1", "content": content}
    good = {"resourceType": "DocumentReference", "id": "d2",
            "content": [{"attachment": {"url": "Binary/b2"}}]}
    result = SearchResult("51", "https://dva.test/fhir/DocumentReference", 200, "", 0.0,
                          [odd, good])
    assert binary_refs([result]) == ["Binary/b2"]


class OddPeers(mgo_tests.Peers):
    """The MGO tests' DigiD, registry and DVA; the DVA's searches answer a Patient whose
    OperationOutcome issue is plain text and a Condition whose codings are plain text (an
    external DVA's answer the overview cannot put in words)."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/fhir/"):
            return httpx.Response(200, headers={"content-type": FHIR_JSON}, json=bundle(
                {"resource": {"resourceType": "Observation", "id": "o1"}},
                {"resource": {"resourceType": "Condition", "id": "c1",
                              "code": {"coding": ["x"]}}},
                {"resource": {"resourceType": "OperationOutcome", "issue": ["x"]}}))
        return super().__call__(request)


def test_the_mgo_overview_shows_an_odd_answer_as_a_line_not_a_500(tmp_path, monkeypatch):
    """Rules: the MGO's collect reads the search answers with the same shape checks, and
    shows only resources the overview can put in words (``health_summary.can_show``); the provider
    is one ``partial`` line that says why."""
    monkeypatch.setattr(mgo_tests, "Peers", OddPeers)

    async def go():
        world = mgo_tests.World(tmp_path)
        async with world.browser, world.back:
            await world.logged_in()
            r = await world.browser.get("/next")
            state = parse_qs(urlsplit(r.headers["location"]).query)["state"][0]
            r = await world.browser.get("/oauth/callback", params={"state": state,
                                                                  "code": "c"})
            assert r.status_code == 303, r.text
            overview = (await world.browser.get("/overview", headers=JSON)).json()
        [line] = overview["providers"]
        assert line["status"] == "partial", line
        assert "not an object" in line["reason"] and "unexpected shape" in line["reason"]
        assert line["by_type"] == {"Observation": line["resources"]}
    run(go())


# finding 4: the share's write ---------------------------------------------------------------

ODD_WRITE_ANSWERS = {  # rule guarded -> (the DVA's answer, the error the PGO reports)
    "connection dropped": (httpx.ConnectError("refused"), "temporarily_unavailable", 502),
    "no answer in time": (httpx.ReadTimeout("slow"), "temporarily_unavailable", 504),
    "not JSON": (httpx.Response(200, text="<html>ok</html>"), "invalid_response", 502),
    "error body a list": (httpx.Response(400, json=[1]), "400", 502),
    "error issue not an object": (httpx.Response(400, json={
        "resourceType": "OperationOutcome", "issue": ["x"]}), "400", 502),
    "entries without response": (httpx.Response(200, json={
        "resourceType": "Bundle", "type": "transaction-response",
        "entry": [{"resource": {"resourceType": "Observation"}}]}), "invalid_response", 502),
    "entry not a list": (httpx.Response(200, json={
        "resourceType": "Bundle", "type": "transaction-response", "entry": 5}),
        "invalid_response", 502),
    "response not an object": (httpx.Response(200, json={
        "resourceType": "Bundle", "type": "transaction-response",
        "entry": [{"response": "201"}]}), "invalid_response", 502),
}


@pytest.mark.parametrize("case", list(ODD_WRITE_ANSWERS))
def test_a_share_write_the_dva_botches_is_upstream_failed_and_logged(pgo, case):
    """Rules (``share.complete_share``): a dropped connection or timeout, an answer that is
    not JSON, an error body or issue that is not an object, and a 200 that is no
    transaction-response with a location per entry are each a 502/504 ``failed`` at step
    ``write``; the share log records it failed and the state is used up."""
    answer, error, status = ODD_WRITE_ANSWERS[case]
    pgo.dva.write_answer = answer

    async def go():
        browser, person_id, csrf = await pgo.account()
        state = await share_state(browser, person_id, csrf)
        r = await browser.get(f"/oauth/share/callback?state={state}&code=c", headers=JSON)
        assert r.status_code == status, r.text
        body = r.json()
        assert body["status"] == "failed" and body["step"] == "write"
        assert body["error"] == error, body
        [logged] = (await browser.get(f"/api/persons/{person_id}/shares")).json()
        assert logged["status"] == "failed" and logged["locations"] == []
        again = await browser.get(f"/oauth/share/callback?state={state}&code=c", headers=JSON)
        assert again.status_code == 400  # used up: the code is never sent twice
        page_state = await share_state(browser, person_id, csrf)
        page = await browser.get(f"/oauth/share/callback?state={page_state}&code=c",
                                 headers=HTML)
        assert page.status_code == status and page.headers["content-type"].startswith(
            "text/html")
    run(go())


def test_a_share_write_the_dva_confirms_is_shared(pgo):
    """The control: a transaction-response with a location per entry is a share."""
    async def go():
        browser, person_id, csrf = await pgo.account()
        state = await share_state(browser, person_id, csrf)
        r = await browser.get(f"/oauth/share/callback?state={state}&code=c", headers=JSON)
        assert r.status_code == 200 and r.json()["locations"] == ["Observation/o1",
                                                                   "Observation/o2"]
    run(go())


# finding 4 and 6: revoke ---------------------------------------------------------------------

async def collected(pgo) -> tuple[httpx.AsyncClient, str, str]:
    browser, person_id, csrf = await pgo.account()
    state = await pgo.connect(browser, person_id, csrf)
    r = await browser.get(f"/oauth/callback?state={state}&code=c", headers=JSON)
    assert r.status_code == 200 and r.json()["long_lived"] is True, r.text
    return browser, person_id, csrf


@pytest.mark.parametrize("fault,status", [(httpx.ConnectError("refused"), 502),
                                          (httpx.ReadTimeout("slow"), 504)])
def test_revoke_at_an_unreachable_dva_is_upstream_failed_and_changes_nothing(
        pgo, fault, status):
    """Rule (``grants.revoke``): a DVA that cannot be reached for the revocation is a
    ``temporarily_unavailable`` 502 (504 without an answer in time), JSON for the API and a
    Dutch page for the person; the consent keeps its tokens and is not marked revoked."""
    async def go():
        browser, person_id, csrf = await collected(pgo)
        pgo.dva.revoke_answer = fault
        path = f"/persons/{person_id}/grants/{PROVIDER}/revoke"
        r = await browser.post(f"/api{path}", headers={"X-CSRF-Token": csrf})
        assert r.status_code == status, r.text
        assert r.json()["error"] == "temporarily_unavailable" and r.json()["step"] == "revoke"
        page = await browser.post(path, data={"csrf_token": csrf}, headers=HTML)
        assert page.status_code == status and "lang='nl'" in page.text
        [grant] = pgo.dvp.store.grants(person_id)
        assert grant["refresh_token"] == "rt" and grant["access_token"] == "at"
        consents = (await browser.get(f"/api/persons/{person_id}/consents")).json()
        assert consents[0]["revoked_at"] is None and consents[0]["long_lived"] is True
    run(go())


def test_revoke_forgets_the_tokens_and_refresh_is_refused_after(pgo):
    """Rules (``grants``): after the DVA confirms a revocation the grant holds neither token
    (the person page and API say not long-lived); a refresh and a second revoke are refused
    by the PGO itself (409 ``invalid_grant``, ``revoked``), without asking the DVA; a new
    consent lifts it (``consents`` no longer says revoked, the page offers "Intrekken")."""
    async def go():
        browser, person_id, csrf = await collected(pgo)
        base = f"/api/persons/{person_id}/grants/{PROVIDER}"
        r = await browser.post(f"{base}/revoke", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200, r.text
        [grant] = pgo.dvp.store.grants(person_id)
        assert grant["refresh_token"] is None and grant["access_token"] is None
        person = (await browser.get(f"/api/persons/{person_id}")).json()
        assert person["grants"][0]["long_lived"] is False
        consents = (await browser.get(f"/api/persons/{person_id}/consents")).json()
        assert consents[0]["revoked_at"] is not None
        calls = len(pgo.dva.calls)
        for step in ("refresh", "revoke"):
            r = await browser.post(f"{base}/{step}", headers={"X-CSRF-Token": csrf})
            assert r.status_code == 409, (step, r.text)
            assert r.json()["error"] == "invalid_grant" and r.json()["revoked"] is True
            assert "revoked" in r.json()["error_description"]
        assert len(pgo.dva.calls) == calls  # refused here, the DVA was not asked
        page = await browser.post(f"/persons/{person_id}/grants/{PROVIDER}/revoke",
                                  data={"csrf_token": csrf}, headers=HTML)
        assert page.status_code == 409 and "ingetrokken" in page.text
        state = await pgo.connect(browser, person_id, csrf)  # a new consent
        assert (await browser.get(f"/oauth/callback?state={state}&code=c2",
                                  headers=JSON)).status_code == 200
        r = await browser.post(f"{base}/refresh", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200, r.text
        consents = (await browser.get(f"/api/persons/{person_id}/consents")).json()
        assert consents[0]["revoked_at"] is None  # the new consent is active, and revocable
        page = await browser.get(f"/persons/{person_id}", headers=HTML)
        assert f"/grants/{PROVIDER.replace('@', '%40')}/revoke" in page.text
    run(go())


# finding 8: each callback takes only its own flow's states ----------------------------------

def test_a_state_is_taken_only_at_its_own_flows_callback(pgo):
    """Rule (``ShareStore.take_flow``, ``auth_flow``): a collect's state at the share
    callback, or a share's at the collect callback, is refused as an unknown state would be,
    and stays usable at its own callback."""
    async def go():
        browser, person_id, csrf = await pgo.account()
        unknown = await browser.get("/oauth/share/callback?state=nope&code=c", headers=JSON)
        collect_state = await pgo.connect(browser, person_id, csrf)
        share = await share_state(browser, person_id, csrf)
        for path, state in (("/oauth/share/callback", collect_state),
                            ("/oauth/callback", share)):
            r = await browser.get(f"{path}?state={state}&code=c", headers=JSON)
            assert (r.status_code, r.json()) == (400, unknown.json()), (path, r.text)
        assert pgo.dva.token_calls == 0  # no code was exchanged for the wrong flow
        r = await browser.get(f"/oauth/callback?state={collect_state}&code=c", headers=JSON)
        assert r.status_code == 200 and r.json()["status"] == "collected", r.text
        r = await browser.get(f"/oauth/share/callback?state={share}&code=c", headers=JSON)
        assert r.status_code == 200 and r.json()["status"] == "shared", r.text
    run(go())
