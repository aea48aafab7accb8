"""Population benchmark: prints figures, asserts nothing (issue 3).

    python benchmarks/population_bench.py [--quick]

Measures, on one core: demographics-only patients/s, full BgZ (48, the GP's answer with every
referenced resource) patients/s, one patient's full BgZ by BSN in an 18-million population
(ms), and traced memory of a Population as N grows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc

from simulators.population import Population, ProviderRef

GP = ProviderRef("huisartsenpraktijksandbox@medmij", "gp", "Huisartsenpraktijk Sandbox")
PROVIDERS = [
    GP,
    ProviderRef("umcsandbox@medmij", "hospital", "UMC Sandbox"),
    ProviderRef("apotheeksandbox@medmij", "pharmacy", "Apotheek Sandbox"),
    ProviderRef("rivm@medmij", "rivm", "RIVM"),
]
NATIONAL = 18_000_000


def _stride(n: int, count: int) -> range:
    """Indices spread over the whole population, so no cache helps."""
    return range(0, n, max(1, n // count))[:count]


def demographics_per_second(count: int) -> float:
    pop = Population(seed=1, size=NATIONAL, providers=PROVIDERS)
    pop.patient(NATIONAL - 1)  # builds the Faker pools once, outside the timing
    start = time.perf_counter()
    for i in _stride(NATIONAL, count):
        pop.patient(i)
    return count / (time.perf_counter() - start)


def bgz_per_second(count: int) -> tuple[float, float]:
    pop = Population(seed=2, size=NATIONAL, providers=PROVIDERS)
    pop.patient(0)
    resources = 0
    start = time.perf_counter()
    for i in _stride(NATIONAL, count):
        resources += len(pop.resources(i, GP.name, "48"))
    return count / (time.perf_counter() - start), resources / count


def serialised_bgz_per_second(count: int) -> float:
    """Full BgZ including json.dumps of every resource (what a DVA does without orjson)."""
    pop = Population(seed=3, size=NATIONAL, providers=PROVIDERS)
    pop.patient(0)
    start = time.perf_counter()
    for i in _stride(NATIONAL, count):
        json.dumps(pop.resources(i, GP.name, "48"))
    return count / (time.perf_counter() - start)


def one_by_bsn_ms(count: int) -> tuple[float, float]:
    pop = Population(seed=4, size=NATIONAL, providers=PROVIDERS)
    bsns = [Population(seed=4, size=NATIONAL).patient(i).bsn
            for i in _stride(NATIONAL, count)]
    pop.patient(0)
    timings = []
    for bsn in bsns:
        start = time.perf_counter()
        index = pop.index_of(bsn)
        assert index is not None
        pop.resources(index, GP.name, "48")
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95)]


def memory_by_size(sizes: tuple[int, ...], renders: int) -> list[tuple[int, float, float]]:
    Population(seed=5, size=10).patient(0)  # Faker pools, shared by every size
    out = []
    for size in sizes:
        tracemalloc.start()
        pop = Population(seed=5, size=size, providers=PROVIDERS)
        for i in _stride(size, renders):
            for name in pop.holders(i):
                for service in pop.services(i, name):
                    pop.resources(i, name, service)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out.append((size, current / 2**20, peak / 2**20))
        del pop
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    args = parser.parse_args()
    scale = 1 if args.quick else 4

    print(f"demographics only      : {demographics_per_second(5000 * scale):>9,.0f} patients/s")
    rate, per_patient = bgz_per_second(1000 * scale)
    print(f"full BgZ (GP, 48)      : {rate:>9,.0f} patients/s "
          f"({per_patient:.1f} resources/patient)")
    print(f"full BgZ + json.dumps  : {serialised_bgz_per_second(500 * scale):>9,.0f} patients/s")
    median, p95 = one_by_bsn_ms(200 * scale)
    print(f"one patient by BSN, 18M: {median:>9.2f} ms median, {p95:.2f} ms p95 "
          "(index_of + full BgZ, cold)")
    for size, current, peak in memory_by_size((1_000, 1_000_000, NATIONAL), 500 * scale):
        print(f"memory N={size:>10,}  : {current:>9.1f} MiB held, {peak:.1f} MiB peak "
              f"(after rendering {500 * scale} patients, all holders)")


if __name__ == "__main__":
    main()
