"""MedMij's own unhappy paths on demand: a fault catalogue every node can switch on (issue 16).

Integration bugs live on unhappy paths. A developer testing their own PGO or DVA needs the
sandbox to misbehave the way real participants do (a slow DVA, refused consent, stale lists),
and a load tester needs to see recovery. So every node has a ``FaultBook`` (``app.state.faults``)
and an admin API (Bearer admin token, see ``docs/faults.md``):

- ``GET /admin/faults`` -> ``{"node", "faults": [...]}``;
- ``POST /admin/faults`` ``{"kind", "match": {provider, client, person, path}, "count",
  "seconds", "probability", "params"}`` -> 201 with the fault and its ``id``; an unknown kind
  or bad params -> 400 ``{"error", "error_description"}``;
- ``DELETE /admin/faults/{id}`` (404 if unknown) and ``DELETE /admin/faults`` (all).

A fault fires only where its kind lives: the generic resource-side kinds in ``FaultMiddleware``
(any node), the authorization-side kinds in the DVA's and DigiD's own steps (they answer with
the step's own errors), the system kinds at the registry; ``clock_jump`` moves the sandbox
clock at once. Each firing is published as an event ``kind="fault"`` with ``fault`` (id),
``name`` (the kind), ``corr`` (the request's X-Correlation-ID or ``-``) and ``path``.

Cost when nothing is set: one attribute check per request (``FaultBook.active``); the DVA's
search path is benchmarked.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import math
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from simulators.common.clock import SETTLE_SECONDS
from simulators.common.events import AGENT_PREFIX, EventLog
from simulators.medmij import (
    CORRELATION_ID,
    FHIR_JSON,
    LIST_PATHS,
    MEDMIJ_REQUEST_ID,
    OAuthError,
)

# --- the catalogue -------------------------------------------------------------------------
DVA_KINDS = ("unknown_provider", "client_not_on_ocl", "no_data", "consent_refused",
             "code_expired", "token_expired", "token_revoked", "refresh_refused",
             str(OAuthError.TEMPORARILY_UNAVAILABLE))  # the fault is named after its answer
DIGID_KINDS = ("digid_cancelled", "digid_failed")
RESOURCE_KINDS = ("status", "partial_bundle", "paged_bundle", "slow", "reset",
                  "wrong_content_type", "warnings")
REGISTRY_KINDS = ("lists_stale", "lists_unreachable", "lower_volgnummer", "registry_down",
                  "vendor_removed")
ANY_NODE_KINDS = (*RESOURCE_KINDS, "clock_jump")
KINDS = (*DVA_KINDS, *DIGID_KINDS, *RESOURCE_KINDS, *REGISTRY_KINDS, "clock_jump")
# kinds that act once when added (no request to hit): the fault is spent at once
ACTION_KINDS = ("clock_jump", "vendor_removed")
WHERE = {**{k: "dva" for k in DVA_KINDS}, **{k: "digid" for k in DIGID_KINDS},
         **{k: "any node" for k in ANY_NODE_KINDS}, **{k: "registry" for k in REGISTRY_KINDS}}
STATUSES = (401, 403, 404, 429, 500, 502, 503)
MATCH_KEYS = ("provider", "client", "person", "path")
PAGE_SECONDS = 300.0  # how long the further pages of a paged Bundle stay served


class FaultError(ValueError):
    """A fault the book refuses (unknown kind, a kind this node does not have, bad params)."""


def _number(params: dict, key: str, low: float, high: float, default: float | None = None
            ) -> float:
    value = params.get(key, default)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FaultError(f"param {key} must be a number, not {value!r}") from None
    if not low <= number <= high or math.isnan(number):
        raise FaultError(f"param {key} must be between {low:g} and {high:g}, not {number:g}")
    return number


def check_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The kind's params, checked and with their defaults: a typo is a 400, not a fault that
    silently does something else."""
    p = dict(params)
    if kind == "status":
        status = int(_number(p, "status", 100, 599, 503))
        if status not in STATUSES:
            raise FaultError(f"param status must be one of {', '.join(map(str, STATUSES))}")
        p["status"] = status
        if "retry_after" in p:
            p["retry_after"] = int(_number(p, "retry_after", 0, 86400))
    elif kind == "partial_bundle":
        p["keep"] = _number(p, "keep", 0, 10_000, 0.5)
    elif kind == "paged_bundle":
        p["page_size"] = int(_number(p, "page_size", 1, 10_000, 2))
    elif kind == "slow":
        if "median_ms" in p or "p95_ms" in p:
            p["median_ms"] = _number(p, "median_ms", 1, 600_000)
            p["p95_ms"] = _number(p, "p95_ms", p["median_ms"], 600_000, p["median_ms"])
        else:
            p["ms"] = _number(p, "ms", 0, 600_000, 1000)
    elif kind == "wrong_content_type":
        p["content_type"] = str(p.get("content_type", "text/plain"))
    elif kind == "clock_jump":
        p["seconds"] = _number(p, "seconds", -10 * 365 * 86400, 10 * 365 * 86400)
    elif kind == "vendor_removed":
        if not isinstance(p.get("hostname"), str) or not p["hostname"]:
            raise FaultError("param hostname (the DVP to take off the OCL) is required")
    elif kind == "lower_volgnummer":
        p["by"] = int(_number(p, "by", 1, 1_000_000, 1))
    elif kind == "warnings":
        p["text"] = str(p.get("text", "Sandbox fault: some data could not be retrieved."))
    return p


