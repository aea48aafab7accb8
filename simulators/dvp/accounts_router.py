"""Account routes of a DVP: the start page, create an account, log in and out, the person's
own page and summary. Sessions and CSRF are ``accounts.AccountGuard``'s; refusals are
``errors.DvpError``s answered in one place."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from simulators.common.html import escape, hidden, page
from simulators.dvp.accounts import PASSWORD_MAX, PASSWORD_MIN
from simulators.dvp.deps import DVP, AnySession, DvpDep, PersonSession, current_person
from simulators.dvp.errors import InvalidCredentials

router = APIRouter(tags=["accounts"])


class PersonIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)


class LoginIn(BaseModel):
    person_id: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)


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


@router.get("/", response_class=HTMLResponse)
async def home(dvp: DvpDep, request: Request) -> Response:
    """Log in or create an account; nobody can list the accounts of a PGO."""
    providers = "".join(f"<li>{escape(p)}</li>" for p in sorted(dvp.lists.lists.zal))
    notice = (f"<p class='error' role='alert'>{escape(dvp.curator.notice)}</p>"
              if dvp.curator.active else "")
    session = dvp.accounts.current(request)
    mine = (f"<p>U bent ingelogd: <a href='/persons/{escape(session.person_id)}'>naar uw "
            "gegevens</a></p>" if session else "")

    def render(token: str) -> Response:
        return HTMLResponse(page(dvp.node.name, home_body(notice, mine, providers, token),
                                 "PGO (sandbox)"))

    return dvp.accounts.pre_session(request, render)


@router.post("/persons")
async def add_person_form(dvp: DvpDep, request: Request,
                          name: str = Form(..., min_length=1, max_length=200),
                          password: str = Form(..., min_length=PASSWORD_MIN,
                                               max_length=PASSWORD_MAX)):
    """The page's form: create an account, log in and go to it."""
    await dvp.accounts.check_pre_session(request)
    person_id = dvp.store.add_person(name)
    await dvp.accounts.set_password(person_id, password)
    return dvp.accounts.login(request, person_id, lambda _: RedirectResponse(
        f"/persons/{person_id}", status_code=303))


@router.post("/login")
async def login_form(dvp: DvpDep, request: Request, person_id: str = Form(..., max_length=200),
                     password: str = Form(..., max_length=PASSWORD_MAX)):
    await dvp.accounts.check_pre_session(request)
    if not await dvp.accounts.check_password(person_id, password):
        raise InvalidCredentials()
    return dvp.accounts.login(request, person_id, lambda _: RedirectResponse(
        f"/persons/{person_id}", status_code=303))


@router.post("/logout")
async def logout_form(dvp: DvpDep, _: AnySession, request: Request):
    response = RedirectResponse("/", status_code=303)
    dvp.accounts.logout(request, response)
    return response


def account_answer(dvp: DVP, request: Request, person_id: str, name: str,
                   status: int) -> Response:
    """The API's answer to a new session: the account and the session's CSRF token."""
    return dvp.accounts.login(request, person_id, lambda session: JSONResponse(
        {"id": person_id, "name": name, "csrf_token": session.csrf_token},
        status_code=status))


@router.post("/api/persons", status_code=201)
async def add_person(dvp: DvpDep, request: Request, body: PersonIn) -> Response:
    """Create an account; creating it logs you in (session cookie + CSRF token)."""
    await dvp.accounts.check_origin(request)
    person_id = dvp.store.add_person(body.name)
    await dvp.accounts.set_password(person_id, body.password)
    return account_answer(dvp, request, person_id, body.name, 201)


@router.post("/api/login")
async def login(dvp: DvpDep, request: Request, body: LoginIn) -> Response:
    await dvp.accounts.check_origin(request)
    if not await dvp.accounts.check_password(body.person_id, body.password):
        raise InvalidCredentials()
    found = dvp.person_or_404(body.person_id)
    return account_answer(dvp, request, body.person_id, found["name"], 200)


@router.post("/api/logout")
async def logout(dvp: DvpDep, _: AnySession, request: Request) -> Response:
    response = JSONResponse({"status": "logged_out"})
    dvp.accounts.logout(request, response)
    return response


@router.get("/api/persons/{person_id}", dependencies=[Depends(current_person)])
async def get_person(dvp: DvpDep, person_id: str) -> dict:
    found = dvp.person_or_404(person_id)
    grants = [{k: g[k] for k in ("provider", "scope", "services", "updated")}
              | {"long_lived": g["refresh_token"] is not None}
              for g in dvp.store.grants(person_id)]
    return {**found, "grants": grants}


@router.get("/persons/{person_id}", response_class=HTMLResponse)
async def person_page(dvp: DvpDep, session: PersonSession, person_id: str) -> str:
    found = dvp.person_or_404(person_id)
    items = dvp.store.resources(person_id)
    counts = Counter((i["provider"], i["resource"]["resourceType"]) for i in items)
    rows = "".join(f"<tr><td>{escape(p)}</td><td>{t}</td><td>{n}</td></tr>"
                   for (p, t), n in sorted(counts.items()))
    connect_links = "".join(
        f"<li><a href='/persons/{escape(person_id)}/connect?{urlencode({'provider': p})}'>"
        f"{escape(p)}</a></li>" for p in sorted(dvp.lists.lists.zal))
    body = (f"<p>Accountnummer (om in te loggen): <code>{escape(person_id)}</code></p>"
            f"<h2>Opgehaald</h2><table><tr><th>Zorgaanbieder</th><th>Type</th>"
            f"<th>Aantal</th></tr>{rows}</table><h2>Zorgaanbieder koppelen</h2>"
            f"<ul>{connect_links}</ul><form method='post' action='/logout'>"
            + hidden("csrf_token", session.csrf_token)
            + "<button type='submit'>Uitloggen</button></form>")
    return page(found["name"], body, dvp.node.name)
