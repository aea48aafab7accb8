"""FHIR building blocks shared by every gegevensdienst: codings, references, ids, profiles, and
the resources every answer carries (Patient, the provider's Organization and Practitioners,
the insurer and Coverage).

Resources are plain JSON dicts (what a DVA serialises), shaped like the Nictiz reference
resources under ``testscripts/*/_reference/``. References are relative (``Patient/<id>``).

Speed (issue 17 item 6): the constant parts (codings, concepts, ``meta``, a holder's
Organization and Practitioner, the Patient reference of one person at one holder) are built
once and the same dict objects are shared by every resource that contains them; serialised,
that is the same bytes. So nobody may mutate a nested part of a rendered resource in place
(replacing a top-level key of a fresh resource, as ``fhir_gp._medication`` does, is fine).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache, lru_cache
from typing import Any

from simulators.medmij import BSN_SYSTEM, SNOMED, UCUM
from simulators.population import draw
from simulators.population.demographics import Patient

Resource = dict[str, Any]

NICTIZ = "http://nictiz.nl/fhir/StructureDefinition/"
NL_CORE = "http://fhir.nl/fhir/StructureDefinition/"
AGB_SYSTEM = "http://fhir.nl/fhir/NamingSystem/agb-z"
UZOVI_SYSTEM = "http://fhir.nl/fhir/NamingSystem/uzovi"
BIG_SYSTEM = "http://fhir.nl/fhir/NamingSystem/big"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
LOCAL_ID_SYSTEM = "urn:oid:2.16.840.1.113883.2.4.3.11.999.7"  # as in the Nictiz test data
TZ = "+01:00"


@dataclass(frozen=True, slots=True)
class Context:
    """What a renderer needs about the holder: provider name, display, kind and id prefix."""

    provider: str
    display: str
    kind: str
    token: str  # stable per (seed, index, provider): makes resource ids unique and repeatable
    patient_id: str
    patient_display: str
    practitioner_id: str
    practitioner_display: str
    # Shared, built once per (person, holder): the Reference dicts in nearly every resource.
    subject_ref: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    performer_ref: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    org_ref: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def org_id(self) -> str:
        return org_id(self.provider)

    def rid(self, kind: str, n: int | str) -> str:
        return f"{kind}-{self.token}-{n}"


@cache  # a few provider names, asked for by every resource
def slug(name: str) -> str:
    return name.split("@", 1)[0].lower()


@cache
def org_id(provider: str) -> str:
    return f"org-{slug(provider)}"


@lru_cache(maxsize=4096)  # codes come from the catalogs: a few hundred, shared (see above)
def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    c = {"system": system, "code": code}
    if display:
        c["display"] = display
    return c


@lru_cache(maxsize=4096)
def concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    cc: dict[str, Any] = {"coding": [coding(system, code, display)]}
    if display:
        cc["text"] = display
    return cc


def snomed(code: str, display: str | None = None) -> dict[str, Any]:
    return concept(SNOMED, code, display)


def ref(resource_type: str, rid: str, display: str | None = None) -> dict[str, str]:
    r = {"reference": f"{resource_type}/{rid}"}
    if display:
        r["display"] = display
    return r


@cache  # a few dozen profiles, shared (see above)
def meta(profile: str) -> dict[str, list[str]]:
    return {"profile": [profile]}


@lru_cache(maxsize=1 << 16)  # dates repeat across people (as_of minus a few days)
def dt(day: date, hour: int = 10) -> str:
    """A dateTime with a time of day: $lastn and sorting need more than a date."""
    return f"{day.isoformat()}T{hour:02d}:00:00{TZ}"


def ident(value: str) -> list[dict[str, str]]:
    return [{"system": LOCAL_ID_SYSTEM, "value": value}]


def quantity(value: float, unit: str, code: str | None = None) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code or unit}


def make_context(seed: int, p: Patient, provider: str, display: str, kind: str) -> Context:
    token = draw.token(seed, p.index, provider)
    n = int(draw.unit_key("prac", seed, p.index, provider) * PRACTITIONERS_PER_PROVIDER)
    patient_id, practitioner_id = f"pat-{token}", f"prac-{slug(provider)}-{n}"
    practitioner_display = practitioner_name(seed, provider, n)
    return Context(
        provider=provider,
        display=display,
        kind=kind,
        token=token,
        patient_id=patient_id,
        patient_display=p.name,
        practitioner_id=practitioner_id,
        practitioner_display=practitioner_display,
        subject_ref={"reference": f"Patient/{patient_id}", "display": p.name},
        performer_ref={"reference": f"Practitioner/{practitioner_id}",
                       "display": practitioner_display},
        org_ref=ref("Organization", org_id(provider), display),
    )


PRACTITIONERS_PER_PROVIDER = 8
_GIVEN = ("Anna", "Bram", "Carla", "Daan", "Eva", "Floris", "Greet", "Hugo", "Iris", "Joost",
          "Karin", "Lars", "Mirjam", "Niels", "Olga", "Pieter")
_FAMILY = ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Visser",
           "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks")


@lru_cache(maxsize=1024)  # PRACTITIONERS_PER_PROVIDER names per provider
def practitioner_name(seed: int, provider: str, n: int) -> str:
    u = draw.unit_key("pracname", seed, provider, n)
    return f"{_GIVEN[int(u * 16)]} {_FAMILY[int(u * 256) % 16]}"


_ROLE = {
    "gp": ("01.015", "Huisarts"),
    "hospital": ("01.010", "Arts"),
    "ggz": ("01.018", "Psychiater"),
    "pharmacy": ("17.000", "Apotheker"),
    "rivm": ("01.010", "Arts"),
}


def practitioner(ctx: Context) -> Resource:
    """A fresh top-level dict (callers may set keys) over the shared, cached content."""
    return dict(_practitioner(ctx.practitioner_id, ctx.practitioner_display, ctx.kind))


@lru_cache(maxsize=1024)  # PRACTITIONERS_PER_PROVIDER per provider
def _practitioner(practitioner_id: str, display: str, kind: str) -> Resource:
    given, family = display.split(" ", 1)
    return {
        "resourceType": "Practitioner",
        "id": practitioner_id,
        "meta": meta(NL_CORE + "nl-core-practitioner"),
        "identifier": [{"system": AGB_SYSTEM, "value": _agb(practitioner_id)}],
        "name": [{"use": "official", "family": family, "given": [given],
                  "text": display}],
        "qualification": [{"code": concept("urn:oid:2.16.840.1.113883.2.4.15.111",
                                           *_ROLE.get(kind, ("01.010", "Arts")))}],
    }


@lru_cache(maxsize=4096)  # keyed by provider or practitioner id: a few per provider
def _agb(key: str) -> str:
    return f"{int(draw.unit_key('agb', key) * 10**8):08d}"


ORG_TYPE_SYSTEM = "http://nictiz.nl/fhir/NamingSystem/organization-type"
AGB_SPECIALTY_SYSTEM = "urn:oid:2.16.840.1.113883.2.4.6.7"  # Vektis AGB-Z zorgverlenersoort
# Organization.type as the Nictiz fixtures code it: organisation type, then the Vektis AGB
# specialty, each pair as in a fixture (REF = ../shared/medmij/testscripts, NTS =
# github Nictiz/Nictiz-testscripts@e851d704dca7):
#   gp: Z3 + 0100  REF STU3/BgZ-3-0/MedMij/Test/_reference/resources/
#                  -organization-medmij-bgz-test-2-16-840-1-113883-2-4-6-1-01000001.xml
#   hospital: V4 + 0600  REF same folder, ...-2-4-6-1-06000001.xml
#   ggz: G5  NTS archive/src/eOverdracht-HeO/Test/_reference/resources/resources-generic/
#            nl-core-organization-eov-test-1_6-02.xml (no AGB specialty sourced)
# A pharmacy, the RIVM and other kinds get no type: no fixture codes one.
_ORG_TYPE: dict[str, tuple[tuple[str, str, str], ...]] = {
    "gp": ((ORG_TYPE_SYSTEM, "Z3", "Huisartspraktijk (zelfstandig of groepspraktijk)"),
           (AGB_SPECIALTY_SYSTEM, "0100", "Huisartsen, niet nader gespecificeerd")),
    "hospital": ((ORG_TYPE_SYSTEM, "V4", "Ziekenhuis"),
                 (AGB_SPECIALTY_SYSTEM, "0600", "Ziekenhuizen, niet nader gespecificeerd")),
    "ggz": ((ORG_TYPE_SYSTEM, "G5", "Geestelijke Gezondheidszorg"),),
}


def organization_type(kind: str) -> list[dict[str, Any]]:
    """Organization.type for a provider kind: one CodeableConcept per coding, as the
    fixtures (each system its own type entry); [] where no fixture codes that kind."""
    return [{"coding": [coding(*c)]} for c in _ORG_TYPE.get(kind, ())]


def organization(provider: str, display: str, kind: str) -> Resource:
    """A fresh top-level dict (callers set ``id``) over the shared, cached content."""
    return dict(_organization(provider, display, kind))


@lru_cache(maxsize=4096)  # the topology's providers and the GP practices' names
def _organization(provider: str, display: str, kind: str) -> Resource:
    res: Resource = {
        "resourceType": "Organization",
        "id": org_id(provider),
        "meta": meta(NL_CORE + "nl-core-organization"),
        "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/agb-z",
                        "value": _agb(provider)}],
        "name": display,
    }
    types = organization_type(kind)
    if types:
        res["type"] = types
    return res


def insurer_organization(p: Patient) -> Resource:
    """A fresh top-level dict (callers may set keys) over the insurer's cached content."""
    return dict(_insurer_organization(p.uzovi, p.insurer))


