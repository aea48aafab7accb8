"""Benchmark of the national model (issue 6): 18 million citizens over 10 years, one core.

Not a test: run it by hand and read the figures.

    python benchmarks/national_bench.py [--scenario NAME] [--years N] [--seed S]

Goal: under 60 s wall time. The population is cohorts (DVP x weeks since last collect) moved by
binomial draws once a simulated day; only the busiest hour of each DVA per quarter is queued
request by request in SimPy. See docs/national-model.md, "Why cohorts".
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: before numpy is imported

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import time  # noqa: E402

from scenarios.national import model, presets  # noqa: E402

GOAL_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=presets.DEFAULT)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = dataclasses.replace(presets.get(args.scenario).config, years=args.years)
    cpu0 = time.process_time()
    result = model.run(config, seed=args.seed)
    cpu = time.process_time() - cpu0
    perf = result.performance
    last = result.years[-1]
    print(f"scenario        {args.scenario}, seed {args.seed}")
    print(f"citizens        {config.population:,} at the start, {last['population']:,} at the end")
    print(f"simulated       {config.years} years ({config.start_year}-"
          f"{config.start_year + config.years - 1}), {last['users']:,} PGO users at the end")
    print(f"SimPy events    {perf['events']:,.0f} ({perf['macro_events']:,.0f} model, "
          f"{perf['queue_events']:,.0f} in DVA peak queues)")
    print(f"wall time       {perf['wall_s']:.2f} s (CPU {cpu:.2f} s)")
    print(f"events/s        {perf['events_per_s']:,.0f}")
    verdict = "within" if perf["wall_s"] < GOAL_S else "OVER"
    print(f"goal            {verdict} {GOAL_S:.0f} s")


if __name__ == "__main__":
    main()
