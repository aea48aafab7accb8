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
SNOMED sources: pneumococcus 836398006 REF ``R4/Immunization-2-0/MedMij/Test/_reference/
resources/6a7b78de-6b07-11ec-0000-020000000000.xml``; HPV 836379009 REF ``R4/Immunization-2-0/
MedMij/Cert/_reference/resources/2e0a05a8-6aad-11ec-0000-020000000000.xml``; DKTP 871878002
Nictiz/Nictiz-R4-Vaccination-Immunization@be489b4b:package/examples/
nl-core-PhPrd--C2544AB-2168401113883696-871878002.xml. No fixture has a SNOMED code for the
other RVP vaccines: they are ATC only. ATC sources: J07CA06 Nictiz-R4-zib2020 examples/
nl-core-Vaccination-request-01.xml, J07BB02 Nictiz/Nictiz-testscripts@e851d704 (BgZ
zib-Vaccination fixtures); the other ATC codes from the public WHO ATC index (J07).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import NamedTuple

from simulators.population import draw

RVP_FROM_BIRTH_YEAR = 1992
FLU_FROM_AGE = 60
FLU_SEASONS_KEPT = 5
ATC_SYSTEM = "http://www.whocc.no/atc"


class Vaccine(NamedTuple):
    """A vaccine: its ATC code, the SNOMED vaccine product where known, and a Dutch name."""

    key: str
    atc: str
    display: str
    snomed: str | None = None


VACCINES: dict[str, Vaccine] = {v.key: v for v in (
    Vaccine("dktp-hib", "J07CA06", "DKTP-Hib-vaccin"),
    Vaccine("dktp-hib-hepb", "J07CA09", "DKTP-Hib-HepB-vaccin"),
    Vaccine("pneu", "J07AL02", "Pneumokokkenvaccin", "836398006"),
    Vaccine("menc", "J07AH07", "MenC-vaccin"),
    Vaccine("menacwy", "J07AH08", "MenACWY-vaccin"),
    Vaccine("bmr", "J07BD52", "BMR-vaccin"),
    Vaccine("dktp", "J07CA02", "DKTP-vaccin", "871878002"),
    Vaccine("dtp", "J07CA01", "DTP-vaccin"),
    Vaccine("hpv", "J07BM02", "HPV-vaccin", "836379009"),
    Vaccine("rota", "J07BH01", "Rotavirusvaccin"),
    Vaccine("flu", "J07BB02", "Influenzavaccin"),
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


def rvp_schedule(birth: date, sex: str) -> list[tuple[str, date]]:
    """The full programme for this birth date and sex, as (vaccine key, due date) pairs."""
    if birth.year < RVP_FROM_BIRTH_YEAR:
        return []
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
    return sorted(out, key=lambda pair: pair[1])


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
    if part == 0.0:
        return []
    r = random.Random((seed << 40) ^ (index << 4) ^ draw.VACCINATION)
    plan = rvp_schedule(birth, sex)
    plan = plan[: int(len(plan) * part + 0.5)]
    out: list[Dose] = []
    counts: dict[str, int] = {}
    for key, due in plan:
        when = due + timedelta(days=int(r.random() * 21))
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
