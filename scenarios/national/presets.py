"""Named what-ifs from the policy documents (issues 6 and 19), each with its assumptions.

All presets share one history (2020 to April 2025, fitted to the observed figures: the Open
House total, the bankruptcy of a vendor with about 40,000 users before 31 March 2025) and change
only what their question is about, after that history. Every number comes from the register in
assumptions.py (source file:line, or inferred with a range).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from scenarios.national import assumptions, market
from scenarios.national.params import Bankruptcy, Config


@dataclass(frozen=True, slots=True)
class Preset:
    """A scenario: a question, the config that answers it, and where its numbers come from.

    band: the forecast range of users in 2025 (growth presets): a check reported next to the
    result, not a target (the model is fitted to observations, not to forecasts).
    """

    name: str
    question: str
    config: Config
    assumptions: tuple[str, ...]
    sources: tuple[str, ...]
    band: tuple[float, float] | None = None
    question_nl: str = ""  # the same question in Dutch (the brief's Dutch column)


QUESTIONS_NL = {
    "growth-easier-exchange": "2025 als gegevensuitwisseling gewoon makkelijker wordt?",
    "growth-vendor-marketing": "2025 als leveranciers hun PGO's promoten?",
    "growth-care-process": "2025 als zorgverleners de PGO in het zorgproces gebruiken?",
    "medelkaar-carry-on": "MedElkaar optie 1: doorgaan zoals nu",
    "medelkaar-shared": "MedElkaar optie 2: gezamenlijke voorzieningen",
    "medelkaar-central": "MedElkaar optie 3: één centraal gebouwde PGO",
    "inspection-on": "Met Mijn Gezondheidsoverzicht (publieke dienst)",
    "inspection-off": "Zonder Mijn Gezondheidsoverzicht",
    "ehds-opt-in": "EHDS: toestemming blijft opt-in (2020-2035)",
    "ehds-opt-out": "EHDS: toestemming wordt opt-out (2020-2035)",
    "plateaus-2035": "De weg naar 2035 in drie plateaus",
}


COMMON = (
    "Every preset shares one history 2020 - April 2025, fitted to what was observed (the Open "
    "House total, the ~40,000-user bankruptcy); levers act only after it",
    "Every number is in the assumptions register: `pgo-sandbox simulate --assumptions`",
    "Financing as sourced: EUR 7.50 per active user 2020-2024 to the scheme's vendors, EUR "
    "30,000 lump sum 2021 only, EUR 15M tender 2025-2027 for three slots; nothing sourced after",
    "Vendors without a contract fail at an inferred rate once the per-user scheme ends",
)

HISTORY = (Bankruptcy("pgo-05", date(2025, 2, 1)),)


def base_config(**changes: object) -> Config:
    """The shared starting point: the register's values, 2020-2032, the observed history."""
    values = assumptions.defaults()
    config = Config(sectors=market.build_sectors(values), dvas=market.DVAS, dvps=market.DVPS,
                    bankruptcies=HISTORY)
    config = assumptions.apply(config, values)
    return replace(config, **changes)  # type: ignore[arg-type]


GUPTA = (1.0e6, 2.0e6)  # 003:307-308: 'almost 1 to almost 2 million users a year in 2025'
SRC_GUPTA = "../shared/policy/003_5703c885c124f2ac.txt:307-308 (three growth scenarios)"
SRC_MGO = ("../shared/policy/001_c35819759b9d49c3.txt:333 (MGO: a public service, being "
           "developed); ../shared/policy/000_5da8e6d4fd385e4a.txt:56 (legal basis: years)")
SRC_OPTIONS = "../shared/policy/003_5703c885c124f2ac.txt:388-397 (the three MedElkaar options)"
SRC_EHDS = "../shared/policy/004_2f5fd5088675fd11.txt:159-161 (opt-in to opt-out, no date)"
SRC_PLATEAUS = "../shared/policy/004_2f5fd5088675fd11.txt:276-283 (three plateaus to 2035)"


