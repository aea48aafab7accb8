"""Curator mode: the vendor is bankrupt, a curator is the data controller.

No new collections; people can still log in and export; once the bankruptcy is settled the
curator erases all personal data, checks that none is left, and logs the erasure (without
personal data) in the node's erasure log.

The erasure covers every store of the vendor, found by enumeration rather than a hand list:
every table of every SQLite database in the node directory (``dvp.sqlite`` with the accounts,
``consent.sqlite`` while it exists, and whatever is added later), every other file there
(exports) except the curator's own records, and the node's log (``<state>/logs/<node>.log``,
which holds person-id paths). The check is independent of the erasure: before erasing, every
identifier the vendor holds is read from the data itself (ids, names, tokens, hashes, resource
ids and the Patient's names), and afterwards every byte of every file of the vendor (databases
with their -wal/-shm, logs, exports) is searched for each of them. Any hit fails the erasure:
the admin API answers 409 with the hits and the erasure log records the failure.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from simulators.common.app import flush_hop_logs
from simulators.common.config import write_atomic
from simulators.common.storage import transaction
from simulators.dvp import file_scan
from simulators.dvp.errors import Refused

DEFAULT_NOTICE = ("Deze PGO-leverancier is failliet. Een curator beheert uw gegevens. U kunt uw "
                  "gegevens nog exporteren (portabiliteitsrapport); nieuwe gegevens ophalen kan "
                  "niet meer.")
# The curator's own records: written by the curator, never holding personal data (still scanned).
CURATOR_FILES = frozenset({"curator.json", "erasure.log"})
COMPANIONS = ("-wal", "-shm", "-journal")
# Columns whose values identify a person or their data (ids, names, secrets, URIs).
IDENTIFYING_COLUMN = re.compile(
    r"(^id$|_id$|^id_|name|token|session|csrf|^state$|^code$|password|hash|salt|secret|"
    r"account|user|login|mail|uri|url|location)", re.IGNORECASE)
MIN_IDENTIFIER = 4  # shorter values (service codes, flags) would hit by chance
MAX_REPORTED_HITS = 50


@dataclass
class Curator:
    path: object  # Path of curator.json in the node dir
    active: bool = False
    notice: str = ""
    since: float | None = None
    erased: bool = False

    @classmethod
    def load(cls, path) -> Curator:
        if path.exists():
            data = json.loads(path.read_text("utf-8"))
            return cls(path, **data)
        return cls(path)

    def save(self) -> None:
        data = {"active": self.active, "notice": self.notice, "since": self.since,
                "erased": self.erased}
        write_atomic(self.path, json.dumps(data).encode())


class ErasureFailed(RuntimeError):
    """Identifiers were found after erasure (``hits``)."""


# The erasure ------------------------------------------------------------------------------

def personal_tables(db: sqlite3.Connection) -> list[str]:
    """Every table of a database (all hold personal data or its traces): what is erased."""
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                      " AND name NOT LIKE 'sqlite_%'")
    return [r[0] for r in rows]


def storage_check(db: sqlite3.Connection) -> dict[str, int]:
    """Rows per table (a summary for the log; the scan is the check)."""
    return {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
            for t in personal_tables(db)}


def databases(node_dir: Path) -> list[Path]:
    """The SQLite files of the node directory, by their header (read in a child process:
    ``file_scan`` says why this process never opens them raw)."""
    return sorted(file_scan.sqlite_files([p for p in node_dir.rglob("*") if p.is_file()]))


def vendor_files(node_dir: Path, log_path: Path | None) -> list[Path]:
    """Every file of the vendor: its node directory, and its log."""
    files = sorted(p for p in node_dir.rglob("*") if p.is_file())
    if log_path is not None and log_path.is_file():
        files.append(log_path)
    return files


def erase_database(db: sqlite3.Connection) -> None:
    """Delete every row of every table in one transaction, then rebuild the file and empty
    the WAL, so no deleted row survives in free pages or in the log."""
    db.execute("PRAGMA secure_delete = ON")
    db.execute("PRAGMA foreign_keys = OFF")  # cannot change inside a transaction
    try:
        with transaction(db):
            for table in personal_tables(db):
                db.execute(f'DELETE FROM "{table}"')
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
                          ).fetchone():
                db.execute("DELETE FROM sqlite_sequence")
    finally:
        db.execute("PRAGMA foreign_keys = ON")
    try:  # a reader elsewhere can block these; the scan then finds whatever is left
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.OperationalError:
        pass


def erase_log(log_path: Path | None) -> None:
    """The node's log holds person-id paths: flush what this process buffered, then truncate
    it (the process appends with O_APPEND, so later lines start at the new end)."""
    if log_path is None or not log_path.exists():
        return
    flush_hop_logs()  # the hop lines this process still holds, written before the truncation
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    with open(log_path, "r+b") as fh:
        fh.truncate(0)


def erase_vendor(own_db: sqlite3.Connection, own_path: Path, node_dir: Path,
                 log_path: Path | None) -> tuple[dict[str, int], list[str]]:
    """Erase every store; returns the rows per table before, and the files removed."""
    before: dict[str, int] = {}
    removed: list[str] = []
    for path in databases(node_dir):
        prefix = "" if path == own_path else f"{path.relative_to(node_dir)}:"
        if path == own_path:
            db, close = own_db, False
        else:
            db, close = sqlite3.connect(path, isolation_level=None), True
        try:
            before |= {prefix + t: n for t, n in storage_check(db).items()}
            erase_database(db)
        finally:
            if close:
                db.close()
    dbs = {str(p) for p in databases(node_dir)}
    for path in sorted(p for p in node_dir.rglob("*") if p.is_file()):
        companion = any(str(path).endswith(s) and str(path)[: -len(s)] in dbs
                        for s in COMPANIONS)
        if str(path) in dbs or companion or path.name in CURATOR_FILES:
            continue
        path.unlink()  # exports and any other file: the vendor keeps nothing
        removed.append(str(path.relative_to(node_dir)))
    erase_log(log_path)
    return before, removed


# The independent check ------------------------------------------------------------------

def _resource_identifiers(value: object, found: dict[str, str], kind: str) -> None:
    """Every resource id in a FHIR JSON value, and a Patient's names and identifier values."""
    if isinstance(value, list):
        for item in value:
            _resource_identifiers(item, found, kind)
        return
    if not isinstance(value, dict):
        return
    if isinstance(value.get("id"), str):
        found.setdefault(value["id"], f"{kind}.id")
    if value.get("resourceType") in ("Patient", "RelatedPerson", "Person"):
        for name in value.get("name") or []:
            if isinstance(name, dict):
                parts = [name.get("text"), name.get("family"), *(name.get("given") or [])]
                for part in parts:
                    if isinstance(part, str):
                        found.setdefault(part, f"{kind}.name")
        for ident in value.get("identifier") or []:
            if isinstance(ident, dict) and isinstance(ident.get("value"), str):
                found.setdefault(ident["value"], f"{kind}.identifier")
    for child in value.values():
        if isinstance(child, dict | list):
            _resource_identifiers(child, found, kind)


