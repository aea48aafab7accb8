"""DigiD's routes as plain handlers: the login form and its posts (a person's browser), the
artifact back channel (relying parties) and the test-person API (automation).

The DigiD service (``service.DigiD``) and the node's own origins come from ``app.state``
through the dependencies below. Refusals are raised (``errors.py``) and mapped once.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from simulators.common.security import (
    csrf_ok,
    new_token,
    read_cookie,
    same_origin,
    set_session_cookie,
)
from simulators.common.tls import peer_hostname
from simulators.digid.errors import FormRefused
from simulators.digid.pages import home_page, login_page
from simulators.digid.service import SESSION_SECONDS, DigiD

router = APIRouter()


def get_digid(request: Request) -> DigiD:
    return request.app.state.digid


Service = Annotated[DigiD, Depends(get_digid)]


def session_cookie(request: Request) -> str:
    return f"{request.app.state.node_id}_session"  # one cookie jar for every 127.0.0.1 port


def csrf_cookie(request: Request) -> str:
    return f"{request.app.state.node_id}_csrf"


def from_digid(request: Request, message: str) -> None:
    """A form post must come from DigiD's own pages."""
    if not same_origin(request, request.app.state.own_origins):
        raise FormRefused(message)


def back_to_rp(digid: DigiD, bsn: str, rp: str, return_to: str, relay_state: str,
               status: str = "success") -> RedirectResponse:
    """Back to the relying party with an artifact; a cancelled or failed login (``status``)
    goes back the same way, its artifact resolves to the status alone (SAML's artifact
    binding: the relying party learns the outcome over the back channel)."""
    query = urlencode({"SAMLart": digid.issue_artifact(bsn, rp, status),
                       "RelayState": relay_state})
    sep = "&" if "?" in return_to else "?"
    return RedirectResponse(f"{return_to}{sep}{query}", status_code=303)


def show_login(request: Request, digid: DigiD, rp: str, return_to: str, relay_state: str,
               error: str = "") -> HTMLResponse:
    """The login page; sets the pre-login cookie its CSRF token is bound to."""
    pre_login = read_cookie(request, csrf_cookie(request)) or new_token()
    html = login_page(digid, rp=rp, return_to=return_to, relay_state=relay_state,
                      csrf_token=digid.login_csrf(pre_login),
                      session=digid.live_session(read_cookie(request, session_cookie(request))),
                      error=error)
    response = HTMLResponse(html, status_code=400 if error else 200)
    if read_cookie(request, csrf_cookie(request)) != pre_login:
        set_session_cookie(response, request, csrf_cookie(request), pre_login)
    return response


@router.get("/", response_class=HTMLResponse)
async def home(digid: Service) -> str:
    """DigiD's root: a page, not a JSON 404 (a person may type the address)."""
    return home_page(digid)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, digid: Service, rp: str, return_to: str,
                     relay_state: str = Query("", alias="RelayState")) -> HTMLResponse:
    digid.check_return(rp, return_to)
    return show_login(request, digid, rp, return_to, relay_state)


@router.post("/login")
async def login(request: Request, digid: Service, rp: str = Form(...),
                return_to: str = Form(...), bsn: str = Form(...),
                relay_state: str = Form("", alias="RelayState"),
                csrf_token: str | None = Form(None)):
    digid.check_return(rp, return_to)
    from_digid(request, "Dit inlogformulier komt niet van DigiD.")
    pre_login = read_cookie(request, csrf_cookie(request))
    if not pre_login or not csrf_ok(digid.login_csrf(pre_login), csrf_token):
        raise FormRefused("Het inlogformulier is verlopen of komt niet van deze pagina.")
    bsn = bsn.strip()
    if not digid.is_test_person(bsn):
        return show_login(request, digid, rp, return_to, relay_state,
                          "Onbekend BSN voor een testpersoon.")
    status = digid.login_status(bsn)
    response = back_to_rp(digid, bsn, rp, return_to, relay_state, status)
    if status == "success":  # a cancelled or failed login opens no DigiD session
        set_session_cookie(response, request, session_cookie(request), digid.open_session(bsn),
                           max_age=SESSION_SECONDS)
    return response


@router.post("/login/continue")
async def continue_as(request: Request, digid: Service, rp: str = Form(...),
                      return_to: str = Form(...),
                      relay_state: str = Form("", alias="RelayState"),
                      csrf_token: str | None = Form(None)) -> RedirectResponse:
    """Single sign-on, confirmed by the person: "Doorgaan als ..." on the login page."""
    digid.check_return(rp, return_to)
    from_digid(request, "Dit formulier komt niet van DigiD.")
    session = digid.live_session(read_cookie(request, session_cookie(request)))
    if session is None:
        raise FormRefused("U bent niet (meer) ingelogd bij DigiD. Log opnieuw in.")
    if not csrf_ok(session.csrf_token, csrf_token):
        raise FormRefused("Het formulier is verlopen of komt niet van deze pagina.")
    return back_to_rp(digid, session.bsn, rp, return_to, relay_state,
                      digid.login_status(session.bsn))


@router.post("/artifact")
async def resolve(request: Request, digid: Service, artifact: str = Form(...),
                  rp: str = Form(...)) -> dict:
    """Back-channel artifact resolution: single use, bound to the relying party (over TLS:
    the one named by the client certificate of this connection)."""
    return digid.resolve_artifact(artifact, rp, peer_hostname(request.scope))


@router.get("/api/test-persons")
async def test_persons(digid: Service, provider: str | None = None, service: str | None = None,
                       n: int = Query(5, ge=1, le=1000),
                       start: int = Query(0, ge=0)) -> list[dict]:
    """Test persons for automation: optionally only those a provider holds data for."""
    return digid.test_persons(provider, service, n, start)
