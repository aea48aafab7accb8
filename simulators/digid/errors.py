"""DigiD's errors, mapped once (``install``, called by ``create_app``).

::

    DigiDError(status, message)
    ├── RelyingPartyRefused   400  unknown relying party, or return_to off its host
    ├── FormRefused           403  a form post from another origin, a stale CSRF token,
    │                              "Doorgaan als ..." without a live DigiD session
    ├── ArtifactRefused       400  back channel: unknown, used, expired or another
    │                              relying party's artifact
    └── PeerNotRelyingParty   403  back channel over TLS: the client certificate names
                                   another host than the relying party ``rp``

Two shapes, by who asks: the back channel and the automation API (``/artifact``,
``/api/...``) answer JSON ``{"error", "error_description"}``; every other path is a page a
person sees, so it answers a Dutch HTML page with the way back (never a redirect: the
return address is what could not be trusted). Starlette's HTTP errors and FastAPI's
validation errors take the same two shapes.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from simulators.common.app import install_error_model
from simulators.common.html import error_page
from simulators.medmij import OAuthError

API_PREFIXES = ("/artifact", "/api/")
BANNER = "DigiD simulator"


class DigiDError(Exception):
    """A request DigiD refuses: ``status``, the Dutch ``message`` for a person, and the
    ``error`` code for an API client."""

    error = OAuthError.INVALID_REQUEST
    title = "DigiD: niet toegestaan"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RelyingPartyRefused(DigiDError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class FormRefused(DigiDError):
    def __init__(self, message: str) -> None:
        super().__init__(403, message)


class ArtifactRefused(DigiDError):
    error = OAuthError.INVALID_GRANT

    def __init__(self) -> None:
        super().__init__(400, "unknown, used or expired artifact")


class PeerNotRelyingParty(DigiDError):
    """Over TLS only the relying party itself resolves its artifacts (its certificate)."""

    error = OAuthError.ACCESS_DENIED

    def __init__(self, rp: str, peer: str | None) -> None:
        who = f"certificate hostname {peer}" if peer else "no client certificate"
        super().__init__(403, f"{who} is not the relying party {rp}: an artifact is resolved"
                         " only by the relying party it was issued to")


# Framework refusals a person's browser can meet, in words (the framework's are English).
HTTP_MESSAGES = {
    404: "Deze pagina bestaat niet.",
    405: "Deze pagina kan niet op deze manier worden geopend.",
}
BACK = ("/", "Ga terug naar de website waar u wilde inloggen en probeer het opnieuw.")


def refused_page(message: str, status: int, title: str = DigiDError.title) -> HTMLResponse:
    """The person's page: what went wrong, in Dutch (or English), and the way back (DigiD's
    start page, never the return address: that is what could not be trusted)."""
    return HTMLResponse(error_page(title, message, banner=BANNER, back=BACK),
                        status_code=status)


def answer(request: Request, status: int, message: str,
           error: str = OAuthError.INVALID_REQUEST,
           headers: dict[str, str] | None = None) -> Response:
    if request.url.path.startswith(API_PREFIXES):
        return JSONResponse({"error": str(error), "error_description": message},
                            status_code=status, headers=headers)
    return refused_page(HTTP_MESSAGES.get(status, message), status)


def install(app: FastAPI) -> None:
    install_error_model(
        app, DigiDError, lambda request, exc: answer(request, exc.status, exc.message, exc.error),
        lambda request, status, message, headers: answer(request, status, message,
                                                         headers=headers),
        "Ontbrekende of ongeldige gegevens: {fields}.")
