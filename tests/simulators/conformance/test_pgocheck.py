"""`pgo-sandbox conformance pgo` (issue 14 item 4): the DVA records what a PGO sends and the
check compares it with the PHR-Client TestScripts. Rules in-process on recorded requests; end
to end our own PGO passes and the broken PGO of tests/fixtures fails for its reasons."""

from __future__ import annotations

import pytest

from sandbox.conformance_cli import check_pgo, request_marks
from simulators.conformance import pgocheck
from simulators.conformance.suites import default_root
from simulators.dva.request_log import RequestLog, fhir_headers
from simulators.medmij.gegevensdiensten import BGZ_SEARCHES
from tests.fixtures import broken_pgo

CLIENT = "pgo-x.sandbox.test"


def _record(query: str, **changes) -> dict:
    r = {"seq": 1, "method": "GET", "path": f"/fhir/umc/48/{query}", "client_id": CLIENT,
         "status": 200, "authorization": "Bearer",
         "accept": "application/fhir+json; fhirVersion=3.0",
         "medmij_request_id": f"id-{query}", "x_correlation_id": "c1"}
    return r | changes


def _all_searches() -> list[dict]:
    dates = {"${DATE, T, D, -0}": "2026-01-01"}
    out = []
    for q in BGZ_SEARCHES:
        for template, value in dates.items():
            q = q.replace(template, value)
        out.append(_record(q.replace("|", "%7C")))  # as a client may encode it
    return out


def test_the_full_query_list_passes() -> None:
    result = pgocheck.check_cell(CLIENT, "umc", "48", _all_searches())
    assert result.passed, [p.message for p in result.problems]


def test_a_missing_search_is_reported() -> None:
    """Removing the *missing* loop of check_cell lets this pass silently."""
    result = pgocheck.check_cell(CLIENT, "umc", "48", _all_searches()[1:])
    assert [p.kind for p in result.problems] == ["missing"]
    assert "Patient?_include=Patient:general-practitioner" in result.problems[0].message


def test_an_extra_search_is_reported() -> None:
    result = pgocheck.check_cell(CLIENT, "umc", "48", [*_all_searches(), _record("Goal")])
    assert [p.kind for p in result.problems] == ["extra"]


@pytest.mark.parametrize(("change", "kind"), [
    ({"authorization": None}, "no-authorization"),
    ({"status": 401}, "token-refused"),
    ({"path": "/fhir/umc/48/Flag?patient=Patient/1"}, "patient-subject"),
    ({"path": "/fhir/umc/48/Flag?subject:Patient=1"}, "patient-subject"),
    ({"medmij_request_id": None}, "medmij-request-id"),
    ({"x_correlation_id": None}, "correlation-id"),
    ({"accept": None}, "accept"),
    ({"accept": "text/csv"}, "accept"),
    ({"accept": "application/json"}, "accept"),
    ({"accept": "application/fhir+json; fhirVersion=4.0"}, "accept"),
])
def test_request_rules(change, kind) -> None:
    """Each rule of request_problems, alone: removing it makes its case pass."""
    problems = pgocheck.request_problems(_record("Flag") | change, "3.0", pgocheck.Counter())
    assert [p.kind for p in problems] == [kind]


def test_a_reused_medmij_request_id_is_reported() -> None:
    records = [_record("Flag"), _record("Condition", medmij_request_id="id-Flag")]
    ids = pgocheck.Counter(r["medmij_request_id"] for r in records)
    assert [p.kind for p in pgocheck.request_problems(records[1], "3.0", ids)] == [
        "medmij-request-id"]


def test_expected_searches_name_their_phr_client_testscripts() -> None:
    root = default_root()
    if root is None:
        pytest.skip("Nictiz testscripts absent")
    result = pgocheck.check_cell(CLIENT, "umc", "48", _all_searches(),
                                 pgocheck.tsv_scripts(root))
    assert all(result.scripts[e] for e in result.expected), [
        e for e in result.expected if not result.scripts[e]]
    assert "medmij-bgz-test-phr-1-02" in result.scripts[BGZ_SEARCHES[0]]


def test_request_log_is_bounded_and_keeps_no_token() -> None:
    log = RequestLog(size=3)
    scope = {"method": "GET", "path": "/fhir/umc/48/Flag", "query_string": b"status=active",
             "headers": [(b"authorization", b"Bearer secret"), (b"accept", b"*/*"),
                         (b"medmij-request-id", b"r1")]}
    for _ in range(5):
        log.add(scope, 200, CLIENT, fhir_headers(scope))
    assert len(log.records) == 3 and log.last_seq == 5
    r = log.since(0)[-1]
    assert r["path"] == "/fhir/umc/48/Flag?status=active" and r["authorization"] == "Bearer"
    assert "secret" not in str(log.records) and "secret" not in str(log.since(0))
    assert r["medmij_request_id"] == "r1" and r["accept"] == "*/*"
    assert log.since(4) == [r]
    assert log.since(0, "other") == [] and len(log.since(0, "other", anonymous=False)) == 0


# end to end ---------------------------------------------------------------------------------

def test_our_pgo_passes_and_the_broken_pgo_fails_for_its_reasons(sandbox) -> None:
    from scenarios import collect
    from scenarios.persons import find_persons
    from simulators.common.http import sync_client

    provider = "umcsandbox@medmij"
    # the broken PGO first, as pgo-gamma's client
    mark = request_marks(sandbox)
    with sync_client(sandbox.info.addresses) as client:
        bsn = find_persons(client, sandbox, provider, service="48", start=7)[0]["bsn"]
    answers = broken_pgo.run(sandbox, provider, bsn, "pgo-gamma")
    assert [a.status_code for a in answers] == [200, 200, 200, 400, 401, 406]
    broken = check_pgo(sandbox, "pgo-gamma", mark, cells={("umcsandbox", "48")})[0]
    assert not broken.passed
    kinds = broken.kinds()
    # four searches of the list were sent (Patient, Flag, Condition, AllergyIntolerance)
    assert kinds["missing"] == len(BGZ_SEARCHES) - 4
    extra = sorted(p.request.split("/48/")[1] for p in broken.problems if p.kind == "extra")
    assert [x.split("?")[0] for x in extra] == ["Observation", "Patient"], extra
    assert kinds["patient-subject"] == 1
    assert kinds["no-authorization"] == 1  # the request without a token, attributed by window
    assert kinds["accept"] == 2  # text/csv and none
    assert kinds["medmij-request-id"] == kinds["correlation-id"] == 6
    assert set(kinds) == {"missing", "extra", "patient-subject", "no-authorization", "accept",
                          "medmij-request-id", "correlation-id"}
    # our own PGO, through the scenario (account, login, connect, DigiD, consent, collect)
    mark = request_marks(sandbox)
    report = collect.run(sandbox, dvp="pgo-beta", provider=provider, service="48")
    assert report.ok, report.failure()
    ours = check_pgo(sandbox, "pgo-beta", mark, cells={("umcsandbox", "48")})[0]
    assert ours.passed, [p.to_dict() for p in ours.problems]
    assert len(ours.requests) == len(BGZ_SEARCHES)
