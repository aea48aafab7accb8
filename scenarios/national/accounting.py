"""Government cost and integration count per year (issue 6 outcomes; SPEC §7 financing).

Pure functions over what the model observed in a year, so the money rules can be read and
tested apart from the simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

from scenarios.national.params import Config


@dataclass(frozen=True, slots=True)
class YearFacts:
    """What accounting needs to know about one simulated year."""

    year: int
    vendor_year_users: int  # users of funded vendors with a collect this year
    central_accounts: int
    live_dvas: int
    live_dvps: int
    entries: int  # vendors admitted this year
    inspection_live: bool
    central_live: bool


def _line(pairs: tuple[tuple[int, float], ...], year: int) -> float:
    return float(dict(pairs).get(year, 0.0))


def government_cost(config: Config, facts: YearFacts) -> dict[str, float]:
    """Cost lines in euro for one year; `total` sums them."""
    fin = config.financing
    pays = fin.per_active_user_until is None or facts.year <= fin.per_active_user_until
    cost = {
        "per_active_user": fin.per_active_user_eur * facts.vendor_year_users if pays else 0.0,
        "admission_lump_sums": fin.admission_lump_eur * facts.entries,
        "contracted_vendors": _line(fin.contracted_eur, facts.year),
        "inspection_function": fin.inspection_eur_per_year if facts.inspection_live else 0.0,
        "shared_components": 0.0,
        "central_pgo": 0.0,
    }
    if config.option == "shared":
        build = _line(fin.shared_build_eur, facts.year)
        built = facts.year > max(y for y, _ in fin.shared_build_eur)
        cost["shared_components"] = build + (fin.shared_run_eur_per_year if built else 0.0)
    if config.option == "central":
        build = _line(fin.central_build_eur, facts.year)
        run = (fin.central_run_eur_per_year + fin.central_per_user_eur * facts.central_accounts
               if facts.central_live else 0.0)
        cost["central_pgo"] = build + run
    cost["total"] = sum(cost.values())
    return cost


def integrations(config: Config, live_dvas: int, live_dvps: int) -> int:
    """DVA x DVP integrations to build, test and keep working.

    Carry on and one central PGO: every DVP talks to every DVA, so pairs (the central option
    shrinks the DVP side as vendors leave). Shared components: each party connects once to
    the shared generic functions, so a sum.
    """
    if config.option == "shared":
        return live_dvas + live_dvps
    return live_dvas * live_dvps
