"""Clinical vocabulary with real codes: conditions (SNOMED CT, ICPC for the GP's episodes),
medication (G-Standaard PRK + GPK, ATC kept for grouping), lab tests (NHG Tabel 45 + LOINC,
every code sourced), allergens and procedures (SNOMED CT), and how common each condition is.

Prevalence by age is rounded from Dutch GP registration figures (Nivel Zorgregistraties,
RIVM VZinfo); diabetics are more often hypertensive, and so on, through ``boost``.

Where each code list comes from (``NTS`` = github Nictiz/Nictiz-testscripts@e851d704dca7,
the public source of ``../shared/medmij/testscripts``; ``REF`` = that shared copy):

- ``MedicationDef.prk/gpk`` (G-Standaard PRK ``urn:oid:2.16.840.1.113883.2.4.4.10`` and GPK
  ``...4.4.1``), code and display exactly as in these NTS fixtures (``output/`` omitted):
  furosemide ``STU3/Medication-9-0-7/MedMij/Cert/_reference/resources/
  zib-Product-mp9-2-16-840-1-113883-2-4-4-10-5967.xml``; metformine ``.../zib-Product-mp9-
  2-16-840-1-113883-2-4-4-10-1090.xml`` (same folder); tiotropium ``.../zib-Product-mp9-
  2-16-840-1-113883-2-4-4-10-59919.xml`` (same folder); gliclazide ``STU3/Medication-9-0-7-
  test/MedMij/Test/_reference/testset_MA-VV-MO/zib-Product-mp9-2-16-840-1-113883-2-4-4-10-
  2992.xml``; salbutamol (PRK only, as there) ``STU3/GenPractData-2-0/MedMij/Cert/_reference/
  resources-query-send/medmij-gpdata-product-salbutamol.xml``; paracetamol ``STU3/BgZ-MSZ-2-0/
  Cert/_reference/resources/zib-Product-msz-2-16-840-1-113883-2-4-4-10-67903.xml``; the rest
  from ``R4/MP9-3-0-0-beta/MO/Test/_reference/fixtures/``: lisinopril ``av-mp-va-tst-1-2a-
  ingangsdatum-duur-weken-v30.xml``, amlodipine and apixaban ``mg-mp-mg-tst-MA-Scenarioset3-
  v30.xml``, hydrochloorthiazide and simvastatine ``mg-mp-mg-tst-MGB-Scenarioset5-v30.xml``,
  metoprolol ``mg-mp-mg-CONS-MA-Scenarioset12a-v30.xml``, fluticason ``av-mp-va-tst-1-5-
  eenheid-dosis-stuks-v30.xml``, mirtazapine ``mg-mp-mg-tst-MTD-Scenarioset16-v30.xml``. The
  BgZ fixtures (REF ``STU3/BgZ-3-0/MedMij/*/_reference``) code products with HPK or PRK and no
  ATC; no fixture pairs a Medication with ATC, so ``Medication.code`` carries no ATC. Budesonide
  and sertraline were replaced by fluticason and mirtazapine: no fixture has their codes.
- ``MedicationDef.atc`` and ``ConditionDef.snomed/icpc``, ``LabDef.loinc``, ``AllergyDef``,
  ``ProcedureDef``: the public WHO ATC index, SNOMED CT (Dutch edition), ICPC-1-NL (NHG Tabel
  24) and LOINC, chosen by hand; not taken from a fixture. ICPC codes are what the GP's
  episodes carry (NTS ``STU3/GenPractData-2-0/MedMij/Cert/_reference/resources-query-send/
  medmij-gpdata-episodeofcare-ICPC-*.xml``); a Condition is coded in SNOMED only, as the BgZ
  fixtures do. ICD-10 (REF ``.../Cert/_reference/resources/medmij-bgz-condition-ts-01.xml``,
  ``urn:oid:2.16.840.1.113883.6.90``) is not added: no fixture has an ICD-10 code for one of
  our conditions.
- ``LabDef.nhg`` (NHG Tabel 45 ``https://referentiemodel.nhg.org/tabellen/nhg-tabel-45-
  diagnostische-bepalingen``): eGFR 3583 and creatinine 523 from NTS ``R4/MP9-3-0-0-beta/MO/
  Test/_reference/fixtures/mv-mp-vo-tst-4-2-a-nierfunctie-NHG-v30.xml``; kalium 513 from NTS
  ``src/LaboratoryResults-3-0/Cert/_reference/resources-to-send/lr-slr-KWAL-KC-Scenario4a-
  KC4a.xml``; natrium 624 "Natrium" (mmol/l, range 135-145) from NTS ``src/LaboratoryResults-
  3-0/Cert/_reference/resources-to-serve/labtest-KWAL-LAR-LosResultaatNA-KC-NHG-96666.xml``,
  and its LOINC 2947-0 "Natrium [mol/volume] in bloed" from the LOINC twin of that fixture,
  ``labtest-KWAL-LAR-LosResultaatNA-KC-LOINC-96666.xml`` (same folder). From ``ZV`` = github
  RIVO-Noord/zorgviewer-ig@59734b79e584 GP examples (profile gp-LaboratoryResult): HbA1c 2816
  "HbA1c (glycohemoglobine) IFCC" (mmol/mol) and glucose 372 "glucose nuchter, veneus (lab)"
  (mmol/l) from ``input/examples/LaboratoryTestResult-Sanday.json``, LDL 542
  "LDL-cholesterol" (mmol/L) from ``input/examples/LaboratoryTestResult-CGM.json``; 372 also
  in github Nictiz/HL7-mappings@7b054d26e027 ``hl7_2_ada/ketenzorg/3.0.2/beschikbaarstellen/
  hl7v3_instance/labbepalingen_POLB_IN364001NL03_01.xml`` (mmol/L). Not NTS glucose 3208
  "glucose nuchter, art/cap (lab)" nor 382 "Glucose nuchter, draagbare meter": capillary,
  ours is venous serum/plasma.
- Every lab test here has an NHG code, so every GP lab result (gegevensdienst 49) is found by
  the 49 lab query. Total cholesterol, NT-proBNP and hemoglobin (and HDL, triglycerides) are
  not offered: no public source of their NHG Tabel 45 number was found, neither in the whole
  git history of NTS, Nictiz/HL7-mappings, Nictiz-STU3-testscripts(-src), Nictiz-STU3-
  Zib2017, Nictiz-R4-zib2020, Nictiz-R4-zib2024, Nictiz-GZ, Nictiz-CDA-BgZ2020, YATC-public,
  eu-nl-compared, Stichting-MedMij/MedMij-testscripts and ZV, nor in the indexed public code
  and web pages (only 4-letter memo codes such as CHOL, HB, which are not the Tabel 45 number
  the fixtures code). The pathways use sourced tests instead: CVRM and hypercholesterolaemia
  follow LDL (the NHG CVRM treatment target) and eGFR; heart failure natrium, kalium and eGFR (the
  NHG-Standaard Hartfalen checks under diuretics and RAS inhibitors), no NT-proBNP; atrial
  fibrillation creatinine and eGFR (apixaban's dose rule uses serum creatinine), no Hb although
  NHG also advises a yearly Hb with a DOAC.
"""

