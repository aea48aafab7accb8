"""Golden digests of the population's FHIR (issue 17 item 6): the export was made faster
without changing a byte. A DVA serves the same resources, so these digests also pin what a DVA
answers. Computed before the speed work; a change here means the output changed: if that is
intended, bump ``export.FORMAT_VERSION`` and say why in the commit."""

from __future__ import annotations

import hashlib

import pytest

from simulators.population import Population, ProviderRef
from simulators.population.export import render_person

SEVEN = (
    ProviderRef("hapraktijkzuid@medmij", "gp", "Huisartsenpraktijk Zuid"),
    ProviderRef("hapraktijknoord@medmij", "gp", "Huisartsenpraktijk Noord"),
    ProviderRef("umcsandbox@medmij", "hospital", "UMC Sandbox"),
    ProviderRef("apotheeksandbox@medmij", "pharmacy", "Apotheek Sandbox"),
    ProviderRef("ggzsandbox@medmij", "ggz", "GGZ Sandbox"),
    ProviderRef("rivm@medmij", "rivm", "RIVM"),
    ProviderRef("revalidatiesandbox@medmij", "rehabilitation", "Revalidatie Sandbox"),
)
PACKAGED = (  # the packaged topology's providers, seed and size (what `population export` uses)
    ProviderRef("umcsandbox@medmij", "hospital", "UMC Sandbox"),
    ProviderRef("huisartsdebrug@medmij", "gp", "Huisartsenpraktijk De Brug"),
    ProviderRef("rivmvaccinaties@medmij", "rivm", "RIVM Rijksvaccinatieprogramma"),
    ProviderRef("ggzdeoever@medmij", "ggz", "GGZ De Oever"),
)


def digests(pop: Population, people: range) -> dict[str, tuple[int, str]]:
    """Per stem (and summaries): (lines, sha256 of the NDJSON bytes in index order)."""
    hashes: dict[str, hashlib._Hash] = {}
    counts: dict[str, int] = {}
    for index in people:
        for stem, lines in render_person(pop, index, summaries=True).items():
            h = hashes.setdefault(stem, hashlib.sha256())
            for line in lines:
                h.update(line)
            counts[stem] = counts.get(stem, 0) + len(lines)
    return {stem: (counts[stem], h.hexdigest()[:16]) for stem, h in sorted(hashes.items())}


GOLDEN_SEVEN: dict[str, tuple[int, str]] = {'apotheeksandbox-48': (8982, 'ee97346fbed8fca4'),
    'ggzsandbox-48': (243, 'a1ecd72fcd29e468'),
    'hapraktijknoord-48': (20097, '478630c47c1febd8'),
    'hapraktijknoord-49': (17478, '718960964c1cf202'),
    'hapraktijknoord-51': (678, 'bbcf4362509d0986'),
    'hapraktijkzuid-48': (17742, 'a40c502cba9a9594'),
    'hapraktijkzuid-49': (14989, 'a48c4b6a1190be75'),
    'hapraktijkzuid-51': (558, '20f422a01b869554'),
    'revalidatiesandbox-48': (859, '12ee367b6211d05e'),
    'rivm-63': (11885, 'd3af945d2cdcdf0f'),
    'summaries': (2000, '9dd3dc93a8ad2456'),
    'umcsandbox-48': (4579, '0a14452198c45f16'),
    'umcsandbox-51': (1526, '6c5e1dc8b59522e4')}
GOLDEN_PACKAGED: dict[str, tuple[int, str]] = {'ggzdeoever-48': (81, '822fc1d37c134f23'),
    'huisartsdebrug-48': (11340, 'ad4b608b7545b5dc'),
    'huisartsdebrug-49': (9642, '06c1d5e39ee90a28'),
    'huisartsdebrug-51': (402, '3031a24cd61aa624'),
    'rivmvaccinaties-63': (3206, 'c5aafc3e3f164e71'),
    'summaries': (600, '84e71d624a3f45e1'),
    'umcsandbox-48': (1585, '20833b79e3b729b3'),
    'umcsandbox-51': (496, '14d3ee518e6825fa')}


@pytest.mark.parametrize(("pop", "people", "golden"), [
    (Population(7, 1_000_000, SEVEN), range(2000), GOLDEN_SEVEN),
    (Population(20261125, 100_000, PACKAGED), range(40_000, 40_600), GOLDEN_PACKAGED),
], ids=["seven-providers", "packaged"])
def test_export_bytes_are_the_golden_ones(pop: Population, people: range,
                                          golden: dict[str, tuple[int, str]]) -> None:
    assert digests(pop, people) == golden
