"""The DVP node: a PGO with person accounts that collects through the MedMij flow."""

from __future__ import annotations

import uuid
from collections import Counter
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from simulators.common.app import node_app
from simulators.common.config import SandboxConfig
from simulators.common.gegevensdiensten import GEGEVENSDIENSTEN
from simulators.common.html import escape, page
from simulators.common.http import async_client
from simulators.common.lists import ListCache
from simulators.dvp import consent, curator, portability, share
from simulators.dvp.collect import (
    CollectError,
    granted_services,
    run_searches,
    token_request,
)
from simulators.dvp.curator import Curator
from simulators.dvp.store import DvpStore


class PersonIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


class DVP:
    """Everything one DVP node holds; its routers (collect, portability, share …) read it."""

    def __init__(self, config: SandboxConfig, node_id: str) -> None:
        self.config = config
        self.node = config.topology.node(node_id)
        self.hostname = self.node.hostname
        self.node_dir = config.node_dir(node_id)
        self.store = DvpStore(self.node_dir / "dvp.sqlite")
        self.curator = Curator.load(self.node_dir / "curator.json")
        self.client = async_client(config.addresses)
        self.lists = ListCache(config.public_base(config.topology.registry.hostname),
                               self.client, config.topology.list_refresh_seconds)
        self.redirect_uri = config.public_url(self.hostname, "/oauth/callback")

    def person_or_404(self, person_id: str) -> dict:
        person = self.store.person(person_id)
        if person is None:
            raise HTTPException(404, "no such person")
        return person


