"""The localisation service: which listed providers hold data on the person behind a
localisation pseudonym (the inspection function asks; it never learns the BSN).

A service: no FastAPI here. Only the registry's own key opens the pseudonym DigiD made for it
(``simulators.common.pseudonym``); anything else is ``NotAPseudonym``.
"""

from __future__ import annotations

from simulators.common import pseudonym
from simulators.population import Population
from simulators.registry.errors import NotAPseudonym
from simulators.registry.lists import ProviderEntry


def localise(secret: bytes, registry_hostname: str, population: Population,
             listed: dict[str, ProviderEntry], localisation_pseudonym: str) -> list[dict]:
    """Per listed provider holding data on the person: the gegevensdiensten it holds that the
    ZAL lists for it. A provider off the ZAL is not named (the function could not reach it)."""
    bsn = pseudonym.reveal(secret, registry_hostname, localisation_pseudonym)
    if bsn is None:
        raise NotAPseudonym()
    index = population.index_of(bsn)
    if index is None:
        return []
    found = []
    for name in population.holders(index):
        entry = listed.get(name)
        if entry is None:
            continue
        services = [s for s in population.services(index, name) if s in entry.gegevensdiensten]
        if services:
            found.append({"provider": name, "gegevensdiensten": services})
    return found
