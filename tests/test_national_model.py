"""The national SimPy model (issue 6): conservation, determinism, bankruptcy, growth bands,
capacity. Short runs only: one simulated year and small peak windows keep this fast."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scenarios.national import model, presets, report
from scenarios.national.params import ServiceTimes
from scenarios.national.queueing import PeakLoad, simulate_peak

FAST = {"window_requests": 60, "probes_per_year": 2}


def _short(**changes: object) -> model.Result:
    """2025 only: the year of the bankruptcy of pgo-08 (about 40,000 users)."""
    config = dataclasses.replace(presets.base_config(start_year=2025, years=1,
                                                     initial_users=1_200_000),
                                 **{**FAST, **changes})
    return model.run(config, seed=11)


@pytest.fixture(scope="module")
def year_2025() -> model.Result:
    return _short()


def test_nobody_appears_or_vanishes(year_2025: model.Result) -> None:
    led, final = year_2025.ledger, year_2025.final
    assert final["population"] == (led["initial_population"] + led["births"]
                                   + led["immigration"] - led["deaths"])
    users = 0
    for name, flows in led["per_dvp"].items():
        expected = (flows["initial_users"] + flows["adopted"] + flows["returned"]
                    + flows["migrated_in"] - flows["migrated_out"] - flows["exited"]
                    - flows["churned"] - flows["died"])
        assert final[f"users:{name}"] == expected >= 0, name
        users += expected
    assert final["users"] == users
    assert final["population"] == (final["users"] + final["non_users"] + final["former"]
                                   + final["stranded"])
    # everyone who left a bankrupt vendor is either placed elsewhere, dropped out or stranded
    exited = sum(f["exited"] for f in led["per_dvp"].values())
    placed = sum(f["migrated_in"] for f in led["per_dvp"].values())
    assert led["stranded_in"] + (exited - led["stranded_in"]) == exited
    assert placed + final["stranded"] <= led["stranded_in"]


def test_same_seed_same_result(year_2025: model.Result) -> None:
    again = _short()
    strip = ("performance",)
    first = {k: v for k, v in report.to_dict(year_2025).items() if k not in strip}
    second = {k: v for k, v in report.to_dict(again).items() if k not in strip}
    assert first == second
    other = model.run(year_2025.config, seed=12)
    assert other.final != year_2025.final


def test_bankruptcy_takes_vendor_to_zero_while_others_gain(year_2025: model.Result) -> None:
    (event,) = [e for e in year_2025.events if e["vendor"] == "pgo-08"]
    assert event["date"] == "2025-06-01"
    assert 20_000 < event["users"] < 80_000  # SPEC §6: about 40,000 users
    assert event["migrating"] + event["dropped"] == event["users"]
    assert 0 < event["cut_off_minutes"] <= 15.0  # cut off within one list refresh
    dates = year_2025.series["date"]
    before = max(i for i, d in enumerate(dates) if d < "2025-06-01")
    after = [i for i, d in enumerate(dates) if d >= "2025-06-01"]
    bankrupt = year_2025.series["users:pgo-08"]
    assert bankrupt[before] > 20_000
    assert all(bankrupt[i] == 0 for i in after)
    assert year_2025.final["users:pgo-08"] == 0
    ledger = year_2025.ledger["per_dvp"]
    gained = {n: f["migrated_in"] for n, f in ledger.items() if f["migrated_in"] > 0}
    assert "pgo-08" not in gained and len(gained) > 5
    assert sum(gained.values()) > 0.8 * event["migrating"]
    others = [n for n in year_2025.dvps if n != "pgo-08"]
    assert sum(year_2025.series[f"users:{n}"][after[4]] for n in others) > sum(
        year_2025.series[f"users:{n}"][before] for n in others)


@pytest.mark.parametrize("name", [n for n, p in presets.PRESETS.items() if p.band])
def test_growth_preset_2025_users_in_documented_band(name: str) -> None:
    preset = presets.get(name)
    config = dataclasses.replace(preset.config, window_requests=20, probes_per_year=1)
    result = model.run(config, seed=5)
    (y2025,) = [y for y in result.years if y["year"] == 2025]
    low, high = preset.band
    assert low <= y2025["year_users"] <= high


@pytest.mark.parametrize("rps", [5.0, 40.0, 120.0])
def test_more_workers_never_raise_latency_in_a_peak(rps: float) -> None:
    load = PeakLoad(search_rps=rps * 0.8, token_rps=rps * 0.15, flow_rps=rps * 0.05)
    for seed in range(3):
        previous = None
        for workers in range(1, 12):
            stats = simulate_peak(load, ServiceTimes(), workers,
                                  np.random.SeedSequence([seed]), max_requests=400)
            row = (stats.p50_ms, stats.p95_ms, stats.p99_ms, stats.timeout_share)
            if previous is not None:
                assert all(a <= b + 1e-9 for a, b in zip(row, previous, strict=True))
            previous = row


def test_more_dva_capacity_never_raises_latency_in_the_model() -> None:
    small = _short(capacity_factor=0.3, window_requests=80)  # one worker: under strain
    big = _short(capacity_factor=1.0, window_requests=80)
    assert small.final == big.final  # capacity does not feed back into behaviour
    assert any(p["utilisation"] > 0.5 for p in small.probes)
    for a, b in zip(small.probes, big.probes, strict=True):
        assert a["dva"] == b["dva"] and b["workers"] >= a["workers"]
        for key in ("p50_ms", "p95_ms", "p99_ms", "timeout_share"):
            assert b[key] <= a[key] + 1e-9, (a["dva"], key)
