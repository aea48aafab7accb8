"""The long-lived consent scenario: collect once with the person, then again without them.

Collect with the opt-in -> move the sandbox clock 30 days -> re-collect by refresh token
(rotated) -> the person revokes from the PGO -> refresh refused. Then a fresh consent, the
clock 200 days on, and the refresh is refused again: the consent lapsed after 6 months without
collecting. The clock offset found at the start is put back at the end.
"""

from __future__ import annotations

from sandbox.clock_cli import read_offset, set_offset
from sandbox.state import Running
from scenarios.collect import collect
from scenarios.persons import find_persons
from scenarios.report import ScenarioReport, StepFailed
from scenarios.useragent import Browser, FlowError
from simulators.medmij import OAuthError

DAY = 86400.0


def run(running: Running, dvp: str | None = None,
        provider: str | None = None) -> ScenarioReport:
    topology = running.topology
    dvp = dvp or topology.dvps[0].id
    provider = provider or topology.providers[0].name
    report = ScenarioReport("long-lived-consent")
    browser = Browser(running.info.addresses)
    clock_file = running.state_dir / "clock.json"
    start_offset = read_offset(clock_file)
    corr = browser.correlation_id

    def advance(days: float) -> None:
        set_offset(clock_file, read_offset(clock_file) + days * DAY)

    def refresh(person_id: str) -> tuple[int, dict]:
        r = browser.request("POST", running.public_url(
            dvp, f"/api/persons/{person_id}/grants/{provider}/refresh"))
        return r.status_code, r.json()

    def refused(person_id: str, why: str) -> str:
        status, body = refresh(person_id)
        if status != 409 or body.get("error") != OAuthError.INVALID_GRANT:
            raise FlowError(f"expected invalid_grant after {why}, got {status} {body}")
        return f"{body['error']}: {body['error_description']}"

    try:
        with report.step("pick a test person", corr) as step:
            bsn = find_persons(browser, running, provider, start=200)[0]["bsn"]
            step["detail"] = f"BSN {bsn} at {provider}"
        summary = collect(running, browser, report, dvp, provider, bsn, long_lived=True)
        person_id, account = summary["person_id"], summary["account"]
        with report.step("refresh token held by the PGO", corr) as step:
            if not summary.get("long_lived"):
                raise FlowError("the token response carried no refresh_token")
            step["detail"] = "long-lived consent (opt-in on the consent screen)"
        with report.step("clock +30 days", corr) as step:
            advance(30)
            step["detail"] = f"offset {read_offset(clock_file) / DAY:.0f} days"
        with report.step("re-collect by refresh token", corr) as step:
            status, body = refresh(person_id)
            if status != 200 or body.get("status") != "collected" or not body.get("rotated"):
                raise FlowError(f"re-collect {status}: {body}")
            step["detail"] = (f"{body['requests']} requests, {body['resources']} resources, "
                              "refresh token rotated")
        with report.step("person revokes in the PGO", corr) as step:
            r = browser.request("POST", running.public_url(
                dvp, f"/api/persons/{person_id}/grants/{provider}/revoke"))
            if r.status_code != 200:
                raise FlowError(f"revoke {r.status_code}: {r.text[:200]}")
            step["detail"] = f"revoked at {r.json()['revoked_at']} (RFC 7009 at the DVA)"
        with report.step("refresh refused after revocation", corr) as step:
            step["detail"] = refused(person_id, "revocation")
        with report.step("new long-lived consent", corr) as step:
            again = collect(running, browser, ScenarioReport("collect"), dvp, provider, bsn,
                            long_lived=True, account=account)
            step["detail"] = f"{again['requests']} requests, long-lived {again['long_lived']}"
        with report.step("clock +200 days without collecting", corr) as step:
            advance(200)
            step["detail"] = f"offset {read_offset(clock_file) / DAY:.0f} days"
        with report.step("refresh refused: consent lapsed", corr) as step:
            step["detail"] = refused(person_id, "6 months without collecting")
        report.summary = {"dvp": dvp, "provider": provider, "bsn": bsn,
                          "correlation_id": corr}
    except StepFailed:
        report.summary = {"dvp": dvp, "provider": provider, "correlation_id": corr}
    finally:
        set_offset(clock_file, start_offset)
        browser.close()
    return report
