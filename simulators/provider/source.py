"""A provider's source system behind one small interface, so a DVA serves any of them.

A DVA (``simulators.dva``) asks a source system five things: who a BSN is (``index_of``),
which collect gegevensdiensten hold data for that patient (the availability check), the
patient's record for one gegevensdienst (searches and reads), a document's PDF (``binary``)
and, for Delen, to take in what a PGO shares (``receive``). ``ProviderSource`` is the
sandbox's own: the synthetic population (with any Nictiz reference folders added to it) plus
the shares received so far. A test or an outside system hands the DVA another one.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from simulators.common.clock import Clock, SandboxClock
from simulators.common.config import SandboxConfig
from simulators.common.people import population_for
from simulators.population import Population
from simulators.population.view import RecordView
from simulators.provider.received import ReceivedStore, Stored
from simulators.provider.record import SourceRecord

RECORD_CACHE_SIZE = 4096  # (patient, provider, gegevensdienst) records kept indexed
RecordKey = tuple[int, str, str]  # (patient index, provider, gegevensdienst)


class SourceSystem(Protocol):
    """What a DVA needs of the source systems of the providers it serves. Providers are named
    by their MedMij name (``umcsandbox@medmij``), patients by an index the source system
    chooses (``index_of``) and the DVA keeps in its grants."""

    def index_of(self, bsn: str) -> int | None:
        """The patient with this BSN, or None when no provider here knows them."""
        ...

    def held_services(self, index: int, provider: str) -> list[str]:
        """The gegevensdiensten with data for this patient at this provider, sorted."""
        ...

    def record(self, index: int, provider: str, service: str) -> SourceRecord:
        """The patient's resources at this provider for one gegevensdienst."""
        ...

    def binary(self, index: int, provider: str, binary_id: str) -> dict | None:
        """A document's content as a FHIR Binary resource, when the record does not hold it."""
        ...

    def receive(self, provider: str, index: int, client_id: str, share_service: str,
                accepts: tuple[str, ...], bundle: object) -> list[Stored]:
        """Take in a PGO's transaction Bundle (Delen), or raise ``ShareRefused``."""
        ...


def release(record: SourceRecord | RecordView) -> None:
    """Let reference counting free a record that left the cache.

    ``Population.record_view``'s lazy record points back at itself through its ``by_type`` and
    ``by_ref`` views, a reference cycle: a dropped one (and every resource it rendered) waited
    for Python's cyclic garbage collector, and under a cold load (a new patient per search)
    those collections ran every few hundred searches over every live record and token and
    cost more than the searches (issue 17 item 4, docs/benchmarks-load.md). Only called when
    nothing uses the record any more: a search or read holds it within one synchronous step."""
    if isinstance(record, RecordView):
        record.by_type = record.by_ref = None  # type: ignore[assignment]


class RecordCache:
    """The last ``size`` records asked for, least recently used out first; what leaves is
    ``release``d. Called like the function it caches (``record(index, provider, service)``)."""

    def __init__(self, build: Callable[[int, str, str], SourceRecord | RecordView],
                 size: int) -> None:
        self.build = build
        self.size = size
        self.records: OrderedDict[RecordKey, SourceRecord | RecordView] = OrderedDict()

    def __call__(self, index: int, provider: str, service: str) -> SourceRecord | RecordView:
        key = (index, provider, service)
        record = self.records.get(key)
        if record is not None:
            self.records.move_to_end(key)
            return record
        record = self.records[key] = self.build(index, provider, service)
        if len(self.records) > self.size:
            release(self.records.popitem(last=False)[1])
        return record

    def __len__(self) -> int:
        return len(self.records)

    def cache_clear(self) -> None:
        for record in self.records.values():
            release(record)
        self.records.clear()


class ProviderSource:
    """The sandbox's source systems: the population plus what PGOs shared (Delen).

    Records are indexed once and cached; a share clears the cache, as the next search must see
    it."""

    def __init__(self, population: Population, received: ReceivedStore,
                 cache_size: int = RECORD_CACHE_SIZE) -> None:
        self.population = population
        self.received = received
        self.record = RecordCache(self._record, cache_size)

    def index_of(self, bsn: str) -> int | None:
        return self.population.index_of(bsn)

    def held_services(self, index: int, provider: str) -> list[str]:
        held = set(self.population.services(index, provider))
        held |= self.received.services(provider, index)
        return sorted(held)

    def _record(self, index: int, provider: str, service: str) -> SourceRecord:
        """Rendered per resource type on first ask (issue 17): a cold ``Condition`` search
        builds the Conditions, not the whole record."""
        return self.population.record_view(index, provider, service,
                                           self.received.resources(provider, index, service))

    def binary(self, index: int, provider: str, binary_id: str) -> dict | None:
        found = self.population.binary(index, provider, binary_id)
        if found is None:
            return None
        content_type, data = found
        return {"resourceType": "Binary", "id": binary_id, "contentType": content_type,
                "content": base64.b64encode(data).decode()}

    def patient_reference(self, index: int, provider: str) -> dict:
        """How the provider's own record names this patient: the subject of shared data."""
        for service in self.held_services(index, provider):
            reference = self.record(index, provider, service).patient_reference()
            if reference is not None:
                return reference
        raise LookupError(f"{provider} has no Patient for index {index}")

    def receive(self, provider: str, index: int, client_id: str, share_service: str,
                accepts: tuple[str, ...], bundle: object) -> list[Stored]:
        stored = self.received.accept(provider, index, self.patient_reference(index, provider),
                                      client_id, share_service, accepts, bundle)
        self.record.cache_clear()
        return stored

    def close(self) -> None:
        self.received.db.close()


def source_for(config: SandboxConfig, node_id: str, clock: Clock | None = None) -> ProviderSource:
    """The production source system of one DVA node: the sandbox's population (with the
    topology's reference folders) and the node's ``received.sqlite``."""
    received = ReceivedStore(config.node_dir(node_id) / "received.sqlite",
                             clock or SandboxClock(config.state_dir))
    return ProviderSource(population_for(config), received)
