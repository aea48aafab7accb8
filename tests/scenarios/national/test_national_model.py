"""The national SimPy model (issues 6 and 19): conservation, determinism, the observed history,
the bankruptcy, levers that act, MGO as a public service, EHDS objection, capacity. Short runs
only: small peak windows keep this fast."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pytest

from scenarios.national import accounting, market, model, presets, report
from scenarios.national.params import ServiceTime, ServiceTimes
from scenarios.national.queueing import PeakLoad, simulate_peak

FAST = {"window_requests": 40, "probes_per_year": 1}


def _run(years: int = 6, seed: int = 11, **changes: object) -> model.Result:
    """From 2020 (the shared, fitted history) for `years` years."""
    return model.run(presets.base_config(years=years, **{**FAST, **changes}), seed=seed)


@pytest.fixture(scope="module")
def history() -> model.Result:
    return _run()


@pytest.fixture(scope="module")
def decade() -> model.Result:
    return _run(years=11, inspection=True)


def test_nobody_appears_or_vanishes(history: model.Result) -> None:
    led, final = history.ledger, history.final
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
    placed = sum(f["migrated_in"] for f in led["per_dvp"].values())
    assert placed + final["stranded"] <= led["stranded_in"]


def test_same_seed_same_result(history: model.Result) -> None:
    again = _run()
    strip = ("performance",)
    first = {k: v for k, v in report.to_dict(history).items() if k not in strip}
    second = {k: v for k, v in report.to_dict(again).items() if k not in strip}
    assert first == second
    other = model.run(history.config, seed=12)
    assert other.final != history.final


def test_history_reproduces_the_observed_figures(history: model.Result) -> None:
    """EUR 8.1M Open House 2020-2024 (001:259) and ~40,000 users (001:189), within 10%."""
    lines = accounting.historic_lines(history.config, history.years)
    assert abs(lines["open_house_model_error"]) <= 0.10
    (event,) = [e for e in history.events if e["kind"] == "bankruptcy"
                and e["vendor"] == history.config.bankruptcies[0].vendor]
    assert abs(event["users"] - 40_000) <= 4_000
    # the Gupta forecast (003:307-308) is a check reported next to the result, not a target
    check = report.to_dict(history, presets.get("growth-vendor-marketing"))
    assert check["forecast_check_2025_users"]["band"] == [1.0e6, 2.0e6]


def test_bankruptcy_before_the_questions_and_others_gain(history: model.Result) -> None:
    vendor = history.config.bankruptcies[0].vendor
    (event,) = [e for e in history.events if e["vendor"] == vendor]
    assert event["date"] < "2025-03-31"  # the questions about it were filed 31 March (001:45)
    assert event["migrating"] + event["dropped"] == event["users"]
    assert 0 < event["cut_off_minutes"] <= 15.0  # cut off within one list refresh
    assert event["lose_access_for_good"] >= event["dropped"]
    assert event["reconsents_at_dvas"] > event["migrating"] * 0.5
    dates = history.series["date"]
    after = [i for i, d in enumerate(dates) if d >= event["date"]]
    assert all(history.series[f"users:{vendor}"][i] == 0 for i in after)
    gained = sum(f["migrated_in"] for f in history.ledger["per_dvp"].values())
    migrating = sum(e["migrating"] for e in history.events)
    assert gained > 0.7 * migrating  # most migrants find another PGO within the window


def test_connection_lever_feeds_adoption_but_not_the_2025_rates() -> None:
    slow = presets.base_config()
    fast = dataclasses.replace(slow, connection_speed=2.0)
    april = np.array([market.APRIL_2025])
    assert np.allclose(market.connection_table(slow, april), market.connection_table(fast, april))
    base, quick = _run(years=9), _run(years=9, connection_speed=2.0)
    b = {y["year"]: y for y in base.years}
    q = {y["year"]: y for y in quick.years}
    assert q[2024]["users"] == b[2024]["users"]  # history untouched
    assert q[2028]["data_availability"] > b[2028]["data_availability"]
    assert q[2028]["users"] > 1.05 * b[2028]["users"]


def test_pharmacies_stay_unconnected_until_their_start() -> None:
    config = presets.base_config()
    pharmacy = next(s for s in config.sectors if s.name == "pharmacy")
    assert pharmacy.connected(2025.5) == 0.0  # 'nog niet beschikbaar' (001:84)
    assert pharmacy.connected(2035.0) > 0.5


def test_mgo_is_a_public_service_reported_apart(decade: model.Result,
                                                history: model.Result) -> None:
    assert "mgo" not in decade.dvps  # not a PGO that takes new users
    start = decade.config.inspection_from
    for y in decade.years:
        if y["year"] < start.year:
            assert y["mgo_users"] == 0
    assert decade.years[-1]["mgo_users"] > 0
    assert all(y["mgo_users"] == 0 for y in history.years)  # off unless switched on
    last = decade.years[-1]
    assert last["government_cost_eur"]["inspection_function"] > 0
    assert last["government_cost_eur"]["lump_sums"] == 0


def test_ehds_objectors_keep_consent_screens() -> None:
    on = date(2024, 1, 1)
    few = _run(opt_out=True, opt_out_from=on, objection_rate=0.05)
    many = _run(opt_out=True, opt_out_from=on, objection_rate=0.5)
    assert few.years[-1]["flows_per_day"] < many.years[-1]["flows_per_day"]
    assert few.years[-1]["consents_lapsed"] < many.years[-1]["consents_lapsed"]


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


def test_latency_is_capped_at_the_client_timeout_and_clients_give_up() -> None:
    load = PeakLoad(search_rps=200.0, token_rps=20.0, flow_rps=10.0)  # far beyond one worker
    stats = simulate_peak(load, ServiceTimes(), 1, np.random.SeedSequence([1]),
                          max_requests=2000, timeout=5.0)
    assert stats.utilisation > 5
    assert stats.p99_ms <= 5_000.0 + 1e-6 and stats.p50_ms <= 5_000.0 + 1e-6
    assert stats.timeout_share >= 1 - 1 / stats.utilisation - 0.05  # the rest gives up


def test_more_dva_capacity_never_raises_latency_in_the_model() -> None:
    slow = ServiceTimes(search=ServiceTime(900.0, 3000.0))  # ten times a real EHR: strain
    strained = dict(service=slow, window_requests=80)
    small = _run(years=6, capacity_factor=0.3, **strained)
    big = _run(years=6, capacity_factor=1.0, **strained)
    assert small.final == big.final  # capacity does not feed back into behaviour
    assert any(p["utilisation"] > 0.5 for p in small.probes)
    for a, b in zip(small.probes, big.probes, strict=True):
        assert a["dva"] == b["dva"] and b["workers"] >= a["workers"]
        for key in ("p50_ms", "p95_ms", "p99_ms", "timeout_share"):
            assert b[key] <= a[key] + 1e-9, (a["dva"], key)
