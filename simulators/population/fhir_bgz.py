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


# Constant parts, built once and shared by every resource (see fhir_common on sharing): a
# person has ~45 resources, and each call with a constant argument costs a lookup.
_PROBLEM = meta(NICTIZ + "zib-Problem")
_DIAGNOSIS = [snomed("282291009", "Diagnose")]


def condition(ctx: Context, n: int, d: Diagnosis) -> Resource:
    c = d.condition
    return {
        "resourceType": "Condition",
        "id": ctx.rid("cond", n),
        "meta": _PROBLEM,
        "clinicalStatus": "active",
        "verificationStatus": "confirmed",
        "category": _DIAGNOSIS,
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
        "meta": _PROBLEM,
        "clinicalStatus": "resolved" if proc.key not in ("knee", "hip", "cataract") else "active",
        "verificationStatus": "confirmed",
        "category": _DIAGNOSIS,
        "code": snomed(code, display),
        "subject": subject(ctx),
        "onsetDateTime": onset.isoformat(),
    }


_CRITICALITY = {"peanut": "high", "penicillin": "high"}
_ALLERGY = meta(NICTIZ + "zib-AllergyIntolerance")


def allergy(ctx: Context, n: int, a: Allergy) -> Resource:
    al = a.allergen
    code, display = al.reaction
    return {
        "resourceType": "AllergyIntolerance",
        "id": ctx.rid("alg", n),
        "meta": _ALLERGY,
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
    Coded as the Nictiz zib-Product fixtures: G-Standaard PRK and GPK (no ATC). A fresh
    top-level dict (callers may set keys) over the product's cached content."""
    return dict(_medication(m))


@lru_cache(maxsize=256)  # the catalogue's products: everything about one is constant
def _medication(m: MedicationDef) -> Resource:
    codings = [coding(PRK, *m.prk)]
    if m.gpk:
        codings.append(coding(GPK, *m.gpk))
    return {
        "resourceType": "Medication",
        "id": f"med-{m.atc.lower()}",
        "meta": meta(NICTIZ + "zib-Product"),
        "code": {"coding": codings, "text": m.display},
    }


@lru_cache(maxsize=256)
def _medication_ref(m: MedicationDef) -> dict[str, str]:
    return ref("Medication", f"med-{m.atc.lower()}", m.display)


@lru_cache(maxsize=256)  # per product, shared by its agreements, uses and dispenses
def _dosage(m: MedicationDef) -> list[dict[str, object]]:
    return [{
        "sequence": 1,
        "text": m.dosage,
        "timing": {"repeat": {"frequency": m.per_day if m.per_day <= 3 else 3, "period": 1,
                              "periodUnit": "d"}},
        "route": concept("urn:oid:2.16.840.1.113883.2.4.4.9",
                         *(("53", "Inhalatie") if m.atc.startswith("R03") else ("9", "Oraal"))),
    }]


_AGREEMENT = meta(NICTIZ + "zib-MedicationAgreement")
_PRESCRIBING = snomed("16076005", "Voorschrijven (verrichting)")
_USE = meta(NICTIZ + "zib-MedicationUse")
_ADMINISTRATION = meta(NICTIZ + "zib-AdministrationAgreement")
_ADMINISTRATION_CATEGORY = snomed("422037009", "Provider medication administration instructions")


def medication_request(ctx: Context, n: int, u: MedicationUse, cond_id: str | None) -> Resource:
    m, rid = u.medication, ctx.rid("mr", n)
    res: Resource = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "meta": _AGREEMENT,
        "extension": [{"url": NICTIZ + "zib-Medication-PeriodOfUse",
                       "valuePeriod": {"start": dt(u.start, 0)}}],
        "identifier": ident(rid),
        "intent": "order",
        "category": _PRESCRIBING,  # STU3: 0..1
        "medicationReference": _medication_ref(m),
        "subject": subject(ctx),
        "authoredOn": dt(u.start, 11),
        "requester": {"agent": performer(ctx)},
        "dosageInstruction": _dosage(m),
    }
    if cond_id:
        res["reasonReference"] = [ref("Condition", cond_id, u.reason.display)]
    return res


