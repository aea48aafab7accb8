"""The live ecosystem dashboard (issue 15 items 1 and 2), served by the registry node: it knows
the topology, every node's address, the lists and the admin token.

Pages and data (all behind the admin token, see below):

- ``GET /dashboard``: the topology as a picture (who is on which list), node health, the
  lists' Volgnummers and what changed, the sandbox clock, and a live stream of hops grouped
  by correlation id with display names (``dashboard.js`` reads ``/dashboard/stream``);
- ``GET /dashboard/stream``: server-sent events, the nodes' events merged (``Feed``);
- ``GET /dashboard/state.json``, ``/dashboard/health.json``: lists, clock and health;
- ``GET /dashboard/journeys`` (HTML; ``.json``): one line per journey (``group_journeys``);
- ``GET /dashboard/journeys/{corr}`` (HTML with the diagram), ``{corr}.svg``, ``{corr}.png``:
  the sequence diagram of one journey;
- ``GET /dashboard/static/dashboard.js|css``: local assets (no CDN, works offline).

Access: the dashboard shows paths, person ids and pseudonyms, so it needs the sandbox's admin
token. A browser logs in once with it (``/dashboard/login``: a form whose CSRF token is the
HMAC of a pre-login cookie ``<expiry>.<nonce>`` under a key only this process knows, as DigiD
and the PGO bind theirs, so an anonymous visit stores nothing; or a one-time link from
``pgo-sandbox dashboard``, which asks
``POST /admin/dashboard/codes`` for a code) and then holds an HttpOnly session cookie
``<registry id>_dashboard`` (``registry_dashboard`` by default; cookie names carry the node
id because browsers do not separate 127.0.0.1 cookies by port). Scripts may send the admin
token as a Bearer token instead. Sessions live in the registry's memory: a restart logs out.
Memory is bounded by who may create entries: sessions and one-time codes need the admin
token (expired ones are pruned at each new one); the login form keeps nothing.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from simulators.common.app import require_admin
from simulators.common.html import TEMPLATES, Markup, render
from simulators.common.security import (
    PendingLogins,
    csrf_ok,
    delete_session_cookie,
    new_token,
    read_cookie,
    same_origin,
    set_session_cookie,
)
from simulators.medmij import provider_slug
from simulators.registry import dashboard_draw as draw
from simulators.registry.dashboard_feed import Feed, Health, ListHistory
from simulators.registry.state import KINDS, RegistryState

SESSION_SECONDS = 12 * 3600  # a trainer's day
LOGIN_SECONDS = 15 * 60  # a login form (its CSRF token) stays valid this long
CODE_SECONDS = 5 * 60  # a one-time login link from the CLI
# over plain http the dashboard's cookies go to its own pages only: every 127.0.0.1 port (an
# outside participant's too) would get a cookie with Path=/, and it opens the dashboard
COOKIE_PATH = "/dashboard"
STREAM_SECONDS = 300  # a stream ends after this; EventSource reconnects with Last-Event-ID
TICK_SECONDS = 0.5  # how often a stream asks the feed for news
HEARTBEAT_SECONDS = 15.0
REPLAY = 500  # a new viewer gets at most this many recent events, then everything new
STATIC = {"dashboard.js": "text/javascript; charset=utf-8",
          "dashboard.css": "text/css; charset=utf-8"}
SLUG_IN_PATH = re.compile(r"^/fhir/([^/]+)/")
CORR = re.compile(r"^[A-Za-z0-9._:@-]{1,200}$")

router = APIRouter(include_in_schema=False)


class Dashboard:
    """The dashboard's parts for one registry app: sessions, one-time codes, the feed."""

    def __init__(self, app: FastAPI) -> None:
        config = app.state.config
        self.config = config
        self.node_id: str = app.state.node_id
        self.state: RegistryState = app.state.registry
        self.cookie = f"{self.node_id}_dashboard"
        self.login_cookie = f"{self.node_id}_dashboard_login"
        self.sessions: dict[str, dict] = {}  # session id -> {"csrf", "expires"}
        self.pending = PendingLogins(LOGIN_SECONDS)  # binds login forms; a restart voids them
        self.codes: dict[str, float] = {}  # one-time code -> expiry
        self.feed = Feed(config, self.node_id, app.state.events)
        self.health = Health(self.feed)
        self.history = ListHistory(self.state)

    # access ------------------------------------------------------------------------------

    @staticmethod
    def _prune(table: dict, now: float) -> None:
        for key in [k for k, v in table.items()
                    if (v["expires"] if isinstance(v, dict) else v) < now]:
            del table[key]

    def new_session(self) -> str:
        now = time.time()
        self._prune(self.sessions, now)
        sid = new_token()
        self.sessions[sid] = {"csrf": new_token(), "expires": now + SESSION_SECONDS}
        return sid

    def session(self, request: Request) -> dict | None:
        sid = read_cookie(request, self.cookie)
        found = self.sessions.get(sid or "")
        if found is None or found["expires"] < time.time():
            return None
        return found

    def login_csrf(self, pre_login: str) -> str:
        """The login form's CSRF token for this pre-login cookie value."""
        return self.pending.token(pre_login)

    def new_login(self) -> tuple[str, str]:
        """(pre-login cookie value, CSRF token) for a login form valid LOGIN_SECONDS."""
        return self.pending.start()

    def login_ok(self, pre_login: str, csrf_token: str) -> bool:
        """The form's token is the one issued with this cookie, and the form has not expired
        (``PendingLogins``: the time in the cookie is covered by the HMAC)."""
        return self.pending.ok(pre_login, csrf_token)

    def admin_ok(self, given: str) -> bool:
        token = self.config.admin_token
        return bool(token and given) and hmac.compare_digest(given.encode(), token.encode())

    def bearer_ok(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.admin_ok(value.strip())

    def new_code(self) -> str:
        now = time.time()
        self._prune(self.codes, now)
        code = new_token()
        self.codes[code] = now + CODE_SECONDS
        return code

    def take_code(self, code: str) -> bool:
        expires = self.codes.pop(code, None)
        return expires is not None and expires >= time.time()

    def own_origins(self) -> set[str]:
        hostname = self.config.topology.registry.hostname
        return {self.config.public_base(hostname).rstrip("/"),
                self.config.addresses.get(hostname, "").rstrip("/")} - {""}

    # what the pages show ---------------------------------------------------------------

    def names(self) -> dict[str, str]:
        """Display names: node id -> organisation (OCL name for a listed PGO), provider name
        and slug -> display name (topology, or what MedMij Beheer gave an outside one)."""
        topology = self.config.topology
        names = {n.id: n.name for n in (*topology.nodes, *topology.externals)}
        names.update({n.id: self.state.clients[n.hostname]
                      for n in (*topology.dvps, *topology.external_dvps, topology.inspection)
                      if n.hostname in self.state.clients})
        for provider in topology.providers:
            names[provider.name] = names[provider.slug] = provider.display
        for record in self.state.outside.values():
            for name, display in record.get("displays", {}).items():
                names[name] = names[provider_slug(name)] = display
        names["browser"], names["client"] = "Browser", "Browser (script)"
        return names

    def enrich(self, event: dict, names: dict[str, str]) -> dict:
        """An event for the browser: display names of node, caller and provider added."""
        out = {**event, "node_name": names.get(event.get("node", ""), event.get("node", ""))}
        if event.get("kind") == "hop":
            out["caller_name"] = names.get(event.get("caller", ""), event.get("caller", ""))
            found = SLUG_IN_PATH.match(str(event.get("path", "")))
            if found and found.group(1) in names:
                out["provider"] = names[found.group(1)]
        else:
            out["text"] = draw.event_text(event)
        return out

    def lists(self) -> dict:
        self.history.observe()
        headers = self.state.headers
        return {"volgnummers": {k: headers[k]["volgnummer"] for k in KINDS},
                "tijdstempels": {k: headers[k]["tijdstempel"] for k in KINDS},
                "changes": list(reversed(self.history.changes))}

    def clock(self) -> dict:
        now = self.state.clock.now()
        offset = now - time.time()
        return {"now": round(now, 3), "offset_seconds": round(offset, 3),
                "text": draw.clock_text(now, offset)}

    def topology_svg(self) -> str:
        state = self.state
        listed = {"ocl": set(state.clients), "whitelist": set(state.nodes)}
        zal = {p.name: (p.dva, list(p.gegevensdiensten)) for p in state.providers.values()}
        volgnummers = {k: state.headers[k]["volgnummer"] for k in KINDS}
        return draw.topology_svg(self.config.topology, listed, zal, self.names(), volgnummers)

    async def journeys(self) -> dict[str, list[dict]]:
        await self.feed.refresh()
        return draw.group_journeys(self.feed.events)

    async def journey(self, corr: str) -> list[dict]:
        found = (await self.journeys()).get(corr)
        if not found:
            raise HTTPException(404, f"no journey {corr!r} in the recent events")
        return found


def install(app: FastAPI) -> None:
    """Add the dashboard to a registry app: its parts on ``app.state.dashboard``, the routes,
    and the list history observed after every state-changing request."""
    app.state.dashboard = Dashboard(app)
    app.include_router(router)

    app.add_middleware(ObserveLists, history=app.state.dashboard.history)


class ObserveLists:
    """Pure ASGI middleware: after every state-changing request (MedMij Beheer's admin API)
    the list history takes note, so each Volgnummer step shows what it changed."""

    def __init__(self, app, history: ListHistory) -> None:
        self.app = app
        self.history = history

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
                self.history.observe()


def get_dashboard(request: Request) -> Dashboard:
    return request.app.state.dashboard


Board = Annotated[Dashboard, Depends(get_dashboard)]


def viewer(request: Request, board: Board) -> None:
    """Dependency of every dashboard route: a dashboard session or the admin Bearer token."""
    if board.session(request) is None and not board.bearer_ok(request):
        raise HTTPException(401, "dashboard: log in at /dashboard/login (admin token) or send "
                                 "Authorization: Bearer <admin token>",
                            headers={"WWW-Authenticate": 'Bearer realm="pgo-sandbox-admin"'})


Viewer = Depends(viewer)


def _page(template: str, status: int = 200, **context: object) -> HTMLResponse:
    return HTMLResponse(render(template, **context), status_code=status)


def _login_page(board: Dashboard, request: Request, message: str = "",
                status: int = 200) -> HTMLResponse:
    """The login form, with a fresh CSRF token bound to a pre-login cookie (nothing kept)."""
    login_id, csrf = board.new_login()
    response = _page("dashboard_login.html", status, title="Dashboard: inloggen",
                     banner=board.config.topology.registry.name, csrf_token=csrf,
                     message=message)
    set_session_cookie(response, request, board.login_cookie, login_id, max_age=LOGIN_SECONDS,
                       path=COOKIE_PATH)
    return response


@router.get("/dashboard/login", response_class=HTMLResponse)
async def login_form(request: Request, board: Board) -> Response:
    if board.session(request) is not None:
        return RedirectResponse("/dashboard", status_code=303)
    return _login_page(board, request)


@router.post("/dashboard/login")
async def login(request: Request, board: Board, token: str = Form("", max_length=500),
                csrf_token: str = Form("", max_length=200)) -> Response:
    """The admin token typed into the form: a session cookie, then the dashboard. The form's
    CSRF token must be the one issued with this browser's pre-login cookie."""
    pre_login = read_cookie(request, board.login_cookie) or ""
    if not same_origin(request, board.own_origins()) or not board.login_ok(pre_login,
                                                                           csrf_token):
        return _login_page(board, request, "Dit formulier is verlopen of kwam niet van deze "
                           "pagina. Probeer het opnieuw.", 403)
    if not board.admin_ok(token.strip()):
        return _login_page(board, request, "Dit is niet het beheertoken van deze sandbox.",
                           401)
    return _logged_in(request, board)


def _logged_in(request: Request, board: Board) -> RedirectResponse:
    response = RedirectResponse("/dashboard", status_code=303)
    set_session_cookie(response, request, board.cookie, board.new_session(),
                       max_age=SESSION_SECONDS, path=COOKIE_PATH)
    delete_session_cookie(response, request, board.login_cookie, COOKIE_PATH)
    return response


@router.get("/dashboard/login/{code}")
async def login_link(request: Request, board: Board, code: str) -> Response:
    """The one-time link ``pgo-sandbox dashboard`` prints: once, within a few minutes."""
    if not board.take_code(code):
        return _login_page(board, request, "Deze inloglink is verlopen of al gebruikt. Vraag "
                           "een nieuwe met: pgo-sandbox dashboard", 400)
    return _logged_in(request, board)


@router.post("/admin/dashboard/codes", dependencies=[Depends(require_admin)], status_code=201)
async def login_code(request: Request, board: Board) -> dict:
    """A one-time login code for a browser (the CLI prints it as a link)."""
    code = board.new_code()
    base = board.config.public_base(board.config.topology.registry.hostname)
    return {"code": code, "url": f"{base}/dashboard/login/{code}",
            "expires_in": CODE_SECONDS}


@router.post("/dashboard/logout")
async def logout(request: Request, board: Board,
                 csrf_token: str = Form("", max_length=200)) -> Response:
    found = board.session(request)
    if found is None or not same_origin(request, board.own_origins()) \
            or not csrf_ok(found["csrf"], csrf_token):
        return _login_page(board, request, "Uitloggen mislukt: het formulier kwam niet van "
                           "deze pagina.", 403)
    board.sessions.pop(read_cookie(request, board.cookie) or "", None)
    response = RedirectResponse("/dashboard/login", status_code=303)
    delete_session_cookie(response, request, board.cookie, COOKIE_PATH)
    return response


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, board: Board) -> Response:
    found = board.session(request)
    if found is None and not board.bearer_ok(request):
        return RedirectResponse("/dashboard/login", status_code=303)
    topology = board.config.topology
    return _page("dashboard.html", title="Het stelsel, live", banner=topology.registry.name,
                 topology_svg=Markup(board.topology_svg()), lists=board.lists(),
                 clock=board.clock(), csrf_token=found["csrf"] if found else "",
                 nodes=[(n.id, n.name, n.role) for n in topology.nodes])