def _reader(path: Path) -> sqlite3.Connection:
    """A connection that only reads. Not ``mode=ro``: a read-only open of a WAL database whose
    writer checkpoints at that moment fails with "disk I/O error" (seen in CI as a 500 at
    settlement); ``query_only`` refuses every write just the same."""
    db = sqlite3.connect(path, timeout=10)
    db.execute("PRAGMA query_only = ON")
    return db


def held_identifiers(node_dir: Path) -> dict[str, str]:
    """Identifier -> where it was held (``file:table.column``), read from the data itself: its
    own walk of the node directory for SQLite files, its own read-only connections and its own
    table list (nothing shared with the erasure's finders)."""
    found: dict[str, str] = {}
    schema_text = ""
    walked = sorted(p for p in node_dir.rglob("*") if p.is_file())
    for path in file_scan.sqlite_files(walked):
        db = _reader(path)
        try:
            master = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"
                                ).fetchall()
            schema_text += " ".join(sql or "" for _, sql in master)
            for table, _ in master:
                cursor = db.execute(f'SELECT * FROM "{table}"')
                columns = [c[0] for c in cursor.description]
                for row in cursor:
                    for column, value in zip(columns, row, strict=True):
                        kind = f"{path.name}:{table}.{column}"
                        if isinstance(value, bytes):
                            value = value.decode("utf-8", errors="ignore")
                        if not isinstance(value, str):
                            continue
                        if value[:1] in "{[":
                            try:
                                _resource_identifiers(orjson.loads(value), found, kind)
                            except orjson.JSONDecodeError:
                                pass
                        if IDENTIFYING_COLUMN.search(column):
                            found.setdefault(value, kind)
        finally:
            db.close()
    schema_lower = schema_text.lower()
    return {v: k for v, k in found.items()
            if len(v.strip()) >= MIN_IDENTIFIER and v.lower() not in schema_lower}


