"""The clinical life of one person, independent of who records it: conditions, medication,
allergies, measurements, lab results, GP contacts, hospital admissions, lifestyle, directives.

A ``ClinicalRecord`` is a pure function of (seed, index, demographics, as_of); provider views
and FHIR renderings are cut from it, which keeps GP, hospital and pharmacy telling the same story.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from typing import NamedTuple

from simulators.population import draw
from simulators.population.catalog import (
    ALLERGIES,
    CONDITIONS,
    LABS,
    MEDICATIONS,
    PROCEDURES,
    AllergyDef,
    ConditionDef,
    LabDef,
    MedicationDef,
    ProcedureDef,
)
from simulators.population.demographics import Patient
from simulators.population.tables import MAX_AGE

ACUTE_PROCEDURES = frozenset({"appendectomy", "pci"})
DAY_PROCEDURES = frozenset({"cataract", "colonoscopy"})
ACUTE_REASONS = (  # ICPC code, Dutch episode name: short GP episodes
    ("R74", "Acute infectie bovenste luchtwegen"),
    ("L03", "Lage rugpijn"),
    ("D73", "Gastro-enteritis"),
    ("U71", "Cystitis"),
    ("R05", "Hoesten"),
    ("A04", "Moeheid"),
    ("S74", "Dermatomycose"),
    ("H71", "Otitis media acuta"),
)


# The parts of a record are NamedTuples, as the catalogue's definitions: a person has a few
# dozen, and a NamedTuple is built in half the time of a frozen dataclass (issue 17 item 6).
class Diagnosis(NamedTuple):
    condition: ConditionDef
    onset: date


class MedicationUse(NamedTuple):
    medication: MedicationDef
    start: date
    reason: ConditionDef


class Allergy(NamedTuple):
    allergen: AllergyDef
    onset: date


class Measurement(NamedTuple):
    """A vital sign: kind is "bp" (systolic, diastolic), "weight" (kg) or "height" (cm)."""

    kind: str
    when: date
    values: tuple[float, ...]


class LabResult(NamedTuple):
    test: LabDef
    when: date
    value: float


class GpContact(NamedTuple):
    """A GP consultation, with the episode it belongs to (ICPC code and name)."""

    when: date
    icpc: str
    episode: str
    chronic: bool


class Admission(NamedTuple):
    """A hospital stay; ``site`` in [0, 1) picks the hospital among the topology's hospitals."""

    start: date
    end: date
    encounter_class: str  # v3 ActCode: IMP | ACUTE | SS
    procedure: ProcedureDef
    site: float


# The parts of a ``ClinicalRecord`` drawn on first use, in the order of its fields.
_PARTS = ("medications", "allergies", "measurements", "labs", "contacts", "admissions",
          "planned", "smoking", "alcohol", "drugs", "living_alone", "needs_walking_aid",
          "resuscitation_refused", "diet", "hearing_aid", "pharmacy_site")


