"""Synthetic Dutch population: deterministic, lazy, national scale (issue 3).

    from simulators.population import Population, ProviderRef
    gp = ProviderRef("hapraktijk@medmij", "gp", "Huisartsenpraktijk")
    pop = Population(seed=1, size=1_000_000, providers=[gp])
    pop.resources(pop.find("hapraktijk@medmij"), "hapraktijk@medmij", "48")
"""

from simulators.population.demographics import Patient
from simulators.population.holders import ProviderRef
from simulators.population.population import AS_OF, Population

__all__ = ["AS_OF", "Patient", "Population", "ProviderRef"]
