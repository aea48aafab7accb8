"""Delen (share) over real HTTP: end to end with a second PGO reading it back, and every refusal
as the protocol's own error (OAuth codes on the redirect, OperationOutcome on the write)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from scenarios import share as share_scenario
from scenarios.accounts import create_account
from scenarios.useragent import Browser
from simulators.common.http import sync_client
from tests.flowhelpers import authorize_url, pick_person, resource_base, token_endpoint

GP = "huisartsdebrug@medmij"
HOSPITAL = "umcsandbox@medmij"
FHIR3 = "application/fhir+json; fhirVersion=3.0"


@pytest.fixture(scope="module")
def http(sandbox):
    with sync_client(sandbox.info.addresses) as client:
        yield client


def share_token(sandbox, http, provider: str, service: str, bsn: str,
                dvp: str = "pgo-alpha") -> str:
    """Authorize a share as the person (confirm) and exchange the code, as a DVP would."""
    redirect_uri = sandbox.public_url(dvp, "/oauth/share/callback")
    client = sandbox.topology.node(dvp).hostname
    slug = sandbox.topology.provider(provider).slug
    browser = Browser(sandbox.info.addresses)
    try:
        r = browser.get(authorize_url(sandbox, provider, client, redirect_uri,
                                      scope=f"{slug}~{service}"))
        r = browser.digid_login(browser.get(browser.location(r)), bsn)
        screen = browser.get(browser.location(r))
        assert screen.status_code == 200 and "Bevestigingsverklaring" in screen.text
        assert "Alpha Gezond PGO" in screen.text  # OCL name
        r = browser.submit(screen, button=("decision", "allow"))
        code = parse_qs(urlsplit(browser.location(r)).query)["code"][0]
    finally:
        browser.close()
    r = http.post(token_endpoint(sandbox, provider), data={
        "grant_type": "authorization_code", "code": code, "client_id": client,
        "redirect_uri": redirect_uri})
    assert r.status_code == 200 and "refresh_token" not in r.json()
    assert r.json()["scope"] == f"{slug}~{service}"
    return r.json()["access_token"]


def write(http, sandbox, provider, service, token, bundle):
    return http.post(resource_base(sandbox, provider, service), json=bundle, headers={
        "Authorization": f"Bearer {token}", "Accept": FHIR3, "Content-Type": FHIR3})


def observation(code: str) -> dict:
    return {"fullUrl": "urn:uuid:1", "request": {"method": "POST", "url": "Observation"},
            "resource": {"resourceType": "Observation", "status": "final",
                         "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                         "effectiveDateTime": "2026-01-01T10:00:00+01:00"}}


def bundle(*entries) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def test_share_scenario_end_to_end_and_second_pgo_sees_it(sandbox):
    report = share_scenario.run(sandbox)
    assert report.ok, report.to_dict()
    assert report.summary["shared_resources"] == 4  # 2 Observations, a document and its PDF
    assert report.summary["reader"] == "pgo-beta"
    # what the PGO keeps of a share sits in its one store, which a curator's erasure empties
    import sqlite3

    node_dir = sandbox.state_dir / "nodes" / report.summary["dvp"]
    db = sqlite3.connect(node_dir / "dvp.sqlite")
    assert db.execute("SELECT COUNT(*) FROM share_log WHERE status = 'shared'").fetchone()[0]
    assert not list(node_dir.glob("share.sqlite*"))


def test_shared_measurement_is_the_latest_in_the_bgz_of_any_pgo(sandbox, http):
    bsn = pick_person(sandbox, GP, start=700)
    token = share_token(sandbox, http, GP, "52", bsn)
    r = write(http, sandbox, GP, "52", token, bundle(observation("29463-7")))
    assert r.status_code == 200, r.text
    location = r.json()["entry"][0]["response"]["location"]
    assert r.json()["type"] == "transaction-response" and location.startswith("Observation/")
    from tests.flowhelpers import get_code

    code, redirect_uri = get_code(sandbox, GP, bsn, dvp="pgo-gamma")
    access = http.post(token_endpoint(sandbox, GP), data={
        "grant_type": "authorization_code", "code": code, "client_id": "pgo-gamma.sandbox.test",
        "redirect_uri": redirect_uri}).json()["access_token"]
    found = http.get(f"{resource_base(sandbox, GP)}/Observation/$lastn",
                     params={"code": "http://loinc.org|29463-7"},
                     headers={"Authorization": f"Bearer {access}", "Accept": FHIR3}).json()
    ids = [e["resource"]["id"] for e in found["entry"]]
    assert location.split("/")[1] in ids  # the newest weight is the one the person measured
    shared = next(e["resource"] for e in found["entry"] if e["resource"]["id"] in location)
    assert shared["subject"]["reference"].startswith("Patient/")  # the GP's own patient id


def test_shared_document_is_collected_with_its_pdf(sandbox, http):
    bsn = pick_person(sandbox, GP, start=800)
    token = share_token(sandbox, http, GP, "53", bsn)
    pdf = b"%PDF-1.4 test"
    r = write(http, sandbox, GP, "53", token, bundle(
        {"fullUrl": "urn:uuid:doc", "request": {"method": "POST", "url": "DocumentReference"},
         "resource": {"resourceType": "DocumentReference", "status": "current",
                      "indexed": "2026-01-01T10:00:00+01:00",
                      "content": [{"attachment": {"contentType": "application/pdf",
                                                  "url": "urn:uuid:bin"}}]}},
        {"fullUrl": "urn:uuid:bin", "request": {"method": "POST", "url": "Binary"},
         "resource": {"resourceType": "Binary", "contentType": "application/pdf",
                      "content": base64.b64encode(pdf).decode()}}))
    assert r.status_code == 200, r.text
    from scenarios.collect import run as collect_run

    with Browser(sandbox.info.addresses) as browser:
        report = collect_run(sandbox, dvp="pgo-beta", provider=GP, bsn=bsn, browser=browser)
        assert report.ok, report.to_dict()
        person = next(s for s in report.steps if s.name == "account at the PGO").detail.split()[1]
        items = browser.get(sandbox.url("pgo-beta", f"/api/persons/{person}/resources")
                            ).json()["items"]
    binaries = [i["resource"] for i in items if i["resource"]["resourceType"] == "Binary"]
    assert any(base64.b64decode(b["content"]) == pdf for b in binaries)


def test_declined_confirmation_is_access_denied(sandbox):
    bsn = pick_person(sandbox, GP, start=900)
    browser = Browser(sandbox.info.addresses)
    try:
        account = create_account(browser, sandbox.url("pgo-alpha"), "weigeraar")
        answer = share_scenario.share(sandbox, browser, account, GP, "52", bsn, decision="deny")
    finally:
        browser.close()
    assert answer["status"] == "refused" and answer["error"] == "access_denied"
    assert answer["error_description"] == "Authorization denied."


def test_provider_not_receptive_for_someone_outside_its_care(sandbox):
    provider, outsider = share_scenario._not_in_care(sandbox)
    browser = Browser(sandbox.info.addresses)
    try:
        account = create_account(browser, sandbox.url("pgo-alpha"), "buitenstaander")
        answer = share_scenario.share(sandbox, browser, account, provider, "53", outsider)
    finally:
        browser.close()
    assert answer["error"] == "access_denied"
    assert "not receptive" in answer["error_description"]


def test_share_service_the_provider_does_not_offer_is_invalid_scope(sandbox, http):
    redirect_uri = sandbox.public_url("pgo-alpha", "/oauth/share/callback")
    r = http.get(authorize_url(sandbox, HOSPITAL, "pgo-alpha.sandbox.test", redirect_uri,
                               scope="umcsandbox~52"))
    assert r.status_code == 302 and "error=invalid_scope" in r.headers["location"]
    with Browser(sandbox.info.addresses) as browser:
        account = create_account(browser, sandbox.url("pgo-alpha"), "deler")
        r = browser.get(account.url(f"/persons/{account.person_id}/share"),
                        params={"provider": HOSPITAL, "service": "52"})
        assert r.status_code == 404
        r = browser.get(account.url("/persons/nobody/share"),
                        params={"provider": GP, "service": "52"})
        assert r.status_code == 403  # another person's id


def test_writes_outside_what_the_provider_accepts_are_operation_outcomes(sandbox, http):
    bsn = pick_person(sandbox, GP, start=950)
    token = share_token(sandbox, http, GP, "52", bsn)
    cases = [
        (bundle(observation("8302-2")), 422),  # body height: not accepted through 52
        ({"resourceType": "Bundle", "type": "batch", "entry": []}, 400),
        (bundle({"fullUrl": "urn:uuid:x", "request": {"method": "PUT", "url": "Observation"},
                 "resource": observation("29463-7")["resource"]}), 400),
        (bundle({"fullUrl": "urn:uuid:b", "request": {"method": "POST", "url": "Binary"},
                 "resource": {"resourceType": "Binary", "contentType": "application/pdf",
                              "content": "JVBERg=="}}), 422),
    ]
    for body, status in cases:
        r = write(http, sandbox, GP, "52", token, body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["resourceType"] == "OperationOutcome"
    r = http.post(resource_base(sandbox, GP, "52"), content=b"not json", headers={
        "Authorization": f"Bearer {token}", "Accept": FHIR3})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    # a share token reads nothing, writes only where it was granted
    r = http.get(f"{resource_base(sandbox, GP, '52')}/Observation",
                 headers={"Authorization": f"Bearer {token}", "Accept": FHIR3})
    assert r.status_code == 405 and r.json()["resourceType"] == "OperationOutcome"
    r = write(http, sandbox, GP, "53", token, bundle(observation("29463-7")))
    assert r.status_code == 403
    r = write(http, sandbox, GP, "52", "not-a-token", bundle(observation("29463-7")))
    assert r.status_code == 401 and "invalid_token" in r.headers["www-authenticate"]


def test_collect_token_cannot_write(sandbox, http):
    from tests.flowhelpers import get_code

    bsn = pick_person(sandbox, GP, start=960)
    code, redirect_uri = get_code(sandbox, GP, bsn)
    token = http.post(token_endpoint(sandbox, GP), data={
        "grant_type": "authorization_code", "code": code, "client_id": "pgo-alpha.sandbox.test",
        "redirect_uri": redirect_uri}).json()["access_token"]
    r = write(http, sandbox, GP, "48", token, bundle(observation("29463-7")))
    assert r.status_code == 405 and r.json()["resourceType"] == "OperationOutcome"
    r = write(http, sandbox, GP, "52", token, bundle(observation("29463-7")))
    assert r.status_code == 403


def test_share_gegevensdiensten_are_on_the_zal_and_gnl(sandbox, http):
    from simulators.common.lists import parse_list

    zal = parse_list("zal", http.get(sandbox.url(
        "registry", "/MedMij_Zorgaanbiederslijst.xml?api=1")).content)[1]
    gnl = parse_list("gnl", http.get(sandbox.url(
        "registry", "/MedMij_Gegevensdienstnamenlijst.xml?api=1")).content)[1]
    assert {"52", "53"} <= set(zal[GP]) and "53" in zal[HOSPITAL]
    assert gnl["52"] == "Zelfmetingen delen" and gnl["53"] == "Documenten delen"
