"""The inspection function's routes as plain handlers (Mijn Gezondheidsoverzicht).

Browser binding (issue 11 item 2): ``/start`` gives this browser a pre-login cookie
(HttpOnly ``<node id>_login``) and sends DigiD a ``RelayState`` that is the HMAC of that cookie
under the server's key (``sessions.SessionStore.start_login``): nothing is stored for an
anonymous browser. ``/digid/acs`` completes the login only when the browser presents that
cookie and the ``RelayState`` derived from it, within ``LOGIN_SECONDS``; it then deletes the
pre-login cookie (a replayed return binds nothing) and opens the session (HttpOnly cookie
``<node id>_session``). A DigiD link carrying someone else's ``RelayState`` (login CSRF)
therefore binds nothing, in the attacker's session nor in the victim's.

The service (``service.InspectionFunction``) and the sessions (``sessions.SessionStore``)
come from ``app.state`` through the dependencies below; refusals are raised (``errors.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from simulators.common.app import require_admin
from simulators.common.html import render
from simulators.common.security import (
    delete_session_cookie,
    new_token,
    read_cookie,
    set_session_cookie,
)
from simulators.inspection import service as svc
from simulators.inspection.errors import (
    LoginNotConfirmed,
    MGOError,
    NotLoggedIn,
    NotThisBrowser,
    UnknownAnswer,
)
from simulators.inspection.sessions import (
    LOGIN_SECONDS,
    SESSION_SECONDS,
    SessionStore,
    ViewSession,
)

router = APIRouter()


def get_function(request: Request) -> svc.InspectionFunction:
    return request.app.state.inspection


def get_sessions(request: Request) -> SessionStore:
    return request.app.state.sessions


Function = Annotated[svc.InspectionFunction, Depends(get_function)]
Sessions = Annotated[SessionStore, Depends(get_sessions)]


def cookie_name(request: Request) -> str:
    return f"{request.app.state.node_id}_session"  # one cookie jar for every 127.0.0.1 port


def login_cookie_name(request: Request) -> str:
    return f"{request.app.state.node_id}_login"


def this_browser(request: Request, sessions: SessionStore) -> ViewSession | None:
    """The session of the browser's own cookie, never one named in the URL."""
    return sessions.get(read_cookie(request, cookie_name(request)))


def logged_in(request: Request, sessions: Sessions) -> ViewSession:
    """Dependency: this browser's session after its DigiD login."""
    session = this_browser(request, sessions)
    if session is None or not session.logged_in:
        raise NotLoggedIn()
    return session


LoggedIn = Annotated[ViewSession, Depends(logged_in)]


@router.get("/", response_class=HTMLResponse)
async def home(mgo: Function) -> str:
    """Mijn Gezondheidsoverzicht's own consent text: look once, nothing is stored, no
    long-lived consent (it is not a PGO); the decision is a fieldset with its legend."""
    return render("mgo_home.html", title=mgo.name, banner="Publieke inzagefunctie (sandbox)")


@router.get("/start")
async def start(request: Request, mgo: Function, sessions: Sessions) -> RedirectResponse:
    """A DigiD login for this browser (nothing stored: see the module docstring); an earlier
    session of the same browser is dropped with what it held."""
    sessions.drop(read_cookie(request, cookie_name(request)))
    pre_login, relay_state = sessions.start_login()
    response = RedirectResponse(mgo.digid_login_url(relay_state), status_code=302)
    delete_session_cookie(response, request, cookie_name(request))
    set_session_cookie(response, request, login_cookie_name(request), pre_login,
                       max_age=LOGIN_SECONDS)
    return response


@router.get("/digid/acs")
async def digid_return(request: Request, mgo: Function, sessions: Sessions,
                       saml_art: str = Query("", alias="SAMLart"),
                       relay_state: str = Query("", alias="RelayState")) -> RedirectResponse:
    """DigiD's return: only for the browser whose own pending login has this RelayState."""
    if not sessions.login_ok(read_cookie(request, login_cookie_name(request)), relay_state):
        raise NotThisBrowser()
    if not saml_art:
        raise LoginNotConfirmed("DigiD gaf geen bevestiging van uw login.")
    sid, session = sessions.open()
    try:
        session.queue = await mgo.localise(saml_art, session.correlation_id)
    except BaseException:
        sessions.drop(sid)
        raise
    session.logged_in = True
    response = RedirectResponse("/next", status_code=303)
    # one time: a replay binds nothing
    delete_session_cookie(response, request, login_cookie_name(request))
    set_session_cookie(response, request, cookie_name(request), sid, max_age=SESSION_SECONDS)
    return response


@router.get("/next")
async def next_provider(mgo: Function, session: LoggedIn) -> RedirectResponse:
    authorize = mgo.next_authorization(session, new_token())
    if authorize is None:
        return RedirectResponse("/overview", status_code=303)
    return RedirectResponse(authorize, status_code=302)


@router.get("/oauth/callback")
async def callback(mgo: Function, session: LoggedIn, state: str = "", code: str | None = None,
                   error: str | None = None,
                   error_description: str | None = None) -> RedirectResponse:
    """A provider's answer: its refusal is an overview line; neither code nor error is
    refused (the state is used up, no token request is made), as the PGO does."""
    entry = session.pending.pop(state, None)
    if entry is None:
        raise UnknownAnswer()
    if not error and not code:
        raise MGOError("Het antwoord van de zorgaanbieder bevatte geen code en geen "
                       "foutmelding.")
    if error:
        result = svc.refused_by_provider(entry, error, error_description,
                                         mgo.display(entry["provider"]))
    else:
        result = await mgo.collect(entry, code, session.correlation_id)
    session.results.append(result)
    return RedirectResponse("/next", status_code=303)


@router.get("/overview", response_model=None)
async def overview(request: Request, mgo: Function, sessions: Sessions,
                   session: LoggedIn) -> HTMLResponse | JSONResponse:
    """The overview, shown once: then the session is forgotten with what it held."""
    sessions.drop(read_cookie(request, cookie_name(request)) or "")
    response: HTMLResponse | JSONResponse
    if "text/html" not in request.headers.get("accept", ""):
        response = JSONResponse(svc.overview(session))
    else:
        response = HTMLResponse(svc.overview_html(session, mgo.name))
    delete_session_cookie(response, request, cookie_name(request))
    return response


@router.get("/admin/state", dependencies=[Depends(require_admin)])
async def admin_state(sessions: Sessions) -> dict:
    """What the function holds right now, in full: for the 'stores nothing' and 'no BSN'
    checks (admin token required: it is about people)."""
    return sessions.state()
