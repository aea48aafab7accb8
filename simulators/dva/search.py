"""FHIR search over one patient's record at one provider: token params, _include and $lastn.

Enough of the FHIR search grammar for every query of the MedMij PGO query list; the record is
small (one patient), so a scan is faster than any index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from simulators.provider.record import SourceRecord

TOKEN_PARAMS = {"category": "category", "code": "code", "status": "status", "class": "class",
                "type": "type"}
PERIOD_OF_USE = "http://nictiz.nl/fhir/StructureDefinition/zib-Medication-PeriodOfUse"
DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
RESULT_PARAMS = {"_include", "_revinclude", "_count", "_sort", "_format", "max", "_summary"}


class SearchError(ValueError):
    """A search the server cannot honour (unknown parameter syntax)."""


def _codings(value) -> Iterable[tuple[str | None, str]]:
    if value is None:
        return
    if isinstance(value, str):
        yield None, value
    elif isinstance(value, list):
        for item in value:
            yield from _codings(item)
    elif isinstance(value, dict):
        if "coding" in value:
            yield from _codings(value["coding"])
        elif "code" in value:
            yield value.get("system"), value["code"]


def _parse_tokens(raw: str) -> list[tuple[str | None, str]]:
    tokens = []
    for part in raw.split(","):
        system, bar, code = part.partition("|")
        tokens.append((system or None, code) if bar else (None, system))
    return tokens


def _matches(resource: dict, element: str, tokens: list[tuple[str | None, str]]) -> bool:
    """FHIR token match; ``system|`` (empty code) matches any code of that system."""
    for system, code in _codings(resource.get(element)):
        for want_system, want_code in tokens:
            if want_code == "" and want_system is not None:
                if system == want_system:
                    return True
            elif code == want_code and (want_system is None or want_system == system):
                return True
    return False


def _period(resource: dict, param: str) -> tuple[str, str] | None:
    """(start, end) dates behind a date search parameter; '' means open. None: no such date."""
    if param == "periodofuse":
        for ext in resource.get("extension", []):
            if ext.get("url") == PERIOD_OF_USE:
                period = ext.get("valuePeriod") or {}
                return period.get("start", "")[:10], period.get("end", "")[:10]
        return None
    if param == "indexed":
        value = resource.get("indexed") or resource.get("created")
    else:  # date: the clinically relevant time of an Observation, Encounter, Composition ...
        period = resource.get("effectivePeriod") or resource.get("period")
        if isinstance(period, dict):
            return period.get("start", "")[:10], period.get("end", "")[:10]
        value = (resource.get("effectiveDateTime") or resource.get("date")
                 or resource.get("issued"))
    if not value:
        return None
    return value[:10], value[:10]


def _date_matches(resource: dict, param: str, raw: str) -> bool:
    """FHIR date search with a prefix (ge2024-01-01), compared at day precision."""
    prefix, value = (raw[:2], raw[2:]) if raw[:2] in DATE_PREFIXES else ("eq", raw)
    value = value[:10]
    span = _period(resource, param)
    if span is None:
        return False
    start, end = span
    if prefix in ("ge", "gt", "sa"):
        return end == "" or (end > value if prefix != "ge" else end >= value)
    if prefix in ("le", "lt", "eb"):
        return start != "" and (start < value if prefix != "le" else start <= value)
    inside = (start == "" or start <= value) and (end == "" or value <= end)
    return inside if prefix == "eq" else not inside


def _camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(p.capitalize() for p in rest)


def _references(value) -> Iterable[str]:
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            yield value["reference"]
        for v in value.values():
            if isinstance(v, dict | list):
                yield from _references(v)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _include_refs(resource: dict, param: str) -> Iterable[str]:
    """References behind a search parameter name: general-practitioner -> generalPractitioner,
    medication -> medicationReference, related-target -> related[].target."""
    path = _camel(param)
    if path in resource:
        yield from _references(resource[path])
    elif path + "Reference" in resource:
        yield from _references(resource[path + "Reference"])
    elif "-" in param:
        outer, inner = param.split("-", 1)
        for item in resource.get(outer, []) if isinstance(resource.get(outer), list) else []:
            yield from _references(item.get(_camel(inner)))
    if param == "device" and "codeReference" in resource:  # DeviceRequest (STU3)
        yield from _references(resource["codeReference"])


def _effective(resource: dict) -> str:
    return (
        resource.get("effectiveDateTime")
        or (resource.get("effectivePeriod") or {}).get("start")
        or resource.get("issued")
        or ""
    )


def _filter(candidates: list[dict], resource_type: str, name: str, value: str) -> list[dict]:
    """The candidates one search parameter keeps (result parameters keep them all)."""
    key = name.split(":")[0]
    if key == "_id":
        ids = set(value.split(","))
        return [r for r in candidates if r["id"] in ids]
    if key in RESULT_PARAMS:
        return candidates
    if key in DATE_PARAMS:
        if not DATE_VALUE.match(value):
            raise SearchError(f"{name}={value!r} is not a FHIR date search value")
        return [r for r in candidates if _date_matches(r, key, value)]
    if key not in TOKEN_PARAMS:
        raise SearchError(f"unsupported search parameter {name!r} for {resource_type}")
    tokens = _parse_tokens(value)
    element = TOKEN_PARAMS[key]
    return [r for r in candidates if _matches(r, element, tokens)]


def _lastn(candidates: list[dict]) -> list[dict]:
    """$lastn (max=1): the latest resource per code."""
    latest: dict[tuple, dict] = {}
    for r in candidates:
        key = tuple(sorted((s or "", c) for s, c in _codings(r.get("code"))))
        if key not in latest or _effective(r) > _effective(latest[key]):
            latest[key] = r
    return list(latest.values())


def _included(record: SourceRecord, resource_type: str, matches: list[dict],
              includes: list[str]) -> list[dict]:
    """The resources ``_include=<Type>:<param>[:<target type>]`` adds, each once."""
    included: dict[str, dict] = {}
    for spec in includes:
        parts = spec.split(":")
        if len(parts) < 2 or parts[0] != resource_type:
            raise SearchError(f"_include={spec} does not name a {resource_type} parameter")
        target = parts[2] if len(parts) > 2 else None
        for r in matches:
            for ref in _include_refs(r, parts[1]):
                if target and not ref.startswith(target + "/"):
                    continue
                found = record.by_ref.get(ref)
                if found is not None and ref not in included:
                    included[ref] = found
    return list(included.values())


def search(record: SourceRecord, resource_type: str, params: list[tuple[str, str]],
           lastn: bool = False) -> tuple[list[dict], list[dict]]:
    """(matches, includes) of a search; unknown parameters are an error, not silently ignored."""
    candidates = record.of_type(resource_type)
    includes: list[str] = []
    for name, value in params:
        if name.split(":")[0] == "_include":
            includes.append(value)
        else:
            candidates = _filter(candidates, resource_type, name, value)
    if lastn:
        candidates = _lastn(candidates)
    return candidates, (_included(record, resource_type, candidates, includes) if includes else [])


RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")
DATE_PARAMS = {"date", "indexed", "periodofuse"}
DATE_VALUE = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb)?\d{4}(-\d{2}(-\d{2}([T ][0-9:.+Z-]*)?)?)?$")
