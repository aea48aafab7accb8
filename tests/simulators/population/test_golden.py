"""Golden digests of the population's FHIR (issue 17 item 6): the export was made faster
without changing a byte. A DVA serves the same resources, so these digests also pin what a DVA
answers. A change here means the output changed: if that is intended, bump
``export.FORMAT_VERSION`` and say why in the commit. Version 3 (2026-11-30): the clinical
record's parts other than the diagnoses draw from streams of their own (drawn on first use,
issue 17 item 4); demographics, diagnoses and vaccinations are drawn as in version 2 (a
GP's Patients and Conditions, RIVM's Immunizations: the same bytes), the rest differs."""

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


GOLDEN_SEVEN: dict[str, tuple[int, str]] = {'apotheeksandbox-48': (8850, '818b34a53165ed71'),
    'ggzsandbox-48': (243, '283984e3566665b1'),
    'hapraktijknoord-48': (20031, 'f858f6f1f17e6038'),
    'hapraktijknoord-49': (17073, '19cce7f0980e2738'),
    'hapraktijknoord-51': (677, 'f64b1aaead080b5a'),
    'hapraktijkzuid-48': (17695, '7b7b739d38e8c29f'),
    'hapraktijkzuid-49': (15209, '9a6164346b38ccb6'),
    'hapraktijkzuid-51': (550, '414877a5a001e6d5'),
    'revalidatiesandbox-48': (855, '1a5658106c84ad5a'),
    'rivm-63': (11885, 'd3af945d2cdcdf0f'),
    'summaries': (2000, '3997de52375185d9'),
    'umcsandbox-48': (4378, '82fc265123612b1a'),
    'umcsandbox-51': (1517, 'd308fefd1edb081c')}
GOLDEN_PACKAGED: dict[str, tuple[int, str]] = {'ggzdeoever-48': (81, '99557435f95c778a'),
    'huisartsdebrug-48': (11268, '7e761162d013fe10'),
    'huisartsdebrug-49': (9468, '339aa4151a7b7137'),
    'huisartsdebrug-51': (393, 'ddba69116415189a'),
    'rivmvaccinaties-63': (3206, 'c5aafc3e3f164e71'),
    'summaries': (600, '3ab37875eb8bd154'),
    'umcsandbox-48': (1548, 'f4aa45f9b0dbdc9f'),
    'umcsandbox-51': (487, '0738f52d24e73dfa')}


@pytest.mark.parametrize(("pop", "people", "golden"), [
    (Population(7, 1_000_000, SEVEN), range(2000), GOLDEN_SEVEN),
    (Population(20261125, 100_000, PACKAGED), range(40_000, 40_600), GOLDEN_PACKAGED),
], ids=["seven-providers", "packaged"])
def test_export_bytes_are_the_golden_ones(pop: Population, people: range,
                                          golden: dict[str, tuple[int, str]]) -> None:
    assert digests(pop, people) == golden
