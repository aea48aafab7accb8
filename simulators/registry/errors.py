"""The registry's errors, mapped once (``install``, called by ``create_app``) to the shape of
its JSON APIs: ``{"error", "error_description"}`` with a 4xx status, never ``{"detail"}``.

::

    RegistryError(status, description)          -> {"error": CODES[status], ...}
    ├── ChangeRefused      MedMij Beheer asked for a change the lists cannot carry:
    │                      400 invalid, 404 nothing to remove, 409 conflicts with the
    │                      listed entry, 422 the lists cannot be built with it
    ├── UnsupportedApi     ?api= names a version this list is not published in (400)
    └── NotAPseudonym      /localisation got something no localisation key opens (400)

Starlette's own HTTP errors (401 from ``require_admin``, an unknown path, a wrong method) and
FastAPI's validation errors get the same shape, so an admin client reads one error model.
A person's browser that opens a page address that does not exist (404, 405) gets a page with
the way back to the lists instead. The exceptions are plain Python: the services (``state``,
``localisation``) raise them without knowing about HTTP.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from simulators.common.app import install_error_model
from simulators.common.html import error_page
from simulators.medmij import LIST_PATHS, OAuthError

# The admin API's error words per status: OAuth's where they fit (a bad request, a bad bearer
# token), plain HTTP names for the rest.
CODES: dict[int, str] = {
    400: OAuthError.INVALID_REQUEST,
    401: OAuthError.INVALID_TOKEN,
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "unprocessable",
}


class RegistryError(Exception):
    """A request the registry refuses: ``status`` (4xx) and the reason in words."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class ChangeRefused(RegistryError):
    """MedMij Beheer asked for a change the lists cannot carry; nothing was changed."""


class UnsupportedApi(RegistryError):
    def __init__(self, api: str, supported: str) -> None:
        super().__init__(400, f"unsupported api version {api!r}; supported: {supported}")


class NotAPseudonym(RegistryError):
    def __init__(self) -> None:
        super().__init__(400, "not a localisation pseudonym")


def error_response(status: int, description: str, headers: dict | None = None) -> JSONResponse:
    fallback = OAuthError.INVALID_REQUEST if status < 500 else OAuthError.SERVER_ERROR
    code = CODES.get(status, fallback)
    return JSONResponse({"error": str(code), "error_description": description},
                        status_code=status, headers=headers)


# A person's browser that mistypes an address gets a page back to the lists, not JSON.
PAGE_MESSAGES = {
    404: "Deze pagina bestaat niet.",
    405: "Deze pagina kan niet op deze manier worden geopend.",
}
_API_PATHS = frozenset(LIST_PATHS.values())


def for_a_person(request: Request, status: int) -> bool:
    """A browser (HTML accepted) on a page address: not the admin API, not a MedMij list."""
    return (status in PAGE_MESSAGES and "text/html" in request.headers.get("accept", "")
            and not request.url.path.startswith("/admin")
            and request.url.path not in _API_PATHS)


def _answer(request: Request, status: int, description: str,
            headers: dict[str, str] | None) -> Response:
    if for_a_person(request, status):
        return HTMLResponse(error_page("Niet gevonden", PAGE_MESSAGES[status],
                                       banner="MedMij Stelselnode (sandbox)",
                                       back=("/lists", "Naar de MedMij-lijsten")),
                            status_code=status, headers=headers)
    return error_response(status, description, headers)


def install(app: FastAPI) -> None:
    """Map every error of the registry app to the one JSON shape."""
    install_error_model(app, RegistryError,
                        lambda request, exc: error_response(exc.status, exc.description),
                        _answer, "missing or invalid: {fields}")
