"""The collect scenario: one synthetic person collects from one provider through the real flow.

PGO account (password, session) -> PGO connect page and form -> DVA authorize -> DigiD login
-> availability + consent -> callback (in the same PGO session) -> token -> every search of the
gegevensdienst -> stored in the PGO. Works against any runtime.
"""

from __future__ import annotations

from sandbox.state import Running
from scenarios.accounts import PgoAccount, create_account
from scenarios.flow import pgo_collect, run_reported
from scenarios.persons import find_persons
from scenarios.report import ScenarioReport, StepFailed
from scenarios.useragent import Browser


def collect(running: Running, browser: Browser, report: ScenarioReport, dvp: str,
            provider: str, bsn: str, service: str | None = None, long_lived: bool = False,
            account: PgoAccount | None = None) -> dict:
    """Drive one collect as a person's browser would (``scenarios.flow.pgo_collect``, one
    report step per step of the flow); returns the DVP's collect summary with ``person_id``
    and ``account``. Without ``account`` the person first creates one; with it, the browser
    must hold that account's session (``scenarios.accounts.login``)."""
    with report.step("account at the PGO", browser.correlation_id) as step:
        if account is None:
            account = create_account(browser, running.public_url(dvp), f"persoon {bsn}")
        step["detail"] = f"person {account.person_id} at {dvp}"
    summary = run_reported(pgo_collect(account, provider, bsn, service, long_lived),
                           browser.send, report, browser.correlation_id)
    return summary | {"person_id": account.person_id, "account": account}


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