def _presets() -> dict[str, Preset]:
    mgo = "Mijn Gezondheidsoverzicht runs from its inferred start date (register) as a public "
    mgo += "service next to the PGOs, reported separately"
    options = dict(years=13, inspection=True)
    presets = [
        Preset("growth-easier-exchange", "2025 if exchange simply gets easier?",
               base_config(years=6, connection_speed=1.5),
               COMMON + ("Gupta scenario 1: after April 2025 connection gaps close 1.5x faster; "
                         "the April 2025 rates stay as sourced (inferred lever)",),
               (SRC_GUPTA,), band=GUPTA),
        Preset("growth-vendor-marketing", "2025 if vendors market their PGOs?",
               base_config(years=6, lever_p=1.5),
               COMMON + ("Gupta scenario 2: marketing raises innovation 1.5x after April 2025 "
                         "(inferred lever)",), (SRC_GUPTA,), band=GUPTA),
        Preset("growth-care-process", "2025 if professionals use the PGO in the care process?",
               base_config(years=6, lever_q=1.3, session_factor=1.3),
               COMMON + ("Gupta scenario 3: professionals raise imitation 1.3x and sessions 1.3x "
                         "after April 2025 (inferred lever)",), (SRC_GUPTA,), band=GUPTA),
        Preset("medelkaar-carry-on", "MedElkaar option 1: carry on as now",
               base_config(**options,
                           vendor_entries=tuple(date(y, 3, 1) for y in range(2026, 2033))),
               COMMON + ("One new vendor a year from 2026 (inferred)",
                         "Every DVP integrates with every DVA: DVAs x DVPs integrations", mgo),
               (SRC_OPTIONS, SRC_MGO)),
        Preset("medelkaar-shared", "MedElkaar option 2: shared components",
               base_config(**options, option="shared",
                           vendor_entries=tuple(date(y, m, 1) for y in range(2026, 2033)
                                                for m in (3, 9))),
               COMMON + ("Generic functions built once 2026-2027: DVAs + DVPs integrations; "
                         "after the build PGO innovation x shared_effect (easier login and "
                         "finding data); two new vendors a year (inferred)", mgo),
               (SRC_OPTIONS, SRC_MGO)),
        Preset("medelkaar-central", "MedElkaar option 3: one centrally built PGO",
               base_config(**options, option="central"),
               COMMON + ("A government PGO from its inferred start takes most new users; vendor "
                         "users move to it; vendors under a minimum leave (inferred)", mgo),
               (SRC_OPTIONS, SRC_MGO)),
        Preset("inspection-on", "With Mijn Gezondheidsoverzicht (public service)",
               base_config(inspection=True), COMMON + (mgo,), (SRC_MGO,)),
        Preset("inspection-off", "Without Mijn Gezondheidsoverzicht",
               base_config(), COMMON + ("No MGO: only vendor PGOs",), (SRC_MGO,)),
        Preset("ehds-opt-in", "EHDS: consent stays opt-in (2020-2035)",
               base_config(years=16), COMMON + ("Opt-in consent all the way to 2035",),
               (SRC_EHDS,)),
        Preset("ehds-opt-out", "EHDS: consent becomes opt-out (2020-2035)",
               base_config(years=16, opt_out=True),
               COMMON + ("Opt-out from an inferred date (register: 2028-2032); a share of "
                         "citizens objects and keeps opt-in consent; for the rest no consent "
                         "screen, consent never lapses, more take-up (inferred)",), (SRC_EHDS,)),
        Preset("plateaus-2035", "The road to 2035 in three plateaus",
               base_config(years=16, inspection=True,
                           plateau_factors=((2020, 1.0), (2027, 1.2), (2031, 1.45))),
               COMMON + ("2023-26 basics, 2027-30 within care networks, 2031-35 across networks: "
                         "use (sessions, innovation, imitation) 1.0x, 1.2x, 1.45x (inferred)",
                         mgo), (SRC_PLATEAUS, SRC_MGO)),
    ]
    return {p.name: replace(p, question_nl=QUESTIONS_NL[p.name]) for p in presets}


PRESETS: dict[str, Preset] = _presets()
DEFAULT = "medelkaar-carry-on"


def get(name: str) -> Preset:
    """The preset called `name`; ValueError lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(PRESETS)}") from None
