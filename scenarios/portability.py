"""The portability scenario: a person switches PGO voluntarily and loses nothing.

Collect at the old PGO, export the portabiliteitsrapport, import it at the new PGO, connect each
provider again (DigiD + consent at each DVA), and compare the dossiers resource by resource.
"""

from __future__ import annotations

import time
from collections import Counter

import orjson

from sandbox.state import Running
from scenarios import collect
from scenarios.accounts import PgoAccount, create_account, login
from scenarios.persons import find_persons
from scenarios.report import ScenarioReport, StepFailed
from scenarios.useragent import Browser, FlowError
from simulators.dvp.report import parse_report, xml_from_package
from simulators.medmij import FHIR_JSON


def _canonical(item: dict) -> tuple[str, str, bytes]:
    """A resource as compared across PGOs: its content, ids aside."""
    resource = {k: v for k, v in item["resource"].items() if k != "id"}
    return item["provider"], item["gegevensdienst"], orjson.dumps(
        resource, option=orjson.OPT_SORT_KEYS)


def dossier(browser: Browser, running: Running, dvp: str, person_id: str) -> Counter:
    r = browser.get(running.public_url(dvp, f"/api/persons/{person_id}/resources"))
    r.raise_for_status()
    return Counter(_canonical(i) for i in r.json()["items"])


def export(browser: Browser, running: Running, dvp: str, person_id: str,
           packaged: bool) -> tuple[bytes, str]:
    """The report as the person downloads it: XML, or the FHIR package (JSON)."""
    path = f"/api/persons/{person_id}/portability" + ("/fhir" if packaged else "")
    r = browser.get(running.public_url(dvp, path))
    r.raise_for_status()
    kind = FHIR_JSON if packaged else "application/xml"
    return r.content, kind


def migrate(running: Running, browser: Browser, report: ScenarioReport, old_dvp: str,
            old: PgoAccount, new_dvp: str, bsn: str, packaged: bool = False) -> dict:
    """Log in at the old PGO, export, import at a new account at the new one, re-collect,
    compare. Returns figures."""
    corr = browser.correlation_id
    start = time.perf_counter()
    old_person = old.person_id
    with report.step(f"export from {old_dvp}", corr) as step:
        login(browser, old)
        content, kind = export(browser, running, old_dvp, old_person, packaged)
        xml = xml_from_package(orjson.loads(content)) if packaged else content
        actions = parse_report(xml).actions
        step["detail"] = f"{len(actions)} collect actions ({'FHIR package' if packaged else 'XML'})"
    with report.step(f"import at {new_dvp}", corr) as step:
        new_account = create_account(browser, running.public_url(new_dvp), f"persoon {bsn}")
        new_person = new_account.person_id
        r = browser.request("POST", running.public_url(new_dvp, f"/api/persons/{new_person}/"
                                                "portability/import"),
                            content=content, headers={"Content-Type": kind})
        if r.status_code != 201:
            raise FlowError(f"import answered {r.status_code}: {r.text[:200]}")
        plan = r.json()
        step["detail"] = (f"{plan['requests']} requests to replay at "
                          f"{len(plan['providers'])} providers")
    for provider in plan["providers"]:
        collect.collect(running, browser, report, new_dvp, provider, bsn, account=new_account)
    with report.step("compare dossiers", corr) as step:
        status = browser.get(running.public_url(new_dvp, f"/api/persons/{new_person}/portability/"
                                         "import")).json()
        if not status["complete"]:
            raise FlowError(f"import not fully replayed: {status}")
        old, new = dossier(browser, running, old_dvp, old_person), dossier(
            browser, running, new_dvp, new_person)
        missing = old - new
        if missing:
            raise FlowError(f"{sum(missing.values())} resources lost in the move")
        step["detail"] = f"{sum(old.values())} resources equal, ids aside"
    return {"new_person": new_person, "new_account": new_account,
            "resources_compared": sum(old.values()),
            "seconds": time.perf_counter() - start, "actions": len(actions)}


def run(running: Running, old_dvp: str | None = None, new_dvp: str | None = None
        ) -> ScenarioReport:
    dvps = [d.id for d in running.topology.dvps]
    old_dvp, new_dvp = old_dvp or dvps[0], new_dvp or dvps[1]
    report = ScenarioReport("portability")
    browser = Browser(running.info.addresses)
    providers = [p.name for p in running.topology.providers if p.kind in ("hospital", "gp")]
    try:
        with report.step("pick a test person", browser.correlation_id) as step:
            bsn = find_persons(browser, running, providers[0])[0]["bsn"]
            step["detail"] = f"BSN {bsn}"
        report.mark(f"collecting at {old_dvp}")
        account = None
        for provider in providers:
            account = collect.collect(running, browser, report, old_dvp, provider, bsn,
                                      account=account)["account"]
        person = account.person_id
        report.mark(f"switching to {new_dvp}")
        moved = migrate(running, browser, report, old_dvp, account, new_dvp, bsn,
                        packaged=True)
        report.mark("migrated")
        with report.step("round trip: export at the new PGO", browser.correlation_id) as step:
            first, _ = export(browser, running, old_dvp, person, packaged=False)
            again, _ = export(browser, running, new_dvp, moved["new_person"], packaged=False)

            def requests(xml: bytes) -> set[tuple[str, str, str]]:
                return {(a.provider, a.service, uri) for a in parse_report(xml).actions
                        for uri, _ in a.requests}

            if requests(first) != requests(again):
                raise FlowError("the new PGO's report differs from the old one's")
            step["detail"] = f"{len(requests(again))} requests in both reports"
        report.summary = {"from": old_dvp, "to": new_dvp, "bsn": bsn,
                          "collect_actions": moved["actions"],
                          "resources_compared": moved["resources_compared"],
                          "time_to_migrate_s": round(moved["seconds"], 3)}
    except StepFailed:
        report.summary = {"from": old_dvp, "to": new_dvp}
    finally:
        browser.close()
    return report
