"""Clinical vocabulary with real codes: conditions (SNOMED CT + ICPC), medication (ATC),
lab tests (LOINC), allergens and procedures (SNOMED CT), and how common each condition is.

Prevalence by age is rounded from Dutch GP registration figures (Nivel Zorgregistraties,
RIVM VZinfo); diabetics are more often hypertensive, and so on, through ``boost``.
"""

from __future__ import annotations

from typing import NamedTuple

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ATC = "http://www.whocc.no/atc"
ICPC = "http://hl7.org/fhir/sid/icpc-1-nl"
UCUM = "http://unitsofmeasure.org"


class ConditionDef(NamedTuple):
    """A chronic condition: codes, prevalence per age band, medication and lab follow-up."""

    key: str
    snomed: str
    display: str
    icpc: str
    prevalence: tuple[tuple[int, float], ...]  # (from age, probability), last matching wins
    meds: tuple[str, ...]
    labs: tuple[str, ...]
    boost: tuple[tuple[str, float], ...] = ()  # (other condition, multiplier) if present


CONDITIONS: tuple[ConditionDef, ...] = (
    ConditionDef("hypercholesterolemia", "13644009", "Hypercholesterolemie", "T93",
                 ((0, 0.0), (30, 0.02), (45, 0.08), (60, 0.16), (75, 0.18)),
                 ("simvastatine",), ("cholesterol", "ldl")),
    ConditionDef("diabetes2", "44054006", "Diabetes mellitus type 2", "T90.02",
                 ((0, 0.0), (20, 0.003), (30, 0.02), (45, 0.07), (60, 0.14), (75, 0.19)),
                 ("metformine", "gliclazide"), ("hba1c", "glucose", "egfr", "creatinine"),
                 (("hypercholesterolemia", 1.6),)),
    ConditionDef("hypertension", "38341003", "Hypertensie", "K86",
                 ((0, 0.0), (18, 0.01), (30, 0.05), (45, 0.17), (60, 0.33), (75, 0.48)),
                 ("amlodipine", "lisinopril", "hydrochloorthiazide"), ("egfr", "creatinine",
                                                                       "potassium"),
                 (("diabetes2", 1.5),)),
    ConditionDef("asthma", "195967001", "Astma", "R96",
                 ((0, 0.02), (5, 0.07), (18, 0.05), (65, 0.04)),
                 ("salbutamol", "budesonide"), ()),
    ConditionDef("copd", "13645005", "COPD", "R95",
                 ((0, 0.0), (40, 0.015), (50, 0.03), (60, 0.06), (75, 0.09)),
                 ("tiotropium", "salbutamol"), ()),
    ConditionDef("heart_failure", "84114007", "Hartfalen", "K77",
                 ((0, 0.0), (50, 0.004), (60, 0.015), (70, 0.04), (80, 0.10)),
                 ("furosemide", "metoprolol"), ("ntprobnp", "egfr", "potassium"),
                 (("hypertension", 2.0),)),
    ConditionDef("atrial_fibrillation", "49436004", "Atriumfibrilleren", "K78",
                 ((0, 0.0), (50, 0.01), (60, 0.04), (70, 0.08), (80, 0.13)),
                 ("apixaban", "metoprolol"), ("hemoglobin", "egfr"),
                 (("hypertension", 1.4),)),
    ConditionDef("depression", "35489007", "Depressie", "P76",
                 ((0, 0.0), (12, 0.02), (18, 0.06), (65, 0.045)),
                 ("sertraline",), ()),
    ConditionDef("osteoarthritis", "396275006", "Artrose", "L91",
                 ((0, 0.0), (45, 0.04), (60, 0.12), (75, 0.22)),
                 ("paracetamol",), ()),
)
CONDITION_BY_KEY = {c.key: c for c in CONDITIONS}


class MedicationDef(NamedTuple):
    """A medicinal product as prescribed in NL: ATC code, Dutch name and dosage text."""

    key: str
    atc: str
    display: str
    dosage: str
    per_day: int


