"""The DVA's authorization endpoints for the person's browser: authorize, the DigiD return
(availability check) and the consent answer. Errors are those of SPEC.md section 3 (MedMij's
OAuth profile), raised by ``simulators.dva.service`` and answered by ``simulators.dva.errors``.

Browser binding: ``/oauth/authorize`` binds each authorization to the browser's one DVA
cookie (``<node id>_authz``, ``__Host-`` on https, HttpOnly, SameSite=Lax, Max-Age the session's
lifetime): a secret
made at the browser's first authorization and reused by the next while it lives, whose hash is
kept with each authorization session. The session id travels in URLs (DigiD's RelayState) and
forms, so on its own it proves nothing: ``/digid/acs`` and ``POST /oauth/consent`` also require
the cookie, and the consent form carries the session's CSRF token and must come from the DVA's
own origin. Without that, whoever starts an authorization could collect the consent of whoever
logs in with it. One secret for all of a browser's pending authorizations lets it run several
at once (a PGO connecting two providers of this DVA in two tabs); a new secret per
authorization would overwrite the first's, and a cookie per authorization would pile up (a page
sending a browser to ``/oauth/authorize`` over and over would fill its cookie jar and push out
the host's other cookies).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from simulators.common.security import (
    csrf_ok,
    new_token,
    read_cookie,
    same_origin,
    set_session_cookie,
)
from simulators.dva.deps import DvaDep
from simulators.dva.errors import BrowserRefused, UntrustedRequest
from simulators.dva.grants import CODE_SECONDS
from simulators.dva.pages import confirmation_page, consent_page
from simulators.dva.service import DVA, RepeatedParameter, parameters_once
from simulators.medmij import OAuthError

SECRET = re.compile(r"[A-Za-z0-9_-]{43}")  # what ``new_token`` makes
NOT_THIS_BROWSER = ("Deze toestemmingsaanvraag is niet in deze browser gestart. Om uw gegevens"
                    " te beschermen gaan we niet verder.")

router = APIRouter()


def browser_secret(dva: DVA, request: Request) -> str:
    """The browser's binding secret: the one its cookie holds when it is one of ours (the
    shape of ``new_token``), else a new one."""
    held = read_cookie(request, dva.authz_cookie) or ""
    return held if SECRET.fullmatch(held) else new_token()


def bound_session(dva: DVA, request: Request, session_id: str, identified: bool = False) -> dict:
    """The open authorization session (with the person identified, when ``identified``), if
    this browser holds its cookie."""
    session = dva.grants.session(session_id)
    if session is None or (identified and session["patient_index"] is None):
        raise UntrustedRequest(OAuthError.INVALID_REQUEST,
                               "Unknown or expired authorization session.")
    if not dva.grants.bound_to(session, read_cookie(request, dva.authz_cookie)):
        raise BrowserRefused(NOT_THIS_BROWSER)
    return session


@router.get("/oauth/authorize")
async def authorize(request: Request, dva: DvaDep, response_type: str | None = None,
                    client_id: str | None = None, redirect_uri: str | None = None,
                    scope: str | None = None, state: str | None = None,
                    x_correlation_id: Annotated[str | None, Header()] = None) -> RedirectResponse:
    """Check the request, open a browser-bound session and send the person to DigiD. A
    parameter given twice (RFC 6749 section 3.1) is refused on the person's page: which of
    two redirect_uris would be the checked one?"""
    try:
        parameters_once(request.query_params.multi_items())
    except RepeatedParameter as exc:
        raise UntrustedRequest(OAuthError.INVALID_REQUEST, str(exc)) from exc
    secret = browser_secret(dva, request)
    session_id = dva.start_authorization(client_id, redirect_uri, response_type, scope, state,
                                         x_correlation_id, secret)
    response = RedirectResponse(dva.digid_login_url(session_id), status_code=302)
    set_session_cookie(response, request, dva.authz_cookie, secret, max_age=CODE_SECONDS)
    return response


@router.get("/digid/acs")
async def digid_return(request: Request, dva: DvaDep,
                       saml_art: Annotated[str, Query(alias="SAMLart")],
                       relay_state: Annotated[str, Query(alias="RelayState")]) -> HTMLResponse:
    """DigiD's return: the browser is checked before the artifact is resolved, so nobody is
    identified for a stranger; then the availability check and the consent screen."""
    session = bound_session(dva, request, relay_state)
    outcome = dva.identified(session, *await dva.resolve_login(saml_art))
    if outcome.share:
        return HTMLResponse(confirmation_page(dva.name, dva.lists.lists, session,
                                              outcome.provider, outcome.services))
    return HTMLResponse(consent_page(dva.name, dva.lists.lists, session, outcome.provider,
                                     outcome.services,
                                     long_lived_allowed=dva.may_consent_long_lived(session)))


@router.post("/oauth/consent")
async def consent(request: Request, dva: DvaDep, session_id: Annotated[str, Form()],
                  decision: Annotated[str, Form()],
                  long_lived: Annotated[str | None, Form()] = None,
                  csrf_token: Annotated[str | None, Form()] = None) -> RedirectResponse:
    """The person's answer on the consent (or Bevestigingsverklaring) screen. Only the
    browser that started the session, posting the screen's own form, can answer it; any
    refusal leaves the session unanswered."""
    if not same_origin(request, dva.own_origins):
        raise BrowserRefused(f"Dit formulier komt niet van de toestemmingspagina van {dva.name}.")
    session = bound_session(dva, request, session_id, identified=True)
    if not csrf_ok(session["csrf"], csrf_token):
        raise BrowserRefused("Het formulier is verlopen of niet van deze pagina. Start opnieuw"
                             " vanuit uw PGO.")
    target = dva.answer_consent(session, decision == "allow", long_lived == "on")
    return RedirectResponse(target, status_code=302)
