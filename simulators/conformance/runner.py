"""The TestScript executor: runs setup, tests and teardown of one script against a FHIR base
URL over HTTP (httpx), resolving variables and fixtures, and evaluates every assert.

A run never claims more than it checked: an operation the engine cannot perform makes its
asserts ``not_evaluated``; a server that does not answer makes them ``failed``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from simulators.conformance import asserts
from simulators.conformance.fhirxml import FhirXmlError, parse_xml
from simulators.conformance.model import Action, Operation, TestScript, Variable
from simulators.conformance.results import ActionResult, Exchange, ScriptResult, TestResult

VARIABLE = re.compile(r"\$\{([^}]+)\}")
METHODS = {"read": "GET", "vread": "GET", "search": "GET", "history": "GET",
           "capabilities": "GET", "create": "POST", "update": "PUT", "updateCreate": "PUT",
           "delete": "DELETE", "deleteCondMultiple": "DELETE", "patch": "PATCH",
           "transaction": "POST", "batch": "POST"}
SECRET_HEADERS = ("authorization",)


class EngineLimit(Exception):
    """The engine cannot perform this step (reported as not evaluated, not as failure)."""


def _mime(fmt: str | None) -> str | None:
    if not fmt:
        return None
    return asserts.MIME.get(fmt, fmt)


@dataclass
class RunContext:
    """The state of one script run: fixtures, responses by responseId, the last exchange."""

    script: TestScript
    base_url: str
    overrides: dict[str, str]
    responses: dict[str, Exchange] = field(default_factory=dict)
    last: Exchange | None = None
    resolved: dict[str, str] = field(default_factory=dict)
    unresolved: set[str] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)

    def source(self, source_id: str) -> tuple[Any, Exchange | None, str | None]:
        """(resource, exchange, reason-if-missing) for a fixture id or a responseId."""
        if source_id in self.responses:
            ex = self.responses[source_id]
            return ex.resource, ex, (f"response {source_id} has no answer: {ex.error}"
                                     if ex.error else None)
        fixture = self.script.fixtures.get(source_id)
        if fixture is None:
            return None, None, f"no fixture or response named {source_id}"
        if fixture.error:
            return None, None, f"fixture {source_id}: {fixture.error}"
        return fixture.resource, None, None

    def _variable(self, var: Variable) -> str | None:
        if var.name in self.overrides:
            return self.overrides[var.name]
        if var.expression and var.source_id:
            resource, _ex, missing = self.source(self.substitute(var.source_id))
            if not missing and isinstance(resource, dict):
                try:
                    found = asserts.fhirpath(resource, self.substitute(var.expression),
                                             self.script.fhir_version)
                except Exception:  # noqa: BLE001 - reported as an unresolved variable
                    found = []
                if found:
                    return asserts._text(found[0])
            return self.substitute(var.default_value) if var.default_value else None
        if var.header_field and var.source_id:
            _res, ex, _missing = self.source(var.source_id)
            if ex is not None:
                value = {k.lower(): v for k, v in ex.response_headers.items()}.get(
                    var.header_field.lower())
                if value is not None:
                    return value
            return self.substitute(var.default_value) if var.default_value else None
        if var.default_value is not None:
            if var.name not in self.resolved:
                self.resolved[var.name] = self.substitute(var.default_value)
            return self.resolved[var.name]
        return None

    def substitute(self, text: str | None) -> str:
        """``${name}`` -> the variable's value; ``${UUID}`` -> a fresh UUID each time."""
        if text is None:
            return ""

        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name == "UUID":
                return str(uuid.uuid4())
            if name in self.overrides:
                return self.overrides[name]
            for var in self.script.variables:
                if var.name == name:
                    value = self._variable(var)
                    if value is not None:
                        return value
            self.unresolved.add(name)
            return m.group(0)

        return VARIABLE.sub(one, text)

    def mask(self, text: str) -> str:
        """Evidence never carries a token."""
        for secret in self.secrets:
            if secret and secret in text:
                text = text.replace(secret, "***")
        return re.sub(r"(?i)(bearer\s+)\S+", r"\1***", text)