MEDICATIONS: dict[str, MedicationDef] = {m.key: m for m in (
    MedicationDef("simvastatine", "C10AA01", "Simvastatine 40mg tablet",
                  "1 maal per dag 1 tablet", 1),
    MedicationDef("metformine", "A10BA02", "Metformine 500mg tablet", "2 maal per dag 1 tablet", 2),
    MedicationDef("gliclazide", "A10BB09", "Gliclazide 80mg tablet", "1 maal per dag 1 tablet", 1),
    MedicationDef("amlodipine", "C08CA01", "Amlodipine 5mg tablet", "1 maal per dag 1 tablet", 1),
    MedicationDef("lisinopril", "C09AA03", "Lisinopril 10mg tablet", "1 maal per dag 1 tablet", 1),
    MedicationDef("hydrochloorthiazide", "C03AA03", "Hydrochloorthiazide 12,5mg tablet",
                  "1 maal per dag 1 tablet", 1),
    MedicationDef("salbutamol", "R03AC02", "Salbutamol 100ug/dosis aerosol",
                  "zo nodig 1-2 inhalaties", 2),
    MedicationDef("budesonide", "R03BA02", "Budesonide 200ug/dosis inhalatiepoeder",
                  "2 maal per dag 1 inhalatie", 2),
    MedicationDef("tiotropium", "R03BB04", "Tiotropium 18ug inhalatiecapsule",
                  "1 maal per dag 1 inhalatie", 1),
    MedicationDef("furosemide", "C03CA01", "Furosemide 40mg tablet", "1 maal per dag 1 tablet", 1),
    MedicationDef("metoprolol", "C07AB02", "Metoprolol 50mg tablet met gereguleerde afgifte",
                  "1 maal per dag 1 tablet", 1),
    MedicationDef("apixaban", "B01AF02", "Apixaban 5mg tablet", "2 maal per dag 1 tablet", 2),
    MedicationDef("sertraline", "N06AB06", "Sertraline 50mg tablet", "1 maal per dag 1 tablet", 1),
    MedicationDef("paracetamol", "N02BE01", "Paracetamol 500mg tablet",
                  "zo nodig 3 maal per dag 2 tabletten", 6),
)}


class LabDef(NamedTuple):
    """A lab test: LOINC code, Dutch name, UCUM unit, normal range and usual values."""

    key: str
    loinc: str
    display: str
    unit: str
    low: float
    high: float
    decimals: int


LABS: dict[str, LabDef] = {lab.key: lab for lab in (
    LabDef("hba1c", "59261-8", "HbA1c", "mmol/mol", 20, 42, 0),
    LabDef("glucose", "14771-0", "Glucose nuchter", "mmol/L", 4.0, 6.1, 1),
    LabDef("egfr", "62238-1", "eGFR CKD-EPI", "mL/min/{1.73_m2}", 60, 130, 0),
    LabDef("creatinine", "14682-9", "Creatinine", "umol/L", 50, 110, 0),
    LabDef("potassium", "6298-4", "Kalium", "mmol/L", 3.5, 5.0, 1),
    LabDef("cholesterol", "14647-2", "Cholesterol totaal", "mmol/L", 3.5, 6.5, 1),
    LabDef("ldl", "22748-8", "LDL-cholesterol", "mmol/L", 1.5, 3.5, 1),
    LabDef("ntprobnp", "33762-6", "NT-proBNP", "pg/mL", 0, 125, 0),
    LabDef("hemoglobin", "59260-0", "Hemoglobine", "mmol/L", 7.5, 10.5, 1),
)}


class AllergyDef(NamedTuple):
    """An allergen (SNOMED substance), its category and how common the allergy is."""

    key: str
    snomed: str
    display: str
    category: str  # FHIR STU3 AllergyIntolerance.category
    prevalence: float
    reaction: tuple[str, str]  # SNOMED manifestation (code, display)


ALLERGIES: tuple[AllergyDef, ...] = (
    AllergyDef("penicillin", "764146007", "Penicilline", "medication", 0.05,
               ("271807003", "Huiduitslag")),
    AllergyDef("pollen", "256259004", "Pollen", "environment", 0.12,
               ("21719001", "Hooikoorts")),
    AllergyDef("dustmite", "260147004", "Huisstofmijt", "environment", 0.05,
               ("267036007", "Benauwdheid")),
    AllergyDef("peanut", "762952008", "Pinda", "food", 0.012,
               ("39579001", "Anafylaxie")),
    AllergyDef("nsaid", "372665008", "NSAID", "medication", 0.02,
               ("126485001", "Urticaria")),
)


class ProcedureDef(NamedTuple):
    """A hospital procedure (SNOMED), its reason and the usual length of stay in days."""

    key: str
    snomed: str
    display: str
    min_age: int
    stay: int
    reason: tuple[str, str]  # SNOMED (code, display) of the reason for admission


PROCEDURES: tuple[ProcedureDef, ...] = (
    ProcedureDef("appendectomy", "80146002", "Appendectomie", 5, 2, ("74400008", "Appendicitis")),
    ProcedureDef("cholecystectomy", "38102005", "Cholecystectomie", 25, 1,
                 ("235919008", "Cholelithiasis")),
    ProcedureDef("hip", "52734007", "Totale heupprothese", 55, 3,
                 ("239872002", "Artrose van heup")),
    ProcedureDef("knee", "609588000", "Totale knieprothese", 55, 3,
                 ("239873007", "Artrose van knie")),
    ProcedureDef("cataract", "54885007", "Cataractextractie", 55, 0, ("193570009", "Cataract")),
    ProcedureDef("pci", "415070008", "Percutane coronaire interventie", 45, 2,
                 ("22298006", "Myocardinfarct")),
    ProcedureDef("colonoscopy", "73761001", "Coloscopie", 40, 0,
                 ("12063002", "Rectaal bloedverlies")),
    ProcedureDef("tonsils", "173422009", "Adenotonsillectomie", 2, 0,
                 ("90176007", "Tonsillitis")),
    ProcedureDef("hernia", "44558001", "Herstel van liesbreuk", 18, 1, ("396232000", "Liesbreuk")),
)
