"""The one population every node draws its patients from, built from the topology."""

from __future__ import annotations

from functools import cache

from simulators.common.config import SandboxConfig
from simulators.population import Population, ProviderRef


@cache
def _population(seed: int, size: int, providers: tuple[ProviderRef, ...],
                reference_data: tuple[tuple[str, str], ...]) -> Population:
    population = Population(seed, size, providers)
    for provider, folder in reference_data:  # e.g. the Nictiz qualification test patients
        population.add_reference(provider, folder)
    return population


def population_for(config: SandboxConfig) -> Population:
    topology = config.topology
    refs = tuple(ProviderRef(p.name, p.kind, p.display) for p in topology.providers)
    return _population(topology.seed, topology.population, refs, config.reference_data)
