"""FHIR renderings: valid against fhir.resources, profiled, searchable, self-contained,
deterministic; holders consistent everywhere; vaccinations as the programme prescribes."""

from __future__ import annotations

import importlib
import json
from datetime import date, timedelta

import pytest

from simulators.population import Population, ProviderRef
from simulators.population.vaccination import RVP_FROM_BIRTH_YEAR, participation, rvp_schedule

PROVIDERS = [
    ProviderRef("hapraktijkzuid@medmij", "gp", "Huisartsenpraktijk Zuid"),
    ProviderRef("hapraktijknoord@medmij", "gp", "Huisartsenpraktijk Noord"),
    ProviderRef("umcsandbox@medmij", "hospital", "UMC Sandbox"),
    ProviderRef("apotheeksandbox@medmij", "pharmacy", "Apotheek Sandbox"),
    ProviderRef("ggzsandbox@medmij", "ggz", "GGZ Sandbox"),
    ProviderRef("rivm@medmij", "rivm", "RIVM"),
    ProviderRef("revalidatiesandbox@medmij", "rehabilitation", "Revalidatie Sandbox"),
]
SAMPLE = range(600)


@pytest.fixture(scope="module")
def pop() -> Population:
    return Population(seed=42, size=18_000_000, providers=PROVIDERS)


@pytest.fixture(scope="module")
def rendered(pop: Population) -> list[tuple[int, str, str, list[dict]]]:
    out = []
    for i in SAMPLE:
        for name in pop.holders(i):
            for service in pop.services(i, name):
                out.append((i, name, service, pop.resources(i, name, service)))
    return out


def test_every_resource_type_parses_and_carries_a_profile(rendered: list) -> None:
    examples: dict[tuple[str, str], dict] = {}
    for _, _, service, resources in rendered:
        version = "R4B" if service == "63" else "STU3"
        for r in resources:
            assert r["meta"]["profile"] and all(
                u.startswith(("http://nictiz.nl/fhir/", "http://fhir.nl/fhir/"))
                for u in r["meta"]["profile"])
            examples.setdefault((version, r["resourceType"]), r)
    assert len(examples) >= 30
    for (version, rtype), resource in examples.items():
        module = importlib.import_module(f"fhir.resources.{version}.{rtype.lower()}")
        getattr(module, rtype).model_validate(resource)


def test_references_resolve_within_the_answer(rendered: list) -> None:
    for _, _, _, resources in rendered:
        ids = {f"{r['resourceType']}/{r['id']}" for r in resources}
        assert len(ids) == len(resources), "ids are unique within one answer"
        for target in _references(resources):
            if not target.startswith("Binary/"):
                assert target in ids, target


