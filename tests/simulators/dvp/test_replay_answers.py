"""Replaying an imported portabiliteitsrapport against a DVA that answers oddly: each replayed
request goes through the normal searches' ``fetch_search`` (``portability.replay``), so an
answer of an unexpected shape, a dropped connection or a timeout is a ``failed`` line of the
collect summary, the collection is recorded and the grant saved; never a 500. One test per
rule; removing the rule alone makes its test fail.

The DVA here is ``MisbehavingDva`` (``test_review_pgo``, built on the DVP tests' ``FakeDva``, an
``httpx.MockTransport`` handler): it stands in for an EXTERNAL DVA that misbehaves, not for any
of our own services; the PGO is the real app.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from simulators.common import medmij_client
from simulators.medmij import FHIR_JSON
from tests.simulators.dvp.test_dvp_role import DVA, JSON, Pgo
from tests.simulators.dvp.test_import import report_xml
from tests.simulators.dvp.test_review_pgo import MisbehavingDva

REPLAYED = f"{DVA}/fhir/umcsandbox/48/Patient?_id=p1"
ELSEWHERE = "http://elsewhere.test/fhir/umcsandbox/48/Patient"


def fhir(content: bytes) -> httpx.Response:
    return httpx.Response(200, content=content, headers={"content-type": FHIR_JSON})


ODD_REPLAY_ANSWERS = {  # the DVA's answer to the replayed request
    "not json": fhir(b"not json"),
    "a list": fhir(b"[1,2]"),
    "entry without resource": fhir(b'{"resourceType":"Bundle","entry":[{"nores":1}]}'),
    "entry not a list": fhir(b'{"resourceType":"Bundle","entry":{"a":1}}'),
    "resource a string": fhir(b'{"resourceType":"Bundle","entry":[{"resource":"str"}]}'),
    "connection refused": httpx.ConnectError("connection refused"),
    "timeout": httpx.ReadTimeout("no answer"),
}


@pytest.fixture
def pgo(tmp_path, monkeypatch) -> Pgo:
    monkeypatch.setattr(medmij_client, "_sleep", lambda _: asyncio.sleep(0))  # no backoff wait
    pgo = Pgo(tmp_path)
    pgo.dva = MisbehavingDva()
    pgo.dvp.client = httpx.AsyncClient(transport=httpx.MockTransport(pgo.dva))
    return pgo


async def replayed_collect(pgo: Pgo, uris: list[str]) -> tuple[httpx.Response, dict, list]:
    """Import a report of ``uris`` at the provider's 48, connect, and answer the callback:
    (the callback's answer, the collection record, the person's grants)."""
    browser, person_id, csrf = await pgo.account()
    r = await browser.post(f"/api/persons/{person_id}/portability/import",
                           content=report_xml(uris),
                           headers={"X-CSRF-Token": csrf, "Content-Type": "application/xml"})
    assert r.status_code == 201, r.text
    state = await pgo.connect(browser, person_id, csrf)
    r = await browser.get(f"/oauth/callback?state={state}&code=c", headers=JSON)
    records = (await browser.get(f"/api/persons/{person_id}/collections")).json()
    return r, records[-1] if records else {}, pgo.dvp.store.grants(person_id)


@pytest.mark.parametrize("case", list(ODD_REPLAY_ANSWERS))
def test_a_replayed_request_answered_oddly_is_a_failed_line_not_a_500(pgo, case):
    """Rule (``portability.replay``): a replayed request is sent through ``fetch_search``,
    which checks every shape of the answer and turns transport errors into a failed result;
    the summary names it failed, the collection says the same, the grant is saved."""
    pgo.dva.search_answer = ODD_REPLAY_ANSWERS[case]

    async def go():
        r, record, grants = await replayed_collect(pgo, [REPLAYED])
        assert r.status_code in (200, 502), r.text
        summary = r.json()
        assert summary["status"] == "failed" and summary["failed_requests"] == [REPLAYED]
        assert summary["searches"][0]["reason"], summary
        assert record["status"] == "failed", record
        assert [g["provider"] for g in grants] == [summary["provider"]]
        searches = [c for c in pgo.dva.calls if "/fhir/" in c]  # the report's request only
        assert searches and set(searches) == {"GET /fhir/umcsandbox/48/Patient"}
    asyncio.run(go())


def test_a_replayed_request_off_the_resource_endpoint_is_failed_and_not_sent(pgo):
    """Rule (``portability.replay``): a request URI not under the provider's listed resource
    endpoint is not sent (the token stays with the DVA the ZAL names) and is a failed line
    with its reason; the request under it is replayed and complete."""
    async def go():
        r, record, _ = await replayed_collect(pgo, [ELSEWHERE, REPLAYED])
        assert r.status_code in (200, 502), r.text  # a partial collect answers 502
        summary = r.json()
        assert summary["status"] == "partial" and summary["failed_requests"] == [ELSEWHERE]
        assert "not sent" in summary["searches"][0]["reason"]
        assert summary["searches"][1]["outcome"] == "complete"
        assert record["status"] == "partial"
        assert [str(s.url) for s in pgo.dva.searches] == [REPLAYED]
    asyncio.run(go())
