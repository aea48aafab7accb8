"""The source system's caches on the DVA's cold path (issue 17 item 4): the record cache frees
what it drops at once, and a patient nobody shared anything for costs SQLite nothing. One test
per rule; removing the rule alone makes its test fail."""

from __future__ import annotations

import gc
import sqlite3
import weakref

import pytest

from simulators.common.clock import ManualClock
from simulators.population import Population, ProviderRef
from simulators.provider import ProviderSource, ReceivedStore
from simulators.provider.source import RecordCache
from tests.simulators.provider.test_source_system import BP, NAME, START, transaction

GP = ProviderRef("huisartsdebrug@medmij", "gp", "Huisarts De Brug")


@pytest.fixture
def no_gc():
    """Only reference counting frees objects during the test."""
    was = gc.isenabled()
    gc.disable()
    yield
    if was:
        gc.enable()


def held(population: Population, count: int) -> list[int]:
    return [i for i in range(2000) if "48" in population.services(i, GP.name)][:count]


def test_a_record_that_leaves_the_cache_is_freed_at_once(tmp_path, no_gc):
    """Rule: an evicted lazy record is released, so reference counting frees it (and all it
    rendered) without waiting for the cyclic garbage collector."""
    population = Population(7, 2000, [GP])
    source = ProviderSource(population, ReceivedStore(tmp_path / "r.sqlite", ManualClock(START)),
                            cache_size=2)
    patients = held(population, 5)
    first = source.record(patients[0], GP.name, "48")
    first.by_type.get("Condition")  # renders a section
    gone = weakref.ref(first)
    del first
    for patient in patients[1:]:
        source.record(patient, GP.name, "48").by_type.get("Patient")
    assert len(source.record) == 2
    assert gone() is None
    source.close()


def test_clearing_the_cache_frees_every_record(tmp_path, no_gc):
    """Rule: a share clears the cache (the next search must see it) and what was cached is
    freed at once, like an eviction."""
    population = Population(7, 2000, [GP])
    source = ProviderSource(population, ReceivedStore(tmp_path / "r.sqlite", ManualClock(START)))
    refs = [weakref.ref(source.record(p, GP.name, "48")) for p in held(population, 3)]
    source.record.cache_clear()
    assert len(source.record) == 0 and all(r() is None for r in refs)
    source.close()


def test_the_cache_keeps_the_most_recently_used():
    """Rule: least recently used out first; a hit is the same object and counts as a use."""
    built: list[tuple] = []

    def build(index: int, provider: str, service: str) -> object:
        built.append((index, provider, service))
        return object()

    cache = RecordCache(build, 2)  # type: ignore[arg-type]
    a = cache(1, "p", "48")
    cache(2, "p", "48")
    assert cache(1, "p", "48") is a  # 1 is now the most recent
    cache(3, "p", "48")  # drops 2
    cache(1, "p", "48")
    cache(2, "p", "48")
    assert built == [(1, "p", "48"), (2, "p", "48"), (3, "p", "48"), (2, "p", "48")]


def statements(store: ReceivedStore) -> list[str]:
    seen: list[str] = []
    store.db.set_trace_callback(seen.append)
    return seen


def test_a_patient_without_shares_costs_sqlite_nothing(tmp_path):
    """Rule: the received shares are looked up only for patients something was shared for."""
    store = ReceivedStore(tmp_path / "r.sqlite", ManualClock(START))
    seen = statements(store)
    assert store.resources(NAME, 5, "48") == [] and store.services(NAME, 5) == set()
    assert seen == []
    store.db.close()


def test_shares_are_found_after_a_share_and_after_a_restart(tmp_path):
    """Rule: ``accept`` adds its patient to the holders, and a new store (a restarted DVA)
    reads the holders from its file, so no share is hidden by the shortcut."""
    population = Population(7, 200, [ProviderRef(NAME, "hospital", "UMC Sandbox")])
    path = tmp_path / "r.sqlite"
    source = ProviderSource(population, ReceivedStore(path, ManualClock(START)))
    patient = next(i for i in range(200) if "48" in population.services(i, NAME))
    source.receive(NAME, patient, "pgo-alpha.sandbox.test", "48", ("blood-pressure",),
                   transaction(BP))
    assert len(source.received.resources(NAME, patient, "48")) == 1
    source.close()
    restarted = ReceivedStore(path, ManualClock(START))
    assert len(restarted.resources(NAME, patient, "48")) == 1
    assert restarted.services(NAME, patient) == {"48"}
    restarted.db.close()
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM received").fetchone()[0] == 1