def _label(name: str) -> str:
    """A client as a node id or a hostname: compared by its first label (``pgo-alpha``)."""
    return name.split(".", 1)[0].lower()


def _slug(provider: str) -> str:
    """A provider as Zorgaanbiedernaam or slug: compared without ``@medmij``."""
    return provider.split("@", 1)[0].lower()


@dataclass
class Fault:
    """One switched-on fault: what, where it matches, and for how long."""

    id: str
    kind: str
    match: dict[str, str] = field(default_factory=dict)
    count: int | None = None  # firings left; None: until cleared
    seconds: float | None = None
    probability: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0  # wall time
    until: float | None = None  # wall time; None: no end
    fired: int = 0
    person_index: int | None = None  # match.person as a population index (resolved BSN)
    state: dict[str, Any] = field(default_factory=dict)  # the node's own (e.g. frozen lists)

    def to_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "match": self.match, "count": self.count,
                "seconds": self.seconds, "probability": self.probability,
                "params": self.params, "created": round(self.created, 3),
                "until": None if self.until is None else round(self.until, 3),
                "fired": self.fired}

    def matches(self, context: dict[str, Any]) -> bool:
        """Every match key must agree with the request; a key the step cannot know (the person
        before DigiD) does not match."""
        for key, wanted in self.match.items():
            if key == "path":
                if not str(context.get("path", "")).startswith(wanted):
                    return False
            elif key == "provider":
                if context.get("provider") is None or _slug(wanted) != _slug(
                        str(context["provider"])):
                    return False
            elif key == "client":
                if context.get("client") is None or _label(wanted) != _label(
                        str(context["client"])):
                    return False
            elif key == "person":
                person, bsn = context.get("person"), context.get("bsn")
                if not (wanted == bsn or (person is not None and (
                        wanted == str(person) or self.person_index == person))):
                    return False
        return True


@dataclass(frozen=True)
class Hit:
    """The request a fault hit, set by ``FaultMiddleware`` for the role's hooks."""

    corr: str
    path: str


_current: contextvars.ContextVar[Hit | None] = contextvars.ContextVar("fault_hit", default=None)