class ClinicalRecord:
    """Everything clinically true about one person, as of the population's reference date.

    Drawn part by part, each part on first use and from a stream of its own (``draw``): the
    diagnoses (``draw.CLINICAL``) at once, the rest when asked for: medication and allergies
    (``draw.MEDICATION``), GP contacts, measurements, lifestyle and other status
    (``draw.CARE``), admissions and the waiting list (``draw.ADMISSIONS``, seeded only for
    people who have either), lab results (``draw.LABS``). A DVA's first ``Condition`` search for
    a person so draws the diagnoses only (issue 17 item 4), and every part is the same whatever
    was asked first. Read it, never set it: a part is drawn once and kept."""

    __slots__ = ("seed", "patient", "as_of", "diagnoses", "_keys", *_PARTS)

    def __init__(self, seed: int, p: Patient, as_of: date) -> None:
        self.seed, self.patient, self.as_of = seed, p, as_of
        self.diagnoses: tuple[Diagnosis, ...] = tuple(
            _diagnoses(draw.rng(seed, p.index, draw.CLINICAL), p, as_of))
        self._keys = frozenset(d.condition.key for d in self.diagnoses)

    # Declared for type checkers; the slots are filled by ``__getattr__`` on first read.
    medications: tuple[MedicationUse, ...]
    allergies: tuple[Allergy, ...]
    measurements: tuple[Measurement, ...]
    labs: tuple[LabResult, ...]
    contacts: tuple[GpContact, ...]
    admissions: tuple[Admission, ...]
    planned: ProcedureDef | None  # an elective procedure on the waiting list
    smoking: str | None  # "current" | "ex" | "never"; None when never asked (children)
    alcohol: str | None  # "current" | "ex" | "none"
    drugs: str | None  # "current" | "ex"; None when no use recorded
    living_alone: bool | None  # recorded for 65+ only
    needs_walking_aid: bool
    resuscitation_refused: bool
    diet: str | None  # SNOMED code of a prescribed diet
    hearing_aid: bool
    pharmacy_site: float  # picks the pharmacy among pharmacies, for people on medication

    def __getattr__(self, name: str) -> object:
        """Draw the part holding ``name`` (only called while its slot is still empty)."""
        part = _PART_OF.get(name)
        if part is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        part(self)
        return object.__getattribute__(self, name)

    def drawn(self) -> frozenset[str]:
        """The parts drawn so far, without drawing any (what tests of the laziness look at)."""
        found = set()
        for name in _PARTS:
            try:
                object.__getattribute__(self, name)  # an empty slot raises, never draws
            except AttributeError:
                continue
            found.add(name)
        return frozenset(found)

    def fields(self) -> dict[str, object]:
        """Every part by name, all drawn: what two records are compared by."""
        return {"diagnoses": self.diagnoses, **{n: getattr(self, n) for n in _PARTS}}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClinicalRecord):
            return NotImplemented
        return self.fields() == other.fields()

    __hash__ = None  # type: ignore[assignment]  # compared by value, and not frozen

    def __repr__(self) -> str:
        return f"ClinicalRecord(index={self.patient.index}, diagnoses={len(self.diagnoses)})"

    def has(self, key: str) -> bool:
        return key in self._keys


def _prevalence(c: ConditionDef, age: int) -> float:
    p = 0.0
    for low, value in c.prevalence:
        if age >= low:
            p = value
    return p


# Each condition's prevalence at every age of the population, looked up instead of worked out
# (nine conditions per person).
_BY_AGE = tuple((c, tuple(_prevalence(c, age) for age in range(MAX_AGE + 1))) for c in CONDITIONS)


_from_ordinal = date.fromordinal


def shift_days(day: date, days: int) -> date:
    """``day + timedelta(days=days)`` in a third of the time: a record takes a dozen or so,
    a person's vaccinations ~15."""
    return _from_ordinal(day.toordinal() + days)


def _days_back(r: random.Random, as_of: date, max_days: int, min_days: int = 0) -> date:
    return shift_days(as_of, -(min_days + int(r.random() * max(1, max_days - min_days))))


def _diagnoses(r: random.Random, p: Patient, as_of: date) -> list[Diagnosis]:
    found: list[Diagnosis] = []
    keys: set[str] = set()
    age = p.age
    for c, by_age in _BY_AGE:
        prob = by_age[age] if age <= MAX_AGE else _prevalence(c, age)
        for other, factor in c.boost:
            if other in keys:
                prob *= factor
        if c.key == "copd" and p.sex == "male":
            prob *= 1.2
        if prob and r.random() < prob:
            years = max(1, min(p.age - 1, int(r.random() * 15) + 1))
            found.append(Diagnosis(c, _days_back(r, as_of, years * 365, 60)))
            keys.add(c.key)
    return found


