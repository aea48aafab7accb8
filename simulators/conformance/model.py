"""TestScript loading: the parts of a FHIR TestScript (STU3 or R4, XML or JSON) that the engine
executes, with fixtures read from disk relative to the script.

The Nictiz output scripts (``Nictiz-testscripts/output``) already have the MedMij common
components inlined at build time (``nts:include`` is resolved by their XSLT build), so a
script is self-contained; what it still points at are fixture files (``../_reference/...``)
and Touchstone rules (Groovy files), which are loaded or named here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulators.conformance.fhirxml import FhirXmlError, parse_xml

RULE_EXT = "http://touchstone.aegis.net/touchstone/fhir/testing/StructureDefinition/testscript-rule"
ASSERT_RULE_EXT = ("http://touchstone.aegis.net/touchstone/fhir/testing/StructureDefinition/"
                   "testscript-assert-rule")


class LoadError(ValueError):
    """A TestScript (or a fixture it needs) cannot be read."""


def as_list(value: Any) -> list:
    """FHIR JSON has lists for repeating elements; XML converted without cardinality may not."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _code(value: Any) -> str | None:
    """``type`` of an operation: a Coding ({'code': ...}) or already a code."""
    if isinstance(value, dict):
        return value.get("code")
    return value


@dataclass
class Fixture:
    id: str
    reference: str | None
    path: Path | None
    resource: dict | None  # parsed FHIR JSON
    text: str | None  # the file as read (sent as is when the format matches)
    format: str | None  # json | xml
    autocreate: bool = False
    autodelete: bool = False
    error: str | None = None  # why it could not be loaded


@dataclass
class Variable:
    name: str
    default_value: str | None = None
    expression: str | None = None
    header_field: str | None = None
    path: str | None = None
    source_id: str | None = None
    description: str | None = None


@dataclass
class Operation:
    type: str | None
    resource: str | None = None
    label: str | None = None
    description: str | None = None
    accept: str | None = None
    content_type: str | None = None
    destination: int | None = None
    encode_request_url: bool = True
    method: str | None = None  # R4 'method'
    params: str | None = None
    url: str | None = None
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_id: str | None = None
    response_id: str | None = None
    source_id: str | None = None
    target_id: str | None = None


@dataclass
class Assert:
    """One ``assert``; ``raw`` keeps every element so a kind the engine does not know is
    named in the report (and never silently passes)."""

    raw: dict
    label: str | None = None
    description: str | None = None
    direction: str = "response"
    operator: str | None = None
    value: str | None = None
    warning_only: bool = False
    stop_test_on_fail: bool = False
    source_id: str | None = None
    rule_id: str | None = None

    def get(self, key: str) -> Any:
        return self.raw.get(key)


@dataclass
class Action:
    operation: Operation | None = None
    assertion: Assert | None = None


@dataclass
class TestCase:
    name: str
    description: str | None
    actions: list[Action]


@dataclass
class TestScript:
    path: Path | None
    id: str
    url: str | None
    name: str
    title: str | None
    fhir_version: str  # STU3 | R4
    fixtures: dict[str, Fixture]
    profiles: dict[str, str]
    variables: list[Variable]
    rules: dict[str, str]  # ruleId -> path of the rule's source (Groovy), as named
    setup: list[Action]
    tests: list[TestCase]
    teardown: list[Action]
    resource: dict  # the whole script as FHIR JSON

    @property
    def format(self) -> str:
        """json | xml | mixed: the Accept formats the script's operations ask for."""
        accepts = {_short_format(a.operation.accept) for part in ([*self.setup, *self.teardown],
                   *[t.actions for t in self.tests]) for a in part
                   if a.operation is not None and a.operation.accept}
        return accepts.pop() if len(accepts) == 1 else ("mixed" if accepts else "none")


def _short_format(value: str | None) -> str | None:
    """'json', 'xml' (STU3 codes) or a MIME type (R4) -> json | xml."""
    if not value:
        return None
    return "xml" if "xml" in value else "json" if "json" in value else value


def fhir_version_of(path: Path | None, resource: dict | None = None) -> str:
    """R4 when the script sits under an R4 folder or declares 4.x; STU3 otherwise."""
    if path is not None and "R4" in path.parts:
        return "R4"
    version = str((resource or {}).get("version", ""))
    return "R4" if version.startswith("R4") else "STU3"


