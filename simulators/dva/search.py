"""FHIR search over one patient's record at one provider: token params, _include and $lastn.

Enough of the FHIR search grammar for every query of the MedMij PGO query list; the record is
small (one patient), so a scan is faster than any index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

TOKEN_PARAMS = {"category": "category", "code": "code", "status": "status", "class": "class",
                "type": "type"}
RESULT_PARAMS = {"_include", "_revinclude", "_count", "_sort", "_format", "max", "_summary"}


class SearchError(ValueError):
    """A search the server cannot honour (unknown parameter syntax)."""


@dataclass
class Record:
    """One patient's resources at one provider for one gegevensdienst."""

    by_type: dict[str, list[dict]] = field(default_factory=dict)
    by_ref: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def of(cls, resources: Iterable[dict]) -> Record:
        record = cls()
        for r in resources:
            record.by_type.setdefault(r["resourceType"], []).append(r)
            record.by_ref[f"{r['resourceType']}/{r['id']}"] = r
        return record


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
    for system, code in _codings(resource.get(element)):
        for want_system, want_code in tokens:
            if code == want_code and (want_system is None or want_system == system):
                return True
    return False


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


def search(record: Record, resource_type: str, params: list[tuple[str, str]],
           lastn: bool = False) -> tuple[list[dict], list[dict]]:
    """(matches, includes) of a search; unknown parameters are an error, not silently ignored."""
    candidates = record.by_type.get(resource_type, [])
    includes: list[str] = []
    for name, value in params:
        key = name.split(":")[0]
        if key == "_include":
            includes.append(value)
            continue
        if key in RESULT_PARAMS or key == "_id":
            if key == "_id":
                ids = set(value.split(","))
                candidates = [r for r in candidates if r["id"] in ids]
            continue
        if key not in TOKEN_PARAMS:
            raise SearchError(f"unsupported search parameter {name!r} for {resource_type}")
        tokens = _parse_tokens(value)
        element = TOKEN_PARAMS[key]
        candidates = [r for r in candidates if _matches(r, element, tokens)]
    if lastn:
        latest: dict[tuple, dict] = {}
        for r in candidates:
            key = tuple(sorted((s or "", c) for s, c in _codings(r.get("code"))))
            if key not in latest or _effective(r) > _effective(latest[key]):
                latest[key] = r
        candidates = list(latest.values())
    included: dict[str, dict] = {}
    for spec in includes:
        parts = spec.split(":")
        if len(parts) < 2 or parts[0] != resource_type:
            raise SearchError(f"_include={spec} does not name a {resource_type} parameter")
        target = parts[2] if len(parts) > 2 else None
        for r in candidates:
            for ref in _include_refs(r, parts[1]):
                if target and not ref.startswith(target + "/"):
                    continue
                found = record.by_ref.get(ref)
                if found is not None and ref not in included:
                    included[ref] = found
    return candidates, list(included.values())


RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")
