"""Vaccinaties (gegevensdienst 63, FHIR R4, zib2020): Immunization per administered dose,
profiled as ``imm-Vaccination-event`` only, as the Nictiz Immunization 2.0 reference resources
declare it (it derives from ``nl-core-Vaccination-event``)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from simulators.medmij import SNOMED
from simulators.population.demographics import Patient
from simulators.population.fhir_common import (
    NICTIZ,
    Context,
    Resource,
    coding,
    concept,
    masked_bsn,
    org_id,
    organization_type,
    ref,
)
from simulators.population.vaccination import ATC_SYSTEM, Dose, Vaccine

PROFILES = [NICTIZ + "imm-Vaccination-event"]


def patient_r4(p: Patient, ctx: Context) -> Resource:
    return {
        "resourceType": "Patient",
        "id": ctx.patient_id,
        "meta": {"profile": [NICTIZ + "nl-core-Patient"]},
        "identifier": [masked_bsn()],  # as the Nictiz reference patients: never the BSN
        "name": [{"use": "official", "family": p.family, "given": [p.given], "text": p.name}],
        "gender": p.sex,
        "birthDate": p.birth_date.isoformat(),
        "address": [{"use": "home", "line": [f"{p.street} {p.house_number}"], "city": p.city,
                     "postalCode": p.postcode, "country": "NL"}],
    }


def organization_r4(ctx: Context) -> Resource:
    return {
        "resourceType": "Organization",
        "id": ctx.org_id,
        "meta": {"profile": [NICTIZ + "nl-core-HealthcareProvider-Organization"]},
        **({"type": types} if (types := organization_type(ctx.kind)) else {}),
        "name": ctx.display,
    }


_META = {"profile": PROFILES}  # shared by every Immunization (see fhir_common on sharing)


@lru_cache(maxsize=64)  # one per RIVM provider
def _performer(provider: str, display: str) -> list[dict[str, object]]:
    return [{
        "function": concept("http://terminology.hl7.org/CodeSystem/v2-0443", "AP",
                            "Administering Provider"),
        "actor": {**ref("Organization", org_id(provider), display), "type": "Organization"},
    }]


@lru_cache(maxsize=64)  # one per vaccine, shared
def _vaccine_code(v: Vaccine) -> dict[str, object]:
    """The SNOMED vaccine product first, then ATC (see ``vaccination``)."""
    return {"coding": [coding(SNOMED, v.snomed, v.display), coding(ATC_SYSTEM, v.atc, v.display)],
            "text": v.display}


def immunizations(ctx: Context, doses: Iterable[Dose]) -> list[Resource]:
    """An Immunization per dose, numbered in order; one person's share the Patient reference
    and the performer (see fhir_common on sharing)."""
    patient = {"reference": f"Patient/{ctx.patient_id}", "type": "Patient",
               "display": ctx.patient_display}
    performer = _performer(ctx.provider, ctx.display)
    return [_immunization(ctx, n, dose, patient, performer) for n, dose in enumerate(doses)]


def _immunization(ctx: Context, n: int, dose: Dose, patient: dict[str, str],
                  performer: list[dict[str, object]]) -> Resource:
    rid = ctx.rid("vacc", n)
    return {
        "resourceType": "Immunization",
        "id": rid,
        "meta": _META,
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.2.4.3.11.60.131.2", "value": rid}],
        "status": "completed",
        "vaccineCode": _vaccine_code(dose.vaccine),
        "patient": patient,
        "occurrenceDateTime": dose.when.isoformat(),
        "performer": performer,
        "protocolApplied": _protocol(dose.dose_number),
    }


@lru_cache(maxsize=64)  # dose numbers: a handful
def _protocol(dose_number: int) -> list[dict[str, int]]:
    return [{"doseNumberPositiveInt": dose_number}]
