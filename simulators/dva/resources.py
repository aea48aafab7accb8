"""The DVA's FHIR resource server: Bearer token only, the token alone decides the patient.

Collect services answer searches and reads (Binary as FHIR JSON or the raw PDF); share
services (Delen) take a transaction Bundle and store it for the provider. Answers are FHIR
JSON, or FHIR XML when the client asks for it (``Accept`` or ``_format``); a client that
accepts neither gets 406. Every FHIR request is recorded (``RequestLog``) so the conformance
kit can check what a PGO sent (``pgo-sandbox conformance pgo``)."""

from __future__ import annotations

import base64
import itertools
import re
import time
import uuid
from collections import deque

import orjson
from fastapi import APIRouter, Depends, Request, Response

from simulators.common.app import require_admin
from simulators.common.fhir import (
    FHIR_VERSIONS,
    accept_fhir_version,
    fhir_response,
    negotiate_format,
    operation_outcome,
    searchset,
)
from simulators.dva.received import ShareRefused
from simulators.dva.search import RESOURCE_TYPE, SearchError, search
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN

FAST_SEARCH = re.compile(r"^/fhir/(?P<slug>[^/]+)/(?P<service>[^/]+)/(?!metadata$)(?P<path>.+)$")
FORBIDDEN_PARAMS = {"patient", "subject", "patient:Patient", "subject:Patient"}
REQUEST_LOG_SIZE = 20_000
_RECORDED_HEADERS = {b"authorization": "authorization", b"accept": "accept",
                     b"medmij-request-id": "medmij_request_id",
                     b"x-correlation-id": "x_correlation_id"}


class RequestLog:
    """The last ``REQUEST_LOG_SIZE`` FHIR requests this DVA received, as PGOs sent them.

    Bounded (a deque) and cheap: one scan of the request headers and one append per request,
    no I/O. The hop log has no query string and no Accept; the PGO check needs both. The
    Authorization value is never kept: only its scheme (``Bearer``) or ``None``."""

    def __init__(self, size: int = REQUEST_LOG_SIZE) -> None:
        self.records: deque[dict] = deque(maxlen=size)
        self._seq = itertools.count(1)

    def add(self, scope: dict, status: int, client_id: str | None) -> None:
        seen: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = _RECORDED_HEADERS.get(name)
            if key is not None:
                seen[key] = value.decode("latin-1")
        authorization = seen.pop("authorization", None)
        query = scope["query_string"].decode("latin-1")
        self.records.append({
            "seq": next(self._seq), "time": time.time(), "method": scope["method"],
            "path": scope["path"] + (f"?{query}" if query else ""),
            "client_id": client_id, "status": status,
            "authorization": authorization.partition(" ")[0] if authorization else None,
            **seen})

    def since(self, seq: int = 0, client_id: str | None = None,
              anonymous: bool = False) -> list[dict]:
        """Records after ``seq``; of ``client_id`` (and those without a valid token when
        ``anonymous``)."""
        return [r for r in self.records if r["seq"] > seq and (
            client_id is None or r["client_id"] == client_id
            or (anonymous and r["client_id"] is None))]

    @property
    def last_seq(self) -> int:
        return self.records[-1]["seq"] if self.records else 0