def scan(files: list[Path], identifiers: dict[str, str], root: Path) -> list[dict]:
    """Every (file, identifier) hit: raw bytes, and the URL-encoded form (log paths); the
    bytes are read in a child process (``file_scan``)."""
    return file_scan.find(files, identifiers, root)


def _masked(value: str) -> str:
    return value[:3] + "…" if len(value) > 3 else "…"


def settle(dvp) -> dict:
    """The curator's erasure with its independent check; raises ErasureFailed on any hit."""
    node_dir: Path = dvp.node_dir
    own_path = node_dir / "dvp.sqlite"
    log_path = Path(dvp.config.state_dir) / "logs" / f"{dvp.node.id}.log"
    identifiers = held_identifiers(node_dir)
    error = None
    try:
        before, removed = erase_vendor(dvp.store.db, own_path, node_dir, log_path)
    except (sqlite3.Error, OSError) as exc:  # reported as a failed erasure, never a 500
        before, removed, error = {}, [], f"{type(exc).__name__}: {exc}"
    files = vendor_files(node_dir, log_path)
    hits = scan(files, identifiers, Path(dvp.config.state_dir))
    after = {}
    try:
        for path in databases(node_dir):
            prefix = "" if path == own_path else f"{path.relative_to(node_dir)}:"
            db = _reader(path)
            try:
                after |= {prefix + t: n for t, n in storage_check(db).items()}
            finally:
                db.close()
    except (sqlite3.Error, OSError) as exc:  # the check could not finish: not erased, no 500
        error = error or f"check failed: {type(exc).__name__}: {exc}"
    entry = {"erased_at": dvp.clock.now(), "rows_before": before, "rows_after": after,
             "files_removed": len(removed), "files_scanned": len(files),
             "identifiers_checked": len(identifiers), "error": error,
             "ok": not error and not hits and not any(after.values()),
             "hits": [{"file": h["file"], "held_in": h["held_in"]}
                      for h in hits[:MAX_REPORTED_HITS]],
             "hit_count": len(hits), "by": "curator"}
    with open(node_dir / "erasure.log", "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")  # no values: the log itself holds nothing personal
    if not entry["ok"]:
        entry["hits"] = [h | {"value": _masked(h["value"])} for h in hits[:MAX_REPORTED_HITS]]
        raise ErasureFailed(json.dumps(entry))
    return entry


def declare(curator: Curator, notice: str, now: float) -> dict:
    """The vendor is declared bankrupt: the curator takes over."""
    curator.active, curator.notice, curator.since = True, notice, now
    curator.save()
    return {"curator": True, "notice": curator.notice}


def erase(dvp) -> tuple[int, dict]:
    """Settlement (the curator's act only): (HTTP status, the erasure log entry or its
    failure with ``error``/``error_description`` and the hits)."""
    curator: Curator = dvp.curator
    if not curator.active:
        raise Refused("erasure is the curator's act: declare bankruptcy first", http_status=409)
    try:
        entry = settle(dvp)
    except ErasureFailed as exc:
        entry = json.loads(str(exc))
        reason = entry["error"] or (f"{entry['hit_count']} identifiers still found after "
                                    "erasure, or rows left")
        return 409, {**entry, "error": "erasure_incomplete", "error_description": reason}
    curator.erased = True
    curator.save()
    return 200, entry


def reopen(curator: Curator) -> dict:
    """End curator mode (a sandbox reset of the drill: the vendor is admitted again)."""
    curator.active, curator.notice, curator.since, curator.erased = False, "", None, False
    curator.save()
    return {"curator": False}
