"""Dutch population tables: age pyramid, municipalities with postcode ranges, health insurers.

Figures are rounded from CBS StatLine (population on 1 January 2024) and Vektis market shares
(2024, the six largest groups only); close enough for a sandbox, and what the distribution
tests check against.
"""

from __future__ import annotations

from typing import NamedTuple

# Five-year age bands: (lower age, persons x 1000, share male). CBS 1 Jan 2024, rounded.
AGE_BANDS: tuple[tuple[int, int, float], ...] = (
    (0, 870, 0.512),
    (5, 910, 0.512),
    (10, 990, 0.512),
    (15, 1070, 0.511),
    (20, 1160, 0.508),
    (25, 1180, 0.506),
    (30, 1150, 0.503),
    (35, 1100, 0.502),
    (40, 1070, 0.501),
    (45, 1100, 0.500),
    (50, 1240, 0.500),
    (55, 1290, 0.501),
    (60, 1200, 0.497),
    (65, 1060, 0.490),
    (70, 960, 0.478),
    (75, 790, 0.463),
    (80, 480, 0.433),
    (85, 270, 0.380),
    (90, 110, 0.300),
    (95, 30, 0.220),
)
MAX_AGE = 104


class Municipality(NamedTuple):
    """A municipality, its population weight (x 1000) and its 4-digit postcode range."""

    name: str
    weight: int
    pc_low: int
    pc_high: int


MUNICIPALITIES: tuple[Municipality, ...] = (
    Municipality("Amsterdam", 930, 1011, 1109),
    Municipality("Rotterdam", 670, 3011, 3089),
    Municipality("'s-Gravenhage", 560, 2491, 2599),
    Municipality("Utrecht", 370, 3511, 3585),
    Municipality("Eindhoven", 245, 5611, 5658),
    Municipality("Groningen", 240, 9711, 9747),
    Municipality("Tilburg", 227, 5011, 5049),
    Municipality("Almere", 222, 1311, 1364),
    Municipality("Breda", 187, 4811, 4839),
    Municipality("Nijmegen", 182, 6511, 6546),
    Municipality("Apeldoorn", 167, 7311, 7339),
    Municipality("Arnhem", 166, 6811, 6846),
    Municipality("Haarlem", 164, 2011, 2037),
    Municipality("Haarlemmermeer", 161, 2131, 2136),
    Municipality("Enschede", 160, 7511, 7548),
    Municipality("Amersfoort", 161, 3811, 3829),
    Municipality("Zaanstad", 158, 1501, 1509),
    Municipality("'s-Hertogenbosch", 160, 5211, 5237),
    Municipality("Zwolle", 132, 8011, 8043),
    Municipality("Leiden", 127, 2311, 2334),
    Municipality("Maastricht", 122, 6211, 6229),
    Municipality("Dordrecht", 121, 3311, 3328),
    Municipality("Zoetermeer", 126, 2711, 2729),
    Municipality("Ede", 121, 6711, 6718),
    Municipality("Alkmaar", 111, 1811, 1825),
    Municipality("Leeuwarden", 126, 8911, 8939),
    Municipality("Delft", 105, 2611, 2629),
    Municipality("Deventer", 102, 7411, 7429),
    Municipality("Heerlen", 87, 6411, 6422),
    Municipality("Venlo", 102, 5911, 5928),
    Municipality("Emmen", 108, 7811, 7828),
    Municipality("Hilversum", 92, 1211, 1223),
    Municipality("Assen", 69, 9401, 9409),
    Municipality("Middelburg", 49, 4331, 4339),
    Municipality("Lelystad", 82, 8211, 8245),
    Municipality("Het Hogeland", 48, 9950, 9989),
    Municipality("Súdwest-Fryslân", 91, 8600, 8629),
    Municipality("Westland", 113, 2671, 2695),
)

# Letter pairs not used in Dutch postcodes.
POSTCODE_LETTERS_EXCLUDED = frozenset({"SA", "SD", "SS"})


class Insurer(NamedTuple):
    """A health insurer (zorgverzekeraar) with its UZOVI code and market share (%)."""

    name: str
    uzovi: str
    share: float


INSURERS: tuple[Insurer, ...] = (
    Insurer("Zilveren Kruis Zorgverzekeringen", "3311", 27.0),
    Insurer("Coöperatie VGZ", "7095", 21.5),
    Insurer("CZ Zorgverzekeringen", "9664", 21.0),
    Insurer("Menzis Zorgverzekeraar", "3332", 12.0),
    Insurer("DSW Zorgverzekeraar", "8401", 5.0),
    Insurer("ONVZ Ziektekostenverzekeraar", "3343", 4.5),
)
