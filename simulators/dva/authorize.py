"""The DVA's authorization server: authorize, DigiD round trip, availability check, consent,
token. Errors are those of SPEC.md section 3 (MedMij's OAuth profile).

Browser binding: ``/oauth/authorize`` sets a cookie (``<node id>_authz``, HttpOnly,
SameSite=Lax) with a fresh secret whose hash is kept with the authorization session. The
session id travels in URLs (DigiD's RelayState) and forms, so on its own it proves nothing:
``/digid/acs`` and ``POST /oauth/consent`` also require the cookie of that session, and the
consent form carries the session's CSRF token and must come from the DVA's own origin. Without
that, whoever starts an authorization could collect the consent of whoever logs in with it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from simulators.common.html import escape, hidden, page
from simulators.common.security import csrf_ok, new_token, same_origin, set_session_cookie
from simulators.dva.grants import CODE_SECONDS, GrantError

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def redirect_error(redirect_uri: str, state: str, error: str, description: str) -> RedirectResponse:
    query = urlencode({"error": error, "error_description": description, "state": state})
    sep = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{sep}{query}", status_code=302)


def error_page(error: str, description: str, status: int = 400) -> HTMLResponse:
    """For errors where the redirect_uri cannot be trusted: tell the person, redirect nowhere."""
    body = f"<p class='error' role='alert'><code>{error}</code>: {escape(description)}</p>"
    return HTMLResponse(page("Er ging iets mis", body), status_code=status)


def refused_page(message: str, status: int = 403) -> HTMLResponse:
    """A Dutch page for the person when the browser is not the one that started the
    authorization: no redirect, no code, the session stays as it was."""
    body = (f"<p class='error' role='alert'>{escape(message)}</p>"
            "<p>Start opnieuw vanuit uw PGO. Klik nooit op een inloglink die iemand anders u"
            " stuurt.</p>")
    return HTMLResponse(page("Niet toegestaan", body), status_code=status)


NOT_THIS_BROWSER = ("Deze toestemmingsaanvraag is niet in deze browser gestart. Om uw gegevens"
                    " te beschermen gaan we niet verder.")


def token_error(error: GrantError) -> JSONResponse:
    headers = dict(NO_STORE)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="medmij"'
    return JSONResponse({"error": error.error, "error_description": error.description},
                        status_code=error.status, headers=headers)


def build_router(dva) -> APIRouter:  # dva: simulators.dva.app.DVA
    router = APIRouter()
    config = dva.config
    cookie_name = f"{dva.node_id}_authz"
    own_origins = {config.public_base(dva.hostname).rstrip("/"),
                   config.addresses[dva.hostname].rstrip("/")}

    @router.get("/oauth/authorize")
    async def authorize(
        request: Request,
        response_type: str | None = None,
        client_id: str | None = None,
        redirect_uri: str | None = None,
        scope: str | None = None,
        state: str | None = None,
        x_correlation_id: str | None = Header(None),
    ):
        lists = dva.lists.lists
        if not client_id or client_id not in lists.ocl:
            return error_page("invalid_request", "Unknown client: not on the OAuth Client List.")
        if not redirect_uri or not config.is_on_host(redirect_uri, client_id):
            return error_page("invalid_request", "redirect_uri is not on the client's host.")
        if not state:
            return redirect_error(redirect_uri, "", "invalid_request", "Missing state.")
        if response_type != "code":
            return redirect_error(redirect_uri, state, "unsupported_response_type",
                                  "Only response_type=code is supported.")
        target = dva.parse_scope(scope or "")
        if target is None:
            return redirect_error(redirect_uri, state, "invalid_scope",
                                  f"Scope {scope!r} names no provider or service of this DVA.")
        provider, services = target
        browser_secret = new_token()
        session_id = dva.grants.start_session(client_id, redirect_uri, scope, state, provider.name,
                                              services, x_correlation_id, browser_secret,
                                              new_token())
        query = urlencode({
            "rp": config.topology.node(dva.node_id).hostname,
            "return_to": dva.public_url("/digid/acs"),
            "RelayState": session_id,
        })
        response = RedirectResponse(f"{dva.digid_base}/login?{query}", status_code=302)
        set_session_cookie(response, cookie_name, browser_secret,
                           secure=request.url.scheme == "https", max_age=CODE_SECONDS)
        return response

    @router.get("/digid/acs")
    async def digid_return(request: Request, saml_art: str = Query(alias="SAMLart"),
                           relay_state: str = Query(alias="RelayState")):
        session = dva.grants.session(relay_state)
        if session is None:
            return error_page("invalid_request", "Unknown or expired authorization session.")
        if not dva.grants.bound_to(session, request.cookies.get(cookie_name)):
            # checked before the artifact is resolved: nobody is identified for a stranger
            return refused_page(NOT_THIS_BROWSER)
        bsn = await dva.resolve_artifact(saml_art)
        if bsn is None:
            dva.grants.finish_session(relay_state)
            return redirect_error(session["redirect_uri"], session["state"],
                                  "unauthorized_client", "Person could not be identified.")
        index = dva.population.index_of(bsn)
        provider = config.topology.provider(session["provider"])
        wanted = dva.session_services(session)
        held = dva.held_services(index, provider.name)
        if dva.is_share(wanted):
            # receptiveness: a provider accepts shared data only for people in its care
            if not held:
                dva.grants.finish_session(relay_state)
                return redirect_error(session["redirect_uri"], session["state"],
                                      "access_denied", "Provider is not receptive for this data.")
            dva.grants.identify(relay_state, index)
            return HTMLResponse(confirmation_page(dva, session, provider, wanted))
        granted = [s for s in wanted if s in held]
        if not granted:
            dva.grants.finish_session(relay_state)
            return redirect_error(session["redirect_uri"], session["state"], "access_denied",
                                  "No such resources.")
        narrower = " ".join(f"{provider.slug}~{s}" for s in granted) \
            if len(granted) < len(wanted) else None
        dva.grants.identify(relay_state, index, granted, narrower)
        return HTMLResponse(consent_page(dva, session, provider, granted))

    @router.post("/oauth/consent")
    async def consent(request: Request, session_id: str = Form(...), decision: str = Form(...),
                      long_lived: str | None = Form(None), csrf_token: str | None = Form(None)):
        """The person's answer on the consent (or Bevestigingsverklaring) screen. Only the
        browser that started the session, posting the screen's own form, can answer it; any
        refusal leaves the session unanswered."""
        if not same_origin(request, own_origins):
            return refused_page("Dit formulier komt niet van de toestemmingspagina van"
                                f" {dva.name}.")
        session = dva.grants.session(session_id)
        if session is None or session["patient_index"] is None:
            return error_page("invalid_request", "Unknown or expired authorization session.")
        if not dva.grants.bound_to(session, request.cookies.get(cookie_name)):
            return refused_page(NOT_THIS_BROWSER)
        if not csrf_ok(session["csrf"], csrf_token):
            return refused_page("Het formulier is verlopen of niet van deze pagina. Start"
                                " opnieuw vanuit uw PGO.")
        if not dva.grants.finish_session(session_id):
            return error_page("invalid_request", "This consent was already answered.")
        if decision != "allow":
            return redirect_error(session["redirect_uri"], session["state"], "access_denied",
                                  "Authorization denied.")
        share = dva.is_share(dva.session_services(session))
        code = dva.grants.issue_code(session, long_lived == "on" and not share)
        query = urlencode({"code": code, "state": session["state"]})
        sep = "&" if "?" in session["redirect_uri"] else "?"
        return RedirectResponse(f"{session['redirect_uri']}{sep}{query}", status_code=302)

    @router.post("/oauth/token")
    async def token(
        grant_type: str | None = Form(None),
        code: str | None = Form(None),
        client_id: str | None = Form(None),
        redirect_uri: str | None = Form(None),
        refresh_token: str | None = Form(None),
    ):
        lists = dva.lists.lists
        try:
            if not client_id or client_id not in lists.ocl or client_id not in lists.whitelist:
                raise GrantError("invalid_client", "Client not on the OCL and Whitelist.", 401)
            if grant_type == "authorization_code":
                if not code or not redirect_uri:
                    raise GrantError("invalid_request", "code and redirect_uri are required.")
                body = dva.grants.exchange_code(code, client_id, redirect_uri)
            elif grant_type == "refresh_token":
                if not refresh_token:
                    raise GrantError("invalid_request", "refresh_token is required.")
                body = dva.grants.refresh(refresh_token, client_id)
            else:
                raise GrantError("unsupported_grant_type", f"grant_type {grant_type!r}.")
        except GrantError as error:
            return token_error(error)
        return JSONResponse(body, headers=NO_STORE)

    @router.post("/oauth/revoke")
    async def revoke(token: str = Form(...), client_id: str = Form(...)):
        """RFC 7009 token revocation: the person withdraws a (long-lived) consent via the PGO."""
        if client_id not in dva.lists.lists.whitelist:
            return token_error(GrantError("invalid_client", "Client not on the Whitelist.", 401))
        dva.grants.revoke_token(token, client_id)
        return JSONResponse({}, headers=NO_STORE)

    return router


def _names(dva, session: dict, services: list[str]) -> tuple[str, str]:
    """The PGO's organisation name from the OCL and the services' names from the GNL."""
    lists = dva.lists.lists
    client_name = lists.ocl.get(session["client_id"], session["client_id"])
    return client_name, ", ".join(escape(lists.gnl.get(s, s)) for s in services)


def consent_page(dva, session: dict, provider, services: list[str]) -> str:
    client_name, names = _names(dva, session, services)
    body = (
        f"<p>Mag <strong>{escape(provider.display)}</strong> uw gegevens "
        f"(<em>{names}</em>) delen met <strong>{escape(client_name)}</strong>?</p>"
        "<form method='post' action='/oauth/consent'>" + hidden("session_id", session["id"])
        + hidden("csrf_token", session["csrf"])
        + "<p><label><input type='checkbox' name='long_lived'> Ook later automatisch ophalen "
        "(langdurige toestemming, tot u die intrekt of 6 maanden niet ophaalt)</label></p>"
        "<button type='submit' name='decision' value='allow'>Ja, ik geef toestemming</button>"
        "<button type='submit' name='decision' value='deny'>Nee</button></form>"
        "<p class='note'>U kunt uw toestemming altijd intrekken in uw PGO.</p>"
    )
    return page("Toestemming geven", body, f"{dva.name} namens {provider.display}")


def confirmation_page(dva, session: dict, provider, services: list[str]) -> str:
    """Delen: the Bevestigingsverklaring, with the PGO's name from the OCL and the
    gegevensdienst's from the GNL."""
    client_name, names = _names(dva, session, services)
    body = (
        f"<p>U staat op het punt gegevens (<em>{names}</em>) vanuit "
        f"<strong>{escape(client_name)}</strong> te delen met "
        f"<strong>{escape(provider.display)}</strong>.</p>"
        "<p>Bevestigt u dat deze gegevens van u zijn en dat "
        f"{escape(provider.display)} ze in uw dossier mag opnemen?</p>"
        "<form method='post' action='/oauth/consent'>" + hidden("session_id", session["id"])
        + hidden("csrf_token", session["csrf"])
        + "<button type='submit' name='decision' value='allow'>Ja, ik bevestig</button>"
        "<button type='submit' name='decision' value='deny'>Nee, niet delen</button></form>"
    )
    return page("Bevestigingsverklaring", body, f"{dva.name} namens {provider.display}")
