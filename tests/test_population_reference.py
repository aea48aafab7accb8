"""Nictiz reference test patients, loaded at run time as extra patients of a provider."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.population import Population, ProviderRef
from simulators.population import bsn as codec

TESTSCRIPTS = Path(__file__).resolve().parents[2] / "shared" / "medmij" / "testscripts"
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
