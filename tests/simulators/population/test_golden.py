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
    'hapraktijknoord-48': (20365, '2d6a0c5691000271'),
    'hapraktijknoord-49': (17624, 'd48095749982f06e'),
    'hapraktijknoord-51': (675, '2793816fd8fd6d5b'),
    'hapraktijkzuid-48': (18183, 'd773ee15f3f2c24f'),
    'hapraktijkzuid-49': (15214, '7b003d7bab16af86'),
    'hapraktijkzuid-51': (554, '059f760866c87aa3'),
    'revalidatiesandbox-48': (859, '12ee367b6211d05e'),
    'rivm-63': (11885, 'e0da94d19d42af1c'),
    'summaries': (2000, 'cf31c2ea163f4d2a'),
    'umcsandbox-48': (4393, '94ffa80fbb07f5db'),
    'umcsandbox-51': (1519, 'e72e665fe2da02c7')}
GOLDEN_PACKAGED: dict[str, tuple[int, str]] = {'ggzdeoever-48': (81, '822fc1d37c134f23'),
    'huisartsdebrug-48': (11532, '01ce2e2de54e128f'),
    'huisartsdebrug-49': (9736, '23958d2b8c3e777b'),
    'huisartsdebrug-51': (401, 'ebed5e4651cd7a77'),
    'rivmvaccinaties-63': (3206, 'abfb47eb7ab21440'),
    'summaries': (600, 'a54f79bcff9a0af1'),
    'umcsandbox-48': (1561, '05e1e908893f986e'),
    'umcsandbox-51': (495, '1821ac1c16874500')}


@pytest.mark.parametrize(("pop", "people", "golden"), [
    (Population(7, 1_000_000, SEVEN), range(2000), GOLDEN_SEVEN),
    (Population(20261125, 100_000, PACKAGED), range(40_000, 40_600), GOLDEN_PACKAGED),
], ids=["seven-providers", "packaged"])
def test_export_bytes_are_the_golden_ones(pop: Population, people: range,
                                          golden: dict[str, tuple[int, str]]) -> None:
    assert digests(pop, people) == golden
