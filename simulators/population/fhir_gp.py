"""Huisartsgegevens (gegevensdienst 49, STU3, HG 2.0): the GP's episodes (EpisodeOfCare),
consultations (Encounter) with their SOAP journal (Composition), medication, allergies and lab
results (gp-LaboratoryResult).

A GP lab result is coded as the Huisartsgegevens fixtures do (Nictiz-testscripts
``output/STU3/GenPractData-2-0/MedMij/Cert/_reference/resources-query-send/
medmij-gpdata-observation-contact14-fastingglucose.xml``): profile gp-LaboratoryResult,
category SNOMED 49581000146104, code NHG Tabel 45, here followed by LOINC. The PGO's 49 lab
query (``code=<NHG Tabel 45>|``) selects on NHG Tabel 45, so every lab test the GP records
has a sourced NHG code (see ``catalog``): a LOINC-only result would never reach a PGO."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from simulators.medmij import LOINC, SNOMED
from simulators.population import fhir_bgz as bgz
from simulators.population.bgz_view import Section
from simulators.population.catalog import ICPC, NHG45, LabDef
from simulators.population.clinical import ClinicalRecord, GpContact, LabResult
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
    ref,
    subject,
)

_SOAP = (("S", "Subjectief"), ("O", "Objectief"), ("E", "Evaluatie"), ("P", "Plan"))
_SOAP_SYSTEM = "http://hl7.org/fhir/v3/ActCode"  # stand-in; HG 2.0 uses NHG Tabel 14 codes
_JOURNAL = {
    True: ("Komt voor controle.", "RR en gewicht gemeten.", "Stabiel.", "Beleid ongewijzigd."),
    False: ("Klachten sinds enkele dagen.", "Lichamelijk onderzoek zonder bijzonderheden.",
            "Waarschijnlijk self-limiting.", "Uitleg gegeven; terug bij aanhouden klachten."),
}


def _episode_id(ctx: Context, icpc: str) -> str:
    return ctx.rid("eoc", icpc.replace(".", ""))


_EPISODE = meta(NICTIZ + "gp-EpisodeOfCare")
_EPISODE_TITLE = NICTIZ + "EpisodeOfCare-Title"


def episode(ctx: Context, icpc: str, name: str, start: date, active: bool) -> Resource:
    rid = _episode_id(ctx, icpc)
    return {
        "resourceType": "EpisodeOfCare",
        "id": rid,
        "meta": _EPISODE,
        "extension": [{"url": _EPISODE_TITLE, "valueString": name}],
        "identifier": ident(rid),
        "status": "active" if active else "finished",
        "type": [concept(ICPC, icpc, name)],
        "patient": subject(ctx),
        "managingOrganization": holder_ref(ctx),
        "period": {"start": start.isoformat()},
        "careManager": performer(ctx),
    }


_AMBULATORY = coding("http://hl7.org/fhir/v3/ActCode", "AMB", "ambulatory")
_CONSULT_TYPE = [concept("urn:oid:2.16.840.1.113883.2.4.4.30.14", "01", "Consult")]
_NOTE_TYPE = concept(LOINC, "67781-5", "Summarization of encounter note")
_ENCOUNTER = meta(NICTIZ + "gp-Encounter")
_REPORT = meta(NICTIZ + "gp-EncounterReport")
# The SOAP sections of a journal entry depend only on whether the contact was chronic care:
# built once, shared by every Composition (same bytes; see fhir_common on sharing).
_SECTIONS = {
    chronic: [
        {"title": title, "code": concept(_SOAP_SYSTEM, code, title),
         "text": {"status": "generated",
                  "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{text}</div>'}}
        for (code, title), text in zip(_SOAP, texts, strict=True)
    ]
    for chronic, texts in _JOURNAL.items()
}


@lru_cache(maxsize=1 << 12)  # consultation days of the last few years
def _consult_day(when: date) -> tuple[str, dict[str, str]]:
    """("Consult dd-mm-yyyy", the consultation's period): strftime is slow, days repeat."""
    return (f"Consult {when:%d-%m-%Y}",
            {"start": dt(when, 9), "end": f"{when.isoformat()}T09:10:00+01:00"})


_Refs = list[dict[str, str]]


def encounter(ctx: Context, n: int, c: GpContact, episode: _Refs,
              participant: list[dict[str, object]]) -> Resource:
    """``episode`` and ``participant``: from :func:`_encounter_parts`, shared by the person's
    encounters."""
    rid = ctx.rid("genc", n)
    return {
        "resourceType": "Encounter",
        "id": rid,
        "meta": _ENCOUNTER,
        "identifier": ident(rid),
        "status": "finished",
        "class": _AMBULATORY,
        "type": _CONSULT_TYPE,
        "subject": subject(ctx),
        "episodeOfCare": episode,
        "participant": participant,
        "period": _consult_day(c.when)[1],
        "serviceProvider": holder_ref(ctx),
    }


def _encounter_parts(r: ClinicalRecord,
                     ctx: Context) -> tuple[list[_Refs], list[dict[str, object]]]:
    """Per contact its episode's reference, and the participant: built once per episode and
    per person, not per contact (same bytes; see fhir_common on sharing)."""
    refs: dict[tuple[str, str], _Refs] = {}
    for c in r.contacts:
        if (c.icpc, c.episode) not in refs:
            refs[c.icpc, c.episode] = [ref("EpisodeOfCare", _episode_id(ctx, c.icpc), c.episode)]
    return [refs[c.icpc, c.episode] for c in r.contacts], [{"individual": performer(ctx)}]


def journal(ctx: Context, n: int, c: GpContact, encounter_id: str) -> Resource:
    title = _consult_day(c.when)[0]
    return {
        "resourceType": "Composition",
        "id": ctx.rid("comp", n),
        "meta": _REPORT,
        "status": "final",
        "type": _NOTE_TYPE,
        "subject": subject(ctx),
        "encounter": ref("Encounter", encounter_id, title),
        "date": dt(c.when, 9),
        "author": [performer(ctx)],
        "title": f"{title}: {c.episode}",
        "section": _SECTIONS[c.chronic],
    }


def _episodes(r: ClinicalRecord, ctx: Context) -> list[Resource]:
    starts: dict[str, tuple[str, date, bool]] = {}
    for d in r.diagnoses:
        starts[d.condition.icpc] = (d.condition.display, d.onset, True)
    for c in r.contacts:
        if c.icpc not in starts:
            starts[c.icpc] = (c.episode, c.when, False)
    return [episode(ctx, icpc, name, start, active)
            for icpc, (name, start, active) in starts.items()]


def _contacts(r: ClinicalRecord, ctx: Context) -> list[Resource]:
    """Each contact's Encounter, then its journal Composition (the whole record's order)."""
    out: list[Resource] = []
    episodes, participant = _encounter_parts(r, ctx)
    for n, c in enumerate(r.contacts):
        enc = encounter(ctx, n, c, episodes[n], participant)
        out += [enc, journal(ctx, n, c, enc["id"])]
    return out


def _encounters(r: ClinicalRecord, ctx: Context) -> list[Resource]:
    episodes, participant = _encounter_parts(r, ctx)
    return [encounter(ctx, n, c, episodes[n], participant) for n, c in enumerate(r.contacts)]


def _journals(r: ClinicalRecord, ctx: Context) -> list[Resource]:
    """The Compositions alone: the encounter id is computed, not rendered."""
    return [journal(ctx, n, c, ctx.rid("genc", n)) for n, c in enumerate(r.contacts)]


def _medication(r: ClinicalRecord, ctx: Context) -> list[Resource]:
    out: list[Resource] = []
    products: dict[str, Resource] = {}
    for n, u in enumerate(r.medications):
        request = bgz.medication_request(ctx, n, u, None)
        request["id"] = ctx.rid("gmr", n)  # the BgZ agreement has its own id (and a reason)
        out.append(request)
        products.setdefault(u.medication.key, bgz.medication(u.medication))
    out.extend(products.values())
    return out


_EPISODES = frozenset({"EpisodeOfCare"})
_ENCOUNTERS = frozenset({"Encounter"})
_JOURNALS = frozenset({"Composition"})
_CONTACTS = _ENCOUNTERS | _JOURNALS
_ALLERGIES = frozenset({"AllergyIntolerance"})
_MEDICATION = frozenset({"MedicationRequest", "Medication"})
_LABS = frozenset({"Observation"})


def gp_record_sections(r: ClinicalRecord, ctx: Context, split: bool = True) -> list[Section]:
    """The GP record (49) as sections (see ``bgz_view``). ``split``: Encounters and journal
    Compositions as two sections (a search renders one type only); unsplit they come
    interleaved per contact, the order of the whole record."""
    contacts: list[Section] = [(_ENCOUNTERS, lambda: _encounters(r, ctx)),
                               (_JOURNALS, lambda: _journals(r, ctx))]
    if not split:
        contacts = [(_CONTACTS, lambda: _contacts(r, ctx))]
    return [
        (_EPISODES, lambda: _episodes(r, ctx)),
        *contacts,
        (_ALLERGIES, lambda: [bgz.allergy(ctx, n, a) for n, a in enumerate(r.allergies)]),
        (_MEDICATION, lambda: _medication(r, ctx)),
        (_LABS, lambda: [gp_lab(ctx, n, x) for n, x in enumerate(r.labs)]),
    ]


def gp_record(r: ClinicalRecord, ctx: Context, out: list[Resource]) -> None:
    """The whole GP record (49) into ``out``."""
    for _types, render in gp_record_sections(r, ctx, split=False):
        out.extend(render())


_LAB_FINDING = [concept(SNOMED, "49581000146104", "bevinding betreffende laboratoriumonderzoek")]
_GP_LAB = meta(NICTIZ + "gp-LaboratoryResult")


@lru_cache(maxsize=256)  # one per lab test of the catalog, shared (see fhir_common)
def _gp_lab_code(t: LabDef) -> dict[str, object]:
    """NHG Tabel 45 first, then LOINC."""
    return {"coding": [coding(NHG45, *t.nhg), coding(LOINC, t.loinc, t.display)],
            "text": t.display}


def gp_lab(ctx: Context, n: int, result: LabResult) -> Resource:
    """A gp-LaboratoryResult: NHG Tabel 45 first, then LOINC."""
    return bgz.lab_result(ctx, ctx.rid("gobs", n), _GP_LAB, _gp_lab_code(result.test),
                          _LAB_FINDING, result)
