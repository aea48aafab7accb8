"""Integration: the sandbox as real processes, the collect flow and its refusals over HTTP."""

from __future__ import annotations

import json
import time

import pytest

from scenarios import collect, inspection
from simulators.medmij.gegevensdiensten import BGZ_SEARCHES
from tests.flowhelpers import (
    authorize_url,
    get_code,
    pick_person,
    resource_base,
    set_clock,
    token_endpoint,
)

HOSPITAL = "umcsandbox@medmij"
FHIR3 = {"Accept": "application/fhir+json; fhirVersion=3.0"}


@pytest.fixture(scope="module")
def http(sandbox):
    from simulators.common.http import sync_client

    with sync_client(sandbox.info.addresses) as client:
        yield client


def exchange(http, sandbox, provider, code, redirect_uri, client="pgo-alpha.sandbox.test"):
    return http.post(token_endpoint(sandbox, provider), data={
        "grant_type": "authorization_code", "code": code, "client_id": client,
        "redirect_uri": redirect_uri})


@pytest.mark.parametrize("provider", ["umcsandbox@medmij", "huisartsdebrug@medmij",
                                      "rivmvaccinaties@medmij", "ggzdeoever@medmij"])
def test_collect_scenario_passes_for_every_provider(sandbox, provider):
    report = collect.run(sandbox, provider=provider)
    assert report.ok, report.to_dict()
    assert report.summary["resources"] > 0


def test_dvp_runs_every_bgz_search_and_logs_it(sandbox, http):
    from scenarios.useragent import Browser

    with Browser(sandbox.info.addresses) as browser:  # keeps the person's PGO session
        report = collect.run(sandbox, dvp="pgo-beta", provider=HOSPITAL, service="48",
                             browser=browser)
        assert report.ok, report.to_dict()
        assert report.summary["requests"] == len(BGZ_SEARCHES) == 28
        person = next(s for s in report.steps if s.name == "account at the PGO").detail.split()[1]
        url = sandbox.url("pgo-beta", f"/api/persons/{person}/log")
        assert http.get(url).status_code == 401  # not without the person's session
        log = browser.get(url).json()
    assert len(log) == 28 and all(e["status"] == 200 for e in log)
    assert {e["correlation_id"] for e in log} == {report.summary["correlation_id"]}
    assert all(e["request_uri"].startswith(resource_base(sandbox, HOSPITAL)) for e in log)


def test_inspection_function_collects_live_and_keeps_nothing(sandbox):
    report = inspection.run(sandbox)
    assert report.ok, report.to_dict()
    assert report.summary["providers"] >= 1 and report.summary["resources"] > 0
    node_dir = sandbox.state_dir / "nodes" / "mgo"
    assert not node_dir.exists() or not any(node_dir.rglob("*"))


def test_client_not_on_ocl_gets_invalid_request_and_no_redirect(sandbox, http):
    url = authorize_url(sandbox, HOSPITAL, "pgo-rogue.sandbox.test",
                        "http://127.0.0.1:9/oauth/callback")
    r = http.get(url)
    assert r.status_code == 400 and "location" not in r.headers
    assert "invalid_request" in r.text


def test_redirect_uri_on_another_host_is_refused(sandbox, http):
    other = sandbox.public_url("pgo-beta", "/oauth/callback")
    r = http.get(authorize_url(sandbox, HOSPITAL, "pgo-alpha.sandbox.test", other))
    assert r.status_code == 400 and "location" not in r.headers
    assert "invalid_request" in r.text


def test_unknown_scope_is_redirected_as_error(sandbox, http):
    redirect_uri = sandbox.public_url("pgo-alpha", "/oauth/callback")
    r = http.get(authorize_url(sandbox, HOSPITAL, "pgo-alpha.sandbox.test", redirect_uri,
                               scope="nietbestaand"))
    assert r.status_code == 302 and "error=invalid_scope" in r.headers["location"]


def test_code_is_single_use_and_replay_revokes_the_grant(sandbox, http):
    bsn = pick_person(sandbox, HOSPITAL)
    code, redirect_uri = get_code(sandbox, HOSPITAL, bsn)
    first = exchange(http, sandbox, HOSPITAL, code, redirect_uri)
    assert first.status_code == 200
    body = first.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert "refresh_token" not in body  # no long-lived consent given
    again = exchange(http, sandbox, HOSPITAL, code, redirect_uri)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    r = http.get(f"{resource_base(sandbox, HOSPITAL)}/Patient", headers=FHIR3 | {
        "Authorization": f"Bearer {body['access_token']}"})
    assert r.status_code == 401  # RFC 6749 10.5: the replay revoked the first token