class FaultBook:
    """The faults of one node. ``active`` is the one attribute the hot path reads."""

    def __init__(self, node: str, events: EventLog | None = None, seed: int = 16,
                 kinds: Iterable[str] = ANY_NODE_KINDS) -> None:
        self.node = node
        self.events = events
        self.rng = random.Random(seed)  # deterministic probabilities for reproducible drills
        self.kinds: set[str] = set(kinds)
        self.faults: dict[str, Fault] = {}
        self.active = False
        # the node's own pieces: what a kind does when added (clock_jump), a BSN -> index
        # resolver for ``match.person``, and the person/client behind a request (the DVA's
        # token) for the resource-side kinds
        self.actions: dict[str, Callable[[Fault], None]] = {}
        self.person_index: Callable[[str], int | None] | None = None
        self.context: Callable[[dict], dict] | None = None
        self.pages: dict[str, tuple[float, str, list[dict], dict]] = {}  # paged Bundles
        self.now: Callable[[], float] = time.time

    def supports(self, kinds: Iterable[str]) -> None:
        """Kinds this node's own steps fire (the DVA, DigiD, the registry)."""
        self.kinds.update(kinds)

    def _refresh(self) -> None:
        self.active = bool(self.faults) or bool(self.pages)

    # the admin side -----------------------------------------------------------------------
    def add(self, kind: str, match: dict[str, str] | None = None, count: int | None = None,
            seconds: float | None = None, probability: float | None = None,
            params: dict[str, Any] | None = None) -> Fault:
        """Switch a fault on; raises ``FaultError`` for what the node cannot do."""
        if kind not in KINDS:
            raise FaultError(f"unknown fault kind {kind}; known: {', '.join(KINDS)}")
        if kind not in self.kinds:
            raise FaultError(f"fault kind {kind} does not fire at {self.node}; it fires at the "
                             f"{WHERE[kind]} (kinds here: {', '.join(sorted(self.kinds))})")
        match = {k: str(v) for k, v in (match or {}).items() if v is not None and v != ""}
        unknown = set(match) - set(MATCH_KEYS)
        if unknown:
            raise FaultError(f"unknown match key {', '.join(sorted(unknown))}; known: "
                             f"{', '.join(MATCH_KEYS)}")
        if count is not None and count < 1:
            raise FaultError("count must be at least 1")
        if seconds is not None and not 0 < seconds <= 7 * 86400:
            raise FaultError("seconds must be above 0 and at most a week")
        if probability is not None and not 0 <= probability <= 1:
            raise FaultError("probability must be between 0 and 1")
        now = self.now()
        fault = Fault(uuid.uuid4().hex[:12], kind, match, count, seconds, probability,
                      check_params(kind, params or {}), now,
                      None if seconds is None else now + seconds)
        person = match.get("person")
        if person and self.person_index is not None and len(person) == 9 and person.isdigit():
            fault.person_index = self.person_index(person)
        action = self.actions.get(kind)
        if kind in ACTION_KINDS:
            if action is None:
                raise FaultError(f"fault kind {kind} has no action at {self.node}")
            action(fault)  # may raise FaultError: nothing is kept then
            self._fired(fault, Hit("-", "/admin/faults"))
            return fault
        if action is not None:
            action(fault)
        self.faults[fault.id] = fault
        self._refresh()
        return fault

    def list(self) -> list[Fault]:
        self._prune()
        return list(self.faults.values())

    def remove(self, fault_id: str) -> bool:
        found = self.faults.pop(fault_id, None) is not None
        self._refresh()
        return found

    def clear(self) -> int:
        n = len(self.faults)
        self.faults.clear()
        self.pages.clear()
        self._refresh()
        return n

    def _prune(self) -> None:
        now = self.now()
        for fault_id in [f.id for f in self.faults.values()
                         if f.until is not None and f.until <= now]:
            del self.faults[fault_id]
        for key in [k for k, v in self.pages.items() if v[0] <= now]:
            del self.pages[key]
        self._refresh()

    # the firing side ----------------------------------------------------------------------
    def has(self, kind: str) -> bool:
        """Whether a fault of ``kind`` is set (it may still not match or draw)."""
        return self.active and any(f.kind == kind for f in self.faults.values())

    def take(self, kind: str, **context: Any) -> Fault | None:
        """The fault of ``kind`` that fires for this request, if any: it matches the context
        (node, provider, client, person, path), its time has not run out, its probability
        draws; its count goes down (and it is gone at 0) and the event is published."""
        if not self.active:
            return None
        now = self.now()
        hit = _current.get()
        if "path" not in context and hit is not None:
            context["path"] = hit.path
        for fault in list(self.faults.values()):
            if fault.kind != kind:
                continue
            if fault.until is not None and fault.until <= now:
                self.faults.pop(fault.id, None)
                continue
            if not fault.matches(context):
                continue
            if fault.probability is not None and self.rng.random() >= fault.probability:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.pop(fault.id, None)
            corr = context.get("corr") or (hit.corr if hit is not None else "-")
            self._fired(fault, Hit(corr, str(context.get("path", ""))))
            self._refresh()
            return fault
        self._refresh()
        return None

    def _fired(self, fault: Fault, hit: Hit) -> None:
        fault.fired += 1
        if self.events is not None:
            self.events.publish("fault", fault=fault.id, name=fault.kind, corr=hit.corr,
                                path=hit.path)