from __future__ import annotations

from typing import NamedTuple

ATC = "http://www.whocc.no/atc"
ICPC = "http://hl7.org/fhir/sid/icpc-1-nl"
PRK = "urn:oid:2.16.840.1.113883.2.4.4.10"  # G-Standaard voorschrijfproduct
GPK = "urn:oid:2.16.840.1.113883.2.4.4.1"  # G-Standaard generiek product
NHG45 = "https://referentiemodel.nhg.org/tabellen/nhg-tabel-45-diagnostische-bepalingen"


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
                 ("simvastatine",), ("ldl", "egfr")),  # CVRM: LDL target, eGFR too
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
                 ("salbutamol", "fluticason"), ()),
    ConditionDef("copd", "13645005", "COPD", "R95",
                 ((0, 0.0), (40, 0.015), (50, 0.03), (60, 0.06), (75, 0.09)),
                 ("tiotropium", "salbutamol"), ()),
    ConditionDef("heart_failure", "84114007", "Hartfalen", "K77",
                 ((0, 0.0), (50, 0.004), (60, 0.015), (70, 0.04), (80, 0.10)),
                 ("furosemide", "metoprolol"), ("sodium", "egfr", "potassium"),
                 (("hypertension", 2.0),)),
    ConditionDef("atrial_fibrillation", "49436004", "Atriumfibrilleren", "K78",
                 ((0, 0.0), (50, 0.01), (60, 0.04), (70, 0.08), (80, 0.13)),
                 ("apixaban", "metoprolol"), ("creatinine", "egfr"),
                 (("hypertension", 1.4),)),
    ConditionDef("depression", "35489007", "Depressie", "P76",
                 ((0, 0.0), (12, 0.02), (18, 0.06), (65, 0.045)),
                 ("mirtazapine",), ()),
    ConditionDef("osteoarthritis", "396275006", "Artrose", "L91",
                 ((0, 0.0), (45, 0.04), (60, 0.12), (75, 0.22)),
                 ("paracetamol",), ()),
)
CONDITION_BY_KEY = {c.key: c for c in CONDITIONS}