@lru_cache(maxsize=64)  # a dozen insurers
def _insurer_organization(uzovi: str, name: str) -> Resource:
    return {
        "resourceType": "Organization",
        "id": f"org-uzovi-{uzovi}",
        "meta": meta(NL_CORE + "nl-core-organization"),
        "identifier": [{"system": UZOVI_SYSTEM, "value": uzovi}],
        "name": name,
    }


@lru_cache(maxsize=64)
def _payor(uzovi: str, name: str) -> list[dict[str, str]]:
    return [ref("Organization", f"org-uzovi-{uzovi}", name)]


def masked_bsn() -> dict[str, Any]:
    """The Patient's BSN identifier as the Nictiz reference patients carry it: the system, and
    instead of the value a ``data-absent-reason`` "masked". MedMij forbids the BSN to reach a
    PGO; the DVA knows it (DigiD), the PGO only needs to know which system was masked."""
    return {"system": BSN_SYSTEM,
            "_value": {"extension": [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}]}}


def mask_bsn(patient: Resource) -> Resource:
    """A copy of ``patient`` with every BSN identifier masked (other identifiers unchanged)."""
    identifiers = patient.get("identifier")
    if not isinstance(identifiers, list) or not any(
            isinstance(i, dict) and i.get("system") == BSN_SYSTEM for i in identifiers):
        return patient
    masked = [masked_bsn() if isinstance(i, dict) and i.get("system") == BSN_SYSTEM else i
              for i in identifiers]
    return {**patient, "identifier": masked}


