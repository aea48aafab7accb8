"""The assumptions register: every number of the national model, with where it comes from.

Issue 19: a what-if is only as good as the numbers it rests on, so each number is one
`Assumption`. It is either

- **sourced**: it carries `source` = `<file>:<line>` in `../shared/policy/` and `quote`, the text
  on that line that carries the number (tests/scenarios/national/test_national_assumptions.py
  opens the file and checks the quote is on that line);
- **protocol**: a rule of the MedMij protocol the sandbox implements (`../medmij/SPEC.md`), not a
  policy figure;
- **inferred**: our estimate, with a range (`low`..`high`) and a one-line reason; the uncertainty
  analysis (uncertainty.py) samples these ranges;
- **fitted**: inferred, then fitted by `--calibrate` to the observed figures (calibration.py);
  the value here is the committed fit (seed 1, `pgo-sandbox simulate --calibrate`), the range
  is the prior's;
- **technical**: a knob of the model itself (accuracy vs speed), not a claim about the world.

Keys name what they set: a `Config` field (`bass_p`), a financing field (`financing.x`), the
historic bankruptcy (`history.x`), a sector (`sector.<name>.<x>`), or a fact the model only
reports or checks against (`fact.x`, `observed.x`). `apply(config, values)` writes values into a
config; presets.base_config builds every preset from `defaults()`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

POLICY = "../shared/policy/"
F000 = "000_5da8e6d4fd385e4a.txt"  # letter 2023: acceleration, inspection function
F001 = "001_c35819759b9d49c3.txt"  # answers to parliamentary questions, 8 April 2025
F002 = "002_f82fcbbf2919e269.txt"  # letter late 2020: per-user scheme, lump sum
F003 = "003_5703c885c124f2ac.txt"  # MedElkaar start note, January 2023
F004 = "004_2f5fd5088675fd11.txt"  # overarching letter: plateaus, EHDS opt-out


@dataclass(frozen=True, slots=True)
class Assumption:
    """One number: its value, unit, meaning and provenance."""

    key: str
    value: Any
    unit: str
    what: str
    kind: str = "inferred"  # sourced | protocol | inferred | fitted | technical
    source: str | None = None  # "<file>:<line>" under ../shared/policy/ (or SPEC.md §)
    quote: str | None = None  # text on that line carrying the number
    low: Any = None
    high: Any = None
    why: str = ""

    @property
    def citation(self) -> str:
        if self.kind == "sourced" and self.source:
            return POLICY + self.source
        if self.source:
            return self.source
        return ""

    @property
    def sampled(self) -> bool:
        """Whether the uncertainty analysis varies it (inferred or fitted with a range)."""
        return self.kind in ("inferred", "fitted") and self.low is not None \
            and self.high is not None and self.low != self.high

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["citation"] = self.citation
        return data


def _s(key: str, value: Any, unit: str, what: str, source: str, quote: str) -> Assumption:
    return Assumption(key, value, unit, what, "sourced", source, quote)


def _i(key: str, value: Any, unit: str, what: str, low: Any, high: Any, why: str) -> Assumption:
    return Assumption(key, value, unit, what, "inferred", low=low, high=high, why=why)


def _f(key: str, value: Any, unit: str, what: str, low: Any, high: Any, why: str) -> Assumption:
    return Assumption(key, value, unit, what, "fitted", low=low, high=high, why=why)


def _p(key: str, value: Any, unit: str, what: str, section: str) -> Assumption:
    return Assumption(key, value, unit, what, "protocol", "../medmij/SPEC.md " + section)


def _t(key: str, value: Any, unit: str, what: str, why: str) -> Assumption:
    return Assumption(key, value, unit, what, "technical", why=why)


APRIL_2025 = 2025 + 97 / 365  # the connection rates are as of the answers of 8 April 2025
CBS = "not in the sources; CBS order of magnitude"

REGISTER: tuple[Assumption, ...] = (
    # -- financing (sourced) -----------------------------------------------------------
    _s("financing.per_user_eur", 7.50, "EUR/user/yr", "per-user scheme: paid per active user",
       f"{F002}:62", "7,50 euro per actieve gebruiker"),
    _s("fact.per_user_active", "collected or shared once", "-",
       "an active user collected or shared data at least once (in the year)",
       f"{F002}:61", "tenminste één keer actief gegevens heeft opgehaald of gedeeld"),
    _s("financing.per_user_from", 2020, "year", "per-user (Open House) scheme: first year paid",
       f"{F001}:258", "In de jaren 2020-2024 is via de Open House-regeling"),
    _s("financing.per_user_until", 2024, "year", "per-user scheme: last year paid (extension "
       "options were up to and including 2023, payments ran to 2024)",
       f"{F001}:258", "2020-2024"),
    _s("fact.scheme_extension", 2023, "year", "the scheme was temporary, yearly extension "
       "options up to and including 2023", f"{F002}:60", "en met 2023"),
    _s("financing.scheme_vendors", 19, "vendors", "vendors paid by the Open House scheme",
       f"{F001}:259", "aan 19 PGO leveranciers"),
    _s("observed.open_house_total_eur", 8.1e6, "EUR", "paid by the Open House scheme 2020-2024 "
       "(calibration target; reproduced by per-user payments + lump sums)",
       f"{F001}:259", "€8,1 miljoen betaald"),
    _s("financing.lump_sum_eur", 30_000.0, "EUR/vendor", "lump sum per vendor admitted to the "
       "scheme, towards requalification", f"{F002}:81", "lumpsum bijdrage van 30.000 euro"),
    _s("financing.lump_sum_year", 2021, "year", "the lump sum is paid in 2021 only",
       f"{F002}:79", "in 2021 als tegemoet"),
    _s("financing.impulse_eur", 4.0e6, "EUR", "impulse funding to 25 vendors (historic line)",
       f"{F001}:257", "impulsfinanciering van € 4,0 miljoen"),
    _s("financing.impulse_year", 2018, "year", "year of the impulse funding",
       f"{F001}:257", "In 2018 is aan 25 PGO-leveranciers"),
    _s("financing.tender_total_eur", 15e6, "EUR", "tender: total contract value 2025-2027",
       f"{F001}:261", "opdrachtwaarde hiervan is € 15 miljoen"),
    _s("financing.tender_from", 2025, "year", "tender period: first year",
       f"{F001}:260", "periode 2025-2027"),
    _s("financing.tender_until", 2027, "year", "tender period: last year",
       f"{F001}:260", "2025-2027"),
    _s("fact.tender_slots", 3, "vendors", "three vendors contracted by the tender",
       f"{F001}:260", "drie PGO-leveranciers"),
    _s("fact.medmij_2016_2024_eur", 56.0e6, "EUR", "MedMij (Afsprakenstelsel) 2016-2024 "
       "(historic line)", f"{F001}:266", "tussen 2016 en 2024 €56,0 miljoen"),
    _s("fact.vipp_2017_2023_eur", 450e6, "EUR", "VIPP programmes 2017-2023, all sectors, about "
       "EUR 450M (historic line; the '3' after 450 on that line is footnote 3)",
       f"{F001}:286", "circa €4503 miljoen"),
    _i("financing.tender_split", "even", "-", "the EUR 15M is paid in equal parts per slot and "
       "year", None, None, "the sources give only the total"),
    _i("financing.tender_slots", ("pgo-01", "pgo-02", "pgo-03"), "vendors", "the contract slots "
       "go to the three largest vendors", None, None, "the sources do not name them; the "
       "model names vendors generically"),
    _i("financing.inspection_eur_per_year", 15e6, "EUR/yr", "running Mijn Gezondheidsoverzicht",
       5e6, 30e6, "no figure in the sources; order of a national public portal"),
    _i("financing.shared_build_eur_per_year", 10e6, "EUR/yr", "MedElkaar option 2: building "
       "shared components (2026-2027)", 5e6, 20e6, "the start note gives no costs (003:389)"),
    _i("financing.shared_run_eur_per_year", 6e6, "EUR/yr", "option 2: running them", 3e6, 12e6,
       "no figure in the sources"),
    _i("financing.central_build_eur_per_year", 30e6, "EUR/yr", "MedElkaar option 3: building a "
       "central PGO (2026-2027)", 15e6, 60e6, "no figure in the sources (003:397)"),
    _i("financing.central_run_eur_per_year", 20e6, "EUR/yr", "option 3: running it", 10e6, 40e6,
       "no figure in the sources"),
    _i("financing.central_per_user_eur", 1.0, "EUR/account/yr", "option 3: hosting per account",
       0.5, 3.0, "cloud hosting order of magnitude"),
    # -- connection of providers (sourced for April 2025) ----------------------------------
    _s("fact.connection_date", "2025-04-08", "date", "date of the connection rates below",
       f"{F001}:14", "Datum 8 april 2025"),
    _s("sector.hospital.c2025", 0.86, "share", "hospitals connected to MedMij (April 2025)",
       f"{F001}:81", "86% van de"),
    _s("sector.rehabilitation.c2025", 0.73, "share", "rehabilitation hospitals connected",
       f"{F001}:82", "73% van de revalidatieziekenhuizen"),
    _s("sector.independent-clinic.c2025", 0.46, "share", "independent clinics connected",
       f"{F001}:82", "46%"),
    _s("sector.gp.c2025", 0.92, "share", "GPs connected", f"{F001}:83", "92% van de huisartsen"),
    _s("sector.ggz.connected_2025", 49, "institutions", "GGZ institutions connected (a count, "
       "not a share)", f"{F001}:83", "49 GGZ-instellingen"),
    _s("sector.pharmacy.c2025", 0.0, "share", "pharmacy data not yet available in PGOs",
       f"{F001}:84", "apothekers zijn nog niet beschikbaar"),
    _s("sector.rivm.c2025", 1.0, "share", "vaccination data (RVP, born 1992 or later) can be "
       "collected by April 2025", f"{F001}:87", "Rijksvaccinatieprogramma"),
    _s("sector.rivm.from", 2024.0, "year", "vaccination data expected 'next year' in the 2023 "
       "letter: not before 2024", f"{F000}:63", "volgend jaar naar de huidige PGO"),
    _s("fact.providers", 50_000, "providers", "more than 50,000 care providers to connect",
       f"{F001}:79", "meer dan 50.000 zorgaanbieders"),
    _i("sector.ggz.providers", 250, "institutions", "GGZ institutions in total (49 connected "
       "gives 20%)", 150, 400, "the sources give the connected count only"),
    _i("sector.pharmacy.from", 2027.0, "year", "pharmacy data (medication overview) start to "
       "flow", 2026.0, 2029.0, "'being worked on' in April 2025 (001:85), no date"),
    _i("sector.pharmacy.c2035", 0.90, "share", "pharmacies connected by 2035", 0.6, 1.0,
       "plateau 3 aims at data availability (004:283)"),
    _i("sector.c2020_factor", 0.45, "x 2025", "2020 connection as a share of April 2025",
       0.25, 0.7, "VIPP subsidies ran 2017-2023 (001:272); exchange started in 2021 (002:44)"),
    _i("sector.c2035_gap_closed", 0.85, "share of gap", "share of the 2025 connection gap "
       "closed by 2035", 0.5, 1.0, "plateau 3 aims at data availability (004:283)"),
    _i("sector.other.c2035", 0.30, "share", "other providers (physiotherapy, dentists, long-term "
       "care, ...) connected by 2035", 0.1, 0.6, "no rates in the sources; they start at 0"),
    _i("sector.other.from", 2027.0, "year", "other providers start to connect", 2026.0, 2030.0,
       "plateau 2 (2027-2030) brings data availability in care networks (004:280)"),
    _t("sector.counts", "hospital 70, gp 4900, pharmacy 1990, ggz 250, rehabilitation 30, "
       "independent-clinic 300, rivm 1, other = 50,000 - the rest", "providers",
       "provider counts per kind", "only the 50,000 total is sourced; counts set DVA sizes"),
    _t("sector.reach", "hospital .35, gp .75, pharmacy .65, ggz .05, rehabilitation .01, "
       "independent-clinic .06, rivm .38, other .30", "share",
       "share of persons with data at that kind of provider", "shape load, not adoption"),
    _i("availability_elasticity", 1.0, "-", "adoption and use scale as (data availability / "
       "April 2025) to this power", 0.5, 1.5, "the sources tie slow uptake to missing data "
       "(001:79-84, 000:29-31); strength unknown"),
    _t("lever_from", "2025-04-08", "date", "scenario levers (growth presets) act from the "
       "date of the last observed figures", "history before it is shared by every preset"),
    _t("connection_speed", 1.0, "x", "lever: after April 2025 connection gaps close this much "
       "faster", "a preset's what-if, not a fact"),
    # -- population (inferred) -------------------------------------------------------------
    _i("population", 17_400_000, "persons", "population on 1 Jan 2020", 17_300_000, 17_500_000,
       CBS),
    _i("births_per_year", 170_000, "persons/yr", "births", 160_000, 180_000, CBS),
    _i("death_rate", 0.0088, "/yr", "deaths per person per year", 0.0085, 0.0095, CBS),
    _i("net_migration_per_year", 100_000, "persons/yr", "net migration", 50_000, 200_000, CBS),
    # -- adoption and use (fitted / inferred) ----------------------------------------------
    _s("fact.use_2020", "mondjesmaat", "-", "use in 2020 was only possible on a small scale",
       f"{F002}:99", "mondjesmaat mogelijk"),
    _f("initial_users", 57_893, "accounts", "PGO accounts on 1 Jan 2020", 10_000, 250_000,
       "use in 2020 'on a small scale' (002:99); fitted to the Open House total"),
    _f("bass_p", 0.02121, "/yr", "Bass innovation: spontaneous take-up", 0.001, 0.03,
       "fitted to the Open House total and the ~40,000-user vendor"),
    _i("bass_q", 0.25, "/yr", "Bass imitation: word of mouth", 0.10, 0.40,
       "typical Bass values for consumer IT"),
    _i("market_potential", 0.53, "share", "share of the population that would ever use a PGO",
       0.35, 0.75, "IZA: everyone who wants one (003:251-252); not everyone will"),
    _i("return_rate", 0.10, "/yr", "former users who take a PGO up again", 0.03, 0.2,
       "no figure in the sources"),
    _f("dormant_churn", 0.1210, "/yr", "accounts unused for a year that are closed", 0.05, 0.8,
       "fitted: accounts (the ~40,000) vs yearly active users (the EUR 8.1M)"),
    _f("session_engaged", 0.03664, "/day", "collect sessions per user per day, collected in "
       "the last 4 weeks", 0.01, 0.08, "fitted: sets who stays active"),
    _f("session_dormant", 0.005159, "/day", "sessions per user per day, 4 weeks to 6 months since "
       "the last collect", 0.002, 0.03, "fitted: sets who collects at least once a year"),
    _f("session_lapsed", 0.000911, "/day", "sessions per user per day, 6 months or more", 0.0005,
       0.01, "fitted: sets who collects at least once a year"),
    _i("peak_hour_share", 0.11, "share", "busiest hour's share of a day's requests", 0.08, 0.15,
       "web traffic order of magnitude"),
    _i("long_lived_share", 0.75, "share", "users who tick long-lived consent", 0.5, 0.9,
       "no figure in the sources"),
    _s("fact.plateau_1", "2023-2026", "years", "plateau 1: basics in order",
       f"{F004}:277", "2023 - 2026"),
    _s("fact.plateau_2", "2027-2030", "years", "plateau 2: data availability in care networks",
       f"{F004}:280", "2027 - 2030"),
    _s("fact.plateau_3", "2031-2035", "years", "plateau 3: data availability across networks",
       f"{F004}:283", "plateau 3 in 2031 - 2035"),
    _i("plateau_use", "1.0, 1.2, 1.45", "x", "use per plateau (plateaus-2035 preset only)",
       None, None, "the letter names the plateaus, not their effect on use"),
    # -- the historic bankruptcy ------------------------------------------------------------
    _s("observed.bankrupt_users", 40_000, "users", "users of the PGO vendor that went bankrupt "
       "(calibration target)", f"{F001}:189", "40.000 gebruikers"),
    _s("fact.bankruptcy_before", "2025-03-31", "date", "the parliamentary questions about it "
       "were filed on 31 March 2025", f"{F001}:45", "ingezonden d.d. 31 maart 2025"),
    _s("fact.portability", "portability report", "-", "a PGO must produce a portability report; "
       "the curator handles it", f"{F001}:206", "portabiliteitsrapport"),
    _i("history.vendor", "pgo-05", "vendor", "which vendor went bankrupt (rank 5 of 24, about 5% "
       "of accounts)", None, None, "the sources do not give its share; with the EUR 8.1M total a "
       "rank-8 vendor (3%) cannot have had 40,000 users (fit errors +13%/-10% at the bounds)"),
    _i("history.when", "2025-02-01", "date", "the bankruptcy date", "2024-10-01", "2025-03-28",
       "before the questions of 31 March 2025 (001:45); exact date not in the sources"),
    _i("history.migrate_share", 0.6, "share", "its users who take a portability report to "
       "another PGO", 0.3, 0.85, "no figure in the sources"),
    _i("history.window_days", 90, "days", "curator window for portability before deletion", 30,
       180, "the curator deletes once the bankruptcy is settled (001:203-204); no duration"),
    _i("migration_daily", 0.05, "/day", "daily chance a stranded user picks a new PGO", 0.01,
       0.1, "no figure in the sources"),
    _i("vendor_failure_rate", 0.10, "/yr", "failure hazard of vendors without a contract once "
       "the per-user scheme ends", 0.0, 0.25, "their scheme revenue stops after 2024 (001:258)"),
    _i("failure_migrate_share", 0.6, "share", "users of a failed vendor who migrate", 0.3, 0.85,
       "as the historic bankruptcy"),
    _i("failure_window_days", 90, "days", "curator window after a later failure", 30, 180,
       "as the historic bankruptcy"),
    # -- market -----------------------------------------------------------------------------
    _s("observed.dvas_2023", 20, "DVAs", "'almost 20' DVAs at the start of 2023",
       f"{F003}:89", "bijna 20"),
    _s("observed.dvps_2023", 21, "DVPs", "'over 20' DVPs at the start of 2023",
       f"{F003}:89", "ruim 20"),
    _s("fact.label_2020", 30, "vendors", "vendors with the MedMij label, late 2020",
       f"{F002}:37", "30 leveranciers"),
    _t("vendors", "24 vendors, Zipf shares (exponent 1)", "-", "the vendor market",
       "generic names; about 20+ DVPs (003:89)"),
    # -- forecasts (checks, not targets) -----------------------------------------------------
    _s("check.gupta_2025_low", 1.0e6, "users/yr", "Gupta forecast for 2025: 'almost 1' million "
       "users a year (lowest scenario)", f"{F003}:307", "bijna 1 tot bijna 2"),
    _s("check.gupta_2025_high", 2.0e6, "users/yr", "Gupta forecast for 2025: 'almost 2' million "
       "(highest scenario)", f"{F003}:308", "miljoen PGO-gebruikers per jaar in 2025"),
    _s("fact.iza_goal", "2025", "-", "IZA goal: everyone who wants one has a usable, well-filled "
       "PGO in 2025", f"{F003}:252", "in 2025 over een gebruiksvriendelijke en goed gevulde PGO"),
    # -- Mijn Gezondheidsoverzicht (public service) --------------------------------------------
    _s("fact.mgo_public_service", "in development", "-", "MGO is being developed as a public "
       "service (April 2025)", f"{F001}:333", "Mijn Gezondheidsoverzicht ontwikkeld"),
    _s("fact.mgo_legal_basis", "several years", "-", "its legal basis may take several years",
       f"{F000}:56", "enkele jaren kunnen vergen"),
    _i("inspection_from", "2028-01-01", "date", "MGO goes live", "2026-07-01", "2030-12-31",
       "in development in April 2025 (001:333); legal basis may take years (000:56)"),
    _i("inspection_potential", 0.40, "share", "share of citizens who would ever use MGO", 0.2,
       0.7, "compared with mijnpensioenoverzicht.nl (001:335); no figure"),
    _i("inspection_p", 0.02, "/yr", "MGO innovation", 0.005, 0.05, "no figure in the sources"),
    _i("inspection_q", 0.30, "/yr", "MGO imitation", 0.1, 0.5, "no figure in the sources"),
    _i("inspection_session_rate", 0.01, "/day", "MGO views per user per day (each collects "
       "live: it stores nothing, 000:40)", 0.004, 0.03, "no figure in the sources"),
    _i("inspection_pgo_effect", 1.0, "x", "MGO's effect on PGO innovation (PGOs 'go further "
       "where MGO stops', 001:337)", 0.8, 1.2, "could draw users to PGOs or keep them away"),
    # -- EHDS ---------------------------------------------------------------------------------
    _s("fact.ehds_in_force", 2025, "year", "the EHDS came into force in 2025",
       f"{F001}:74", "in 2025 de"),
    _s("fact.opt_out", "opt-in to opt-out", "-", "EHDS: consent moves from opt-in to opt-out "
       "in the coming years (no date)", f"{F004}:161", "Opt-In naar Opt-Out"),
    _i("opt_out_from", "2030-01-01", "date", "opt-out takes effect", "2028-01-01", "2032-12-31",
       "'the coming years' (004:159-161); no date in the sources"),
    _i("objection_rate", 0.10, "share", "citizens who object under opt-out (keep opt-in)", 0.03,
       0.30, "no figure in the sources"),
    _i("opt_out_potential", 1.25, "x", "opt-out raises the PGO potential", 1.0, 1.5,
       "no figure in the sources"),
    _i("opt_out_p", 2.0, "x", "opt-out raises innovation", 1.0, 3.0, "no figure in the sources"),
    # -- MedElkaar options -------------------------------------------------------------------
    _i("shared_effect", 1.15, "x", "option 2: PGO innovation after shared components are built "
       "(easier login, localisation)", 1.0, 1.4, "bouwblokken 1-3 target login and finding "
       "data (003:140-149); effect size unknown"),
    _i("central_from", "2027-01-01", "date", "option 3: central PGO live", "2026-07-01",
       "2028-07-01", "after a 2026-2027 build (inferred)"),
    _i("central_share", 0.85, "share", "option 3: new users choosing it", 0.6, 0.95,
       "no figure in the sources"),
    _i("central_migration", 0.30, "/yr", "option 3: vendor users moving to it", 0.1, 0.5,
       "no figure in the sources"),
    _i("vendor_min_users", 5_000, "users", "option 3: below this a vendor leaves", 2_000,
       10_000, "no figure in the sources"),
    # -- protocol and capacity --------------------------------------------------------------
    _p("list_refresh_s", 900.0, "s", "OCL and Whitelist refreshed every 15 minutes", "§2"),
    _p("consent_lapse_weeks", 26, "weeks", "long-lived consent lapses after 6 months", "§3"),
    _p("flow_requests", 3, "requests", "authorize, DigiD login, consent per collect flow", "§3"),
    _p("client_timeout_s", 60.0, "s", "a client gives up on a request after 60 s", "§3 step 8"),
    _i("service.search_median_ms", 60.0, "ms", "FHIR search median at a DVA", 20.0, 150.0,
       "replace with --service-times from a load run"),
    _i("design_utilisation", 0.5, "share", "DVAs are sized so that the busiest hour of the "
       "last 12 months (requests per provider kind x service times) runs at this utilisation",
       0.3, 0.7, "common capacity planning practice; no figure in the sources"),
    _i("capacity_growth", 0.10, "share", "headroom for a year's growth when a DVA is sized",
       0.0, 0.25, "no figure in the sources"),
    _t("window_requests", 1000, "requests", "requests queued per simulated peak window",
       "accuracy vs speed"),
    _t("probes_per_year", 4, "windows", "peak windows per DVA per year", "accuracy vs speed"),
    # -- outcomes: the IZA goal, data availability, segments, benefit (issue 19 item 7) --------
    _s("fact.iza_standards", "hospital, GP, medication, GGZ", "-", "the information standards "
       "a PGO must meet (the data a well-filled PGO holds): hospital care, GP data, medication "
       "data, self-measurements, GGZ", f"{F002}:68",
       "ziekenhuiszorg, huisartsgegevens, medicatiegegevens"),
    _s("fact.usable_for_all", "accessible", "-", "PGOs accessible and understandable for every "
       "user regardless of digital skills ('usable')", f"{F001}:153",
       "toegankelijk en begrijpelijk zijn voor alle gebruikers"),
    _i("iza_fill_threshold", 0.75, "share", "'well-filled': at least this share of a person's "
       "hospital, GP, pharmacy and GGZ providers serve their data to the PGO", 0.5, 1.0,
       "'goed gevuld' (003:252) is not defined; the standards named in 002:68 say which data"),
    _s("fact.segments", "80-year-old, chronic", "-", "the letter names the young family and the "
       "80-year-old with diabetes, heart failure and Parkinson's as PGO users",
       f"{F004}:224", "tachtigjarige met diabetes, hartfalen"),
    _s("fact.ageing", "ageing", "-", "ageing raises the demand for care", f"{F004}:34",
       "Mede door de vergrijzing"),
    _i("age_shares", (0.20, 0.34, 0.27, 0.14, 0.05), "share", "population per age band 0-17, "
       "18-44, 45-64, 65-79, 80+", None, None, CBS),
    _i("age_use", (0.3, 1.0, 1.2, 1.0, 0.5), "x", "relative chance to be a PGO user per age "
       "band (children through their parents; the oldest with fewer digital skills)", None, None,
       "no figure in the sources (digital skills: 001:153-154, 004:98)"),
    _i("chronic_prevalence", (0.15, 0.35, 0.60, 0.80, 0.90), "share", "share with one or more "
       "chronic conditions per age band", None, None, "not in the sources; Nivel/RIVM order "
       "of magnitude (about half of all people)"),
    _i("chronic_use", 2.0, "x", "a chronic patient's chance to be a PGO user, relative to "
       "others of the same age", 1.2, 3.0, "more providers and more data (004:223-225); no "
       "figure in the sources"),
    _s("fact.admin_time", 0.40, "share", "care providers spend about 40% of their time on "
       "administration (benefit side: no PGO effect size in the sources, not quantified)",
       f"{F004}:37", "40 procent van hun werktijd"),
    _s("fact.medication_incidents", 75, "persons/day", "about 75 hospital admissions a day from "
       "preventable medication incidents", f"{F004}:61", "75"),
    _i("medication_benefit", 0.05, "share", "share of the preventable medication admissions of "
       "people whose PGO holds their medication overview that the PGO avoids", 0.0, 0.15,
       "the sources give the 75 a day (004:61-62), not a PGO effect"),
)

BY_KEY: dict[str, Assumption] = {a.key: a for a in REGISTER}

# keys that are not model inputs: they are reported, checked, or describe the model
NOT_INPUTS = ("fact.", "observed.", "check.", "sector.counts", "sector.reach", "vendors",
              "financing.tender_split", "plateau_use")


def is_input(key: str) -> bool:
    return not key.startswith(NOT_INPUTS) and key not in NOT_INPUTS


def defaults() -> dict[str, Any]:
    """Every model input's register value, by key."""
    return {a.key: a.value for a in REGISTER if is_input(a.key)}