def read_resource(path: Path, fhir_version: str) -> tuple[dict, str, str]:
    """(FHIR JSON, text, format) of a resource file in XML or JSON."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise LoadError(f"cannot read {path}: {exc}") from exc
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text), text, "json"
        except json.JSONDecodeError as exc:
            raise LoadError(f"{path}: not JSON: {exc}") from exc
    try:
        return parse_xml(text, fhir_version), text, "xml"
    except FhirXmlError as exc:
        raise LoadError(f"{path}: {exc}") from exc


def _bool(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    return value if isinstance(value, bool) else str(value).lower() == "true"


def _ext_value(ext: dict, url: str) -> Any:
    for sub in as_list(ext.get("extension")):
        if sub.get("url") == url:
            for key, value in sub.items():
                if key.startswith("value"):
                    return value
    return None


def _operation(data: dict) -> Operation:
    headers = [(h.get("field", ""), str(h.get("value", "")))
               for h in as_list(data.get("requestHeader"))]
    dest = data.get("destination")
    return Operation(
        type=_code(data.get("type")), resource=data.get("resource"), label=data.get("label"),
        description=data.get("description"), accept=data.get("accept"),
        content_type=data.get("contentType"),
        destination=int(dest) if dest is not None else None,
        encode_request_url=_bool(data.get("encodeRequestUrl"), True),
        method=data.get("method"), params=data.get("params"), url=data.get("url"),
        request_headers=headers, request_id=data.get("requestId"),
        response_id=data.get("responseId"), source_id=data.get("sourceId"),
        target_id=data.get("targetId"))


def _assert(data: dict) -> Assert:
    rule_id = None
    for ext in as_list(data.get("extension")):
        if ext.get("url") == ASSERT_RULE_EXT:
            rule_id = _ext_value(ext, "ruleId")
    rule = data.get("rule")
    if isinstance(rule, dict) and rule.get("ruleId"):
        rule_id = rule["ruleId"]
    value = data.get("value")
    return Assert(
        raw=data, label=data.get("label"), description=data.get("description"),
        direction=data.get("direction") or "response", operator=data.get("operator"),
        value=None if value is None else str(value),
        warning_only=_bool(data.get("warningOnly")),
        stop_test_on_fail=_bool(data.get("stopTestOnFail")),
        source_id=data.get("sourceId"), rule_id=rule_id)


def _actions(data: Any) -> list[Action]:
    out = []
    for action in as_list(data):
        if "operation" in action:
            out.append(Action(operation=_operation(action["operation"])))
        elif "assert" in action:
            out.append(Action(assertion=_assert(action["assert"])))
    return out


def _fixture(data: dict, base: Path | None, fhir_version: str) -> Fixture:
    reference = (data.get("resource") or {}).get("reference")
    fixture = Fixture(id=data.get("id", ""), reference=reference, path=None, resource=None,
                      text=None, format=None, autocreate=_bool(data.get("autocreate")),
                      autodelete=_bool(data.get("autodelete")))
    if not reference:
        fixture.error = "fixture has no resource reference"
    elif reference.startswith(("http://", "https://", "#")):
        fixture.error = f"fixture reference {reference} is not a local file (not fetched)"
    else:
        fixture.path = ((base or Path.cwd()) / reference).resolve()
        try:
            fixture.resource, fixture.text, fixture.format = read_resource(fixture.path,
                                                                           fhir_version)
        except LoadError as exc:
            fixture.error = str(exc)
    return fixture


def from_resource(resource: dict, path: Path | None = None) -> TestScript:
    """A TestScript from its FHIR JSON form; ``path`` anchors relative fixture references."""
    if resource.get("resourceType") != "TestScript":
        raise LoadError(f"{path or 'resource'} is a {resource.get('resourceType')}, "
                        "not a TestScript")
    version = fhir_version_of(path, resource)
    base = path.parent if path is not None else None
    fixtures = {}
    for data in as_list(resource.get("fixture")):
        fixture = _fixture(data, base, version)
        fixtures[fixture.id] = fixture
    rules = {}
    for ext in as_list(resource.get("extension")):
        if ext.get("url") == RULE_EXT:
            rules[str(_ext_value(ext, "ruleId"))] = str(_ext_value(ext, "path"))
    for rule in as_list(resource.get("rule")):  # STU3 TestScript.rule
        ref = (rule.get("resource") or {}).get("reference", "")
        rules[str(rule.get("id", ref))] = ref
    variables = [Variable(name=v.get("name", ""), default_value=v.get("defaultValue"),
                          expression=v.get("expression"), header_field=v.get("headerField"),
                          path=v.get("path"), source_id=v.get("sourceId"),
                          description=v.get("description"))
                 for v in as_list(resource.get("variable"))]
    tests = [TestCase(name=t.get("name") or t.get("id") or f"test {i + 1}",
                      description=t.get("description"), actions=_actions(t.get("action")))
             for i, t in enumerate(as_list(resource.get("test")))]
    return TestScript(
        path=path, id=str(resource.get("id", path.stem if path else "script")),
        url=resource.get("url"), name=str(resource.get("name", resource.get("id", ""))),
        title=resource.get("title"), fhir_version=version, fixtures=fixtures,
        profiles={p.get("id", ""): p.get("reference") or p.get("value", "")
                  for p in as_list(resource.get("profile"))},
        variables=variables, rules=rules,
        setup=_actions((resource.get("setup") or {}).get("action")),
        tests=tests, teardown=_actions((resource.get("teardown") or {}).get("action")),
        resource=resource)


def load(path: str | Path) -> TestScript:
    """Read a TestScript file (XML or JSON) with its fixtures."""
    path = Path(path).resolve()
    resource, _text, _fmt = read_resource(path, fhir_version_of(path))
    return from_resource(resource, path)