@router.get("/dashboard/static/{name}", dependencies=[Viewer])
async def static(name: str) -> Response:
    if name not in STATIC:
        raise HTTPException(404, f"no dashboard asset {name!r}")
    return Response((TEMPLATES / name).read_bytes(), media_type=STATIC[name],
                    headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/state.json", dependencies=[Viewer])
async def state_json(board: Board) -> dict:
    return {"lists": board.lists(), "clock": board.clock(), "names": board.names(),
            "feed": {"events": board.feed.last_fseq,
                     "unreachable": {k: why for k, (_t, why) in board.feed.failed.items()}}}


@router.get("/dashboard/topology.svg", dependencies=[Viewer])
async def topology_svg(board: Board) -> Response:
    return Response(board.topology_svg(), media_type="image/svg+xml")


@router.get("/dashboard/health.json", dependencies=[Viewer])
async def health_json(board: Board) -> dict:
    return {"nodes": await board.health.check(), "clock": board.clock()}


@router.get("/dashboard/events.json", dependencies=[Viewer])
async def events_json(board: Board, since: int = Query(0, ge=0)) -> dict:
    """The merged events after ``since`` (a poll; the stream below pushes the same)."""
    await board.feed.refresh()
    names = board.names()
    return {"last": board.feed.last_fseq,
            "events": [board.enrich(e, names) for e in board.feed.since(since)
                       if draw.is_shown(e)]}


@router.get("/dashboard/stream", dependencies=[Viewer])
async def stream(request: Request, board: Board, since: int = Query(0, ge=0),
                 seconds: float = Query(STREAM_SECONDS, gt=0, le=3600)) -> StreamingResponse:
    """Server-sent events: every new event of every node (no noise), with display names.
    The stream ends after ``seconds``; EventSource reconnects and resumes (Last-Event-ID).

    When the feed drops a node's events (a curator's erasure, a restart: ``Feed.forget``) the
    page is told to drop what it holds of them: ``event: forget`` with the node and the
    ``fseq`` up to which its events went. A stream starts with every drop the feed remembers
    (a reconnecting page may hold events from before one); the ``fseq`` keeps a page from
    dropping the node's later events."""
    last_id = request.headers.get("last-event-id", "")
    cursor = int(last_id) if last_id.isdigit() else since

    async def lines() -> AsyncIterator[str]:
        position = cursor
        dropped = 0  # the drops sent (``Feed.forgets`` numbers them)
        ends = time.monotonic() + seconds
        beat = time.monotonic()
        yield "retry: 1000\n\n"
        first = True
        while time.monotonic() < ends and not await request.is_disconnected():
            await board.feed.refresh()
            for number, node, through in board.feed.forgotten_after(dropped):
                dropped = number
                yield (f"event: forget\ndata: "
                       f"{json.dumps({'node': node, 'through': through})}\n\n")
            batch = board.feed.since(position)
            names = board.names() if batch else {}
            if batch:
                position = batch[-1]["fseq"]
            shown = [e for e in batch if draw.is_shown(e)]
            for event in shown[-REPLAY:] if first else shown:
                yield (f"id: {event['fseq']}\ndata: "
                           f"{json.dumps(board.enrich(event, names))}\n\n")
            first = False
            if time.monotonic() - beat > HEARTBEAT_SECONDS:
                beat = time.monotonic()
                yield ": heartbeat\n\n"
            await asyncio.sleep(TICK_SECONDS)

    return StreamingResponse(lines(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})


def _summaries(board: Dashboard, journeys: dict[str, list[dict]]) -> list[dict]:
    names = board.names()
    rows = [draw.journey_summary(key, hops, names) for key, hops in journeys.items()]
    return sorted(rows, key=lambda r: r["start"], reverse=True)


@router.get("/dashboard/journeys.json", dependencies=[Viewer])
async def journeys_json(board: Board) -> dict:
    return {"journeys": _summaries(board, await board.journeys())}


@router.get("/dashboard/journeys", response_class=HTMLResponse, dependencies=[Viewer])
async def journeys_page(board: Board) -> HTMLResponse:
    rows = _summaries(board, await board.journeys())
    return _page("dashboard_journeys.html", title="Reizen door het stelsel",
                 banner=board.config.topology.registry.name, journeys=rows,
                 when=lambda t: time.strftime("%H:%M:%S", time.localtime(t)))


def _corr(corr: str) -> str:
    if not CORR.match(corr):
        raise HTTPException(400, "not a correlation id")
    return corr


@router.get("/dashboard/journeys/{corr}.svg", dependencies=[Viewer])
async def journey_svg(board: Board, corr: str) -> Response:
    corr = _corr(corr)
    diagram = draw.sequence(corr, await board.journey(corr), board.config.topology,
                            board.names())
    return Response(draw.sequence_svg(diagram), media_type="image/svg+xml",
                    headers={"Content-Disposition": f'inline; filename="journey-{corr}.svg"'})


@router.get("/dashboard/journeys/{corr}.png", dependencies=[Viewer])
async def journey_png(board: Board, corr: str) -> Response:
    corr = _corr(corr)
    diagram = draw.sequence(corr, await board.journey(corr), board.config.topology,
                            board.names())
    png = await asyncio.to_thread(draw.sequence_png, diagram)
    return Response(png, media_type="image/png",
                    headers={"Content-Disposition": f'inline; filename="journey-{corr}.png"'})


@router.get("/dashboard/journeys/{corr}", response_class=HTMLResponse, dependencies=[Viewer])
async def journey_page(board: Board, corr: str) -> HTMLResponse:
    corr = _corr(corr)
    events = await board.journey(corr)
    names = board.names()
    diagram = draw.sequence(corr, events, board.config.topology, names)
    return _page("dashboard_journey.html", title="Reis door het stelsel",
                 banner=board.config.topology.registry.name, corr=corr,
                 summary=draw.journey_summary(corr, events, names),
                 svg=Markup(draw.sequence_svg(diagram)),
                 events=[board.enrich(e, names) for e in events])

