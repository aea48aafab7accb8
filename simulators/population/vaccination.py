"""Which vaccinations a person had: the Rijksvaccinatieprogramma (RVP) by birth cohort, and flu.

Data are available from birth year 1992 on (SPEC.md section 7). Schedules follow the RVP
history: DKTP-Hib (hexavalent with hepatitis B from August 2011), pneumococcus from April 2006,
MenC at 14 months from 2002 (MenACWY from 2018, plus at 14 years), BMR at 14 months and 9 years,
DKTP at 4 and DTP at 9 years, HPV for girls from 1993 and for everyone turning 10 from 2022,
the 3-5-11 months infant schedule from 2020, rotavirus from 2024. Flu: every autumn from 60.

Vaccine codes, per FHIR version as the Nictiz fixtures do (REF = ../shared/medmij/testscripts):
BgZ (STU3, zib-Vaccination) codes ATC, as REF ``STU3/BgZ-3-0/MedMij/Cert/_reference/resources/
medmij-bgz-vaccination-ts-01.xml``; Vaccinaties (R4, imm-Vaccination-event) codes the SNOMED
vaccine product first, as REF ``R4/Immunization-2-0/MedMij/*/_reference/resources/*.xml``, then
ATC (as Nictiz/Nictiz-R4-zib2020@63373ef1:examples/nl-core-Vaccination-event-02.xml does).
Every vaccine has a SNOMED product code. From Dutch Nictiz R4 data: pneumococcus 836398006 REF
``R4/Immunization-2-0/MedMij/Test/_reference/resources/6a7b78de-6b07-11ec-0000-020000000000.xml``;
HPV 836379009 REF ``R4/Immunization-2-0/MedMij/Cert/_reference/resources/2e0a05a8-6aad-11ec-0000-
020000000000.xml``; DKTP 871878002 Nictiz/Nictiz-R4-Vaccination-Immunization@be489b4b:package/
examples/nl-core-PhPrd--C2544AB-2168401113883696-871878002.xml; DKTP-Hib-HepB 871895005
"vaccin met uitsluitend antigenen van Corynebacterium diphtheriae, Bordetella pertussis,
Clostridium tetani, humaan poliovirus, Haemophilus influenzae type b en hepatitis B-virus"
Nictiz/Nictiz-R4-Vaccination-Immunization@77a02667ab92:package/examples/d17d5288-6aa3-11ec-0000-
020000000000.xml (an imm-Vaccination-event example, removed again in 7854860c). No Dutch
fixture or example has the others; their codes come from the HL7 IPS value set "Vaccines -
SNOMED CT IPS Free Set" 1.1.0 (SNOMED CT International 2022-07-31), the binding for
Immunization.vaccineCode in the IPS, as shipped in Nictiz/eu-nl-compared@0d0aea3f8a34:profiles/
packages/hl7.fhir.uv.ips-1.1.0/ValueSet-vaccines-snomed-ct-ips-free-set.json (which also lists
the four above): DKTP-Hib 871887006 "Bordetella pertussis and Clostridium tetani and
Corynebacterium diphtheriae and Haemophilus influenzae type b and Human poliovirus antigens only
vaccine product"; MenC 871866001 "Neisseria meningitidis serogroup C only vaccine product";
MenACWY 871873006 "Neisseria meningitidis serogroup A, C, W135 and Y only vaccine product"; BMR
871831003 "Measles morbillivirus and Mumps orthorubulavirus and Rubella virus antigens only
vaccine product"; DTP (the Dutch difterie-tetanus-polio booster) 871837004 "Clostridium tetani
and Corynebacterium diphtheriae and Human poliovirus antigens only vaccine product"; rotavirus
1081000221109 "Live attenuated Rotavirus antigen only vaccine product"; influenza 1181000221105
"Influenza virus antigen only vaccine product". The coding's display is our Dutch name, as for
ATC. ATC sources: J07CA06 Nictiz-R4-zib2020 examples/nl-core-Vaccination-request-01.xml, J07BB02
Nictiz/Nictiz-testscripts@e851d704 (BgZ zib-Vaccination fixtures); the other ATC codes from the
public WHO ATC index (J07).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import NamedTuple

from simulators.population import draw
from simulators.population.clinical import shift_days

RVP_FROM_BIRTH_YEAR = 1992
FLU_FROM_AGE = 60
FLU_SEASONS_KEPT = 5
ATC_SYSTEM = "http://www.whocc.no/atc"


class Vaccine(NamedTuple):
    """A vaccine: its ATC code, a Dutch name and the SNOMED vaccine product, which the R4
    Vaccinaties fixtures code first (so required: an R4 Immunization without it is not coded
    as the fixtures are)."""

    key: str
    atc: str
    display: str
    snomed: str


VACCINES: dict[str, Vaccine] = {v.key: v for v in (
    Vaccine("dktp-hib", "J07CA06", "DKTP-Hib-vaccin", "871887006"),
    Vaccine("dktp-hib-hepb", "J07CA09", "DKTP-Hib-HepB-vaccin", "871895005"),
    Vaccine("pneu", "J07AL02", "Pneumokokkenvaccin", "836398006"),
    Vaccine("menc", "J07AH07", "MenC-vaccin", "871866001"),
    Vaccine("menacwy", "J07AH08", "MenACWY-vaccin", "871873006"),
    Vaccine("bmr", "J07BD52", "BMR-vaccin", "871831003"),
    Vaccine("dktp", "J07CA02", "DKTP-vaccin", "871878002"),
    Vaccine("dtp", "J07CA01", "DTP-vaccin", "871837004"),
    Vaccine("hpv", "J07BM02", "HPV-vaccin", "836379009"),
    Vaccine("rota", "J07BH01", "Rotavirusvaccin", "1081000221109"),
    Vaccine("flu", "J07BB02", "Influenzavaccin", "1181000221105"),
)}
RVP_KEYS = frozenset(VACCINES) - {"flu"}


class Dose(NamedTuple):
    """One administered dose."""

    vaccine: Vaccine
    when: date
    dose_number: int


def _months(birth: date, months: int) -> date:
    year, month = divmod(birth.month - 1 + months, 12)
    return date(birth.year + year, month + 1, min(birth.day, 28))


def _years(birth: date, years: int, extra_days: int = 0) -> date:
    return date(birth.year + years, birth.month, min(birth.day, 28)) + timedelta(days=extra_days)


@lru_cache(maxsize=1 << 15)  # ~12,000 birth dates since 1992, two sexes; ~9 us to build
def rvp_schedule(birth: date, sex: str) -> tuple[tuple[str, date], ...]:
    """The full programme for this birth date and sex, as (vaccine key, due date) pairs."""
    if birth.year < RVP_FROM_BIRTH_YEAR:
        return ()
    out: list[tuple[str, date]] = []
    infant = (3, 5, 11) if birth >= date(2020, 1, 1) else (2, 3, 4, 11)
    hexa = "dktp-hib-hepb" if birth >= date(2011, 8, 1) else "dktp-hib"
    out += [(hexa, _months(birth, m)) for m in infant]
    if birth >= date(2006, 4, 1):
        pneu = (3, 5, 11) if birth >= date(2020, 1, 1) else (2, 4, 11)
        out += [("pneu", _months(birth, m)) for m in pneu]
    if birth >= date(2024, 1, 1):
        out += [("rota", birth + timedelta(days=42)), ("rota", birth + timedelta(days=84))]
    if birth >= date(2017, 3, 1):
        out.append(("menacwy", _months(birth, 14)))
    elif birth >= date(2001, 6, 1):
        out.append(("menc", _months(birth, 14)))
    else:  # the 2002 catch-up campaign for everyone aged 1 to 18
        out.append(("menc", date(2002, 6, 15) + timedelta(days=birth.toordinal() % 90)))
    if date(2001, 5, 1) <= birth < date(2004, 5, 1):  # 2018 MenACWY catch-up
        out.append(("menacwy", date(2018, 6, 1) + timedelta(days=birth.toordinal() % 60)))
    elif birth >= date(2004, 5, 1):
        out.append(("menacwy", _years(birth, 14)))
    out += [("bmr", _months(birth, 14)), ("dktp", _years(birth, 4)),
            ("dtp", _years(birth, 9)), ("bmr", _years(birth, 9, 7))]
    if birth >= date(2011, 1, 1):
        out += [("hpv", _years(birth, 10)), ("hpv", _years(birth, 10, 182))]
    elif sex == "female":
        if birth.year <= 1996:  # the 2009 catch-up campaign, three doses
            start = date(2009, 3, 1) + timedelta(days=birth.toordinal() % 30)
        else:
            start = _years(birth, 12)
        doses = 3 if birth.year <= 2000 else 2
        gaps = (0, 30, 182) if doses == 3 else (0, 182)
        out += [("hpv", start + timedelta(days=g)) for g in gaps]
    return tuple(sorted(out, key=lambda pair: pair[1]))


def participation(seed: int, index: int) -> float:
    """How far along the programme this person went: 1.0 complete, 0.0 none (hesitant)."""
    u = draw.unit(draw.RVP, seed, index)
    if u < 0.04:
        return 0.0
    if u < 0.07:
        return 0.4
    return 1.0


def doses(seed: int, index: int, birth: date, sex: str, as_of: date) -> list[Dose]:
    """Administered RVP doses up to ``as_of`` (dates jittered by a few days, as in practice)."""
    part = participation(seed, index)
    plan = rvp_schedule(birth, sex)
    plan = plan[: int(len(plan) * part + 0.5)]
    if not plan:  # born before the programme (most adults): no generator to seed (~3 us)
        return []
    r = draw.rng(seed, index, draw.VACCINATION)
    out: list[Dose] = []
    counts: dict[str, int] = {}
    for key, due in plan:
        when = shift_days(due, int(r.random() * 21))
        if when > as_of:
            break
        counts[key] = counts.get(key, 0) + 1
        out.append(Dose(VACCINES[key], when, counts[key]))
    return out


def flu_doses(seed: int, index: int, birth: date, as_of: date) -> list[Dose]:
    """Flu shots of the last seasons for people of 60 and over (uptake ~55%, habitual)."""
    habit = draw.unit(draw.FLU, seed, index)
    out: list[Dose] = []
    last_season = as_of.year if as_of >= date(as_of.year, 11, 1) else as_of.year - 1
    n = 0
    for year in range(last_season - FLU_SEASONS_KEPT + 1, last_season + 1):
        if year - birth.year < FLU_FROM_AGE:
            continue
        if draw.unit(draw.FLU_SEASON, seed, index, year) < 0.35 + 0.4 * (habit < 0.6):
            n += 1
            out.append(Dose(VACCINES["flu"], date(year, 10, 1 + int(habit * 28)), n))
    return out