def patient_resource(p: Patient, ctx: Context, gp_ref: dict[str, str] | None,
                     profile: str = NL_CORE + "nl-core-patient") -> Resource:
    prefix, _, own = p.family.rpartition(" ")
    family: dict[str, Any] = {"family": p.family}
    if prefix:
        family["_family"] = {"extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/humanname-own-prefix",
             "valueString": prefix},
            {"url": "http://hl7.org/fhir/StructureDefinition/humanname-own-name",
             "valueString": own}]}
    res: Resource = {
        "resourceType": "Patient",
        "id": ctx.patient_id,
        "meta": meta(profile),
        "identifier": [masked_bsn()],
        "name": [{"use": "official", **family, "given": [p.given], "text": p.name}],
        "telecom": [{"system": "phone", "value": p.phone, "use": "mobile"}],
        "gender": p.sex,
        "birthDate": p.birth_date.isoformat(),
        "address": [{
            "use": "home",
            "type": "physical",
            "line": [f"{p.street} {p.house_number}"],
            "city": p.city,
            "district": p.municipality,
            "postalCode": p.postcode,
            "country": "NLD",
        }],
    }
    if gp_ref:
        res["generalPractitioner"] = [gp_ref]
    return res


@lru_cache(maxsize=16)  # the population's year
def _policy_year(year: int) -> dict[str, str]:
    return {"start": f"{year}-01-01", "end": f"{year}-12-31"}


def coverage(p: Patient, ctx: Context, as_of: date) -> Resource:
    return {
        "resourceType": "Coverage",
        "id": ctx.rid("cov", 1),
        "meta": meta(NICTIZ + "zib-Payer"),
        "status": "active",
        "type": concept("urn:oid:2.16.840.1.113883.2.4.3.11.60.101.5.1", "B",
                        "Basisverzekering"),
        "subscriberId": p.policy_number,
        "subscriber": subject(ctx),  # as ref("Patient", id, name): a name is never empty
        "beneficiary": subject(ctx),
        "period": _policy_year(as_of.year),
        "payor": _payor(p.uzovi, p.insurer),
    }


def subject(ctx: Context) -> dict[str, str]:
    """The Patient reference: one shared dict per (person, holder)."""
    return ctx.subject_ref


def performer(ctx: Context) -> dict[str, str]:
    """The holder's Practitioner reference: one shared dict per (person, holder)."""
    return ctx.performer_ref


def holder_ref(ctx: Context) -> dict[str, str]:
    """The holder's Organization reference: one shared dict per (person, holder)."""
    return ctx.org_ref
