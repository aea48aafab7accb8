"""The national market: sectors, ~20 DVAs and 20+ DVPs, and what a collect session asks of a DVA.

Connection rates of April 2025 are sourced (assumptions.py, 001:81-84); the rest (provider
counts, reach, the shares of the synthetic DVAs and vendors) are inferred and named
generically, so no real company is implied.
"""

from __future__ import annotations

import numpy as np

from scenarios.national.params import Config, DvaSpec, DvpSpec, Sector

APRIL_2025 = 2025 + 97 / 365  # the connection rates are those of the answers of 8 April 2025
START, END = 2020.0, 2035.0
PROVIDERS = {"hospital": 70, "gp": 4_900, "pharmacy": 1_990, "ggz": 250, "rehabilitation": 30,
             "independent-clinic": 300, "rivm": 1}  # (technical) only 50,000 total is sourced
REACH = {"hospital": 0.35, "gp": 0.75, "pharmacy": 0.65, "ggz": 0.05, "rehabilitation": 0.01,
         "independent-clinic": 0.06, "rivm": 0.38, "other": 0.30}
SEARCHES = {"hospital": 30, "gp": 9, "pharmacy": 3, "ggz": 10, "rehabilitation": 30,
            "independent-clinic": 30, "rivm": 1, "other": 5}
SERVICES = {"hospital": ("48", "51"), "gp": ("49", "51"), "pharmacy": ("35",), "ggz": ("46",),
            "rehabilitation": ("48",), "independent-clinic": ("48", "51"), "rivm": ("63",),
            "other": ("48",)}


def build_sectors(values: dict[str, object]) -> tuple[Sector, ...]:
    """The provider kinds and their connection over time, from register values (sector.*).

    April 2025 rates are the sourced ones; 2020 is `c2020_factor` times them; by 2035
    `c2035_gap_closed` of the remaining gap is closed. Pharmacies stay at 0 until their
    (inferred) start year, vaccination data (RIVM) come in 2024, other providers start late.
    """
    v = {k.removeprefix("sector."): float(x) for k, x in values.items()  # type: ignore[arg-type]
         if k.startswith("sector.") and isinstance(x, int | float)}
    early, closed = v["c2020_factor"], v["c2035_gap_closed"]
    providers = dict(PROVIDERS)
    providers["ggz"] = int(v["ggz.providers"])
    rates = {name: v[f"{name}.c2025"] for name in
             ("hospital", "gp", "rehabilitation", "independent-clinic")}
    rates["ggz"] = v["ggz.connected_2025"] / providers["ggz"]
    points: dict[str, tuple[tuple[float, float], ...]] = {
        name: ((START, rate * early), (APRIL_2025, rate), (END, rate + (1 - rate) * closed))
        for name, rate in rates.items()}
    pharmacy_from = max(APRIL_2025 + 0.01, v["pharmacy.from"])
    points["pharmacy"] = ((START, 0.0), (APRIL_2025, v["pharmacy.c2025"]),
                          (pharmacy_from, v["pharmacy.c2025"]), (END, v["pharmacy.c2035"]))
    points["rivm"] = ((START, 0.0), (v["rivm.from"], 0.0),
                      (max(v["rivm.from"] + 0.01, APRIL_2025), v["rivm.c2025"]),
                      (END, v["rivm.c2025"]))
    points["other"] = ((START, 0.0), (max(APRIL_2025, v["other.from"]), 0.0),
                       (END, v["other.c2035"]))
    providers["other"] = 50_000 - sum(providers.values())  # more than 50,000 (001:79)
    order = ("hospital", "gp", "pharmacy", "ggz", "rehabilitation", "independent-clinic",
             "rivm", "other")
    return tuple(Sector(name, providers[name], points[name], reach=REACH[name],
                        searches=SEARCHES[name], gegevensdiensten=SERVICES[name])
                 for name in order)


