"""The inspection function: DigiD login, localisation by pseudonym, live collect, one overview.

Browser binding (issue 11 item 2): ``/start`` opens a session in this browser (HttpOnly cookie
``<node id>_session``) and sends DigiD a fresh one-time ``RelayState`` that only the server
knows, stored with that session. ``/digid/acs`` completes the login only when the browser
presents that cookie and the ``RelayState`` of its own pending login. A DigiD link carrying
someone else's ``RelayState`` (login CSRF: the attacker's session listing the victim's
providers) therefore binds nothing, in the attacker's session nor in the victim's.

Data minimisation (issue 11 item 4): the function needs the person only to find providers.
From DigiD's artifact answer it reads the localisation pseudonym and nothing else (never a
BSN); the registry answers by pseudonym. It keeps per session only which providers remain,
the OAuth states in flight and per provider counts, all in memory, and forgets the session
once the overview is shown or the session expires: nothing is written to disk.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from simulators.common.app import node_app, require_admin
from simulators.common.config import SandboxConfig
from simulators.common.html import escape, page
from simulators.common.http import async_client, medmij_headers
from simulators.common.lists import ListCache
from simulators.common.security import csrf_ok, new_token, set_session_cookie
from simulators.dvp.collect import CollectError, run_searches, token_request

SESSION_SECONDS = 15 * 60


@dataclass
class ViewSession:
    """One browser's visit. ``relay_state`` is set while its DigiD login is pending and
    cleared when used (one time); ``logged_in`` once DigiD confirmed it for this browser."""

    correlation_id: str
    created: float
    relay_state: str | None = None
    logged_in: bool = False
    queue: list[dict] = field(default_factory=list)  # providers still to visit
    pending: dict[str, dict] = field(default_factory=dict)  # OAuth state -> provider entry
    results: list[dict] = field(default_factory=list)  # per provider: counts, status

    def held(self) -> dict:
        """What this session holds, for the admin view (no tokens, no states)."""
        return {"logged_in": self.logged_in, "login_pending": self.relay_state is not None,
                "queue": self.queue, "pending": list(self.pending.values()),
                "results": self.results}


def create_app(config: SandboxConfig, node_id: str, *,
               client: httpx.AsyncClient | None = None,
               clock: Callable[[], float] = time.monotonic) -> FastAPI:
    """The inspection node. ``client`` (back-channel to DigiD, registry and DVAs) and
    ``clock`` (session expiry) can be injected by in-process tests."""
    node = config.topology.node(node_id)
    client = client or async_client(config.addresses)
    registry_base = config.public_base(config.topology.registry.hostname)
    digid_base = config.public_base(config.topology.digid.hostname)
    lists = ListCache(registry_base, client, config.topology.list_refresh_seconds)
    redirect_uri = config.public_url(node.hostname, "/oauth/callback")
    cookie_name = f"{node_id}_session"  # one cookie jar for every 127.0.0.1 port
    sessions: dict[str, ViewSession] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        lists.start()
        yield
        await lists.stop()
        await client.aclose()

    app = node_app(config, node_id, node.name, lifespan)

    async def ready() -> bool:
        return lists.ready.is_set()

    app.state.ready = ready

    def refused(message: str, status: int = 400) -> HTMLResponse:
        """The person-facing error: a Dutch page, never a traceback."""
        body = (f"<p class='error' role='alert'>{escape(message)}</p>"
                "<p><a href='/'>Opnieuw beginnen</a></p>")
        return HTMLResponse(page("Uw gezondheidsoverzicht", body, node.name), status_code=status)

    def expire() -> None:
        """Forget sessions older than SESSION_SECONDS, with whatever they held."""
        now = clock()
        for sid in [s for s, v in sessions.items() if now - v.created > SESSION_SECONDS]:
            del sessions[sid]

    def this_browser(request: Request) -> tuple[str, ViewSession] | tuple[None, None]:
        """The session of the browser's own cookie, never one named in the URL."""
        expire()
        sid = request.cookies.get(cookie_name) or ""
        session = sessions.get(sid)
        return (sid, session) if session is not None else (None, None)

    @app.get("/", response_class=HTMLResponse)
    async def home() -> str:
        body = ("<p>Bekijk welke zorgaanbieders gegevens over u hebben, zonder een PGO te kiezen."
                " Er wordt niets opgeslagen.</p><p><a href='/start'>Inloggen met DigiD</a></p>")
        return page(node.name, body, "Publieke inzagefunctie (sandbox)")

    @app.get("/start")
    async def start(request: Request):
        """A new session in this browser and a DigiD login for it; an earlier session of the
        same browser is dropped with what it held."""
        old = request.cookies.get(cookie_name)
        if old:
            sessions.pop(old, None)
        expire()
        session_id, relay_state = new_token(), new_token()
        sessions[session_id] = ViewSession(correlation_id=str(uuid.uuid4()), created=clock(),
                                           relay_state=relay_state)
        query = urlencode({"rp": node.hostname, "return_to": config.public_url(
            node.hostname, "/digid/acs"), "RelayState": relay_state})
        response = RedirectResponse(f"{digid_base}/login?{query}", status_code=302)
        set_session_cookie(response, cookie_name, session_id, max_age=SESSION_SECONDS,
                           secure=request.url.scheme == "https")
        return response

    @app.get("/digid/acs")
    async def digid_return(request: Request, saml_art: str = Query("", alias="SAMLart"),
                           relay_state: str = Query("", alias="RelayState")):
        """DigiD's return: only for the browser whose own pending login has this RelayState."""
        _sid, session = this_browser(request)
        if session is None or not csrf_ok(session.relay_state, relay_state):
            return refused("Deze DigiD-login is niet in deze browser begonnen. Start opnieuw "
                           "bij Mijn Gezondheidsoverzicht.", 403)
        session.relay_state = None  # one time: a replayed return binds nothing
        if not saml_art:
            return refused("DigiD gaf geen bevestiging van uw login.")
        try:
            answer = await client.post(f"{digid_base}/artifact",
                                       data={"artifact": saml_art, "rp": node.hostname})
            # the pseudonym only: whatever else DigiD's answer carries is neither read nor kept
            pseudonym = answer.json().get("localisation_pseudonym") \
                if answer.status_code == 200 else None
            if not isinstance(pseudonym, str) or not pseudonym:
                return refused("Uw DigiD-login kon niet worden bevestigd.")
            found = await client.get(f"{registry_base}/localisation",
                                     params={"pseudonym": pseudonym},
                                     headers=medmij_headers(session.correlation_id))
            found.raise_for_status()
            providers = found.json()["providers"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return refused("De zorgaanbieders konden nu niet worden opgezocht. Probeer het later "
                           "opnieuw.", 502)
        session.queue = [{"provider": e["provider"], "gegevensdiensten": e["gegevensdiensten"]}
                         for e in providers]
        session.logged_in = True
        return RedirectResponse("/next", status_code=303)

    @app.get("/next")
    async def next_provider(request: Request):
        _sid, session = this_browser(request)
        if session is None or not session.logged_in:
            return refused("U bent niet ingelogd. Start bij Mijn Gezondheidsoverzicht.", 403)
        while session.queue:
            entry = session.queue.pop(0)
            services = lists.lists.zal.get(entry["provider"], {})
            wanted = [s for s in entry["gegevensdiensten"] if s in services]
            if not wanted:
                continue
            state = new_token()
            session.pending[state] = {**entry, "gegevensdiensten": wanted}
            query = urlencode({"response_type": "code", "client_id": node.hostname,
                               "redirect_uri": redirect_uri, "state": state,
                               "scope": entry["provider"].removesuffix("@medmij")})
            return RedirectResponse(f"{services[wanted[0]].authorize}?{query}", status_code=302)
        return RedirectResponse("/overview", status_code=303)

    @app.get("/oauth/callback")
    async def callback(request: Request, state: str = "", code: str | None = None,
                       error: str | None = None, error_description: str | None = None):
        _sid, session = this_browser(request)
        if session is None or not session.logged_in:
            return refused("U bent niet ingelogd. Start bij Mijn Gezondheidsoverzicht.", 403)
        entry = session.pending.pop(state, None)
        if entry is None:
            return refused("Onbekend of al gebruikt antwoord van de zorgaanbieder.")
        result = {"provider": entry["provider"], "gegevensdiensten": entry["gegevensdiensten"]}
        if error:
            result |= {"status": "refused", "error": error, "error_description": error_description}
        else:
            services = lists.lists.zal.get(entry["provider"], {})
            try:
                first = services[entry["gegevensdiensten"][0]]
                token = await token_request(client, first, {
                    "grant_type": "authorization_code", "code": code,
                    "client_id": node.hostname, "redirect_uri": redirect_uri},
                    session.correlation_id)
                counts: Counter = Counter()
                for service in entry["gegevensdiensten"]:
                    for r in await run_searches(client, services[service], service,
                                                token["access_token"], session.correlation_id):
                        counts.update(x["resourceType"] for x in r.resources)
                result |= {"status": "collected", "resources": sum(counts.values()),
                           "by_type": dict(sorted(counts.items()))}
            except (CollectError, KeyError) as exc:
                result |= {"status": "failed", "error": str(exc)}
        session.results.append(result)
        return RedirectResponse("/next", status_code=303)

    @app.get("/overview")
    async def overview(request: Request):
        sid, session = this_browser(request)
        if session is None or not session.logged_in:
            return refused("U bent niet ingelogd. Start bij Mijn Gezondheidsoverzicht.", 403)
        del sessions[sid]  # shown once, then forgotten
        body = {"providers": session.results,
                "total": sum(r.get("resources", 0) for r in session.results),
                "correlation_id": session.correlation_id}
        if "text/html" not in request.headers.get("accept", ""):
            response: HTMLResponse | JSONResponse = JSONResponse(body)
        else:
            rows = "".join(
                f"<tr><td>{escape(r['provider'])}</td><td>{escape(r['status'])}</td>"
                f"<td>{r.get('resources', 0)}</td></tr>" for r in session.results)
            html = (f"<table><tr><th>Zorgaanbieder</th><th>Status</th><th>Gegevens</th></tr>"
                    f"{rows}</table><p class='note'>Deze gegevens worden niet bewaard.</p>")
            response = HTMLResponse(page("Uw gezondheidsoverzicht", html, node.name))
        response.delete_cookie(cookie_name)
        return response

    @app.get("/admin/state", dependencies=[Depends(require_admin)])
    async def state() -> dict:
        """What the function holds right now, in full: for the 'stores nothing' and 'no BSN'
        checks (admin token required: it is about people)."""
        expire()
        return {"sessions": len(sessions),
                "results_held": sum(len(s.results) for s in sessions.values()),
                "held": [s.held() for s in sessions.values()]}

    return app
