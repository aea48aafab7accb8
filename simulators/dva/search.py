"""FHIR search over one patient's record at one provider: token params, _include and $lastn.

Enough of the FHIR search grammar for every query of the MedMij PGO query list; the record is
small (one patient), so a scan is faster than any index. Modifiers: ``:not`` on token
parameters and ``_id``, ``:missing`` on token and date parameters, ``_include:iterate`` (STU3
``:recurse``). Anything else the server would not apply (another modifier, ``_revinclude``,
``_summary``, a date that is no date) is a ``SearchError`` (400), never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime

from simulators.provider.record import SourceRecord

TOKEN_PARAMS = {"category": "category", "code": "code", "status": "status", "class": "class",
                "type": "type"}
PERIOD_OF_USE = "http://nictiz.nl/fhir/StructureDefinition/zib-Medication-PeriodOfUse"
DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
# Result parameters: _include is followed (below); _count, _sort and $lastn's max are accepted
# and not applied (one page, in record order, max=1); _format is content negotiation.
RESULT_PARAMS = {"_include", "_revinclude", "_count", "_sort", "_format", "max", "_summary"}
COUNTS = frozenset({"_count", "max"})  # accepted only as what they are: a count
# ... and these only with a value that asks for nothing this server leaves out.
REFUSED_RESULT_PARAMS: dict[str, frozenset[str]] = {"_revinclude": frozenset(),
                                                    "_summary": frozenset({"false"})}
TOKEN_MODIFIERS = frozenset({"not", "missing"})
MODIFIERS = {"_id": frozenset({"not"}), "date": frozenset({"missing"}),
             "indexed": frozenset({"missing"}), "periodofuse": frozenset({"missing"})}
INCLUDE_MODIFIERS = frozenset({"recurse", "iterate"})  # STU3 and R4 names of one modifier


class SearchError(ValueError):
    """A search the server cannot honour (unknown parameter syntax)."""


def _text(value: object) -> str:
    """A FHIR string element as text, '' for a value of another shape: what a PGO shared
    (Delen) is read with the same search code as the source system's own data, and a search
    must not fail on it."""
    return value if isinstance(value, str) else ""


def _object(value: object) -> dict:
    return value if isinstance(value, dict) else {}


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
        elif isinstance(value.get("code"), str):
            yield _text(value.get("system")) or None, value["code"]


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


def _span(period: object) -> tuple[str, str] | None:
    """(start, end) dates of a FHIR Period, '' for an open end; None when it has neither."""
    period = _object(period)
    span = _text(period.get("start"))[:10], _text(period.get("end"))[:10]
    return span if any(span) else None


def _period(resource: dict, param: str) -> tuple[str, str] | None:
    """(start, end) dates behind a date search parameter; '' means open. None: no such date."""
    if param == "periodofuse":
        extensions = resource.get("extension")
        for ext in extensions if isinstance(extensions, list) else ():
            if _object(ext).get("url") == PERIOD_OF_USE:
                return _span(ext.get("valuePeriod"))
        return None
    if param == "indexed":
        value = _text(resource.get("indexed")) or _text(resource.get("created"))
    else:  # date: the clinically relevant time of an Observation, Encounter, Composition ...
        period = resource.get("effectivePeriod") or resource.get("period")
        if isinstance(period, dict):
            return _span(period)
        value = (_text(resource.get("effectiveDateTime")) or _text(resource.get("date"))
                 or _text(resource.get("issued")))
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
            yield from _references(_object(item).get(_camel(inner)))
    if param == "device" and "codeReference" in resource:  # DeviceRequest (STU3)
        yield from _references(resource["codeReference"])


def _effective(resource: dict) -> str:
    return (_text(resource.get("effectiveDateTime"))
            or _text(_object(resource.get("effectivePeriod")).get("start"))
            or _text(resource.get("issued")))


def _valid_date(value: str) -> bool:
    """A FHIR date search value (after its prefix) that names a real day or instant: the
    pattern ``DATE_VALUE`` checks the shape, this the calendar (no month 13, no 30 February)."""
    date_part, _, time_part = value.replace(" ", "T", 1).partition("T")
    try:
        if len(date_part) == 4:
            return not time_part
        if len(date_part) == 7:
            return not time_part and 1 <= int(date_part[5:]) <= 12
        if time_part:
            datetime.fromisoformat(f"{date_part}T{time_part}")
        else:
            date.fromisoformat(date_part)
    except ValueError:
        return False
    return True


def _missing(resource: dict, key: str) -> bool:
    """``:missing``: the resource has no value for the search parameter ``key``."""
    if key in DATE_PARAMS:
        return _period(resource, key) is None
    return next(iter(_codings(resource.get(TOKEN_PARAMS[key]))), None) is None


def _filter(candidates: list[dict], resource_type: str, name: str, value: str) -> list[dict]:
    """The candidates one search parameter keeps (result parameters keep them all).

    Modifiers: ``:not`` on a token parameter or ``_id`` (none of the values; a resource
    without the element is kept, as FHIR says), ``:missing`` on a token or date parameter.
    Any other modifier is refused, never read as a plain match: ``code:not=X`` answered as
    ``code=X`` returns exactly what the client excluded."""
    key, _, modifier = name.partition(":")
    if key in RESULT_PARAMS:
        if modifier:
            raise SearchError(f"{name}: {key} takes no modifier")
        if key in REFUSED_RESULT_PARAMS and value not in REFUSED_RESULT_PARAMS[key]:
            raise SearchError(f"{name}={value} is not supported by this server")
        if key in COUNTS and not value.isdigit():
            raise SearchError(f"{name}={value!r}: {key} takes a whole number of 0 or more")
        return candidates
    if key not in TOKEN_PARAMS and key not in DATE_PARAMS and key != "_id":
        raise SearchError(f"unsupported search parameter {key!r} for {resource_type}")
    if modifier and modifier not in MODIFIERS.get(key, TOKEN_MODIFIERS):
        raise SearchError(f"unsupported modifier :{modifier} on {key} (supported: "
                          + (", ".join(f":{m}" for m in sorted(MODIFIERS.get(
                              key, TOKEN_MODIFIERS))) or "none") + ")")
    if modifier == "missing":
        if value not in ("true", "false"):
            raise SearchError(f"{name}={value!r}: :missing takes true or false")
        return [r for r in candidates if _missing(r, key) == (value == "true")]
    keep = modifier != "not"  # :not keeps what does not match
    if key == "_id":
        ids = set(value.split(","))
        return [r for r in candidates if (r["id"] in ids) == keep]
    if key in DATE_PARAMS:
        bare = value[2:] if value[:2] in DATE_PREFIXES else value
        if not DATE_VALUE.match(value) or not _valid_date(bare):
            raise SearchError(f"{name}={value!r} is not a FHIR date search value")
        return [r for r in candidates if _date_matches(r, key, value)]
    tokens = _parse_tokens(value)
    element = TOKEN_PARAMS[key]
    return [r for r in candidates if _matches(r, element, tokens) == keep]


def _lastn(candidates: list[dict]) -> list[dict]:
    """$lastn (max=1): the latest resource per code."""
    latest: dict[tuple, dict] = {}
    for r in candidates:
        key = tuple(sorted((s or "", c) for s, c in _codings(r.get("code"))))
        if key not in latest or _effective(r) > _effective(latest[key]):
            latest[key] = r
    return list(latest.values())


def _include_spec(spec: str) -> tuple[str, str, str | None]:
    """(source type, parameter, target type or None) of ``<Type>:<param>[:<target type>]``."""
    parts = spec.split(":")
    if not 2 <= len(parts) <= 3 or not RESOURCE_TYPE.match(parts[0]):
        raise SearchError(f"_include={spec} is not <Type>:<parameter>[:<target type>]")
    return parts[0], parts[1], parts[2] if len(parts) > 2 else None


def _included(record: SourceRecord, resource_type: str, matches: list[dict],
              includes: list[str], iterates: list[str]) -> list[dict]:
    """The resources ``_include=<Type>:<param>[:<target type>]`` adds, each once; an
    ``_include:iterate`` (STU3 ``:recurse``) also follows the included resources, round after
    round until a round adds nothing."""
    included: dict[str, dict] = {}

    def follow(sources: list[dict], spec: tuple[str, str, str | None]) -> list[dict]:
        source_type, param, target = spec
        added = []
        for r in sources:
            if r.get("resourceType") != source_type:
                continue
            for ref in _include_refs(r, param):
                if target and not ref.startswith(target + "/"):
                    continue
                found = record.by_ref.get(ref)
                if found is not None and ref not in included:
                    included[ref] = found
                    added.append(found)
        return added

    for raw in includes:
        spec = _include_spec(raw)
        if spec[0] != resource_type:
            raise SearchError(f"_include={raw} does not name a {resource_type} parameter")
        follow(matches, spec)
    specs = [_include_spec(raw) for raw in iterates]
    frontier = matches + list(included.values())
    while frontier and specs:
        frontier = [found for spec in specs for found in follow(frontier, spec)]
    return list(included.values())


def search(record: SourceRecord, resource_type: str, params: list[tuple[str, str]],
           lastn: bool = False) -> tuple[list[dict], list[dict]]:
    """(matches, includes) of a search; unknown parameters and modifiers are an error, not
    silently ignored."""
    candidates = record.of_type(resource_type)
    includes: list[str] = []
    iterates: list[str] = []
    for name, value in params:
        key, _, modifier = name.partition(":")
        if key != "_include":
            candidates = _filter(candidates, resource_type, name, value)
        elif not modifier:
            includes.append(value)
        elif modifier in INCLUDE_MODIFIERS:
            iterates.append(value)
        else:
            raise SearchError(f"unsupported modifier :{modifier} on _include (supported: "
                              + ", ".join(f":{m}" for m in sorted(INCLUDE_MODIFIERS)) + ")")
    if lastn:
        candidates = _lastn(candidates)
    if not includes and not iterates:
        return candidates, []
    return candidates, _included(record, resource_type, candidates, includes, iterates)


RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")
DATE_PARAMS = {"date", "indexed", "periodofuse"}
DATE_VALUE = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb)?\d{4}(-\d{2}(-\d{2}([T ][0-9:.+Z-]*)?)?)?$")
