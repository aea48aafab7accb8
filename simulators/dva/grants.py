"""The DVA's OAuth state: authorization sessions, codes, grants and tokens, in SQLite.

Codes and tokens are UUIDv4. A code is single use and lives 900 s; an access token 900 s; a
refresh token (long-lived consent only) is rotated on use and valid 6 months from its issue,
and the consent lapses after 6 months without collecting (SPEC.md section 3, step 7). The
SQLite rows are the truth; access tokens are also held in an in-memory ``TokenIndex`` because
the resource server checks one per request. Every index operation is O(1) in the number of
live tokens (issue 17: a cache rebuilt per new token collapsed the token endpoint from
~1,180 to ~100 exchanges/s once 20,000 tokens were live).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from simulators.common.clock import Clock
from simulators.common.clock import default as default_clock
from simulators.common.storage import open_db, transaction
from simulators.medmij import CONSENT_LAPSE_SECONDS, OAuthError

CODE_SECONDS = 900
ACCESS_SECONDS = 900

SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_session (
    id TEXT PRIMARY KEY, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL, scope TEXT NOT NULL,
    state TEXT NOT NULL, provider TEXT NOT NULL, services TEXT NOT NULL, correlation_id TEXT,
    patient_index INTEGER, created REAL NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    browser TEXT, csrf TEXT);
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
CREATE INDEX IF NOT EXISTS code_expires ON code(expires);
CREATE INDEX IF NOT EXISTS token_expires ON token(expires);
CREATE INDEX IF NOT EXISTS session_created ON auth_session(created);
CREATE INDEX IF NOT EXISTS grant_created ON grant_(created);
CREATE TABLE IF NOT EXISTS revocation (
    id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL);
INSERT OR IGNORE INTO revocation (id, generation) VALUES (1, 0);
"""
# How often a process looks whether another one (a DVA replica on the same database) revoked
# something: its TokenIndex would otherwise honour a revoked token until it expired.
REVOCATION_CHECK_S = 1.0
PURGE_EVERY_S = 60.0  # wall seconds between purges of expired rows (see GrantStore.purge)
PURGE_BATCH = 20_000  # rows per table per purge: one purge never holds the loop for long
# columns added after the first release: an existing dva.sqlite gets them on open
SESSION_COLUMNS = {"browser": "TEXT", "csrf": "TEXT"}


def browser_digest(secret: str) -> str:
    """What the store keeps of a browser-binding secret: its hash, so a copy of the database
    cannot be replayed as a cookie."""
    return hashlib.sha256(secret.encode()).hexdigest()