def test_code_bound_to_client_and_redirect_uri(sandbox, http):
    bsn = pick_person(sandbox, HOSPITAL)
    code, redirect_uri = get_code(sandbox, HOSPITAL, bsn)
    r = exchange(http, sandbox, HOSPITAL, code, redirect_uri + "x")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = exchange(http, sandbox, HOSPITAL, "not-a-code", redirect_uri)
    assert r.json()["error"] == "invalid_grant"
    r = exchange(http, sandbox, HOSPITAL, code, redirect_uri, client="pgo-rogue.sandbox.test")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_expired_code_is_refused(sandbox, http):
    bsn = pick_person(sandbox, HOSPITAL)
    code, redirect_uri = get_code(sandbox, HOSPITAL, bsn)
    set_clock(sandbox, 901)
    try:
        time.sleep(0.05)
        r = exchange(http, sandbox, HOSPITAL, code, redirect_uri)
    finally:
        set_clock(sandbox, 0)
    assert r.status_code == 400 and r.json() == {
        "error": "invalid_grant", "error_description": "Authorization code expired."}


def test_token_of_patient_a_never_reads_patient_b(sandbox, http):
    bsn_a = pick_person(sandbox, HOSPITAL)
    bsn_b = pick_person(sandbox, HOSPITAL, start=1000)
    tokens, patients = {}, {}
    for label, bsn in (("a", bsn_a), ("b", bsn_b)):
        code, redirect_uri = get_code(sandbox, HOSPITAL, bsn)
        tokens[label] = exchange(http, sandbox, HOSPITAL, code, redirect_uri).json()[
            "access_token"]
        bundle = http.get(f"{resource_base(sandbox, HOSPITAL)}/Patient", headers=FHIR3 | {
            "Authorization": f"Bearer {tokens[label]}"}).json()
        patients[label] = [e["resource"] for e in bundle["entry"]
                           if e["resource"]["resourceType"] == "Patient"]
        assert len(patients[label]) == 1
    a_id, b_id = patients["a"][0]["id"], patients["b"][0]["id"]
    assert a_id != b_id
    auth_a = FHIR3 | {"Authorization": f"Bearer {tokens['a']}"}
    base = resource_base(sandbox, HOSPITAL)
    for params in ({"patient": f"Patient/{b_id}"}, {"subject": f"Patient/{b_id}"}):
        r = http.get(f"{base}/Condition", params=params, headers=auth_a)
        assert r.status_code == 400
        assert r.json()["resourceType"] == "OperationOutcome"
    r = http.get(f"{base}/Patient/{b_id}", headers=auth_a)
    assert r.status_code == 404
    r = http.get(f"{base}/Observation", params={"code": "http://loinc.org|29463-7"},
                 headers=auth_a)
    for entry in r.json()["entry"]:
        assert entry["resource"]["subject"]["reference"] == f"Patient/{a_id}"


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer not-a-token",
                                           "Basic cGdvOnBnbw=="])
