"""The DVA's authorization endpoints for the person's browser: authorize, the DigiD return
(availability check) and the consent answer. Errors are those of SPEC.md section 3 (MedMij's
OAuth profile), raised by ``simulators.dva.service`` and answered by ``simulators.dva.errors``.

Browser binding: ``/oauth/authorize`` sets a cookie of its own for each authorization
(``<node id>_authz_<hash of the session id>``, HttpOnly, SameSite=Lax, Max-Age the session's
lifetime) with a fresh secret whose hash is kept with the authorization session. The session id
travels in URLs (DigiD's RelayState) and forms, so on its own it proves nothing: ``/digid/acs``
and ``POST /oauth/consent`` also require the cookie of that session, and the consent form
carries the session's CSRF token and must come from the DVA's own origin. Without that, whoever
starts an authorization could collect the consent of whoever logs in with it. One cookie per
authorization lets a browser run several at once (a PGO connecting two providers of this DVA in
two tabs); each is deleted when its authorization ends (code issued or refused), so a browser
holds at most one per pending authorization.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from simulators.common.security import csrf_ok, new_token, same_origin, set_session_cookie
from simulators.dva.deps import DvaDep
from simulators.dva.errors import (
    AuthorizeRedirect,
    BrowserRefused,
    UntrustedRequest,
    redirect_with_error,
)
from simulators.dva.grants import CODE_SECONDS
from simulators.dva.pages import confirmation_page, consent_page
from simulators.dva.service import DVA, RepeatedParameter, parameters_once
from simulators.medmij import OAuthError

NOT_THIS_BROWSER = ("Deze toestemmingsaanvraag is niet in deze browser gestart. Om uw gegevens"
                    " te beschermen gaan we niet verder.")

router = APIRouter()


def authz_cookie(dva: DVA, session_id: str) -> str:
    """The name of the cookie that binds authorization ``session_id`` to its browser. The
    suffix tells the sessions apart and is no secret (the id travels in URLs anyway); a hash,
    not the id itself, so any id a URL brings makes a valid, short cookie name."""
    return f"{dva.authz_cookie}_{hashlib.sha256(session_id.encode()).hexdigest()[:16]}"


def bound_session(dva: DVA, request: Request, session_id: str, identified: bool = False) -> dict:
    """The open authorization session (with the person identified, when ``identified``), if
    this browser holds its cookie."""
    session = dva.grants.session(session_id)
    if session is None or (identified and session["patient_index"] is None):
        raise UntrustedRequest(OAuthError.INVALID_REQUEST,
                               "Unknown or expired authorization session.")
    if not dva.grants.bound_to(session, request.cookies.get(authz_cookie(dva, session_id))):
        raise BrowserRefused(NOT_THIS_BROWSER)
    return session


def unbound(response: Response, request: Request, dva: DVA, session_id: str) -> Response:
    """``response`` of a step that ended the authorization (a code, or the client's redirect
    with an error): the browser's cookie for it is deleted, as it was set."""
    response.delete_cookie(authz_cookie(dva, session_id), httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")
    return response


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
    browser_secret = new_token()
    session_id = dva.start_authorization(client_id, redirect_uri, response_type, scope, state,
                                         x_correlation_id, browser_secret)
    response = RedirectResponse(dva.digid_login_url(session_id), status_code=302)
    set_session_cookie(response, authz_cookie(dva, session_id), browser_secret,
                       secure=request.url.scheme == "https", max_age=CODE_SECONDS)
    return response


@router.get("/digid/acs")
async def digid_return(request: Request, dva: DvaDep,
                       saml_art: Annotated[str, Query(alias="SAMLart")],
                       relay_state: Annotated[str, Query(alias="RelayState")]) -> Response:
    """DigiD's return: the browser is checked before the artifact is resolved, so nobody is
    identified for a stranger; then the availability check and the consent screen (or, when
    the login or the check fails, the client's redirect with the error, which ends it)."""
    session = bound_session(dva, request, relay_state)
    try:
        outcome = dva.identified(session, *await dva.resolve_login(saml_art))
    except AuthorizeRedirect as exc:
        return unbound(redirect_with_error(exc), request, dva, session["id"])
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
                  csrf_token: Annotated[str | None, Form()] = None) -> Response:
    """The person's answer on the consent (or Bevestigingsverklaring) screen. Only the
    browser that started the session, posting the screen's own form, can answer it; any
    refusal leaves the session unanswered."""
    if not same_origin(request, dva.own_origins):
        raise BrowserRefused(f"Dit formulier komt niet van de toestemmingspagina van {dva.name}.")
    session = bound_session(dva, request, session_id, identified=True)
    if not csrf_ok(session["csrf"], csrf_token):
        raise BrowserRefused("Het formulier is verlopen of niet van deze pagina. Start opnieuw"
                             " vanuit uw PGO.")
    try:
        target = dva.answer_consent(session, decision == "allow", long_lived == "on")
    except AuthorizeRedirect as exc:  # refused: the authorization is over all the same
        return unbound(redirect_with_error(exc), request, dva, session["id"])
    return unbound(RedirectResponse(target, status_code=302), request, dva, session["id"])