def build_router(dva) -> APIRouter:
    router = APIRouter()
    realm = f'Bearer realm="{dva.name}"'
    requests = dva.requests = RequestLog()

    def recorded(handler):
        """Record the request with the client id of its token (set by ``check``)."""
        async def wrapper(request: Request) -> Response:
            response = await handler(request)
            requests.add(request.scope, response.status_code,
                         request.scope.get("medmij.client_id"))
            return response
        wrapper.__doc__ = handler.__doc__
        return wrapper

    def response_format(request: Request) -> str | None:
        """'json' or 'xml' as the client asked (FHIR REST content negotiation), None: 406."""
        format_param = None
        if b"_format" in request.scope["query_string"]:
            # an unencoded '+' (application/fhir+xml) arrives as a space
            format_param = request.query_params.get("_format", "").replace(" ", "+") or None
        return negotiate_format(request.headers.get("accept"), format_param)

    def not_acceptable(request: Request, version: str = "3.0") -> Response:
        return operation_outcome(
            406, "not-supported", "This server answers FHIR JSON (application/fhir+json) or"
            f" FHIR XML (application/fhir+xml), not {request.headers.get('accept')!r}"
            + (f" (_format={request.query_params.get('_format')})"
               if request.query_params.get("_format") else "") + ".", version)

    @router.get("/fhir/{slug}/{service}/metadata")
    async def capability(slug: str, service: str, request: Request):
        dienst = GEGEVENSDIENSTEN.get(service)
        fmt = response_format(request)
        if fmt is None:
            return not_acceptable(request)
        if dienst is None or dva.provider_for(slug, service) is None:
            return operation_outcome(404, "not-found", "No such resource endpoint.", fmt=fmt)
        return fhir_response({
            "resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
            "fhirVersion": {"3.0": "3.0.2", "4.0": "4.0.1"}[dienst.fhir_version],
            "format": ["json", "xml"],
            "rest": [{"mode": "server", "security": {"service": [{"text": "OAuth2 Bearer"}]}}],
        }, fhir_version=dienst.fhir_version, fmt=fmt)

    @router.get("/admin/requests", dependencies=[Depends(require_admin)])
    async def recorded_requests(since: int = 0, client_id: str | None = None,
                                anonymous: bool = False) -> dict:
        """What PGOs sent to this DVA's FHIR endpoints (for ``conformance pgo``)."""
        return {"last_seq": requests.last_seq,
                "requests": requests.since(since, client_id, anonymous)}

    def check(request: Request, slug: str, service: str, fmt: str = "json"):
        """The resource server's gate: endpoint, FHIR version, Bearer token, scope, whitelist.
        Returns (provider, gegevensdienst, grant) or the protocol's refusal."""
        dienst = GEGEVENSDIENSTEN.get(service)
        provider = dva.provider_for(slug, service) if dienst else None
        if provider is None:
            return operation_outcome(404, "not-found", "No such resource endpoint.", fmt=fmt)
        version = dienst.fhir_version
        wanted = accept_fhir_version(request.headers.get("accept"))
        if wanted is not None and wanted != version:
            return operation_outcome(
                400, "not-supported",
                f"This endpoint serves FHIR {FHIR_VERSIONS[version]} (fhirVersion={version}),"
                f" not fhirVersion={wanted}.", version, fmt=fmt)
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return operation_outcome(401, "login", "Bearer token required.", version,
                                     {"WWW-Authenticate": realm}, fmt)
        grant = dva.grants.access(token.strip())
        request.scope["medmij.client_id"] = None if grant is None else grant.client_id
        if grant is None:
            return operation_outcome(
                401, "login", "Invalid or expired token.", version,
                {"WWW-Authenticate": f'{realm}, error="invalid_token"'}, fmt)
        if grant.provider != provider.name or service not in grant.services:
            return operation_outcome(
                403, "forbidden", "Token does not cover this provider or gegevensdienst.", version,
                {"WWW-Authenticate": f'{realm}, error="insufficient_scope"'}, fmt)
        if grant.client_id not in dva.lists.lists.whitelist:
            return operation_outcome(401, "login", "Client no longer on the Whitelist.", version,
                                     {"WWW-Authenticate": f'{realm}, error="invalid_token"'}, fmt)
        return provider, dienst, grant

    @router.post("/fhir/{slug}/{service}")
    async def share_route(slug: str, service: str, request: Request) -> Response:
        response = await share(slug, service, request)
        requests.add(request.scope, response.status_code, request.scope.get("medmij.client_id"))
        return response

    async def share(slug: str, service: str, request: Request) -> Response:
        """Delen: the PGO writes a transaction Bundle into the provider's source system."""
        fmt = response_format(request)
        if fmt is None:
            return not_acceptable(request)
        checked = check(request, slug, service, fmt)
        if isinstance(checked, Response):
            return checked
        provider, dienst, grant = checked
        version = dienst.fhir_version
        if not dienst.is_share:
            return operation_outcome(405, "not-supported",
                                     f"Gegevensdienst {service} is for collecting, not sharing.",
                                     version, fmt=fmt)
        try:
            bundle = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return operation_outcome(400, "structure", "The body is not FHIR JSON.", version,
                                     fmt=fmt)
        try:
            stored = dva.received.accept(
                provider.name, grant.patient_index,
                dva.patient_reference(grant.patient_index, provider.name), grant.client_id,
                service, dienst.accepts, bundle)
        except ShareRefused as refused:
            return operation_outcome(refused.status, refused.code, refused.diagnostics, version,
                                     fmt=fmt)
        dva.forget_records()
        return fhir_response({
            "resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "transaction-response",
            "entry": [{"fullUrl": s.source, "response": {
                "status": "201 Created", "location": s.location}} for s in stored],
        }, fhir_version=version, fmt=fmt)

    async def fhir(request: Request):
        """Searches and reads: the hot path, so a plain Starlette route (no FastAPI parameter
        solving) and the self link taken from the raw query string."""
        slug, service = request.path_params["slug"], request.path_params["service"]
        path = request.path_params["path"]
        fmt = response_format(request)
        raw_binary = path.startswith("Binary/") and (
            fmt is None or "fhir" not in request.headers.get("accept", "fhir"))
        if fmt is None and not raw_binary:
            return not_acceptable(request)
        fmt = fmt or "json"
        checked = check(request, slug, service, fmt)
        if isinstance(checked, Response):
            return checked
        provider, dienst, grant = checked
        version = dienst.fhir_version
        if dienst.is_share:
            return operation_outcome(405, "not-supported",
                                     f"Gegevensdienst {service} is for sharing: POST a"
                                     " transaction Bundle.", version, fmt=fmt)
        params = list(request.query_params.multi_items())
        if any(name in FORBIDDEN_PARAMS for name, _ in params):
            return operation_outcome(
                400, "forbidden", "patient and subject parameters are not allowed: the token"
                " determines the patient.", version, fmt=fmt)
        record = dva.record(grant.patient_index, provider.name, service)
        parts = path.strip("/").split("/")
        resource_type = parts[0]
        if not RESOURCE_TYPE.match(resource_type):
            return operation_outcome(400, "not-supported", f"Unknown resource type {path!r}.",
                                     version, fmt=fmt)
        if len(parts) == 2 and parts[1] != "$lastn":  # read
            found = record.by_ref.get(f"{resource_type}/{parts[1]}")
            if found is None and resource_type == "Binary":
                found = population_binary(grant.patient_index, provider.name, parts[1])
            if found is not None and resource_type == "Binary" and raw_binary \
                    and b"_format" not in request.scope["query_string"]:
                return Response(base64.b64decode(found["content"]),
                                media_type=found["contentType"])
            if found is None:
                return operation_outcome(404, "not-found", f"{path} not found.", version, fmt=fmt)
            return fhir_response(found, fhir_version=version, fmt=fmt)
        if len(parts) > 2 or (len(parts) == 2 and resource_type != "Observation"):
            return operation_outcome(400, "not-supported", f"Unsupported operation {path!r}.",
                                     version, fmt=fmt)
        try:
            matches, includes = search(record, resource_type, params, lastn=len(parts) == 2)
        except SearchError as exc:
            return operation_outcome(400, "not-supported", str(exc), version, fmt=fmt)
        base = dva.public_url(f"/fhir/{slug}/{service}")
        query = request.scope["query_string"].decode("latin-1")
        self_url = f"{base}/{path}" + (f"?{query}" if query else "")
        return fhir_response(searchset(self_url, base, matches, includes),
                             fhir_version=version, fmt=fmt)

    fhir = recorded(fhir)
    router.add_route("/fhir/{slug}/{service}/{path:path}", fhir, methods=["GET"],
                     include_in_schema=False)
    # served ahead of FastAPI when the node runs (simulators.common.app.FastRoutes)
    dva.fast_routes.append(("GET", FAST_SEARCH, fhir))

    def population_binary(index: int, provider: str, binary_id: str) -> dict | None:
        """A document's PDF from the source system, as a FHIR Binary resource."""
        found = dva.population.binary(index, provider, binary_id)
        if found is None:
            return None
        content_type, data = found
        return {"resourceType": "Binary", "id": binary_id, "contentType": content_type,
                "content": base64.b64encode(data).decode()}

    return router
