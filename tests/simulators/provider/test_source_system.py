"""The provider's source system on its own (issue 12 item 5): the population plus the shares
PGOs wrote, behind ``SourceSystem``; no DVA, no HTTP. One test per rule."""

from __future__ import annotations

import base64

import pytest

from simulators.common.clock import ManualClock
from simulators.medmij import LOINC
from simulators.population import Population, ProviderRef
from simulators.provider import ProviderSource, ReceivedStore, ShareRefused, SourceSystem
from simulators.provider.received import SHARED_BY

HOSPITAL = ProviderRef("umcsandbox@medmij", "hospital", "UMC Sandbox")
NAME = HOSPITAL.name
START = 1_900_000_000.0
BP = {"resourceType": "Observation", "status": "final",
      "code": {"coding": [{"system": LOINC, "code": "85354-9"}]}}


def transaction(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{n}", "resource": r,
         "request": {"method": "POST", "url": r["resourceType"]}}
        for n, r in enumerate(resources)]}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def source(tmp_path, clock):
    population = Population(7, 200, [HOSPITAL])
    s = ProviderSource(population, ReceivedStore(tmp_path / "received.sqlite", clock))
    yield s
    s.close()


@pytest.fixture
def patient(source) -> int:
    return source.population.find(NAME, 0, "48")


def test_provider_source_is_a_source_system(source):
    """The sandbox's own implementation satisfies the interface a DVA takes."""
    assert isinstance(source, ProviderSource)
    typed: SourceSystem = source  # checked by type checkers; here: the methods exist
    for name in ("index_of", "held_services", "record", "binary", "receive"):
        assert callable(getattr(typed, name))


def test_index_of_finds_the_patient_by_bsn(source, patient):
    assert source.index_of(source.population.patient(patient).bsn) == patient
    assert source.index_of("000000000") is None


def test_a_share_shows_in_the_next_record(source, patient):
    """Rule: records are cached, and a share clears the cache (the next collect sees it)."""
    before = source.record(patient, NAME, "48").by_type.get("Observation", [])
    stored = source.receive(NAME, patient, "pgo-alpha.sandbox.test", "52", ("blood-pressure",),
                            transaction(BP))
    after = source.record(patient, NAME, "48").by_type["Observation"]
    assert len(after) == len(before) + 1
    shared = after[-1]
    assert shared["id"] == stored[0].resource_id
    assert {"system": SHARED_BY, "code": "pgo-alpha.sandbox.test"} in shared["meta"]["tag"]


def test_a_share_is_about_the_providers_own_patient(source, patient):
    """Rule: the subject of shared data is the provider's Patient, not what the PGO wrote."""
    source.receive(NAME, patient, "pgo-alpha.sandbox.test", "52", ("blood-pressure",),
                   transaction(BP | {"subject": {"reference": "Patient/pgo-side"}}))
    own = source.record(patient, NAME, "48").by_type["Patient"][0]
    shared = source.record(patient, NAME, "48").by_type["Observation"][-1]
    assert shared["subject"]["reference"] == f"Patient/{own['id']}"


def test_received_data_is_stamped_with_the_injected_clock(source, patient, clock):
    """Rule: the received time is the sandbox clock's (a clock move applies), not wall time."""
    clock.advance(3600)
    source.receive(NAME, patient, "pgo-alpha.sandbox.test", "52", ("blood-pressure",),
                   transaction(BP))
    row = source.received.db.execute("SELECT received FROM received").fetchone()
    assert row["received"] == START + 3600


def test_held_services_include_what_was_received(source):
    """Rule: held services are the population's plus the received ones (availability check)."""
    stranger = next(i for i in range(200) if not source.population.services(i, NAME))
    assert source.held_services(stranger, NAME) == []
    source.received.accept(NAME, stranger, {"reference": "Patient/x"}, "pgo-alpha.sandbox.test",
                           "52", ("blood-pressure",), transaction(BP))
    assert source.held_services(stranger, NAME) == ["48"]


def test_a_kind_the_provider_does_not_accept_is_refused(source, patient):
    """Rule: only the kinds the share service accepts are stored."""
    with pytest.raises(ShareRefused) as refused:
        source.receive(NAME, patient, "pgo-alpha.sandbox.test", "53", ("document",),
                       transaction(BP))
    assert refused.value.status == 422
    assert source.received.db.execute("SELECT COUNT(*) FROM received").fetchone()[0] == 0


def test_binary_is_a_fhir_binary_of_the_populations_pdf(source):
    """A document's PDF from the population, as a FHIR Binary resource."""
    index = source.population.find(NAME, 0, "51")
    docs = source.record(index, NAME, "51").by_type.get("DocumentReference", [])
    url = docs[0]["content"][0]["attachment"]["url"]
    binary = source.binary(index, NAME, url.rsplit("/", 1)[-1])
    assert binary["resourceType"] == "Binary" and binary["contentType"] == "application/pdf"
    assert base64.b64decode(binary["content"]).startswith(b"%PDF")
