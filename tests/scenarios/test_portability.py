"""Portability reports and the bankruptcy drill: every invariant of the issue as a test."""

from __future__ import annotations

import base64

import pytest

from scenarios import bankruptcy, portability
from simulators.dvp.report import (
    PORTABILITY_SYSTEM,
    Report,
    ReportError,
    actions_from_log,
    build_report,
    fhir_package,
    parse_report,
    xml_from_package,
)

LOG = [
    {"correlation_id": "c1", "provider": "umcsandbox@medmij", "service": "48", "status": 200,
     "request_uri": "https://dva-nexus.sandbox.test/fhir/umcsandbox/48/Patient",
     "timestamp": "2026-11-01T10:00:00+00:00"},
    {"correlation_id": "c1", "provider": "umcsandbox@medmij", "service": "48", "status": 200,
     "request_uri": "https://dva-nexus.sandbox.test/fhir/umcsandbox/48/Condition",
     "timestamp": "2026-11-01T10:00:01+00:00"},
    {"correlation_id": "c1", "provider": "umcsandbox@medmij", "service": "48", "status": 401,
     "request_uri": "https://dva-nexus.sandbox.test/fhir/umcsandbox/48/Flag",
     "timestamp": "2026-11-01T10:00:01+00:00"},
    {"correlation_id": "c2", "provider": "rivmvaccinaties@medmij", "service": "63",
     "status": 200, "request_uri": "https://dva-lumen.sandbox.test/fhir/rivm/63/Immunization",
     "timestamp": "2026-11-02T09:00:00+00:00"},
]


def test_report_has_the_official_shape_and_round_trips(medmij_dir):
    report = Report("pgo-alpha.sandbox.test", "2026-11-01T10:00:00+00:00",
                    "2026-11-02T09:00:00+00:00", "2026-11-03T00:00:00+00:00",
                    actions_from_log(LOG))
    xml = build_report(report)
    again = parse_report(xml)
    assert again == report
    assert [len(a.requests) for a in again.actions] == [2, 1]  # the 401 is not replayable
    from lxml import etree

    ours = etree.fromstring(xml)
    official = etree.parse(str(medmij_dir / "portability" / "portabiliteitsrapport-example.xml"),
                           etree.XMLParser(recover=True)).getroot()

    def shape(el):
        return {etree.QName(c).localname: shape(c) for c in el if isinstance(c.tag, str)}

    assert shape(ours) == shape(official)


def test_official_example_parses(medmij_dir):
    report = parse_report(
        (medmij_dir / "portability" / "portabiliteitsrapport-example.xml").read_bytes())
    assert report.deelnemer == "Deelnemer0"
    assert report.providers() == ["zorgaanbiederdrie@medmij", "zorgaanbiedereen@medmij"]
    assert all(uri.startswith("https://") for a in report.actions for uri, _ in a.requests)


def test_fhir_package_points_at_the_xml_binary():
    from fhir.resources.STU3.binary import Binary
    from fhir.resources.STU3.documentreference import DocumentReference

    xml = build_report(Report("x.sandbox.test", "a", "b", "c", actions_from_log(LOG)))
    package = fhir_package(xml, "2026-11-03T00:00:00+00:00")
    document, binary = (e["resource"] for e in package["entry"])
    DocumentReference.model_validate(document)
    Binary.model_validate(binary)
    assert document["class"]["coding"][0] == {"system": PORTABILITY_SYSTEM, "code": "EXPORT",
                                              "display": "Export"}
    assert document["type"]["coding"][0]["code"] == "REPORT"
    assert document["content"][0]["attachment"]["url"] == f"Binary/{binary['id']}"
    assert base64.b64decode(binary["content"]) == xml == xml_from_package(package)


@pytest.mark.parametrize("content", [b"", b"<x/>", b"not xml at all <<<",
                                     b"<PortabiliteitsRapport/>"])
def test_malformed_reports_are_refused(content):
    with pytest.raises(ReportError):
        parse_report(content)


def test_import_of_garbage_is_a_400(sandbox):
    from scenarios.accounts import create_account
    from scenarios.useragent import Browser

    browser = Browser(sandbox.info.addresses)
    try:
        account = create_account(browser, sandbox.url("pgo-beta"), "x")
        url = account.url(f"/api/persons/{account.person_id}/portability/import")
        assert browser.request("POST", url, content=b"<nope/>").status_code == 400
        assert browser.request("POST", url, content=b"{]", headers={
            "Content-Type": "application/json"}).status_code == 400
    finally:
        browser.close()


