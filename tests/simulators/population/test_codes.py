"""Our population codes its data as the Nictiz fixtures do (issue 14 item 6), and the PGO
query list's 49 lab query finds the GP lab results of every patient who has them.

Each code a table ships is checked against the fixture it names where that fixture is part of
``../shared/medmij/testscripts`` (the others come from public Nictiz repositories, named in the
table's header)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.conformance.fhirxml import parse_xml
from simulators.dva.search import search
from simulators.dvp.collect import render_query
from simulators.medmij import SNOMED
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN
from simulators.population import Population, ProviderRef
from simulators.population.catalog import GPK, LABS, MEDICATIONS, NHG45, PRK
from simulators.population.fhir_common import AGB_SPECIALTY_SYSTEM, ORG_TYPE_SYSTEM, org_id
from simulators.population.vaccination import ATC_SYSTEM, VACCINES
from simulators.provider import SourceRecord
from tests.conftest import MEDMIJ

REF = MEDMIJ / "testscripts"
BGZ_REF = REF / "STU3" / "BgZ-3-0" / "MedMij"
IMM_REF = REF / "R4" / "Immunization-2-0" / "MedMij"
PROVIDERS = [
    ProviderRef("hapraktijkzuid@medmij", "gp", "Huisartsenpraktijk Zuid"),
    ProviderRef("umcsandbox@medmij", "hospital", "UMC Sandbox"),
    ProviderRef("apotheeksandbox@medmij", "pharmacy", "Apotheek Sandbox"),
    ProviderRef("ggzsandbox@medmij", "ggz", "GGZ Sandbox"),
    ProviderRef("rivm@medmij", "rivm", "RIVM"),
]
SAMPLE = range(1500)

pytestmark = pytest.mark.skipif(not BGZ_REF.is_dir(), reason="Nictiz testscripts absent")


@pytest.fixture(scope="module")
def pop() -> Population:
    return Population(seed=42, size=18_000_000, providers=PROVIDERS)


@pytest.fixture(scope="module")
def answers(pop: Population) -> list[tuple[int, str, str, list[dict]]]:
    out = []
    for i in SAMPLE:
        for name in pop.holders(i):
            for service in pop.services(i, name):
                out.append((i, name, service, pop.resources(i, name, service)))
    return out


def _codings(value) -> list[dict]:
    return [c for c in (value or {}).get("coding", [])]


def _fixture_codings(folder: Path, version: str) -> set[tuple[str, str]]:
    """Every (system, code) a fixture folder's resources carry anywhere."""
    found: set[tuple[str, str]] = set()

    def walk(v) -> None:
        if isinstance(v, dict):
            if isinstance(v.get("system"), str) and isinstance(v.get("code"), str):
                found.add((v["system"], v["code"]))
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for path in folder.glob("*/_reference/resources/*.xml"):
        walk(parse_xml(path.read_bytes(), version))
    return found


def test_medication_is_coded_with_g_standaard_prk_and_gpk_not_atc(answers: list) -> None:
    seen = set()
    for _, _, _, resources in answers:
        for r in resources:
            if r["resourceType"] != "Medication":
                continue
            systems = [c["system"] for c in _codings(r["code"])]
            assert systems[0] == PRK and set(systems) <= {PRK, GPK}, r
            assert all(c.get("display") for c in _codings(r["code"]))
            seen.add(r["code"]["coding"][0]["code"])
    assert len(seen) >= 10  # most of the catalogue occurs in the sample
    # the table: every product has a PRK; a GPK wherever the source fixture has one
    assert all(m.prk[0].isdigit() for m in MEDICATIONS.values())
    assert sum(m.gpk is not None for m in MEDICATIONS.values()) == len(MEDICATIONS) - 1


def test_conditions_are_snomed_only_as_the_bgz_fixtures(answers: list) -> None:
    n = 0
    for _, _, _, resources in answers:
        for r in resources:
            if r["resourceType"] == "Condition":
                assert [c["system"] for c in _codings(r["code"])] == [SNOMED], r["code"]
                n += 1
    assert n > 100


# The SNOMED vaccine product per vaccine, as the source named in vaccination.py's header has
# it: pneu and hpv the shared R4 fixtures, dktp and dktp-hib-hepb Nictiz R4 examples, the
# others (and those four too) the HL7 IPS "Vaccines - SNOMED CT IPS Free Set" 1.1.0.
SOURCED_SNOMED_VACCINES = {
    "dktp-hib": "871887006", "dktp-hib-hepb": "871895005", "pneu": "836398006",
    "menc": "871866001", "menacwy": "871873006", "bmr": "871831003", "dktp": "871878002",
    "dtp": "871837004", "hpv": "836379009", "rota": "1081000221109", "flu": "1181000221105",
}


