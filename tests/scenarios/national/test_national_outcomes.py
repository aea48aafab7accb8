"""Outcome measures and capacity of the national model (issue 19, items 7 and 9): the IZA goal
per year, data availability per plateau, segments, the benefit side, DVAs sized from data, and
clients that give up while queued. Short runs and hand-made inputs keep this fast."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from scenarios.national import calibration, market, model, outcomes, presets, report
from scenarios.national.params import ServiceTime, ServiceTimes
from scenarios.national.queueing import _queue

FAST = {"window_requests": 40, "probes_per_year": 1}
LOADRUN = Path(__file__).parent / "test_national_loadrun.json"


@pytest.fixture(scope="module")
def decade() -> model.Result:
    """2020-2030: plateaus 1 and 2 complete; pharmacies connect from 2027 (register)."""
    return model.run(presets.base_config(years=11, **FAST), seed=3)


# -- give-up while queued (queueing._Request._granted) ---------------------------------------
def test_a_client_that_gave_up_while_queued_does_not_hold_the_worker() -> None:
    """Removing the give-up-while-queued rule makes the worker serve three abandoned requests
    (5-8 s) so the last client, arriving at 6 s, waits until the time-out instead of 0.1 s."""
    arrivals = np.array([0.0, 0.1, 0.2, 0.3, 6.0])
    services = np.array([5.0, 1.0, 1.0, 1.0, 0.1])
    sojourn, _ = _queue(arrivals, services, workers=1, timeout=1.0)
    assert sojourn[0] == pytest.approx(1.0)  # served late: latency capped at the time-out
    assert sojourn[1:4] == pytest.approx([1.0, 1.0, 1.0])  # gave up while queued
    assert sojourn[4] == pytest.approx(0.1)  # the worker was free: the gone clients cost nothing


# -- DVAs sized from data ---------------------------------------------------------------------
def _load(search_per_day: float, days: int = 30, dvas: int = 20) -> np.ndarray:
    load = np.zeros((days, dvas, 3))
    load[:, :, 0] = search_per_day
    load[:, :, 1] = search_per_day / 10
    load[5, :, 0] *= 2  # one busy day: the busiest hour is sized for
    return load


def test_dvas_are_sized_from_their_load_and_service_times() -> None:
    config = presets.base_config()
    quiet = market.size_workers(config, _load(1_000.0))
    assert quiet.tolist() == [1] * 20  # no assumed floor of two: one worker carries it
    busy = market.size_workers(config, _load(2_000_000.0))
    svc = config.service
    busiest_rps = np.array([4_000_000.0, 200_000.0, 0.0]) * config.peak_hour_share / 3600
    need = busiest_rps @ [svc.search.mean_s, svc.token.mean_s, svc.flow.mean_s]
    expected = int(np.ceil(need * (1 + config.capacity_growth) / config.design_utilisation))
    assert busy.tolist() == [expected] * 20 and expected > 2
    measured = dataclasses.replace(config, service=calibration.load(LOADRUN))  # faster servers
    assert (market.size_workers(measured, _load(2_000_000.0)) < busy).all()
    slower = dataclasses.replace(config, service=ServiceTimes(search=ServiceTime(600, 2500)))
    assert (market.size_workers(slower, _load(2_000_000.0)) > busy).all()


def test_model_sizes_each_dva_from_the_last_year_it_saw() -> None:
    slow = ServiceTimes(search=ServiceTime(400.0, 1500.0))  # a slow EHR: more workers needed
    result = model.run(presets.base_config(years=8, service=slow, **FAST), seed=3)
    last = result.years[-1]["dva"]
    workers = {name: v["workers"] for name, v in last.items()}
    assert min(workers.values()) == 1 and max(workers.values()) > 2
    assert workers["dva-hosp-1"] > workers["dva-rivm"]  # more load, more workers
    assert all(v["timeout_share"] == 0 for v in last.values())  # sized with headroom
    first = result.years[0]["dva"]
    assert sum(v["workers"] for v in first.values()) < sum(workers.values())  # grew with load


# -- the IZA goal -----------------------------------------------------------------------------
def test_well_filled_counts_the_iza_kinds_a_person_has() -> None:
    config = presets.base_config()
    names = [s.name for s in config.sectors]
    everything = np.ones(len(names))
    assert outcomes.well_filled(config, everything) == pytest.approx(1.0)
    no_pharmacy = everything.copy()
    no_pharmacy[names.index("pharmacy")] = 0.0
    reach = {s.name: s.reach for s in config.sectors}
    strict = outcomes.well_filled(config, no_pharmacy, threshold=1.0)
    # 'all of them' with pharmacies off: no pharmacy but a provider of another IZA kind
    anyone = 1 - np.prod([1 - reach[k] for k in outcomes.IZA_KINDS])
    others = 1 - np.prod([1 - reach[k] for k in ("hospital", "gp", "ggz")])
    assert strict == pytest.approx((1 - reach["pharmacy"]) * others / anyone)
    assert outcomes.well_filled(config, no_pharmacy, threshold=0.5) > strict
    assert outcomes.well_filled(config, np.zeros(len(names))) == 0.0


def test_iza_goal_is_reported_per_year_and_needs_a_usable_well_filled_pgo(
        decade: model.Result) -> None:
    config = decade.config
    for y in decade.years:
        iza = y["iza"]
        want = config.market_potential * y["population"]
        assert iza["want"] == pytest.approx(want)
        assert iza["share"] == pytest.approx(
            y["year_users"] * y["usable_share"] * y["well_filled_share"] / want)
        assert 0 <= iza["share"] <= iza["share_accounts"] <= 1
        assert iza["gap"] == pytest.approx(want - iza["usable_well_filled"])
    by = {y["year"]: y for y in decade.years}
    assert by[2025]["iza"]["share"] < 0.1  # far from 'everyone who wants one' in 2025
    assert by[2030]["well_filled_share"] > by[2026]["well_filled_share"] + 0.1  # pharmacies
    assert by[2030]["iza"]["share"] > by[2025]["iza"]["share"]


def test_time_outs_make_a_pgo_unusable() -> None:
    ok = {"a": {"peak_rps": 30.0, "timeout_share": 0.0}, "b": {"peak_rps": 10.0,
                                                             "timeout_share": 0.0}}
    assert outcomes.usable_share(ok) == 1.0
    bad = {**ok, "b": {"peak_rps": 10.0, "timeout_share": 0.5}}
    assert outcomes.usable_share(bad) == pytest.approx(1 - 10 * 0.5 / 40)
    config = presets.base_config()
    good = outcomes.iza(config, 1_000_000, 100_000, 100_000, 0.5, 1.0)
    worse = outcomes.iza(config, 1_000_000, 100_000, 100_000, 0.5, 0.8)
    assert worse["share"] == pytest.approx(0.8 * good["share"])


def test_data_availability_per_plateau(decade: model.Result) -> None:
    plateaus = outcomes.plateaus(decade.years)
    assert [p["plateau"] for p in plateaus] == [1, 2]  # 2031-35 not reached by a 2030 run
    first, second = plateaus
    assert first["until"] == 2026 and first["complete"] and second["until"] == 2030
    assert second["data_availability"] > first["data_availability"]
    assert first["connected_by_kind"]["pharmacy"] == 0.0  # not before 2027 (inferred start)
    assert second["connected_by_kind"]["pharmacy"] > 0.0
    data = report.to_dict(decade, presets.get(presets.DEFAULT))
    assert data["plateaus"] == plateaus and "goed gevuld" not in data["iza_definition"]
    assert "003:251-253" in data["iza_definition"]


# -- segments and the benefit side ------------------------------------------------------------
def test_segments_allocate_every_user_and_never_overfill() -> None:
    config = presets.base_config()
    seg = outcomes.segments(config, 18_000_000, 3_000_000)
    users = sum(v["users"] for v in seg["by_age"].values())
    assert users == pytest.approx(3_000_000)
    assert seg["chronic"]["users"] + seg["not_chronic"]["users"] == pytest.approx(3_000_000)
    assert seg["chronic"]["coverage"] > seg["not_chronic"]["coverage"]  # chronic_use > 1
    assert seg["by_age"]["80+"]["coverage"] < seg["by_age"]["45-64"]["coverage"]
    full = outcomes.segments(config, 18_000_000, 17_000_000)  # nearly everyone
    assert all(v["users"] <= v["population"] + 1e-6 for v in full["by_age"].values())
    assert sum(v["users"] for v in full["by_age"].values()) == pytest.approx(17_000_000)
    flat = dataclasses.replace(config, chronic_use=1.0, age_use=(1.0,) * 5)
    same = outcomes.segments(flat, 18_000_000, 3_000_000)
    assert same["chronic"]["coverage"] == pytest.approx(same["not_chronic"]["coverage"])


def test_benefit_needs_the_medication_overview(decade: model.Result) -> None:
    by = {y["year"]: y for y in decade.years}
    assert by[2025]["benefit"]["medication_admissions_exposed"] == 0.0  # no pharmacy data yet
    b = by[2030]["benefit"]
    assert b["medication_admissions_per_year"] == 75 * 365  # 004:61-62
    assert 0 < b["medication_admissions_exposed"] < 75 * 365
    assert b["medication_admissions_avoided"] == pytest.approx(
        b["medication_admissions_exposed"] * decade.config.medication_benefit)


def test_every_preset_asks_its_question_in_dutch_too() -> None:
    for preset in presets.PRESETS.values():
        assert preset.question_nl and preset.question_nl != preset.question, preset.name
