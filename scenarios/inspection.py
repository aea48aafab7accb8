"""The inspection scenario: a citizen views Mijn Gezondheidsoverzicht without choosing a PGO.

DigiD login at the function, localisation by pseudonym, then per provider the MedMij flow
(DigiD single sign-on at each DVA, consent) and one overview at the end.
"""

from __future__ import annotations

from sandbox.state import Running
from scenarios.persons import find_persons
from scenarios.report import ScenarioReport, StepFailed
from scenarios.useragent import Browser, FlowError


def view(running: Running, browser: Browser, report: ScenarioReport, bsn: str) -> dict:
    corr = browser.correlation_id
    with report.step("DigiD login at the inspection function", corr) as step:
        page = browser.follow(browser.get(running.public_url("mgo", "/start")))
        if page.status_code != 200:
            raise FlowError(f"no DigiD page ({page.status_code})")
        r = browser.submit(page, {"bsn": bsn})
        step["detail"] = f"BSN {bsn}"
    consents = 0
    with report.step("localisation + consent per provider", corr) as step:
        r = browser.follow(r)
        while r.status_code == 200 and "Toestemming" in r.text:
            consents += 1
            r = browser.follow(browser.submit(r, button=("decision", "allow")))
        if r.status_code != 200:
            raise FlowError(f"overview answered {r.status_code}: {r.text[:200]}")
        step["detail"] = f"{consents} consent screens"
    with report.step("overview", corr) as step:
        overview = r.json()
        failed = [p for p in overview["providers"] if p["status"] != "collected"]
        if failed or not overview["providers"]:
            raise FlowError(f"overview incomplete: {overview['providers']}")
        step["detail"] = ", ".join(f"{p['provider']} {p['resources']}"
                                   for p in overview["providers"])
    return overview


def run(running: Running, bsn: str | None = None) -> ScenarioReport:
    report = ScenarioReport("inspection")
    browser = Browser(running.info.addresses)
    try:
        with report.step("pick a test person", browser.correlation_id) as step:
            if bsn is None:
                provider = running.topology.providers[0].name
                bsn = find_persons(browser, running, provider)[0]["bsn"]
            step["detail"] = f"BSN {bsn}"
        overview = view(running, browser, report, bsn)
        with report.step("nothing kept by the function", browser.correlation_id) as step:
            held = browser.get(running.url("mgo", "/admin/state")).json()
            if held["results_held"]:
                raise FlowError(f"the inspection function still holds data: {held}")
            step["detail"] = f"{held}"
        report.summary = {"bsn": bsn, "providers": len(overview["providers"]),
                          "resources": overview["total"]}
    except StepFailed:
        report.summary = {"bsn": bsn}
    finally:
        browser.close()
    return report