class MedicationDef(NamedTuple):
    """A medicinal product as prescribed in NL: G-Standaard PRK and GPK (code, display), ATC
    (grouping, route), Dutch name and dosage text. ``gpk`` is None where the source fixture
    has the PRK only."""

    key: str
    atc: str
    display: str
    dosage: str
    per_day: int
    prk: tuple[str, str]
    gpk: tuple[str, str] | None


MEDICATIONS: dict[str, MedicationDef] = {m.key: m for m in (
    MedicationDef("simvastatine", "C10AA01", "Simvastatine 20mg tablet",
                  "1 maal per dag 1 tablet", 1, ("67814", "SIMVASTATINE TABLET FO 20MG"),
                  ("116580", "SIMVASTATINE TABLET FO 20MG")),
    MedicationDef("metformine", "A10BA02", "Metformine 500mg tablet", "2 maal per dag 1 tablet", 2,
                  ("1090", "METFORMINE 500MG TABLET"), ("3816", "METFORMINE 500MG TABLET")),
    MedicationDef("gliclazide", "A10BB09", "Gliclazide 80mg tablet met gereguleerde afgifte",
                  "1 maal per dag 1 tablet", 1, ("2992", "GLICLAZIDE TABLET MGA 80MG"),
                  ("10340", "GLICLAZIDE TABLET MGA 80MG")),
    MedicationDef("amlodipine", "C08CA01", "Amlodipine 5mg tablet", "1 maal per dag 1 tablet", 1,
                  ("123315", "AMLODIPINE TABLET 5MG"), ("155616", "AMLODIPINE TABLET 5MG")),
    MedicationDef("lisinopril", "C09AA03", "Lisinopril 10mg tablet", "1 maal per dag 1 tablet", 1,
                  ("26638", "LISINOPRIL 10MG TABLET"), ("71587", "LISINOPRIL 10MG TABLET")),
    MedicationDef("hydrochloorthiazide", "C03AA03", "Hydrochloorthiazide 12,5mg tablet",
                  "1 maal per dag 1 tablet", 1, ("76333", "HYDROCHLOORTHIAZIDE TABLET 12,5MG"),
                  ("122602", "HYDROCHLOORTHIAZIDE TABLET 12,5MG")),
    MedicationDef("salbutamol", "R03AC02", "Salbutamol 100ug/dosis aerosol",
                  "zo nodig 1-2 inhalaties", 2,
                  ("43281", "SALBUTAMOL AEROSOL 100UG/DO 200DO AUTOH"), None),
    MedicationDef("fluticason", "R03BA05", "Fluticason 100ug/dosis inhalatiepoeder",
                  "2 maal per dag 1 inhalatie", 2,
                  ("45624", "FLUTICASON INHALATIEPOEDER 100UG/DO 60DO DISKUS"),
                  ("92487", "FLUTICASON INHALATIEPOEDER 100UG/DO")),
    MedicationDef("tiotropium", "R03BB04", "Tiotropium 18ug inhalatiecapsule",
                  "1 maal per dag 1 inhalatie", 1,
                  ("59919", "Tiotropium inhalatiecapsule 18ug"),
                  ("115371", "TIOTROPIUM 18UG INHALCAPS")),
    MedicationDef("furosemide", "C03CA01", "Furosemide 40mg tablet", "1 maal per dag 1 tablet", 1,
                  ("5967", "FUROSEMIDE 40MG TABLET"), ("16810", "FUROSEMIDE 40MG TABLET")),
    MedicationDef("metoprolol", "C07AB02", "Metoprolol 100mg tablet met gereguleerde afgifte",
                  "1 maal per dag 1 tablet", 1, ("26190", "METOPROLOL 100MG TB MGA SUC"),
                  ("71013", "METOPROLOL 100MG TB MGA SUC")),
    MedicationDef("apixaban", "B01AF02", "Apixaban 5mg tablet", "2 maal per dag 1 tablet", 2,
                  ("105678", "APIXABAN TABLET 5MG"), ("141992", "APIXABAN TABLET 5MG")),
    MedicationDef("mirtazapine", "N06AX11", "Mirtazapine 15mg tablet",
                  "1 maal per dag 1 tablet voor de nacht", 1,
                  ("75211", "MIRTAZAPINE TABLET 15MG"), ("93521", "MIRTAZAPINE TABLET 15MG")),
    MedicationDef("paracetamol", "N02BE01", "Paracetamol 500mg tablet",
                  "zo nodig 3 maal per dag 2 tabletten", 6,
                  ("67903", "PARACETAMOL 500MG TABLET"), ("2194", "PARACETAMOL 500MG TABLET")),
)}


