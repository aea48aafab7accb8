"""The DVA's OAuth state: authorization sessions, codes, grants and tokens, in SQLite.

Codes and tokens are UUIDv4. A code is single use and lives 900 s; an access token 900 s; a
refresh token (long-lived consent only) is rotated on use and lapses after 6 months without
collecting. Access tokens are also cached in memory: the resource server checks one per request.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from simulators.common import clock
from simulators.common.storage import open_db, transaction

CODE_SECONDS = 900
ACCESS_SECONDS = 900
CONSENT_LAPSE_SECONDS = 183 * 24 * 3600  # 6 months without collecting

SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_session (
    id TEXT PRIMARY KEY, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL, scope TEXT NOT NULL,
    state TEXT NOT NULL, provider TEXT NOT NULL, services TEXT NOT NULL, correlation_id TEXT,
    patient_index INTEGER, created REAL NOT NULL, done INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS grant_ (
    id TEXT PRIMARY KEY, client_id TEXT NOT NULL, provider TEXT NOT NULL, services TEXT NOT NULL,
    scope TEXT NOT NULL, patient_index INTEGER NOT NULL, long_lived INTEGER NOT NULL,
    created REAL NOT NULL, last_used REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS code (
    code TEXT PRIMARY KEY, grant_id TEXT NOT NULL REFERENCES grant_(id),
    redirect_uri TEXT NOT NULL, expires REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS token (
    token TEXT PRIMARY KEY, kind TEXT NOT NULL, grant_id TEXT NOT NULL REFERENCES grant_(id),
    expires REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS token_grant ON token(grant_id);
CREATE INDEX IF NOT EXISTS grant_client ON grant_(client_id);
"""


