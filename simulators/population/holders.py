"""Where data lives: which providers hold records for whom, and for which gegevensdiensten.

One rule set, used by provider source systems, the DVA availability check and the registry's
localisation index alike (issue 3, item 4):

* a GP holds its registered patients (48, 49; 51 when it wrote referral letters);
* a hospital holds the people it admitted or put on its waiting list (48; 51 discharge letters);
* a pharmacy holds people on medication who use it (48);
* a GGZ institution holds some people with depression (48);
* RIVM holds everyone with a recorded vaccination (63);
* a provider of any other kind holds a small random share of the population (48).

Within one kind, people are spread over that kind's providers by a stable per-person number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from simulators.population import draw
from simulators.population.clinical import ClinicalRecord
from simulators.population.demographics import Patient

SERVICES = ("48", "49", "51", "63")
KNOWN_KINDS = ("gp", "hospital", "pharmacy", "ggz", "rivm")
GGZ_SHARE_OF_DEPRESSED = 0.35
OTHER_KIND_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class ProviderRef:
    """A care provider (zorgaanbieder) in the topology: ``ProviderRef("umcsandbox@medmij",
    "hospital", "UMC Sandbox")``."""

    name: str
    kind: str
    display: str


GP_ALWAYS = ("48", "49")  # what a GP holds for every patient registered there
POSSIBLE = {"gp": ("48", "49", "51"), "hospital": ("48", "51"), "pharmacy": ("48",),
            "ggz": ("48",), "rivm": ("63",)}


def possible_services(kind: str) -> tuple[str, ...]:
    """Every gegevensdienst a provider of this kind can hold for someone."""
    return POSSIBLE.get(kind, ("48",))


def _pick(providers: Sequence[ProviderRef], u: float) -> str | None:
    return providers[int(u * len(providers))].name if providers else None


class Placement:
    """The provider set of one population, grouped by kind."""

    def __init__(self, providers: Sequence[ProviderRef]) -> None:
        self.providers = tuple(providers)
        self.by_name = {p.name: p for p in self.providers}
        self.by_kind: dict[str, tuple[ProviderRef, ...]] = {
            kind: tuple(p for p in self.providers if p.kind == kind) for kind in KNOWN_KINDS
        }
        self.others = tuple(p for p in self.providers if p.kind not in KNOWN_KINDS)

    def gps(self) -> tuple[tuple[str, str], ...]:
        return tuple((p.name, p.display) for p in self.by_kind["gp"])

    def hospital_of(self, u: float) -> str | None:
        return _pick(self.by_kind["hospital"], u)

    def held_by_registration(self, patient: Patient, provider: ProviderRef,
                             service: str) -> bool | None:
        """Whether ``provider`` holds ``service`` for ``patient`` where the registration alone
        decides it (a GP's 48 and 49, admitted or not); None where ``services`` must be asked
        (it may draw the record)."""
        if provider.kind == "gp" and service in GP_ALWAYS:
            return patient.gp == provider.name
        return None

    def services(self, seed: int, patient: Patient, record: Callable[[], ClinicalRecord],
                 vaccinated: Callable[[], bool], provider: ProviderRef) -> list[str]:
        """Gegevensdiensten ``provider`` holds for ``patient``: [] when it holds nothing.

        ``record`` and ``vaccinated`` are asked for only when the answer depends on them, so
        a DVA checking one provider draws no more of the person than that provider needs."""
        i, kind, name = patient.index, provider.kind, provider.name
        if kind == "gp":
            if patient.gp != name:
                return []
            return [*GP_ALWAYS, "51"] if record().admissions else list(GP_ALWAYS)
        if kind in ("hospital", "pharmacy", "ggz"):
            return self._clinical(seed, patient, record(), provider)
        if kind == "rivm":
            if _pick(self.by_kind["rivm"], draw.unit(draw.RIVM, seed, i)) == name and vaccinated():
                return ["63"]
            return []
        return ["48"] if draw.unit_key("other", seed, i, name) < OTHER_KIND_SHARE else []

    def _clinical(self, seed: int, patient: Patient, record: ClinicalRecord,
                  provider: ProviderRef) -> list[str]:
        i, kind, name = patient.index, provider.kind, provider.name
        if kind == "hospital":
            admitted = any(self.hospital_of(a.site) == name for a in record.admissions)
            waiting = record.planned is not None and self.hospital_of(
                draw.unit(draw.SITE, seed, i)) == name
            if admitted:
                return ["48", "51"]
            return ["48"] if waiting else []
        if kind == "pharmacy":
            if record.medications and _pick(self.by_kind["pharmacy"], record.pharmacy_site) == name:
                return ["48"]
            return []
        if kind == "ggz":
            if (record.has("depression") and draw.unit(draw.GGZ, seed, i) < GGZ_SHARE_OF_DEPRESSED
                    and _pick(self.by_kind["ggz"], draw.unit(draw.GGZ_SITE, seed, i)) == name):
                return ["48"]
        return []