# 20 DVAs ('almost 20', 003:89); each serves one or two sectors (inferred split).
DVAS: tuple[DvaSpec, ...] = (
    DvaSpec("dva-hosp-1", (("hospital", 0.45),)),
    DvaSpec("dva-hosp-2", (("hospital", 0.35),)),
    DvaSpec("dva-hosp-3", (("hospital", 0.10), ("independent-clinic", 0.30))),
    DvaSpec("dva-hosp-4", (("hospital", 0.10),)),
    DvaSpec("dva-gp-1", (("gp", 0.40),)),
    DvaSpec("dva-gp-2", (("gp", 0.25),)),
    DvaSpec("dva-gp-3", (("gp", 0.15),)),
    DvaSpec("dva-gp-4", (("gp", 0.10),)),
    DvaSpec("dva-gp-5", (("gp", 0.10),)),
    DvaSpec("dva-apo-1", (("pharmacy", 0.50),)),
    DvaSpec("dva-apo-2", (("pharmacy", 0.30),)),
    DvaSpec("dva-apo-3", (("pharmacy", 0.20),)),
    DvaSpec("dva-ggz-1", (("ggz", 0.40),)),
    DvaSpec("dva-ggz-2", (("ggz", 0.30),)),
    DvaSpec("dva-ggz-3", (("ggz", 0.30),)),
    DvaSpec("dva-zbc-1", (("independent-clinic", 0.40),)),
    DvaSpec("dva-zbc-2", (("independent-clinic", 0.30), ("other", 0.5))),
    DvaSpec("dva-rev-1", (("rehabilitation", 0.60),)),
    DvaSpec("dva-rev-2", (("rehabilitation", 0.40), ("other", 0.5))),
    DvaSpec("dva-rivm", (("rivm", 1.0),)),
)


def zipf_vendors(n: int = 24, exponent: float = 1.0) -> tuple[DvpSpec, ...]:
    """`n` PGO vendors with Zipf market shares (inferred: a few large, a long tail)."""
    weights = np.array([1.0 / (k**exponent) for k in range(1, n + 1)])
    weights /= weights.sum()
    return tuple(DvpSpec(f"pgo-{k:02d}", float(w)) for k, w in enumerate(weights, start=1))


DVPS: tuple[DvpSpec, ...] = zipf_vendors()


def share_matrix(config: Config) -> np.ndarray:
    """DVA x sector matrix of shares: which DVA a collect at a sector's provider reaches."""
    index = {s.name: j for j, s in enumerate(config.sectors)}
    shares = np.zeros((len(config.dvas), len(config.sectors)))
    for i, dva in enumerate(config.dvas):
        for sector, share in dva.shares:
            shares[i, index[sector]] = share
    return shares


def connection_table(config: Config, years: np.ndarray) -> np.ndarray:
    """days x sectors: share connected on each simulated day (fractional years).

    The `connection_speed` lever runs the clock faster after April 2025, so the sourced 2025
    rates stay as they are and only the future gaps close faster.
    """
    years = np.asarray(years, float)
    later = years > APRIL_2025
    clock = np.where(later, APRIL_2025 + (years - APRIL_2025) * config.connection_speed, years)
    return np.stack([np.asarray(s.connected(clock)) for s in config.sectors], axis=1)


def availability(config: Config, connected: np.ndarray) -> np.ndarray:
    """Data availability: the reach-weighted share of a person's providers that are connected.

    1.0 would mean every provider of every person serves data to PGOs. Adoption and use scale
    with it relative to April 2025 (`availability_elasticity`).
    """
    reach = np.array([s.reach for s in config.sectors])
    return connected @ reach / reach.sum()


def per_session(config: Config, connected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per collect session and DVA: (provider collects, FHIR searches).

    `connected` is the share connected per sector, or a days x sectors table (then the
    results are days x DVAs).
    """
    reach = np.array([s.reach for s in config.sectors])
    searches = np.array([s.searches for s in config.sectors])
    shares = share_matrix(config)
    weight = reach * connected
    return weight @ shares.T, (weight * searches) @ shares.T


def size_workers(config: Config, load: np.ndarray) -> np.ndarray:
    """Workers per DVA, sized from the load it saw: `load` is days x DVAs x (search, token, flow).

    Issue 19 ("DVAs sized from data", replacing an assumed design load with a floor of two
    workers): a DVA operator provisions for the busiest hour of the last 12 months (the busiest
    day's requests per kind, which come from the sourced connection rates, the reach and the
    searches per provider kind, times `peak_hour_share`) at `design_utilisation`, plus
    `capacity_growth` headroom, with the service times the model runs with (measured ones from
    `--service-times` when given: a DVA is sized for its own servers). One worker at least.
    """
    if len(load) == 0:
        return np.ones(len(config.dvas), int)
    per_day = load.sum(axis=2)
    busiest = load[np.argmax(per_day, axis=0), np.arange(load.shape[1])]  # DVAs x kinds
    svc = config.service
    mean_s = np.array([svc.search.mean_s, svc.token.mean_s, svc.flow.mean_s])
    busy = busiest * config.peak_hour_share / 3600 @ mean_s  # worker-seconds per second
    need = busy * (1 + config.capacity_growth) / config.design_utilisation
    return np.maximum(1, np.ceil(need * config.capacity_factor - 1e-9)).astype(int)
