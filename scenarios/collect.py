"""The collect scenario: one synthetic person collects from one provider through the real flow.

PGO account (password, session) -> PGO connect page and form -> DVA authorize -> DigiD login
-> availability + consent -> callback (in the same PGO session) -> token -> every search of the
gegevensdienst -> stored in the PGO. Works against any runtime.
"""

from __future__ import annotations

from sandbox.state import Running
from scenarios.accounts import PgoAccount, create_account, start
from scenarios.persons import find_persons
from scenarios.report import ScenarioReport, StepFailed
from scenarios.useragent import Browser, FlowError


def collect(running: Running, browser: Browser, report: ScenarioReport, dvp: str,
            provider: str, bsn: str, service: str | None = None, long_lived: bool = False,
            account: PgoAccount | None = None) -> dict:
    """Drive one collect as a person's browser would; returns the DVP's collect summary with
    ``person_id`` and ``account``. Without ``account`` the person first creates one; with it,
    the browser must hold that account's session (``scenarios.accounts.login``)."""
    corr = browser.correlation_id
    with report.step("account at the PGO", corr) as step:
        if account is None:
            account = create_account(browser, running.url(dvp), f"persoon {bsn}")
        person_id = account.person_id
        step["detail"] = f"person {person_id} at {dvp}"
    with report.step("authorize", corr) as step:
        params = {"provider": provider} | ({"service": service} if service else {})
        r = start(browser, account, "connect", params)
        if r.status_code != 302:
            raise FlowError(f"connect answered {r.status_code}: {r.text[:200]}")
        authorize = browser.location(r)
        r = browser.get(authorize)
        if r.status_code != 302:
            raise FlowError(f"authorize answered {r.status_code}: {r.text[:200]}")
        login_url = browser.location(r)
        step["detail"] = authorize.split("?")[0]
    with report.step("DigiD login", corr) as step:
        r = browser.digid_login(browser.get(login_url), bsn)
        if r.status_code != 303:
            raise FlowError(f"DigiD login answered {r.status_code}: {r.text[:200]}")
        step["detail"] = f"BSN {bsn}"
    with report.step("availability + consent", corr) as step:
        consent = browser.get(browser.location(r))
        if consent.status_code == 302:
            raise FlowError(f"DVA refused: {browser.location(consent)}")
        if consent.status_code != 200 or "Toestemming" not in consent.text:
            raise FlowError(f"no consent screen ({consent.status_code})")
        r = browser.submit(consent, button=("decision", "allow"),
                           checked=("long_lived",) if long_lived else ())
        if r.status_code != 302:
            raise FlowError(f"consent answered {r.status_code}")
        callback = browser.location(r)
        if "code=" not in callback:
            raise FlowError(f"no code in redirect: {callback}")
        step["detail"] = "consent given" + (" (long-lived)" if long_lived else "")
    with report.step("token + searches at the DVA", corr) as step:
        r = browser.get(callback, headers={"Accept": "application/json"})
        summary = r.json()
        if r.status_code != 200 or summary.get("status") != "collected":
            raise FlowError(f"collect {r.status_code}: {summary}")
        step["detail"] = f"{summary['requests']} requests, {summary['resources']} resources"
    with report.step("data visible in the PGO", corr) as step:
        r = browser.get(account.url(f"/api/persons/{person_id}/resources"))
        r.raise_for_status()
        held = r.json()
        if held["total"] == 0:
            raise FlowError("the PGO shows no data")
        step["detail"] = ", ".join(f"{t} {n}" for t, n in held["by_type"].items())
    return summary | {"person_id": person_id, "resources_held": held["total"],
                      "account": account}


def run(running: Running, dvp: str | None = None, provider: str | None = None,
        service: str | None = None, bsn: str | None = None,
        browser: Browser | None = None) -> ScenarioReport:
    """The scenario; pass a ``browser`` to keep the person's PGO session afterwards (the
    caller closes it)."""
    topology = running.topology
    dvp = dvp or topology.dvps[0].id
    provider = provider or topology.providers[0].name
    report = ScenarioReport("collect")
    own = browser is None
    browser = browser or Browser(running.info.addresses)
    try:
        with report.step("pick a test person", browser.correlation_id) as step:
            if bsn is None:
                person = find_persons(browser, running, provider, service=service)[0]
                bsn = person["bsn"]
                step["detail"] = f"{person['name']} (BSN {bsn})"
            else:
                step["detail"] = f"BSN {bsn}"
        summary = collect(running, browser, report, dvp, provider, bsn, service)
        report.summary = {"dvp": dvp, "provider": provider, "bsn": bsn,
                          "requests": summary["requests"], "resources": summary["resources_held"],
                          "correlation_id": browser.correlation_id}
    except StepFailed:
        report.summary = {"dvp": dvp, "provider": provider, "correlation_id":
                          browser.correlation_id}
    finally:
        if own:
            browser.close()
    return report
