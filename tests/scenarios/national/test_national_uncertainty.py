"""Uncertainty over the inferred ranges (issue 19, item 4): a seeded Latin hypercube, parallel
replications that equal serial ones, medians with ordered 80%/95% intervals, a tornado."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.national import assumptions, presets, uncertainty

FAST = presets.base_config(years=6, window_requests=20, probes_per_year=1)


def test_draws_are_seeded_latin_hypercube_within_ranges() -> None:
    n = 8
    first, again = uncertainty.draws(n, 5), uncertainty.draws(n, 5)
    assert [d.values for d in first] == [d.values for d in again]
    assert [d.values for d in first] != [d.values for d in uncertainty.draws(n, 6)]
    params = uncertainty.parameters()
    assert params and all(a.kind == "inferred" for a in params)  # fitted ones stay at the fit
    for a in params:
        lo, hi = assumptions.to_float(a.low), assumptions.to_float(a.high)
        x = np.array([assumptions.to_float(d.values[a.key]) for d in first])
        assert np.all((x >= lo - 1) & (x <= hi + 1)), a.key
        if isinstance(a.value, float) and hi > lo:  # one draw per stratum: Latin hypercube
            strata = np.minimum(((x - lo) / (hi - lo) * n).astype(int), n - 1)
            assert sorted(strata.tolist()) == list(range(n)), a.key


def test_summary_intervals_are_ordered() -> None:
    s = uncertainty.summarise(list(np.linspace(0, 100, 41)))
    assert s["p2_5"] <= s["p10"] <= s["median"] <= s["p90"] <= s["p97_5"]
    assert s["median"] == pytest.approx(50.0)


def _headlines(spread: dict[str, object]) -> str:
    """The replications' outputs as text: NaN (no 2032 in a short run) compares equal."""
    return repr([r["headlines"] for r in spread["runs"]])  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def serial() -> dict[str, object]:
    return uncertainty.ensemble(FAST, 4, seed=2, cores=1)


def test_parallel_equals_serial(serial: dict[str, object]) -> None:
    parallel = uncertainty.ensemble(FAST, 4, seed=2, cores=2)
    assert _headlines(parallel) == _headlines(serial)


def test_any_mapper_runs_the_replications(serial: dict[str, object]) -> None:
    class Serial:  # what a Dask or Ray executor offers: map(fn, iterable)
        def map(self, fn, iterable):  # type: ignore[no-untyped-def]
            return [fn(x) for x in iterable]

    mapped = uncertainty.ensemble(FAST, 4, seed=2, mapper=Serial())
    assert _headlines(mapped) == _headlines(serial)


def test_ensemble_reports_bands_history_check_and_tornado(serial: dict[str, object]) -> None:
    summary = serial["summary"]
    users = summary["year_users_2025"]  # type: ignore[index]
    assert users["n"] == 4 and users["p10"] <= users["median"] <= users["p90"]
    assert users["p90"] > users["p10"]  # the inferred ranges do move the result
    assert set(serial["bands"]["accounts_by_year"]) == {str(y) for y in range(2020, 2026)}  # type: ignore[index]
    assert serial["history_consistent"]["of"] == 4  # type: ignore[index]
    rows = serial["tornado"]["year_users_2025"]  # type: ignore[index]
    assert rows and all(-1 <= r["rho"] <= 1 for r in rows)
    assert abs(rows[0]["rho"]) >= abs(rows[-1]["rho"])


def test_ensemble_reports_the_iza_goal_and_availability_per_year(
        serial: dict[str, object]) -> None:
    bands = serial["bands"]  # type: ignore[index]
    for key in ("iza_by_year", "availability_by_year", "well_filled_by_year"):
        for year, s in bands[key].items():
            assert 0 <= s["p2_5"] <= s["p10"] <= s["median"] <= s["p90"] <= s["p97_5"] <= 1, (
                key, year)
    iza = serial["summary"]["iza_2025"]  # type: ignore[index]
    assert iza["n"] == 4 and iza["p90"] > iza["p10"]  # the inferred definition moves it
    assert serial["summary"]["availability_plateau_1"]["n"] == 4  # type: ignore[index]
    assert "iza_last" in serial["tornado"]  # type: ignore[operator]


def test_a_dask_local_cluster_runs_the_same_replications(serial: dict[str, object]) -> None:
    """The same replications on an existing engine: a 2-worker distributed.LocalCluster."""
    pytest.importorskip("distributed")
    with uncertainty.dask_executor("local:2") as executor:
        on_dask = uncertainty.ensemble(FAST, 4, seed=2, mapper=executor)
    assert _headlines(on_dask) == _headlines(serial)


def test_dask_address_without_dask_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    with pytest.raises(ValueError, match="dask"), uncertainty.dask_executor("local:2"):
        pass