def _adult_height(r: random.Random, sex: str) -> float:
    return r.gauss(181.0, 7.0) if sex == "male" else r.gauss(167.5, 6.5)


def _height_at(adult: float, age_years: float) -> float:
    if age_years >= 18:
        return adult
    return 50 + (adult - 50) * (1 - math.exp(-age_years / 5.5)) / (1 - math.exp(-18 / 5.5))


def _measurements(r: random.Random, p: Patient, rec_keys: set[str], as_of: date,
                  contacts: list[GpContact]) -> list[Measurement]:
    out: list[Measurement] = []
    adult = _adult_height(r, p.sex)
    bmi = max(17.0, r.gauss(26.0 if p.age >= 40 else 23.5, 3.8) + 2.5 * ("diabetes2" in rec_keys))
    hypertensive = "hypertension" in rec_keys
    base_sys = 118 + 0.45 * max(0, p.age - 30) + (18 if hypertensive else 0) + r.gauss(0, 8)
    base_dia = 76 + 0.1 * max(0, p.age - 30) + (8 if hypertensive else 0) + r.gauss(0, 5)
    cardio = bool(rec_keys & {"hypertension", "diabetes2", "heart_failure"})
    height_done = False
    for contact in reversed(contacts):  # newest first: the latest values always exist
        if p.age < 16 and not contact.chronic:
            continue
        if not (contact.chronic or r.random() < 0.3):
            continue
        age_then = p.age - (as_of - contact.when).days / 365.25
        height = round(_height_at(adult, max(age_then, 0.1)), 1)
        if p.age >= 16 and (cardio or not contact.chronic or not out):
            out.append(Measurement("bp", contact.when, (round(base_sys + r.gauss(0, 6)),
                                                         round(base_dia + r.gauss(0, 4)))))
        if not out or r.random() < 0.5:
            weight = round(bmi * (height / 100) ** 2 + r.gauss(0, 1.2), 1)
            out.append(Measurement("weight", contact.when, (weight,)))
        if not height_done or age_then < 18:
            out.append(Measurement("height", contact.when, (height,)))
            height_done = True
    out.reverse()
    return out


def _lab_value(r: random.Random, test: LabDef, p: Patient, keys: set[str]) -> float:
    mid = (test.low + test.high) / 2
    spread = (test.high - test.low) / 5
    value = r.gauss(mid, spread)
    if test.key == "hba1c" and "diabetes2" in keys:
        value = r.gauss(56, 8)
    elif test.key == "glucose" and "diabetes2" in keys:
        value = r.gauss(8.2, 1.6)
    elif test.key == "egfr":
        value = 115 - 0.9 * max(0, p.age - 25) - 12 * ("diabetes2" in keys) + r.gauss(0, 9)
    elif test.key == "creatinine":
        value = r.gauss(85 if p.sex == "male" else 68, 12) + 0.4 * max(0, p.age - 50)
    elif test.key == "ldl" and "hypercholesterolemia" in keys:
        value = r.gauss(3.2, 0.7)
    elif test.key == "sodium" and "heart_failure" in keys:  # diuretics lower it a little
        value = r.gauss(138, 3)
    value = max(value, test.low * 0.3, 0.1)
    return round(value, test.decimals) if test.decimals else float(round(value))


def _labs(seed: int, p: Patient, keys: set[str], as_of: date,
          diagnoses: list[Diagnosis]) -> list[LabResult]:
    """Lab results, from their own stream (draw.LABS), seeded only for people it draws for:
    under 45 without a condition that wants labs (about half the people) draws nothing."""
    wanted: dict[str, int] = {}
    for d in diagnoses:
        for lab in d.condition.labs:
            wanted[lab] = max(wanted.get(lab, 0), 4 if lab == "hba1c" else 2)
    if not wanted and p.age < 45:
        return []
    r = draw.rng(seed, p.index, draw.LABS)
    if not wanted and r.random() < 0.3:
        # CVRM risk profile (NHG): fasting glucose, LDL and kidney function
        wanted = {"glucose": 1, "ldl": 1, "egfr": 1}
    out: list[LabResult] = []
    for key, times in wanted.items():
        for k in range(times):
            gap = 91 if times == 4 else 365
            when = shift_days(as_of, -(30 + k * gap + int(r.random() * 20)))
            out.append(LabResult(LABS[key], when, _lab_value(r, LABS[key], p, keys)))
    return out


