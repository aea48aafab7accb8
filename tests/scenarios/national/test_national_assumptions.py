"""Every number of the national model is traceable (issue 19, item 1).

Sourced numbers: the cited file and line exist under ../shared/policy/ and the line carries the
quoted text and the number itself. Inferred numbers: a range holding the value and a reason.
Every config field is covered by the register (or is a named technical knob), and the presets
are built from the register's values.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date

import pytest

from scenarios.national import assumptions, presets
from scenarios.national.params import Config, Financing

POLICY = assumptions.policy_dir()
SOURCED = [a for a in assumptions.REGISTER if a.kind == "sourced"]

# numbers the source states in words, not digits: the quote carries the words
WORDED = {
    "sector.pharmacy.c2025": "'nog niet beschikbaar' = 0",
    "sector.rivm.c2025": "'inmiddels mogelijk' (001:86-88) = available",
    "sector.rivm.from": "'volgend jaar' in a 2023 letter = 2024",
    "observed.dvps_2023": "'ruim 20' = more than 20, taken as 21",
    "fact.tender_slots": "'drie' = 3",
}

# config fields that are not claims about the world (or are set through other register keys)
TECHNICAL = {
    "sectors": "built from sector.* keys", "dvas": "market.DVAS (20, 'bijna 20', 003:89)",
    "dvps": "register key 'vendors'", "start_year": "run span", "years": "run span",
    "weekdays": "load shape", "plateau_factors": "register key 'plateau_use'",
    "bankruptcies": "history.* keys", "vendor_entries": "preset what-if",
    "option": "preset what-if", "service": "service.* keys and --service-times",
    "capacity_factor": "CLI what-if", "session_factor": "preset lever",
    "lever_p": "preset lever", "lever_q": "preset lever", "opt_out": "preset switch",
    "inspection": "preset switch", "financing": "financing.* keys",
}
FINANCING_TECHNICAL = {
    "per_user_scheme": "switch", "lump_sum": "switch", "tender": "switch",
    "shared_build_years": "2026-2027 stated in the option's what text (inferred)",
    "central_build_years": "2026-2027 stated in the option's what text (inferred)",
}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).replace("’", "'").strip().casefold()


def _line(source: str) -> str:
    name, _, number = source.partition(":")
    lines = (POLICY / name).read_text(encoding="utf-8").splitlines()
    n = int(number)
    assert 1 <= n <= len(lines), f"{source}: the file has {len(lines)} lines"
    return lines[n - 1]


def _forms(value: object) -> set[str]:
    """How a number can be written in a Dutch government text."""
    forms: set[str] = set()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return forms
    v = float(value)
    if v.is_integer():
        forms |= {f"{int(v)}", f"{int(v):,}".replace(",", ".")}
    if 0 < v < 1:
        forms |= {f"{round(v * 100)}%", f"{round(v * 100)} procent"}
    if v >= 1e6:
        m = v / 1e6
        forms |= {f"{m:.1f}".replace(".", ","), f"{m:.0f}"}
    if not v.is_integer():
        forms |= {f"{v:.2f}".replace(".", ","), f"{v:.1f}".replace(".", ",")}
    return forms


pytestmark = pytest.mark.skipif(not POLICY.is_dir(), reason="../shared/policy/ not present")


@pytest.mark.parametrize("a", SOURCED, ids=[a.key for a in SOURCED])
def test_sourced_line_carries_quote_and_number(a: assumptions.Assumption) -> None:
    assert a.source and a.quote, a.key
    assert a.citation.startswith("../shared/policy/")
    line = _line(a.source)
    assert _norm(a.quote) in _norm(line), f"{a.key}: {a.quote!r} not on {a.source}: {line!r}"
    forms = _forms(a.value)
    if forms and a.key not in WORDED:
        assert any(f.casefold() in _norm(line) for f in forms), (
            f"{a.key}: value {a.value} ({sorted(forms)}) not on {a.source}: {line!r}")


def test_a_wrong_line_is_caught() -> None:
    """The check above is real: the right quote on a neighbouring line fails."""
    a = assumptions.BY_KEY["financing.per_user_eur"]
    name, _, n = a.source.partition(":")  # type: ignore[union-attr]
    assert _norm(a.quote) in _norm(_line(a.source))  # type: ignore[arg-type]
    assert _norm(a.quote) not in _norm(_line(f"{name}:{int(n) + 1}"))  # type: ignore[arg-type]


def test_inferred_numbers_have_a_range_holding_the_value_and_a_reason() -> None:
    for a in assumptions.REGISTER:
        if a.kind in ("inferred", "fitted", "technical"):
            assert a.why, f"{a.key}: an inferred number needs a one-line reason"
        if a.kind in ("inferred", "fitted") and a.low is not None:
            lo, hi = assumptions.to_float(a.low), assumptions.to_float(a.high)
            assert lo <= assumptions.to_float(a.value) <= hi, a.key
        if a.kind in ("inferred", "fitted") and isinstance(a.value, int | float) \
                and not isinstance(a.value, bool):
            assert a.low is not None and a.high is not None, f"{a.key}: needs a range"


def test_keys_are_unique() -> None:
    keys = [a.key for a in assumptions.REGISTER]
    assert len(keys) == len(set(keys))


def test_every_config_number_is_in_the_register() -> None:
    keys = set(assumptions.BY_KEY)
    for f in dataclasses.fields(Config):
        assert f.name in keys or f.name in TECHNICAL, f"Config.{f.name} has no register entry"
    for f in dataclasses.fields(Financing):
        assert f"financing.{f.name}" in keys or f.name in FINANCING_TECHNICAL, (
            f"Financing.{f.name} has no register entry")


def test_presets_are_built_from_the_register() -> None:
    config = presets.base_config()
    for key, value in assumptions.defaults().items():
        if key.startswith(("sector.", "history.", "service.")):
            continue
        target = config.financing if key.startswith("financing.") else config
        name = key.removeprefix("financing.")
        if not hasattr(target, name):
            continue
        actual = getattr(target, name)
        expected = date.fromisoformat(value) if isinstance(actual, date) else value
        assert actual == expected, key
    history = config.bankruptcies[0]
    assert history.vendor == assumptions.BY_KEY["history.vendor"].value
    assert history.when.isoformat() == assumptions.BY_KEY["history.when"].value
    assert history.when < date(2025, 3, 31)  # before the questions were filed (001:45)


def test_apply_sets_sector_values() -> None:
    config = assumptions.apply(presets.base_config(), {"sector.ggz.providers": 98})
    ggz = next(s for s in config.sectors if s.name == "ggz")
    assert ggz.providers == 98
    assert ggz.connected(2025 + 97 / 365) == pytest.approx(0.5)  # 49 of 98
    assert sum(s.providers for s in config.sectors) == 50_000  # 'meer dan 50.000' (001:79)
