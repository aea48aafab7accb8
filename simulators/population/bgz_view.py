"""The BgZ (48) each kind of provider holds: the GP the whole primary-care record, a hospital
its admissions, a pharmacy the medication, a GGZ institution the mental-health part.

Each view is a list of *sections*: (the resource types a section can yield, a function that
renders it). The whole record is every section in order; a search for one resource type runs
only the sections that can yield it (issue 17 item 4: a DVA's cold search builds what it needs).
Filtering the sections' output by type gives exactly the whole record's resources of that type,
in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from simulators.population import fhir_bgz as bgz
from simulators.population import fhir_care as care
from simulators.population.clinical import ClinicalRecord
from simulators.population.demographics import Patient
from simulators.population.fhir_common import Context, Resource
from simulators.population.vaccination import Dose

Section = tuple[frozenset[str], Callable[[], list[Resource]]]

CONDITIONS = frozenset({"Condition"})
ALLERGIES = frozenset({"AllergyIntolerance"})
OBSERVATIONS = frozenset({"Observation", "Specimen"})
GP_CARE = frozenset({"Immunization", "ImmunizationRecommendation", "Consent", "Flag",
                     "NutritionOrder", "Device", "DeviceUseStatement", "Appointment"})
ADMISSIONS = frozenset({"Condition", "Encounter", "Procedure", "Observation"})
PLANNED = frozenset({"ProcedureRequest", "Appointment", "Device", "DeviceRequest"})
_MEDICATION_TYPES = {"r": "MedicationRequest", "s": "MedicationStatement",
                     "d": "MedicationDispense"}
# The types a medication section yields, per kinds ("rs", "r", "sd"): built once, not per view.
_MEDICATION_SECTION = {kinds: frozenset({"Medication", *(_MEDICATION_TYPES[k] for k in kinds)})
                       for kinds in ("rs", "r", "sd")}
_GGZ_MEDICATION = frozenset({"MedicationStatement", "Medication"})


def run(sections: list[Section], out: list[Resource]) -> None:
    """Render every section into ``out``: the whole record."""
    for _types, render in sections:
        out.extend(render())


def _conditions(r: ClinicalRecord, ctx: Context) -> list[Resource]:
    return [bgz.condition(ctx, n, d) for n, d in enumerate(r.diagnoses)]


def _allergies(r: ClinicalRecord, ctx: Context) -> list[Resource]:
    return [bgz.allergy(ctx, n, a) for n, a in enumerate(r.allergies)]


def _cond_ids(r: ClinicalRecord, ctx: Context) -> dict[str, str]:
    """Condition ids by condition key, as :func:`_conditions` numbers them (no rendering)."""
    return {d.condition.key: ctx.rid("cond", n) for n, d in enumerate(r.diagnoses)}


def _common(r: ClinicalRecord, ctx: Context) -> list[Section]:
    """Conditions and allergies, known to every holder."""
    return [(CONDITIONS, lambda: _conditions(r, ctx)), (ALLERGIES, lambda: _allergies(r, ctx))]


def _medication(r: ClinicalRecord, ctx: Context, kinds: str, as_of: date,
                cond_ids: Callable[[], dict[str, str]]) -> Section:
    """Medication agreements (r), use (s) and administration agreements (d), plus products."""

    def render() -> list[Resource]:
        out: list[Resource] = []
        ids = cond_ids() if "r" in kinds and r.medications else {}
        products: dict[str, Resource] = {}
        for n, u in enumerate(r.medications):
            if "r" in kinds:
                out.append(bgz.medication_request(ctx, n, u, ids.get(u.reason.key)))
            if "s" in kinds:
                out.append(bgz.medication_statement(ctx, n, u, as_of))
            if "d" in kinds:
                last = as_of - timedelta(days=5 + (n * 17) % 80)
                out.append(bgz.medication_dispense(ctx, n, u, max(last, u.start)))
            products.setdefault(u.medication.key, bgz.medication(u.medication))
        out.extend(products.values())
        return out

    return _MEDICATION_SECTION[kinds], render


def _observations(p: Patient, r: ClinicalRecord, ctx: Context, as_of: date) -> list[Resource]:
    out = [bgz.vital(ctx, n, m, infant=p.age < 2) for n, m in enumerate(r.measurements)]
    specimens: dict[date, str] = {}
    for n, result in enumerate(r.labs):
        sid = specimens.get(result.when)
        if sid is None:
            spec = bgz.specimen(ctx, len(specimens), result.when)
            out.append(spec)
            sid = specimens[result.when] = spec["id"]
        out.append(bgz.lab(ctx, n, result, sid))
    recorded = (r.contacts[-1].when if r.contacts else as_of - timedelta(days=400))
    if r.smoking:
        out.append(bgz.lifestyle(ctx, "tobacco", r.smoking, recorded))
    if r.alcohol:
        out.append(bgz.lifestyle(ctx, "alcohol", r.alcohol, recorded))
    if r.drugs:
        out.append(bgz.lifestyle(ctx, "drugs", r.drugs, recorded))
    if r.living_alone is not None:
        out.append(bgz.living_situation(ctx, r.living_alone, recorded))
    if r.needs_walking_aid:
        out.append(bgz.functional_status(ctx, recorded))
    return out


def _gp_care(p: Patient, r: ClinicalRecord, flu: list[Dose], ctx: Context,
             as_of: date) -> list[Resource]:
    out: list[Resource] = [care.immunization_stu3(ctx, n, d) for n, d in enumerate(flu)]
    if p.age >= 59:
        out.append(care.flu_recommendation(ctx, as_of.year if as_of.month < 10 else as_of.year + 1))
    if r.resuscitation_refused:
        when = as_of - timedelta(days=200 + p.index % 300)
        ad = care.advance_directive(ctx, when)
        out += [ad, care.treatment_directive(ctx, when, ad["id"])]
    if any(u.medication.key == "apixaban" for u in r.medications):
        out.append(care.alert(ctx, 1, "Gebruikt antistolling (apixaban)", as_of - timedelta(400)))
    if any(a.allergen.key == "peanut" for a in r.allergies):
        out.append(care.alert(ctx, 2, "Ernstige pinda-allergie", r.allergies[0].onset))
    if r.diet:
        out.append(care.nutrition(ctx, r.diet, as_of - timedelta(days=120)))
    if r.hearing_aid:
        since = as_of - timedelta(days=365 * 3)
        out += [care.device(ctx, "hearing"), care.device_use(ctx, "hearing", since)]
    if any(d.condition.key in ("diabetes2", "hypertension", "copd") for d in r.diagnoses):
        out.append(care.appointment(ctx, 1, as_of + timedelta(days=21 + p.index % 60),
                                    "Controle chronische zorg", "booked"))
    return out


def gp_sections(p: Patient, r: ClinicalRecord, flu: Callable[[], list[Dose]], ctx: Context,
                as_of: date) -> list[Section]:
    """``flu``: the flu doses, asked for only when the care section is rendered."""
    return [*_common(r, ctx),
            _medication(r, ctx, "rs", as_of, lambda: _cond_ids(r, ctx)),
            (OBSERVATIONS, lambda: _observations(p, r, ctx, as_of)),
            (GP_CARE, lambda: _gp_care(p, r, flu(), ctx, as_of))]


def _admissions(r: ClinicalRecord, ctx: Context, here: list[int]) -> list[Resource]:
    out: list[Resource] = []
    for n in here:
        adm = r.admissions[n]
        reason = bgz.reason_condition(ctx, n, adm.procedure, adm.start - timedelta(days=30))
        enc = bgz.encounter(ctx, n, adm, reason["id"])
        out += [reason, enc, bgz.procedure(ctx, n, adm, enc["id"], reason["id"])]
        if adm.procedure.stay:
            m = [x for x in r.measurements if x.kind in ("weight", "height")][-2:]
            out.extend(bgz.vital(ctx, 900 + 10 * n + k, x) for k, x in enumerate(m))
    return out


def _planned(p: Patient, r: ClinicalRecord, ctx: Context, as_of: date) -> list[Resource]:
    if r.planned is None:
        return []
    when = as_of + timedelta(days=40 + p.index % 120)
    return [care.procedure_request(ctx, r.planned, when),
            care.appointment(ctx, 2, when, r.planned.display, "booked"),
            care.device(ctx, "cane"), care.device_request(ctx, "cane", as_of - timedelta(9))]


def hospital_sections(p: Patient, r: ClinicalRecord, ctx: Context, as_of: date,
                      here: list[int]) -> list[Section]:
    """``here``: indices of the admissions at this hospital."""
    return [*_common(r, ctx),
            _medication(r, ctx, "r", as_of, lambda: _cond_ids(r, ctx)),
            (ADMISSIONS, lambda: _admissions(r, ctx, here)),
            (PLANNED, lambda: _planned(p, r, ctx, as_of))]


def pharmacy_sections(r: ClinicalRecord, ctx: Context, as_of: date) -> list[Section]:
    return [(ALLERGIES, lambda: _allergies(r, ctx)), _medication(r, ctx, "sd", as_of, dict)]


def _ggz(r: ClinicalRecord, ctx: Context, as_of: date) -> list[Resource]:
    out: list[Resource] = []
    for n, u in enumerate(u for u in r.medications if u.reason.key == "depression"):
        out.append(bgz.medication_statement(ctx, n, u, as_of))
        out.append(bgz.medication(u.medication))
    return out


def ggz_sections(r: ClinicalRecord, ctx: Context, as_of: date) -> list[Section]:
    depression = [d for d in r.diagnoses if d.condition.key == "depression"]
    return [(CONDITIONS, lambda: [bgz.condition(ctx, n, d) for n, d in enumerate(depression)]),
            (_GGZ_MEDICATION, lambda: _ggz(r, ctx, as_of))]


def other_sections(r: ClinicalRecord, ctx: Context) -> list[Section]:
    return _common(r, ctx)


# -- the whole views, as before (kept for callers that want every resource) -------------------
def gp_bgz(p: Patient, r: ClinicalRecord, flu: list[Dose], ctx: Context, out: list[Resource],
           as_of: date) -> None:
    run(gp_sections(p, r, lambda: flu, ctx, as_of), out)


def hospital_bgz(p: Patient, r: ClinicalRecord, ctx: Context, out: list[Resource], as_of: date,
                 here: list[int]) -> None:
    run(hospital_sections(p, r, ctx, as_of, here), out)


def pharmacy_bgz(r: ClinicalRecord, ctx: Context, out: list[Resource], as_of: date) -> None:
    run(pharmacy_sections(r, ctx, as_of), out)


def ggz_bgz(r: ClinicalRecord, ctx: Context, out: list[Resource], as_of: date) -> None:
    run(ggz_sections(r, ctx, as_of), out)


def other_bgz(r: ClinicalRecord, ctx: Context, out: list[Resource]) -> None:
    run(other_sections(r, ctx), out)
