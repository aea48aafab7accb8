"""The DVA's resource server rules (SPEC.md section 3): the token alone decides the patient.

The gate (endpoint, FHIR version, Bearer token, scope, Whitelist), reads, searches and Delen,
as plain functions over the ``DVA`` service; refusals are ``FhirError`` (answered as an
OperationOutcome by ``simulators.dva.errors``). The router ``simulators.dva.resources`` adds
HTTP: content negotiation, the raw PDF of a Binary, the request log.
"""

from __future__ import annotations

import functools
import re
import uuid
from typing import NamedTuple

import orjson

from simulators.dva.errors import FhirError
from simulators.dva.grants import Grant
from simulators.dva.search import SearchError, search
from simulators.dva.service import DVA
from simulators.medmij import FHIR_JSON, FHIR_RELEASES, FHIR_VERSIONS, FHIR_XML, OAuthError
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN, Gegevensdienst
from simulators.medmij.topology import Provider
from simulators.provider import ShareRefused, SourceRecord

FORBIDDEN_PARAMS = {"patient", "subject", "patient:Patient", "subject:Patient"}
# Delen: the largest transaction Bundle read (413 beyond it, counted while it streams in). A
# document of a few MB base64-encoded (4/3) with its DocumentReference fits; the entries per
# Bundle are capped by the source system (``simulators.provider.received.MAX_ENTRIES``).
MAX_SHARE_BYTES = 10 * 1024 * 1024
RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")


class Access(NamedTuple):
    """A request the gate let through: whose token, for which provider and gegevensdienst.
    (Immutable like a frozen dataclass, and made more cheaply: one per FHIR request.)"""

    provider: Provider
    dienst: Gegevensdienst
    grant: Grant
    version: str  # the gegevensdienst's FHIR version, "3.0" or "4.0"


def not_acceptable(accept: str | None, format_param: str | None) -> FhirError:
    return FhirError(406, "not-supported", f"This server answers FHIR JSON ({FHIR_JSON}) or"
                     f" FHIR XML ({FHIR_XML}), not {accept!r}"
                     + (f" (_format={format_param})" if format_param else "") + ".")


def endpoint(dva: DVA, slug: str, service: str,
             wanted: str | None = None) -> tuple[Provider, Gegevensdienst]:
    """The provider and gegevensdienst of a resource endpoint ``/fhir/<slug>/<service>``; a
    client that names a fhirVersion (``wanted``, from Accept) must name this endpoint's."""
    dienst = GEGEVENSDIENSTEN.get(service)
    provider = dva.provider_for(slug, service) if dienst else None
    if provider is None or dienst is None:
        raise FhirError(404, "not-found", "No such resource endpoint.")
    version = dienst.fhir_version
    if wanted is not None and wanted != version:
        raise FhirError(400, "not-supported",
                        f"This endpoint serves FHIR {FHIR_VERSIONS[version]} ({version}), not"
                        f" the fhirVersion {wanted} the Accept header asks for.", version)
    return provider, dienst


def bearer_token(authorization: str, dienst: Gegevensdienst) -> str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise FhirError(401, "login", "Bearer token required.", dienst.fhir_version, "")
    return token.strip()


def check_grant(dva: DVA, grant: Grant | None, provider: Provider, dienst: Gegevensdienst,
                service: str, peer: str | None = None) -> Access:
    """The token's grant must be live, be used by the client it was issued to, cover this
    provider and gegevensdienst, and belong to a client still on the Whitelist.

    Over TLS (the ``medmij`` profile) the token is bound to its client's identity (RFC 8705
    style, by the certificate's hostname rather than its thumbprint): ``peer``, the hostname
    of the client certificate on this connection, must be the grant's client_id, so a token
    that leaked to another listed PGO is worthless there (401 ``invalid_token``)."""
    version = dienst.fhir_version
    faults = dva.faults
    if faults.active and grant is not None:  # issue 16: answered as an expired/revoked token
        context = {"client": grant.client_id, "provider": grant.provider,
                   "person": grant.patient_index}
        if faults.take("token_revoked", **context):
            dva.grants.revoke_grant(grant.id)  # as if the person withdrew the consent
            grant = None
        elif faults.take("token_expired", **context):
            grant = None
    if grant is None:
        raise FhirError(401, "login", "Invalid or expired token.", version,
                        OAuthError.INVALID_TOKEN)
    if peer != grant.client_id and dva.serves_tls:
        raise FhirError(401, "login", "Token was issued to another client than the one named"
                        " by this connection's certificate.", version, OAuthError.INVALID_TOKEN)
    if grant.provider != provider.name or service not in grant.services:
        raise FhirError(403, "forbidden", "Token does not cover this provider or gegevensdienst.",
                        version, OAuthError.INSUFFICIENT_SCOPE)
    if grant.client_id not in dva.lists.lists.whitelist:
        raise FhirError(401, "login", "Client no longer on the Whitelist.", version,
                        OAuthError.INVALID_TOKEN)
    return Access(provider, dienst, grant, version)


