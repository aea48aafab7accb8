"""BgZ (48, STU3) resources about care arrangements rather than findings: directives (Consent),
alerts (Flag), diets, medical devices, planned care and vaccinations."""

from __future__ import annotations

from datetime import date, timedelta

from simulators.medmij import LOINC
from simulators.population.catalog import ProcedureDef
from simulators.population.fhir_common import (
    NICTIZ,
    Context,
    Resource,
    coding,
    concept,
    dt,
    ident,
    meta,
    performer,
    ref,
    snomed,
    subject,
)
from simulators.population.vaccination import ATC_SYSTEM, Dose

_POLICY = [{"uri": "http://wetten.overheid.nl/"}]


def treatment_directive(ctx: Context, when: date, advance_id: str) -> Resource:
    """Niet reanimeren: a TreatmentDirective (category 11291000146105)."""
    return {
        "resourceType": "Consent",
        "id": ctx.rid("cons", "td"),
        "meta": meta(NICTIZ + "zib-TreatmentDirective"),
        "extension": [{"url": NICTIZ + "zib-TreatmentDirective-Treatment",
                       "valueCodeableConcept": snomed("89666000", "Reanimatie")}],
        "modifierExtension": [{"url": NICTIZ + "zib-TreatmentDirective-TreatmentPermitted",
                               "valueCodeableConcept": concept(
                                   "urn:oid:2.16.840.1.113883.2.4.3.11.60.40.4", "NEE", "Nee")}],
        "identifier": ident(ctx.rid("cons", "td"))[0],
        "status": "active",
        "category": [snomed("11291000146105", "Behandelaanwijzing")],
        "patient": subject(ctx),
        "period": {"start": when.isoformat()},
        "sourceReference": ref("Consent", advance_id, "Wilsverklaring"),
        "policy": _POLICY,
    }


def advance_directive(ctx: Context, when: date) -> Resource:
    """The written statement behind it: an AdvanceDirective (category 11341000146107)."""
    return {
        "resourceType": "Consent",
        "id": ctx.rid("cons", "ad"),
        "meta": meta(NICTIZ + "zib-AdvanceDirective"),
        "identifier": ident(ctx.rid("cons", "ad"))[0],  # STU3 Consent: one identifier
        "status": "active",
        "category": [
            snomed("11341000146107", "Wilsverklaring"),
            concept("urn:oid:2.16.840.1.113883.2.4.3.11.60.40.4.14.1", "NR",
                    "Niet reanimeren verklaring"),
        ],
        "patient": subject(ctx),
        "dateTime": when.isoformat(),
        "policy": _POLICY,
    }


def alert(ctx: Context, n: int, text: str, when: date) -> Resource:
    return {
        "resourceType": "Flag",
        "id": ctx.rid("flag", n),
        "meta": meta(NICTIZ + "zib-Alert"),
        "status": "active",
        "category": concept("http://hl7.org/fhir/flag-category", "clinical", "Clinical"),
        "code": {"text": text},
        "subject": subject(ctx),
        "period": {"start": when.isoformat()},
        "author": performer(ctx),
    }


_DIETS = {"160670007": "Diabetesdieet", "386619000": "Zoutbeperkt dieet"}


def nutrition(ctx: Context, code: str, when: date) -> Resource:
    return {
        "resourceType": "NutritionOrder",
        "id": ctx.rid("nut", 1),
        "meta": meta(NICTIZ + "zib-NutritionAdvice"),
        "status": "active",
        "patient": subject(ctx),
        "dateTime": dt(when),
        "orderer": performer(ctx),
        "oralDiet": {"type": [snomed(code, _DIETS[code])]},
    }


_DEVICES = {"hearing": ("6012004", "Hoortoestel"), "cane": ("87405001", "Wandelstok")}


def device(ctx: Context, kind: str) -> Resource:
    code, display = _DEVICES[kind]
    return {
        "resourceType": "Device",
        "id": ctx.rid("dev", kind),
        "meta": meta(NICTIZ + "zib-MedicalDeviceProduct"),
        "type": snomed(code, display),
        "patient": subject(ctx),
    }


def device_use(ctx: Context, kind: str, since: date) -> Resource:
    return {
        "resourceType": "DeviceUseStatement",
        "id": ctx.rid("dus", kind),
        "meta": meta(NICTIZ + "zib-MedicalDevice"),
        "status": "active",
        "subject": subject(ctx),
        "whenUsed": {"start": since.isoformat()},
        "device": ref("Device", ctx.rid("dev", kind), _DEVICES[kind][1]),
    }


def device_request(ctx: Context, kind: str, when: date) -> Resource:
    code, display = _DEVICES[kind]
    return {
        "resourceType": "DeviceRequest",
        "id": ctx.rid("dreq", kind),
        "meta": meta(NICTIZ + "zib-MedicalDeviceRequest"),
        "status": "active",
        "intent": concept("http://hl7.org/fhir/request-intent", "order", "Order"),
        "codeReference": ref("Device", ctx.rid("dev", kind), display),
        "subject": subject(ctx),
        "authoredOn": dt(when),
        "requester": {"agent": performer(ctx)},
    }


def procedure_request(ctx: Context, proc: ProcedureDef, when: date) -> Resource:
    return {
        "resourceType": "ProcedureRequest",
        "id": ctx.rid("preq", proc.key),
        "meta": meta(NICTIZ + "zib-ProcedureRequest"),
        "status": "active",
        "intent": "order",
        "category": [snomed("387713003", "Chirurgische verrichting")],
        "code": snomed(proc.snomed, proc.display),
        "subject": subject(ctx),
        "occurrenceDateTime": dt(when, 8),
        "requester": {"agent": performer(ctx)},
        "reasonCode": [snomed(*proc.reason)],
    }


def appointment(ctx: Context, n: int, when: date, description: str, status: str) -> Resource:
    return {
        "resourceType": "Appointment",
        "id": ctx.rid("appt", n),
        "meta": meta(NICTIZ + "eAfspraak-Appointment"),
        "status": status,
        "description": description,
        "start": dt(when, 9),
        "end": f"{when.isoformat()}T09:30:00+01:00",
        "participant": [
            {"actor": subject(ctx), "status": "accepted"},
            {"actor": performer(ctx), "status": "accepted"},
        ],
    }


def immunization_stu3(ctx: Context, n: int, dose: Dose) -> Resource:
    v = dose.vaccine
    return {
        "resourceType": "Immunization",
        "id": ctx.rid("imm", n),
        "meta": meta(NICTIZ + "zib-Vaccination"),
        "status": "completed",
        "notGiven": False,
        "vaccineCode": {"coding": [coding(ATC_SYSTEM, v.atc, v.display)], "text": v.display},
        "patient": subject(ctx),
        "date": dt(dose.when, 11),
        "primarySource": True,
        "practitioner": [{"actor": performer(ctx)}],
    }


def flu_recommendation(ctx: Context, season: int) -> Resource:
    when = date(season, 10, 1)
    return {
        "resourceType": "ImmunizationRecommendation",
        "id": ctx.rid("immrec", season),
        "meta": meta(NICTIZ + "zib-VaccinationRecommendation"),
        "patient": subject(ctx),
        "recommendation": [{
            "date": dt(when - timedelta(days=30)),
            "vaccineCode": concept(ATC_SYSTEM, "J07BB02", "Influenzavaccin"),
            "forecastStatus": concept("http://hl7.org/fhir/immunization-recommendation-status",
                                      "due", "Due"),
            "dateCriterion": [{"code": concept(LOINC, "30980-7", "Date vaccine due"),
                               "value": when.isoformat()}],
        }],
    }
