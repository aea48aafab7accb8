"""Front-channel and admin security every node shares (ARCHITECTURE.md principle 8).

- ``SecurityHeaders``: pages may not be framed (clickjacking on consent and login screens),
  HTML is never cached (a back button must not show another person's data), no MIME sniffing,
  and no Referer leaves the origin (codes and states ride in URLs).
- CSRF: every form post carries a per-session token that the server compares in constant
  time (``csrf_ok``), and a present ``Origin`` or ``Referer`` must be one of the node's own
  origins (``same_origin``). Browser binding: a session lives in an HttpOnly, SameSite cookie
  (``set_session_cookie``), host-only on https (``cookie_name``), never in a value carried
  in the URL.
- Admin APIs (MedMij Beheer, the curator, test hooks) require ``Authorization: Bearer
  <admin token>``; the runtime writes the token into the state directory (``admin.token``,
  mode 0600) before any node starts, and the CLI reads it from there.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import Response

ADMIN_TOKEN_FILE = "admin.token"

PAGE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
# Over https (the medmij profile): a browser that has seen a node never tries plain http for
# its hostname again (no subdomains: the sandbox domain's other hosts are other parties)
HSTS = (b"strict-transport-security", b"max-age=31536000")
NO_STORE: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
)


class SecurityHeaders:
    """Pure ASGI middleware: frame, sniff and referrer headers on every response,
    ``Strict-Transport-Security`` on every https response, and ``Cache-Control: no-store`` on
    HTML and redirects (unless the app already set a policy)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = PAGE_HEADERS + (HSTS,) if scope.get("scheme") == "https" else PAGE_HEADERS

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in added if k not in names]
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                redirect = 300 <= message["status"] < 400
                if (content_type.startswith(b"text/html") or redirect) \
                        and b"cache-control" not in names:
                    headers += list(NO_STORE)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)


# CSRF and browser binding ---------------------------------------------------------------

def new_token() -> str:
    """A fresh unguessable value (session ids, CSRF tokens)."""
    return secrets.token_urlsafe(32)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of the session's CSRF token with the one the form posted."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def bound_token(key: bytes, value: str) -> str:
    """A token only this node can derive from ``value`` (a cookie's): HMAC-SHA256 under a key
    it keeps in memory. A form or redirect carrying it is bound to the browser that holds the
    cookie, with nothing stored on the server (a planted cookie gives no usable token)."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


class PendingLogins:
    """Logins started by browsers not yet logged in, stored nowhere: the browser holds the
    cookie ``<issued>.<nonce>``, the form or redirect carries its ``bound_token``, valid for
    ``seconds`` after ``issued`` (the time is inside the HMAC, so it cannot be moved). A
    restart (a new key) ends the pending ones. Anonymous requests so cost no memory."""

    def __init__(self, seconds: float, now: Callable[[], float] = time.time) -> None:
        self.seconds, self.now = seconds, now
        self._key = secrets.token_bytes(32)

    def start(self) -> tuple[str, str]:
        """(cookie value, token) of a new pending login."""
        cookie = f"{self.now():.3f}.{new_token()}"
        return cookie, self.token(cookie)

    def token(self, cookie: str) -> str:
        return bound_token(self._key, cookie)

    def ok(self, cookie: str | None, token: str | None) -> bool:
        """Whether ``token`` was issued with this cookie, at most ``seconds`` ago."""
        if not cookie or not csrf_ok(self.token(cookie), token):
            return False
        try:
            issued = float(cookie.rpartition(".")[0])  # the nonce has no dot
        except ValueError:
            return False
        return 0 <= self.now() - issued <= self.seconds


def _origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request, own_origins: set[str] | frozenset[str]) -> bool:
    """Whether a state-changing request comes from one of the node's own pages.

    ``Origin`` is checked where the browser sends one (``null`` counts as foreign); otherwise
    ``Referer``; a request with neither (a script, an old browser) passes this check and must
    still present the CSRF token.
    """
    own = {o.rstrip("/").lower() for o in own_origins}
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.rstrip("/").lower() in own
    referer = request.headers.get("referer")
    if referer is not None:
        return _origin_of(referer) in own
    return True


HOST_PREFIX = "__Host-"


def cookie_name(request: Request, name: str) -> str:
    """The name a browser-binding cookie has on this request: ``__Host-<name>`` on https.

    A browser keeps a cookie of that name only when this very host set it, Secure, with
    ``Path=/`` and no ``Domain``. So another host of the sandbox domain (an outside
    participant at ``evil.sandbox.test``) cannot plant one with ``Domain=.sandbox.test`` to
    tie a login or an authorization to a session of its own; a cookie without the prefix is
    not read at all. Plain http (the loopback profile) has no such guard: every 127.0.0.1
    port shares one cookie jar, which is why the names carry the node id."""
    return HOST_PREFIX + name if request.url.scheme == "https" else name


def read_cookie(request: Request, name: str) -> str | None:
    """This browser's cookie ``name`` (see ``cookie_name``), if it sent one."""
    return request.cookies.get(cookie_name(request, name))


def _cookie_path(request: Request, path: str) -> str:
    """``path`` over plain http (every 127.0.0.1 port gets a cookie whose path matches, so
    it is kept to the pages that read it); ``/`` on https, as ``__Host-`` requires."""
    return "/" if request.url.scheme == "https" else path


def set_session_cookie(response: Response, request: Request, name: str, value: str, *,
                       max_age: int | None = None, path: str = "/") -> None:
    """A browser-bound session: HttpOnly (no script reads it), SameSite=Lax (not sent on
    cross-site posts), on https Secure and host-only (``cookie_name``)."""
    response.set_cookie(cookie_name(request, name), value, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", max_age=max_age,
                        path=_cookie_path(request, path))


def delete_session_cookie(response: Response, request: Request, name: str,
                          path: str = "/") -> None:
    """Ends ``set_session_cookie``'s cookie; with the same attributes, since a browser
    ignores a ``__Host-`` cookie's deletion that is not Secure."""
    response.delete_cookie(cookie_name(request, name), path=_cookie_path(request, path),
                           httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")


# Admin token ---------------------------------------------------------------------------

def ensure_admin_token(state_dir: Path) -> str:
    """The sandbox's admin token: created once per state directory (mode 0600), reused after."""
    path = Path(state_dir) / ADMIN_TOKEN_FILE
    if path.exists():
        return path.read_text("utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = new_token()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    os.replace(tmp, path)
    return token


def read_admin_token(state_dir: Path) -> str | None:
    path = Path(state_dir) / ADMIN_TOKEN_FILE
    return path.read_text("utf-8").strip() if path.exists() else None


def admin_headers(state_dir: Path) -> dict[str, str]:
    """What the CLI and scenarios send to an admin API."""
    token = read_admin_token(state_dir)
    return {"Authorization": f"Bearer {token}"} if token else {}


def check_bearer(request: Request, token: str | None, refusal: str, realm: str) -> None:
    """Raise 401 (``refusal``, a ``WWW-Authenticate`` for ``realm``) unless the request
    carries ``token`` as its bearer token, compared in constant time."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode(), token.encode()):
        raise HTTPException(401, refusal, headers={"WWW-Authenticate": f'Bearer realm="{realm}"'})


def check_admin(request: Request, token: str | None) -> None:
    """Raise 401 unless the request carries the admin token (FastAPI dependency body)."""
    check_bearer(request, token, "admin API: send Authorization: Bearer <admin token> (the "
                 "runtime wrote it to admin.token in the state directory)", "pgo-sandbox-admin")
