"""Curator routes of a DVP (admin token only): declare bankruptcy, the curator's state, the
erasure with its independent check, and reopening (a sandbox reset). See ``curator.py``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from simulators.common.app import require_admin
from simulators.dvp import curator
from simulators.dvp.deps import DvpDep

router = APIRouter(tags=["curator"], dependencies=[Depends(require_admin)])


class CuratorIn(BaseModel):
    notice: str = curator.DEFAULT_NOTICE


@router.post("/admin/curator")
async def start_curator(dvp: DvpDep, body: CuratorIn | None = None) -> dict:
    """The vendor is declared bankrupt: the curator takes over."""
    return curator.declare(dvp.curator, (body or CuratorIn()).notice, dvp.clock.now())


@router.get("/admin/curator")
async def curator_state(dvp: DvpDep) -> dict:
    state = dvp.curator
    return {"curator": state.active, "notice": state.notice, "since": state.since,
            "erased": state.erased, "storage": curator.storage_check(dvp.store.db)}


@router.post("/admin/erase")
async def erase(request: Request, dvp: DvpDep) -> JSONResponse:
    """Settlement: erase all personal data, check every file for it, log the erasure. The
    node's recent events go too: their request paths name persons; their log's new epoch
    tells the registry's dashboard feed to drop what it polled of them."""
    status, entry = curator.erase(dvp)
    if status == 200:
        request.app.state.events.clear()
    return JSONResponse(entry, status_code=status)


@router.post("/admin/reopen")
async def reopen(dvp: DvpDep) -> dict:
    """End curator mode (a sandbox reset of the drill: the vendor is admitted again)."""
    return curator.reopen(dvp.curator)
