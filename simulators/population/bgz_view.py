"""The BgZ (48) each kind of provider holds: the GP the whole primary-care record, a hospital
its admissions, a pharmacy the medication, a GGZ institution the mental-health part."""

from __future__ import annotations

from datetime import date, timedelta

from simulators.population import fhir_bgz as bgz
from simulators.population import fhir_care as care
from simulators.population.clinical import Record
from simulators.population.demographics import Patient
from simulators.population.fhir_common import Context, Resource
from simulators.population.vaccination import Dose


def _common(r: Record, ctx: Context, out: list[Resource]) -> dict[str, str]:
    """Conditions and allergies, known to every holder; returns condition ids by key."""
    cond_ids: dict[str, str] = {}
    for n, d in enumerate(r.diagnoses):
        res = bgz.condition(ctx, n, d)
        cond_ids[d.condition.key] = res["id"]
        out.append(res)
    out.extend(bgz.allergy(ctx, n, a) for n, a in enumerate(r.allergies))
    return cond_ids


def _medication(r: Record, ctx: Context, out: list[Resource], kinds: str, as_of: date,
                cond_ids: dict[str, str]) -> None:
    """Medication agreements (r), use (s) and administration agreements (d), plus products."""
    products: dict[str, Resource] = {}
    for n, u in enumerate(r.medications):
        if "r" in kinds:
            out.append(bgz.medication_request(ctx, n, u, cond_ids.get(u.reason.key)))
        if "s" in kinds:
            out.append(bgz.medication_statement(ctx, n, u, as_of))
        if "d" in kinds:
            last = as_of - timedelta(days=5 + (n * 17) % 80)
            out.append(bgz.medication_dispense(ctx, n, u, max(last, u.start)))
        products.setdefault(u.medication.key, bgz.medication(u.medication))
    out.extend(products.values())


def _observations(p: Patient, r: Record, ctx: Context, out: list[Resource], as_of: date) -> None:
    for n, m in enumerate(r.measurements):
        out.append(bgz.vital(ctx, n, m, infant=p.age < 2))
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


def gp_bgz(p: Patient, r: Record, flu: list[Dose], ctx: Context, out: list[Resource],
           as_of: date) -> None:
    cond_ids = _common(r, ctx, out)
    _medication(r, ctx, out, "rs", as_of, cond_ids)
    _observations(p, r, ctx, out, as_of)
    out.extend(care.immunization_stu3(ctx, n, d) for n, d in enumerate(flu))
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


def hospital_bgz(p: Patient, r: Record, ctx: Context, out: list[Resource], as_of: date,
                 here: list[int]) -> None:
    """``here``: indices of the admissions at this hospital."""
    cond_ids = _common(r, ctx, out)
    _medication(r, ctx, out, "r", as_of, cond_ids)
    for n in here:
        adm = r.admissions[n]
        reason = bgz.reason_condition(ctx, n, adm.procedure, adm.start - timedelta(days=30))
        enc = bgz.encounter(ctx, n, adm, reason["id"])
        out += [reason, enc, bgz.procedure(ctx, n, adm, enc["id"], reason["id"])]
        if adm.procedure.stay:
            m = [x for x in r.measurements if x.kind in ("weight", "height")][-2:]
            out.extend(bgz.vital(ctx, 900 + 10 * n + k, x) for k, x in enumerate(m))
    if r.planned is not None:
        when = as_of + timedelta(days=40 + p.index % 120)
        out.append(care.procedure_request(ctx, r.planned, when))
        out.append(care.appointment(ctx, 2, when, r.planned.display, "booked"))
        out += [care.device(ctx, "cane"), care.device_request(ctx, "cane", as_of - timedelta(9))]


def pharmacy_bgz(r: Record, ctx: Context, out: list[Resource], as_of: date) -> None:
    out.extend(bgz.allergy(ctx, n, a) for n, a in enumerate(r.allergies))
    _medication(r, ctx, out, "sd", as_of, {})


def ggz_bgz(r: Record, ctx: Context, out: list[Resource], as_of: date) -> None:
    depression = [d for d in r.diagnoses if d.condition.key == "depression"]
    out.extend(bgz.condition(ctx, n, d) for n, d in enumerate(depression))
    meds = [u for u in r.medications if u.reason.key == "depression"]
    for n, u in enumerate(meds):
        out.append(bgz.medication_statement(ctx, n, u, as_of))
        out.append(bgz.medication(u.medication))


def other_bgz(r: Record, ctx: Context, out: list[Resource]) -> None:
    _common(r, ctx, out)