# --- the admin API -------------------------------------------------------------------------
def bad_request(description: str, status: int = 400) -> JSONResponse:
    error = OAuthError.INVALID_REQUEST if status == 400 else "not_found"
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def faults_router(book: FaultBook, require_admin) -> APIRouter:
    """``/admin/faults``: list, add, remove, clear (Bearer admin token)."""
    router = APIRouter(prefix="/admin/faults", dependencies=[Depends(require_admin)],
                       include_in_schema=False)

    @router.get("")
    async def listed() -> dict:
        return {"node": book.node, "faults": [f.to_json() for f in book.list()]}

    @router.post("")
    async def add(request: Request) -> JSONResponse:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return bad_request("the body must be JSON: {\"kind\": ..., \"match\": {...}}")
        if not isinstance(body, dict) or not isinstance(body.get("kind"), str):
            return bad_request(f"a fault needs a kind; known: {', '.join(KINDS)}")
        match, params = body.get("match") or {}, body.get("params") or {}
        if not isinstance(match, dict) or not isinstance(params, dict):
            return bad_request("match and params must be JSON objects")
        try:
            count = None if body.get("count") is None else int(body["count"])
            seconds = None if body.get("seconds") is None else float(body["seconds"])
            probability = None if body.get("probability") is None else float(
                body["probability"])
            fault = book.add(body["kind"], match, count, seconds, probability, params)
        except (FaultError, TypeError, ValueError) as exc:
            return bad_request(str(exc))
        if fault.kind == "clock_jump":  # every node has looked at the clock when this answers
            await asyncio.sleep(SETTLE_SECONDS)
        return JSONResponse(fault.to_json(), status_code=201)

    @router.delete("/{fault_id}")
    async def remove(fault_id: str) -> JSONResponse:
        if not book.remove(fault_id):
            return bad_request(f"no fault {fault_id} at {book.node}", 404)
        return JSONResponse({"removed": [fault_id]})

    @router.delete("")
    async def clear() -> dict:
        return {"cleared": book.clear()}

    return router


# --- the generic resource-side kinds ---------------------------------------------------------
FHIR_CODES = {401: "login", 403: "forbidden", 404: "not-found", 429: "throttled",
              500: "exception", 502: "transient", 503: "transient"}
OAUTH_CODES = {401: OAuthError.INVALID_CLIENT, 403: OAuthError.UNAUTHORIZED_CLIENT,
               404: OAuthError.INVALID_REQUEST, 429: OAuthError.TEMPORARILY_UNAVAILABLE,
               500: OAuthError.SERVER_ERROR, 502: OAuthError.TEMPORARILY_UNAVAILABLE,
               503: OAuthError.TEMPORARILY_UNAVAILABLE}
