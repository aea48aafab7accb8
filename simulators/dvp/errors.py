"""The DVP's one error model: every refusal is a ``DvpError``, answered in one place.

::

    DvpError                      status, error, error_description (+ context fields)
    ├── LoginRequired             401 login_required      browser: back to the login page
    ├── InvalidCredentials        401 invalid_credentials
    ├── Forbidden                 403 forbidden           not your account, no CSRF token, …
    │   └── SessionMismatch       403 session_mismatch    a callback in another PGO session
    ├── NotFound                  404 not_found           no such person, provider, consent
    ├── Refused                   4xx                     a request the PGO will not carry out
    │   ├── CuratorActive         403 curator             the vendor is bankrupt
    │   └── ProviderRefused       400 <the DVA's code>    the DVA's own refusal, passed on
    └── UpstreamFailed            502/504 <code>          a DVA call failed (token, search,
                                                          write, revoke); ``retry`` when a new
                                                          start can help

``install(app)`` maps the tree once: an API client (``/api/…`` or no ``text/html`` in Accept)
gets JSON ``{"error", "error_description", …context}``; a person's browser gets a Dutch page
with a way back (``LoginRequired``: the login page itself; ``UpstreamFailed`` with ``retry``:
a form that starts again with the session's CSRF token). A callback's collect summary is a
result, not an error, and keeps its own shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import httpx

from simulators.common import html
from simulators.common.html import escape, hidden
from simulators.common.i18n import _
from simulators.medmij import OAuthError

if TYPE_CHECKING:  # the tree itself needs no web framework: services raise it
    from fastapi import FastAPI, Request
    from starlette.responses import HTMLResponse, Response


class DvpError(Exception):
    """A refusal with its HTTP status, a machine code, a reason, and a Dutch page text."""

    status = 400
    error = str(OAuthError.INVALID_REQUEST)
    title = "Dat lukt niet"

    def __init__(self, description: str, *, http_status: int | None = None,
                 error: str | None = None, message: str | None = None,
                 **context: object) -> None:
        super().__init__(description)
        self.description = description
        if http_status is not None:
            self.status = http_status
        if error is not None:
            self.error = str(error)
        self.message = message or description  # what the person reads (Dutch where given)
        self.context = {k: v for k, v in context.items() if v is not None}

    def body(self) -> dict:
        """The JSON answer: the two OAuth-style members first, then the context."""
        return {"error": self.error, "error_description": self.description} | self.context


class LoginRequired(DvpError):
    status, error = 401, "login_required"

    def __init__(self, description: str = "log in to this PGO first") -> None:
        super().__init__(description)


class InvalidCredentials(DvpError):
    status, error, title = 401, "invalid_credentials", "Inloggen mislukt"

    def __init__(self) -> None:
        super().__init__("unknown account or wrong password",
                         message="Accountnummer of wachtwoord klopt niet.")


class Forbidden(DvpError):
    """A session, but not this person's, or a state change without CSRF token/own origin."""

    status, error, title = 403, "forbidden", "Geen toegang"

    def __init__(self, reason: str, **kwargs: object) -> None:
        kwargs.setdefault("message", _("Dit kan niet vanuit deze pagina of met dit account "
                                       "({reason}). Log opnieuw in en probeer het nog eens.",
                                       reason=reason))
        super().__init__(reason, **kwargs)  # type: ignore[arg-type]
        self.reason = reason


class SessionMismatch(Forbidden):
    """A MedMij callback completes only in the browser session that started it."""

    error, title = "session_mismatch", "Koppeling niet voltooid"

    def __init__(self) -> None:
        super().__init__(
            "this authorization was started by another PGO session: open the link in the "
            "browser where you started it, logged in to your own account",
            message="Deze koppeling is gestart vanuit een andere sessie. Log in op uw eigen "
                    "account in de browser waarin u de koppeling startte.",
            status="refused")


class NotFound(DvpError):
    status, error, title = 404, "not_found", "Niet gevonden"


class Refused(DvpError):
    """A request the PGO will not carry out (unknown state, bad report, no consent, …)."""

    title = "Niet mogelijk"


class CuratorActive(Refused):
    """A bankrupt vendor collects nothing new; the message is the curator's notice."""

    status, error, title = 403, "curator", "Ophalen niet mogelijk"

    def __init__(self, notice: str) -> None:
        super().__init__(notice)


