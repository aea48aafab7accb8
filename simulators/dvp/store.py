"""A DVP's storage: persons, pending authorizations, grants, collected resources, request log.

One SQLite file; each collect is stored in one transaction, so a kill mid-collect leaves the
previous dossier, never half of a new one.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import orjson

from simulators.common.clock import Clock, SandboxClock
from simulators.common.medmij_client import SearchResult
from simulators.common.storage import open_db, transaction
from simulators.medmij import utc_timestamp

SCHEMA = """
CREATE TABLE IF NOT EXISTS person (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS auth_request (
    state TEXT PRIMARY KEY, person_id TEXT NOT NULL REFERENCES person(id), provider TEXT NOT NULL,
    scope TEXT NOT NULL, services TEXT NOT NULL, correlation_id TEXT NOT NULL,
    created REAL NOT NULL, done INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS grant_ (
    person_id TEXT NOT NULL REFERENCES person(id), provider TEXT NOT NULL, scope TEXT NOT NULL,
    services TEXT NOT NULL, access_token TEXT, access_expires REAL, refresh_token TEXT,
    updated REAL NOT NULL, PRIMARY KEY (person_id, provider));
CREATE TABLE IF NOT EXISTS resource (
    person_id TEXT NOT NULL REFERENCES person(id), provider TEXT NOT NULL, service TEXT NOT NULL,
    resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, body BLOB NOT NULL,
    collected_at TEXT NOT NULL,
    PRIMARY KEY (person_id, provider, service, resource_type, resource_id));
CREATE TABLE IF NOT EXISTS request_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, person_id TEXT NOT NULL REFERENCES person(id),
    provider TEXT NOT NULL, service TEXT NOT NULL, request_uri TEXT NOT NULL,
    status INTEGER NOT NULL, timestamp TEXT NOT NULL, correlation_id TEXT);
CREATE INDEX IF NOT EXISTS log_person ON request_log(person_id);
CREATE TABLE IF NOT EXISTS collection (
    id INTEGER PRIMARY KEY AUTOINCREMENT, person_id TEXT NOT NULL REFERENCES person(id),
    provider TEXT NOT NULL, correlation_id TEXT NOT NULL, at TEXT NOT NULL,
    status TEXT NOT NULL, step TEXT NOT NULL, reason TEXT NOT NULL, searches TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS collection_person ON collection(person_id, provider);
"""
# ``collection``: one row per collect attempt (issue 16): complete / partial / failed /
# refused, the step it stopped at and why, and per search its outcome (JSON). CREATE ... IF NOT
# EXISTS adds it to a DVP database of an older version as it opens.


class DvpStore:
    """The DVP's database; ``clock`` stamps rows (default: wall time, no sandbox offset)."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.db = open_db(path, SCHEMA)
        self.clock = clock if clock is not None else SandboxClock(None)

    def add_person(self, name: str) -> str:
        person_id = str(uuid.uuid4())
        self.db.execute("INSERT INTO person (id, name, created) VALUES (?,?,?)",
                        (person_id, name, self.clock.now()))
        return person_id

    def person(self, person_id: str) -> dict | None:
        row = self.db.execute("SELECT * FROM person WHERE id = ?", (person_id,)).fetchone()
        return dict(row) if row else None

    def persons(self) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT * FROM person ORDER BY created")]

    def start_authorization(self, person_id: str, provider: str, scope: str,
                            services: list[str], correlation_id: str) -> str:
        state = str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO auth_request (state, person_id, provider, scope, services,"
            " correlation_id, created) VALUES (?,?,?,?,?,?,?)",
            (state, person_id, provider, scope, json.dumps(services), correlation_id,
             self.clock.now()))
        return state

    def pending_owner(self, state: str) -> str | None:
        """The person an open authorization belongs to, without taking it: a callback in
        another browser must not use up the state of the person's own."""
        row = self.db.execute("SELECT person_id FROM auth_request WHERE state = ? AND done = 0",
                              (state,)).fetchone()
        return row["person_id"] if row else None

    def take_authorization(self, state: str) -> dict | None:
        """The pending authorization for a callback's state, once (replays find nothing)."""
        with transaction(self.db) as db:
            row = db.execute("SELECT * FROM auth_request WHERE state = ? AND done = 0",
                             (state,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE auth_request SET done = 1 WHERE state = ?", (state,))
        request = dict(row)
        request["services"] = json.loads(request["services"])
        return request

    def save_grant(self, person_id: str, provider: str, scope: str, services: list[str],
                   token: dict) -> None:
        now = self.clock.now()
        self.db.execute(
            "INSERT OR REPLACE INTO grant_ (person_id, provider, scope, services, access_token,"
            " access_expires, refresh_token, updated) VALUES (?,?,?,?,?,?,?,?)",
            (person_id, provider, scope, json.dumps(services), token["access_token"],
             now + float(token.get("expires_in", 900)), token.get("refresh_token"), now))

    def grants(self, person_id: str) -> list[dict]:
        rows = self.db.execute("SELECT * FROM grant_ WHERE person_id = ?", (person_id,))
        return [dict(r) | {"services": json.loads(r["services"])} for r in rows]

    def store_collect(self, person_id: str, provider: str, results: list[SearchResult],
                      correlation_id: str, status: str | None = None, reason: str = "") -> int:
        """Log every request and store every resource of one collect, atomically; with
        ``status`` also the collection record (``record_collection``) in the same
        transaction. Resources are only added or updated, never removed: what an earlier
        collect brought stays when this one fails or brings less."""
        stored = 0
        with transaction(self.db) as db:
            if status is not None:
                self._insert_collection(db, person_id, provider, correlation_id, status,
                                        "search", reason, [r.as_dict() for r in results])
            for result in results:
                db.execute(
                    "INSERT INTO request_log (person_id, provider, service, request_uri, status,"
                    " timestamp, correlation_id) VALUES (?,?,?,?,?,?,?)",
                    (person_id, provider, result.service, result.request_uri, result.status,
                     result.timestamp, correlation_id))
                for r in result.resources:
                    db.execute(
                        "INSERT OR REPLACE INTO resource (person_id, provider, service,"
                        " resource_type, resource_id, body, collected_at) VALUES (?,?,?,?,?,?,?)",
                        (person_id, provider, result.service, r["resourceType"], r["id"],
                         orjson.dumps(r), result.timestamp))
                    stored += 1
        return stored

    def resources(self, person_id: str) -> list[dict]:
        rows = self.db.execute(
            "SELECT provider, service, body FROM resource WHERE person_id = ?"
            " ORDER BY provider, service, resource_type, resource_id", (person_id,))
        return [{"provider": r["provider"], "gegevensdienst": r["service"],
                 "resource": orjson.loads(r["body"])} for r in rows]

    def collected(self, person_id: str) -> list[dict]:
        """Per provider: when its data was last collected ("opgehaald op") and how much."""
        rows = self.db.execute(
            "SELECT provider, MAX(collected_at) AS collected_at, COUNT(*) AS count"
            " FROM resource WHERE person_id = ? GROUP BY provider ORDER BY provider",
            (person_id,))
        return [dict(r) for r in rows]

    def request_log(self, person_id: str) -> list[dict]:
        rows = self.db.execute(
            "SELECT provider, service, request_uri, status, timestamp, correlation_id"
            " FROM request_log WHERE person_id = ? ORDER BY id", (person_id,))
        return [dict(r) for r in rows]

    def _insert_collection(self, db, person_id: str, provider: str, correlation_id: str,
                           status: str, step: str, reason: str, searches: list[dict]) -> None:
        db.execute(
            "INSERT INTO collection (person_id, provider, correlation_id, at, status, step,"
            " reason, searches) VALUES (?,?,?,?,?,?,?,?)",
            (person_id, provider, correlation_id, utc_timestamp(self.clock.now()), status,
             step, reason, json.dumps(searches)))

    def record_collection(self, person_id: str, provider: str, correlation_id: str,
                          status: str, step: str, reason: str) -> None:
        """A collect that stopped before any search (refused at the DVA, token failed)."""
        self._insert_collection(self.db, person_id, provider, correlation_id, status, step,
                                reason, [])

    def collections(self, person_id: str) -> list[dict]:
        """Per provider the latest collect attempt, with its per-search outcomes."""
        rows = self.db.execute(
            "SELECT * FROM collection WHERE id IN (SELECT MAX(id) FROM collection"
            " WHERE person_id = ? GROUP BY provider) ORDER BY provider", (person_id,))
        return [{k: r[k] for k in ("provider", "correlation_id", "at", "status", "step",
                                   "reason")} | {"searches": json.loads(r["searches"])}
                for r in rows]
