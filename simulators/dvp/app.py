"""The DVP node: a PGO with person accounts that collects through the MedMij flow.

Every person logs in to the PGO itself (``accounts.py``): their pages and API answer only to
their own session, every state change carries the session's CSRF token, and a MedMij callback
completes only in the browser session that started the authorization.
"""

from __future__ import annotations

import uuid
from collections import Counter
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, FastAPI, Form, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from simulators.common.app import node_app
from simulators.common.config import SandboxConfig
from simulators.common.html import escape, hidden, page
from simulators.common.http import async_client
from simulators.common.lists import ListCache
from simulators.dvp import consent, curator, portability, share
from simulators.dvp.accounts import (
    PASSWORD_MAX,
    PASSWORD_MIN,
    AccountGuard,
    Forbidden,
    Session,
    error_page,
)
from simulators.dvp.collect import (
    CollectError,
    granted_services,
    run_searches,
    token_request,
)
from simulators.dvp.curator import Curator
from simulators.dvp.store import DvpStore
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN


class PersonIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)


class LoginIn(BaseModel):
    person_id: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def pending_owner(db, state: str) -> str | None:
    """The person an open authorization belongs to, without taking it: a callback in another
    browser must not use up the state of the person's own."""
    row = db.execute("SELECT person_id FROM auth_request WHERE state = ? AND done = 0",
                     (state,)).fetchone()
    return row["person_id"] if row else None


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
        self.accounts = AccountGuard(self)

    def person_or_404(self, person_id: str) -> dict:
        person = self.store.person(person_id)
        if person is None:
            raise HTTPException(404, "no such person")
        return person

    def refuse_foreign_callback(self, request: Request, owner: str) -> Response | None:
        """A callback completes only for the browser session that started it (same person);
        otherwise a refusal, and the state stays unused for the person's own browser."""
        session = self.accounts.current(request)
        if session is not None and session.person_id == owner:
            return None
        reason = ("this authorization was started by another PGO session: open the link in "
                  "the browser where you started it, logged in to your own account")
        if wants_html(request):
            return error_page("Koppeling niet voltooid", "Deze koppeling is gestart vanuit een "
                              "andere sessie. Log in op uw eigen account in de browser waarin u "
                              "de koppeling startte.", 403, self.node.name)
        return JSONResponse({"status": "refused", "error": "session_mismatch",
                             "error_description": reason}, status_code=403)

    def collect_failed(self, request: Request, exc: CollectError, body: dict,
                       retry: str) -> Response:
        """A failed token or resource step: the protocol's error, never a 500. A DVA that gives
        no answer in time (``temporarily_unavailable``) is a 504 with a way to try again: a new
        connect (the code may have been used by the DVA, so it is not sent twice)."""
        status = 504 if exc.status == 504 else 502  # a gateway: the DVA's fault, not ours
        if wants_html(request):
            session = self.accounts.current(request)
            path, _, query = retry.partition("?")
            fields = dict(parse_qsl(query))
            form = (f"<form method='post' action='{escape(path)}'>"
                    + hidden("csrf_token", session.csrf_token if session else "")
                    + "".join(hidden(k, v) for k, v in fields.items())
                    + "<button type='submit'>Opnieuw proberen</button></form>")
            message = ("De zorgaanbieder antwoordde niet op tijd. Uw gegevens zijn niet "
                       "opgehaald; u kunt het opnieuw proberen." if status == 504 else
                       f"Ophalen mislukt bij stap {exc.step}: {exc.error}.")
            return error_page("Ophalen mislukt", message, status, self.node.name, form)
        return JSONResponse(body | {"status": "failed", "step": exc.step, "error": exc.error,
                                    "error_description": exc.description, "retry": retry},
                            status_code=status)