class LabDef(NamedTuple):
    """A lab test: LOINC code, Dutch name, UCUM unit, normal range and usual values; ``nhg``
    the NHG Tabel 45 (code, display) a GP codes it with. Required: the 49 lab query selects
    on NHG Tabel 45, so a GP lab result without it would never reach a PGO."""

    key: str
    loinc: str
    display: str
    unit: str
    low: float
    high: float
    decimals: int
    nhg: tuple[str, str]


LABS: dict[str, LabDef] = {lab.key: lab for lab in (
    LabDef("hba1c", "59261-8", "HbA1c", "mmol/mol", 20, 42, 0,
           ("2816", "HbA1c (glycohemoglobine) IFCC")),
    LabDef("glucose", "14771-0", "Glucose nuchter", "mmol/L", 4.0, 6.1, 1,
           ("372", "glucose nuchter, veneus (lab)")),
    LabDef("egfr", "62238-1", "eGFR CKD-EPI", "mL/min/{1.73_m2}", 60, 130, 0,
           ("3583", "eGFR volgens CKD-EPI formule")),
    LabDef("creatinine", "14682-9", "Creatinine", "umol/L", 50, 110, 0, ("523", "creatinine")),
    LabDef("potassium", "6298-4", "Kalium", "mmol/L", 3.5, 5.0, 1, ("513", "Kalium")),
    LabDef("sodium", "2947-0", "Natrium", "mmol/L", 135, 145, 0, ("624", "Natrium")),
    LabDef("ldl", "22748-8", "LDL-cholesterol", "mmol/L", 1.5, 3.5, 1, ("542", "LDL-cholesterol")),
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
