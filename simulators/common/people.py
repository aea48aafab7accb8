"""The one population every node draws its patients from, built from the topology."""

from __future__ import annotations

from functools import cache

from simulators.common.config import SandboxConfig
from simulators.population import Population, ProviderRef


@cache
def _population(seed: int, size: int, providers: tuple[ProviderRef, ...]) -> Population:
    return Population(seed, size, providers)


def population_for(config: SandboxConfig) -> Population:
    topology = config.topology
    refs = tuple(ProviderRef(p.name, p.kind, p.display) for p in topology.providers)
    return _population(topology.seed, topology.population, refs)
