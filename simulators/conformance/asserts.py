"""Evaluation of TestScript asserts, one kind at a time.

Every kind the Nictiz MedMij scripts use is evaluated (responseCode, response, contentType,
resource, headerField, requestURL, requestMethod, expression with FHIRPath through fhirpathpy,
compareToSourceId + compareToSourceExpression, minimumId, navigationLinks and the Touchstone rule
``assert-response-queryParamsInSelfLink``). What cannot be evaluated here (XPath/JSONPath
``path``, ``validateProfileId`` without a StructureDefinition validator, rules in Groovy without
a Python port) is reported ``not_evaluated`` with the reason: never as passed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import fhirpathpy

from simulators.conformance.fhirxml import model_for
from simulators.conformance.model import Assert, as_list
from simulators.conformance.results import Exchange
from simulators.medmij import FHIR_JSON, FHIR_XML

if TYPE_CHECKING:
    from simulators.conformance.runner import RunContext

RESPONSE_CODES = {
    "okay": 200, "created": 201, "noContent": 204, "notModified": 304, "bad": 400,
    "forbidden": 403, "notFound": 404, "methodNotAllowed": 405, "conflict": 409, "gone": 410,
    "preconditionFailed": 412, "unprocessable": 422}
MIME = {"json": FHIR_JSON, "xml": FHIR_XML, "ttl": "text/turtle", "none": ""}


@dataclass
class Outcome:
    status: str  # passed | failed | not_evaluated
    message: str
    detail: str = ""


def passed(message: str, detail: str = "") -> Outcome:
    return Outcome("passed", message, detail)


def failed(message: str, detail: str = "") -> Outcome:
    return Outcome("failed", message, detail)


def not_evaluated(message: str, detail: str = "") -> Outcome:
    return Outcome("not_evaluated", message, detail)


# -- FHIRPath ------------------------------------------------------------------------------
class FhirPathSyntaxError(ValueError):
    """The expression does not parse (fhirpathpy itself recovers silently and gives [])."""


def check_syntax(expression: str) -> None:
    """Parse with fhirpathpy's own ANTLR grammar, raising on the first syntax error, so a
    broken expression is reported as not evaluated instead of as an empty result."""
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.error.ErrorListener import ErrorListener
    from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
    from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

    class Raise(ErrorListener):
        def syntaxError(self, recognizer, offending, line, column, msg, e):  # noqa: N802
            raise FhirPathSyntaxError(f"FHIRPath syntax error at {column}: {msg}")

    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(Raise())
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(Raise())
    parser.expression()
    if parser.getCurrentToken().type != -1:  # text left over after a complete expression
        raise FhirPathSyntaxError(f"FHIRPath syntax error: unexpected "
                                  f"{parser.getCurrentToken().text!r}")


@lru_cache(maxsize=4096)
def _compiled(expression: str, fhir_version: str) -> Callable:
    check_syntax(expression)
    return fhirpathpy.compile(expression, model_for(fhir_version))


def fhirpath(resource: Any, expression: str, fhir_version: str) -> list:
    """Evaluate with fhirpathpy; exceptions propagate (the caller reports not_evaluated)."""
    return list(_compiled(expression, fhir_version)(resource, {}))


def _text(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, float) and item.is_integer():
        return str(int(item))
    if isinstance(item, dict | list):
        return str(item)
    return str(item)


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except (ArithmeticError, ValueError):
        return None


def compare(actual: list[str] | str | None, operator: str | None, expected: str | None) -> bool:
    """The TestScript assertion operators (equals when none is given)."""
    op = operator or "equals"
    items = [] if actual is None else ([actual] if isinstance(actual, str) else list(actual))
    joined = ",".join(items)
    if op == "empty":
        return not items or joined == ""
    if op == "notEmpty":
        return bool(items) and joined != ""
    exp = expected or ""
    if op == "equals":
        return joined == exp
    if op == "notEquals":
        return joined != exp
    options = [o.strip() for o in exp.split(",")]
    if op == "in":
        return bool(items) and all(i in options for i in items)
    if op == "notIn":
        return all(i not in options for i in items)
    if op == "contains":
        return exp in joined
    if op == "notContains":
        return exp not in joined
    if op in ("greaterThan", "lessThan"):
        a, b = _number(joined), _number(exp)
        if a is None or b is None:
            return joined > exp if op == "greaterThan" else joined < exp
        return a > b if op == "greaterThan" else a < b
    raise ValueError(f"operator {op!r} is not supported")


# -- the kinds -----------------------------------------------------------------------------
def _source(a: Assert, ctx: RunContext) -> tuple[Any, Exchange | None, str | None]:
    """(resource, exchange, why-missing) the assert looks at."""
    if a.source_id:
        return ctx.source(a.source_id)
    exchange = ctx.last
    if exchange is None:
        return None, None, "no operation has run before this assert"
    if a.direction == "request":
        return exchange.request_resource, exchange, None
    return exchange.resource, exchange, None


def _response_needed(exchange: Exchange | None) -> Outcome | None:
    if exchange is None:
        return not_evaluated("no operation has run before this assert")
    if exchange.error:
        return failed(f"no response: {exchange.error}")
    return None


def _op_text(a: Assert, what: str, expected: str | None) -> str:
    return f"{what} {a.operator or 'equals'} {expected!r}"


def evaluate(a: Assert, ctx: RunContext) -> Outcome:
    """One assert against the run so far."""
    try:
        return _evaluate(a, ctx)
    except ValueError as exc:  # an operator or value the engine does not know
        return not_evaluated(str(exc))


def _evaluate(a: Assert, ctx: RunContext) -> Outcome:
    raw = a.raw
    value = ctx.substitute(a.value) if a.value is not None else None
    if a.rule_id or "rule" in raw or "ruleset" in raw:
        return _rule(a, ctx)
    if "path" in raw or "compareToSourcePath" in raw:
        return not_evaluated("XPath/JSONPath 'path' asserts are not evaluated (FHIRPath only)",
                             str(raw.get("path") or raw.get("compareToSourcePath")))
    if "validateProfileId" in raw:
        profile = ctx.script.profiles.get(raw["validateProfileId"], raw["validateProfileId"])
        return not_evaluated("profile validation needs a FHIR StructureDefinition validator, "
                             "which this engine does not have", f"profile {profile}")
    resource, exchange, missing = _source(a, ctx)
    if "responseCode" in raw or "response" in raw:
        problem = _response_needed(exchange)
        if problem:
            return problem
        if "responseCode" in raw:
            expected = ctx.substitute(str(raw["responseCode"]))
            ok = compare(str(exchange.status), a.operator, expected)
            return (passed if ok else failed)(f"HTTP {exchange.status}",
                                              _op_text(a, "status", expected))
        code = RESPONSE_CODES.get(str(raw["response"]))
        if code is None:
            return not_evaluated(f"unknown response code name {raw['response']!r}")
        ok = compare(str(exchange.status), a.operator, str(code))
        return (passed if ok else failed)(f"HTTP {exchange.status}",
                                          _op_text(a, "status", f"{raw['response']} ({code})"))
    if "contentType" in raw:
        problem = _response_needed(exchange)
        if problem:
            return problem
        wanted = MIME.get(str(raw["contentType"]), str(raw["contentType"]))
        actual = exchange.content_type.split(";")[0].strip()
        op = a.operator or "equals"
        ok = compare(actual, op, wanted) if op != "equals" else actual == wanted
        return (passed if ok else failed)(f"Content-Type {actual or '(none)'}",
                                          _op_text(a, "content type", wanted))
    if "headerField" in raw:
        if exchange is None:
            return not_evaluated("no operation has run before this assert")
        name = str(raw["headerField"]).lower()
        headers = exchange.real_request_headers if a.direction == "request" \
            else exchange.response_headers
        if a.direction != "request" and exchange.error:
            return failed(f"no response: {exchange.error}")
        found = {k.lower(): v for k, v in headers.items()}.get(name)
        ok = compare(None if found is None else found, a.operator, value)
        shown = "(absent)" if found is None else ctx.mask(found)
        return (passed if ok else failed)(f"{raw['headerField']}: {shown}",
                                          _op_text(a, f"{a.direction} header {raw['headerField']}",
                                                   ctx.mask(value or "")))
    if "requestURL" in raw:
        if exchange is None:
            return not_evaluated("no operation has run before this assert")
        expected = ctx.substitute(str(raw["requestURL"]))
        ok = compare(exchange.url, a.operator, expected)
        return (passed if ok else failed)(f"request URL {exchange.url}",
                                          _op_text(a, "request URL", expected))
    if "requestMethod" in raw:
        if exchange is None:
            return not_evaluated("no operation has run before this assert")
        expected = str(raw["requestMethod"]).upper()
        ok = compare(exchange.method.upper(), a.operator, expected)
        return (passed if ok else failed)(f"method {exchange.method}",
                                          _op_text(a, "method", expected))
    if missing:
        return not_evaluated(missing)
    if exchange is not None and exchange.error and not a.source_id:
        return failed(f"no response: {exchange.error}")
    if "resource" in raw:
        if not isinstance(resource, dict):
            return failed(_no_resource(exchange))
        actual = str(resource.get("resourceType"))
        ok = compare(actual, a.operator, str(raw["resource"]))
        return (passed if ok else failed)(f"resource type {actual}",
                                          _op_text(a, "resource type", str(raw["resource"])))
    if "expression" in raw:
        return _expression(a, ctx, resource, exchange, value)
    if "minimumId" in raw:
        return _minimum(a, ctx, resource, exchange)
    if "navigationLinks" in raw:
        if not isinstance(resource, dict):
            return failed(_no_resource(exchange))
        relations = {link.get("relation") for link in as_list(resource.get("link"))}
        ok = {"first", "last"} <= relations
        want = str(raw["navigationLinks"]).lower() == "true"
        return (passed if ok == want else failed)(f"links: {sorted(r for r in relations if r)}",
                                                  f"navigationLinks {want}")
    known = {"description", "label", "direction", "operator", "value", "warningOnly",
             "stopTestOnFail", "sourceId", "extension", "compareToSourceId"}
    return not_evaluated("no assertion this engine understands",
                         ", ".join(sorted(k for k in raw if k not in known)) or "(empty assert)")


def _no_resource(exchange: Exchange | None) -> str:
    if exchange is None:
        return "no resource"
    if exchange.parse_error:
        return f"response is not a FHIR resource: {exchange.parse_error}"
    return f"no FHIR resource in the response (HTTP {exchange.status}, " \
           f"{exchange.content_type or 'no Content-Type'})"


def _expression(a: Assert, ctx: RunContext, resource: Any, exchange: Exchange | None,
                value: str | None) -> Outcome:
    expression = ctx.substitute(str(a.raw["expression"]))
    if not isinstance(resource, dict):
        return failed(_no_resource(exchange), expression)
    version = ctx.script.fhir_version
    try:
        result = fhirpath(resource, expression, version)
    except Exception as exc:  # noqa: BLE001 - any evaluator error means "cannot judge"
        return not_evaluated(f"fhirpathpy cannot evaluate it: {type(exc).__name__}: {exc}",
                             expression)
    if "compareToSourceId" in a.raw:
        other_expr = a.raw.get("compareToSourceExpression")
        if not other_expr:
            return not_evaluated("compareToSourceId without compareToSourceExpression",
                                 expression)
        other, _ex, why = ctx.source(str(a.raw["compareToSourceId"]))
        if why or not isinstance(other, dict):
            return failed(f"compare source {a.raw['compareToSourceId']}: "
                          f"{why or 'no resource'}", expression)
        try:
            theirs = fhirpath(other, ctx.substitute(str(other_expr)), version)
        except Exception as exc:  # noqa: BLE001
            return not_evaluated(f"fhirpathpy cannot evaluate the compare expression: {exc}",
                                 str(other_expr))
        mine_t = ",".join(_text(x) for x in result)
        theirs_t = ",".join(_text(x) for x in theirs)
        ok = compare(mine_t, a.operator, theirs_t)
        return (passed if ok else failed)(f"{mine_t!r} vs {theirs_t!r}",
                                          f"{expression} {a.operator or 'equals'} {other_expr}")
    texts = [_text(x) for x in result]
    if value is not None or a.operator in ("empty", "notEmpty"):
        ok = compare(texts, a.operator, value)
        return (passed if ok else failed)(f"result {texts!r}",
                                          f"{expression} {a.operator or 'equals'} {value!r}")
    if a.operator not in (None, "equals", "eval"):
        return not_evaluated(f"operator {a.operator} without a value", expression)
    if result == [True]:
        return passed("true", expression)
    if not result:
        return failed("the expression gave no result (expected true)", expression)
    return failed(f"result {texts[:5]!r} (expected true)", expression)


def _contains(actual: Any, minimum: Any) -> str | None:
    """None when ``minimum`` is a subset of ``actual``; else the first path that differs."""
    if isinstance(minimum, dict):
        if not isinstance(actual, dict):
            return "(not an object)"
        for key, want in minimum.items():
            if key not in actual:
                return key
            where = _contains(actual[key], want)
            if where is not None:
                return f"{key}.{where}" if where else key
        return None
    if isinstance(minimum, list):
        have = actual if isinstance(actual, list) else [actual]
        for i, want in enumerate(minimum):
            if all(_contains(h, want) is not None for h in have):
                return f"[{i}]"
        return None
    if isinstance(actual, list) and len(actual) == 1:
        actual = actual[0]
    return None if _text(actual) == _text(minimum) else ""


def _minimum(a: Assert, ctx: RunContext, resource: Any, exchange: Exchange | None) -> Outcome:
    fixture_id = str(a.raw["minimumId"])
    minimum, _ex, why = ctx.source(fixture_id)
    if why or not isinstance(minimum, dict):
        return not_evaluated(f"minimumId fixture {fixture_id}: {why or 'no resource'}")
    if not isinstance(resource, dict):
        return failed(_no_resource(exchange), f"minimumId {fixture_id}")
    wanted = {k: v for k, v in minimum.items() if k not in ("id", "meta", "text")}
    where = _contains(resource, wanted)
    if where is None:
        return passed(f"contains every element of {fixture_id}", f"minimumId {fixture_id}")
    return failed(f"differs from {fixture_id} at {where or '(value)'}", f"minimumId {fixture_id}")


# -- Touchstone rules ----------------------------------------------------------------------
def query_params_in_self_link(ctx: RunContext, exchange: Exchange | None,
                              resource: Any) -> Outcome:
    """Python port of Nictiz ``assert_response_queryParamsInSelfLink.groovy``: every request
    parameter appears in the Bundle's self link (a reference value may gain or lose its
    resource type)."""
    if exchange is None or exchange.error:
        return failed("no response")
    if not isinstance(resource, dict):
        return failed(_no_resource(exchange))
    parts = unquote(exchange.url).split("?", 1)
    if len(parts) < 2:
        return passed("the request has no parameters")
    links = [link.get("url", "") for link in as_list(resource.get("link"))
             if link.get("relation") == "self"]
    if not links:
        return failed("the Bundle has no self link")
    self_link = unquote(links[0])
    for full in parts[1].split("&"):
        if full in self_link:
            continue
        param, _, val = full.partition("=")
        m = re.fullmatch(r"([A-Z][A-Za-z]+/)?([A-Za-z0-9\-.]{1,64})", val)
        problem = f"the requested parameter {full} was absent from the self link {self_link}"
        if not m:
            return failed(problem)
        if m.group(1) is None:
            if not re.search(rf"{re.escape(param)}=[A-Z][A-Za-z]+/{re.escape(m.group(2))}",
                             self_link):
                return failed(problem)
        elif f"{param}={m.group(2)}" not in self_link:
            return failed(problem)
    return passed("every request parameter is in the self link", self_link)


RULES: dict[str, Callable[[RunContext, Exchange | None, Any], Outcome]] = {
    "assert-response-queryParamsInSelfLink": query_params_in_self_link,
}


def _rule(a: Assert, ctx: RunContext) -> Outcome:
    rule_id = a.rule_id or str((a.raw.get("rule") or {}).get("ruleId", "ruleset"))
    implementation = RULES.get(rule_id)
    if implementation is None:
        source = ctx.script.rules.get(rule_id, "no source named")
        return not_evaluated(f"rule {rule_id} ({source}) has no Python implementation")
    resource, exchange, missing = _source(a, ctx)
    if missing:
        return not_evaluated(missing)
    return implementation(ctx, exchange, resource)
