"""The PGO holds exactly what the DVA served (issue 11, item 11), checked by a second,
independent read: the test gets its own token through the real flow (DigiD + consent, as the
vendor's back end) and reads every request URI in the PGO's request log again, then compares
resource by resource with what the PGO shows the person."""

from __future__ import annotations

from collections import defaultdict

from sandbox.state import Running
from scenarios import collect
from scenarios.accounts import PgoAccount
from scenarios.oauth_probe import exchange, get_code
from scenarios.persons import find_persons
from scenarios.report import ScenarioReport
from scenarios.useragent import Browser
from simulators.common.http import sync_client
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN

Key = tuple[str, str, str, str]  # provider, gegevensdienst, resourceType, id


def pgo_holdings(browser: Browser, account: PgoAccount) -> dict[Key, dict]:
    r = browser.get(account.url(f"/api/persons/{account.person_id}/resources"))
    r.raise_for_status()
    return {(i["provider"], i["gegevensdienst"], i["resource"]["resourceType"],
             i["resource"]["id"]): i["resource"] for i in r.json()["items"]}


def pgo_log(browser: Browser, account: PgoAccount) -> list[dict]:
    r = browser.get(account.url(f"/api/persons/{account.person_id}/log"))
    r.raise_for_status()
    return r.json()


def dva_reread(running: Running, dvp: str, bsn: str, log: list[dict]) -> dict[Key, dict]:
    """What the DVAs serve for the answered request URIs of the log, read with the test's own
    token per provider (never through the PGO)."""
    uris: dict[str, dict[tuple[str, str], None]] = defaultdict(dict)
    for entry in log:
        if entry["status"] == 200:
            uris[entry["provider"]][(entry["service"], entry["request_uri"])] = None
    served: dict[Key, dict] = {}
    client_id = running.topology.node(dvp).hostname
    with sync_client(running.info.addresses) as http:
        for provider, requests in uris.items():
            code, redirect_uri = get_code(running, provider, bsn, dvp)
            token = exchange(http, running, provider, code, redirect_uri, client_id)
            assert token.status_code == 200, token.text
            access = token.json()["access_token"]
            for service, uri in requests:
                version = GEGEVENSDIENSTEN[service].fhir_version
                r = http.get(uri, headers={"Authorization": f"Bearer {access}",
                                           "Accept": f"application/fhir+json; "
                                                     f"fhirVersion={version}"})
                assert r.status_code == 200, (uri, r.status_code, r.text[:200])
                body = r.json()
                found = ([e["resource"] for e in body.get("entry", [])]
                         if body.get("resourceType") == "Bundle" else [body])
                for resource in found:
                    served[(provider, service, resource["resourceType"],
                            resource["id"])] = resource
    return served


def assert_holds_what_was_served(held: dict[Key, dict], served: dict[Key, dict]) -> None:
    missing = sorted(set(served) - set(held))
    extra = sorted(set(held) - set(served))
    assert not missing, f"{len(missing)} served resources not held, e.g. {missing[:5]}"
    assert not extra, f"{len(extra)} held resources the DVA did not serve, e.g. {extra[:5]}"
    changed = [k for k in served if held[k] != served[k]]
    assert not changed, f"{len(changed)} resources differ from what was served: {changed[:5]}"
    kinds = {k[2] for k in served}
    assert {"Patient", "Condition"} <= kinds, kinds  # the check covers the types that matter


def test_collect_holds_exactly_what_the_dva_served(sandbox):
    dvp = sandbox.topology.dvps[0].id
    provider = next(p.name for p in sandbox.topology.providers if p.kind == "hospital")
    browser = Browser(sandbox.info.addresses)
    try:
        bsn = find_persons(browser, sandbox, provider, start=40)[0]["bsn"]
        report = ScenarioReport("collect")
        done = collect.collect(sandbox, browser, report, dvp, provider, bsn)
        assert report.ok, report.to_dict()
        account = done["account"]
        log = pgo_log(browser, account)
        assert log and all(e["provider"] == provider for e in log)
        served = dva_reread(sandbox, dvp, bsn, log)
        assert_holds_what_was_served(pgo_holdings(browser, account), served)
    finally:
        browser.close()

