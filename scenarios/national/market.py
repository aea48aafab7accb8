"""The national market: sectors, ~20 DVAs and 20+ DVPs, and what a collect session asks of a DVA.

Connection rates for 2025 are SPEC.md §7; the rest (provider counts, reach, the shares of the
synthetic DVAs and vendors) are inferred and named generically, so no real company is implied.
"""

from __future__ import annotations

import math

import numpy as np

from scenarios.national.params import Config, DvaSpec, DvpSpec, Sector, ServiceTimes

# (year, share connected). 2025 values: SPEC §7. Plateaus 2027-30 and 2031-35: inferred.
SECTORS: tuple[Sector, ...] = (
    Sector("hospital", 70, ((2023, 0.80), (2025, 0.86), (2026, 0.88), (2030, 0.95), (2035, 0.98)),
           reach=0.35, searches=30, gegevensdiensten=("48", "51")),
    Sector("gp", 4_900, ((2023, 0.88), (2025, 0.92), (2026, 0.93), (2030, 0.97), (2035, 0.99)),
           reach=0.75, searches=9, gegevensdiensten=("49", "51")),
    Sector("pharmacy", 1_990, ((2023, 0.0), (2026, 0.0), (2030, 0.60), (2035, 0.90)),
           reach=0.65, searches=3, gegevensdiensten=("35",)),
    Sector("ggz", 250, ((2023, 0.15), (2025, 0.196), (2026, 0.22), (2030, 0.50), (2035, 0.80)),
           reach=0.05, searches=10, gegevensdiensten=("46",)),
    Sector("rehabilitation", 30, ((2023, 0.65), (2025, 0.73), (2030, 0.90), (2035, 0.95)),
           reach=0.01, searches=30, gegevensdiensten=("48",)),
    Sector("independent-clinic", 300,
           ((2023, 0.38), (2025, 0.46), (2026, 0.48), (2030, 0.70), (2035, 0.90)),
           reach=0.06, searches=30, gegevensdiensten=("48", "51")),
    Sector("rivm", 1, ((2023, 1.0), (2035, 1.0)), reach=0.38, searches=1,
           gegevensdiensten=("63",)),
)

# 20 DVAs; each serves one or two sectors (inferred split, Zipf-like within a sector).
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
    DvaSpec("dva-zbc-2", (("independent-clinic", 0.30),)),
    DvaSpec("dva-rev-1", (("rehabilitation", 0.60),)),
    DvaSpec("dva-rev-2", (("rehabilitation", 0.40),)),
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
    """days x sectors: share connected on each simulated day (fractional years)."""
    return np.stack([np.asarray(s.connected(years)) for s in config.sectors], axis=1)


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


def design_workers(config: Config) -> np.ndarray:
    """Workers per DVA at the start: sized for `design_users` at the design utilisation.

    Sizing uses the default service times, so --calibrate changes a DVA's speed, not its size.
    """
    service = ServiceTimes()
    year = float(config.start_year + 2)
    connected = np.array([s.connected(year) for s in config.sectors])
    collects, searches = per_session(config, connected)
    sessions_per_user = 0.025 * max(config.weekdays) / (sum(config.weekdays) / 7)
    sessions_per_s = config.design_users * sessions_per_user * config.peak_hour_share / 3600
    flow = 1 - config.long_lived_share * 0.8
    busy = sessions_per_s * (collects * service.token.mean_s + searches * service.search.mean_s
                             + collects * flow * config.flow_requests * service.flow.mean_s)
    return np.array([max(2, math.ceil(b / config.design_utilisation)) for b in busy])
