"""What every node's FastAPI app has: /health, hop logging with X-Correlation-ID, and
plain 4xx answers instead of stack traces."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import sys
import time
import weakref
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from simulators.common import faults
from simulators.common.config import SandboxConfig
from simulators.common.events import EventLog, events_router
from simulators.common.fhir import operation_outcome
from simulators.common.html import error_page
from simulators.common.i18n import Language
from simulators.common.security import NO_STORE, PAGE_HEADERS, SecurityHeaders, check_admin
from simulators.medmij import CORRELATION_ID, MEDMIJ_REQUEST_ID, OAuthError

log = logging.getLogger("pgo_sandbox.hop")
FLUSH_SECONDS = 0.2
# ASGI gives header names as lower-case bytes: the MedMij ids in that form, compared per request
_CORRELATION_ID = CORRELATION_ID.lower().encode("latin-1")
_MEDMIJ_REQUEST_ID = MEDMIJ_REQUEST_ID.lower().encode("latin-1")
_USER_AGENT = b"user-agent"


_HOP_LOGS: weakref.WeakSet = weakref.WeakSet()  # this process's hop logs (flush_hop_logs)


def flush_hop_logs() -> None:
    """Write every hop line this process still holds now: the curator's erasure truncates the
    node's log and must not see lines of before it land after it (issue 16's drills found
    identifiers in a log right after its erasure)."""
    for hop_log in list(_HOP_LOGS):
        hop_log._flush()


class HopLog:
    """Pure ASGI middleware: one line per request with the MedMij ids, and the same hop as an
    event in the node's ``EventLog`` (for the dashboard, sequence diagrams and drills).

    It writes preformatted lines straight to the node's log stream instead of building a
    logging record: on the resource server's hot path that record cost more than the search.
    A request leaves its line's parts; every ``FLUSH_SECONDS`` (and when the node stops: the
    lifespan ends) they are formatted and written together, one write to the log file per
    flush (the stream's 8 KB buffer made one every ~80 lines, and formatting per request
    cost more than in one go: a few µs per request over HTTP, issue 17).
    """

    def __init__(self, app, node: str, events: EventLog | None = None) -> None:
        self.app = app
        self.node = node
        self.events = events
        self.enabled = log.isEnabledFor(logging.INFO)
        self._second = -1
        self._stamp = ""
        self._flush_pending = False
        # (wall time, method, path, status, ms, corr, req) of the hops not yet written
        self._lines: list[tuple[float, str, str, int, float, bytes, bytes]] = []
        _HOP_LOGS.add(self)

    def _timestamp(self, t: float) -> str:
        second = int(t)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return self._stamp

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            try:
                await self.app(scope, receive, send)
            finally:
                self._flush()  # the lines of the last moments before the node stops
            return
        if scope["type"] != "http" or not (self.enabled or self.events is not None):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def send_wrapper(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.record(scope, status, start)

    def record(self, scope: dict, status: int, start: float) -> None:
        """Log the hop of ``scope`` that started at ``start`` (``perf_counter``) and ended
        now with ``status`` (0: no answer began): the event now, the line's parts for the next
        flush (which formats them all in one go). ``HotPath`` calls this for the requests it
        answers itself."""
        if not (self.enabled or self.events is not None):
            return
        ms = (time.perf_counter() - start) * 1000
        t = time.time()
        headers = dict(scope["headers"])  # the last of each name, in C: cheaper than a loop
        corr = headers.get(_CORRELATION_ID, b"-")  # bytes: decoded when read or written
        req = headers.get(_MEDMIJ_REQUEST_ID, b"-")
        method, path = scope["method"], scope["path"]
        if self.events is not None and not path.startswith("/admin/events"):
            self.events.publish_hop(t, method, path, status, ms, corr, req,
                                    headers.get(_USER_AGENT, b""))
        if self.enabled:
            self._lines.append((t, method, path, status, ms, corr, req))
            if not self._flush_pending:  # one write to the file per 0.2 s, not per request
                self._flush_pending = True
                asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self._lines:
            hops, self._lines = self._lines, []
            node = self.node
            sys.stdout.write("".join([
                f"{self._timestamp(t)} INFO hop {node} {method} {path} {status} {ms:.1f}ms"
                f" corr={corr.decode('latin-1')} req={req.decode('latin-1')}\n"
                for t, method, path, status, ms, corr, req in hops]))
        sys.stdout.flush()


FORM_BODY_LIMIT = 64 * 1024  # a form a person posts (consent, login, a choice): a few hundred B
BODY_LIMIT = 16 * 1024 * 1024  # any other body: above the largest route's cap (Delen, 10 MiB)
_FORM = b"application/x-www-form-urlencoded"


class BodyLimit:
    """Pure ASGI middleware: no request body is read past a cap, declared or streamed: an
    urlencoded form ``FORM_BODY_LIMIT``, any other body ``BODY_LIMIT``; routes that read a body
    themselves keep their own smaller caps (``simulators.common.body``). Without it a form the
    framework parses may hold 1,000 fields of 1 MB (Starlette's parser): ~1 GB per request.

    A body over the cap raises a 413 ``HTTPException`` where the route reads it, which each
    role answers in its own shape. Starlette's ``RequestBodyLimitMiddleware`` does the same but
    also replaces any answer to a request whose declared length is over the cap with a plain
    text 413, so a route refusing first (the token endpoint's ``invalid_request``) would lose
    its protocol's error."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)  # no body a route reads
            return
        limit, declared = BODY_LIMIT, b""
        for name, value in scope["headers"]:
            if name == b"content-type" and value.split(b";", 1)[0].strip().lower() == _FORM:
                limit = FORM_BODY_LIMIT
            elif name == b"content-length":
                declared = value
        too_large = StarletteHTTPException(413, f"The request body may be at most {limit} bytes.")
        if declared.isdigit() and int(declared) > limit:
            async def refused():
                raise too_large
            await self.app(scope, refused, send)
            return
        size = 0

        async def capped():
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise too_large
            return message

        await self.app(scope, capped, send)


def node_app(config: SandboxConfig, node_id: str, title: str, lifespan=None) -> FastAPI:
    # no /docs: Swagger UI loads its JS/CSS from a CDN (blank offline); /openapi.json stays
    app = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.config = config
    app.state.node_id = node_id
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Language)  # ?lang=en / the pgo_sandbox_lang cookie (pages in English)
    app.state.events = EventLog(node_id)
    app.include_router(events_router(app.state.events, require_admin))
    faults.install(app, node_id, require_admin)  # app.state.faults, /admin/faults

    @app.get("/health", include_in_schema=False)
    async def health() -> dict:
        ready: Callable[[], Awaitable[bool]] | None = getattr(app.state, "ready", None)
        # node id and this run's nonce: the runtime's probe tells its own nodes from another
        # program (or an older sandbox) answering on the same port
        identity = {"node": node_id, "run": config.run_nonce}
        if ready is not None and not await ready():
            return JSONResponse({"status": "starting", **identity}, status_code=503)
        extra: Callable[[], dict] | None = getattr(app.state, "health_extra", None)
        # a role's own facts (its lists' age); they never change "status"
        return {**(extra() if extra else {}), "status": "ok", **identity}

    app.add_exception_handler(Exception, crashed)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = invalid_fields(exc)
        return JSONResponse(
            {"error": OAuthError.INVALID_REQUEST,
             "error_description": f"missing or invalid: {fields}"},
            status_code=400,
        )

    app.state.fast_routes = []  # (method, compiled path pattern, handler): see FastRoutes
    return app


CRASHED = ("De sandbox kon dit verzoek niet afhandelen: een fout in de sandbox zelf. "
           "De node schreef de details in zijn log.")


async def crashed(request: Request, exc: Exception) -> Response:
    """The answer when a node fails on a request (a bug, never a refusal: refusals are each
    role's own errors): a 500 in the shape its caller reads, an OperationOutcome on a FHIR
    path, a Dutch page for a browser, JSON otherwise, instead of Starlette's plain English
    text. Starlette's ``ServerErrorMiddleware`` sends it and raises the exception on, so the
    traceback goes to the node's log (and a test's client still sees the exception); that
    middleware is outside the others, so the page headers are set here."""
    headers = {k.decode(): v.decode() for k, v in (*PAGE_HEADERS, *NO_STORE)}
    if request.url.path.startswith("/fhir/"):
        return operation_outcome(500, "exception", CRASHED, headers=headers)
    if "text/html" in request.headers.get("accept", ""):
        page = error_page("Er ging iets mis", CRASHED, back=("/", "Naar de startpagina"))
        return HTMLResponse(page, 500, headers=headers)
    return JSONResponse({"error": OAuthError.SERVER_ERROR, "error_description": CRASHED}, 500,
                        headers=headers)


def invalid_fields(exc: RequestValidationError) -> str:
    """The request fields a validation error names, e.g. ``session_id, decision``: every
    role's error model says which fields were missing or invalid in its own shape."""
    return ", ".join(".".join(str(p) for p in e["loc"][1:]) for e in exc.errors())


ErrorAnswer = Callable[[Request, int, str, "dict[str, str] | None"], Response]


def install_error_model(app: FastAPI, role_error: type[Exception],
                        role_answer: Callable[[Request, Exception], Response],
                        answer: ErrorAnswer, invalid: str) -> None:
    """A role's one error model: its own exception tree (``role_answer``) and the framework's
    refusals (an HTTPException such as ``require_admin``'s 401 with its headers, a request that
    fails validation: ``invalid`` with ``{fields}``) answered in the same shape (``answer``)."""

    async def role(request: Request, exc: Exception) -> Response:
        return role_answer(request, exc)

    async def http(request: Request, exc: StarletteHTTPException) -> Response:
        return answer(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    async def validation(request: Request, exc: RequestValidationError) -> Response:
        return answer(request, 400, invalid.format(fields=invalid_fields(exc)), None)

    app.add_exception_handler(role_error, role)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(RequestValidationError, validation)


def require_admin(request: Request) -> None:
    """FastAPI dependency for admin routes: the sandbox's admin token as a Bearer token."""
    check_admin(request, request.app.state.config.admin_token)


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]  # status, raw headers, body
FastHandler = Callable[[dict], Answer]


async def send_answer(send, answer: Answer) -> None:
    """The two ASGI messages of a fast route's answer."""
    status, headers, body = answer
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def fast_route_failed(scope: dict) -> Answer:
    """What a fast route answers when its handler fails (a bug): the 500 OperationOutcome
    ``crashed`` gives on a FHIR path, the traceback to the node's log. Fast routes run
    outside FastAPI, so its exception handlers never see them."""
    logging.getLogger("pgo_sandbox.crash").exception("%s %s failed", scope["method"],
                                                     scope["path"])
    response = operation_outcome(500, "exception", CRASHED)
    return response.status_code, response.raw_headers, response.body


class FastRoutes:
    """Pure ASGI dispatch of a node's hot routes ahead of FastAPI's router and middleware.

    A fast route's handler takes the ASGI scope (with ``path_params`` from the pattern's named
    groups) and returns the answer as (status, raw headers, body), synchronously: no Starlette
    ``Request``/``Response`` per request. Everything else goes to the app as usual. The DVA's
    FHIR searches use it: FastAPI's routing and middleware stack cost as much per request as
    the search itself (see docs/benchmarks-load.md).
    """

    SEEN = 4096  # (method, path) pairs whose route is remembered

    def __init__(self, app, routes: list[tuple[str, re.Pattern, FastHandler]]) -> None:
        self.app = app
        self.routes = routes
        self._seen: dict[tuple[str, str], tuple[FastHandler, dict] | None] = {}

    def find(self, scope: dict) -> FastHandler | None:
        """The handler of an HTTP request on a fast route (``path_params`` set), or None.

        The route of a (method, path) is remembered: clients repeat a few paths (a search per
        resource type), and the patterns cost more than the lookup. ``path_params`` is shared
        by the requests of one path: read it, never change it."""
        key = (scope["method"], scope["path"])
        found = self._seen.get(key, False)
        if found is False:
            found = self._match(*key)
            if len(self._seen) >= self.SEEN:  # bounded: a client may send any path
                self._seen.clear()
            self._seen[key] = found
        if found is None:
            return None
        handler, scope["path_params"] = found
        return handler

    def _match(self, method: str, path: str) -> tuple[FastHandler, dict] | None:
        for route_method, pattern, handler in self.routes:
            if method == route_method:
                matched = pattern.match(path)
                if matched:
                    return handler, matched.groupdict()
        return None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            handler = self.find(scope)
            if handler is not None:
                try:
                    answer = handler(scope)
                except Exception:
                    answer = fast_route_failed(scope)
                await send_answer(send, answer)
                return
        await self.app(scope, receive, send)


class HotPath:
    """The outermost layer of a node with fast routes: while no fault is set, a request on a
    fast route is answered here and its hop logged (``HopLog.record``), one layer instead of
    hop log, fault check and dispatch each wrapping the next (a few µs per search of ~35,
    issue 17). With a fault set, or on any other route, the request takes the usual way
    (``hop``: hop log, faults, ``FastRoutes``, the app), so faults and answers are the same."""

    def __init__(self, hop: HopLog, routes: FastRoutes, book) -> None:
        self.hop, self.routes, self.book = hop, routes, book

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and not self.book.active:
            handler = self.routes.find(scope)
            if handler is not None:
                start = time.perf_counter()
                status = 0
                try:  # send_answer's two messages, without its coroutine (the hot path)
                    try:
                        status, headers, body = handler(scope)
                    except Exception:
                        status, headers, body = fast_route_failed(scope)
                    await send({"type": "http.response.start", "status": status,
                                "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                finally:
                    self.hop.record(scope, status, start)
                return
        await self.hop(scope, receive, send)


# Python's cyclic garbage collector, for a node process (see ``tune_gc``)
GC_THRESHOLDS = (100_000, 10, 100)


def tune_gc() -> None:
    """Set the cyclic garbage collector for a long-running node; call once, after start-up.

    A node keeps many long-lived objects that are not garbage: live tokens in the DVA's
    ``TokenIndex``, cached records, the population's caches. Under load every new token or
    record is promoted to the oldest generation and, with CPython's defaults (700, 10, 10), a
    full collection over all of them ran every few thousand requests: on a cold BgZ search
    load it cost more CPU than the searches (issue 17, docs/benchmarks-load.md). Freezing what
    start-up built (imports, models, tables) takes it out of every later collection; fewer,
    larger young collections and a full collection at most every 100 middle ones bound the
    rest. The young threshold is 100,000 net new objects, not CPython's 700: a young
    collection scans every young object still alive, and under a cold load that is every
    record built since the last one (hundreds of dicts each, kept by the record cache); at
    10,000 they were each scanned about once, 14 of a cold search's 117 µs in process, at
    100,000 most have left the cache before a collection comes (3 µs; issue 17 item 4).
    Reference counting still frees everything that is not in a cycle at once; cyclic garbage
    waits longer but is still collected, so memory stays bounded."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def serving_app(app: FastAPI, node_id: str):
    """What uvicorn serves for a node: hop logging around faults (so the hop shows a faulted
    status) around fast routes around the app; with fast routes, ``HotPath`` in front."""
    routes = FastRoutes(app, app.state.fast_routes) if app.state.fast_routes else None
    hop = HopLog(faults.wrap(routes or app, app, node_id), node_id,
                 getattr(app.state, "events", None))
    book = getattr(app.state, "faults", None)
    if routes is None or book is None:
        return hop
    return HotPath(hop, routes, book)