def medication_statement(ctx: Context, n: int, u: MedicationUse, as_of: date) -> Resource:
    m, rid = u.medication, ctx.rid("ms", n)
    return {
        "resourceType": "MedicationStatement",
        "id": rid,
        "meta": _USE,
        "identifier": ident(rid),
        "status": "active",
        "category": MEDICATION_USE_CATEGORY,
        "medicationReference": _medication_ref(m),
        "effectivePeriod": {"start": dt(u.start, 0)},
        "dateAsserted": dt(as_of - timedelta(days=30), 10),
        "subject": subject(ctx),
        "taken": "y",
        "reasonCode": [{"text": u.reason.display}],
        "dosage": _dosage(m),
    }


def medication_dispense(ctx: Context, n: int, u: MedicationUse, when: date) -> Resource:
    m, rid = u.medication, ctx.rid("md", n)
    return {
        "resourceType": "MedicationDispense",
        "id": rid,
        "meta": _ADMINISTRATION,
        "extension": [{"url": NICTIZ + "zib-AdministrationAgreement-AuthoredOn",
                       "valueDateTime": dt(when, 9)}],
        "identifier": ident(rid),
        "status": "completed",
        "category": _ADMINISTRATION_CATEGORY,
        "medicationReference": _medication_ref(m),
        "subject": subject(ctx),
        "performer": [{"actor": holder_ref(ctx)}],
        "quantity": quantity(90 * m.per_day, "stuk", "1"),
        "daysSupply": quantity(90, "dag", "d"),
        "whenHandedOver": dt(when, 15),
        "dosageInstruction": _dosage(m),
    }


def _observation(ctx: Context, rid: str, meta_: dict[str, list[str]], code: dict[str, object],
                 when: date, category: list[dict[str, object]] | None) -> Resource:
    res: Resource = {
        "resourceType": "Observation",
        "id": rid,
        "meta": meta_,
        "status": "final",
        "code": code,
        "subject": subject(ctx),
        "effectiveDateTime": dt(when),
        "performer": [performer(ctx)],
    }
    if category is not None:
        res["category"] = category
    return res


_VITAL_SIGNS = [VITAL_SIGNS]
_BLOOD_PRESSURE = meta(NICTIZ + "zib-BloodPressure")
_BODY_WEIGHT = meta(NICTIZ + "zib-BodyWeight")
_BODY_HEIGHT = meta(NICTIZ + "zib-BodyHeight")
_BP = concept(LOINC, "85354-9", "Bloeddruk")
_SYS = concept(LOINC, "8480-6", "Systolische bloeddruk")
_DIA = concept(LOINC, "8462-4", "Diastolische bloeddruk")
_WEIGHT = concept(LOINC, "29463-7", "Lichaamsgewicht")
_HEIGHT = concept(LOINC, "8302-2", "Lichaamslengte")
_LENGTH_LYING = concept(LOINC, "8306-3", "Lichaamslengte liggend")


def vital(ctx: Context, n: int, m: Measurement, infant: bool = False) -> Resource:
    rid = ctx.rid("obs", f"v{n}")
    if m.kind == "bp":
        res = _observation(ctx, rid, _BLOOD_PRESSURE, _BP, m.when, _VITAL_SIGNS)
        res["component"] = [
            {"code": _SYS, "valueQuantity": quantity(m.values[0], "mmHg", "mm[Hg]")},
            {"code": _DIA, "valueQuantity": quantity(m.values[1], "mmHg", "mm[Hg]")},
        ]
    elif m.kind == "weight":
        res = _observation(ctx, rid, _BODY_WEIGHT, _WEIGHT, m.when, _VITAL_SIGNS)
        res["valueQuantity"] = quantity(m.values[0], "kg")
    else:
        code = _LENGTH_LYING if infant else _HEIGHT
        res = _observation(ctx, rid, _BODY_HEIGHT, code, m.when, _VITAL_SIGNS)
        res["valueQuantity"] = quantity(m.values[0], "cm")
    return res


_SPECIMEN = meta(NICTIZ + "zib-LaboratoryTestResult-Specimen")
_BLOOD = snomed("119297000", "Bloed")


def specimen(ctx: Context, n: int, when: date) -> Resource:
    return {
        "resourceType": "Specimen",
        "id": ctx.rid("spec", n),
        "meta": _SPECIMEN,
        "type": _BLOOD,
        "subject": subject(ctx),
        "collection": {"collectedDateTime": dt(when, 8)},
    }


@lru_cache(maxsize=256)  # one per lab test of the catalog, shared (see fhir_common)
def _reference_range(t: LabDef) -> list[dict[str, object]]:
    return [{"low": {"value": t.low, "unit": t.unit, "system": UCUM, "code": t.unit},
             "high": {"value": t.high, "unit": t.unit, "system": UCUM, "code": t.unit}}]


