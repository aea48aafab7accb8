"""Collected FHIR resources in plain words, grouped the way people think about their health.

A PGO (and Mijn Gezondheidsoverzicht) shows a person what came back, not resource types:
"Amlodipine 5mg tablet, 1 maal per dag 1 tablet", "Hypertensie sinds 04-05-2017". The words
are the resources' own display texts (``code.text``, ``coding[].display``, a reference's
``display``), never invented; the groups are those of the issue: Medicatie, Problemen,
Allergieën, Vaccinaties, Uitslagen, Afspraken, Documenten, plus Behandelingen en opnames.
Resources that are context rather than content (Patient, Organization, Practitioner,
Medication, Coverage, ...) are counted, not listed. Works on STU3 and R4 shapes alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

# (key, heading) in the order people read them
GROUPS: tuple[tuple[str, str], ...] = (
    ("medicatie", "Medicatie"),
    ("problemen", "Problemen"),
    ("allergieen", "Allergieën"),
    ("vaccinaties", "Vaccinaties"),
    ("uitslagen", "Uitslagen"),
    ("afspraken", "Afspraken"),
    ("documenten", "Documenten"),
    ("behandelingen", "Behandelingen en opnames"),
)
HEADINGS = dict(GROUPS)


@dataclass(frozen=True)
class Item:
    """One line a person reads: what, details, when, and from which provider."""

    what: str
    detail: str = ""
    date: str = ""  # FHIR date(Time) as given; pages format it (``html.nl_date``)
    provider: str = ""  # the provider's display name

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def concept_text(concept: dict | None) -> str:
    """A CodeableConcept in words: its text, else the first coding's display, else a code."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if coding.get("display"):
            return str(coding["display"])
    for coding in concept.get("coding") or []:
        if coding.get("code"):
            return str(coding["code"])
    return ""


def _first(items: object) -> dict:
    return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}


def _medication_name(r: dict) -> str:
    ref = r.get("medicationReference") or {}
    return str(ref.get("display") or "") or concept_text(r.get("medicationCodeableConcept")) \
        or "Geneesmiddel"


def quantity(value: dict | None) -> str:
    """``63.7 kg``: a Quantity's value and unit."""
    if not isinstance(value, dict) or value.get("value") is None:
        return ""
    number = value["value"]
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    unit = value.get("unit") or value.get("code") or ""
    return f"{number} {unit}".strip()


def observation_value(r: dict) -> str:
    if "valueQuantity" in r:
        return quantity(r["valueQuantity"])
    if "valueCodeableConcept" in r:
        return concept_text(r["valueCodeableConcept"])
    for key in ("valueString", "valueBoolean", "valueInteger", "valueDateTime"):
        if key in r:
            return str(r[key])
    parts = [f"{concept_text(c.get('code'))} {quantity(c.get('valueQuantity'))}".strip()
             for c in r.get("component") or []]
    return ", ".join(p for p in parts if p)


def _medication(r: dict, kind: str) -> Item:
    dosage = _first(r.get("dosageInstruction") or r.get("dosage"))
    period = r.get("effectivePeriod") or {}
    date = (r.get("authoredOn") or r.get("whenHandedOver") or r.get("effectiveDateTime")
            or period.get("start") or r.get("dateAsserted") or "")
    detail = "; ".join(x for x in (kind, str(dosage.get("text") or "")) if x)
    return Item(_medication_name(r), detail, str(date))


def _condition(r: dict) -> Item:
    status = r.get("clinicalStatus")
    status = concept_text(status) if isinstance(status, dict) else str(status or "")
    words = {"active": "actueel", "resolved": "over", "inactive": "niet actueel",
             "remission": "in remissie", "recurrence": "teruggekeerd"}
    return Item(concept_text(r.get("code")) or "Probleem", words.get(status, status),
                str(r.get("onsetDateTime") or r.get("assertedDate") or r.get("recordedDate")
                    or ""))


def _allergy(r: dict) -> Item:
    reactions = [concept_text(m) for reaction in r.get("reaction") or []
                 for m in reaction.get("manifestation") or []]
    detail = ", ".join(x for x in reactions if x)
    return Item(concept_text(r.get("code")) or "Allergie",
                f"reactie: {detail}" if detail else "",
                str(r.get("onsetDateTime") or r.get("assertedDate") or ""))


def _immunization(r: dict) -> Item:
    return Item(concept_text(r.get("vaccineCode")) or "Vaccinatie", "gegeven",
                str(r.get("occurrenceDateTime") or r.get("date") or ""))


