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


def test_vaccines_per_fhir_version_as_the_fixtures(answers: list) -> None:
    r4_systems: set[str] = set()
    for _, _, service, resources in answers:
        for r in resources:
            if r["resourceType"] != "Immunization":
                continue
            systems = [c["system"] for c in _codings(r["vaccineCode"])]
            if service == "63":  # R4: the SNOMED product first where sourced, then ATC
                assert systems[-1] == ATC_SYSTEM and systems in ([ATC_SYSTEM],
                                                                 [SNOMED, ATC_SYSTEM]), systems
                r4_systems |= set(systems)
            else:  # STU3 BgZ: ATC, as medmij-bgz-vaccination-ts-01
                assert systems == [ATC_SYSTEM], systems
    assert SNOMED in r4_systems
    fixtures = _fixture_codings(IMM_REF, "R4")
    for v in VACCINES.values():  # the SNOMED codes the shared R4 fixtures carry are theirs
        if v.key in ("pneu", "hpv"):
            assert (SNOMED, v.snomed) in fixtures, v
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
        nhg = [r for r in labs if any(c["system"] == NHG45 for c in _codings(r["code"]))]
        assert matches, "a patient with GP lab results gets some back"
        assert {r["id"] for r in matches} == {r["id"] for r in nhg}
        for r in matches:
            assert r["meta"]["profile"] == ["http://nictiz.nl/fhir/StructureDefinition/"
                                            "gp-LaboratoryResult"]
            loinc = [c for c in _codings(r["code"]) if c["system"] == "http://loinc.org"]
            assert loinc, "NHG Tabel 45 plus LOINC"
    assert patients > 50


def test_every_lab_with_a_sourced_nhg_code_is_in_a_pathway_of_every_lab_patient() -> None:
    """The tests without a sourced NHG code (LOINC only) never stand alone: every condition
    with lab follow-up includes an NHG-coded test, so no GP lab patient is missed."""
    from simulators.population.catalog import CONDITIONS
    for c in CONDITIONS:
        if c.labs:
            assert any(LABS[key].nhg for key in c.labs), c.key
    assert {k for k, lab in LABS.items() if lab.nhg} == {
        "egfr", "creatinine", "potassium", "hba1c", "glucose", "ldl"}


# (NHG Tabel 45 code, display, unit) exactly as the public source named in catalog.py's header
# has it; the unit shows the NHG test is the one we generate (venous lab glucose, not the
# capillary 3208/382; HbA1c IFCC in mmol/mol, not DCCT %).
SOURCED_NHG = {
    "egfr": ("3583", "eGFR volgens CKD-EPI formule", "mL/min/{1.73_m2}"),
    "creatinine": ("523", "creatinine", "umol/L"),
    "potassium": ("513", "Kalium", "mmol/L"),
    "hba1c": ("2816", "HbA1c (glycohemoglobine) IFCC", "mmol/mol"),
    "glucose": ("372", "glucose nuchter, veneus (lab)", "mmol/L"),
    "ldl": ("542", "LDL-cholesterol", "mmol/L"),
}


def test_nhg_codes_are_the_sourced_ones_and_gp_lab_results_carry_them(
        answers: list) -> None:
    """Each NHG code with its source's display and unit; a 49 lab result of that test carries
    the NHG coding first, then LOINC (the order of the NTS and zorgviewer GP examples)."""
    assert {k: (*lab.nhg, lab.unit) for k, lab in LABS.items() if lab.nhg} == SOURCED_NHG
    by_loinc = {lab.loinc: lab for lab in LABS.values()}
    seen = set()
    for _, _, service, resources in answers:
        if service != "49":
            continue
        for r in resources:
            if r["resourceType"] != "Observation":
                continue
            codings = _codings(r["code"])
            lab = next((by_loinc[c["code"]] for c in codings
                        if c["system"] == "http://loinc.org" and c["code"] in by_loinc), None)
            if lab is None or lab.nhg is None:
                continue
            seen.add(lab.key)
            assert (codings[0]["system"], codings[0]["code"], codings[0]["display"]) == (
                NHG45, *lab.nhg)
            assert r["valueQuantity"]["code"] == lab.unit
    assert {"hba1c", "glucose", "ldl"} <= seen


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