def test_vaccines_per_fhir_version_as_the_fixtures(answers: list) -> None:
    """R4 (63): every Immunization the SNOMED product first, then ATC, as the Vaccinaties
    fixtures; STU3 BgZ: ATC only, as medmij-bgz-vaccination-ts-01."""
    by_atc = {v.atc: v for v in VACCINES.values()}
    seen = set()
    for _, _, service, resources in answers:
        for r in resources:
            if r["resourceType"] != "Immunization":
                continue
            codings = _codings(r["vaccineCode"])
            systems = [c["system"] for c in codings]
            if service == "63":
                assert systems == [SNOMED, ATC_SYSTEM], systems
                v = by_atc[codings[1]["code"]]
                assert codings[0]["code"] == SOURCED_SNOMED_VACCINES[v.key], codings
                seen.add(v.key)
            else:
                assert systems == [ATC_SYSTEM], systems
    assert seen == set(VACCINES)  # each vaccine occurs, so each one's coding is checked
    assert {k: v.snomed for k, v in VACCINES.items()} == SOURCED_SNOMED_VACCINES
    fixtures = _fixture_codings(IMM_REF, "R4")
    for key in ("pneu", "hpv"):  # the SNOMED codes the shared R4 fixtures carry are theirs
        assert (SNOMED, VACCINES[key].snomed) in fixtures, key
    bgz = _fixture_codings(BGZ_REF, "STU3")
    assert any(system == ATC_SYSTEM for system, _ in bgz)


def test_organisation_types_as_the_fixtures(answers: list) -> None:
    fixtures = _fixture_codings(BGZ_REF, "STU3") | _fixture_codings(IMM_REF, "R4")
    by_kind: dict[str, list] = {}
    for _, name, _, resources in answers:
        for r in resources:
            if r["resourceType"] == "Organization" and r["id"] == org_id(name):
                by_kind.setdefault(name, r.get("type", []))
    gp = [c for t in by_kind["hapraktijkzuid@medmij"] for c in t["coding"]]
    hospital = [c for t in by_kind["umcsandbox@medmij"] for c in t["coding"]]
    assert [(c["system"], c["code"]) for c in gp] == [(ORG_TYPE_SYSTEM, "Z3"),
                                                      (AGB_SPECIALTY_SYSTEM, "0100")]
    assert [(c["system"], c["code"]) for c in hospital] == [(ORG_TYPE_SYSTEM, "V4"),
                                                            (AGB_SPECIALTY_SYSTEM, "0600")]
    for c in gp + hospital:  # each pair is in a shared fixture
        assert (c["system"], c["code"]) in fixtures
    assert "2.16.840.1.113883.2.4.15.1060" not in str(by_kind)  # the old RoleCodeNL system


def _lab_query() -> tuple[str, list[tuple[str, str]]]:
    query = next(q for q in GEGEVENSDIENSTEN["49"].searches if q.startswith("Observation?"))
    resource_type, _, raw = query.partition("?")
    params = [tuple(p.split("=", 1)) for p in raw.split("&")]
    return resource_type, params


def test_the_49_lab_query_finds_the_gp_lab_results_of_every_patient_who_has_them(
        pop: Population, answers: list) -> None:
    """Through the DVA's own search code (simulators.dva.search), with the query list's date
    template filled in as the DVP does (render_query, on the population's date)."""
    resource_type, params = _lab_query()
    assert (("code", NHG45 + "|")) in params
    params = [(k, render_query(v, pop.as_of)) for k, v in params]
    patients = 0
    for _, _, service, resources in answers:
        if service != "49":
            continue
        labs = [r for r in resources if r["resourceType"] == "Observation"]
        if not labs:
            continue
        patients += 1
        matches, _ = search(SourceRecord.of(resources), resource_type, params)
        assert {r["id"] for r in matches} == {r["id"] for r in labs}, "every GP lab result"
        for r in matches:
            assert r["meta"]["profile"] == ["http://nictiz.nl/fhir/StructureDefinition/"
                                            "gp-LaboratoryResult"]
            loinc = [c for c in _codings(r["code"]) if c["system"] == "http://loinc.org"]
            assert loinc, "NHG Tabel 45 plus LOINC"
    assert patients > 50