def migrated_person(sandbox, lossy: bool = False) -> dict:
    """Collect at two providers at the first PGO, move to the second (scenario ``migrate``);
    with ``lossy`` the new PGO's dossier, as the scenario reads it, lacks one resource."""
    from scenarios import collect
    from scenarios.persons import find_persons
    from scenarios.report import ScenarioReport, StepFailed
    from scenarios.useragent import Browser

    old_dvp, new_dvp = sandbox.topology.dvps[0].id, sandbox.topology.dvps[1].id
    providers = [p.name for p in sandbox.topology.providers if p.kind in ("hospital", "gp")]
    browser = Browser(sandbox.info.addresses)
    real = portability.dossier

    def lossy_dossier(browser, running, dvp, person_id):
        held = real(browser, running, dvp, person_id)
        if dvp == new_dvp:
            held[next(iter(held))] -= 1
        return +held

    try:
        bsn = find_persons(browser, sandbox, providers[0], start=60 + 5 * lossy)[0]["bsn"]
        report = ScenarioReport("setup")
        account = None
        for provider in providers:
            account = collect.collect(sandbox, browser, report, old_dvp, provider, bsn,
                                      account=account)["account"]
        moving = ScenarioReport("migration")
        if lossy:
            portability.dossier = lossy_dossier
        try:
            moved = portability.migrate(sandbox, browser, moving, old_dvp, account, new_dvp, bsn)
        except StepFailed:
            browser.close()  # no caller will: it would leak its sockets to the GC
            return {"report": moving}
        finally:
            portability.dossier = real
        return {"report": moving, "bsn": bsn, "old": account, "new": moved["new_account"],
                "old_dvp": old_dvp, "new_dvp": new_dvp, "browser": browser,
                "close": browser.close}
    except BaseException:
        browser.close()
        raise


def test_both_pgos_hold_exactly_what_the_dva_serves_after_a_move(sandbox):
    """Issue 11 item 11: the old PGO's dossier and the new one's, each compared resource by
    resource with a second, independent read at the DVAs (the test's own token)."""
    from tests.scenarios.test_collect_integrity import (
        assert_holds_what_was_served,
        dva_reread,
        pgo_holdings,
        pgo_log,
    )

    moved = migrated_person(sandbox)
    browser = moved["browser"]
    try:
        assert moved["report"].ok, moved["report"].to_dict()
        old_log = pgo_log(browser, moved["old"])
        served = dva_reread(sandbox, moved["old_dvp"], moved["bsn"], old_log)
        assert_holds_what_was_served(pgo_holdings(browser, moved["old"]), served)
        new_held = pgo_holdings(browser, moved["new"])
        assert_holds_what_was_served(new_held, served)
        # the new PGO replayed exactly the old one's answered requests, nothing else
        new_log = pgo_log(browser, moved["new"])
        assert {(e["provider"], e["request_uri"]) for e in new_log} == {
            (e["provider"], e["request_uri"]) for e in old_log if e["status"] == 200}
    finally:
        moved["close"]()


def test_the_scenarios_dossier_comparison_catches_a_lost_resource(sandbox):
    """The scenario's own check (``migrate``'s "compare dossiers") fails when the new PGO holds
    one resource less: switching that comparison off fails this test."""
    moved = migrated_person(sandbox, lossy=True)
    if "close" in moved:
        moved["close"]()
    failed = [s for s in moved["report"].steps if not s.ok]
    assert failed and failed[0].name == "compare dossiers", moved["report"].to_dict()
    assert "1 resources lost in the move" in failed[0].detail


def test_voluntary_switch_loses_nothing_and_round_trips(sandbox):
    report = portability.run(sandbox)
    assert report.ok, report.to_dict()
    assert report.summary["resources_compared"] > 0
    assert any(s.name.startswith("round trip") and s.ok for s in report.steps)


def test_bankruptcy_drill_keeps_every_invariant(sandbox):
    report = bankruptcy.run(sandbox, users=2)
    assert report.ok, report.to_dict()
    summary = report.summary
    # cut-off of every endpoint after the list refresh
    cut = next(s for s in report.steps if s.name == "every DVA cuts the vendor off")
    assert "token invalid_client" in cut.detail and "refresh invalid_client" in cut.detail
    assert set(summary["cut_off_per_dva_s"]) == {d.id for d in sandbox.topology.dvas}
    assert summary["time_to_cut_off_s"] <= sandbox.topology.list_refresh_seconds + 5
    # no loss on migration
    assert summary["users_migrated"] == 2 and summary["resources_compared"] > 0
    # other vendors unaffected
    assert summary["background_collects"] > 0 and summary["background_success_rate"] == 1.0
    # nothing left after erasure: not in the tables, not in any file's bytes
    node_dir = sandbox.state_dir / "nodes" / "pgo-gamma"
    raw = b"".join(p.read_bytes() for p in node_dir.glob("dvp.sqlite*"))
    assert b"resourceType" not in raw and b"persoon " not in raw
    log = (node_dir / "erasure.log").read_text().strip().splitlines()
    assert log and '"by": "curator"' in log[-1] and '"ok": true' in log[-1]
