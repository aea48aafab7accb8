"""The DVA's FHIR resource server: Bearer token only, the token alone decides the patient.

Collect services answer searches and reads (Binary as FHIR JSON or the raw PDF); share
services (Delen) take a transaction Bundle and store it for the provider."""

from __future__ import annotations

import base64
import re
import uuid

import orjson
from fastapi import APIRouter, Request, Response

from simulators.common.fhir import (
    FHIR_VERSIONS,
    accept_fhir_version,
    fhir_response,
    operation_outcome,
    searchset,
)
from simulators.common.gegevensdiensten import GEGEVENSDIENSTEN
from simulators.dva.received import ShareRefused
from simulators.dva.search import RESOURCE_TYPE, SearchError, search

FAST_SEARCH = re.compile(r"^/fhir/(?P<slug>[^/]+)/(?P<service>[^/]+)/(?!metadata$)(?P<path>.+)$")
FORBIDDEN_PARAMS = {"patient", "subject", "patient:Patient", "subject:Patient"}


def build_router(dva) -> APIRouter:
    router = APIRouter()
    realm = f'Bearer realm="{dva.name}"'

    @router.get("/fhir/{slug}/{service}/metadata")
    async def capability(slug: str, service: str):
        dienst = GEGEVENSDIENSTEN.get(service)
        if dienst is None or dva.provider_for(slug, service) is None:
            return operation_outcome(404, "not-found", "No such resource endpoint.")
        return fhir_response({
            "resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
            "fhirVersion": {"3.0": "3.0.2", "4.0": "4.0.1"}[dienst.fhir_version],
            "format": ["json"],
            "rest": [{"mode": "server", "security": {"service": [{"text": "OAuth2 Bearer"}]}}],
        }, fhir_version=dienst.fhir_version)

    def check(request: Request, slug: str, service: str):
        """The resource server's gate: endpoint, FHIR version, Bearer token, scope, whitelist.
        Returns (provider, gegevensdienst, grant) or the protocol's refusal."""
        dienst = GEGEVENSDIENSTEN.get(service)
        provider = dva.provider_for(slug, service) if dienst else None
        if provider is None:
            return operation_outcome(404, "not-found", "No such resource endpoint.")
        version = dienst.fhir_version
        wanted = accept_fhir_version(request.headers.get("accept"))
        if wanted is not None and wanted != version:
            return operation_outcome(
                400, "not-supported",
                f"This endpoint serves FHIR {FHIR_VERSIONS[version]} (fhirVersion={version}),"
                f" not fhirVersion={wanted}.", version)
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return operation_outcome(401, "login", "Bearer token required.", version,
                                     {"WWW-Authenticate": realm})
        grant = dva.grants.access(token.strip())
        if grant is None:
            return operation_outcome(
                401, "login", "Invalid or expired token.", version,
                {"WWW-Authenticate": f'{realm}, error="invalid_token"'})
        if grant.provider != provider.name or service not in grant.services:
            return operation_outcome(
                403, "forbidden", "Token does not cover this provider or gegevensdienst.", version,
                {"WWW-Authenticate": f'{realm}, error="insufficient_scope"'})
        if grant.client_id not in dva.lists.lists.whitelist:
            return operation_outcome(401, "login", "Client no longer on the Whitelist.", version,
                                     {"WWW-Authenticate": f'{realm}, error="invalid_token"'})
        return provider, dienst, grant

    @router.post("/fhir/{slug}/{service}")
    async def share(slug: str, service: str, request: Request):
        """Delen: the PGO writes a transaction Bundle into the provider's source system."""
        checked = check(request, slug, service)
        if isinstance(checked, Response):
            return checked
        provider, dienst, grant = checked
        version = dienst.fhir_version
        if not dienst.is_share:
            return operation_outcome(405, "not-supported",
                                     f"Gegevensdienst {service} is for collecting, not sharing.",
                                     version)
        try:
            bundle = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return operation_outcome(400, "structure", "The body is not FHIR JSON.", version)
        try:
            stored = dva.received.accept(
                provider.name, grant.patient_index,
                dva.patient_reference(grant.patient_index, provider.name), grant.client_id,
                service, dienst.accepts, bundle)
        except ShareRefused as refused:
            return operation_outcome(refused.status, refused.code, refused.diagnostics, version)
        dva.forget_records()
        return fhir_response({
            "resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "transaction-response",
            "entry": [{"fullUrl": s.source, "response": {
                "status": "201 Created", "location": s.location}} for s in stored],
        }, fhir_version=version)

    async def fhir(request: Request):
        """Searches and reads: the hot path, so a plain Starlette route (no FastAPI parameter
        solving) and the self link taken from the raw query string."""
        slug, service = request.path_params["slug"], request.path_params["service"]
        path = request.path_params["path"]
        checked = check(request, slug, service)
        if isinstance(checked, Response):
            return checked
        provider, dienst, grant = checked
        version = dienst.fhir_version
        if dienst.is_share:
            return operation_outcome(405, "not-supported",
                                     f"Gegevensdienst {service} is for sharing: POST a"
                                     " transaction Bundle.", version)
        params = list(request.query_params.multi_items())
        if any(name in FORBIDDEN_PARAMS for name, _ in params):
            return operation_outcome(
                400, "forbidden", "patient and subject parameters are not allowed: the token"
                " determines the patient.", version)
        record = dva.record(grant.patient_index, provider.name, service)
        parts = path.strip("/").split("/")
        resource_type = parts[0]
        if not RESOURCE_TYPE.match(resource_type):
            return operation_outcome(400, "not-supported", f"Unknown resource type {path!r}.",
                                     version)
        if len(parts) == 2 and parts[1] != "$lastn":  # read
            found = record.by_ref.get(f"{resource_type}/{parts[1]}")
            if found is None and resource_type == "Binary":
                found = population_binary(grant.patient_index, provider.name, parts[1])
            if found is not None and resource_type == "Binary" \
                    and "fhir" not in request.headers.get("accept", "fhir"):
                return Response(base64.b64decode(found["content"]),
                                media_type=found["contentType"])
            if found is None:
                return operation_outcome(404, "not-found", f"{path} not found.", version)
            return fhir_response(found, fhir_version=version)
        if len(parts) > 2 or (len(parts) == 2 and resource_type != "Observation"):
            return operation_outcome(400, "not-supported", f"Unsupported operation {path!r}.",
                                     version)
        try:
            matches, includes = search(record, resource_type, params, lastn=len(parts) == 2)
        except SearchError as exc:
            return operation_outcome(400, "not-supported", str(exc), version)
        base = dva.public_url(f"/fhir/{slug}/{service}")
        query = request.scope["query_string"].decode("latin-1")
        self_url = f"{base}/{path}" + (f"?{query}" if query else "")
        return fhir_response(searchset(self_url, base, matches, includes), fhir_version=version)

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