def sampled() -> list[Assumption]:
    """The inferred and fitted inputs with a range: what the uncertainty analysis varies."""
    return [a for a in REGISTER if a.sampled and is_input(a.key)]


def to_float(value: Any) -> float:
    """Numbers as they are, ISO dates as ordinal days (for sampling a date range)."""
    if isinstance(value, str):
        return float(date.fromisoformat(value).toordinal())
    return float(value)


def from_float(a: Assumption, x: float) -> Any:
    """Inverse of `to_float` for `a`'s kind of value."""
    if isinstance(a.value, str):
        return date.fromordinal(round(x)).isoformat()
    if isinstance(a.value, int) and not isinstance(a.value, bool):
        return round(x)
    return float(x)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def apply(config: Any, values: dict[str, Any]) -> Any:
    """`config` with `values` (register keys) written in; sector keys rebuild the sectors.

    Sector keys are read together with the register defaults, so a sector override applies on
    top of the register, not on top of an earlier override.
    """
    from scenarios.national import market  # market imports params only; no cycle at runtime

    top: dict[str, Any] = {}
    fin: dict[str, Any] = {}
    service: dict[str, Any] = {}
    history: dict[str, Any] = {}
    sector_values: dict[str, Any] = {}
    date_fields = {"inspection_from", "opt_out_from", "central_from", "lever_from"}
    for key, value in values.items():
        if not is_input(key):
            continue
        if key.startswith("financing."):
            fin[key.split(".", 1)[1]] = value
        elif key.startswith("history."):
            history[key.split(".", 1)[1]] = value
        elif key.startswith("sector."):
            sector_values[key] = value
        elif key == "service.search_median_ms":
            service["search_median_ms"] = value
        elif key in date_fields:
            top[key] = _as_date(value)
        else:
            top[key] = value
    if fin:
        top["financing"] = dataclasses.replace(config.financing, **fin)
    if service:
        median = float(service["search_median_ms"])
        old = config.service.search
        search = type(old)(median, median * old.p95_ms / old.median_ms)
        top["service"] = dataclasses.replace(config.service, search=search)
    if history and config.bankruptcies:
        first = config.bankruptcies[0]
        changes: dict[str, Any] = {}
        if "vendor" in history:
            changes["vendor"] = str(history["vendor"])
        if "when" in history:
            changes["when"] = _as_date(history["when"])
        if "migrate_share" in history:
            changes["migrate_share"] = float(history["migrate_share"])
        if "window_days" in history:
            changes["window_days"] = int(history["window_days"])
        top["bankruptcies"] = (dataclasses.replace(first, **changes),
                               *config.bankruptcies[1:])
    if sector_values:
        merged = {k: v for k, v in defaults().items() if k.startswith("sector.")}
        merged.update(sector_values)
        top["sectors"] = market.build_sectors(merged)
    if "initial_users" in top:
        top["initial_users"] = int(top["initial_users"])
    if "vendor_min_users" in top:
        top["vendor_min_users"] = int(top["vendor_min_users"])
    return dataclasses.replace(config, **top)


def policy_dir() -> Path:
    """Where ../shared/policy/ is, seen from the repository root."""
    return Path(__file__).resolve().parents[2] / POLICY
