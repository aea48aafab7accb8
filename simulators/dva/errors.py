"""The DVA's errors, each answered in the shape its protocol prescribes (SPEC.md section 3).

::

    DVAError
    ├── AuthorizeRedirect  authorize step, redirect_uri trusted: 302 to the client's
    │                      redirect_uri with error, error_description and its state
    ├── UntrustedRequest   redirect_uri or session cannot be trusted: a Dutch HTML page that
    │                      names the OAuth error and redirects nowhere (400)
    ├── BrowserRefused     not the browser that started the authorization, a foreign form, a
    │                      stale CSRF token: a Dutch HTML page "Niet toegestaan" (403)
    ├── TokenEndpointError token and revoke endpoints: JSON {"error", "error_description"},
    │                      Cache-Control: no-store; 401 invalid_client with WWW-Authenticate
    │                      (``simulators.dva.grants.GrantError`` is answered the same way)
    └── FhirError          resource server: an OperationOutcome (FHIR JSON or XML as the client
                           asked) with WWW-Authenticate on 401/403
                           (``simulators.provider.ShareRefused`` becomes one); the
                           framework's own 404 and 405 under /fhir/ get one too, ``Allow``
                           kept (``fhir_http_error``)

Every FHIR error echoes the request's ``MedMij-Request-ID`` and ``X-Correlation-ID`` headers,
so a PGO can match a refusal to its request. The handlers are registered once, in
``simulators.dva.app.create_app``; the FHIR hot path (a pure ASGI route ahead of FastAPI) calls
``fhir_error_response`` itself.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from simulators.common.app import invalid_fields
from simulators.common.fhir import negotiate_format, operation_outcome
from simulators.common.html import error_page as person_page
from simulators.medmij import CORRELATION_ID, MEDMIJ_REQUEST_ID, OAuthError
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
TOKEN_PATHS = ("/oauth/token", "/oauth/revoke")
FHIR_PREFIX = "/fhir/"  # the resource server's paths: every refusal there is an OperationOutcome
BACK = ("/", "Ga terug naar uw PGO en start daar opnieuw.")


class DVAError(Exception):
    """Anything the DVA refuses; the subclass decides the shape of the answer."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class AuthorizeRedirect(DVAError):
    """An authorization error the client hears about at its (checked) redirect_uri."""

    def __init__(self, redirect_uri: str, state: str, error: OAuthError,
                 description: str) -> None:
        super().__init__(description)
        self.redirect_uri, self.state, self.error = redirect_uri, state, error


