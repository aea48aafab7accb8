"""Government cost per year and the historic lines (issues 6 and 19: financing as sourced).

Pure functions over what the model observed in a year, so the money rules can be read and
tested apart from the simulation. The rules (assumptions.py cites each):

- per-user ("Open House") scheme: EUR 7.50 per user who collected or shared at least once in the
  year (002:61-62), paid 2020-2024 (001:258) to the scheme's vendors (19 were paid, 001:259);
- lump sum EUR 30,000 per vendor admitted to the scheme, 2021 only (002:79-81): never to Mijn
  Gezondheidsoverzicht or a central PGO, which are not vendors in the scheme;
- tender EUR 15M for three vendors 2025-2027 (001:260-261), paid per contract slot pro rata
  while its vendor is on the market (even split: inferred);
- historic lines before the simulated years are reported, not simulated: impulse 2018
  (001:257), MedMij 2016-2024 (001:266), VIPP 2017-2023 (001:286).
"""

from __future__ import annotations

from dataclasses import dataclass

from scenarios.national import assumptions
from scenarios.national.params import Config


@dataclass(frozen=True, slots=True)
class YearFacts:
    """What accounting needs to know about one simulated year."""

    year: int
    scheme_year_users: int  # users of the scheme's vendors with a collect in the year
    scheme_vendors_live: int  # scheme vendors on the market in the year (lump-sum year)
    contracted_live: float  # tender slots whose vendor is on the market (pro rata)
    central_accounts: int
    live_dvas: int
    live_dvps: int
    entries: int  # vendors admitted this year
    inspection_live: bool
    central_live: bool


def government_cost(config: Config, facts: YearFacts) -> dict[str, float]:
    """Cost lines in euro for one year; `total` sums them."""
    fin = config.financing
    year = facts.year
    per_user = (fin.per_user_scheme and fin.per_user_from <= year <= fin.per_user_until)
    tender_years = fin.tender_until - fin.tender_from + 1
    slot_year = fin.tender_total_eur / (tender_years * max(1, len(fin.tender_slots)))
    in_tender = fin.tender and fin.tender_from <= year <= fin.tender_until
    cost = {
        "per_active_user": fin.per_user_eur * facts.scheme_year_users if per_user else 0.0,
        "lump_sums": (fin.lump_sum_eur * facts.scheme_vendors_live
                      if fin.lump_sum and year == fin.lump_sum_year else 0.0),
        "tender": slot_year * facts.contracted_live if in_tender else 0.0,
        "inspection_function": fin.inspection_eur_per_year if facts.inspection_live else 0.0,
        "shared_components": 0.0,
        "central_pgo": 0.0,
    }
    if config.option == "shared":
        build = fin.shared_build_eur_per_year if year in fin.shared_build_years else 0.0
        built = year > max(fin.shared_build_years)
        cost["shared_components"] = build + (fin.shared_run_eur_per_year if built else 0.0)
    if config.option == "central":
        build = fin.central_build_eur_per_year if year in fin.central_build_years else 0.0
        run = (fin.central_run_eur_per_year + fin.central_per_user_eur * facts.central_accounts
               if facts.central_live else 0.0)
        cost["central_pgo"] = build + run
    cost["total"] = sum(cost.values())
    return cost


def historic_lines(config: Config, years: list[dict[str, object]]) -> dict[str, object]:
    """The money lines the sources report, next to what the model pays in the same years.

    `open_house_model_eur` is the per-user payments 2020-2024 plus the 2021 lump sums of the
    simulated years; the observed figure is EUR 8.1M (001:259).
    """
    fin = config.financing
    reg = assumptions.BY_KEY
    paid = 0.0
    covered = []
    for y in years:
        year = int(y["year"])  # type: ignore[call-overload]
        if fin.per_user_from <= year <= fin.per_user_until:
            cost = y["government_cost_eur"]
            paid += float(cost["per_active_user"] + cost["lump_sums"])  # type: ignore[index]
            covered.append(year)
    observed = float(reg["observed.open_house_total_eur"].value)
    complete = covered == list(range(fin.per_user_from, fin.per_user_until + 1))
    return {
        "impulse_2018_eur": fin.impulse_eur,
        "open_house_2020_2024_observed_eur": observed,
        "open_house_model_eur": paid if complete else None,
        "open_house_model_error": (paid - observed) / observed if complete else None,
        "tender_2025_2027_eur": fin.tender_total_eur,
        "medmij_2016_2024_eur": float(reg["fact.medmij_2016_2024_eur"].value),
        "vipp_2017_2023_eur": float(reg["fact.vipp_2017_2023_eur"].value),
        "sources": {k: reg[k].citation for k in (
            "financing.impulse_eur", "observed.open_house_total_eur",
            "financing.tender_total_eur", "fact.medmij_2016_2024_eur",
            "fact.vipp_2017_2023_eur")},
    }


def integrations(config: Config, live_dvas: int, live_dvps: int) -> int:
    """DVA x DVP integrations to build, test and keep working.

    Carry on and one central PGO: every DVP talks to every DVA, so pairs (the central option
    shrinks the DVP side as vendors leave). Shared components: each party connects once to
    the shared generic functions, so a sum.
    """
    if config.option == "shared":
        return live_dvas + live_dvps
    return live_dvas * live_dvps
