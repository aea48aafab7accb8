"""PGO accounts: the person logs in to their own PGO (issue 11, item 3).

A PGO is the citizen's own environment, so every ``/persons/{id}`` and ``/api/persons/{id}``
route belongs to exactly one logged-in person (``AccountGuard``), and every state-changing
request carries the session's CSRF token and passes the same-origin check.

- Passwords: ``hashlib.scrypt`` (memory-hard, in the standard library) with N=2^14, r=8, p=1
  (16 MiB, about 35 ms on one core). That is the cost of RFC 7914's interactive example, below
  OWASP's 2^17: a load test logs hundreds of people in per minute on two shared cores, and at
  2^17 (128 MiB, ~0.3 s) the login, not the MedMij flow, would be what it measures. The
  parameters are stored with every hash, so a deployment can raise them without a migration.
  Hashing runs in a worker thread so a login never stalls the node's event loop.
- Sessions: the cookie ``<node id>_session`` (HttpOnly, SameSite=Lax) holds an unguessable id
  from ``new_token()``; the database keeps only its SHA-256, so a copy of the database logs
  nobody in. A session ends after 30 minutes without use or 12 hours in all, by the wall clock
  (not the sandbox clock: moving the sandbox clock 200 days in a drill is not the person
  walking away from the screen).
- Before login the forms on ``/`` carry a CSRF token bound to a pre-session cookie
  (``<node id>_presession``) by an HMAC with a per-process key (login CSRF).
- Credentials and sessions live in ``dvp.sqlite`` beside the person's data, so the curator's
  erasure removes them with everything else.
- Bodies: the CSRF check is the first to read a form, so it reads it through ``read_upload``,
  which counts bytes as they arrive and refuses (413) past ``portability.MAX_BODY_BYTES`` (the
  largest thing a person sends is a portabiliteitsrapport): a chunked upload without
  Content-Length is never read whole before the limit is checked.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from simulators.common.body import read_body
from simulators.common.security import (
    bound_token,
    csrf_ok,
    delete_session_cookie,
    new_token,
    read_cookie,
    same_origin,
    set_session_cookie,
)
from simulators.dvp import portability
from simulators.dvp.errors import Forbidden, LoginRequired, Refused

SCHEMA = """
CREATE TABLE IF NOT EXISTS account (
    person_id TEXT PRIMARY KEY REFERENCES person(id), password_hash TEXT NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS session (
    id_hash TEXT PRIMARY KEY, person_id TEXT NOT NULL REFERENCES person(id),
    csrf_token TEXT NOT NULL, created REAL NOT NULL, last_seen REAL NOT NULL);
CREATE INDEX IF NOT EXISTS session_person ON session(person_id);
"""

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
SESSION_IDLE_SECONDS = 30 * 60
SESSION_MAX_SECONDS = 12 * 3600
TOUCH_SECONDS = 60  # last_seen is written at most once a minute per session
PASSWORD_MIN, PASSWORD_MAX = 8, 200
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R,
                  p: int = SCRYPT_P) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64): the parameters travel with the hash."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32,
                            maxmem=256 * 1024 * 1024)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        again = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                               r=int(r), p=int(p), dklen=32, maxmem=256 * 1024 * 1024)
    except ValueError:
        return False
    return hmac.compare_digest(again, base64.b64decode(digest))


# A hash to compare against when the person id is unknown: the answer takes as long either way.
_DUMMY_HASH = hash_password(new_token())


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    person_id: str
    csrf_token: str


class AccountStore:
    """Credentials and sessions in the DVP's own database."""

    def __init__(self, db, now: Callable[[], float] = time.time) -> None:
        self.db = db
        self.now = now
        self.db.executescript(SCHEMA)

    def set_password(self, person_id: str, password: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO account (person_id, password_hash, created)"
                        " VALUES (?,?,?)", (person_id, hash_password(password), self.now()))

    def check_password(self, person_id: str, password: str) -> bool:
        row = self.db.execute("SELECT password_hash FROM account WHERE person_id = ?",
                              (person_id,)).fetchone()
        ok = verify_password(password, row["password_hash"] if row else _DUMMY_HASH)
        return ok and row is not None

    def open_session(self, person_id: str) -> tuple[str, Session]:
        """A new session for the person: (cookie value, session)."""
        session_id, csrf = new_token(), new_token()
        now = self.now()
        self.db.execute("INSERT INTO session (id_hash, person_id, csrf_token, created,"
                        " last_seen) VALUES (?,?,?,?,?)",
                        (_digest(session_id), person_id, csrf, now, now))
        return session_id, Session(person_id, csrf)

    def session(self, session_id: str | None) -> Session | None:
        """The live session behind a cookie value; expired ones are deleted on sight."""
        if not session_id:
            return None
        key = _digest(session_id)
        row = self.db.execute("SELECT * FROM session WHERE id_hash = ?", (key,)).fetchone()
        if row is None:
            return None
        now = self.now()
        if now - row["last_seen"] > SESSION_IDLE_SECONDS or \
                now - row["created"] > SESSION_MAX_SECONDS:
            self.db.execute("DELETE FROM session WHERE id_hash = ?", (key,))
            return None
        if now - row["last_seen"] > TOUCH_SECONDS:
            self.db.execute("UPDATE session SET last_seen = ? WHERE id_hash = ?", (now, key))
        return Session(row["person_id"], row["csrf_token"])

    def close_session(self, session_id: str | None) -> None:
        if session_id:
            self.db.execute("DELETE FROM session WHERE id_hash = ?", (_digest(session_id),))


async def read_upload(request: Request, limit: int | None = None) -> bytes:
    """What a person sent, read by ``read_body`` and refused (413, a Dutch message) once it
    passes ``limit`` (default ``portability.MAX_BODY_BYTES``): a 200 MB upload is never held
    in memory, and ``request.form()`` afterwards parses the bytes read."""
    limit = portability.MAX_BODY_BYTES if limit is None else limit
    return await read_body(request, limit, Refused(
        f"a portability report may be at most {limit} bytes", http_status=413,
        message="Dit bestand is te groot om in te lezen: een portabiliteitsrapport mag ten "
                f"hoogste {limit / 2**20:g} MiB zijn."))


async def read_form(request: Request) -> FormData:
    """The request's form, its body read by ``read_upload`` first (capped). A route with
    ``Form`` parameters had FastAPI parse the form before any dependency ran; Starlette then
    refuses a second read of the stream ("Stream consumed") and ``form()`` returns that
    parse."""
    try:
        await read_upload(request)
    except RuntimeError:  # the stream was consumed by FastAPI's own form parse: use it
        pass
    return await request.form()


class AccountGuard:
    """Sessions, cookies and CSRF of one DVP node; ``person`` and ``session`` are what the
    routers' dependencies (``simulators.dvp.deps``) call."""

    def __init__(self, db, node_id: str, origins: frozenset[str]) -> None:
        """``db``: the DVP's database (accounts live beside the person's data); ``node_id``
        names the cookies (unique per node: browsers do not separate 127.0.0.1 ports);
        ``origins``: this PGO's own origins for the Origin/Referer check."""
        self.store = AccountStore(db)
        self.cookie = f"{node_id}_session"
        self.pre_cookie = f"{node_id}_presession"
        self.origins = origins
        self._key = os.urandom(32)  # binds pre-session CSRF tokens; a restart invalidates them

    # sessions ------------------------------------------------------------------------

    def current(self, request: Request) -> Session | None:
        return self.store.session(read_cookie(request, self.cookie))

    def login(self, request: Request, person_id: str,
              respond: Callable[[Session], Response]) -> Response:
        """Open a session (ending one this browser had) and set its cookie on the answer that
        ``respond`` builds for it (the answer may carry the session's CSRF token)."""
        self.store.close_session(read_cookie(request, self.cookie))
        session_id, session = self.store.open_session(person_id)
        response = respond(session)
        set_session_cookie(response, request, self.cookie, session_id,
                           max_age=SESSION_MAX_SECONDS)
        return response

    def logout(self, request: Request, response: Response) -> None:
        self.store.close_session(read_cookie(request, self.cookie))
        delete_session_cookie(response, request, self.cookie)

    async def check_password(self, person_id: str, password: str) -> bool:
        return await asyncio.to_thread(self.store.check_password, person_id, password)

    async def set_password(self, person_id: str, password: str) -> None:
        await asyncio.to_thread(self.store.set_password, person_id, password)

    # CSRF ----------------------------------------------------------------------------

    async def _given_token(self, request: Request) -> str | None:
        given = request.headers.get("x-csrf-token")
        if given is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            given = (await read_form(request)).get("csrf_token")
        return given if isinstance(given, str) else None

    async def check_csrf(self, request: Request, expected: str | None) -> None:
        """The state-changing request comes from this PGO's own page or client: its origin,
        and the token of the session (or pre-session)."""
        if not same_origin(request, self.origins):
            raise Forbidden("cross-origin request refused (Origin/Referer is not this PGO)")
        if not csrf_ok(expected, await self._given_token(request)):
            raise Forbidden("missing or wrong CSRF token (X-CSRF-Token or csrf_token)")

    def pre_session(self, request: Request, respond: Callable[[str], Response]) -> Response:
        """A page with the login and create-account forms: their CSRF token (no session yet)
        is bound to a pre-session cookie."""
        value = read_cookie(request, self.pre_cookie) or new_token()
        response = respond(self._pre_token(value))
        set_session_cookie(response, request, self.pre_cookie, value)
        return response

    def _pre_token(self, value: str) -> str:
        return bound_token(self._key, value)

    async def check_origin(self, request: Request) -> None:
        """Account creation and login by API: no session yet, so no token; the origin check,
        and the JSON body a cross-site form cannot send, keep other sites out."""
        if not same_origin(request, self.origins):
            raise Forbidden("cross-origin request refused (Origin/Referer is not this PGO)")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise Forbidden("send the account as application/json")

    async def check_pre_session(self, request: Request) -> None:
        value = read_cookie(request, self.pre_cookie)
        await self.check_csrf(request, self._pre_token(value) if value else None)

    # dependencies --------------------------------------------------------------------

    async def person(self, request: Request) -> Session:
        """Dependency of every ``{person_id}`` route: the logged-in person's own id only;
        POST/DELETE also need the session's CSRF token and this PGO's origin."""
        session = self.current(request)
        if session is None:
            raise LoginRequired()
        if session.person_id != request.path_params.get("person_id"):
            raise Forbidden("this account belongs to someone else")
        if request.method not in SAFE_METHODS:
            await self.check_csrf(request, session.csrf_token)
        return session

    async def session(self, request: Request) -> Session:
        """Dependency of routes without a person id (logout): any live session, with CSRF."""
        session = self.current(request)
        if session is None:
            raise LoginRequired()
        if request.method not in SAFE_METHODS:
            await self.check_csrf(request, session.csrf_token)
        return session