def test_missing_or_wrong_bearer_is_401(sandbox, http, authorization):
    headers = FHIR3 | ({"Authorization": authorization} if authorization else {})
    r = http.get(f"{resource_base(sandbox, HOSPITAL)}/Condition", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["resourceType"] == "OperationOutcome"


def test_wrong_fhir_version_is_400_operation_outcome(sandbox, http):
    bsn = pick_person(sandbox, HOSPITAL)
    code, redirect_uri = get_code(sandbox, HOSPITAL, bsn)
    token = exchange(http, sandbox, HOSPITAL, code, redirect_uri).json()["access_token"]
    r = http.get(f"{resource_base(sandbox, HOSPITAL)}/Condition", headers={
        "Accept": "application/fhir+json; fhirVersion=4.0", "Authorization": f"Bearer {token}"})
    assert r.status_code == 400
    assert r.json()["issue"][0]["code"] == "not-supported"
    ok = http.get(f"{resource_base(sandbox, HOSPITAL)}/Condition", headers=FHIR3 | {
        "Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json()["type"] == "searchset"


def test_consent_refused_comes_back_as_access_denied(sandbox):
    from scenarios.useragent import Browser

    bsn = pick_person(sandbox, HOSPITAL)
    redirect_uri = sandbox.public_url("pgo-alpha", "/oauth/callback")
    browser = Browser(sandbox.info.addresses)
    try:
        r = browser.get(authorize_url(sandbox, HOSPITAL, "pgo-alpha.sandbox.test", redirect_uri))
        r = browser.digid_login(browser.get(browser.location(r)), bsn)
        consent = browser.get(browser.location(r))
        r = browser.submit(consent, button=("decision", "deny"))
        location = browser.location(r)
    finally:
        browser.close()
    assert location.startswith(redirect_uri)
    assert "error=access_denied" in location and "Authorization+denied" in location


def test_no_data_at_provider_is_access_denied(sandbox):
    """A person without records at the RIVM (born before 1992, no flu shot) is refused there."""
    from scenarios.useragent import Browser

    rivm = "rivmvaccinaties@medmij"
    population_size = sandbox.topology.population
    from simulators.common.people import population_for

    population = population_for(sandbox.config)
    index = next(i for i in range(population_size) if rivm not in population.holders(i))
    bsn = population.patient(index).bsn
    redirect_uri = sandbox.public_url("pgo-alpha", "/oauth/callback")
    browser = Browser(sandbox.info.addresses)
    try:
        r = browser.get(authorize_url(sandbox, rivm, "pgo-alpha.sandbox.test", redirect_uri))
        r = browser.digid_login(browser.get(browser.location(r)), bsn)
        r = browser.get(browser.location(r))
    finally:
        browser.close()
    assert r.status_code == 302
    assert "error=access_denied" in r.headers["location"]
    assert "No+such+resources" in r.headers["location"]


def test_bad_requests_get_4xx_not_500(sandbox, http):
    dva = sandbox.url("dva-nexus")
    assert http.post(f"{dva}/oauth/token", data={}).status_code in (400, 401)
    assert http.post(f"{dva}/oauth/consent", data={}).status_code == 400
    assert http.get(f"{dva}/digid/acs").status_code == 400
    assert http.get(sandbox.url("registry", "/MedMij_OAuthclientlist.xml?api=9")).status_code \
        == 400
    # only the inspection function may ask (its credential): anyone else is refused first
    assert http.get(sandbox.url("registry", "/localisation?pseudonym=xxxxxxxxxxxx")).status_code \
        == 401
    assert http.post(sandbox.url("pgo-alpha", "/api/persons"), json={}).status_code == 400
    assert http.get(sandbox.url("digid", "/login?rp=x&return_to=y")).status_code == 400
    r = http.get(f"{dva}/fhir/umcsandbox/48/Nonsense%20Type", headers=FHIR3)
    assert r.status_code in (400, 401)


def test_status_reports_all_nodes_healthy(sandbox):
    from sandbox.runtime.local import LocalRuntime

    rows = LocalRuntime(sandbox.state_dir).status(sandbox.info, sandbox.topology)
    assert len(rows) == len(sandbox.topology.nodes) and all(r.healthy for r in rows)


def test_lists_served_with_rising_volgnummer(sandbox, http):
    url = sandbox.url("registry", "/MedMij_OAuthclientlist.xml?api=1")
    before = http.get(url)
    assert before.status_code == 200 and b"pgo-gamma.sandbox.test" in before.content
    admin = sandbox.url("registry", "/admin/clients")
    r = http.post(admin, json={"hostname": "pgo-delta.sandbox.test", "name": "Delta PGO"},
                  headers=sandbox.admin_headers)
    assert r.status_code == 201
    try:
        after = http.get(url)
        assert b"pgo-delta.sandbox.test" in after.content
        from simulators.common.lists import parse_list

        assert parse_list("ocl", after.content)[0] == parse_list("ocl", before.content)[0] + 1
    finally:
        assert http.delete(f"{admin}/pgo-delta.sandbox.test",
                           headers=sandbox.admin_headers).status_code == 200


@pytest.mark.parametrize("name", ["Bad\u001bName", "Lone \ud83c surrogate", " padded "])
def test_registry_refuses_client_names_that_cannot_be_published(sandbox, http, name):
    """A name the OCL's XML cannot carry is a 400 at the admin API, never a broken list."""
    r = http.post(sandbox.url("registry", "/admin/clients"),
                  content=json.dumps({"hostname": "pgo-odd.sandbox.test", "name": name}),
                  headers={"Content-Type": "application/json", **sandbox.admin_headers})
    assert r.status_code == 400
    assert http.get(sandbox.url("registry", "/MedMij_OAuthclientlist.xml?api=1")).status_code \
        == 200
