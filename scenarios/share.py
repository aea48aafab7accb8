"""The share scenario (Delen): a person sends self-measurements and a document from one PGO to
their GP, and a second PGO then collects them from the GP.

PGO share -> DVA authorize (scope <provider>~<id>) -> DigiD -> receptiveness check ->
Bevestigingsverklaring -> callback -> token -> FHIR transaction into the source system; then
another PGO collects 48 and 51 and finds what was shared. The two refusals (provider not
receptive, confirmation declined) come back as OAuth errors.
"""

from __future__ import annotations

from sandbox.state import Running
from scenarios.accounts import PgoAccount, create_account, start
from scenarios.collect import collect
from scenarios.persons import find_persons
from scenarios.report import ScenarioReport, StepFailed
from scenarios.useragent import Browser, FlowError
from simulators.dva.received import SHARED_BY
from simulators.medmij import OAuthError, build_scope

SELF_MEASUREMENTS, DOCUMENTS = "52", "53"


def share(running: Running, browser: Browser, account: PgoAccount, provider: str,
          service: str, bsn: str, decision: str = "allow") -> dict:
    """Drive one share as the person's browser would (logged in to ``account``); the DVP's
    answer (shared or refused)."""
    r = start(browser, account, "share", {"provider": provider, "service": service})
    if r.status_code != 302:
        raise FlowError(f"share answered {r.status_code}: {r.text[:200]}")
    r = browser.get(browser.location(r))
    if r.status_code != 302:
        raise FlowError(f"authorize answered {r.status_code}: {r.text[:200]}")
    r = browser.digid_login(browser.get(browser.location(r)), bsn)
    if r.status_code != 303:
        raise FlowError(f"DigiD login answered {r.status_code}")
    screen = browser.get(browser.location(r))
    if screen.status_code == 302:  # refused before the confirmation screen
        callback = browser.location(screen)
    else:
        if screen.status_code != 200 or "Bevestigingsverklaring" not in screen.text:
            raise FlowError(f"no confirmation screen ({screen.status_code})")
        r = browser.submit(screen, button=("decision", decision))
        callback = browser.location(r)
    return browser.get(callback, headers={"Accept": "application/json"}).json()


def _shared_by(resource: dict, client: str) -> bool:
    return any(t.get("system") == SHARED_BY and t.get("code") == client
               for t in resource.get("meta", {}).get("tag", []))


def run(running: Running, dvp: str | None = None, reader: str | None = None,
        provider: str | None = None) -> ScenarioReport:
    topology = running.topology
    dvp = dvp or topology.dvps[0].id
    reader = reader or next(n.id for n in topology.dvps if n.id != dvp)
    provider = provider or next(p.name for p in topology.providers
                                if SELF_MEASUREMENTS in p.gegevensdiensten)
    client = topology.node(dvp).hostname
    report = ScenarioReport("share")
    browser = Browser(running.info.addresses)
    try:
        with report.step("pick a test person", browser.correlation_id) as step:
            person = find_persons(browser, running, provider, start=500)[0]
            bsn = person["bsn"]
            step["detail"] = f"{person['name']} (BSN {bsn}), patient of {provider}"
        with report.step("account at the PGO", browser.correlation_id) as step:
            account = create_account(browser, running.public_url(dvp), person["name"])
            step["detail"] = f"person {account.person_id} at {dvp}"
        shared = 0
        for service, what in ((SELF_MEASUREMENTS, "self-measurements"), (DOCUMENTS, "document")):
            with report.step(f"share {what} ({build_scope(provider, service)})",
                             browser.correlation_id) as step:
                answer = share(running, browser, account, provider, service, bsn)
                if answer.get("status") != "shared":
                    raise FlowError(f"share refused: {answer}")
                shared += answer["resources"]
                step["detail"] = ", ".join(answer["locations"])
        with report.step(f"{reader} collects from {provider}", browser.correlation_id) as step:
            inner = ScenarioReport("collect")
            try:
                summary = collect(running, browser, inner, reader, provider, bsn)
            except StepFailed:
                raise FlowError(f"collect failed: {inner.steps[-1].detail}") from None
            items = browser.get(summary["account"].url(
                f"/api/persons/{summary['person_id']}/resources")).json()["items"]
            seen = [i["resource"] for i in items if _shared_by(i["resource"], client)]
            kinds = sorted({r["resourceType"] for r in seen})
            binaries = [i for i in items if i["resource"]["resourceType"] == "Binary"]
            if not {"Observation", "DocumentReference"} <= set(kinds) or not binaries:
                raise FlowError(f"shared data not found by {reader}: {kinds}")
            step["detail"] = (f"{len(seen)} shared resources found ({', '.join(kinds)}), "
                              f"{len(binaries)} PDF(s)")
        with report.step("refused: confirmation declined", browser.correlation_id) as step:
            answer = share(running, browser, account, provider, SELF_MEASUREMENTS, bsn,
                           decision="deny")
            if answer.get("error") != OAuthError.ACCESS_DENIED:
                raise FlowError(f"expected access_denied, got {answer}")
            step["detail"] = f"{answer['error']}: {answer['error_description']}"
        with report.step("refused: provider not receptive", browser.correlation_id) as step:
            target, outsider = _not_in_care(running)
            other = Browser(running.info.addresses)
            try:
                stranger = create_account(other, running.public_url(dvp), "geen patiënt")
                answer = share(running, other, stranger, target, DOCUMENTS, outsider)
            finally:
                other.close()
            if answer.get("error") != OAuthError.ACCESS_DENIED:
                raise FlowError(f"expected access_denied, got {answer}")
            step["detail"] = f"{target}: {answer['error']}: {answer['error_description']}"
        report.summary = {"dvp": dvp, "reader": reader, "provider": provider, "bsn": bsn,
                          "shared_resources": shared, "correlation_id": browser.correlation_id}
    except StepFailed:
        report.summary = {"dvp": dvp, "provider": provider,
                          "correlation_id": browser.correlation_id}
    finally:
        browser.close()
    return report


def _not_in_care(running: Running, limit: int = 5000) -> tuple[str, str]:
    """A provider that accepts documents and the BSN of someone it holds no record of (a
    provider accepts shared data only from people in its care)."""
    from simulators.common.people import population_for

    population = population_for(running.config)
    for provider in running.topology.providers:
        if DOCUMENTS not in provider.gegevensdiensten:
            continue
        for index in range(min(limit, population.size)):
            if not population.services(index, provider.name):
                return provider.name, population.patient(index).bsn
    raise FlowError("no provider with people outside its care")