def _recommendation(r: dict) -> Item:
    rec = _first(r.get("recommendation"))
    due = _first(rec.get("dateCriterion")).get("value") or rec.get("date") or ""
    return Item(concept_text(rec.get("vaccineCode")) or "Vaccinatie", "advies", str(due))


def _observation(r: dict) -> Item:
    return Item(concept_text(r.get("code")) or "Meting", observation_value(r),
                str(r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start")
                    or r.get("issued") or ""))


def _appointment(r: dict) -> Item:
    return Item(str(r.get("description") or concept_text(_first(r.get("serviceType")))
                    or "Afspraak"), str(r.get("status") or ""), str(r.get("start") or ""))


def _document(r: dict) -> Item:
    attachment = _first(r.get("content")).get("attachment") or {}
    what = r.get("description") or attachment.get("title") or concept_text(r.get("type"))
    return Item(str(what or "Document"), str(attachment.get("title") or ""),
                str(r.get("created") or r.get("date") or attachment.get("creation") or ""))


def _composition(r: dict) -> Item:
    return Item(str(r.get("title") or concept_text(r.get("type")) or "Verslag"),
                concept_text(r.get("type")), str(r.get("date") or ""))


def _procedure(r: dict) -> Item:
    period = r.get("performedPeriod") or {}
    return Item(concept_text(r.get("code")) or "Behandeling", "verrichting",
                str(r.get("performedDateTime") or period.get("start") or ""))


def _encounter(r: dict) -> Item:
    diagnosis = _first(r.get("diagnosis")).get("condition") or {}
    kind = r.get("class")
    kind = kind.get("display") or kind.get("code") if isinstance(kind, dict) else kind
    what = "Opname" if kind in ("inpatient encounter", "IMP", "short stay", "SS") else "Contact"
    return Item(what, str(diagnosis.get("display") or ""),
                str((r.get("period") or {}).get("start") or ""))


# resourceType -> (group, how to put it in words)
RENDER: dict[str, tuple[str, Callable[[dict], Item]]] = {
    "MedicationRequest": ("medicatie", lambda r: _medication(r, "voorgeschreven")),
    "MedicationStatement": ("medicatie", lambda r: _medication(r, "gebruik")),
    "MedicationDispense": ("medicatie", lambda r: _medication(r, "verstrekt")),
    "Condition": ("problemen", _condition),
    "AllergyIntolerance": ("allergieen", _allergy),
    "Immunization": ("vaccinaties", _immunization),
    "ImmunizationRecommendation": ("vaccinaties", _recommendation),
    "Observation": ("uitslagen", _observation),
    "Appointment": ("afspraken", _appointment),
    "DocumentReference": ("documenten", _document),
    "Composition": ("documenten", _composition),
    "Procedure": ("behandelingen", _procedure),
    "Encounter": ("behandelingen", _encounter),
}


# What a renderer raises on a field of another shape than FHIR's (a DVA outside the sandbox
# may send a ``coding`` of plain strings): the resource is not listed, the page still shows.
UNREADABLE = (AttributeError, TypeError, KeyError, ValueError, IndexError)


def can_show(resource: dict) -> bool:
    """Whether an overview can put this resource in words (or counts it as context)."""
    found = RENDER.get(resource.get("resourceType", ""))
    if found is None:
        return True
    try:
        found[1](resource)
    except UNREADABLE:
        return False
    return True


def group_resources(resources: Iterable[tuple[str, dict]]) -> tuple[dict[str, list[Item]], int]:
    """``(provider display name, resource)`` pairs -> (group key -> items newest first, the
    number of resources not listed: context, and any of a shape no renderer can read).
    Every group key of ``GROUPS`` is present."""
    groups: dict[str, list[Item]] = {key: [] for key, _ in GROUPS}
    other = 0
    seen: set[tuple[str, str, str]] = set()
    for provider, r in resources:
        kind = r.get("resourceType", "")
        key = (provider, kind, str(r.get("id", "")))
        if key in seen:  # the same resource from two gegevensdiensten: shown once
            continue
        seen.add(key)
        found = RENDER.get(kind)
        if found is None:
            other += 1
            continue
        group, words = found
        try:
            item = words(r)
        except UNREADABLE:
            other += 1
            continue
        groups[group].append(Item(item.what, item.detail, item.date, provider))
    for items in groups.values():
        items.sort(key=lambda i: i.date, reverse=True)
    return groups, other


__all__ = ["GROUPS", "HEADINGS", "Item", "can_show", "concept_text", "group_resources",
           "observation_value", "quantity"]
