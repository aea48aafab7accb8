"""The DVA's back-channel OAuth endpoints: token (code exchange, refresh rotation) and
revocation (RFC 7009). Answers are never cached; errors are OAuth JSON
(``simulators.dva.errors``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import JSONResponse

from simulators.dva.deps import DvaDep
from simulators.dva.errors import NO_STORE

router = APIRouter()


@router.post("/oauth/token")
async def token(dva: DvaDep, grant_type: Annotated[str | None, Form()] = None,
                code: Annotated[str | None, Form()] = None,
                client_id: Annotated[str | None, Form()] = None,
                redirect_uri: Annotated[str | None, Form()] = None,
                refresh_token: Annotated[str | None, Form()] = None) -> JSONResponse:
    body = dva.token(grant_type, code, client_id, redirect_uri, refresh_token)
    return JSONResponse(body, headers=NO_STORE)


@router.post("/oauth/revoke")
async def revoke(dva: DvaDep, token: Annotated[str, Form()],
                 client_id: Annotated[str, Form()]) -> JSONResponse:
    """RFC 7009 token revocation: the person withdraws a (long-lived) consent via the PGO."""
    dva.revoke(token, client_id)
    return JSONResponse({}, headers=NO_STORE)
