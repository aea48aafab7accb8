"""Named what-ifs from the policy documents (issue 6), each with its assumptions and sources.

All presets share one history (the market of 2023, the 2025 bankruptcy of a vendor with about
40,000 users) and change only what their question is about. Sources point at
`../shared/medmij/SPEC.md` (the digest of the seed documents); "inferred" marks our estimates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from scenarios.national import market
from scenarios.national.params import Bankruptcy, Config, Financing


@dataclass(frozen=True, slots=True)
class Preset:
    """A scenario: a question, the config that answers it, and where its numbers come from.

    band: the documented range of users in 2025 (growth presets), checked by the tests.
    """

    name: str
    question: str
    config: Config
    assumptions: tuple[str, ...]
    sources: tuple[str, ...]
    band: tuple[float, float] | None = None


SOURCES = (
    "SPEC.md §7: MedMij connection 2025 (86% hospitals, 73% rehabilitation, 46% independent "
    "clinics, 92% GPs, 49 GGZ institutions, pharmacies not yet); over 50,000 providers",
    "SPEC.md §7: expected use in 2025 of 1 to 2 million users a year, three growth scenarios",
    "SPEC.md §7: EUR 7.50 per active user per year; EUR 30,000 lump sum per admitted vendor; "
    "EUR 15 million for three contracted vendors 2025-2027",
    "SPEC.md §6: about 20 DVAs and 20+ DVPs; a vendor with about 40,000 users went bankrupt "
    "(2025); removal from OCL and Whitelist takes effect within one list refresh",
    "SPEC.md §2-3: lists refreshed every 900 s; long-lived consent lapses after 6 months "
    "without collecting",
)

COMMON = (
    "Population 17.9M on 1 Jan 2023, 165k births, 0.95% deaths, +120k net migration a year "
    "(inferred, CBS order of magnitude)",
    "The seeds give no account count for 2023; the run starts from 700k accounts on 1 Jan "
    "2023 (inferred) spread over 24 vendors with Zipf shares",
    "Adoption is Bass diffusion on 53% of the population (inferred: adults willing to use one)",
    "An active user collected in the last 4 weeks; funding counts users with a collect in the "
    "last 52 weeks (inferred reading of 'active user per year')",
    "DVA service times: FHIR search median 60 ms (p95 250), token 15 ms, flow page 30 ms "
    "(inferred; replace with --calibrate); DVAs sized for 2.5M users at 50% peak utilisation, "
    "+10% capacity a year (inferred)",
    "Vendor pgo-08 (about 40k users then) goes bankrupt on 1 Jun 2025; 60% of its users take "
    "a portability report to another PGO within 90 days, the rest drop out (inferred split)",
)

HISTORY = (Bankruptcy("pgo-08", date(2025, 6, 1)),)


def base_config(**changes: object) -> Config:
    """The shared starting point: the market of 2023 and the mid growth path."""
    config = Config(sectors=market.SECTORS, dvas=market.DVAS, dvps=market.DVPS,
                    initial_users=700_000, bass_p=0.024, bass_q=0.15, bankruptcies=HISTORY)
    return replace(config, **changes)  # type: ignore[arg-type]


def _faster_connection(factor: float) -> tuple:
    """Sectors whose connection gap closes `factor` faster (easier exchange)."""
    sectors = []
    for s in market.SECTORS:
        points = tuple((y, min(1.0, c + (1 - c) * (factor - 1) * max(0, y - 2023) / 10))
                       for y, c in s.connection)
        sectors.append(replace(s, connection=points))
    return tuple(sectors)


MGO_LAUNCH = date(2025, 7, 1)  # (inferred) public launch of Mijn Gezondheidsoverzicht


def _presets() -> dict[str, Preset]:
    growth = "SPEC.md §7: three growth scenarios for 2025"
    presets = [
        Preset("growth-easier-exchange", "2025 if exchange simply gets easier?",
               base_config(bass_p=0.01, bass_q=0.18, sectors=_faster_connection(1.5)),
               COMMON + ("Low growth: innovation p=0.010, imitation q=0.18; connection gaps "
                         "close 1.5x faster (inferred)",
                         "Documented band for 2025: 1.0-1.4M users (inferred split of 1-2M)"),
               SOURCES + (growth,), band=(1.0e6, 1.4e6)),
        Preset("growth-vendor-marketing", "2025 if vendors market their PGOs?",
               base_config(),
               COMMON + ("Mid growth: marketing raises innovation p=0.024, q=0.15 (inferred)",
                         "Documented band for 2025: 1.3-1.7M users (inferred split of 1-2M)"),
               SOURCES + (growth,), band=(1.3e6, 1.7e6)),
        Preset("growth-care-process", "2025 if professionals use the PGO in the care process?",
               base_config(bass_p=0.012, bass_q=0.30, session_factor=1.3),
               COMMON + ("High growth: word of mouth through professionals q=0.30, p=0.012; "
                         "30% more collect sessions per user (inferred)",
                         "Documented band for 2025: 1.6-2.0M users (inferred split of 1-2M)"),
               SOURCES + (growth,), band=(1.6e6, 2.0e6)),
        Preset("medelkaar-carry-on", "MedElkaar option 1: carry on as now",
               base_config(years=10, inspection_from=MGO_LAUNCH, vendor_failure_rate=0.03,
                           vendor_entries=tuple(date(y, 3, 1) for y in range(2026, 2033))),
               COMMON + ("About 24 vendors, one new vendor admitted a year from 2026, small "
                         "vendors fail at 3% a year (inferred)",
                         "Every DVP integrates with every DVA: DVAs x DVPs integrations",
                         "MGO (public inspection function) from 1 Jul 2025"),
               SOURCES),
        Preset("medelkaar-shared", "MedElkaar option 2: shared components",
               base_config(years=10, option="shared", inspection_from=MGO_LAUNCH,
                           vendor_failure_rate=0.03,
                           vendor_entries=tuple(date(y, m, 1) for y in range(2026, 2033)
                                                for m in (3, 9))),
               COMMON + ("Generic functions built once (localisation, addressing, consent): "
                         "each DVA and DVP connects once, so DVAs + DVPs integrations",
                         "Lower entry barrier: two new vendors a year (inferred)",
                         "Build EUR 10M/yr 2026-2027, then EUR 6M/yr to run (inferred)"),
               SOURCES),
        Preset("medelkaar-central", "MedElkaar option 3: one centrally built PGO",
               base_config(years=10, option="central", central_from=date(2026, 1, 1),
                           financing=Financing(per_active_user_until=2027)),
               COMMON + ("A government PGO from 1 Jan 2026 takes 85% of new users; 30% of "
                         "vendor users a year move to it; vendors under 5,000 users leave "
                         "(90% of their users migrate) (inferred)",
                         "It includes the inspection function (no separate MGO)",
                         "Build EUR 30M/yr 2026-2027, run EUR 20M/yr + EUR 1 per account; the "
                         "EUR 7.50 scheme stops after 2027 (inferred)"),
               SOURCES),
        Preset("inspection-on", "With the public inspection function (MGO)",
               base_config(years=6, inspection_from=MGO_LAUNCH),
               COMMON + ("MGO from 1 Jul 2025 takes 30% of new users, raises innovation 1.5x and "
                         "the potential 10%; it stores nothing, so each view collects live and "
                         "needs a DigiD login: twice the sessions (inferred)",
                         "Running MGO costs EUR 15M/yr (inferred)"),
               SOURCES + ("SPEC.md §1: MGO acts as a DVP that collects live and stores nothing "
                          "centrally",)),
        Preset("inspection-off", "Without the public inspection function",
               base_config(years=6), COMMON + ("No MGO: only vendor PGOs",), SOURCES),
        Preset("ehds-opt-in", "EHDS: consent stays opt-in (2023-2035)",
               base_config(years=13), COMMON + ("Opt-in consent all the way to 2035",), SOURCES),
        Preset("ehds-opt-out", "EHDS: consent becomes opt-out (2023-2035)",
               base_config(years=13, opt_out_from=date(2029, 1, 1)),
               COMMON + ("From 1 Jan 2029 (inferred EHDS date) consent is opt-out: no consent "
                         "screen, consent never lapses, innovation 2x, potential +25% "
                         "(inferred)",),
               SOURCES + ("SPEC.md §7: EHDS moves consent from opt-in to opt-out",)),
        Preset("plateaus-2035", "The road to 2035 in three plateaus",
               base_config(years=13, inspection_from=MGO_LAUNCH,
                           plateau_factors=((2023, 1.0), (2027, 1.2), (2031, 1.45))),
               COMMON + ("2023-26 basics, 2027-30 within care networks, 2031-35 across networks: "
                         "connection rates rise per plateau (pharmacies from 2027) and use "
                         "(sessions, innovation, imitation) is 1.0x, 1.2x, 1.45x (inferred)",),
               SOURCES + ("SPEC.md §7: data availability goal 2035 in three plateaus",)),
    ]
    return {p.name: p for p in presets}


PRESETS: dict[str, Preset] = _presets()
DEFAULT = "medelkaar-carry-on"


def get(name: str) -> Preset:
    """The preset called `name`; ValueError lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(PRESETS)}") from None
