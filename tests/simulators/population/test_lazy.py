"""The lazy record (issue 17 item 4): ``Population.record_view`` answers a DVA search with
exactly the resources the whole record holds, but renders only what the asked type needs."""

from __future__ import annotations

import pytest

from simulators.population import Population, ProviderRef, fhir_bgz, fhir_gp
from simulators.provider.record import SourceRecord
from tests.conftest import MEDMIJ

PROVIDERS = [
    ProviderRef("hapraktijkzuid@medmij", "gp", "Huisartsenpraktijk Zuid"),
    ProviderRef("hapraktijknoord@medmij", "gp", "Huisartsenpraktijk Noord"),
    ProviderRef("umcsandbox@medmij", "hospital", "UMC Sandbox"),
    ProviderRef("apotheeksandbox@medmij", "pharmacy", "Apotheek Sandbox"),
    ProviderRef("ggzsandbox@medmij", "ggz", "GGZ Sandbox"),
    ProviderRef("rivm@medmij", "rivm", "RIVM"),
    ProviderRef("revalidatiesandbox@medmij", "rehabilitation", "Revalidatie Sandbox"),
]
TYPES_NEVER_THERE = ("Binary", "Questionnaire")
TESTSCRIPTS = MEDMIJ / "testscripts"
BGZ_TEST = TESTSCRIPTS / "STU3" / "BgZ-3-0" / "MedMij" / "Test" / "_reference"


def _held(pop: Population, indices: range):
    for i in indices:
        for provider in pop.holders(i):
            for service in pop.services(i, provider):
                yield i, provider, service


def test_lazy_view_equals_the_whole_record_per_type_and_per_reference() -> None:
    whole_pop = Population(seed=7, size=1_000_000, providers=PROVIDERS)
    seen: set[tuple[str, str]] = set()
    for i, provider, service in _held(whole_pop, range(800)):
        whole = whole_pop.resources(i, provider, service)
        expected = SourceRecord.of(whole)
        # A fresh population per record: nothing the whole path rendered is reused.
        view = Population(seed=7, size=1_000_000, providers=PROVIDERS).record_view(
            i, provider, service)
        for rtype in [*expected.by_type, *TYPES_NEVER_THERE]:
            assert view.by_type.get(rtype, []) == expected.by_type.get(rtype, []), (
                i, provider, service, rtype)
            seen.add((service, rtype))
        for key, resource in expected.by_ref.items():
            assert view.by_ref.get(key) == resource
        assert view.by_ref.get("Patient/nobody") is None
        assert view.patient_reference() == expected.patient_reference()
        assert dict(view.by_type) == expected.by_type  # iterating renders everything
    # the sample covers every gegevensdienst and the main BgZ types
    assert {s for s, _ in seen} == {"48", "49", "51", "63"}
    assert {("48", t) for t in ("Condition", "MedicationRequest", "Observation", "Encounter",
                                "Procedure", "MedicationDispense", "Immunization")} <= seen


def test_a_held_nothing_view_is_empty_and_extra_resources_follow() -> None:
    pop = Population(seed=7, size=10_000, providers=PROVIDERS)
    i, provider, service = next(_held(pop, range(50)))
    shared = [{"resourceType": "Observation", "id": "shared-1"},
              {"resourceType": "Patient", "id": "dup"}]
    expected = SourceRecord.of([*pop.resources(i, provider, service), *shared])
    view = Population(seed=7, size=10_000, providers=PROVIDERS).record_view(
        i, provider, service, shared)
    for rtype in expected.by_type:
        assert view.by_type.get(rtype, []) == expected.by_type[rtype]
    assert view.by_ref.get("Observation/shared-1") == shared[0]
    nothing = pop.record_view(i, provider, "63" if service != "63" else "49", shared[:1])
    assert nothing.by_type.get("Patient", []) == [] and nothing.by_type["Observation"]


def test_a_condition_search_renders_no_observations_and_draws_no_vaccinations(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Laziness itself: a GP BgZ Condition search must not render labs or vital signs, nor
    draw the vaccination programme (it would, were the view rendered whole)."""
    def boom(*_args, **_kwargs):
        raise AssertionError("rendered a section the search does not need")

    monkeypatch.setattr(fhir_bgz, "lab", boom)
    monkeypatch.setattr(fhir_bgz, "vital", boom)
    monkeypatch.setattr(fhir_gp, "journal", boom)
    monkeypatch.setattr(Population, "_make_vaccinations", boom)
    pop = Population(seed=7, size=100_000, providers=PROVIDERS)
    gp = PROVIDERS[0].name
    checked = 0
    for i in range(400):
        if "48" in pop.services(i, gp):
            view = pop.record_view(i, gp, "48")
            conditions = view.by_type.get("Condition", [])
            assert all(c["resourceType"] == "Condition" for c in conditions)
            requests = view.by_type.get("MedicationRequest", [])
            assert all(r["resourceType"] == "MedicationRequest" for r in requests)
            checked += bool(conditions)
    assert checked > 10
    with pytest.raises(AssertionError, match="rendered a section"):
        pop.resources(next(i for i in range(400) if "48" in pop.services(i, gp)
                           and pop.record(i).measurements), gp, "48")


@pytest.mark.skipif(not BGZ_TEST.is_dir(), reason="Nictiz testscripts not present")
def test_reference_patients_view_equals_their_resources() -> None:
    umc = ProviderRef("umcsandbox@medmij", "hospital", "UMC Sandbox")
    pop = Population(seed=1, size=1000, providers=[umc])
    index = pop.add_reference(umc.name, BGZ_TEST)[0]
    expected = SourceRecord.of(pop.resources(index, umc.name, "48"))
    view = pop.record_view(index, umc.name, "48")
    assert dict(view.by_type) == expected.by_type


def test_a_composition_search_renders_no_encounters(monkeypatch: pytest.MonkeyPatch) -> None:
    """49 journals are their own section in the lazy view (the whole record interleaves them
    with their Encounters): a Composition search renders no Encounter."""
    pop = Population(seed=7, size=100_000, providers=PROVIDERS)
    gp = PROVIDERS[0].name
    index = next(i for i in range(400) if "49" in pop.services(i, gp) and pop.record(i).contacts)
    expected = [r for r in pop.resources(index, gp, "49") if r["resourceType"] == "Composition"]

    def boom(*_args, **_kwargs):
        raise AssertionError("rendered an Encounter")

    monkeypatch.setattr(fhir_gp, "encounter", boom)
    assert pop.record_view(index, gp, "49").by_type.get("Composition") == expected


def test_holds_is_the_services_rule() -> None:
    """``holds`` skips the draws a GP's 48 and 49 do not need: same answer as ``services``."""
    pop = Population(seed=7, size=1_000_000, providers=PROVIDERS)
    asked = 0
    for i in range(1500):
        for ref_ in PROVIDERS:
            for service in ("48", "49", "51", "63", "99"):
                asked += pop.holds(i, ref_.name, service)
                assert pop.holds(i, ref_.name, service) == (
                    service in pop.services(i, ref_.name)), (i, ref_.name, service)
    assert asked > 1500
