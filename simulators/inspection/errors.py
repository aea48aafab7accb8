"""The inspection function's errors, mapped once (``install``, called by ``create_app``).

::

    MGOError(status, message)
    ├── NotThisBrowser       403  a DigiD return this browser did not start (login CSRF)
    ├── NotLoggedIn          403  /next, /oauth/callback, /overview without a login here
    ├── LoginNotConfirmed    400  DigiD gave no artifact, or it did not resolve
    ├── UnknownAnswer        400  an OAuth callback with a state this session did not send
    └── LocalisationFailed   502  DigiD or the registry did not answer usefully

Two shapes, by who asks: the admin API (``/admin/...``) answers JSON
``{"error", "error_description"}``; every other path is a page a person sees, so it answers
a Dutch HTML page with a way back to the start. Starlette's HTTP errors (the admin token's
401) and FastAPI's validation errors take the same two shapes. A provider that refuses or
fails is not an error of the function: it is a line of the overview.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from simulators.common.app import install_error_model
from simulators.common.html import error_page
from simulators.medmij import OAuthError

API_PREFIXES = ("/admin/",)
TITLE = "Uw gezondheidsoverzicht"
START_AGAIN = "Start bij Mijn Gezondheidsoverzicht."
# Framework refusals a person's browser can meet, in words (the framework's are English).
HTTP_MESSAGES = {
    404: "Deze pagina bestaat niet.",
    405: "Deze pagina kan niet op deze manier worden geopend.",
}


class MGOError(Exception):
    """A request the function refuses: ``status`` and the Dutch ``message`` for the person."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotThisBrowser(MGOError):
    status = 403

    def __init__(self) -> None:
        super().__init__("Deze DigiD-login is niet in deze browser begonnen. Start opnieuw "
                         "bij Mijn Gezondheidsoverzicht.")


class NotLoggedIn(MGOError):
    status = 403

    def __init__(self) -> None:
        super().__init__("U bent niet ingelogd, of uw bezoek is al afgerond: een getoond "
                         "overzicht wordt niet bewaard, dus verversen of terug kan niet. "
                         f"{START_AGAIN}")


class LoginNotConfirmed(MGOError):
    pass


class UnknownAnswer(MGOError):
    def __init__(self) -> None:
        super().__init__("Onbekend of al gebruikt antwoord van de zorgaanbieder.")


class LocalisationFailed(MGOError):
    status = 502

    def __init__(self) -> None:
        super().__init__("De zorgaanbieders konden nu niet worden opgezocht. Probeer het later "
                         "opnieuw.")


def answer(request: Request, status: int, message: str,
           headers: dict[str, str] | None = None) -> Response:
    if request.url.path.startswith(API_PREFIXES):
        error = OAuthError.INVALID_TOKEN if status == 401 else OAuthError.INVALID_REQUEST
        return JSONResponse({"error": str(error), "error_description": message},
                            status_code=status, headers=headers)
    node_name = request.app.state.node_name
    return HTMLResponse(error_page(TITLE, HTTP_MESSAGES.get(status, message), banner=node_name,
                                   back=("/", "Opnieuw beginnen")), status_code=status)


def install(app: FastAPI) -> None:
    install_error_model(app, MGOError,
                        lambda request, exc: answer(request, exc.status, exc.message), answer,
                        "Ontbrekende of ongeldige gegevens: {fields}.")
