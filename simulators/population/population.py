"""The population: patient *i* of a seed, rendered on demand, stored nowhere (issue 3).

    pop = Population(seed=1, size=18_000_000, providers=[ProviderRef("umcsandbox@medmij",
                     "hospital", "UMC Sandbox")])
    pop.resources(pop.find("umcsandbox@medmij"), "umcsandbox@medmij", "48")
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from functools import lru_cache
from itertools import chain

from simulators.population import bgz_view, fhir_documents, fhir_gp, fhir_r4
from simulators.population import bsn as bsn_codec
from simulators.population.clinical import Record, make_record
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
from simulators.population.holders import Placement, ProviderRef
from simulators.population.vaccination import Dose, doses, flu_doses

AS_OF = date(2025, 1, 1)  # the population's "today": fixed, so every render is repeatable
FIND_SCAN_LIMIT = 200_000
_CACHE = 2048


class Population:
    """A deterministic Dutch population of ``size`` people for the given providers."""

    def __init__(self, seed: int, size: int, providers: Sequence[ProviderRef] = (), *,
                 as_of: date = AS_OF) -> None:
        if not 0 < size <= bsn_codec.DOMAIN:
            raise ValueError(f"size must be between 1 and {bsn_codec.DOMAIN:,}")
        self.seed = seed
        self.size = size
        self.as_of = as_of
        self.placement = Placement(providers)
        self.providers = self.placement.providers
        self._gps = self.placement.gps()
        # Small per-instance caches: a DVA answers ~28 searches per collect for one person.
        self._patient = lru_cache(maxsize=_CACHE)(self._make_patient)
        self._record = lru_cache(maxsize=_CACHE)(self._make_record)
        self._vaccinations = lru_cache(maxsize=_CACHE)(self._make_vaccinations)

    # -- demographics -------------------------------------------------------------------
    def patient(self, index: int) -> Patient:
        """Demographics of member ``index`` (0 <= index < size)."""
        self._check(index)
        return self._patient(index)

    def index_of(self, bsn: str) -> int | None:
        """The index behind a BSN, or None when it is not a BSN of this population."""
        return bsn_codec.index_of(self.seed, bsn, self.size)

    # -- where data lives -----------------------------------------------------------------
    def holders(self, index: int) -> list[str]:
        """Names of the providers holding records for member ``index``."""
        return [p.name for p in self.providers if self.services(index, p.name)]

    def services(self, index: int, provider: str) -> list[str]:
        """Gegevensdienst ids ``provider`` holds for member ``index`` (subset of 48/49/51/63)."""
        ref_ = self.placement.by_name.get(provider)
        if ref_ is None:
            return []
        p = self.patient(index)
        rvp, flu = self._vaccinations(index)
        return self.placement.services(self.seed, p, self._record(index), bool(rvp or flu), ref_)

    def find(self, provider: str, start: int = 0, service: str | None = None) -> int:
        """First index >= start whose data ``provider`` holds (for ``service``, if given)."""
        stop = min(self.size, start + FIND_SCAN_LIMIT)
        for i in range(start, stop):
            held = self.services(i, provider)
            if held and (service is None or service in held):
                return i
        raise LookupError(f"{provider} holds no {service or 'data'} for indices {start}..{stop}")

    # -- FHIR -----------------------------------------------------------------------------
    def resources(self, index: int, provider: str, gegevensdienst: str) -> list[Resource]:
        """FHIR JSON resources ``provider`` holds for member ``index`` in this gegevensdienst,
        with the resources they reference; [] when it holds nothing there."""
        if gegevensdienst not in self.services(index, provider):
            return []
        p, r = self.patient(index), self._record(index)
        ctx = self._context(p, provider)
        out: list[Resource] = []
        if gegevensdienst == "63":
            rvp, flu = self._vaccinations(index)
            out += [fhir_r4.patient_r4(p, ctx), fhir_r4.organization_r4(ctx)]
            out.extend(fhir_r4.immunization(ctx, n, d) for n, d in enumerate(chain(rvp, flu)))
            return out
        out += self._base(p, ctx, with_coverage=gegevensdienst == "48")
        if gegevensdienst == "48":
            self._bgz(p, r, ctx, out)
        elif gegevensdienst == "49":
            fhir_gp.gp_record(r, ctx, out)
        elif gegevensdienst == "51":
            out.extend(fhir_documents.document_reference(ctx, letter)
                       for letter in self._letters(p, r, ctx))
        return out

    def binary(self, index: int, provider: str, binary_id: str) -> tuple[str, bytes] | None:
        """(contentType, bytes) of a document's Binary, or None when there is no such Binary."""
        if "51" not in self.services(index, provider):
            return None
        p, r = self.patient(index), self._record(index)
        ctx = self._context(p, provider)
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

    def _make_record(self, index: int) -> Record:
        return make_record(self.seed, self._patient(index), self.as_of)

    def _make_vaccinations(self, index: int) -> tuple[list[Dose], list[Dose]]:
        p = self._patient(index)
        return (doses(self.seed, index, p.birth_date, p.sex, self.as_of),
                flu_doses(self.seed, index, p.birth_date, self.as_of))

    def _context(self, p: Patient, provider: str) -> Context:
        ref_ = self.placement.by_name[provider]
        return make_context(self.seed, p, provider, ref_.display, ref_.kind)

    def _base(self, p: Patient, ctx: Context, with_coverage: bool) -> list[Resource]:
        """Patient, its GP practice, the holder and its practitioner, and (48) the payer."""
        if p.gp:
            gp_org = organization(p.gp, p.gp_practice, "gp")
        else:
            gp_org = organization(f"{slug(p.gp_practice.split()[-1])}@practice", p.gp_practice,
                                  "gp")
            gp_org["id"] = f"org-practice-{abs(hash(p.gp_practice)) % 10**8}"
        out = [patient_resource(p, ctx, ref("Organization", gp_org["id"], p.gp_practice)),
               gp_org]
        if gp_org["id"] != ctx.org_id:
            out.append(organization(ctx.provider, ctx.display, ctx.kind))
        out.append(practitioner(ctx))
        if with_coverage:
            out += [coverage(p, ctx, self.as_of), insurer_organization(p)]
        return out

    def _here(self, r: Record, ctx: Context) -> list[int]:
        """Admissions that concern this holder: its own, or (GP) all it referred for."""
        if ctx.kind == "gp":
            return list(range(len(r.admissions)))
        return [n for n, a in enumerate(r.admissions)
                if self.placement.hospital_of(a.site) == ctx.provider]

    def _letters(self, p: Patient, r: Record, ctx: Context) -> list[fhir_documents.Letter]:
        return fhir_documents.letters(p, r, ctx, self._here(r, ctx))

    def _bgz(self, p: Patient, r: Record, ctx: Context, out: list[Resource]) -> None:
        kind = ctx.kind
        if kind == "gp":
            bgz_view.gp_bgz(p, r, self._vaccinations(p.index)[1], ctx, out, self.as_of)
        elif kind == "hospital":
            bgz_view.hospital_bgz(p, r, ctx, out, self.as_of, self._here(r, ctx))
        elif kind == "pharmacy":
            bgz_view.pharmacy_bgz(r, ctx, out, self.as_of)
        elif kind == "ggz":
            bgz_view.ggz_bgz(r, ctx, out, self.as_of)
        else:
            bgz_view.other_bgz(r, ctx, out)


__all__ = ["AS_OF", "Population", "timedelta"]
