"""The DVA's back-channel OAuth endpoints: token (code exchange, refresh rotation) and
revocation (RFC 7009). Answers are never cached; errors are OAuth JSON
(``simulators.dva.errors``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from simulators.common.tls import peer_hostname
from simulators.dva.deps import DvaDep
from simulators.dva.errors import NO_STORE, TokenEndpointError
from simulators.medmij import OAuthError

router = APIRouter()

FORM = "application/x-www-form-urlencoded"
MAX_TOKEN_BODY = 16 * 1024  # a token request is a few hundred bytes


async def token_form(request: Request) -> dict[str, str]:
    """The token request's parameters (RFC 6749 section 4.1.3: form-urlencoded, UTF-8).

    Parsed in one call: FastAPI's per-field ``Form()`` dependencies cost more than the exchange
    itself (issue 17). Any other body (JSON is the usual client mistake) is ``invalid_request``
    naming the media type the client must send, not a misleading ``invalid_client``.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        raise TokenEndpointError(
            OAuthError.INVALID_REQUEST,
            f"The token request body must be {FORM} (RFC 6749 section 4.1.3), "
            f"not {media_type or 'empty'}.")
    body = await request.body()
    if len(body) > MAX_TOKEN_BODY:
        raise TokenEndpointError(OAuthError.INVALID_REQUEST, "Token request body too large.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise TokenEndpointError(OAuthError.INVALID_REQUEST,
                                 "The token request body is not UTF-8.") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:  # RFC 6749 section 3.2: parameters must not be included more than once
            raise TokenEndpointError(OAuthError.INVALID_REQUEST, f"{name} given more than once.")
        form[name] = value
    return form


@router.post("/oauth/token")
async def token(dva: DvaDep, request: Request) -> JSONResponse:
    form = await token_form(request)
    body = dva.token(form.get("grant_type"), form.get("code"), form.get("client_id"),
                     form.get("redirect_uri"), form.get("refresh_token"),
                     peer=peer_hostname(request.scope))
    return JSONResponse(body, headers=NO_STORE)


@router.post("/oauth/revoke")
async def revoke(dva: DvaDep, request: Request, token: Annotated[str, Form()],
                 client_id: Annotated[str, Form()]) -> JSONResponse:
    """RFC 7009 token revocation: the person withdraws a (long-lived) consent via the PGO."""
    dva.revoke(token, client_id, peer=peer_hostname(request.scope))
    return JSONResponse({}, headers=NO_STORE)