FHIR_JSON_TYPE = f"{FHIR_JSON}; charset=utf-8".encode()
BODY_KINDS = ("partial_bundle", "paged_bundle", "warnings", "wrong_content_type")
_LIST_PATHS = frozenset(LIST_PATHS.values())
_FHIR_PATH = re.compile(r"^/fhir/(?P<slug>[^/]+)/")
_SKIP = ("/admin/", "/health")
_CORR = CORRELATION_ID.lower().encode("latin-1")
_REQ = MEDMIJ_REQUEST_ID.lower().encode("latin-1")


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def refusal(path: str, status: int, realm: str, description: str,
            retry_after: int | None = None, echo: dict[str, str] | None = None
            ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """A faulted status in the protocol's own shape: an OperationOutcome on ``/fhir/``
    (``WWW-Authenticate`` on 401/403), OAuth error JSON on ``/oauth/``, plain JSON elsewhere;
    ``Retry-After`` on 429/503; never cached."""
    headers = [(b"cache-control", b"no-store")]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (echo or {}).items()]
    if retry_after is not None and status in (429, 503):
        headers.append((b"retry-after", str(retry_after).encode()))
    if path.startswith("/fhir/"):
        body = orjson.dumps({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": FHIR_CODES.get(status, "exception"),
             "diagnostics": description}]})
        headers.append((b"content-type", FHIR_JSON_TYPE))
        if status == 401:
            headers.append((b"www-authenticate",
                            f'Bearer realm="{realm}", error="{OAuthError.INVALID_TOKEN}"'
                            .encode("latin-1")))
        elif status == 403:
            headers.append((b"www-authenticate",
                            f'Bearer realm="{realm}", error="{OAuthError.INSUFFICIENT_SCOPE}"'
                            .encode("latin-1")))
    else:
        error = OAUTH_CODES.get(status, OAuthError.SERVER_ERROR) if path.startswith(
            "/oauth/") else (OAuthError.TEMPORARILY_UNAVAILABLE if status in (429, 502, 503)
                             else OAUTH_CODES.get(status, OAuthError.SERVER_ERROR))
        body = orjson.dumps({"error": str(error), "error_description": description})
        headers.append((b"content-type", b"application/json"))
        if status == 401:
            headers.append((b"www-authenticate", b'Basic realm="medmij"'
                            if path.startswith("/oauth/") else
                            f'Bearer realm="{realm}"'.encode("latin-1")))
    headers.append((b"content-length", str(len(body)).encode()))
    return status, headers, body


def latency_ms(params: dict, rng: random.Random) -> float:
    """``ms`` fixed, or a lognormal draw with the given median and 95th percentile."""
    if "ms" in params:
        return float(params["ms"])
    median, p95 = float(params["median_ms"]), float(params["p95_ms"])
    sigma = math.log(p95 / median) / 1.6449 if p95 > median else 0.0
    return rng.lognormvariate(math.log(median), sigma)


