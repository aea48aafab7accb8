"""The population: patient *i* of a seed, rendered on demand, stored nowhere (issue 3).

    pop = Population(seed=1, size=18_000_000, providers=[ProviderRef("umcsandbox@medmij",
                     "hospital", "UMC Sandbox")])
    pop.resources(pop.find("umcsandbox@medmij"), "umcsandbox@medmij", "48")
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from functools import lru_cache
from pathlib import Path

from simulators.population import bgz_view, draw, fhir_documents, fhir_gp, fhir_r4, reference
from simulators.population import bsn as bsn_codec
from simulators.population.bgz_view import Section
from simulators.population.clinical import ClinicalRecord, make_record
from simulators.population.demographics import Patient, make_patient
from simulators.population.fhir_common import (
    Context,
    Resource,
    coverage,
    insurer_organization,
    make_context,
    organization,
    patient_resource,
    practitioner,
    ref,
    slug,
)
from simulators.population.holders import Placement, ProviderRef, possible_services
from simulators.population.vaccination import Dose, doses, flu_doses
from simulators.population.view import RecordView

AS_OF = date(2025, 1, 1)  # the population's "today": fixed, so every render is repeatable
FIND_SCAN_LIMIT = 200_000
_CACHE = 2048
_BASE = frozenset({"Patient", "Organization", "Practitioner", "Coverage"})
_PATIENT = frozenset({"Patient"})
_ORGANIZATION = frozenset({"Organization"})
_IMMUNIZATION = frozenset({"Immunization"})
_DOCUMENTS = frozenset({"DocumentReference"})


class Population:
    """A deterministic Dutch population of ``size`` people for the given providers.

    ``cache``: how many people's demographics, records and vaccinations are kept (and four
    times as many holder contexts and service lists). A DVA asks about the same person many
    times; an export visits each person once and does better with a few (what it made stays
    in the CPU's cache while it is still used, and is freed before it goes cold there)."""

    def __init__(self, seed: int, size: int, providers: Sequence[ProviderRef] = (), *,
                 as_of: date = AS_OF, cache: int = _CACHE) -> None:
        if not 0 < size <= bsn_codec.DOMAIN:
            raise ValueError(f"size must be between 1 and {bsn_codec.DOMAIN:,}")
        self.seed = seed
        self.size = size
        self.as_of = as_of
        self.placement = Placement(providers)
        self.providers = self.placement.providers
        self._gps = self.placement.gps()
        # Small per-instance caches: a DVA answers ~28 searches per collect for one person.
        self._patient = lru_cache(maxsize=cache)(self._make_patient)
        self._record = lru_cache(maxsize=cache)(self._make_record)
        self._vaccinations = lru_cache(maxsize=cache)(self._make_vaccinations)
        self._held = lru_cache(maxsize=4 * cache)(self._make_services)
        self._ctx = lru_cache(maxsize=4 * cache)(self._make_ctx)
        # A GP's 48, 49 and 51 (a hospital's 48 and 51) start with the same resources: built
        # once, whether an export renders them one after the other or a DVA one by one.
        self._base_parts = lru_cache(maxsize=64)(self._make_base_parts)
        self._extras: list[tuple[str, Patient, reference.ReferencePatient]] = []
        self._extra_bsn: dict[str, int] = {}

    # -- official test data ---------------------------------------------------------------
    def add_reference(self, provider: str, folder: str | Path,
                      gegevensdienst: str | None = None) -> list[int]:
        """Load the FHIR test patients under ``folder`` as extra patients held by ``provider``.

        They get indices from ``size`` on; their BSN is the one in the file when present and
        free, otherwise the population's BSN for that index (so it stays unique and 11-proof).
        """
        if provider not in self.placement.by_name:
            raise KeyError(f"unknown provider {provider}")
        added: list[int] = []
        for ref_patient in reference.load(folder, self.as_of, gegevensdienst):
            index = self.size + len(self._extras)
            bsn = ref_patient.bsn
            if bsn is None or self.index_of(bsn) is not None or not bsn_codec.is_valid(bsn):
                bsn = bsn_codec.bsn_of(self.seed, index)
            patient = reference.to_patient(ref_patient.patient, index, bsn, self.as_of)
            self._extras.append((provider, patient, ref_patient))
            self._extra_bsn[bsn] = index
            added.append(index)
        return added

    @property
    def extra_count(self) -> int:
        """How many reference test patients were added (indices size .. size+extra_count-1)."""
        return len(self._extras)

    def _extra(self, index: int) -> tuple[str, Patient, reference.ReferencePatient] | None:
        k = index - self.size
        return self._extras[k] if 0 <= k < len(self._extras) else None

    # -- demographics -------------------------------------------------------------------
    def patient(self, index: int) -> Patient:
        """Demographics of member ``index`` (0 <= index < size)."""
        extra = self._extra(index)
        if extra is not None:
            return extra[1]
        self._check(index)
        return self._patient(index)

    def index_of(self, bsn: str) -> int | None:
        """The index behind a BSN, or None when it is not a BSN of this population."""
        found = bsn_codec.index_of(self.seed, bsn, self.size)
        return found if found is not None else self._extra_bsn.get(bsn)

    def record(self, index: int) -> ClinicalRecord:
        """The clinical record of synthetic member ``index`` (not for reference patients)."""
        self._check(index)
        return self._record(index)

    def vaccinations(self, index: int) -> tuple[list[Dose], list[Dose]]:
        """(programme doses, flu doses) of synthetic member ``index``."""
        self._check(index)
        return self._vaccinations(index)

    # -- where data lives -----------------------------------------------------------------
    def holders(self, index: int) -> list[str]:
        """Names of the providers holding records for member ``index``."""
        return [p.name for p in self.providers if self.services(index, p.name)]

    def services(self, index: int, provider: str) -> list[str]:
        """Gegevensdienst ids ``provider`` holds for member ``index`` (subset of 48/49/51/63)."""
        if provider not in self.placement.by_name:
            return []
        extra = self._extra(index)
        if extra is not None:
            return [extra[2].gegevensdienst] if extra[0] == provider else []
        self._check(index)
        return list(self._held(index, provider))

    def holds(self, index: int, provider: str, service: str) -> bool:
        """Whether ``provider`` holds ``service`` for member ``index``: ``service in
        services(index, provider)``, without the draws the answer does not need
        (``Placement.held_by_registration``: a GP's 48 and 49)."""
        ref_ = self.placement.by_name.get(provider)
        if ref_ is not None and self._extra(index) is None:
            self._check(index)
            known = self.placement.held_by_registration(self._patient(index), ref_, service)
            if known is not None:
                return known
        return service in self.services(index, provider)

    def find(self, provider: str, start: int = 0, service: str | None = None) -> int:
        """First index >= start whose data ``provider`` holds (for ``service``, if given)."""
        stop = min(self.size + len(self._extras), start + FIND_SCAN_LIMIT)
        ref_ = self.placement.by_name.get(provider)
        if ref_ is None or (service is not None and service not in possible_services(ref_.kind)):
            stop = start
        for i in range(start, stop):
            held = self.services(i, provider)
            if held and (service is None or service in held):
                return i
        raise LookupError(f"{provider} holds no {service or 'data'} for indices {start}..{stop}")

    # -- FHIR -----------------------------------------------------------------------------
    def resources(self, index: int, provider: str, gegevensdienst: str) -> list[Resource]:
        """FHIR JSON resources ``provider`` holds for member ``index`` in this gegevensdienst,
        with the resources they reference; [] when it holds nothing there."""
        if not self.holds(index, provider, gegevensdienst):
            return []
        return self._held_resources(index, provider, gegevensdienst)

    def records(self, index: int) -> Iterator[tuple[str, str, list[Resource]]]:
        """(provider, gegevensdienst, :meth:`resources`) of every record member ``index`` has,
        holders in topology order, as ``holders`` and ``services`` list them: for an export,
        which wants them all and so asks once, not once per holder and per service."""
        for ref_ in self.providers:
            for service in self.services(index, ref_.name):
                yield ref_.name, service, self._held_resources(index, ref_.name, service)

    def _held_resources(self, index: int, provider: str, gegevensdienst: str) -> list[Resource]:
        """:meth:`resources` for a service ``provider`` is known to hold."""
        extra = self._extra(index)
        if extra is not None:
            return copy.deepcopy(list(extra[2].resources))  # callers may mutate; rare path
        out: list[Resource] = []
        bgz_view.run(self._sections(index, provider, gegevensdienst, lazy=False), out)
        return out

    def record_view(self, index: int, provider: str, gegevensdienst: str,
                    extra: Iterable[Resource] = ()) -> RecordView:
        """The same resources as :meth:`resources` (then ``extra``, e.g. what PGOs shared),
        indexed like ``simulators.provider.record.SourceRecord`` but rendered per resource
        type on first ask: a DVA's first ``Condition`` search of a patient builds the
        demographics, the diagnoses and the Conditions, not the whole record."""
        sections: list[Section] = []
        if self.holds(index, provider, gegevensdienst):
            ref_patient = self._extra(index)
            if ref_patient is not None:
                held = ref_patient[2].resources
                sections = [(frozenset(r["resourceType"] for r in held),
                             lambda: copy.deepcopy(list(held)))]
            else:
                sections = self._sections(index, provider, gegevensdienst, lazy=True)
        return RecordView(sections, extra)

    def binary(self, index: int, provider: str, binary_id: str) -> tuple[str, bytes] | None:
        """(contentType, bytes) of a document's Binary, or None when there is no such Binary."""
        if "51" not in self.services(index, provider) or self._extra(index) is not None:
            return None
        p, r = self.patient(index), self._record(index)
        ctx = self._ctx(index, provider)
        for letter in self._letters(p, r, ctx):
            if letter.binary_id == binary_id:
                return "application/pdf", fhir_documents.pdf_bytes(letter)
        return None

    # -- internals ------------------------------------------------------------------------
    def _check(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} outside population of {self.size}")

    def _make_patient(self, index: int) -> Patient:
        return make_patient(self.seed, index, self.as_of, self._gps)

    def _make_record(self, index: int) -> ClinicalRecord:
        return make_record(self.seed, self._patient(index), self.as_of)

    def _make_services(self, index: int, provider: str) -> tuple[str, ...]:
        return tuple(self.placement.services(
            self.seed, self._patient(index), lambda: self._record(index),
            lambda: any(self._vaccinations(index)), self.placement.by_name[provider]))

    def _make_ctx(self, index: int, provider: str) -> Context:
        return self._context(self._patient(index), provider)

    def _sections(self, index: int, provider: str, service: str,
                  lazy: bool) -> list[Section]:
        """The record of a synthetic member at ``provider`` for a held ``service``, as
        sections (see :mod:`bgz_view`): run them all for the whole record, or (``lazy``,
        finer sections) only those that yield the resource type asked for."""
        p, ctx = self._patient(index), self._ctx(index, provider)
        if service == "63":  # the vaccinations only, not the clinical record
            def immunizations() -> list[Resource]:
                rvp, flu = self._vaccinations(index)
                return fhir_r4.immunizations(ctx, (*rvp, *flu))
            return [(_PATIENT, lambda: [fhir_r4.patient_r4(p, ctx)]),
                    (_ORGANIZATION, lambda: [fhir_r4.organization_r4(ctx)]),
                    (_IMMUNIZATION, immunizations)]
        r = self._record(index)
        base = (_BASE, lambda: self._base(index, provider, with_coverage=service == "48"))
        if service == "48":
            return [base, *self._bgz(p, r, ctx)]
        if service == "49":
            return [base, *fhir_gp.gp_record_sections(r, ctx, split=lazy)]
        if service == "51":
            return [base, (_DOCUMENTS, lambda: [fhir_documents.document_reference(ctx, letter)
                                                for letter in self._letters(p, r, ctx)])]
        return [base]

    def _make_vaccinations(self, index: int) -> tuple[list[Dose], list[Dose]]:
        p = self._patient(index)
        return (doses(self.seed, index, p.birth_date, p.sex, self.as_of),
                flu_doses(self.seed, index, p.birth_date, self.as_of))

    def _context(self, p: Patient, provider: str) -> Context:
        ref_ = self.placement.by_name[provider]
        return make_context(self.seed, p, provider, ref_.display, ref_.kind)

    def _base(self, index: int, provider: str, with_coverage: bool) -> list[Resource]:
        """Patient, its GP practice, the holder and its practitioner, and (48) the payer:
        fresh top-level dicts (callers may set keys) over the shared parts."""
        out = [dict(r) for r in self._base_parts(index, provider)]
        if with_coverage:
            p = self._patient(index)
            out += [coverage(p, self._ctx(index, provider), self.as_of), insurer_organization(p)]
        return out

    def _make_base_parts(self, index: int, provider: str) -> tuple[Resource, ...]:
        """What every record of the person at this holder starts with (not to be mutated)."""
        p, ctx = self._patient(index), self._ctx(index, provider)
        if p.gp:
            gp_org = organization(p.gp, p.gp_practice, "gp")
        else:
            gp_org = organization(f"{slug(p.gp_practice.split()[-1])}@practice", p.gp_practice,
                                  "gp")
            # A stable number (not hash(), which differs per process): the same id in every
            # DVA process, export worker and rerun.
            gp_org["id"] = f"org-practice-{int(draw.token(p.gp_practice), 16) % 10**8}"
        out = [patient_resource(p, ctx, ref("Organization", gp_org["id"], p.gp_practice)),
               gp_org]
        if gp_org["id"] != ctx.org_id:
            out.append(organization(ctx.provider, ctx.display, ctx.kind))
        out.append(practitioner(ctx))
        return tuple(out)

    def _here(self, r: ClinicalRecord, ctx: Context) -> list[int]:
        """Admissions that concern this holder: its own, or (GP) all it referred for."""
        if ctx.kind == "gp":
            return list(range(len(r.admissions)))
        return [n for n, a in enumerate(r.admissions)
                if self.placement.hospital_of(a.site) == ctx.provider]

    def _letters(self, p: Patient, r: ClinicalRecord, ctx: Context) -> list[fhir_documents.Letter]:
        return fhir_documents.letters(p, r, ctx, self._here(r, ctx))

    def _bgz(self, p: Patient, r: ClinicalRecord, ctx: Context) -> list[Section]:
        kind = ctx.kind
        if kind == "gp":
            return bgz_view.gp_sections(p, r, lambda: self._vaccinations(p.index)[1], ctx,
                                        self.as_of)
        if kind == "hospital":
            return bgz_view.hospital_sections(p, r, ctx, self.as_of, self._here(r, ctx))
        if kind == "pharmacy":
            return bgz_view.pharmacy_sections(r, ctx, self.as_of)
        if kind == "ggz":
            return bgz_view.ggz_sections(r, ctx, self.as_of)
        return bgz_view.other_sections(r, ctx)
