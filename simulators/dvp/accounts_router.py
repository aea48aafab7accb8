"""Account routes of a DVP: the start page, create an account, log in and out, the person's
own page and summary. Sessions and CSRF are ``accounts.AccountGuard``'s; refusals are
``errors.DvpError``s answered in one place."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from simulators.common.html import render
from simulators.dvp import views
from simulators.dvp.accounts import PASSWORD_MAX, PASSWORD_MIN
from simulators.dvp.curator import DEFAULT_NOTICE
from simulators.dvp.deps import DVP, AnySession, DvpDep, PersonSession, current_person
from simulators.dvp.errors import InvalidCredentials, Refused

router = APIRouter(tags=["accounts"])
PERSON_NAV = [("#gegevens", "Uw gegevens"), ("#koppelen", "Ophalen"),
              ("#toestemmingen", "Toestemmingen"), ("#verhuizen", "Verhuizen")]


class PersonIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)


class LoginIn(BaseModel):
    person_id: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)


@router.get("/", response_class=HTMLResponse)
async def home(dvp: DvpDep, request: Request) -> Response:
    """Log in or create an account; nobody can list the accounts of a PGO. A bankrupt vendor
    takes no new accounts; once settled (erased) only the curator's notice is left."""
    session = None if dvp.curator.erased else dvp.accounts.current(request)

    def render_home(token: str) -> Response:
        return HTMLResponse(render(
            "dvp_home.html", title=dvp.node.name, banner="PGO (sandbox)", token=token,
            session=session, curator=dvp.curator, providers=views.providers(dvp),
            password_min=PASSWORD_MIN))

    return dvp.accounts.pre_session(request, render_home)


@router.post("/persons")
async def add_person_form(dvp: DvpDep, request: Request,
                          name: str = Form(..., min_length=1, max_length=200),
                          password: str = Form(..., min_length=PASSWORD_MIN,
                                               max_length=PASSWORD_MAX)):
    """The page's form: create an account, log in and go to it."""
    await dvp.accounts.check_pre_session(request)
    refuse_new_accounts(dvp)
    person_id = dvp.store.add_person(name)
    await dvp.accounts.set_password(person_id, password)
    return dvp.accounts.login(request, person_id, lambda _: RedirectResponse(
        f"/persons/{person_id}", status_code=303))


def refuse_new_accounts(dvp: DVP) -> None:
    """A bankrupt vendor (curator mode, and after the erasure) takes no new customers."""
    if dvp.curator.active or dvp.curator.erased:
        raise Refused("this vendor is bankrupt: no new accounts", http_status=403,
                      error="curator", message=(dvp.curator.notice or DEFAULT_NOTICE)
                      + " Een nieuw account aanmaken kan hier niet meer: kies een andere PGO.")


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
    refuse_new_accounts(dvp)
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
    """The person's own page: their data grouped in plain words, per provider "opgehaald
    op", connecting by display name, the consents with "Intrekken", export and import."""
    found = dvp.person_or_404(person_id)
    return render("dvp_person.html", title=found["name"], banner=dvp.node.name,
                  nav=PERSON_NAV, **views.person_context(dvp, person_id, session.csrf_token))
