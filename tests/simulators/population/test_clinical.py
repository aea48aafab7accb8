"""The clinical record's parts stay independent and are drawn only when read (issue 17 item 4):
each part has its own stream (``draw``), so changing the lab catalogue (as issue 14 did,
replacing tests without a sourced NHG Tabel 45 code) changes lab results only, the order in
which a DVA's searches read the parts changes nothing, and a ``Condition`` search draws the
diagnoses alone."""

from __future__ import annotations

import itertools

import pytest

from simulators.population import Population, ProviderRef, clinical
from simulators.population.clinical import _PARTS

GP = ProviderRef("hapraktijkzuid@medmij", "gp", "Huisartsenpraktijk Zuid")
HOSPITAL = ProviderRef("umcsandbox@medmij", "hospital", "UMC Sandbox")


def test_lab_results_do_not_shift_the_rest_of_the_record(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pop = Population(seed=7, size=1_000_000)
    people = [pop.patient(i) for i in range(400)]
    before = [clinical.make_record(pop.seed, p, pop.as_of).fields() for p in people]
    assert sum(bool(r["labs"]) for r in before) > 50  # the sample has lab patients to compare
    monkeypatch.setattr(clinical, "_labs", lambda *_args: [])  # a catalogue without labs
    after = [clinical.make_record(pop.seed, p, pop.as_of).fields() for p in people]
    for old, new in zip(before, after, strict=True):
        assert new["labs"] == ()
        assert {**new, "labs": old["labs"]} == old


def test_the_parts_are_the_same_whatever_is_read_first() -> None:
    """Every part from a stream of its own: reading them in another order (another search
    first) gives the same record. Fails when two parts share a stream."""
    pop = Population(seed=7, size=1_000_000)
    people = [pop.patient(i) for i in range(300)]
    orders = [_PARTS, _PARTS[::-1], tuple(sorted(_PARTS)), *itertools.islice(
        itertools.permutations(("allergies", "measurements", "admissions", "labs",
                                "smoking", "medications", "planned")), 0, 5000, 997)]
    for p in people:
        expected = clinical.make_record(pop.seed, p, pop.as_of).fields()
        for order in orders:
            record = clinical.make_record(pop.seed, p, pop.as_of)
            for name in order:
                getattr(record, name)
            assert record.fields() == expected, (p.index, order)


def test_a_part_is_drawn_when_first_read_and_kept() -> None:
    pop = Population(seed=7, size=1_000_000)
    p = next(pop.patient(i) for i in range(200) if pop.patient(i).age >= 50)
    record = clinical.make_record(pop.seed, p, pop.as_of)
    assert record.drawn() == frozenset()
    medications = record.medications
    assert record.drawn() == {"medications", "allergies"}  # drawn together, one stream
    assert record.medications is medications  # kept, not drawn again
    record.contacts  # noqa: B018  (reading it draws it)
    assert {"contacts", "measurements", "smoking", "hearing_aid"} <= record.drawn()
    assert "labs" not in record.drawn() and "admissions" not in record.drawn()
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        record.nonsense  # noqa: B018


def test_a_condition_search_at_a_gp_draws_the_diagnoses_only() -> None:
    """A DVA's first Condition search of a patient at their GP: demographics and diagnoses,
    nothing else of the record; not even the admissions, though a GP holds 51 for admitted
    patients (holding 48 does not depend on them)."""
    pop = Population(seed=7, size=1_000_000, providers=[GP, HOSPITAL])
    admitted = [i for i in range(3000)
                if pop.patient(i).gp == GP.name and clinical.has_hospital_history(
                    pop.seed, i, pop.patient(i).age)]
    assert len(admitted) >= 5
    for i in admitted[:20]:
        view = pop.record_view(i, GP.name, "48")
        conditions = view.by_type.get("Condition", [])
        assert len(conditions) == len(pop.record(i).diagnoses)
        assert pop.record(i).drawn() == frozenset(), i
        assert "51" in pop.services(i, GP.name)  # the admissions, asked for now
        assert pop.record(i).drawn() == {"admissions", "planned"}