class UntrustedRequest(DVAError):
    """An authorization error where redirecting could help an attacker: told to the person."""

    def __init__(self, error: OAuthError, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.status = error, status


class BrowserRefused(DVAError):
    """The front channel is not the person's own: nothing happens, the person is told why."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


class TokenEndpointError(DVAError):
    """An error of the token or revocation endpoint (RFC 6749 section 5.2)."""

    def __init__(self, error: OAuthError, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.status = error, status


class FhirError(DVAError):
    """A refusal of the resource server: ``code`` is a FHIR issue type, ``challenge`` the
    RFC 6750 error for WWW-Authenticate ("" for the realm alone, None for no header)."""

    def __init__(self, status: int, code: str, diagnostics: str, fhir_version: str = "3.0",
                 challenge: str | None = None) -> None:
        super().__init__(diagnostics)
        self.status, self.code, self.fhir_version = status, code, fhir_version
        self.challenge = challenge


# --- the shapes -------------------------------------------------------------------------------
def redirect_with_error(exc: AuthorizeRedirect) -> RedirectResponse:
    query = urlencode({"error": exc.error, "error_description": exc.description,
                       "state": exc.state})
    sep = "&" if "?" in exc.redirect_uri else "?"
    return RedirectResponse(f"{exc.redirect_uri}{sep}{query}", status_code=302)


def error_page(error: str, description: str, status: int = 400) -> HTMLResponse:
    """For errors where the redirect_uri cannot be trusted: tell the person, redirect nowhere
    (the way back is the DVA's own start page, which sends them to their PGO). The OAuth
    error and its description stay visible for the developer of the PGO."""
    return HTMLResponse(person_page(
        "Er ging iets mis", "Uw PGO vroeg om toestemming op een manier die wij niet kunnen "
        "volgen.", detail=f"{error}: {description}", back=BACK), status_code=status)


def refused_page(message: str, status: int = 403) -> HTMLResponse:
    """A Dutch page for the person when the browser is not the one that started the
    authorization: no redirect, no code, the session stays as it was."""
    return HTMLResponse(person_page(
        "Niet toegestaan", message,
        back=("/", "Start opnieuw vanuit uw PGO. Klik nooit op een inloglink die iemand "
                   "anders u stuurt.")), status_code=status)


# Framework refusals a person's browser can meet (a mistyped address, a wrong method).
HTTP_MESSAGES = {
    404: "Deze pagina bestaat niet.",
    405: "Deze pagina kan niet op deze manier worden geopend.",
}


def token_error(error: str, description: str, status: int = 400) -> JSONResponse:
    """RFC 6749 section 5.2: JSON, never cached; 401 names the client authentication scheme."""
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="medmij"'
    return JSONResponse({"error": error, "error_description": description},
                        status_code=status, headers=headers)


def echoed_ids(request: Request) -> dict[str, str]:
    """The request's MedMij-Request-ID and X-Correlation-ID, to send back with an answer."""
    headers = request.headers
    return {name: headers[name] for name in (MEDMIJ_REQUEST_ID, CORRELATION_ID)
            if name in headers}


def response_format(request: Request) -> str | None:
    """'json' or 'xml' as the client asked (FHIR REST content negotiation), None: 406."""
    format_param = None
    if b"_format" in request.scope["query_string"]:
        # an unencoded '+' (application/fhir+xml) arrives as a space
        format_param = request.query_params.get("_format", "").replace(" ", "+") or None
    return negotiate_format(request.headers.get("accept"), format_param)


def fhir_error_response(request: Request, exc: FhirError, realm: str) -> Response:
    """The OperationOutcome for a resource-server refusal, in the client's format (JSON when it
    accepts neither), with the request's ids echoed."""
    headers = echoed_ids(request)
    if exc.challenge is not None:
        headers["WWW-Authenticate"] = realm + (f', error="{exc.challenge}"'
                                               if exc.challenge else "")
    return operation_outcome(exc.status, exc.code, exc.description, exc.fhir_version,
                             headers, response_format(request) or "json")


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


# --- the handlers create_app registers -----------------------------------------------------
async def on_authorize_redirect(request: Request, exc: AuthorizeRedirect) -> Response:
    return redirect_with_error(exc)


async def on_untrusted(request: Request, exc: UntrustedRequest) -> Response:
    return error_page(exc.error, exc.description, exc.status)


async def on_browser_refused(request: Request, exc: BrowserRefused) -> Response:
    return refused_page(exc.description, exc.status)


async def on_token_error(request: Request, exc: TokenEndpointError) -> Response:
    return token_error(exc.error, exc.description, exc.status)


async def on_grant_error(request: Request, exc) -> Response:  # simulators.dva.grants.GrantError
    return token_error(exc.error, exc.description, exc.status)


async def on_fhir_error(request: Request, exc: FhirError) -> Response:
    return fhir_error_response(request, exc, request.app.state.dva.realm)


async def on_invalid_request(request: Request, exc: RequestValidationError) -> Response:
    """A missing or malformed parameter: OAuth JSON at the token endpoints, a Dutch page for a
    person's browser, JSON for other API clients."""
    fields = invalid_fields(exc)
    description = f"missing or invalid: {fields}"
    if request.url.path in TOKEN_PATHS:
        return token_error(OAuthError.INVALID_REQUEST, description)
    if wants_html(request):
        return error_page(OAuthError.INVALID_REQUEST, description)
    return JSONResponse({"error": OAuthError.INVALID_REQUEST, "error_description": description},
                        status_code=400)


def fhir_http_error(request: Request, exc: HTTPException) -> Response:
    """A framework refusal on a FHIR path (an unknown path, a method the endpoint does not
    take): an OperationOutcome with the same status and headers (``Allow`` on a 405), in the
    FHIR version of the endpoint the path names (STU3 when it names none)."""
    segments = request.url.path.split("/")  # "", "fhir", slug, service, ...
    dienst = GEGEVENSDIENSTEN.get(segments[3]) if len(segments) > 3 else None
    status = exc.status_code
    if status == 405:
        code, diagnostics = "not-supported", (
            f"{request.method} is not supported here"
            + (f"; allowed: {exc.headers['Allow']}." if exc.headers and "Allow" in exc.headers
               else "."))
    else:
        code = "not-found" if status == 404 else "processing"
        diagnostics = "No such FHIR endpoint or resource path." if status == 404 \
            else str(exc.detail)
    headers = {**(exc.headers or {}), **echoed_ids(request)}
    return operation_outcome(status, code, diagnostics,
                             dienst.fhir_version if dienst else "3.0", headers,
                             response_format(request) or "json")


async def on_http_error(request: Request, exc: Exception) -> Response:
    """A framework refusal (404, 405): an OperationOutcome on a FHIR path, a Dutch page for a
    person's browser, FastAPI's JSON for other API clients (the token endpoints keep their
    own shape above)."""
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith(FHIR_PREFIX):
        return fhir_http_error(request, exc)
    if wants_html(request) and request.url.path not in TOKEN_PATHS:
        message = HTTP_MESSAGES.get(exc.status_code, "Dit verzoek kan niet worden uitgevoerd.")
        return HTMLResponse(person_page("Er ging iets mis", message, back=BACK),
                            status_code=exc.status_code, headers=exc.headers)
    return await http_exception_handler(request, exc)


def handlers(grant_error: type[Exception]) -> dict[type[Exception], object]:
    """Exception class -> handler, for ``FastAPI(exception_handlers=...)`` or a loop of
    ``app.add_exception_handler``."""
    return {AuthorizeRedirect: on_authorize_redirect, UntrustedRequest: on_untrusted,
            BrowserRefused: on_browser_refused, TokenEndpointError: on_token_error,
            grant_error: on_grant_error, FhirError: on_fhir_error,
            RequestValidationError: on_invalid_request, HTTPException: on_http_error}
