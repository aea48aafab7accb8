"""Nictiz reference test patients, loaded at run time as extra patients of a provider."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from simulators.population import Population, ProviderRef, reference
from simulators.population import bsn as codec
from tests.conftest import MEDMIJ

TESTSCRIPTS = MEDMIJ / "testscripts"
BGZ_TEST = TESTSCRIPTS / "STU3" / "BgZ-3-0" / "MedMij" / "Test" / "_reference"

pytestmark = pytest.mark.skipif(not BGZ_TEST.is_dir(), reason="Nictiz testscripts not present")


def test_reference_patients_become_extra_patients_of_the_provider() -> None:
    umc = ProviderRef("umcsandbox@medmij", "hospital", "UMC Sandbox")
    pop = Population(seed=1, size=1000, providers=[umc])
    added = pop.add_reference(umc.name, BGZ_TEST)
    assert added == [1000, 1001] and pop.extra_count == 2
    for index in added:
        patient = pop.patient(index)
        assert codec.is_valid(patient.bsn) and pop.index_of(patient.bsn) == index
        assert pop.holders(index) == [umc.name] and pop.services(index, umc.name) == ["48"]
    resources = pop.resources(added[0], umc.name, "48")
    types = {r["resourceType"] for r in resources}
    assert {"Patient", "Observation", "MedicationRequest", "Encounter", "Medication"} <= types
    assert all("${" not in str(r) for r in resources), "date placeholders are resolved"
    assert pop.find(umc.name, start=1000) == 1000


BGZ_CERT = TESTSCRIPTS / "STU3" / "BgZ-3-0" / "MedMij" / "Cert" / "_reference"
IMM_TEST = TESTSCRIPTS / "R4" / "Immunization-2-0" / "MedMij" / "Test" / "_reference"
AS_OF = date(2025, 1, 1)


def _patients_named(resource: dict) -> set[str]:
    """Every Patient a resource points at, anywhere in it."""
    return {t.split("/", 1)[1] for t in reference._all_targets(resource)
            if t.startswith("Patient/")}


def test_patient_b_does_not_get_patient_a_appointment() -> None:
    """Issue 11 item 16: A's Appointment names A only as participant.actor (not subject or
    patient); by the Patient compartment it is A's, and B never sees it."""
    by_id = {rp.patient["id"]: rp for rp in reference.load(BGZ_TEST, AS_OF)}
    a, b = by_id["medmij-bgz-test-patA"], by_id["medmij-bgz-test-patB"]
    assert any(r["resourceType"] == "Appointment" for r in a.resources)
    assert not any(r["resourceType"] == "Appointment" for r in b.resources)
    for rp, other in ((a, b), (b, a)):
        for r in rp.resources:
            assert other.patient["id"] not in _patients_named(r) | {r["id"]}, r["id"]
        own = {r["id"] for r in rp.resources}
        # A's own lab Specimen (subject is a contained Device) reaches A through A's Observation
        assert ("-LaboratoryTestResult-Specimen-medmij-bgz-test-patA-labresult2-1" in own) \
            == (rp is a)


@pytest.mark.parametrize("folder", [BGZ_TEST, BGZ_CERT, IMM_TEST],
                         ids=lambda p: f"{p.parts[-4]}-{p.parts[-2]}")
def test_every_resource_is_served_and_references_resolve(folder: Path) -> None:
    """Nothing of the folder is lost, and what a patient's answer references is in it."""
    everything = {f"{r['resourceType']}/{r['id']}" for _, r in reference.read_folder(folder, AS_OF)}
    served: set[str] = set()
    for rp in reference.load(folder, AS_OF):
        ids = {f"{r['resourceType']}/{r['id']}" for r in rp.resources}
        served |= ids
        targets = {t for r in rp.resources for t in reference._all_targets(r)}
        assert not (targets & everything) - ids, rp.patient["id"]
    assert served == everything


def test_patient_without_other_resources_is_kept_and_found() -> None:
    """Issue 11 item 16: XXX_Mesker (Cert set) has no resources of her own; she is a test
    patient all the same, also when the folder holds another patient."""
    loaded = reference.load(BGZ_CERT, AS_OF)
    assert len(loaded) == 2
    mesker = next(rp for rp in loaded if "Mesker" in str(rp.patient.get("name")))
    assert [r["resourceType"] for r in mesker.resources] == ["Patient"]
    umc = ProviderRef("umcsandbox@medmij", "hospital", "UMC Sandbox")
    pop = Population(seed=1, size=1000, providers=[umc])
    added = pop.add_reference(umc.name, BGZ_CERT)
    families = {pop.patient(i).family: i for i in added}
    assert set(families) >= {"XXX_Mesker"}
    index = families["XXX_Mesker"]
    assert pop.index_of(pop.patient(index).bsn) == index
    assert pop.find(umc.name, start=index) == index
    assert [r["resourceType"] for r in pop.resources(index, umc.name, "48")] == ["Patient"]


def _res(rtype: str, rid: str, **fields) -> dict:
    return {"resourceType": rtype, "id": rid, **fields}


def _ref(target: str) -> dict:
    return {"reference": target}


@pytest.mark.parametrize("version", ["STU3", "R4"])
def test_compartment_decides_ownership(version: str) -> None:
    """The compartment's params, not three hand-picked fields: an Observation performed by B
    about A is in both compartments, one with B only as ``focus`` is A's alone; a Device
    naming A (a type never in a compartment) stays with A; a Practitioner referenced by A only
    goes to A; unreferenced master data to all."""
    resources = [
        _res("Patient", "a"), _res("Patient", "b"),
        _res("Appointment", "appt", participant=[{"actor": _ref("Patient/a")},
                                                  {"actor": _ref("Practitioner/p1")}]),
        _res("Observation", "obs", subject=_ref("Patient/a"), performer=[_ref("Patient/b")]),
        # focus is no compartment param: the observation about A's fetus stays A's alone
        _res("Observation", "focus", subject=_ref("Patient/a"), focus=[_ref("Patient/b")]),
        _res("Condition", "cond", subject=_ref("Patient/b"), asserter=_ref("Practitioner/p2")),
        _res("Device", "dev", patient=_ref("Patient/a")),
        _res("Practitioner", "p1"), _res("Practitioner", "p2"), _res("Organization", "org"),
    ]
    owned = {pid: {r["id"] for r in rs} for pid, rs in reference.assign(resources,
                                                                        version).items()}
    assert owned == {"a": {"a", "appt", "obs", "focus", "dev", "p1", "org"},
                     "b": {"b", "obs", "cond", "p2", "org"}}
