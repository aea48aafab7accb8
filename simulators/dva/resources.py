"""The DVA's FHIR endpoints: Bearer token only, the token alone decides the patient.

Collect services answer searches and reads (Binary as FHIR JSON or the raw PDF); share
services (Delen) take a transaction Bundle and store it in the provider's source system.
Answers are FHIR JSON, or FHIR XML when the client asks for it (``Accept`` or ``_format``); a
client that accepts neither gets 406. Every FHIR request is recorded (``RequestLog``) so the
conformance kit can check what a PGO sent (``pgo-sandbox conformance pgo``).

The rules are in ``simulators.dva.resource_server``; this module is HTTP only. Searches and
reads are the hot path: ``read_or_search`` is a plain Starlette handler that ``create_app``
also serves ahead of FastAPI (``simulators.common.app.FastRoutes``).
"""

from __future__ import annotations

import base64
import re

from fastapi import APIRouter, Depends, Request, Response

from simulators.common.app import require_admin
from simulators.common.fhir import accept_fhir_version, fhir_response, searchset
from simulators.common.tls import peer_hostname
from simulators.dva import resource_server as rs
from simulators.dva.deps import DvaDep
from simulators.dva.errors import FhirError, fhir_error_response, response_format
from simulators.dva.request_log import REQUEST_LOG_SIZE, RequestLog
from simulators.dva.service import DVA

FAST_SEARCH = re.compile(r"^/fhir/(?P<slug>[^/]+)/(?P<service>[^/]+)/(?!metadata$)(?P<path>.+)$")
CLIENT_ID = "medmij.client_id"  # the scope key where the gate leaves the token's client id

__all__ = ["FAST_SEARCH", "REQUEST_LOG_SIZE", "RequestLog", "read_or_search", "router"]

router = APIRouter()


def not_acceptable(request: Request) -> FhirError:
    return rs.not_acceptable(request.headers.get("accept"), request.query_params.get("_format"))


def gate(dva: DVA, request: Request, slug: str, service: str) -> rs.Access:
    """Endpoint, FHIR version, Bearer token, the token's client (over TLS the certificate's
    hostname), scope, Whitelist; the token's client id is left in the scope for the request
    log, refused or not."""
    provider, dienst = rs.endpoint(dva, slug, service,
                                   accept_fhir_version(request.headers.get("accept")))
    token = rs.bearer_token(request.headers.get("authorization", ""), dienst)
    grant = dva.grants.access(token)
    request.scope[CLIENT_ID] = None if grant is None else grant.client_id
    return rs.check_grant(dva, grant, provider, dienst, service, peer_hostname(request.scope))


def record(dva: DVA, request: Request, response: Response) -> Response:
    """Keep the request, with the client id of its token, in the DVA's request log."""
    dva.requests.add(request.scope, response.status_code, request.scope.get(CLIENT_ID))
    return response


def _read_or_search(dva: DVA, request: Request) -> Response:
    params = request.path_params
    slug, service, path = params["slug"], params["service"], params["path"]
    fmt = response_format(request)
    raw_binary = path.startswith("Binary/") and (
        fmt is None or "fhir" not in request.headers.get("accept", "fhir"))
    if fmt is None and not raw_binary:
        raise not_acceptable(request)
    fmt = fmt or "json"
    access = gate(dva, request, slug, service)
    version = access.version
    query = list(request.query_params.multi_items())
    parts = rs.collect_path(access, service, path, query)
    if len(parts) == 2 and parts[1] != "$lastn":  # a read
        found = rs.read(dva, access, service, parts)
        if raw_binary and parts[0] == "Binary" and b"_format" not in request.scope["query_string"]:
            return Response(base64.b64decode(found["content"]), media_type=found["contentType"])
        return fhir_response(found, fhir_version=version, fmt=fmt)
    matches, includes = rs.search_results(dva, access, service, parts, query)
    base = dva.public_url(f"/fhir/{slug}/{service}")
    raw_query = request.scope["query_string"].decode("latin-1")
    self_url = f"{base}/{path}" + (f"?{raw_query}" if raw_query else "")
    return fhir_response(searchset(self_url, base, matches, includes), fhir_version=version,
                         fmt=fmt)


async def read_or_search(dva: DVA, request: Request) -> Response:
    """Searches and reads: the hot path, so no FastAPI parameter solving and the self link
    taken from the raw query string."""
    try:
        response = _read_or_search(dva, request)
    except FhirError as exc:
        response = fhir_error_response(request, exc, dva.realm)
    dva.requests.add(request.scope, response.status_code, request.scope.get(CLIENT_ID))
    return response


async def fhir_get(request: Request) -> Response:
    """The same handler when FastAPI routes the request (in-process tests, no FastRoutes)."""
    return await read_or_search(request.app.state.dva, request)


@router.get("/fhir/{slug}/{service}/metadata")
async def capability(slug: str, service: str, request: Request,
                     dva: DvaDep) -> Response:
    fmt = response_format(request)
    if fmt is None:
        raise not_acceptable(request)
    _, dienst = rs.endpoint(dva, slug, service)
    return fhir_response(rs.capability(dienst), fhir_version=dienst.fhir_version, fmt=fmt)


@router.post("/fhir/{slug}/{service}")
async def share(slug: str, service: str, request: Request,
                dva: DvaDep) -> Response:
    """Delen: the PGO writes a transaction Bundle into the provider's source system."""
    try:
        fmt = response_format(request)
        if fmt is None:
            raise not_acceptable(request)
        access = gate(dva, request, slug, service)
        answer = rs.share(dva, access, service, await request.body())
        response = fhir_response(answer, fhir_version=access.version, fmt=fmt)
    except FhirError as exc:
        response = fhir_error_response(request, exc, dva.realm)
    return record(dva, request, response)


@router.get("/admin/requests", dependencies=[Depends(require_admin)])
async def recorded_requests(dva: DvaDep, since: int = 0, client_id: str | None = None,
                            anonymous: bool = False) -> dict:
    """What PGOs sent to this DVA's FHIR endpoints (for ``conformance pgo``)."""
    return {"last_seq": dva.requests.last_seq,
            "requests": dva.requests.since(since, client_id, anonymous)}


# after /metadata: FastAPI tries routes in order
router.add_route("/fhir/{slug}/{service}/{path:path}", fhir_get, methods=["GET"],
                 include_in_schema=False)