def create_app(config: SandboxConfig, node_id: str) -> FastAPI:
    dvp = DVP(config, node_id)
    node, store, lists = dvp.node, dvp.store, dvp.lists
    redirect_uri = dvp.redirect_uri
    guard = dvp.accounts

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        lists.start()
        yield
        await lists.stop()
        await dvp.client.aclose()

    app = node_app(config, node_id, node.name, lifespan)
    app.state.dvp = dvp
    guard.install(app)

    async def ready() -> bool:
        return lists.ready.is_set()

    app.state.ready = ready
    person_or_404 = dvp.person_or_404
    person = Depends(guard.person)
    any_session = Depends(guard.session)

    def account_answer(request: Request, person_id: str, name: str, status: int) -> Response:
        return guard.login(request, person_id, lambda session: JSONResponse(
            {"id": person_id, "name": name, "csrf_token": session.csrf_token},
            status_code=status))

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        """Log in or create an account; nobody can list the accounts of a PGO."""
        providers = "".join(f"<li>{escape(p)}</li>" for p in sorted(lists.lists.zal))
        notice = (f"<p class='error' role='alert'>{escape(dvp.curator.notice)}</p>"
                  if dvp.curator.active else "")
        session = guard.current(request)
        mine = (f"<p>U bent ingelogd: <a href='/persons/{escape(session.person_id)}'>naar uw "
                "gegevens</a></p>" if session else "")

        def render(token: str) -> Response:
            return HTMLResponse(page(node.name, home_body(notice, mine, providers, token),
                                     "PGO (sandbox)"))

        return guard.pre_session(request, render)

    def home_body(notice: str, mine: str, providers: str, token: str) -> str:
        return (notice + mine + f"<h2>Zorgaanbieders</h2><ul>{providers}</ul>"
                "<h2>Inloggen</h2><form method='post' action='/login'>"
                + hidden("csrf_token", token) +
                "<label>Accountnummer <input name='person_id' required></label> "
                "<label>Wachtwoord <input name='password' type='password' required></label> "
                "<button type='submit'>Inloggen</button></form>"
                "<h2>Account aanmaken</h2><form method='post' action='/persons'>"
                + hidden("csrf_token", token) +
                "<label>Naam <input name='name' required></label> "
                f"<label>Wachtwoord <input name='password' type='password' "
                f"minlength='{PASSWORD_MIN}' required></label> "
                "<button type='submit'>Account aanmaken</button></form>")

    @app.post("/persons")
    async def add_person_form(request: Request,
                              name: str = Form(..., min_length=1, max_length=200),
                              password: str = Form(..., min_length=PASSWORD_MIN,
                                                   max_length=PASSWORD_MAX)):
        """The page's form: create an account, log in and go to it."""
        await guard.check_pre_session(request)
        person_id = store.add_person(name)
        await guard.set_password(person_id, password)
        return guard.login(request, person_id, lambda _: RedirectResponse(
            f"/persons/{person_id}", status_code=303))

    @app.post("/login")
    async def login_form(request: Request, person_id: str = Form(..., max_length=200),
                         password: str = Form(..., max_length=PASSWORD_MAX)):
        await guard.check_pre_session(request)
        if not await guard.check_password(person_id, password):
            return error_page("Inloggen mislukt", "Accountnummer of wachtwoord klopt niet.",
                              401, node.name)
        return guard.login(request, person_id, lambda _: RedirectResponse(
            f"/persons/{person_id}", status_code=303))

    @app.post("/logout")
    async def logout_form(request: Request, _: Session = any_session):
        response = RedirectResponse("/", status_code=303)
        guard.logout(request, response)
        return response

    @app.post("/api/persons", status_code=201)
    async def add_person(request: Request, body: PersonIn) -> Response:
        """Create an account; creating it logs you in (session cookie + CSRF token)."""
        await guard.check_origin(request)
        person_id = store.add_person(body.name)
        await guard.set_password(person_id, body.password)
        return account_answer(request, person_id, body.name, 201)

    @app.post("/api/login")
    async def login(request: Request, body: LoginIn) -> Response:
        await guard.check_origin(request)
        if not await guard.check_password(body.person_id, body.password):
            return JSONResponse({"error": "invalid_credentials",
                                 "error_description": "unknown account or wrong password"},
                                status_code=401)
        found = person_or_404(body.person_id)
        return account_answer(request, body.person_id, found["name"], 200)

    @app.post("/api/logout")
    async def logout(request: Request, _: Session = any_session) -> Response:
        response = JSONResponse({"status": "logged_out"})
        guard.logout(request, response)
        return response

    @app.get("/api/persons/{person_id}", dependencies=[person])
    async def get_person(person_id: str) -> dict:
        found = person_or_404(person_id)
        grants = [{k: g[k] for k in ("provider", "scope", "services", "updated")}
                  | {"long_lived": g["refresh_token"] is not None}
                  for g in store.grants(person_id)]
        return {**found, "grants": grants}

    def curator_refusal(request: Request) -> Response:
        if wants_html(request):
            return error_page("Ophalen niet mogelijk", dvp.curator.notice, 403, node.name)
        return JSONResponse({"error": "curator", "notice": dvp.curator.notice},
                            status_code=403)

    def offered(provider: str, service: str | None) -> dict:
        services = lists.lists.zal.get(provider)
        if not services:
            raise HTTPException(404, f"{provider} is not on the Zorgaanbiederslijst")
        if service is not None and service not in services:
            raise HTTPException(404, f"{provider} offers no gegevensdienst {service}")
        return services

    @app.get("/persons/{person_id}/connect", response_class=HTMLResponse)
    async def connect_page(request: Request, person_id: str, provider: str,
                           service: str | None = None, session: Session = person) -> Response:
        """Ask before leaving for the provider: a page whose form starts the authorization
        (a link alone could be followed by any site that wants the person to consent)."""
        person_or_404(person_id)
        if dvp.curator.active:
            return curator_refusal(request)
        offered(provider, service)
        what = f"gegevensdienst {service}" if service else "alle gegevens"
        body = (f"<p>Gegevens ophalen bij <strong>{escape(provider)}</strong> ({escape(what)})."
                " U logt in met DigiD en geeft toestemming bij de zorgaanbieder.</p>"
                f"<form method='post' action='/persons/{escape(person_id)}/connect'>"
                + hidden("csrf_token", session.csrf_token) + hidden("provider", provider)
                + (hidden("service", service) if service else "")
                + "<button type='submit'>Ophalen</button></form>")
        return HTMLResponse(page("Zorgaanbieder koppelen", body, node.name))

    @app.post("/persons/{person_id}/connect", dependencies=[person])
    async def connect(request: Request, person_id: str,
                      provider: str = Form(..., max_length=300),
                      service: str | None = Form(None, max_length=20),
                      x_correlation_id: str | None = Header(None)):
        """Start collecting from a provider: send the browser to its DVA's authorize endpoint."""
        person_or_404(person_id)
        if dvp.curator.active:
            return curator_refusal(request)
        services = offered(provider, service or None)
        service = service or None
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
    async def callback(request: Request, state: str = Query(..., max_length=200),
                       code: str | None = None, error: str | None = None,
                       error_description: str | None = None):
        owner = pending_owner(store.db, state)
        if owner is None:
            raise HTTPException(400, "unknown or already used state")
        refused = dvp.refuse_foreign_callback(request, owner)
        if refused is not None:
            return refused
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
        retry = (f"/persons/{pending['person_id']}/connect?"
                 + urlencode({"provider": pending["provider"]}
                             | ({"service": pending["services"][0]}
                                if "~" in pending["scope"] else {})))
        try:
            token = await token_request(dvp.client, services[available[0]], {
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
                    results += await run_searches(dvp.client, services[service], service,
                                                  token["access_token"], correlation_id)
        except CollectError as exc:
            return dvp.collect_failed(request, exc, {"provider": pending["provider"],
                                                     "correlation_id": correlation_id}, retry)
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

    @app.get("/api/persons/{person_id}/resources", dependencies=[person])
    async def resources(person_id: str) -> dict:
        person_or_404(person_id)
        items = store.resources(person_id)
        counts = Counter(i["resource"]["resourceType"] for i in items)
        return {"total": len(items), "by_type": dict(sorted(counts.items())), "items": items}

    @app.get("/api/persons/{person_id}/log", dependencies=[person])
    async def request_log(person_id: str) -> list[dict]:
        person_or_404(person_id)
        return store.request_log(person_id)

    @app.get("/persons/{person_id}", response_class=HTMLResponse)
    async def person_page(person_id: str, session: Session = person) -> str:
        found = person_or_404(person_id)
        items = store.resources(person_id)
        counts = Counter((i["provider"], i["resource"]["resourceType"]) for i in items)
        rows = "".join(f"<tr><td>{escape(p)}</td><td>{t}</td><td>{n}</td></tr>"
                       for (p, t), n in sorted(counts.items()))
        connect_links = "".join(
            f"<li><a href='/persons/{escape(person_id)}/connect?{urlencode({'provider': p})}'>"
            f"{escape(p)}</a></li>" for p in sorted(lists.lists.zal))
        body = (f"<p>Accountnummer (om in te loggen): <code>{escape(person_id)}</code></p>"
                f"<h2>Opgehaald</h2><table><tr><th>Zorgaanbieder</th><th>Type</th>"
                f"<th>Aantal</th></tr>{rows}</table><h2>Zorgaanbieder koppelen</h2>"
                f"<ul>{connect_links}</ul><form method='post' action='/logout'>"
                + hidden("csrf_token", session.csrf_token)
                + "<button type='submit'>Uitloggen</button></form>")
        return page(found["name"], body, node.name)

    # Further flows plug in as routers on the same DVP context:
    app.include_router(portability.build_router(dvp))
    app.include_router(curator.build_router(dvp))
    app.include_router(share.build_router(dvp))
    app.include_router(consent.build_router(dvp))
    return app


__all__ = ["DVP", "Forbidden", "create_app"]