def _contacts(r: random.Random, p: Patient, as_of: date,
              diagnoses: list[Diagnosis]) -> list[GpContact]:
    out: list[GpContact] = []
    for d in diagnoses:  # chronic care: control visits over the last two years
        for k in range(2 if d.condition.key in ("depression", "osteoarthritis", "asthma") else 4):
            when = shift_days(as_of, -(20 + k * 180 + int(r.random() * 60)))
            if when > d.onset:
                out.append(GpContact(when, d.condition.icpc, d.condition.display, True))
    mean = 1.5 + p.age / 30
    n = min(6, int(r.expovariate(1 / mean)))
    for _ in range(n):
        icpc, name = ACUTE_REASONS[int(r.random() * len(ACUTE_REASONS))]
        if icpc == "H71" and p.age > 12:
            icpc, name = ACUTE_REASONS[0]
        out.append(GpContact(_days_back(r, as_of, 730, 3), icpc, name, False))
    out.sort(key=lambda c: c.when)
    return out


def _admission_probability(age: int) -> float:
    for limit, p in ((18, 0.04), (45, 0.08), (65, 0.15), (80, 0.28)):
        if age < limit:
            return p
    return 0.4


def has_hospital_history(seed: int, index: int, age: int) -> bool:
    """Cheap placement test used by both the record and the holders model."""
    return draw.unit(draw.HOSPITAL, seed, index) < _admission_probability(age)


def _admissions(r: random.Random, seed: int, p: Patient, as_of: date) -> list[Admission]:
    """The stays of someone with a hospital history (``has_hospital_history``)."""
    options = [d for d in PROCEDURES if d.min_age <= p.age]
    out: list[Admission] = []
    if not options:
        return out
    for k in range(1 + (r.random() < 0.25)):
        proc = options[int(r.random() * len(options))]
        start = _days_back(r, as_of, 5 * 365, 14)
        cls = ("ACUTE" if proc.key in ACUTE_PROCEDURES
               else "SS" if proc.key in DAY_PROCEDURES else "IMP")
        site = draw.unit(draw.SITE, seed, p.index) if k == 0 else r.random()
        out.append(Admission(start, start + timedelta(days=proc.stay), cls, proc, site))
    out.sort(key=lambda a: a.start)
    return out


def _lifestyle(r: random.Random, p: Patient) -> tuple[str | None, str | None, str | None]:
    if p.age < 16:
        return None, None, None
    u = r.random()
    current = 0.21 if p.sex == "male" else 0.16
    ex = min(0.45, 0.1 + p.age / 150)
    smoking = "current" if u < current else "ex" if u < current + ex else "never"
    u = r.random()
    alcohol = "none" if p.age < 18 or u < 0.18 else "ex" if u < 0.23 else "current"
    drugs = None
    if p.age < 45 and r.random() < 0.08:
        drugs = "current" if r.random() < 0.5 else "ex"
    return smoking, alcohol, drugs


def _draw_medication(rec: ClinicalRecord) -> None:
    """Medication (for the diagnoses) and allergies: stream ``draw.MEDICATION``."""
    p, as_of = rec.patient, rec.as_of
    r = draw.rng(rec.seed, p.index, draw.MEDICATION)
    meds: list[MedicationUse] = []
    seen: set[str] = set()
    for d in rec.diagnoses:
        for k, mkey in enumerate(d.condition.meds):
            if mkey in seen or (k > 0 and r.random() < 0.5):
                continue
            seen.add(mkey)
            start = shift_days(d.onset, 14 + int(r.random() * 60))
            meds.append(MedicationUse(MEDICATIONS[mkey], min(start, as_of), d.condition))
    rec.medications = tuple(meds)
    rec.allergies = tuple(Allergy(a, _days_back(r, as_of, max(1, p.age) * 365))
                          for a in ALLERGIES if r.random() < a.prevalence)


