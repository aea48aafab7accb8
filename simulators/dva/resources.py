"""The DVA's FHIR resource server: Bearer token only, the token alone decides the patient."""

from __future__ import annotations

from fastapi import APIRouter, Request

from simulators.common.fhir import (
    FHIR_VERSIONS,
    accept_fhir_version,
    fhir_response,
    operation_outcome,
    searchset,
)
from simulators.common.gegevensdiensten import GEGEVENSDIENSTEN
from simulators.dva.search import RESOURCE_TYPE, SearchError, search

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

    @router.get("/fhir/{slug}/{service}/{path:path}")
    async def fhir(slug: str, service: str, path: str, request: Request):
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
        params = list(request.query_params.multi_items())
        if any(name in FORBIDDEN_PARAMS for name, _ in params):
            return operation_outcome(
                400, "forbidden", "patient and subject parameters are not allowed: the token"
                " determines the patient.", version)
        if grant.client_id not in dva.lists.lists.whitelist:
            return operation_outcome(401, "login", "Client no longer on the Whitelist.", version,
                                     {"WWW-Authenticate": f'{realm}, error="invalid_token"'})
        record = dva.record(grant.patient_index, provider.name, service)
        parts = path.strip("/").split("/")
        resource_type = parts[0]
        if not RESOURCE_TYPE.match(resource_type):
            return operation_outcome(400, "not-supported", f"Unknown resource type {path!r}.",
                                     version)
        if len(parts) == 2 and parts[1] != "$lastn":  # read
            found = record.by_ref.get(f"{resource_type}/{parts[1]}")
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
        self_url = f"{base}/{path}" + (f"?{request.url.query}" if request.url.query else "")
        return fhir_response(searchset(self_url, base, matches, includes), fhir_version=version)

    return router
