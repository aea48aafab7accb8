"""The inspection scenario: a citizen views Mijn Gezondheidsoverzicht without choosing a PGO.

DigiD login at the function, localisation by pseudonym, then per provider the MedMij flow
(DigiD single sign-on at each DVA: the person confirms "Doorgaan als ...", then consent) and one
overview at the end. Afterwards the function holds nothing, and at no point the BSN.
"""

from __future__ import annotations

from sandbox.state import Running
from scenarios.persons import find_persons
from scenarios.report import ScenarioReport, StepFailed
from scenarios.useragent import Browser, FlowError, forms


def sso_continue(browser: Browser, page):
    """DigiD's single sign-on page (who is logged in, "Doorgaan als ..."): continue, as the
    person does; None when ``page`` is not that page."""
    if any(f.action.endswith("/login/continue") for f in forms(page.text)):
        return browser.submit(page, button=("continue", "yes"), action="/login/continue")
    return None


def through_providers(browser: Browser, r) -> tuple:
    """Follow the function's per-provider round trips (DigiD single sign-on, consent screens)
    to the overview; returns (final response, number of consent screens)."""
    consents = 0
    r = browser.follow(r)
    while r.status_code == 200 and "text/html" in r.headers.get("content-type", ""):
        sso = sso_continue(browser, r)
        if sso is not None:
            r = browser.follow(sso)
        elif "Toestemming" in r.text:
            consents += 1
            r = browser.follow(browser.submit(r, button=("decision", "allow")))
        else:
            break
    return r, consents


def view(running: Running, browser: Browser, report: ScenarioReport, bsn: str) -> dict:
    corr = browser.correlation_id
    with report.step("DigiD login at the inspection function", corr) as step:
        page = browser.follow(browser.get(running.public_url("mgo", "/start")))
        if page.status_code != 200:
            raise FlowError(f"no DigiD page ({page.status_code})")
        r = sso_continue(browser, page) or browser.submit(page, {"bsn": bsn}, action="/login")
        step["detail"] = f"BSN {bsn}"
    with report.step("localisation + consent per provider", corr) as step:
        r, consents = through_providers(browser, r)
        if r.status_code != 200 or "json" not in r.headers.get("content-type", ""):
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
            answer = browser.get(running.url("mgo", "/admin/state"),
                                 headers=running.admin_headers)
            if answer.status_code != 200:
                raise FlowError(f"/admin/state answered {answer.status_code}")
            # this visit's session (other visitors' sessions in a shared sandbox are theirs)
            mine = [h for h in answer.json()["held"]
                    if h["correlation_id"] == browser.correlation_id]
            if mine or bsn in answer.text:
                raise FlowError(f"the inspection function still holds data: {mine}")
            step["detail"] = "this visit's session and results are gone"
        report.summary = {"bsn": bsn, "correlation_id": browser.correlation_id,
                          "providers": len(overview["providers"]),
                          "resources": overview["total"]}
    except StepFailed:
        report.summary = {"bsn": bsn}
    finally:
        browser.close()
    return report
