"""The MedMij vocabulary: every protocol word the sandbox uses, defined once.

Nothing in this package imports anything else of ours, so every layer (the control plane in
``sandbox/``, the roles in ``simulators/``, ``scenarios/``, ``loadtests/``, ``benchmarks/``)
can import it. ``tests/simulators/medmij/test_vocabulary.py`` greps the tree for the literals
this module owns and fails on a second definition. The topology model
(``simulators.medmij.topology``) and the gegevensdiensten (``simulators.medmij.gegevensdiensten``)
live beside it.

- Names: a zorgaanbieder's MedMij name is ``<slug>@medmij`` (ZAL ``Zorgaanbiedernaam``).
- Scope (SPEC.md section 3): 2.x collect asks for ``<slug>`` (all collect services);
  1.x collect and share ask for ``<slug>~<gegevensdienst-id>``, space-separated.
- Headers, media types and FHIR versions as the MedMij FHIR profile names them.
- OAuth error codes (RFC 6749 sections 4.1.2.1 and 5.2, RFC 6750 section 3.1) as an enum.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

# --- names and scopes -------------------------------------------------------------------
PROVIDER_SUFFIX = "@medmij"
SCOPE_SEPARATOR = "~"
SCOPE_GRAMMAR = "<provider>~<gegevensdienst> or <provider>, e.g. umcsandbox~48"


def provider_slug(name: str) -> str:
    """``umcsandbox@medmij`` -> ``umcsandbox`` (the scope and resource-path form)."""
    return name.removesuffix(PROVIDER_SUFFIX)


def build_scope(provider: str, gegevensdienst: str | None = None) -> str:
    """One scope item: ``<slug>`` or ``<slug>~<gegevensdienst>`` (``provider`` as name or
    slug)."""
    slug = provider_slug(provider)
    return f"{slug}{SCOPE_SEPARATOR}{gegevensdienst}" if gegevensdienst else slug


def parse_scope_item(item: str) -> tuple[str, str | None]:
    """``umcsandbox~48`` -> ``("umcsandbox", "48")``; ``umcsandbox`` -> ``("umcsandbox", None)``."""
    slug, tilde, service = item.partition(SCOPE_SEPARATOR)
    return slug, (service if tilde else None)


def parse_scope(scope: str) -> list[tuple[str, str | None]]:
    """A space-separated scope as ``(slug, gegevensdienst or None)`` items, in order."""
    return [parse_scope_item(item) for item in scope.split()]


# --- the MedMij lists (Stelselnode paths; ?api=1 release2, ?api=2 release3 ZAL) ----------
LIST_PATHS = {
    "zal": "/MedMij_Zorgaanbiederslijst.xml",
    "ocl": "/MedMij_OAuthclientlist.xml",
    "whitelist": "/MedMij_Whitelist.xml",
    "gnl": "/MedMij_Gegevensdienstnamenlijst.xml",
}

# --- headers ------------------------------------------------------------------------------
MEDMIJ_REQUEST_ID = "MedMij-Request-ID"
CORRELATION_ID = "X-Correlation-ID"

# --- FHIR ---------------------------------------------------------------------------------
FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
FHIR_VERSIONS = {"3.0": "STU3", "4.0": "R4"}
FHIR_RELEASES = {"3.0": "3.0.2", "4.0": "4.0.1"}  # CapabilityStatement.fhirVersion


def fhir_accept(fhir_version: str, media_type: str = FHIR_JSON) -> str:
    """The Accept header a PGO sends: ``application/fhir+json; fhirVersion=3.0``."""
    return f"{media_type}; fhirVersion={fhir_version}"


# --- OAuth --------------------------------------------------------------------------------
class OAuthError(StrEnum):
    """Error codes of RFC 6749 (authorize 4.1.2.1, token 5.2) and RFC 6750 (resource 3.1)."""

    INVALID_REQUEST = "invalid_request"
    UNAUTHORIZED_CLIENT = "unauthorized_client"
    ACCESS_DENIED = "access_denied"
    UNSUPPORTED_RESPONSE_TYPE = "unsupported_response_type"
    INVALID_SCOPE = "invalid_scope"
    SERVER_ERROR = "server_error"
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"
    INVALID_CLIENT = "invalid_client"
    INVALID_GRANT = "invalid_grant"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_TOKEN = "invalid_token"
    INSUFFICIENT_SCOPE = "insufficient_scope"


# --- consent lifetimes --------------------------------------------------------------------
CONSENT_LAPSE_SECONDS = 183 * 24 * 3600  # long-lived consent lapses after 6 months unused

# --- code systems and namespaces ----------------------------------------------------------
BSN_SYSTEM = "http://fhir.nl/fhir/NamingSystem/bsn"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


# --- time ---------------------------------------------------------------------------------
def utc_timestamp(seconds: float) -> str:
    """An instant as the sandbox's logs and reports write it: ISO 8601, UTC, whole seconds."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


# --- BSN ----------------------------------------------------------------------------------
def is_valid_bsn(bsn: str) -> bool:
    """The 11-proof: 9 digits, weights 9..2 and -1, sum divisible by 11 (and not 0)."""
    if len(bsn) != 9 or not bsn.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(bsn, (9, 8, 7, 6, 5, 4, 3, 2, -1), strict=True))
    return total % 11 == 0 and total != 0
