"""The DVA's FHIR endpoints: Bearer token only, the token alone decides the patient.

Collect services answer searches and reads (Binary as FHIR JSON or the raw PDF); share
services (Delen) take a transaction Bundle (at most ``resource_server.MAX_SHARE_BYTES``, counted
as it arrives) and store it in the provider's source system.
Answers are FHIR JSON, or FHIR XML when the client asks for it (``Accept`` or ``_format``); a
client that accepts neither gets 406. Every FHIR request is recorded (``RequestLog``) so the
conformance kit can check what a PGO sent (``pgo-sandbox conformance pgo``).

The rules are in ``simulators.dva.resource_server``; this module is HTTP only. Searches and
reads are the hot path: ``read_or_search`` is a fast route that ``create_app`` serves ahead of
FastAPI (``simulators.common.app.FastRoutes``).
"""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Depends, Request, Response

from simulators.common.app import Answer, require_admin
from simulators.common.body import read_body
from simulators.common.fhir import (
    accept_fhir_version,
    bundle_id,
    fhir_response,
    negotiate_format,
    searchset,
)
from simulators.common.tls import peer_hostname
from simulators.dva import resource_server as rs
from simulators.dva.deps import DvaDep
from simulators.dva.errors import FhirError, fhir_error_response, response_format
from simulators.dva.request_log import REQUEST_LOG_SIZE, FhirHeaders, RequestLog, fhir_headers
from simulators.dva.service import DVA
from simulators.medmij import FHIR_VERSIONS, fhir_accept

FAST_SEARCH = re.compile(r"^/fhir/(?P<slug>[^/]+)/(?P<service>[^/]+)/(?!metadata$)(?P<path>.+)$")
CLIENT_ID = "medmij.client_id"  # the scope key where the gate leaves the token's client id

__all__ = ["FAST_SEARCH", "REQUEST_LOG_SIZE", "RequestLog", "read_or_search", "router"]

router = APIRouter()


def not_acceptable(request: Request) -> FhirError:
    return rs.not_acceptable(request.headers.get("accept"), request.query_params.get("_format"))


def gate(dva: DVA, scope: dict, slug: str, service: str, accept: str | None,
         authorization: str) -> rs.Access:
    """Endpoint, FHIR version, Bearer token, the token's client (over TLS the certificate's
    hostname), scope, Whitelist; the token's client id is left in the scope for the request
    log, refused or not."""
    provider, dienst = rs.endpoint(dva, slug, service, accept_fhir_version(accept))
    token = rs.bearer_token(authorization, dienst)
    grant = dva.grants.access(token)
    scope[CLIENT_ID] = None if grant is None else grant.client_id
    return rs.check_grant(dva, grant, provider, dienst, service,
                          peer_hostname(scope) if dva.serves_tls else None)


def record(dva: DVA, request: Request, response: Response) -> Response:
    """Keep the request, with the client id of its token, in the DVA's request log."""
    dva.requests.add(request.scope, response.status_code, request.scope.get(CLIENT_ID),
                     fhir_headers(request.scope))
    return response


# What ``fhir_response(..., fmt="json")`` sends, per FHIR version, built once (the hot path).
_JSON_CONTENT_TYPE = {version: f"{fhir_accept(version)}; charset=utf-8".encode("latin-1")
                      for version in FHIR_VERSIONS}


def fhir_json(body: bytes, fhir_version: str) -> Answer:
    """A 200 FHIR JSON answer: the same status, headers and bytes as ``fhir_response`` in JSON,
    with the two headers from a table instead of Starlette's header assembly per answer."""
    return 200, [(b"content-length", str(len(body)).encode("latin-1")),
                 (b"content-type", _JSON_CONTENT_TYPE[fhir_version])], body


def as_answer(response: Response) -> Answer:
    """A Starlette response (no background task) as a fast route's answer."""
    return response.status_code, response.raw_headers, response.body


def as_response(answer: Answer) -> Response:
    """A fast route's answer as a Starlette response: the same status, headers and bytes."""
    status, headers, body = answer
    response = Response(body, status)
    response.raw_headers = list(headers)
    return response


def _read_or_search(dva: DVA, scope: dict, headers: FhirHeaders) -> Answer:
    params = scope["path_params"]
    slug, service, path = params["slug"], params["service"], params["path"]
    accept, authorization = headers.accept, headers.authorization
    raw_query = scope["query_string"]
    # Starlette's QueryParams, without building it for the usual empty query
    query = parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True) if raw_query else []
    format_param = None
    if b"_format" in raw_query:  # the last one, as QueryParams.get gives it; '+' sent as ' '
        format_param = dict(query).get("_format", "").replace(" ", "+") or None
    fmt = negotiate_format(accept, format_param)
    raw_binary = path.startswith("Binary/") and (fmt is None or "fhir" not in (
        "fhir" if accept is None else accept))
    if fmt is None and not raw_binary:
        raise rs.not_acceptable(accept, dict(query).get("_format"))
    fmt = fmt or "json"
    access = gate(dva, scope, slug, service, accept, authorization)
    version = access.version
    parts = rs.collect_path(access, service, path, query)
    if len(parts) == 2 and parts[1] != "$lastn":  # a read
        found = rs.read(dva, access, service, parts)
        if raw_binary and parts[0] == "Binary" and b"_format" not in raw_query:
            return as_answer(Response(base64.b64decode(found["content"]),
                                      media_type=found["contentType"]))
        return as_answer(fhir_response(found, fhir_version=version, fmt=fmt))
    record = rs.patient_record(dva, access, service)
    if fmt == "json":  # the same search on the same cached record: its kept bytes, a new id
        key = (access.grant.patient_index, access.provider.name, service, path, raw_query)
        kept = dva.answers.get(key, record)
        if kept is not None:
            return fhir_json(kept[0] + bundle_id().encode("latin-1") + kept[1], version)
    matches, includes = rs.search_results(record, access, parts, query)
    base = dva.fhir_base(slug, service)
    self_url = f"{base}/{path}" + (f"?{raw_query.decode('latin-1')}" if raw_query else "")
    bundle = searchset(self_url, base, matches, includes)
    if fmt == "json":
        body = orjson.dumps(bundle)
        dva.answers.put(key, record, body, bundle["id"])
        return fhir_json(body, version)
    return as_answer(fhir_response(bundle, fhir_version=version, fmt=fmt))


def read_or_search(dva: DVA, scope: dict) -> Answer:
    """Searches and reads: the hot path, served as a fast route (``create_app``): no FastAPI
    parameter solving, no Starlette request or response, the headers read in one pass over
    the raw ASGI list, the query parsed only when there is one and the answer's headers from a
    table (see docs/benchmarks-load.md)."""
    headers = fhir_headers(scope)
    try:
        answer = _read_or_search(dva, scope, headers)
    except FhirError as exc:
        answer = as_answer(fhir_error_response(Request(scope), exc, dva.realm))
    dva.requests.add(scope, answer[0], scope.get(CLIENT_ID), headers)
    return answer


async def fhir_get(request: Request) -> Response:
    """The same handler when FastAPI routes the request (in-process tests, no FastRoutes)."""
    return as_response(read_or_search(request.app.state.dva, request.scope))


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
        access = gate(dva, request.scope, slug, service, request.headers.get("accept"),
                      request.headers.get("authorization", ""))
        rs.check_share(access, service)
        body = await read_body(request, rs.MAX_SHARE_BYTES, rs.share_too_large(access))
        answer = rs.share(dva, access, service, body)
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