def capability(dienst: Gegevensdienst) -> dict:
    return {
        "resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
        "fhirVersion": FHIR_RELEASES[dienst.fhir_version], "format": ["json", "xml"],
        "rest": [{"mode": "server", "security": {"service": [{"text": "OAuth2 Bearer"}]}}],
    }


def collect_path(access: Access, service: str, path: str,
                 params: list[tuple[str, str]]) -> tuple[str, ...]:
    """Reads and searches: a collect service, no patient or subject parameter, and a path
    ``Type``, ``Type/id`` or ``Observation/$lastn`` (returned split)."""
    if access.dienst.is_share:
        raise FhirError(405, "not-supported", f"Gegevensdienst {service} is for sharing: POST a"
                        " transaction Bundle.", access.version)
    if params and any(name in FORBIDDEN_PARAMS for name, _ in params):
        raise FhirError(400, "forbidden", "patient and subject parameters are not allowed: the"
                        " token determines the patient.", access.version)
    parts = _split(path)
    if parts is None:
        raise FhirError(400, "not-supported", f"Unknown resource type {path!r}.", access.version)
    return parts


@functools.lru_cache(maxsize=1024)  # clients repeat a few paths; bounded
def _split(path: str) -> tuple[str, ...] | None:
    """``Type``, ``Type/id`` or ``Observation/$lastn`` split; None when it names no type."""
    parts = tuple(path.strip("/").split("/"))
    return parts if RESOURCE_TYPE.match(parts[0]) else None


def patient_record(dva: DVA, access: Access, service: str) -> SourceRecord:
    """The record of the token's patient at the endpoint's provider, for this gegevensdienst:
    the only record a request can reach."""
    return dva.source.record(access.grant.patient_index, access.provider.name, service)


def read(dva: DVA, access: Access, service: str, parts: tuple[str, ...]) -> dict:
    """One resource of the patient's record. A document's Binary is part of the record of the
    gegevensdienst whose DocumentReferences point to it (Documenten, ``binary_reads``) and is
    looked up in the source system's documents there only: a token for the BgZ must not read
    the documents' PDFs (their ids are guessable from the BgZ's own ids)."""
    grant, provider = access.grant, access.provider.name
    resource_type, resource_id = parts
    found = patient_record(dva, access, service).by_ref.get(f"{resource_type}/{resource_id}")
    if found is None and resource_type == "Binary" and access.dienst.binary_reads:
        found = dva.source.binary(grant.patient_index, provider, resource_id)
    if found is None:
        raise FhirError(404, "not-found", f"{'/'.join(parts)} not found.", access.version)
    return found


def search_results(record: SourceRecord, access: Access, parts: tuple[str, ...],
                   params: list[tuple[str, str]]) -> tuple[list[dict], list[dict]]:
    """(matches, includes) of a search or ``Observation/$lastn`` in the token's patient's
    ``record`` (``patient_record``)."""
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "Observation"):
        raise FhirError(400, "not-supported", f"Unsupported operation {'/'.join(parts)!r}.",
                        access.version)
    try:
        return search(record, parts[0], params, lastn=len(parts) == 2)
    except SearchError as exc:
        raise FhirError(400, "not-supported", str(exc), access.version) from None


def share_too_large(access: Access) -> FhirError:
    return FhirError(413, "too-long", f"A transaction Bundle may be at most {MAX_SHARE_BYTES}"
                     " bytes.", access.version)


def check_share(access: Access, service: str) -> None:
    """Delen is POST to a share gegevensdienst (checked before the body is read)."""
    if not access.dienst.is_share:
        raise FhirError(405, "not-supported",
                        f"Gegevensdienst {service} is for collecting, not sharing.",
                        access.version)


def share(dva: DVA, access: Access, service: str, body: bytes) -> dict:
    """Delen: the PGO writes a transaction Bundle into the provider's source system; the answer
    is the transaction-response with the server's ids. All or nothing: a refused entry leaves
    nothing stored. The router has checked ``check_share`` and read at most
    ``MAX_SHARE_BYTES`` of ``body``."""
    version, dienst, grant = access.version, access.dienst, access.grant
    try:
        bundle = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise FhirError(400, "structure", "The body is not FHIR JSON.", version) from None
    try:  # orjson reads 1024 levels of nesting but writes 254: what the store cannot write
        orjson.dumps(bundle)
    except orjson.JSONEncodeError:
        raise FhirError(400, "structure", "The body is nested too deeply.", version) from None
    try:
        stored = dva.source.receive(access.provider.name, grant.patient_index, grant.client_id,
                                    service, dienst.accepts, bundle)
    except ShareRefused as refused:
        raise FhirError(refused.status, refused.code, refused.diagnostics, version) from None
    return {
        "resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "transaction-response",
        "entry": [{"fullUrl": s.source, "response": {
            "status": "201 Created", "location": s.location}} for s in stored],
    }