class FaultMiddleware:
    """Pure ASGI: the generic resource-side kinds, and the registry's outages, on any node.

    Installed inside ``HopLog`` (``serving_app``) so the hop shows the faulted status. With no
    fault set it costs one attribute check."""

    def __init__(self, app, book: FaultBook, realm: str = "pgo-sandbox") -> None:
        self.app = app
        self.book = book
        self.realm = realm

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not self.book.active:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(_SKIP):
            await self.app(scope, receive, send)
            return
        corr = _header(scope, _CORR) or "-"
        token = _current.set(Hit(corr, path))
        try:
            await self._faulted(scope, receive, send, path, corr)
        finally:
            _current.reset(token)

    def _context(self, scope: dict, path: str, corr: str) -> dict:
        found = _FHIR_PATH.match(path)
        agent = _header(scope, b"user-agent") or ""
        context: dict[str, Any] = {"path": path, "corr": corr,
                                   "provider": found["slug"] if found else None,
                                   "client": agent[len(AGENT_PREFIX):]
                                   if agent.startswith(AGENT_PREFIX) else None}
        needs = {k for f in self.book.faults.values() for k in f.match}
        if self.book.context is not None and ("person" in needs or (
                "client" in needs and context["client"] is None)):
            try:
                extra = self.book.context(scope)
            except Exception:  # noqa: BLE001 - a context we cannot read just does not match
                extra = {}
            context.update({k: v for k, v in extra.items() if v is not None})
        return context

    def _echo(self, scope: dict) -> dict[str, str]:
        return {name: value for name, key in ((MEDMIJ_REQUEST_ID, _REQ),
                                              (CORRELATION_ID, _CORR))
                if (value := _header(scope, key)) is not None}

    async def _answer(self, send, status: int, headers: list, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _faulted(self, scope, receive, send, path: str, corr: str) -> None:
        book = self.book
        if book.pages:
            book._prune()  # pages of paged Bundles live PAGE_SECONDS
        query = scope.get("query_string", b"")
        if book.pages and b"_getpages=" in query:
            if await self._page(scope, send, path):
                return
        context = self._context(scope, path, corr)
        down = None
        if path in _LIST_PATHS:
            down = book.take("lists_unreachable", **dict(context))
        if down is None:
            down = book.take("registry_down", **dict(context))
        if down is not None:
            await self._answer(send, *refusal(path, 503, self.realm,
                                              "The MedMij registry is unavailable (sandbox "
                                              "fault).", 30, self._echo(scope)))
            return
        fault = book.take("status", **dict(context))
        if fault is not None:
            status = fault.params["status"]
            await self._answer(send, *refusal(
                path, status, self.realm, f"Sandbox fault: HTTP {status}.",
                fault.params.get("retry_after"), self._echo(scope)))
            return
        fault = book.take("slow", **dict(context))
        if fault is not None:
            await asyncio.sleep(latency_ms(fault.params, book.rng) / 1000)
        if book.take("reset", **dict(context)) is not None:
            await self._reset(scope, receive, send)
            return
        if not any(book.has(kind) for kind in BODY_KINDS):
            await self.app(scope, receive, send)
            return
        await self._rewrite(scope, receive, send, path, context)

    async def _reset(self, scope, receive, send) -> None:
        """Start the answer, send half of it, and stop: the server then drops the connection
        (uvicorn closes it when a response is left incomplete)."""
        status, headers, body = await self._buffered(scope, receive)
        headers = [(k, v) for k, v in headers if k != b"content-length"]
        headers.append((b"content-length", str(max(len(body), 2)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body[: len(body) // 2],
                    "more_body": True})

    async def _buffered(self, scope, receive) -> tuple[int, list, bytes]:
        started: dict = {}
        chunks: list[bytes] = []

        async def capture(message) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        return started.get("status", 500), list(started.get("headers", [])), b"".join(chunks)

    async def _rewrite(self, scope, receive, send, path: str, context: dict) -> None:
        """The body kinds: the app answers, then its Bundle is cut, paged or warned about, or
        its Content-Type is wrong. Anything but a JSON Bundle passes unchanged."""
        book = self.book
        status, headers, body = await self._buffered(scope, receive)
        content_type = next((v for k, v in headers if k == b"content-type"), b"")
        bundle = None
        if status == 200 and b"json" in content_type and body[:1] == b"{":
            try:
                parsed = orjson.loads(body)
                bundle = parsed if parsed.get("resourceType") == "Bundle" else None
            except orjson.JSONDecodeError:
                bundle = None
        if bundle is not None:
            changed = False
            fault = book.take("partial_bundle", **dict(context))
            if fault is not None:
                entries = bundle.get("entry", [])
                keep = fault.params["keep"]
                n = int(len(entries) * keep) if keep < 1 else int(keep)
                total = bundle.get("total", len(entries))
                bundle["entry"] = entries[:n]
                bundle["total"] = max(total, len(entries))  # Bundle.total says more
                changed = True
            fault = book.take("paged_bundle", **dict(context))
            if fault is not None:
                self._first_page(scope, bundle, fault.params["page_size"])
                changed = True
            fault = book.take("warnings", **dict(context))
            if fault is not None:
                bundle.setdefault("entry", []).append({"resource": {
                    "resourceType": "OperationOutcome", "issue": [{
                        "severity": "warning", "code": "incomplete",
                        "diagnostics": fault.params["text"]}]}, "search": {"mode": "outcome"}})
                changed = True
            if changed:
                body = orjson.dumps(bundle)
        headers = [(k, v) for k, v in headers if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        wrong = book.take("wrong_content_type", **dict(context))
        if wrong is not None:
            headers = self._wrong_type(headers, wrong.params["content_type"])
        await self._answer(send, status, headers, body)

    @staticmethod
    def _wrong_type(headers: list, content_type: str) -> list:
        return [(k, v) for k, v in headers if k != b"content-type"] + [
            (b"content-type", content_type.encode("latin-1"))]

    def _owner(self, scope: dict) -> str:
        """Whose pages: the hash of the request's Authorization (a page is served only to the
        bearer of the token that searched)."""
        auth = _header(scope, b"authorization") or ""
        return hashlib.sha256(auth.encode()).hexdigest()

    def _first_page(self, scope: dict, bundle: dict, size: int) -> None:
        """Keep the first ``size`` entries and link ``next`` to the rest (HAPI's
        ``_getpages``/``_getpagesoffset``), held here for ``PAGE_SECONDS``."""
        entries = bundle.get("entry", [])
        self_url = next((lk["url"] for lk in bundle.get("link", [])
                         if lk.get("relation") == "self"), "")
        base = self_url.split("?", 1)[0]
        key = uuid.uuid4().hex
        self.book.pages[key] = (self.book.now() + PAGE_SECONDS, self._owner(scope), entries,
                                {k: v for k, v in bundle.items() if k != "entry"})
        self.book._refresh()
        self._set_page(bundle, entries, 0, size, base, key)

    @staticmethod
    def _set_page(bundle: dict, entries: list, offset: int, size: int, base: str,
                  key: str) -> None:
        bundle["entry"] = entries[offset:offset + size]
        bundle["total"] = bundle.get("total", len(entries))

        def url(at: int) -> str:
            return f"{base}?" + urlencode({"_getpages": key, "_getpagesoffset": at,
                                           "_count": size})

        links = [{"relation": "self", "url": url(offset)}]
        if offset + size < len(entries):
            links.append({"relation": "next", "url": url(offset + size)})
        if offset > 0:
            links.append({"relation": "previous", "url": url(max(0, offset - size))})
        bundle["link"] = links

    async def _page(self, scope, send, path: str) -> bool:
        """A further page of a paged Bundle; False when the query names no held page."""
        query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        held = self.book.pages.get(query.get("_getpages", ""))
        if held is None or held[0] <= self.book.now():
            await self._answer(send, *refusal(path, 410 if held else 404, self.realm,
                                              "This page of search results is gone; search "
                                              "again.", None, self._echo(scope)))
            return True
        _, owner, entries, meta = held
        if owner != self._owner(scope):
            await self._answer(send, *refusal(path, 401, self.realm,
                                              "Invalid or expired token.", None,
                                              self._echo(scope)))
            return True
        try:
            offset = max(0, int(query.get("_getpagesoffset", "0")))
            size = max(1, int(query.get("_count", "10")))
        except ValueError:
            offset, size = 0, 10
        bundle = dict(meta)
        base = (bundle.get("link") or [{}])[0].get("url", "").split("?", 1)[0]
        self._set_page(bundle, entries, offset, size, base, query["_getpages"])
        body = orjson.dumps(bundle)
        await self._answer(send, 200, [(b"content-type", FHIR_JSON_TYPE),
                                       (b"content-length", str(len(body)).encode())], body)
        return True


def install(app, node_id: str, require_admin) -> FaultBook:
    """Give a node its fault book and admin API (called by ``node_app``)."""
    book = FaultBook(node_id, getattr(app.state, "events", None))
    app.state.faults = book
    app.include_router(faults_router(book, require_admin))
    state_dir = app.state.config.state_dir
    if state_dir is not None:
        from simulators.common.clock import jump

        def clock_jump(fault: Fault) -> None:
            jump(state_dir, fault.params["seconds"])

        book.actions["clock_jump"] = clock_jump
    return book


def wrap(inner, app, node_id: str):
    """``FaultMiddleware`` around what a node serves, if the app has a fault book."""
    book = getattr(app.state, "faults", None)
    if book is None:
        return inner
    try:
        realm = app.state.config.topology.node(node_id).name
    except (AttributeError, KeyError):
        realm = node_id
    return FaultMiddleware(inner, book, realm)