class GrantError(Exception):
    """An OAuth error to answer with: ``error`` is the OAuth error code."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class Grant:
    id: str
    client_id: str
    provider: str
    services: tuple[str, ...]
    scope: str
    patient_index: int
    long_lived: bool
    last_used: float


@dataclass(frozen=True)
class AccessToken:
    grant: Grant
    expires: float


def _grant(row) -> Grant:
    return Grant(row["id"], row["client_id"], row["provider"], tuple(json.loads(row["services"])),
                 row["scope"], row["patient_index"], bool(row["long_lived"]), row["last_used"])


class GrantStore:
    def __init__(self, path: Path) -> None:
        self.db = open_db(path, SCHEMA)
        self._access: dict[str, AccessToken] = {}

    # authorization sessions -------------------------------------------------------------
    def start_session(self, client_id: str, redirect_uri: str, scope: str, state: str,
                      provider: str, services: list[str], correlation_id: str | None) -> str:
        session_id = str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO auth_session (id, client_id, redirect_uri, scope, state, provider,"
            " services, correlation_id, created) VALUES (?,?,?,?,?,?,?,?,?)",
            (session_id, client_id, redirect_uri, scope, state, provider, json.dumps(services),
             correlation_id, clock.now()),
        )
        return session_id

    def session(self, session_id: str) -> dict | None:
        row = self.db.execute(
            "SELECT * FROM auth_session WHERE id = ? AND done = 0 AND created > ?",
            (session_id, clock.now() - CODE_SECONDS),
        ).fetchone()
        return dict(row) if row else None

    def identify(self, session_id: str, patient_index: int, services: list[str] | None = None,
                 scope: str | None = None) -> None:
        """Bind the person; ``services``/``scope`` narrow the grant to what the provider holds
        (the token response then names the narrower scope, RFC 6749 section 5.1)."""
        self.db.execute(
            "UPDATE auth_session SET patient_index = ?, services = COALESCE(?, services),"
            " scope = COALESCE(?, scope) WHERE id = ?",
            (patient_index, json.dumps(services) if services is not None else None, scope,
             session_id))

    def finish_session(self, session_id: str) -> bool:
        return self.db.execute(
            "UPDATE auth_session SET done = 1 WHERE id = ? AND done = 0", (session_id,)
        ).rowcount == 1

    # codes -------------------------------------------------------------------------------
    def issue_code(self, session: dict, long_lived: bool) -> str:
        code, grant_id, now = str(uuid.uuid4()), str(uuid.uuid4()), clock.now()
        with transaction(self.db) as db:
            db.execute(
                "INSERT INTO grant_ (id, client_id, provider, services, scope, patient_index,"
                " long_lived, created, last_used) VALUES (?,?,?,?,?,?,?,?,?)",
                (grant_id, session["client_id"], session["provider"], session["services"],
                 session["scope"], session["patient_index"], int(long_lived), now, now),
            )
            db.execute("INSERT INTO code (code, grant_id, redirect_uri, expires) VALUES (?,?,?,?)",
                       (code, grant_id, session["redirect_uri"], now + CODE_SECONDS))
        return code

    def exchange_code(self, code: str, client_id: str, redirect_uri: str) -> dict:
        """Token response for a code: single use, same client, same redirect_uri, 900 s.

        Refusals are decided inside the transaction but raised after it commits, so a replayed
        code's revocation is kept.
        """
        with transaction(self.db) as db:
            row = db.execute(
                "SELECT code.*, grant_.client_id, grant_.revoked FROM code"
                " JOIN grant_ ON grant_.id = code.grant_id WHERE code = ?", (code,)
            ).fetchone()
            if row is None:
                error = GrantError("invalid_grant", "Unknown authorization code.")
            elif row["used"]:
                # RFC 6749 10.5: a replayed code revokes what it granted
                self._revoke_grant(db, row["grant_id"])
                error = GrantError("invalid_grant", "Authorization code already used.")
            else:
                db.execute("UPDATE code SET used = 1 WHERE code = ?", (code,))
                if row["expires"] < clock.now():
                    error = GrantError("invalid_grant", "Authorization code expired.")
                elif row["client_id"] != client_id or row["redirect_uri"] != redirect_uri:
                    error = GrantError("invalid_grant", "Code was issued to another client or URI.")
                elif row["revoked"]:
                    error = GrantError("invalid_grant", "Grant revoked.")
                else:
                    return self._issue_tokens(db, row["grant_id"])
        raise error

    def refresh(self, refresh_token: str, client_id: str) -> dict:
        """Rotate a refresh token: the old one is spent, a new pair is issued."""
        with transaction(self.db) as db:
            row = db.execute(
                "SELECT token.*, grant_.client_id, grant_.last_used, grant_.revoked AS g_revoked"
                " FROM token JOIN grant_ ON grant_.id = token.grant_id"
                " WHERE token = ? AND kind = 'refresh'", (refresh_token,)
            ).fetchone()
            if row is None or row["revoked"] or row["g_revoked"]:
                error = GrantError("invalid_grant", "Unknown, used or revoked refresh token.")
            elif row["client_id"] != client_id:
                error = GrantError("invalid_grant", "Refresh token was issued to another client.")
            elif row["last_used"] + CONSENT_LAPSE_SECONDS < clock.now():
                self._revoke_grant(db, row["grant_id"])
                error = GrantError("invalid_grant", "Consent lapsed after 6 months without use.")
            else:
                db.execute("UPDATE token SET revoked = 1 WHERE token = ?", (refresh_token,))
                return self._issue_tokens(db, row["grant_id"])
        raise error

    def _issue_tokens(self, db, grant_id: str) -> dict:
        grant = _grant(db.execute("SELECT * FROM grant_ WHERE id = ?", (grant_id,)).fetchone())
        now = clock.now()
        access = str(uuid.uuid4())
        db.execute("INSERT INTO token (token, kind, grant_id, expires) VALUES (?,?,?,?)",
                   (access, "access", grant_id, now + ACCESS_SECONDS))
        body = {"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_SECONDS,
                "scope": grant.scope}
        if grant.long_lived:
            refresh = str(uuid.uuid4())
            db.execute("INSERT INTO token (token, kind, grant_id, expires) VALUES (?,?,?,?)",
                       (refresh, "refresh", grant_id, now + CONSENT_LAPSE_SECONDS))
            body["refresh_token"] = refresh
        self._remember(access, AccessToken(grant, now + ACCESS_SECONDS))
        return body

    # the resource server's check ---------------------------------------------------------
    def access(self, token: str) -> Grant | None:
        """The grant behind a valid access token, or None."""
        cached = self._access.get(token)
        if cached is None:
            row = self.db.execute(
                "SELECT token.expires, grant_.* FROM token"
                " JOIN grant_ ON grant_.id = token.grant_id WHERE token = ?"
                " AND kind = 'access' AND token.revoked = 0 AND grant_.revoked = 0",
                (token,),
            ).fetchone()
            if row is None:
                return None
            cached = AccessToken(_grant(row), row["expires"])
            self._remember(token, cached)
        now = clock.now()
        if cached.expires < now:
            self._access.pop(token, None)
            return None
        if now - cached.grant.last_used > 3600:  # consent stays alive while collecting
            self.db.execute("UPDATE grant_ SET last_used = ? WHERE id = ?", (now, cached.grant.id))
            cached = AccessToken(replace(cached.grant, last_used=now), cached.expires)
            self._access[token] = cached
        return cached.grant

    def _remember(self, token: str, access: AccessToken) -> None:
        """Cache an access token; expired ones are dropped as the cache grows (load runs)."""
        if len(self._access) >= 20_000:
            now = clock.now()
            self._access = {t: a for t, a in self._access.items() if a.expires >= now}
        self._access[token] = access

    # revocation --------------------------------------------------------------------------
    def _revoke_grant(self, db, grant_id: str) -> None:
        db.execute("UPDATE grant_ SET revoked = 1 WHERE id = ?", (grant_id,))
        db.execute("UPDATE token SET revoked = 1 WHERE grant_id = ?", (grant_id,))
        self._access = {t: a for t, a in self._access.items() if a.grant.id != grant_id}

    def revoke_token(self, token: str, client_id: str) -> None:
        """RFC 7009: revoking either token of a grant ends the whole consent."""
        with transaction(self.db) as db:
            row = db.execute(
                "SELECT token.grant_id FROM token JOIN grant_ ON grant_.id = token.grant_id"
                " WHERE token = ? AND grant_.client_id = ?", (token, client_id)
            ).fetchone()
            if row is not None:
                self._revoke_grant(db, row["grant_id"])

    def revoke_clients_not_in(self, clients: set[str]) -> int:
        """Revoke every grant of clients that left the OCL (a vendor cut off)."""
        with transaction(self.db) as db:
            rows = db.execute("SELECT id, client_id FROM grant_ WHERE revoked = 0").fetchall()
            gone = [r["id"] for r in rows if r["client_id"] not in clients]
            for grant_id in gone:
                self._revoke_grant(db, grant_id)
        return len(gone)
