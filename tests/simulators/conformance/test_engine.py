# ruff: noqa: E501  (the inline TestScript XML is easier to read unwrapped)
"""Conformance engine: loader, assert evaluation and reports, on small inline TestScripts
against an in-process FHIR server (httpx.MockTransport)."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import httpx
import pytest
import typer
from typer.testing import CliRunner

from simulators.conformance import asserts, load, report
from simulators.conformance.fhirxml import parse_xml
from simulators.conformance.runner import Engine

BASE = "http://fhir.test/fhir"
TOKEN = "secret-token-123"

PATIENT_XML = """<Patient xmlns="http://hl7.org/fhir"><id value="p1"/>
<meta><profile value="http://fhir.nl/fhir/StructureDefinition/nl-core-patient"/></meta>
<identifier><system value="http://fhir.nl/fhir/NamingSystem/bsn"/><value>
<extension url="http://hl7.org/fhir/StructureDefinition/data-absent-reason">
<valueCode value="masked"/></extension></value></identifier>
<name><family value="van XXX_Test"/><given value="Anna"/><given value="Maria"/></name>
<gender value="female"/><birthDate value="1985-12-17"/><multipleBirthBoolean value="false"/>
</Patient>"""


def bundle(self_url: str) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": 2,
            "link": [{"relation": "self", "url": self_url}],
            "entry": [{"fullUrl": f"{BASE}/Condition/c{i}", "search": {"mode": "match"},
                       "resource": {"resourceType": "Condition", "id": f"c{i}",
                                    "meta": {"profile": ["http://x/p"]},
                                    "code": {"coding": [{"system": "http://snomed.info/sct",
                                                         "code": str(i), "display": "d"}]},
                                    "subject": {"reference": "Patient/p1", "display": "A"}}}
                      for i in (1, 2)]}


def server(request: httpx.Request) -> httpx.Response:
    """A tiny FHIR server: Condition search (JSON), Patient read (XML when asked)."""
    if request.headers.get("authorization") != f"Bearer {TOKEN}":
        return httpx.Response(401, json={"resourceType": "OperationOutcome"})
    path = request.url.path
    if path.endswith("/Condition"):
        # drops unknown parameters from the self link, as a sloppy server would
        keep = "&".join(f"{k}={v}" for k, v in request.url.params.multi_items()
                        if k != "_unknown")
        return httpx.Response(200, json=bundle(f"{BASE}/Condition?{keep}"),
                              headers={"content-type": "application/fhir+json"})
    if path.endswith("/Patient/p1"):
        if "xml" in request.headers.get("accept", ""):
            return httpx.Response(200, text=PATIENT_XML,
                                  headers={"content-type": "application/fhir+xml"})
        return httpx.Response(200, json=parse_xml(PATIENT_XML),
                              headers={"content-type": "application/fhir+json"})
    return httpx.Response(404, json={"resourceType": "OperationOutcome"})


SCRIPT = """<TestScript xmlns="http://hl7.org/fhir">
  <id value="inline-1"/>
  <extension url="http://touchstone.aegis.net/touchstone/fhir/testing/StructureDefinition/testscript-rule">
    <extension url="ruleId"><valueId value="assert-response-queryParamsInSelfLink"/></extension>
    <extension url="path"><valueString value="../_reference/rules/x.groovy"/></extension>
  </extension>
  <url value="http://example.org/TestScript/inline-1"/>
  <name value="Inline"/><status value="active"/>
  <fixture id="patient-min"><resource><reference value="_reference/patient-min.json"/></resource></fixture>
  <profile id="Bundle-profile" value="http://hl7.org/fhir/StructureDefinition/Bundle"/>
  <variable><name value="patient-token-XXX_Test"/><defaultValue value="Bearer wrong"/></variable>
  <variable><name value="corr"/><defaultValue value="${UUID}"/></variable>
  <variable><name value="patient-id"/>
    <expression value="Bundle.entry.resource.subject.reference.first().replace('Patient/', '')"/>
    <sourceId value="conditions"/></variable>
  <setup><action><operation><type><code value="search"/></type><resource value="Condition"/>
    <accept value="json"/>
    <requestHeader><field value="Authorization"/><value value="${patient-token-XXX_Test}"/></requestHeader>
  </operation></action>
  <action><assert><responseCode value="200"/></assert></action></setup>
  <test><name value="search"/>
    <action><operation><type><code value="search"/></type><resource value="Condition"/>
      <accept value="json"/><params value="?code=http://snomed.info/sct|1&amp;_unknown=x"/>
      <requestHeader><field value="Authorization"/><value value="${patient-token-XXX_Test}"/></requestHeader>
      <requestHeader><field value="X-Correlation-ID"/><value value="${corr}"/></requestHeader>
      <responseId value="conditions"/></operation></action>
    <action><assert><description value="ok"/><operator value="in"/><responseCode value="200,201"/></assert></action>
    <action><assert><description value="bundle"/><direction value="response"/><resource value="Bundle"/></assert></action>
    <action><assert><description value="type"/><expression value="Bundle.type"/><operator value="equals"/><value value="searchset"/></assert></action>
    <action><assert><description value="codings"/><expression value="Bundle.descendants().where($this.is(Coding)).all(system.exists() and code.exists())"/></assert></action>
    <action><assert><description value="deliberately wrong count"/><expression value="Bundle.entry.where(resource.is(Condition)).count() = 3"/></assert></action>
    <action><assert><description value="profile"/><validateProfileId value="Bundle-profile"/></assert></action>
    <action><assert><description value="xpath"/><path value="/f:Bundle/f:type"/><value value="searchset"/></assert></action>
    <action><assert><description value="bad fhirpath"/><expression value="Bundle.entry.(("/></assert></action>
    <action><assert><description value="warn"/><expression value="Bundle.total = 5"/><warningOnly value="true"/></assert></action>
    <action><assert><description value="auth sent"/><direction value="request"/><headerField value="Authorization"/><operator value="notEmpty"/></assert></action>
    <action><assert><description value="no patient param"/><direction value="request"/><operator value="notContains"/><requestURL value="patient="/></assert></action>
    <action><assert><description value="content type"/><contentType value="json"/></assert></action>
    <action><assert><description value="self link"/>
      <extension url="http://touchstone.aegis.net/touchstone/fhir/testing/StructureDefinition/testscript-assert-rule">
        <extension url="ruleId"><valueId value="assert-response-queryParamsInSelfLink"/></extension></extension></assert></action>
    <action><assert><description value="unknown rule"/>
      <extension url="http://touchstone.aegis.net/touchstone/fhir/testing/StructureDefinition/testscript-assert-rule">
        <extension url="ruleId"><valueId value="assert-something-else"/></extension></extension></assert></action>
  </test>
  <test><name value="read as xml"/>
    <action><operation><type><code value="read"/></type><resource value="Patient"/>
      <accept value="xml"/><params value="/${patient-id}"/>
      <requestHeader><field value="Authorization"/><value value="${patient-token-XXX_Test}"/></requestHeader>
    </operation></action>
    <action><assert><description value="stop here"/><responseCode value="200"/><stopTestOnFail value="true"/></assert></action>
    <action><assert><description value="masked bsn"/><expression value="Patient.identifier.value.extension.exists() and Patient.name.given.count() = 2 and Patient.multipleBirth = false"/></assert></action>
    <action><assert><description value="minimum"/><minimumId value="patient-min"/></assert></action>
    <action><assert><description value="compare"/><expression value="Patient.id"/>
      <compareToSourceId value="patient-min"/><compareToSourceExpression value="Patient.id"/></assert></action>
  </test>
  <test><name value="stops"/>
    <action><operation><type><code value="read"/></type><resource value="Patient"/><params value="/nope"/>
      <requestHeader><field value="Authorization"/><value value="${patient-token-XXX_Test}"/></requestHeader>
    </operation></action>
    <action><assert><description value="must be 200"/><responseCode value="200"/><stopTestOnFail value="true"/></assert></action>
    <action><assert><description value="never reached"/><resource value="Patient"/></assert></action>
  </test>