class ProviderRefused(Refused):
    """The DVA answered the authorization with an error (the person declined, not receptive):
    passed on with the DVA's own code."""

    title = "Niet gelukt bij de zorgaanbieder"

    def __init__(self, error: str, description: str | None, **context: object) -> None:
        super().__init__(description or "", error=error,
                         message=_("De zorgaanbieder weigerde: {error}.", error=error),
                         **context)
        self.context = {"status": "refused"} | self.context


class UpstreamFailed(DvpError):
    """A call to the DVA failed: a gateway answer (502, or 504 when it gave none in time)."""

    status, title = 502, "Ophalen mislukt"

    def __init__(self, step: str, error: str, description: str = "", *, status: int = 502,
                 retry: str | None = None, **context: object) -> None:
        status = 504 if status == 504 else 502  # a gateway: the DVA's fault, not ours
        message = ("De zorgaanbieder antwoordde niet op tijd. Uw gegevens zijn niet opgehaald; "
                   "u kunt het opnieuw proberen." if status == 504 else
                   _("Ophalen mislukt bij stap {step}: {error}.", step=step, error=error))
        super().__init__(description, http_status=status, error=error, message=message,
                         **context)
        self.context = {"status": "failed", "step": step} | self.context
        self.retry = retry
        if retry:
            self.context["retry"] = retry

    @classmethod
    def unreachable(cls, step: str, exc: Exception, **context: object) -> UpstreamFailed:
        """The DVA refused the connection, dropped it, or gave no answer in time (504)."""
        return cls(step, OAuthError.TEMPORARILY_UNAVAILABLE,
                   f"the DVA could not be reached ({type(exc).__name__})",
                   status=504 if isinstance(exc, httpx.TimeoutException) else 502, **context)


def is_api(request: Request) -> bool:
    """An API client (JSON) rather than a person's browser (a Dutch page)."""
    return request.url.path.startswith("/api/") or \
        "text/html" not in request.headers.get("accept", "")


def error_page(title: str, message: str, status: int, banner: str,
               extra: str = "") -> HTMLResponse:
    """A Dutch (or English) page for a person, always with the way back to the start page."""
    from starlette.responses import HTMLResponse

    return HTMLResponse(html.error_page(title, message, banner=banner, extra=extra,
                                        back=("/", "Naar de startpagina")), status_code=status)


def retry_form(retry: str, csrf_token: str) -> str:
    """A form that starts the connect (or share) again: a new authorization, never the same
    code twice (the DVA may have used it)."""
    path, _sep, query = retry.partition("?")
    return (f"<form method='post' action='{escape(path)}'>" + hidden("csrf_token", csrf_token)
            + "".join(hidden(k, v) for k, v in parse_qsl(query))
            + f"<button type='submit'>{escape(_('Opnieuw proberen'))}</button></form>")


# Framework refusals (unknown page, wrong method, a form without its fields) in words.
HTTP_MESSAGES = {
    400: "Het formulier of de link is niet compleet of klopt niet.",
    404: "Deze pagina bestaat niet.",
    405: "Deze pagina kan niet op deze manier worden geopend.",
    413: "Het bestand is te groot.",
}


def install(app: FastAPI, banner: str) -> None:
    """Register the one handler of the tree on the DVP app (``banner``: the node's name), and
    give a person's browser a Dutch page for the framework's own refusals too (an unknown
    page, a form without its fields); API clients keep their JSON shapes."""
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, RedirectResponse

    api_validation = app.exception_handlers.get(RequestValidationError)

    async def framework(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 400
        if is_api(request):
            if isinstance(exc, HTTPException):
                return await http_exception_handler(request, exc)
            assert api_validation is not None
            return await api_validation(request, exc)
        message = HTTP_MESSAGES.get(status, "Dit verzoek kan niet worden uitgevoerd.")
        return error_page("Dat lukt niet", message, status, banner)

    async def answer(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DvpError)
        if is_api(request):
            headers = {"WWW-Authenticate": 'Cookie realm="pgo"'} \
                if isinstance(exc, LoginRequired) else None
            return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
        if isinstance(exc, LoginRequired):
            return RedirectResponse("/", status_code=303)
        extra = ""
        if isinstance(exc, UpstreamFailed) and exc.retry:
            session = request.app.state.dvp.accounts.current(request)
            extra = retry_form(exc.retry, session.csrf_token if session else "")
        return error_page(exc.title, exc.message, exc.status, banner, extra)

    app.add_exception_handler(DvpError, answer)
    app.add_exception_handler(HTTPException, framework)
    app.add_exception_handler(RequestValidationError, framework)