def gp_lab_results(answers: list):
    """Every Observation the gegevensdienst 49 searches answered."""
    for _, _, service, resources in answers:
        if service == "49":
            yield from (r for r in resources if r["resourceType"] == "Observation")


def test_every_gp_lab_result_carries_an_nhg_tabel_45_coding(answers: list) -> None:
    """Every Observation of gegevensdienst 49 codes NHG Tabel 45 first, then LOINC: the 49 lab
    query selects on NHG Tabel 45, so a LOINC-only result would never reach a PGO. Every lab
    test of the catalogue occurs in the sample, so a test that loses its NHG code fails here."""
    by_loinc = {lab.loinc: lab for lab in LABS.values()}
    seen = set()
    for r in gp_lab_results(answers):
        systems = [c["system"] for c in _codings(r["code"])]
        assert systems == [NHG45, "http://loinc.org"], (r["id"], systems)
        seen.add(by_loinc[r["code"]["coding"][1]["code"]].key)
    assert seen == set(LABS)


# (NHG Tabel 45 code, display, unit) exactly as the public source named in catalog.py's header
# has it; the unit shows the NHG test is the one we generate (venous lab glucose, not the
# capillary 3208/382; HbA1c IFCC in mmol/mol, not DCCT %).
SOURCED_NHG = {
    "egfr": ("3583", "eGFR volgens CKD-EPI formule", "mL/min/{1.73_m2}"),
    "creatinine": ("523", "creatinine", "umol/L"),
    "potassium": ("513", "Kalium", "mmol/L"),
    "sodium": ("624", "Natrium", "mmol/L"),
    "hba1c": ("2816", "HbA1c (glycohemoglobine) IFCC", "mmol/mol"),
    "glucose": ("372", "glucose nuchter, veneus (lab)", "mmol/L"),
    "ldl": ("542", "LDL-cholesterol", "mmol/L"),
}


def test_nhg_codes_are_the_sourced_ones_and_gp_lab_results_carry_them(
        answers: list) -> None:
    """Each NHG code with its source's display and unit; a 49 lab result of that test carries
    the NHG coding first, then LOINC (the order of the NTS and zorgviewer GP examples)."""
    assert {k: (*lab.nhg, lab.unit) for k, lab in LABS.items()} == SOURCED_NHG
    by_loinc = {lab.loinc: lab for lab in LABS.values()}
    seen = set()
    for r in gp_lab_results(answers):
        codings = _codings(r["code"])
        lab = next(by_loinc[c["code"]] for c in codings
                   if c["system"] == "http://loinc.org" and c["code"] in by_loinc)
        seen.add(lab.key)
        assert (codings[0]["system"], codings[0]["code"], codings[0]["display"]) == (
            NHG45, *lab.nhg)
        assert r["valueQuantity"]["code"] == lab.unit
    assert seen == set(SOURCED_NHG)


def _fixture_profiles() -> dict[tuple[str, str], set[str]]:
    """(service, resource type) -> the meta.profile URLs the shared reference resources use."""
    out: dict[tuple[str, str], set[str]] = {}
    for service, folder, version in (("48", BGZ_REF, "STU3"), ("63", IMM_REF, "R4")):
        for path in folder.glob("*/_reference/resources/*.xml"):
            r = parse_xml(path.read_bytes(), version)
            profiles = (r.get("meta") or {}).get("profile", [])
            profiles = [profiles] if isinstance(profiles, str) else profiles
            out.setdefault((service, r["resourceType"]), set()).update(profiles)
    return out


def test_every_resource_declares_the_profile_the_fixtures_use_for_its_type(answers: list) -> None:
    """Item 7: meta.profile names a Nictiz profile, and for BgZ (48) and Vaccinaties (63) the
    same profile the Nictiz reference resources of that type declare."""
    fixtures = _fixture_profiles()
    compared = set()
    for _, _, service, resources in answers:
        for r in resources:
            profiles = r["meta"]["profile"]
            assert profiles and all(p.startswith(("http://nictiz.nl/fhir/StructureDefinition/",
                                                  "http://fhir.nl/fhir/StructureDefinition/"))
                                    for p in profiles), r
            expected = fixtures.get((service, r["resourceType"]))
            if expected:
                assert set(profiles) <= expected, (service, r["resourceType"], profiles)
                compared.add((service, r["resourceType"]))
    assert len(compared) >= 25