</TestScript>"""


@pytest.fixture()
def script_path(tmp_path: Path) -> Path:
    (tmp_path / "_reference").mkdir()
    (tmp_path / "_reference" / "patient-min.json").write_text(json.dumps(
        {"resourceType": "Patient", "id": "p1", "gender": "female",
         "name": [{"family": "van XXX_Test"}]}))
    path = tmp_path / "inline-1.xml"
    path.write_text(SCRIPT)
    return path


def run(script_path: Path, token: str = TOKEN):
    client = httpx.Client(transport=httpx.MockTransport(server))
    with Engine(BASE, client=client) as engine:
        return engine.run(load(script_path), {"patient-token-XXX_Test": f"Bearer {token}"})


def statuses(result) -> dict[str, str]:
    return {a.description: a.status for p in result.all_parts for a in p.asserts}


def test_loader_reads_fixtures_variables_rules_and_actions(script_path: Path) -> None:
    s = load(script_path)
    assert s.id == "inline-1" and s.fhir_version == "STU3" and s.format == "mixed"
    assert s.fixtures["patient-min"].resource["gender"] == "female"
    assert s.fixtures["patient-min"].error is None
    assert s.profiles == {"Bundle-profile": "http://hl7.org/fhir/StructureDefinition/Bundle"}
    assert s.rules == {"assert-response-queryParamsInSelfLink": "../_reference/rules/x.groovy"}
    assert [v.name for v in s.variables] == ["patient-token-XXX_Test", "corr", "patient-id"]
    assert s.variables[2].source_id == "conditions"
    assert len(s.setup) == 2 and [t.name for t in s.tests] == ["search", "read as xml", "stops"]
    op = s.tests[0].actions[0].operation
    assert op.type == "search" and op.response_id == "conditions" and op.accept == "json"
    assert s.tests[0].actions[13].assertion.rule_id == "assert-response-queryParamsInSelfLink"


def test_missing_fixture_is_named_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "s.xml"
    path.write_text(SCRIPT)
    assert "cannot read" in load(path).fixtures["patient-min"].error


def test_every_assert_gets_the_right_status(script_path: Path) -> None:
    result = run(script_path)
    got = statuses(result)
    assert got["ok"] == got["bundle"] == got["type"] == got["codings"] == "passed"
    assert got["deliberately wrong count"] == "failed"
    assert got["profile"] == "not_evaluated" and got["xpath"] == "not_evaluated"
    assert got["bad fhirpath"] == "not_evaluated"
    assert got["unknown rule"] == "not_evaluated"
    assert got["warn"] == "warning"
    assert got["auth sent"] == got["no patient param"] == got["content type"] == "passed"
    # the server dropped _unknown from its self link: the ported Groovy rule sees it
    assert got["self link"] == "failed"
    # a variable from a response (patient-id) fed the next URL; XML answer parsed for FHIRPath
    assert got["stop here"] == got["masked bsn"] == got["minimum"] == got["compare"] == "passed"
    assert got["must be 200"] == "failed" and got["never reached"] == "skipped"
    c = result.counts()
    assert c["asserts"] == 21 and c["passed"] == 12 and c["failed"] == 3 and c["warning"] == 1
    assert c["not_evaluated"] == 4 and c["skipped"] == 1
    reasons = {a.description: a.message for p in result.all_parts for a in p.asserts}
    assert "StructureDefinition validator" in reasons["profile"]
    assert "assert-something-else" in reasons["unknown rule"]
    assert "fhirpathpy" in reasons["bad fhirpath"]


def test_wrong_token_fails_at_the_first_stop(script_path: Path) -> None:
    got = statuses(run(script_path, token="other"))
    assert got["ok"] == "failed"  # 401
    assert got["type"] == "failed"  # an OperationOutcome is no searchset


def test_unresolvable_variable_makes_asserts_not_evaluated(script_path: Path) -> None:
    client = httpx.Client(transport=httpx.MockTransport(server))
    script = load(script_path)
    script.variables = [v for v in script.variables if v.name != "patient-token-XXX_Test"]
    with Engine(BASE, client=client) as engine:
        result = engine.run(script)
    ops = [a for p in result.all_parts for a in p.actions if a.kind == "operation"]
    assert all(o.status == "not_evaluated" and "patient-token-XXX_Test" in o.message
               for o in ops)
    assert statuses(result)["ok"] == "not_evaluated"


def test_compare_operators() -> None:
    assert asserts.compare(["200"], "in", "200,201")
    assert not asserts.compare(["404"], "in", "200,201")
    assert asserts.compare(["5"], "greaterThan", "10") is False
    assert asserts.compare([], "empty", None) and asserts.compare(["x"], "notEmpty", None)
    with pytest.raises(ValueError):
        asserts.compare(["x"], "approximately", "y")


def test_reports_carry_evidence_and_mask_the_token(script_path: Path, tmp_path: Path) -> None:
    result = run(script_path)
    out = tmp_path / "out.json"
    report.write_json([result], out)
    text = out.read_text()
    assert TOKEN not in text and "Bearer ***" in text
    data = json.loads(text)
    failed = next(a for t in data["scripts"][0]["tests"] for a in t["actions"]
                  if a["description"] == "deliberately wrong count")
    assert failed["evidence"]["status"] == 200 and failed["evidence"]["method"] == "GET"
    assert "Condition?code=" in failed["evidence"]["url"]
    assert data["summary"]["total"]["failed"] == 3
    junit = tmp_path / "junit.xml"
    report.write_junit([result], junit)
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "3" and TOKEN not in junit.read_text()
    assert any("not evaluated" in (s.get("message") or "") for s in root.iter("skipped"))
    tr = report.testreport(result)
    from fhir.resources.R4B.testreport import TestReport
    TestReport.model_validate(tr)  # a valid R4 TestReport
    assert tr["result"] == "fail"
    results = [a["assert"]["result"] for t in tr["test"] for a in t["action"] if "assert" in a]
    assert results.count("fail") == 3 and results.count("warning") == 1
    assert TOKEN not in json.dumps(tr)


def test_format_mismatch_fails_the_operation(script_path: Path) -> None:
    def json_only(request: httpx.Request) -> httpx.Response:
        response = server(request)
        if response.headers.get("content-type") == "application/fhir+xml":
            return httpx.Response(200, json=parse_xml(response.text),
                                  headers={"content-type": "application/fhir+json"})
        return response
    client = httpx.Client(transport=httpx.MockTransport(json_only))
    with Engine(BASE, client=client) as engine:
        result = engine.run(load(script_path), {"patient-token-XXX_Test": f"Bearer {TOKEN}"})
    read = [a for a in result.tests[1].actions if a.kind == "operation"][0]
    assert read.status == "failed" and "asked for application/fhir+xml" in read.message
    assert result.counts()["operations_failed"] == 1 and not result.ok


def test_xml_converter_types_and_primitive_extensions() -> None:
    p = parse_xml(PATIENT_XML)
    assert p["multipleBirthBoolean"] is False and p["name"]["given"] == ["Anna", "Maria"]
    assert p["identifier"]["_value"]["extension"]["url"].endswith("data-absent-reason")
    assert "value" not in p["identifier"]
    obs = parse_xml('<Observation xmlns="http://hl7.org/fhir"><valueQuantity>'
                    '<value value="72.5"/><unit value="kg"/></valueQuantity></Observation>')
    assert obs["valueQuantity"]["value"] == 72.5


def test_cli_runs_a_script_against_an_outside_base(script_path: Path, tmp_path: Path,
                                                   monkeypatch) -> None:
    """`conformance dva --base --token` through a local typer app (cli.py is the lead's)."""
    from sandbox import conformance_cli

    def fake_suite(base, token, standards, goals, formats, root, variables, match, on_script):
        assert base == BASE and token == TOKEN and standards == ["bgz"]
        client = httpx.Client(transport=httpx.MockTransport(server))
        with Engine(base, client=client) as engine:
            r = engine.run(load(script_path), {"patient-token-XXX_Test": f"Bearer {token}"})
        on_script(r)
        return [r]
    monkeypatch.setattr(conformance_cli, "run_outside_suite", fake_suite)
    app = typer.Typer()
    conformance_cli.register(app)

    @app.callback()
    def main() -> None:
        pass
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["conformance", "dva", "--base", BASE, "--token", TOKEN,
                                      "--standard", "bgz", "--json", str(out),
                                      "--junit", str(tmp_path / "j.xml"),
                                      "--testreports", str(tmp_path / "tr")])
    assert result.exit_code == 1, result.output  # the deliberately failing assert
    assert "TOTAL" in result.output and json.loads(out.read_text())["summary"]
    assert (tmp_path / "tr" / "TestReport-inline-1.json").exists()
    bad = CliRunner().invoke(app, ["conformance", "dva"])
    assert bad.exit_code == 2 and "either --provider or --base" in bad.output