def _references(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and "/" in ref:
            found.append(ref)
        for value in node.values():
            found += _references(value)
    elif isinstance(node, list):
        for value in node:
            found += _references(value)
    return found


def _tokens(resources: list[dict], rtype: str, element: str) -> set[str]:
    out: set[str] = set()
    for r in resources:
        if r["resourceType"] != rtype:
            continue
        value = r.get(element)
        for cc in value if isinstance(value, list) else [value]:
            if isinstance(cc, str):
                out.add(cc)
            elif isinstance(cc, dict):
                codings = cc.get("coding", [cc])
                out |= {f"{c.get('system')}|{c.get('code')}" for c in codings}
    return out


SCT, LN = "http://snomed.info/sct", "http://loinc.org"
BGZ_HITS = [  # (resource type, element, a token one of the 28 BgZ searches matches)
    ("Observation", "code", f"{LN}|29463-7"),
    ("Observation", "code", f"{LN}|8302-2"),
    ("Observation", "code", f"{LN}|85354-9"),
    ("Observation", "category", f"{SCT}|275711006"),
    ("Observation", "code", f"{SCT}|365508006"),
    ("Observation", "code", f"{SCT}|228366006"),
    ("Observation", "code", f"{SCT}|228273003"),
    ("Observation", "code", f"{SCT}|365980008"),
    ("Observation", "category", f"{SCT}|118228005"),
    ("MedicationStatement", "category", "urn:oid:2.16.840.1.113883.2.4.3.11.60.20.77.5.3|6"),
    ("MedicationRequest", "category", f"{SCT}|16076005"),
    ("MedicationDispense", "category", f"{SCT}|422037009"),
    ("Procedure", "category", f"{SCT}|387713003"),
    ("Encounter", "class", "http://hl7.org/fhir/v3/ActCode|IMP"),
    ("Encounter", "class", "http://hl7.org/fhir/v3/ActCode|ACUTE"),
    ("Consent", "category", f"{SCT}|11291000146105"),
    ("Consent", "category", f"{SCT}|11341000146107"),
    ("Immunization", "status", "completed"),
    ("ProcedureRequest", "status", "active"),
    ("DeviceRequest", "status", "active"),
    ("Appointment", "status", "booked"),
]


@pytest.mark.parametrize(("rtype", "element", "token"), BGZ_HITS)
def test_bgz_searches_find_data(rendered: list, rtype: str, element: str, token: str) -> None:
    bgz = [r for _, _, service, resources in rendered if service == "48" for r in resources]
    assert token in _tokens(bgz, rtype, element)


def test_other_bgz_types_are_present(rendered: list) -> None:
    types = {r["resourceType"] for _, _, s, res in rendered if s == "48" for r in res}
    assert {"Patient", "Coverage", "Condition", "AllergyIntolerance", "Flag", "NutritionOrder",
            "DeviceUseStatement", "Device", "ImmunizationRecommendation", "Specimen",
            "Medication", "Practitioner", "Organization"} <= types


def test_observations_have_effective_date_time(rendered: list) -> None:
    for _, _, _, resources in rendered:
        for r in resources:
            if r["resourceType"] == "Observation":
                assert "effectiveDateTime" in r


def test_rendering_is_deterministic(pop: Population) -> None:
    twin = Population(seed=42, size=18_000_000, providers=PROVIDERS)
    for i in (0, 7, 123):
        for name in pop.holders(i):
            for service in pop.services(i, name):
                a = json.dumps(pop.resources(i, name, service), sort_keys=True)
                assert a == json.dumps(twin.resources(i, name, service), sort_keys=True)


def test_holders_services_and_resources_agree(pop: Population) -> None:
    for i in range(300):
        holders = set(pop.holders(i))
        p = pop.patient(i)
        assert p.gp in holders
        for ref in PROVIDERS:
            services = pop.services(i, ref.name)
            assert (ref.name in holders) == bool(services)
            for service in ("48", "49", "51", "63"):
                assert bool(pop.resources(i, ref.name, service)) == (service in services)


def test_find_picks_a_holder(pop: Population) -> None:
    i = pop.find("umcsandbox@medmij", service="51")
    assert "51" in pop.services(i, "umcsandbox@medmij")
    with pytest.raises(LookupError):
        pop.find("umcsandbox@medmij", service="63")


def test_documents_are_small_valid_pdfs(pop: Population) -> None:
    i = pop.find("umcsandbox@medmij", service="51")
    docs = [r for r in pop.resources(i, "umcsandbox@medmij", "51")
            if r["resourceType"] == "DocumentReference"]
    assert docs
    for doc in docs:
        attachment = doc["content"][0]["attachment"]
        binary_id = attachment["url"].split("/", 1)[1]
        content_type, data = pop.binary(i, "umcsandbox@medmij", binary_id)
        assert content_type == "application/pdf" == attachment["contentType"]
        assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
        assert len(data) == attachment["size"] < 10_000
        startxref = int(data.rsplit(b"startxref", 1)[1].split()[0])
        assert data[startxref:startxref + 4] == b"xref"
    assert pop.binary(i, "umcsandbox@medmij", "no-such-binary") is None


def test_vaccinations_follow_the_programme(pop: Population) -> None:
    complete = 0
    for i in range(1500):
        p = pop.patient(i)
        rvp, flu = pop.vaccinations(i)
        given = [d.vaccine.key for d in rvp]
        if p.birth_date.year < RVP_FROM_BIRTH_YEAR:
            assert not rvp
        due = [k for k, when in rvp_schedule(p.birth_date, p.sex) if when <= pop.as_of]
        surely_due = [k for k, when in rvp_schedule(p.birth_date, p.sex)
                      if when <= pop.as_of - timedelta(days=21)]
        assert given == due[: len(given)], "doses follow the schedule in order"
        if participation(pop.seed, i) == 1.0:
            assert len(given) >= len(surely_due)
            complete += bool(given)
        if p.sex == "male" and p.birth_date < date(2011, 1, 1):
            assert "hpv" not in given
        if p.birth_date >= date(2011, 8, 1):
            assert "dktp-hib" not in given
        assert all(d.when.year - p.birth_date.year >= 60 for d in flu)
        if rvp or flu:
            assert "rivm@medmij" in pop.holders(i)
            imms = pop.resources(i, "rivm@medmij", "63")
            assert sum(r["resourceType"] == "Immunization" for r in imms) == len(rvp) + len(flu)
    assert complete > 300