class GrantError(Exception):
    """An OAuth error to answer with: ``error`` is the OAuth error code."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _invalid_grant(description: str) -> GrantError:
    """Every refusal of a code or refresh token is ``invalid_grant`` (RFC 6749 5.2)."""
    return GrantError(OAuthError.INVALID_GRANT, description)


@dataclass(frozen=True, slots=True)
class Grant:
    id: str
    client_id: str
    provider: str
    services: tuple[str, ...]
    scope: str
    patient_index: int
    long_lived: bool
    last_used: float


def _grant(row) -> Grant:
    return Grant(row["id"], row["client_id"], row["provider"], tuple(json.loads(row["services"])),
                 row["scope"], row["patient_index"], bool(row["long_lived"]), row["last_used"])


# the grant's columns as _grant reads them, for queries that join grant_ to a code or token (one
# statement instead of a second SELECT of the grant on the token endpoint's hot path)
GRANT_COLUMNS = ("grant_.id, grant_.client_id, grant_.provider, grant_.services, grant_.scope,"
                 " grant_.patient_index, grant_.long_lived, grant_.last_used,"
                 " grant_.revoked AS g_revoked")
EXPIRY_BUCKET_SECONDS = 30


@dataclass(slots=True)
class _GrantTokens:
    """One grant in the index: its current Grant (``last_used`` moves) and its live tokens."""

    grant: Grant
    tokens: set[str] = field(default_factory=set)


class TokenIndex:
    """The live access tokens in memory, every operation O(1) in their number.

    * ``token -> (grant id, expires)`` answers the resource server's check per request;
    * ``grant id -> _GrantTokens`` lets revocation drop a grant's tokens without a scan, and
      keeps one Grant per grant (its ``last_used`` is updated once, not per token);
    * expiry buckets: a token is filed under ``expires // bucket_seconds``; a bucket whose whole
      span is past is dropped when the next operation passes by. Each token is filed once and
      dropped once, so expiry is amortised O(1) per token and costs a heap peek per request.
      The heap holds bucket keys only (about ACCESS_SECONDS / bucket_seconds + 1 of them), so a
      sandbox clock moved months ahead costs nothing extra.

    Tokens revoked or dropped early stay named in their bucket until it is swept (at most
    ACCESS_SECONDS later); the sweep skips them. The index never decides alone that a token is
    unknown: GrantStore falls back to SQLite on a miss. ``touched`` counts the entries the
    operations visit, so tests can check the complexity without timing anything.
    """

    def __init__(self, bucket_seconds: float = EXPIRY_BUCKET_SECONDS) -> None:
        self.bucket_seconds = bucket_seconds
        self._tokens: dict[str, tuple[str, float]] = {}
        self._grants: dict[str, _GrantTokens] = {}
        self._buckets: dict[int, list[str]] = {}
        self._heap: list[int] = []
        self.touched = 0

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._tokens

    @property
    def grants(self) -> int:
        return len(self._grants)

    @property
    def buckets(self) -> int:
        return len(self._buckets)

    def add(self, token: str, grant: Grant, expires: float, now: float) -> None:
        """Hold a token of ``grant`` until ``expires`` (sandbox clock)."""
        self.expire(now)
        self._tokens[token] = (grant.id, expires)
        entry = self._grants.get(grant.id)
        if entry is None:
            entry = self._grants[grant.id] = _GrantTokens(grant)
        elif grant.last_used > entry.grant.last_used:
            entry.grant = grant
        entry.tokens.add(token)
        key = int(expires // self.bucket_seconds)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = []
            heapq.heappush(self._heap, key)
        bucket.append(token)
        self.touched += 3  # the token, its grant, its bucket

    def get(self, token: str, now: float) -> tuple[Grant, float] | None:
        """``(grant, expires)`` of a held token, expired or not (the caller decides); None when
        the index does not hold it."""
        heap = self._heap
        if heap and heap[0] < now // self.bucket_seconds:  # a bucket to drop (expire's test)
            self.expire(now)
        held = self._tokens.get(token)
        self.touched += 1
        if held is None:
            return None
        return self._grants[held[0]].grant, held[1]

    def discard(self, token: str) -> None:
        held = self._tokens.get(token)
        self.touched += 1
        if held is not None:
            self._drop(token, held[0])

    def set_grant(self, grant: Grant) -> None:
        """A newer state of a held grant (``last_used`` moved)."""
        entry = self._grants.get(grant.id)
        self.touched += 1
        if entry is not None:
            entry.grant = grant

    def revoke_grant(self, grant_id: str) -> int:
        """Drop every token of a grant: O(that grant's tokens), not O(all tokens)."""
        entry = self._grants.pop(grant_id, None)
        self.touched += 1
        if entry is None:
            return 0
        for token in entry.tokens:
            self.touched += 1
            self._tokens.pop(token, None)
        return len(entry.tokens)

    def expire(self, now: float) -> int:
        """Drop the buckets whose whole span is before ``now``; the number of tokens dropped."""
        current = int(now // self.bucket_seconds)
        dropped = 0
        while self._heap and self._heap[0] < current:
            for token in self._buckets.pop(heapq.heappop(self._heap)):
                self.touched += 1
                held = self._tokens.get(token)
                if held is not None:  # filed under a past bucket: expired by construction
                    self._drop(token, held[0])
                    dropped += 1
        return dropped

    def _drop(self, token: str, grant_id: str) -> None:
        del self._tokens[token]
        entry = self._grants.get(grant_id)
        if entry is not None:
            entry.tokens.discard(token)
            if not entry.tokens:
                del self._grants[grant_id]


class GrantStore:
    """The DVA's OAuth state. SQLite (WAL, synchronous=NORMAL: see open_db) is the truth; the
    TokenIndex holds the access tokens issued or checked since this process started.

    After a restart the index starts empty and a token it does not hold is looked up in SQLite
    once (primary key) and then held: start-up stays instant whatever the number of live tokens
    (loading 1 M of them would take seconds and memory for tokens nobody may present again),
    and a row written by another path (a benchmark, a crash between commit and index) is still
    honoured. The price is one indexed SELECT per unknown or already-expired token.
    """

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.clock = clock or default_clock()
        self.db = open_db(path, SCHEMA)
        present = {r["name"] for r in self.db.execute("PRAGMA table_info(auth_session)")}
        for column, kind in SESSION_COLUMNS.items():
            if column not in present:
                self.db.execute(f"ALTER TABLE auth_session ADD COLUMN {column} {kind}")
        self.index = TokenIndex()
        self._next_purge = time.monotonic() + PURGE_EVERY_S
        self._generation = self._revocation_generation()
        self._next_revocation_check = time.monotonic() + REVOCATION_CHECK_S

    # expired rows ------------------------------------------------------------------------
    def purge(self, now: float | None = None) -> dict[str, int]:
        """Delete what can never be used again, so the database stays bounded under a
        steady load (issue 17: every code, token and session was kept forever, and a soak
        grew the DVA's SQLite without end).

        Gone: authorization sessions older than a code's life, expired codes, expired tokens
        (access and refresh; a rotated refresh token stays until its own expiry, so its reuse
        is still recognised), and short-lived grants with no code or token left. Long-lived
        grants stay: their consent is revoked or lapses through the refresh token's rules.
        One transaction, at most ``PURGE_BATCH`` rows per table (the next purge takes more).
        """
        now = self.clock.now() if now is None else now
        counts = {}
        with transaction(self.db) as db:
            for table, column, horizon in (("auth_session", "created", now - CODE_SECONDS),
                                           ("code", "expires", now),
                                           ("token", "expires", now)):
                counts[table] = db.execute(
                    f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table}"
                    f" WHERE {column} < ? LIMIT ?)", (horizon, PURGE_BATCH)).rowcount
            counts["grant_"] = db.execute(
                "DELETE FROM grant_ WHERE rowid IN (SELECT rowid FROM grant_ g WHERE"
                " g.long_lived = 0 AND g.created < ?"
                " AND NOT EXISTS (SELECT 1 FROM token t WHERE t.grant_id = g.id)"
                " AND NOT EXISTS (SELECT 1 FROM code c WHERE c.grant_id = g.id) LIMIT ?)",
                (now - CODE_SECONDS, PURGE_BATCH)).rowcount
        return counts

    def _maybe_purge(self) -> None:
        """A purge at most every ``PURGE_EVERY_S`` wall seconds, from the write path."""
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + PURGE_EVERY_S
            self.purge()

    # authorization sessions -------------------------------------------------------------
    def start_session(self, client_id: str, redirect_uri: str, scope: str, state: str,
                      provider: str, services: list[str], correlation_id: str | None,
                      browser_secret: str, csrf: str) -> str:
        """A new authorization session, bound to the browser that holds ``browser_secret``
        (the DVA's cookie) and carrying the CSRF token its forms must post back."""
        self._maybe_purge()
        session_id = str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO auth_session (id, client_id, redirect_uri, scope, state, provider,"
            " services, correlation_id, created, browser, csrf) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (session_id, client_id, redirect_uri, scope, state, provider, json.dumps(services),
             correlation_id, self.clock.now(), browser_digest(browser_secret), csrf),
        )
        return session_id

    @staticmethod
    def bound_to(session: dict, browser_secret: str | None) -> bool:
        """Whether the browser presenting ``browser_secret`` is the one that started the
        session: RelayState and session_id travel in URLs and forms, the cookie does not."""
        if not browser_secret or not session.get("browser"):
            return False
        return hmac.compare_digest(session["browser"], browser_digest(browser_secret))

    def session(self, session_id: str) -> dict | None:
        row = self.db.execute(
            "SELECT * FROM auth_session WHERE id = ? AND done = 0 AND created > ?",
            (session_id, self.clock.now() - CODE_SECONDS),
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
        code, grant_id, now = str(uuid.uuid4()), str(uuid.uuid4()), self.clock.now()
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

    def exchange_code(self, code: str, client_id: str, redirect_uri: str,
                      refuse: Callable[[Grant], bool] | None = None) -> dict:
        """Token response for a code: single use, same client, same redirect_uri, 900 s.

        Refusals are decided inside the transaction but raised after it commits, so a replayed
        code's revocation is kept. ``refuse`` (the ``code_expired`` fault) makes a valid code
        count as expired: spent and refused like one.
        """
        with transaction(self.db) as db:
            row = db.execute(
                f"SELECT code.grant_id, code.redirect_uri, code.expires, code.used, {GRANT_COLUMNS}"
                " FROM code JOIN grant_ ON grant_.id = code.grant_id WHERE code = ?", (code,)
            ).fetchone()
            if row is None:
                error = _invalid_grant("Unknown authorization code.")
            elif row["used"]:
                # RFC 6749 10.5: a replayed code revokes what it granted
                self._revoke_grant(db, row["grant_id"])
                error = _invalid_grant("Authorization code already used.")
            else:
                db.execute("UPDATE code SET used = 1 WHERE code = ?", (code,))
                if row["expires"] < self.clock.now() or (
                        refuse is not None and refuse(_grant(row))):
                    error = _invalid_grant("Authorization code expired.")
                elif row["client_id"] != client_id or row["redirect_uri"] != redirect_uri:
                    error = _invalid_grant("Code was issued to another client or URI.")
                elif row["g_revoked"]:
                    error = _invalid_grant("Grant revoked.")
                else:
                    error = None
                    body, issued = self._issue_tokens(db, _grant(row))
        if error is not None:
            raise error
        self.index.add(*issued)  # after the commit: the index never holds an unwritten token
        return body

    def refresh(self, refresh_token: str, client_id: str,
                refuse: Callable[[Grant], bool] | None = None) -> dict:
        """Rotate a refresh token: the old one is spent, a new pair is issued. ``refuse`` (the
        ``refresh_refused`` fault) refuses a valid one as unknown, changing nothing.

        Two clocks end a refresh token: the consent lapses 6 months after the grant was last
        used (the grant is revoked), and the token itself expires 6 months after it was issued
        (refused, the grant left as it is: collecting keeps the consent alive, not a token).

        A spent (rotated) refresh token presented again means two parties hold the grant's
        tokens: the whole grant is revoked, every access and refresh token of it (OAuth 2.0
        Security BCP, refresh token rotation). As with codes, the refusal is raised after the
        revocation commits.
        """
        with transaction(self.db) as db:
            row = db.execute(
                f"SELECT token.grant_id, token.revoked, token.expires, {GRANT_COLUMNS}"
                " FROM token JOIN grant_ ON grant_.id = token.grant_id"
                " WHERE token = ? AND kind = 'refresh'", (refresh_token,)
            ).fetchone()
            if row is not None and row["revoked"] and not row["g_revoked"]:
                self._revoke_grant(db, row["grant_id"])
                error = _invalid_grant("Refresh token already used: the consent"
                                       " is revoked, the person must give it again.")
            elif row is None or row["revoked"] or row["g_revoked"]:
                error = _invalid_grant("Unknown, used or revoked refresh token.")
            elif row["client_id"] != client_id:
                error = _invalid_grant("Refresh token was issued to another client.")
            elif refuse is not None and refuse(_grant(row)):
                error = _invalid_grant("Unknown, used or revoked refresh token.")
            elif row["last_used"] + CONSENT_LAPSE_SECONDS < self.clock.now():
                self._revoke_grant(db, row["grant_id"])
                error = _invalid_grant("Consent lapsed after 6 months without use.")
            elif row["expires"] < self.clock.now():  # 6 months from its issue
                error = _invalid_grant("Refresh token expired: the person must give consent"
                                       " again.")
            else:
                db.execute("UPDATE token SET revoked = 1 WHERE token = ?", (refresh_token,))
                error = None
                body, issued = self._issue_tokens(db, _grant(row))
        if error is not None:
            raise error
        self.index.add(*issued)
        return body

    def _issue_tokens(self, db, grant: Grant) -> tuple[dict, tuple[str, Grant, float, float]]:
        """Write a new token pair inside the caller's transaction; returns the token response
        and what the index is to hold once the transaction has committed."""
        now = self.clock.now()
        access = str(uuid.uuid4())
        db.execute("INSERT INTO token (token, kind, grant_id, expires) VALUES (?,?,?,?)",
                   (access, "access", grant.id, now + ACCESS_SECONDS))
        body = {"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_SECONDS,
                "scope": grant.scope}
        if grant.long_lived:
            refresh = str(uuid.uuid4())
            db.execute("INSERT INTO token (token, kind, grant_id, expires) VALUES (?,?,?,?)",
                       (refresh, "refresh", grant.id, now + CONSENT_LAPSE_SECONDS))
            body["refresh_token"] = refresh
        return body, (access, grant, now + ACCESS_SECONDS, now)

    # the resource server's check ---------------------------------------------------------
    def access(self, token: str) -> Grant | None:
        """The grant behind a valid access token, or None."""
        if time.monotonic() >= self._next_revocation_check:
            self._follow_revocations()
        now = self.clock.now()
        held = self.index.get(token, now)
        if held is None:  # not issued or checked by this process yet: SQLite decides
            row = self.db.execute(
                f"SELECT token.expires, {GRANT_COLUMNS} FROM token"
                " JOIN grant_ ON grant_.id = token.grant_id WHERE token = ? AND kind = 'access'"
                " AND token.revoked = 0 AND grant_.revoked = 0 AND token.expires >= ?",
                (token, now),
            ).fetchone()
            if row is None:
                return None
            held = _grant(row), row["expires"]
            self.index.add(token, held[0], held[1], now)
        grant, expires = held
        if expires < now:
            self.index.discard(token)
            return None
        if now - grant.last_used > 3600:  # consent stays alive while collecting
            self.db.execute("UPDATE grant_ SET last_used = ? WHERE id = ?", (now, grant.id))
            grant = replace(grant, last_used=now)
            self.index.set_grant(grant)
        return grant

    # revocation --------------------------------------------------------------------------
    def _revocation_generation(self) -> int:
        return self.db.execute("SELECT generation FROM revocation WHERE id = 1").fetchone()[0]

    def _follow_revocations(self) -> None:
        """Several processes on one dva.sqlite (DVA replicas in a swarm): every revocation
        bumps a generation in SQLite; when another process did, this one forgets the tokens
        it holds in memory and lets SQLite decide again, so a revoked consent ends at every
        replica within ``REVOCATION_CHECK_S``. One indexed read per second, not per request."""
        self._next_revocation_check = time.monotonic() + REVOCATION_CHECK_S
        generation = self._revocation_generation()
        if generation != self._generation:
            self._generation = generation
            self.index = TokenIndex(self.index.bucket_seconds)

    def _revoke_grant(self, db, grant_id: str) -> None:
        db.execute("UPDATE grant_ SET revoked = 1 WHERE id = ?", (grant_id,))
        db.execute("UPDATE token SET revoked = 1 WHERE grant_id = ?", (grant_id,))
        db.execute("UPDATE revocation SET generation = generation + 1 WHERE id = 1")
        self.index.revoke_grant(grant_id)

    def revoke_grant(self, grant_id: str) -> None:
        """End a whole consent at once (the ``token_revoked`` fault: as if the person withdrew
        it)."""
        with transaction(self.db) as db:
            self._revoke_grant(db, grant_id)

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