class Engine:
    """Runs TestScripts against one FHIR base URL.

    ``variables`` override script variables by name (e.g. ``patient-token-XXX_Rijn`` ->
    ``Bearer <token>``); ``client`` may be any httpx.Client (tests pass an ASGI transport).
    """

    def __init__(self, base_url: str, variables: dict[str, str] | None = None,
                 client: httpx.Client | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.variables = dict(variables or {})
        self._own = client is None
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        if self._own:
            self.client.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running -----------------------------------------------------------------------------
    def run(self, script: TestScript, variables: dict[str, str] | None = None,
            labels: dict[str, str] | None = None) -> ScriptResult:
        started = time.perf_counter()
        ctx = RunContext(script, self.base_url, {**self.variables, **(variables or {})})
        ctx.secrets = {v.split()[-1] for k, v in ctx.overrides.items()
                       if "token" in k.lower() and v.strip()}
        result = ScriptResult(
            path=str(script.path or ""), id=script.id, name=script.name, title=script.title,
            url=script.url, fhir_version=script.fhir_version, format=script.format,
            base_url=self.base_url, setup=TestResult("setup", None), tests=[],
            teardown=TestResult("teardown", None), labels=dict(labels or {}))
        for fixture in script.fixtures.values():
            if fixture.autocreate:
                self._autocreate(ctx, fixture.id, result.setup)
        setup_ok = self._actions(ctx, script.setup, result.setup)
        for test in script.tests:
            part = TestResult(test.name, test.description)
            result.tests.append(part)
            if not setup_ok:
                self._skip(test.actions, part, "the setup failed")
                continue
            self._actions(ctx, test.actions, part)
        self._actions(ctx, script.teardown, result.teardown)
        for fixture in script.fixtures.values():
            if fixture.autodelete:
                self._autodelete(ctx, fixture.id, result.teardown)
        result.seconds = time.perf_counter() - started
        return result

    def skipped(self, script: TestScript, reason: str,
                labels: dict[str, str] | None = None) -> ScriptResult:
        """A script that cannot run here (e.g. its person is not served): every action is
        listed as skipped with the reason, so the run never hides it."""
        result = ScriptResult(
            path=str(script.path or ""), id=script.id, name=script.name, title=script.title,
            url=script.url, fhir_version=script.fhir_version, format=script.format,
            base_url=self.base_url, setup=TestResult("setup", None), tests=[],
            teardown=TestResult("teardown", None), labels=dict(labels or {}),
            skipped_reason=reason)
        self._skip(script.setup, result.setup, reason)
        for test in script.tests:
            part = TestResult(test.name, test.description)
            self._skip(test.actions, part, reason)
            result.tests.append(part)
        self._skip(script.teardown, result.teardown, reason)
        return result

    def _skip(self, actions: list[Action], part: TestResult, reason: str) -> None:
        for action in actions:
            kind = "operation" if action.operation else "assert"
            item = action.operation or action.assertion
            part.actions.append(ActionResult(kind, "skipped", _describe(item), reason,
                                             warning_only=bool(action.assertion and
                                                               action.assertion.warning_only)))

    def _actions(self, ctx: RunContext, actions: list[Action], part: TestResult) -> bool:
        """Run in order; False when a stopTestOnFail assert failed (the rest is skipped)."""
        limit: str | None = None  # an operation the engine could not perform
        for i, action in enumerate(actions):
            if action.operation is not None:
                done = self._operation(ctx, action.operation)
                limit = None if done.status == "passed" or done.exchange else done.message
                part.actions.append(done)
                continue
            a = action.assertion
            assert a is not None
            if limit and not a.source_id:
                outcome = asserts.not_evaluated(f"its operation was not performed: {limit}")
            else:
                outcome = asserts.evaluate(a, ctx)
            status = outcome.status
            if status == "failed" and a.warning_only:
                status = "warning"
            _res, exchange, _m = (ctx.source(a.source_id) if a.source_id
                                  else (None, ctx.last, None))
            part.actions.append(ActionResult(
                "assert", status, _describe(a), ctx.mask(outcome.message),
                ctx.mask(outcome.detail), a.warning_only, exchange))
            if status == "failed" and a.stop_test_on_fail:
                self._skip(actions[i + 1:], part, "an earlier assert with stopTestOnFail failed")
                return False
        return True

    # -- operations --------------------------------------------------------------------------
    def _operation(self, ctx: RunContext, op: Operation) -> ActionResult:
        description = _describe(op)
        try:
            method, url, headers, body = self._request(ctx, op)
        except EngineLimit as exc:
            return ActionResult("operation", "not_evaluated", description, str(exc))
        exchange = self.send(ctx, method, url, headers, body)
        if op.response_id:
            ctx.responses[op.response_id] = exchange
        if op.request_id:
            ctx.responses[op.request_id] = exchange
        ctx.last = exchange
        if exchange.error:
            return ActionResult("operation", "failed", description,
                                f"{method} {url}: {exchange.error}", exchange=exchange)
        message = f"{method} {url} -> HTTP {exchange.status}"
        mismatch = _format_mismatch(op.accept, exchange)
        if mismatch:
            # the asserts still judge the body that came back; the operation itself records
            # that the server ignored the format the script asked for
            return ActionResult("operation", "failed", description, f"{message}: {mismatch}",
                                exchange=exchange)
        return ActionResult("operation", "passed", description, message, exchange=exchange)

    def _request(self, ctx: RunContext, op: Operation
                 ) -> tuple[str, str, dict[str, str], bytes | None]:
        kind = op.type or ""
        if kind not in METHODS and not op.method:
            raise EngineLimit(f"operation type {kind or '(none)'} is not supported")
        method = (op.method or METHODS[kind]).upper()
        url = self._url(ctx, op, kind)
        headers: dict[str, str] = {}
        accept = _mime(op.accept)
        if accept:
            headers["Accept"] = accept
        body: bytes | None = None
        if op.source_id and method in ("POST", "PUT", "PATCH"):
            body, content_type = self._body(ctx, op)
            headers["Content-Type"] = content_type
        for name, value in op.request_headers:
            headers[name] = ctx.substitute(value)
        if ctx.unresolved:
            names = ", ".join(sorted(ctx.unresolved))
            ctx.unresolved.clear()
            raise EngineLimit(f"variables without a value: {names} (pass them with --var)")
        return method, url, headers, body

    def _url(self, ctx: RunContext, op: Operation, kind: str) -> str:
        if op.url:
            url = ctx.substitute(op.url)
            return url if re.match(r"https?://", url) else urljoin(self.base_url + "/", url)
        if kind == "capabilities":
            return f"{self.base_url}/metadata"
        if kind in ("transaction", "batch"):
            return self.base_url
        resource = op.resource or ""
        if op.target_id:
            target, _ex, missing = ctx.source(op.target_id)
            if missing or not isinstance(target, dict):
                raise EngineLimit(f"targetId {op.target_id}: {missing or 'no resource'}")
            resource = resource or target.get("resourceType", "")
            return f"{self.base_url}/{resource}/{target.get('id', '')}"
        params = ctx.substitute(op.params) if op.params else ""
        if kind in ("update", "updateCreate", "delete") and op.source_id and not params:
            source, _ex, _m = ctx.source(op.source_id)
            if isinstance(source, dict) and source.get("id"):
                params = f"/{source['id']}"
        if op.encode_request_url and "?" in params:
            path, _, query = params.partition("?")
            params = path + "?" + "&".join(_encode_pair(p) for p in query.split("&") if p)
        return f"{self.base_url}/{resource}{params}" if resource else f"{self.base_url}{params}"

    def _body(self, ctx: RunContext, op: Operation) -> tuple[bytes, str]:
        source, ex, missing = ctx.source(op.source_id or "")
        if missing:
            raise EngineLimit(missing)
        want = "xml" if op.content_type and "xml" in op.content_type else "json"
        fixture = ctx.script.fixtures.get(op.source_id or "")
        if fixture is not None and fixture.format == want and fixture.text is not None:
            return ctx.substitute(fixture.text).encode(), _mime(want) or ""
        if ex is not None and ex.body and want in ex.content_type:
            return ex.body.encode(), _mime(want) or ""
        if want == "json" and isinstance(source, dict):
            return json.dumps(source).encode(), _mime("json") or ""
        raise EngineLimit(f"cannot send {op.source_id} as {want} (no FHIR JSON->XML writer)")

    def send(self, ctx: RunContext, method: str, url: str, headers: dict[str, str],
             body: bytes | None) -> Exchange:
        shown = {k: (ctx.mask(v) if k.lower() in SECRET_HEADERS else v)
                 for k, v in headers.items()}
        exchange = Exchange(method, url, shown, body.decode(errors="replace") if body else None,
                            real_request_headers=dict(headers))
        if body:
            exchange.request_resource = _parse_body(body.decode(errors="replace"),
                                                    headers.get("Content-Type", ""),
                                                    ctx.script.fhir_version)[0]
        started = time.perf_counter()
        try:
            response = self.client.request(method, url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
            exchange.seconds = time.perf_counter() - started
            return exchange
        exchange.seconds = time.perf_counter() - started
        exchange.status = response.status_code
        exchange.response_headers = {k.lower(): v for k, v in response.headers.items()}
        exchange.body = response.text
        exchange.resource, exchange.parse_error = _parse_body(
            response.text, exchange.content_type, ctx.script.fhir_version)
        return exchange

    def _autocreate(self, ctx: RunContext, fixture_id: str, part: TestResult) -> None:
        op = Operation(type="create", source_id=fixture_id, content_type="json")
        fixture = ctx.script.fixtures[fixture_id]
        op.resource = (fixture.resource or {}).get("resourceType")
        part.actions.append(self._operation(ctx, op))

    def _autodelete(self, ctx: RunContext, fixture_id: str, part: TestResult) -> None:
        op = Operation(type="delete", source_id=fixture_id)
        op.resource = (ctx.script.fixtures[fixture_id].resource or {}).get("resourceType")
        part.actions.append(self._operation(ctx, op))


def _format_mismatch(accept: str | None, exchange: Exchange) -> str | None:
    """'asked for xml, answered json' when a FHIR answer comes in the other format."""
    wanted = _mime(accept)
    got = exchange.content_type.split(";")[0].strip()
    if not wanted or not exchange.body.strip() or not got:
        return None
    want_kind = "xml" if "xml" in wanted else "json" if "json" in wanted else None
    got_kind = "xml" if "xml" in got else "json" if "json" in got else None
    if want_kind and got_kind and want_kind != got_kind:
        return f"asked for {wanted}, answered {got}"
    return None


def _encode_pair(pair: str) -> str:
    key, eq, value = pair.partition("=")
    return quote(key, safe=":$_-.") + eq + quote(value, safe=":/,$_-.")


def _parse_body(text: str, content_type: str, fhir_version: str) -> tuple[Any, str | None]:
    """(FHIR JSON, error) of a body in JSON or XML; (None, None) for an empty body."""
    stripped = text.lstrip()
    if not stripped:
        return None, None
    if "json" in content_type or stripped.startswith("{"):
        try:
            return json.loads(text), None
        except json.JSONDecodeError as exc:
            return None, f"invalid JSON: {exc}"
    if "xml" in content_type or stripped.startswith("<"):
        try:
            return parse_xml(text, fhir_version), None
        except FhirXmlError as exc:
            return None, str(exc)
    return None, f"not JSON or XML ({content_type or 'no Content-Type'})"


def _describe(item: Any) -> str:
    if item is None:
        return ""
    text = getattr(item, "description", None) or getattr(item, "label", None)
    if text:
        return str(text)
    if isinstance(item, Operation):
        return f"{item.type} {item.resource or ''}{item.params or ''}".strip()
    return "assert"
