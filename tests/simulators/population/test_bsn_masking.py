"""Issue 11 item 4a: the BSN never reaches a PGO. Every Patient a DVA serves (STU3 and R4,
generated or Nictiz reference) carries the BSN identifier masked exactly as the Nictiz
reference patients do; the person's nine digits appear nowhere in what is served."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from simulators.medmij import BSN_SYSTEM
from simulators.population import Population, ProviderRef, reference
from simulators.population import bsn as codec
from simulators.population.fhir_common import masked_bsn
from tests.conftest import MEDMIJ

TESTSCRIPTS = MEDMIJ / "testscripts"
BGZ_TEST = TESTSCRIPTS / "STU3" / "BgZ-3-0" / "MedMij" / "Test" / "_reference"
IMM_TEST = TESTSCRIPTS / "R4" / "Immunization-2-0" / "MedMij" / "Test" / "_reference"
PROVIDERS = [
    ProviderRef("hapraktijkzuid@medmij", "gp", "Huisartsenpraktijk Zuid"),
    ProviderRef("umcsandbox@medmij", "hospital", "UMC Sandbox"),
    ProviderRef("apotheeksandbox@medmij", "pharmacy", "Apotheek Sandbox"),
    ProviderRef("ggzsandbox@medmij", "ggz", "GGZ Sandbox"),
    ProviderRef("rivm@medmij", "rivm", "RIVM"),
]
needs_testscripts = pytest.mark.skipif(not BGZ_TEST.is_dir(), reason="no Nictiz testscripts")


def _served(pop: Population, index: int) -> list[tuple[str, list[dict]]]:
    return [(service, pop.resources(index, name, service))
            for name in pop.holders(index) for service in pop.services(index, name)]


def test_generated_patients_carry_no_bsn_stu3_and_r4() -> None:
    pop = Population(seed=7, size=100_000, providers=PROVIDERS)
    seen: set[str] = set()
    for index in range(150):
        bsn = pop.patient(index).bsn
        for service, resources in _served(pop, index):
            seen.add(service)
            assert bsn not in json.dumps(resources), (index, service)
            patients = [r for r in resources if r["resourceType"] == "Patient"]
            assert patients and all(p["identifier"] == [masked_bsn()] for p in patients)
    assert {"48", "63"} <= seen, "both STU3 (BgZ) and R4 (Vaccinaties) Patients were checked"


@needs_testscripts
@pytest.mark.parametrize("folder", [BGZ_TEST, IMM_TEST], ids=["STU3", "R4"])
def test_mask_has_the_shape_of_the_nictiz_reference_patient(folder: Path) -> None:
    """Copied, not invented: the identifier equals the Nictiz reference patient's own."""
    raw = [r for _, r in reference.read_folder(folder, date(2025, 1, 1))
           if r["resourceType"] == "Patient"]
    bsn_ids = [i for p in raw for i in p["identifier"] if i.get("system") == BSN_SYSTEM]
    assert bsn_ids and all(i == masked_bsn() for i in bsn_ids)


def _clear_bsn_folder(tmp_path: Path, bsn: str) -> Path:
    """A folder of the kind ``up --reference`` accepts, whose Patient carries a clear BSN."""
    folder = tmp_path / "own"
    folder.mkdir()
    patient = {"resourceType": "Patient", "id": "own-1", "meta": {"profile": [
        "http://fhir.nl/fhir/StructureDefinition/nl-core-patient"]},
        "identifier": [{"system": BSN_SYSTEM, "value": bsn},
                       {"system": "urn:oid:2.16.840.1.113883.2.4.3.11.999.7", "value": "own-1"}],
        "name": [{"family": "XXX_Eigen", "given": ["Test"]}], "birthDate": "1980-02-03"}
    flag = {"resourceType": "Flag", "id": "flag-1", "status": "active",
            "code": {"text": "Let op"}, "subject": {"reference": "Patient/own-1"}}
    (folder / "patient.json").write_text(json.dumps(patient))
    (folder / "flag.json").write_text(json.dumps(flag))
    return folder


@needs_testscripts
def test_reference_patients_are_served_masked(tmp_path: Path) -> None:
    """Nictiz folders and a folder with a clear BSN alike: DigiD knows the BSN (the person can
    log in with it), the served JSON does not contain it."""
    umc = ProviderRef("umcsandbox@medmij", "hospital", "UMC Sandbox")
    rivm = ProviderRef("rivm@medmij", "rivm", "RIVM")
    pop = Population(seed=3, size=1000, providers=[umc, rivm])
    clear = codec.bsn_of(99, 12345)
    added = pop.add_reference(umc.name, BGZ_TEST) + pop.add_reference(rivm.name, IMM_TEST)
    own = pop.add_reference(umc.name, _clear_bsn_folder(tmp_path, clear))
    assert pop.patient(own[0]).bsn == clear and pop.index_of(clear) == own[0]
    for index in added + own:
        bsn = pop.patient(index).bsn
        for service, resources in _served(pop, index):
            text = json.dumps(resources)
            assert bsn not in text and clear not in text, (index, service)
            patient = next(r for r in resources if r["resourceType"] == "Patient")
            assert [i for i in patient["identifier"] if i["system"] == BSN_SYSTEM] \
                == [masked_bsn()]
