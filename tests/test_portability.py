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
    from simulators.common.http import sync_client

    with sync_client(sandbox.info.addresses) as http:
        person = http.post(sandbox.url("pgo-beta", "/api/persons"), json={"name": "x"}).json()
        url = sandbox.url("pgo-beta", f"/api/persons/{person['id']}/portability/import")
        assert http.post(url, content=b"<nope/>").status_code == 400
        assert http.post(url, content=b"{]", headers={"Content-Type": "application/json"}
                         ).status_code == 400


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
    # nothing left after erasure: not in the tables, not in the file's bytes
    node_dir = sandbox.state_dir / "nodes" / "pgo-gamma"
    raw = b"".join(p.read_bytes() for p in node_dir.glob("dvp.sqlite*"))
    assert b"resourceType" not in raw and b"persoon " not in raw
    log = (node_dir / "erasure.log").read_text().strip().splitlines()
    assert log and '"by": "curator"' in log[-1]
