"""BgZ (gegevensdienst 48, FHIR STU3, zib2017) resources cut from a ``ClinicalRecord``.

Each function renders one zib; the token fields the BgZ searches of SPEC.md section 4 match on
(Observation.code/category, *.category, Encounter.class, *.status) carry real codings.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from simulators.medmij import LOINC, UCUM
from simulators.population.catalog import GPK, PRK, LabDef, MedicationDef, ProcedureDef
from simulators.population.clinical import (
    Admission,
    Allergy,
    Diagnosis,
    LabResult,
    Measurement,
    MedicationUse,
)
from simulators.population.fhir_common import (
    NICTIZ,
    Context,
    Resource,
    coding,
    concept,
    dt,
    holder_ref,
    ident,
    meta,
    performer,
    quantity,
    ref,
    snomed,
    subject,
)

VITAL_SIGNS = concept("http://hl7.org/fhir/observation-category", "vital-signs", "Vital Signs")
LAB_CATEGORY = [
    concept("http://hl7.org/fhir/observation-category", "laboratory", "Laboratory"),
    snomed("275711006", "Chemistry procedure"),
]
MEDICATION_USE_CATEGORY = concept("urn:oid:2.16.840.1.113883.2.4.3.11.60.20.77.5.3", "6",
                                  "Medicatiegebruik")
SOCIAL_HISTORY = concept("http://hl7.org/fhir/observation-category", "social-history",
                         "Social History")


def condition(ctx: Context, n: int, d: Diagnosis) -> Resource:
    c = d.condition
    return {
        "resourceType": "Condition",
        "id": ctx.rid("cond", n),
        "meta": meta(NICTIZ + "zib-Problem"),
        "clinicalStatus": "active",
        "verificationStatus": "confirmed",
        "category": [snomed("282291009", "Diagnose")],
        "code": snomed(c.snomed, c.display),  # SNOMED only, as the BgZ fixtures
        "subject": subject(ctx),
        "onsetDateTime": d.onset.isoformat(),
        "asserter": performer(ctx),
    }


def reason_condition(ctx: Context, n: int, proc: ProcedureDef, onset: date) -> Resource:
    code, display = proc.reason
    return {
        "resourceType": "Condition",
        "id": ctx.rid("cond", f"adm{n}"),
        "meta": meta(NICTIZ + "zib-Problem"),
        "clinicalStatus": "resolved" if proc.key not in ("knee", "hip", "cataract") else "active",
        "verificationStatus": "confirmed",
        "category": [snomed("282291009", "Diagnose")],
        "code": snomed(code, display),
        "subject": subject(ctx),
        "onsetDateTime": onset.isoformat(),
    }


_CRITICALITY = {"peanut": "high", "penicillin": "high"}


def allergy(ctx: Context, n: int, a: Allergy) -> Resource:
    al = a.allergen
    code, display = al.reaction
    return {
        "resourceType": "AllergyIntolerance",
        "id": ctx.rid("alg", n),
        "meta": meta(NICTIZ + "zib-AllergyIntolerance"),
        "clinicalStatus": "active",
        "verificationStatus": "confirmed",
        "category": [al.category],
        "criticality": _CRITICALITY.get(al.key, "low"),
        "code": snomed(al.snomed, al.display),
        "patient": subject(ctx),
        "onsetDateTime": a.onset.isoformat(),
        "reaction": [{"manifestation": [snomed(code, display)]}],
    }


def medication(m: MedicationDef) -> Resource:
    """A zib-Product; shared by everyone using it, so its id depends on the product only.
    Coded as the Nictiz zib-Product fixtures: G-Standaard PRK and GPK (no ATC)."""
    codings = [coding(PRK, *m.prk)]
    if m.gpk:
        codings.append(coding(GPK, *m.gpk))
    return {
        "resourceType": "Medication",
        "id": f"med-{m.atc.lower()}",
        "meta": meta(NICTIZ + "zib-Product"),
        "code": {"coding": codings, "text": m.display},
    }


def _dosage(m: MedicationDef) -> list[dict[str, object]]:
    return [{
        "sequence": 1,
        "text": m.dosage,
        "timing": {"repeat": {"frequency": m.per_day if m.per_day <= 3 else 3, "period": 1,
                              "periodUnit": "d"}},
        "route": concept("urn:oid:2.16.840.1.113883.2.4.4.9",
                         *(("53", "Inhalatie") if m.atc.startswith("R03") else ("9", "Oraal"))),
    }]


def medication_request(ctx: Context, n: int, u: MedicationUse, cond_id: str | None) -> Resource:
    m = u.medication
    res: Resource = {
        "resourceType": "MedicationRequest",
        "id": ctx.rid("mr", n),
        "meta": meta(NICTIZ + "zib-MedicationAgreement"),
        "extension": [{"url": NICTIZ + "zib-Medication-PeriodOfUse",
                       "valuePeriod": {"start": dt(u.start, 0)}}],
        "identifier": ident(ctx.rid("mr", n)),
        "intent": "order",
        "category": snomed("16076005", "Voorschrijven (verrichting)"),  # STU3: 0..1
        "medicationReference": ref("Medication", f"med-{m.atc.lower()}", m.display),
        "subject": subject(ctx),
        "authoredOn": dt(u.start, 11),
        "requester": {"agent": performer(ctx)},
        "dosageInstruction": _dosage(m),
    }
    if cond_id:
        res["reasonReference"] = [ref("Condition", cond_id, u.reason.display)]
    return res


def medication_statement(ctx: Context, n: int, u: MedicationUse, as_of: date) -> Resource:
    m = u.medication
    return {
        "resourceType": "MedicationStatement",
        "id": ctx.rid("ms", n),
        "meta": meta(NICTIZ + "zib-MedicationUse"),
        "identifier": ident(ctx.rid("ms", n)),
        "status": "active",
        "category": MEDICATION_USE_CATEGORY,
        "medicationReference": ref("Medication", f"med-{m.atc.lower()}", m.display),
        "effectivePeriod": {"start": dt(u.start, 0)},
        "dateAsserted": dt(as_of - timedelta(days=30), 10),
        "subject": subject(ctx),
        "taken": "y",
        "reasonCode": [{"text": u.reason.display}],
        "dosage": _dosage(m),
    }


def medication_dispense(ctx: Context, n: int, u: MedicationUse, when: date) -> Resource:
    m = u.medication
    return {
        "resourceType": "MedicationDispense",
        "id": ctx.rid("md", n),
        "meta": meta(NICTIZ + "zib-AdministrationAgreement"),
        "extension": [{"url": NICTIZ + "zib-AdministrationAgreement-AuthoredOn",
                       "valueDateTime": dt(when, 9)}],
        "identifier": ident(ctx.rid("md", n)),
        "status": "completed",
        "category": snomed("422037009", "Provider medication administration instructions"),
        "medicationReference": ref("Medication", f"med-{m.atc.lower()}", m.display),
        "subject": subject(ctx),
        "performer": [{"actor": holder_ref(ctx)}],
        "quantity": quantity(90 * m.per_day, "stuk", "1"),
        "daysSupply": quantity(90, "dag", "d"),
        "whenHandedOver": dt(when, 15),
        "dosageInstruction": _dosage(m),
    }


def _observation(ctx: Context, rid: str, profile: str, code: dict[str, object], when: date,
                 category: dict[str, object] | list[dict[str, object]] | None) -> Resource:
    res: Resource = {
        "resourceType": "Observation",
        "id": rid,
        "meta": meta(NICTIZ + profile),
        "status": "final",
        "code": code,
        "subject": subject(ctx),
        "effectiveDateTime": dt(when),
        "performer": [performer(ctx)],
    }
    if category is not None:
        res["category"] = category if isinstance(category, list) else [category]
    return res


_BP = concept(LOINC, "85354-9", "Bloeddruk")
_SYS = concept(LOINC, "8480-6", "Systolische bloeddruk")
_DIA = concept(LOINC, "8462-4", "Diastolische bloeddruk")
_WEIGHT = concept(LOINC, "29463-7", "Lichaamsgewicht")
_HEIGHT = concept(LOINC, "8302-2", "Lichaamslengte")
_LENGTH_LYING = concept(LOINC, "8306-3", "Lichaamslengte liggend")


def vital(ctx: Context, n: int, m: Measurement, infant: bool = False) -> Resource:
    rid = ctx.rid("obs", f"v{n}")
    if m.kind == "bp":
        res = _observation(ctx, rid, "zib-BloodPressure", _BP, m.when, VITAL_SIGNS)
        res["component"] = [
            {"code": _SYS, "valueQuantity": quantity(m.values[0], "mmHg", "mm[Hg]")},
            {"code": _DIA, "valueQuantity": quantity(m.values[1], "mmHg", "mm[Hg]")},
        ]
    elif m.kind == "weight":
        res = _observation(ctx, rid, "zib-BodyWeight", _WEIGHT, m.when, VITAL_SIGNS)
        res["valueQuantity"] = quantity(m.values[0], "kg")
    else:
        code = _LENGTH_LYING if infant else _HEIGHT
        res = _observation(ctx, rid, "zib-BodyHeight", code, m.when, VITAL_SIGNS)
        res["valueQuantity"] = quantity(m.values[0], "cm")
    return res


def specimen(ctx: Context, n: int, when: date) -> Resource:
    return {
        "resourceType": "Specimen",
        "id": ctx.rid("spec", n),
        "meta": meta(NICTIZ + "zib-LaboratoryTestResult-Specimen"),
        "type": snomed("119297000", "Bloed"),
        "subject": subject(ctx),
        "collection": {"collectedDateTime": dt(when, 8)},
    }


@lru_cache(maxsize=256)  # one per lab test of the catalog, shared (see fhir_common)
def _reference_range(t: LabDef) -> list[dict[str, object]]:
    return [{"low": {"value": t.low, "unit": t.unit, "system": UCUM, "code": t.unit},
             "high": {"value": t.high, "unit": t.unit, "system": UCUM, "code": t.unit}}]


def lab(ctx: Context, n: int, result: LabResult, specimen_id: str) -> Resource:
    t = result.test
    res = _observation(ctx, ctx.rid("obs", f"l{n}"), "zib-LaboratoryTestResult-Observation",
                       concept(LOINC, t.loinc, t.display), result.when, LAB_CATEGORY)
    res["valueQuantity"] = {"value": result.value, "unit": t.unit, "system": UCUM, "code": t.unit}
    res["referenceRange"] = _reference_range(t)
    flag = "H" if result.value > t.high else "L" if result.value < t.low else None
    if flag:
        res["interpretation"] = concept("http://hl7.org/fhir/v2/0078", flag,
                                        "Hoog" if flag == "H" else "Laag")
    res["specimen"] = ref("Specimen", specimen_id, "Bloed")  # every Reference: a display
    return res


_SMOKING = {"current": ("77176002", "Roker"), "ex": ("8517006", "Ex-roker"),
            "never": ("266919005", "Nooit gerookt")}
_ALCOHOL = {"current": ("219006", "Gebruikt alcohol"), "ex": ("82581004", "Ex-drinker"),
            "none": ("105542008", "Drinkt geen alcohol")}
_DRUGS = {"current": ("417284009", "Gebruikt drugs"), "ex": ("44870007", "Gebruikte drugs")}


def lifestyle(ctx: Context, kind: str, status: str, when: date) -> Resource:
    """TobaccoUse (365980008), AlcoholUse (228273003) or DrugUse (228366006)."""
    table, code, display, profile = {
        "tobacco": (_SMOKING, "365980008", "Tabakgebruik", "zib-TobaccoUse"),
        "alcohol": (_ALCOHOL, "228273003", "Alcoholgebruik", "zib-AlcoholUse"),
        "drugs": (_DRUGS, "228366006", "Drugsgebruik", "zib-DrugUse"),
    }[kind]
    res = _observation(ctx, ctx.rid("obs", kind), profile, snomed(code, display), when,
                       SOCIAL_HISTORY)
    res["valueCodeableConcept"] = snomed(*table[status])
    return res


def living_situation(ctx: Context, alone: bool, when: date) -> Resource:
    res = _observation(ctx, ctx.rid("obs", "living"), "zib-LivingSituation",
                       snomed("365508006", "Woonsituatie"), when, SOCIAL_HISTORY)
    res["valueCodeableConcept"] = (snomed("105529008", "Woont alleen") if alone
                                   else snomed("447051007", "Woont met partner"))
    return res


def functional_status(ctx: Context, when: date) -> Resource:
    res = _observation(ctx, ctx.rid("obs", "func"), "zib-FunctionalOrMentalStatus",
                       snomed("301438001", "Mobiliteit"), when,
                       snomed("118228005", "Functionele bevinding"))
    res["valueCodeableConcept"] = snomed("165245003", "Loopt met hulpmiddel")
    return res


def encounter(ctx: Context, n: int, adm: Admission, reason_id: str) -> Resource:
    cls = {"IMP": "inpatient encounter", "ACUTE": "inpatient acute",
           "SS": "short stay", "NONAC": "inpatient non-acute"}[adm.encounter_class]
    return {
        "resourceType": "Encounter",
        "id": ctx.rid("enc", n),
        "meta": meta(NICTIZ + "zib-Encounter"),
        "identifier": ident(ctx.rid("enc", n)),
        "status": "finished",
        "class": coding("http://hl7.org/fhir/v3/ActCode", adm.encounter_class, cls),
        "subject": subject(ctx),
        "participant": [{"individual": performer(ctx)}],
        "period": {"start": dt(adm.start, 8), "end": dt(adm.end, 16)},
        "diagnosis": [{"condition": ref("Condition", reason_id, adm.procedure.reason[1])}],
        "serviceProvider": holder_ref(ctx),
    }


def procedure(ctx: Context, n: int, adm: Admission, encounter_id: str, reason_id: str) -> Resource:
    p = adm.procedure
    return {
        "resourceType": "Procedure",
        "id": ctx.rid("proc", n),
        "meta": meta(NICTIZ + "zib-Procedure"),
        "status": "completed",
        "category": snomed("387713003", "Chirurgische verrichting"),
        "code": snomed(p.snomed, p.display),
        "subject": subject(ctx),
        "context": ref("Encounter", encounter_id),
        "performedPeriod": {"start": dt(adm.start, 9), "end": dt(adm.start, 11)},
        "performer": [{"actor": performer(ctx)}],
        "reasonReference": [ref("Condition", reason_id, p.reason[1])],
    }
