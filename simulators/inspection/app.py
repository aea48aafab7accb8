"""The inspection function: DigiD login, localisation by pseudonym, live collect, one overview.

It keeps a person's data only in memory, for the one overview being assembled, and forgets it
once shown: nothing is written to disk (a test checks the node's state after a view).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

from fastapi import Cookie, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from simulators.common.app import node_app
from simulators.common.config import SandboxConfig
from simulators.common.html import escape, page
from simulators.common.http import async_client, medmij_headers
from simulators.common.lists import ListCache
from simulators.dvp.collect import CollectError, run_searches, token_request

SESSION_SECONDS = 15 * 60


@dataclass
class ViewSession:
    correlation_id: str
    created: float = field(default_factory=time.monotonic)
    queue: list[dict] = field(default_factory=list)  # providers still to visit
    pending: dict[str, dict] = field(default_factory=dict)  # OAuth state -> provider entry
    results: list[dict] = field(default_factory=list)  # per provider: counts, status


def create_app(config: SandboxConfig, node_id: str) -> FastAPI:
    node = config.topology.node(node_id)
    client = async_client(config.addresses)
    registry_base = config.public_base(config.topology.registry.hostname)
    digid_base = config.public_base(config.topology.digid.hostname)
    lists = ListCache(registry_base, client, config.topology.list_refresh_seconds)
    redirect_uri = config.public_url(node.hostname, "/oauth/callback")
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

    def session_or_400(session_id: str | None) -> ViewSession:
        now = time.monotonic()
        for sid in [s for s, v in sessions.items() if now - v.created > SESSION_SECONDS]:
            del sessions[sid]
        session = sessions.get(session_id or "")
        if session is None:
            raise HTTPException(400, "no inspection session: start at /start")
        return session

    @app.get("/", response_class=HTMLResponse)
    async def home() -> str:
        body = ("<p>Bekijk welke zorgaanbieders gegevens over u hebben, zonder een PGO te kiezen."
                " Er wordt niets opgeslagen.</p><p><a href='/start'>Inloggen met DigiD</a></p>")
        return page(node.name, body, "Publieke inzagefunctie (sandbox)")

    @app.get("/start")
    async def start():
        session_id = str(uuid.uuid4())
        sessions[session_id] = ViewSession(correlation_id=str(uuid.uuid4()))
        query = urlencode({"rp": node.hostname, "return_to": config.public_url(
            node.hostname, "/digid/acs"), "RelayState": session_id})
        response = RedirectResponse(f"{digid_base}/login?{query}", status_code=302)
        response.set_cookie("mgo_session", session_id, httponly=True, samesite="lax")
        return response

    @app.get("/digid/acs")
    async def digid_return(saml_art: str = Query(alias="SAMLart"),
                           relay_state: str = Query(alias="RelayState")):
        session = session_or_400(relay_state)
        response = await client.post(f"{digid_base}/artifact",
                                     data={"artifact": saml_art, "rp": node.hostname})
        if response.status_code != 200:
            raise HTTPException(400, "DigiD login could not be confirmed")
        pseudonym = response.json()["localisation_pseudonym"]
        found = await client.get(f"{registry_base}/localisation", params={"pseudonym": pseudonym},
                                 headers=medmij_headers(session.correlation_id))
        found.raise_for_status()
        session.queue = found.json()["providers"]
        return RedirectResponse("/next", status_code=303)

    @app.get("/next")
    async def next_provider(mgo_session: str | None = Cookie(None)):
        session = session_or_400(mgo_session)
        while session.queue:
            entry = session.queue.pop(0)
            services = lists.lists.zal.get(entry["provider"], {})
            wanted = [s for s in entry["gegevensdiensten"] if s in services]
            if not wanted:
                continue
            state = str(uuid.uuid4())
            session.pending[state] = {**entry, "gegevensdiensten": wanted}
            query = urlencode({"response_type": "code", "client_id": node.hostname,
                               "redirect_uri": redirect_uri, "state": state,
                               "scope": entry["provider"].removesuffix("@medmij")})
            return RedirectResponse(f"{services[wanted[0]].authorize}?{query}", status_code=302)
        return RedirectResponse("/overview", status_code=303)

    @app.get("/oauth/callback")
    async def callback(state: str, code: str | None = None, error: str | None = None,
                       error_description: str | None = None,
                       mgo_session: str | None = Cookie(None)):
        session = session_or_400(mgo_session)
        entry = session.pending.pop(state, None)
        if entry is None:
            raise HTTPException(400, "unknown or already used state")
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
    async def overview(request: Request, mgo_session: str | None = Cookie(None)):
        session = session_or_400(mgo_session)
        del sessions[mgo_session]  # shown once, then forgotten
        body = {"providers": session.results,
                "total": sum(r.get("resources", 0) for r in session.results),
                "correlation_id": session.correlation_id}
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse(body)
        rows = "".join(
            f"<tr><td>{escape(r['provider'])}</td><td>{escape(r['status'])}</td>"
            f"<td>{r.get('resources', 0)}</td></tr>" for r in session.results)
        html = (f"<table><tr><th>Zorgaanbieder</th><th>Status</th><th>Gegevens</th></tr>{rows}"
                "</table><p class='note'>Deze gegevens worden niet bewaard.</p>")
        return HTMLResponse(page("Uw gezondheidsoverzicht", html, node.name))

    @app.get("/admin/state")
    async def state() -> dict:
        """What the function holds right now: for the 'stores nothing' check."""
        return {"sessions": len(sessions),
                "results_held": sum(len(s.results) for s in sessions.values())}

    return app
