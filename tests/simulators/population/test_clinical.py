"""The clinical record's facets stay independent: the GP's lab results draw from their own
stream (draw.LABS), so changing the lab catalogue (as issue 14 did, replacing tests without a
sourced NHG Tabel 45 code) changes lab results only, never a patient's admissions,
lifestyle or other data."""

from __future__ import annotations

from dataclasses import replace

import pytest

from simulators.population import Population, clinical


def test_lab_results_do_not_shift_the_rest_of_the_record(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pop = Population(seed=7, size=1_000_000)
    people = [pop.patient(i) for i in range(400)]
    before = [clinical.make_record(pop.seed, p, pop.as_of) for p in people]
    assert sum(bool(r.labs) for r in before) > 50  # the sample has lab patients to compare
    monkeypatch.setattr(clinical, "_labs", lambda *_args: [])  # a catalogue without labs
    after = [clinical.make_record(pop.seed, p, pop.as_of) for p in people]
    for old, new in zip(before, after, strict=True):
        assert new.labs == ()
        assert replace(new, labs=old.labs) == old
