"""Curator mode: the vendor is bankrupt, a curator is the data controller.

No new collections; people can still log in and export; once the bankruptcy is settled the
curator erases all personal data, checks that none is left, and logs the erasure (without
personal data) in the node's erasure log.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from simulators.common import clock
from simulators.common.config import write_atomic

DEFAULT_NOTICE = ("Deze PGO-leverancier is failliet. Een curator beheert uw gegevens. U kunt uw "
                  "gegevens nog exporteren (portabiliteitsrapport); nieuwe gegevens ophalen kan "
                  "niet meer.")


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


class CuratorIn(BaseModel):
    notice: str = DEFAULT_NOTICE


def personal_tables(db: sqlite3.Connection) -> list[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                      " AND name NOT LIKE 'sqlite_%'")
    return [r[0] for r in rows]


def storage_check(db: sqlite3.Connection) -> dict[str, int]:
    """Rows left per table: all zero after erasure."""
    return {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
            for t in personal_tables(db)}


def build_router(dvp) -> APIRouter:
    router = APIRouter()
    curator: Curator = dvp.curator

    @router.post("/admin/curator")
    async def start_curator(body: CuratorIn | None = None) -> dict:
        """The vendor is declared bankrupt: the curator takes over."""
        curator.active = True
        curator.notice = (body or CuratorIn()).notice
        curator.since = clock.now()
        curator.save()
        return {"curator": True, "notice": curator.notice}

    @router.get("/admin/curator")
    async def curator_state() -> dict:
        return {"curator": curator.active, "notice": curator.notice, "since": curator.since,
                "erased": curator.erased, "storage": storage_check(dvp.store.db)}

    @router.post("/admin/erase")
    async def erase() -> dict:
        """Settlement: erase all personal data, check the storage, log the erasure."""
        if not curator.active:
            raise HTTPException(409, "erasure is the curator's act: declare bankruptcy first")
        db = dvp.store.db
        before = storage_check(db)
        db.execute("PRAGMA secure_delete = ON")
        db.execute("PRAGMA foreign_keys = OFF")
        with db:
            for table in personal_tables(db):
                db.execute(f'DELETE FROM "{table}"')
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        after = storage_check(db)
        curator.erased = True
        curator.save()
        entry = {"erased_at": clock.now(), "rows_before": before, "rows_after": after,
                 "by": "curator"}
        with open(dvp.node_dir / "erasure.log", "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
        if any(after.values()):
            raise HTTPException(500, f"erasure incomplete: {after}")
        return entry

    @router.post("/admin/reopen")
    async def reopen() -> dict:
        """End curator mode (a sandbox reset of the drill: the vendor is admitted again)."""
        curator.active, curator.notice, curator.since, curator.erased = False, "", None, False
        curator.save()
        return {"curator": False}

    return router
