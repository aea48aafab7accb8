"""Long-lived consent routes of a DVP (formerly ``consent.py``): re-collect by refresh token,
revoke, and list the person's consents. The protocol steps are ``grants.py``'s (a service)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from simulators.dvp import grants
from simulators.dvp.deps import DvpDep, current_person

router = APIRouter(tags=["langdurige toestemming"], dependencies=[Depends(current_person)])


@router.post("/api/persons/{person_id}/grants/{provider}/refresh")
async def recollect(dvp: DvpDep, person_id: str, provider: str,
                    x_correlation_id: str | None = Header(None)) -> JSONResponse:
    """Collect again without the person, on the long-lived consent (refresh token)."""
    summary = await grants.recollect(dvp, person_id, provider,
                                     x_correlation_id or str(uuid.uuid4()))
    return JSONResponse(summary, status_code=200 if summary["status"] == "collected" else 502)


@router.post("/api/persons/{person_id}/grants/{provider}/revoke")
async def revoke(dvp: DvpDep, person_id: str, provider: str,
                 x_correlation_id: str | None = Header(None)) -> dict:
    """The person withdraws the consent (RFC 7009 at the DVA)."""
    return await grants.revoke(dvp, dvp.revocations, person_id, provider, x_correlation_id)


@router.get("/api/persons/{person_id}/consents")
async def consents(dvp: DvpDep, person_id: str) -> list[dict]:
    """Per provider: long-lived or not, and when the person revoked it."""
    return grants.consents(dvp, dvp.revocations, person_id)
