"""The DVA's back-channel OAuth endpoints: token (code exchange, refresh rotation) and
revocation (RFC 7009). Answers are never cached; errors are OAuth JSON
(``simulators.dva.errors``)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from simulators.common.body import read_body
from simulators.common.tls import peer_hostname
from simulators.dva.deps import DvaDep
from simulators.dva.errors import NO_STORE, TokenEndpointError
from simulators.dva.service import RepeatedParameter, parameters_once
from simulators.medmij import OAuthError

router = APIRouter()

FORM = "application/x-www-form-urlencoded"
MAX_TOKEN_BODY = 16 * 1024  # a token request is a few hundred bytes


async def token_form(request: Request) -> dict[str, str]:
    """The parameters of a token or revocation request (RFC 6749 section 4.1.3, RFC 7009
    section 2.1: form-urlencoded, UTF-8, each parameter once).

    Parsed in one call: FastAPI's per-field ``Form()`` dependencies cost more than the exchange
    itself (issue 17). Any other body (JSON is the usual client mistake) is ``invalid_request``
    naming the media type the client must send, not a misleading ``invalid_client``. A body
    over ``MAX_TOKEN_BODY`` is refused by its Content-Length, or once that much has arrived
    (``read_body``): it is never read whole.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        raise TokenEndpointError(
            OAuthError.INVALID_REQUEST,
            f"The token request body must be {FORM} (RFC 6749 section 4.1.3), "
            f"not {media_type or 'empty'}.")
    body = await read_body(request, MAX_TOKEN_BODY, TokenEndpointError(
        OAuthError.INVALID_REQUEST, f"Request body larger than {MAX_TOKEN_BODY} bytes."))
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise TokenEndpointError(OAuthError.INVALID_REQUEST,
                                 "The token request body is not UTF-8.") from exc
    try:
        return parameters_once(pairs)
    except RepeatedParameter as exc:
        raise TokenEndpointError(OAuthError.INVALID_REQUEST, str(exc)) from exc


@router.post("/oauth/token")
async def token(dva: DvaDep, request: Request) -> JSONResponse:
    form = await token_form(request)
    body = dva.token(form.get("grant_type"), form.get("code"), form.get("client_id"),
                     form.get("redirect_uri"), form.get("refresh_token"),
                     peer=peer_hostname(request.scope))
    return JSONResponse(body, headers=NO_STORE)


@router.post("/oauth/revoke")
async def revoke(dva: DvaDep, request: Request) -> JSONResponse:
    """RFC 7009 token revocation: the person withdraws a (long-lived) consent via the PGO.
    Its form is read as the token endpoint's (a parameter given twice is refused alike)."""
    form = await token_form(request)
    token, client_id = form.get("token"), form.get("client_id")
    if not token or not client_id:
        raise TokenEndpointError(OAuthError.INVALID_REQUEST, "token and client_id are required.")
    dva.revoke(token, client_id, peer=peer_hostname(request.scope))
    return JSONResponse({}, headers=NO_STORE)