def create_app(config: SandboxConfig, node_id: str) -> FastAPI:
    dvp = DVP(config, node_id)
    node, store, client, lists = dvp.node, dvp.store, dvp.client, dvp.lists
    redirect_uri = dvp.redirect_uri

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        lists.start()
        yield
        await lists.stop()
        await client.aclose()

    app = node_app(config, node_id, node.name, lifespan)
    app.state.dvp = dvp

    async def ready() -> bool:
        return lists.ready.is_set()

    app.state.ready = ready
    person_or_404 = dvp.person_or_404

    @app.get("/", response_class=HTMLResponse)
    async def home() -> str:
        providers = "".join(f"<li>{escape(p)}</li>" for p in sorted(lists.lists.zal))
        persons = "".join(
            f"<li><a href='/persons/{p['id']}'>{escape(p['name'])}</a></li>"
            for p in store.persons()
        )
        notice = (f"<p class='error' role='alert'>{escape(dvp.curator.notice)}</p>"
                  if dvp.curator.active else "")
        body = (notice + f"<h2>Zorgaanbieders</h2><ul>{providers}</ul>"
                f"<h2>Gebruikers</h2><ul>{persons or '<li>nog geen</li>'}</ul>"
                "<form method='post' action='/persons'><label>Naam <input name='name' required>"
                "</label> <button type='submit'>Account aanmaken</button></form>")
        return page(node.name, body, "PGO (sandbox)")

    @app.post("/persons")
    async def add_person_form(name: str = Form(..., min_length=1, max_length=200)):
        """The page's form: create an account and go to it."""
        return RedirectResponse(f"/persons/{store.add_person(name)}", status_code=303)

    @app.post("/api/persons", status_code=201)
    async def add_person(person: PersonIn) -> dict:
        return {"id": store.add_person(person.name), "name": person.name}

    @app.get("/api/persons/{person_id}")
    async def get_person(person_id: str) -> dict:
        person = person_or_404(person_id)
        grants = [{k: g[k] for k in ("provider", "scope", "services", "updated")}
                  | {"long_lived": g["refresh_token"] is not None}
                  for g in store.grants(person_id)]
        return {**person, "grants": grants}

    @app.get("/persons/{person_id}/connect")
    async def connect(person_id: str, provider: str, service: str | None = None,
                      x_correlation_id: str | None = Header(None)):
        """Start collecting from a provider: send the browser to its DVA's authorize endpoint."""
        person_or_404(person_id)
        if dvp.curator.active:
            return JSONResponse({"error": "curator", "notice": dvp.curator.notice},
                                status_code=403)
        services = lists.lists.zal.get(provider)
        if not services:
            raise HTTPException(404, f"{provider} is not on the Zorgaanbiederslijst")
        if service is not None and service not in services:
            raise HTTPException(404, f"{provider} offers no gegevensdienst {service}")
        slug = provider.removesuffix("@medmij")
        scope = f"{slug}~{service}" if service else slug
        wanted = [service] if service else sorted(services)
        correlation_id = x_correlation_id or str(uuid.uuid4())
        state = store.start_authorization(person_id, provider, scope, wanted, correlation_id)
        endpoints = services[wanted[0]]
        query = urlencode({"response_type": "code", "client_id": node.hostname,
                           "redirect_uri": redirect_uri, "scope": scope, "state": state})
        return RedirectResponse(f"{endpoints.authorize}?{query}", status_code=302)

    @app.get("/oauth/callback")
    async def callback(request: Request, state: str = Query(...), code: str | None = None,
                       error: str | None = None, error_description: str | None = None):
        pending = store.take_authorization(state)
        if pending is None:
            raise HTTPException(400, "unknown or already used state")
        correlation_id = pending["correlation_id"]
        if error:
            body = {"status": "refused", "error": error, "error_description": error_description,
                    "provider": pending["provider"], "correlation_id": correlation_id}
            return JSONResponse(body, status_code=400)
        if not code:
            raise HTTPException(400, "callback without code or error")
        if dvp.curator.active:
            return JSONResponse({"status": "refused", "error": "curator",
                                 "notice": dvp.curator.notice}, status_code=403)
        services = lists.lists.zal.get(pending["provider"], {})
        available = [s for s in pending["services"] if s in services]
        if not available:
            raise HTTPException(409, f"{pending['provider']} left the Zorgaanbiederslijst")
        try:
            token = await token_request(client, services[available[0]], {
                "grant_type": "authorization_code", "code": code, "client_id": node.hostname,
                "redirect_uri": redirect_uri}, correlation_id)
            available = granted_services(token, pending["provider"], available)
            results, replayed = [], []
            for service in available:
                replay = portability.pending_replay(dvp, pending["person_id"],
                                                    pending["provider"], service)
                if replay:  # an imported portability report: send exactly its requests
                    results += await portability.replay(
                        dvp, services[service], service, token["access_token"], replay,
                        correlation_id, GEGEVENSDIENSTEN[service].fhir_version)
                    replayed.append(service)
                else:
                    results += await run_searches(client, services[service], service,
                                                  token["access_token"], correlation_id)
        except CollectError as exc:
            return JSONResponse({"status": "failed", "step": exc.step, "error": exc.error,
                                 "error_description": exc.description,
                                 "correlation_id": correlation_id}, status_code=502)
        store.save_grant(pending["person_id"], pending["provider"], pending["scope"], available,
                         token)
        stored = store.store_collect(pending["person_id"], pending["provider"], results,
                                     correlation_id)
        for service in replayed:  # only once what they rebuilt is stored
            portability.mark_replayed(dvp, pending["person_id"], pending["provider"], service)
        failed = [r.request_uri for r in results if r.status != 200]
        summary = {
            "status": "collected" if not failed else "partial",
            "person_id": pending["person_id"], "provider": pending["provider"],
            "gegevensdiensten": available, "requests": len(results), "failed_requests": failed,
            "resources": stored, "long_lived": "refresh_token" in token,
            "correlation_id": correlation_id,
        }
        if wants_html(request):
            return RedirectResponse(f"/persons/{pending['person_id']}", status_code=303)
        return JSONResponse(summary, status_code=200 if not failed else 502)

    @app.get("/api/persons/{person_id}/resources")
    async def resources(person_id: str) -> dict:
        person_or_404(person_id)
        items = store.resources(person_id)
        counts = Counter(i["resource"]["resourceType"] for i in items)
        return {"total": len(items), "by_type": dict(sorted(counts.items())), "items": items}

    @app.get("/api/persons/{person_id}/log")
    async def request_log(person_id: str) -> list[dict]:
        person_or_404(person_id)
        return store.request_log(person_id)

    @app.get("/persons/{person_id}", response_class=HTMLResponse)
    async def person_page(person_id: str) -> str:
        person = person_or_404(person_id)
        items = store.resources(person_id)
        counts = Counter((i["provider"], i["resource"]["resourceType"]) for i in items)
        rows = "".join(f"<tr><td>{escape(p)}</td><td>{t}</td><td>{n}</td></tr>"
                       for (p, t), n in sorted(counts.items()))
        connect = "".join(
            f"<li><a href='/persons/{person_id}/connect?provider={p}'>{escape(p)}</a></li>"
            for p in sorted(lists.lists.zal))
        body = (f"<h2>Opgehaald</h2><table><tr><th>Zorgaanbieder</th><th>Type</th><th>Aantal</th>"
                f"</tr>{rows}</table><h2>Zorgaanbieder koppelen</h2><ul>{connect}</ul>")
        return page(person["name"], body, node.name)

    # Further flows plug in as routers on the same DVP context:
    app.include_router(portability.build_router(dvp))
    app.include_router(curator.build_router(dvp))
    app.include_router(share.build_router(dvp))
    app.include_router(consent.build_router(dvp))
    return app
