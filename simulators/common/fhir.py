"""FHIR response helpers: OperationOutcome errors and searchset Bundles, serialised once."""

from __future__ import annotations

import itertools
import uuid

import orjson
from fastapi import Response

FHIR_JSON = "application/fhir+json"
FHIR_VERSIONS = {"3.0": "STU3", "4.0": "R4"}


def fhir_response(body: dict, status: int = 200, fhir_version: str = "3.0",
                  headers: dict | None = None) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=f"{FHIR_JSON}; fhirVersion={fhir_version}; charset=utf-8",
        headers=headers,
    )


def operation_outcome(status: int, code: str, diagnostics: str, fhir_version: str = "3.0",
                      headers: dict | None = None) -> Response:
    """The FHIR way to say no: an OperationOutcome with an issue code from the FHIR value set."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }
    return fhir_response(body, status, fhir_version, headers)


def accept_fhir_version(accept: str | None) -> str | None:
    """The fhirVersion parameter of an Accept header, e.g. '3.0'; None when absent."""
    if not accept:
        return None
    for part in accept.split(","):
        for param in part.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "fhirversion":
                return value.strip().strip('"')
    return None


_BUNDLE_PREFIX = uuid.uuid4().hex[:12]
_bundle_count = itertools.count(1)


def bundle_id() -> str:
    """Unique per answer without a system call (uuid4 reads os.urandom every time)."""
    return f"{_BUNDLE_PREFIX}-{next(_bundle_count)}"


def searchset(self_url: str, base: str, matches: list[dict], includes: list[dict]) -> dict:
    entries = [
        {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
         "search": {"mode": "match"}}
        for r in matches
    ] + [
        {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
         "search": {"mode": "include"}}
        for r in includes
    ]
    return {
        "resourceType": "Bundle",
        "id": bundle_id(),
        "type": "searchset",
        "total": len(matches),
        "link": [{"relation": "self", "url": self_url}],
        "entry": entries,
    }