_LAB = meta(NICTIZ + "zib-LaboratoryTestResult-Observation")
_FLAGS = {flag: concept("http://hl7.org/fhir/v2/0078", flag, display)
          for flag, display in (("H", "Hoog"), ("L", "Laag"))}


def lab(ctx: Context, n: int, result: LabResult, specimen_id: str) -> Resource:
    t = result.test
    res = lab_result(ctx, ctx.rid("obs", f"l{n}"), _LAB, concept(LOINC, t.loinc, t.display),
                     LAB_CATEGORY, result)
    res["specimen"] = ref("Specimen", specimen_id, "Bloed")  # every Reference: a display
    return res


def lab_result(ctx: Context, rid: str, meta_: dict[str, list[str]], code: dict[str, object],
               category: list[dict[str, object]], result: LabResult) -> Resource:
    """A lab result's Observation as the BgZ (:func:`lab`) and the GP (``fhir_gp.gp_lab``)
    both code it, with their own id, profile, code and category."""
    t = result.test
    res = _observation(ctx, rid, meta_, code, result.when, category)
    res["valueQuantity"] = {"value": result.value, "unit": t.unit, "system": UCUM, "code": t.unit}
    res["referenceRange"] = _reference_range(t)
    flag = "H" if result.value > t.high else "L" if result.value < t.low else None
    if flag:
        res["interpretation"] = _FLAGS[flag]
    return res


_SMOKING = {"current": ("77176002", "Roker"), "ex": ("8517006", "Ex-roker"),
            "never": ("266919005", "Nooit gerookt")}
_ALCOHOL = {"current": ("219006", "Gebruikt alcohol"), "ex": ("82581004", "Ex-drinker"),
            "none": ("105542008", "Drinkt geen alcohol")}
_DRUGS = {"current": ("417284009", "Gebruikt drugs"), "ex": ("44870007", "Gebruikte drugs")}


_LIFESTYLE = {  # kind: (value codes by status, code, meta)
    "tobacco": (_SMOKING, snomed("365980008", "Tabakgebruik"), meta(NICTIZ + "zib-TobaccoUse")),
    "alcohol": (_ALCOHOL, snomed("228273003", "Alcoholgebruik"), meta(NICTIZ + "zib-AlcoholUse")),
    "drugs": (_DRUGS, snomed("228366006", "Drugsgebruik"), meta(NICTIZ + "zib-DrugUse")),
}
_SOCIAL_HISTORY = [SOCIAL_HISTORY]


def lifestyle(ctx: Context, kind: str, status: str, when: date) -> Resource:
    """TobaccoUse (365980008), AlcoholUse (228273003) or DrugUse (228366006)."""
    table, code, meta_ = _LIFESTYLE[kind]
    res = _observation(ctx, ctx.rid("obs", kind), meta_, code, when, _SOCIAL_HISTORY)
    res["valueCodeableConcept"] = snomed(*table[status])
    return res


def living_situation(ctx: Context, alone: bool, when: date) -> Resource:
    res = _observation(ctx, ctx.rid("obs", "living"), meta(NICTIZ + "zib-LivingSituation"),
                       snomed("365508006", "Woonsituatie"), when, _SOCIAL_HISTORY)
    res["valueCodeableConcept"] = (snomed("105529008", "Woont alleen") if alone
                                   else snomed("447051007", "Woont met partner"))
    return res


def functional_status(ctx: Context, when: date) -> Resource:
    res = _observation(ctx, ctx.rid("obs", "func"), meta(NICTIZ + "zib-FunctionalOrMentalStatus"),
                       snomed("301438001", "Mobiliteit"), when,
                       [snomed("118228005", "Functionele bevinding")])
    res["valueCodeableConcept"] = snomed("165245003", "Loopt met hulpmiddel")
    return res


def encounter(ctx: Context, n: int, adm: Admission, reason_id: str) -> Resource:
    cls = {"IMP": "inpatient encounter", "ACUTE": "inpatient acute",
           "SS": "short stay", "NONAC": "inpatient non-acute"}[adm.encounter_class]
    rid = ctx.rid("enc", n)
    return {
        "resourceType": "Encounter",
        "id": rid,
        "meta": meta(NICTIZ + "zib-Encounter"),
        "identifier": ident(rid),
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