def _draw_care(rec: ClinicalRecord) -> None:
    """GP contacts, measurements, lifestyle and the other status: stream ``draw.CARE``."""
    p, as_of, keys = rec.patient, rec.as_of, rec._keys
    r = draw.rng(rec.seed, p.index, draw.CARE)
    contacts = _contacts(r, p, as_of, rec.diagnoses)
    rec.contacts = tuple(contacts)
    rec.measurements = tuple(_measurements(r, p, keys, as_of, contacts))
    rec.smoking, rec.alcohol, rec.drugs = _lifestyle(r, p)
    frail = p.age >= 80 or (p.age >= 70 and "heart_failure" in keys)
    diet = None
    if "diabetes2" in keys and r.random() < 0.3:
        diet = "160670007"
    elif "heart_failure" in keys and r.random() < 0.5:
        diet = "386619000"
    rec.diet = diet
    rec.living_alone = (r.random() < 0.2 + 0.004 * (p.age - 65)) if p.age >= 65 else None
    rec.needs_walking_aid = p.age >= 75 and r.random() < 0.1 + 0.015 * (p.age - 75)
    rec.resuscitation_refused = frail and r.random() < 0.3
    rec.hearing_aid = p.age >= 65 and r.random() < 0.08 + 0.01 * (p.age - 65)


def _draw_hospital(rec: ClinicalRecord) -> None:
    """Admissions and the waiting list: stream ``draw.ADMISSIONS``, seeded only for people
    with a hospital history or a knee or hip to wait for (most people have neither, and every
    holder check asks: a GP holds 51 for people with admissions)."""
    p, seed, as_of = rec.patient, rec.seed, rec.as_of
    history = has_hospital_history(seed, p.index, p.age)
    arthrosis = "osteoarthritis" in rec._keys and p.age >= 55
    if not (history or arthrosis):
        rec.admissions, rec.planned = (), None
        return
    r = draw.rng(seed, p.index, draw.ADMISSIONS)
    rec.admissions = tuple(_admissions(r, seed, p, as_of)) if history else ()
    planned = None
    if arthrosis and r.random() < 0.2:
        wanted = "knee" if r.random() < 0.6 else "hip"
        planned = next(d for d in PROCEDURES if d.key == wanted)
    rec.planned = planned


def _draw_labs(rec: ClinicalRecord) -> None:
    rec.labs = tuple(_labs(rec.seed, rec.patient, rec._keys, rec.as_of, rec.diagnoses))


def _draw_pharmacy_site(rec: ClinicalRecord) -> None:
    rec.pharmacy_site = draw.unit(draw.PHARMACY, rec.seed, rec.patient.index)


_PART_OF = {
    **dict.fromkeys(("medications", "allergies"), _draw_medication),
    **dict.fromkeys(("contacts", "measurements", "smoking", "alcohol", "drugs", "diet",
                     "living_alone", "needs_walking_aid", "resuscitation_refused",
                     "hearing_aid"), _draw_care),
    **dict.fromkeys(("admissions", "planned"), _draw_hospital),
    "labs": _draw_labs,
    "pharmacy_site": _draw_pharmacy_site,
}
assert set(_PART_OF) == set(_PARTS)


def make_record(seed: int, p: Patient, as_of: date) -> ClinicalRecord:
    """The clinical record of patient ``p`` (demographics already drawn): its diagnoses now,
    every other part when first read."""
    return ClinicalRecord(seed, p, as_of)
