"""Delen (share, SPEC.md section 3): the person sends self-measurements or a document from the
PGO to a provider.

Scope ``<provider>~<gegevensdienst>``; the DVA logs the person in with DigiD, checks the
provider is receptive and shows the Bevestigingsverklaring; the PGO then writes one FHIR
transaction Bundle to the provider's resource endpoint. Pending shares and the share log are
kept in the DVP's own store. A service: no web framework (routes: ``share_router.py``);
refusals are ``DvpError``s; a DVA whose write answer is no transaction-response (not JSON, an
entry without ``response.location``) or that cannot be reached is ``UpstreamFailed`` (502/504),
logged as a failed share.

Collect and share keep their pending authorizations in one table of the store; ``auth_flow``
beside it records which flow each state belongs to, and each callback takes only its own
flow's states (``ShareStore.take_flow``): a collect's state at the share callback is unknown
there, and stays unused for its own.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from urllib.parse import urlencode

import httpx
import orjson

from simulators.common.clock import Clock
from simulators.common.http import medmij_headers
from simulators.common.lists import ServiceEndpoints
from simulators.common.medmij_client import CollectError, json_object, token_request
from simulators.common.storage import transaction
from simulators.dvp.errors import NotFound, ProviderRefused, Refused, UpstreamFailed
from simulators.medmij import (
    FHIR_JSON,
    LOINC,
    UCUM,
    OAuthError,
    build_scope,
    fhir_accept,
    utc_timestamp,
)
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN
from simulators.population import pdf

COLLECT, SHARE = "collect", "share"  # the flow kinds of ``auth_flow``
SCHEMA = """
CREATE TABLE IF NOT EXISTS share_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, person_id TEXT NOT NULL REFERENCES person(id),
    provider TEXT NOT NULL,
    service TEXT NOT NULL, status TEXT NOT NULL, error TEXT, locations TEXT NOT NULL,
    timestamp TEXT NOT NULL, correlation_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS share_log_person ON share_log(person_id);
CREATE TABLE IF NOT EXISTS auth_flow (state TEXT PRIMARY KEY, kind TEXT NOT NULL);
"""


def _entry(resource: dict) -> dict:
    full_url = f"urn:uuid:{uuid.uuid4()}"
    return {"fullUrl": full_url, "resource": resource,
            "request": {"method": "POST", "url": resource["resourceType"]}}


def _loinc(code: str, text: str) -> dict:
    return {"coding": [{"system": LOINC, "code": code, "display": text}]}


def _quantity(value: float, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def self_measurements(person_id: str, when: str) -> list[dict]:
    """Blood pressure and body weight as the person measured them at home (zib profiles)."""
    h = hashlib.sha256(person_id.encode()).digest()
    systolic, diastolic, weight = 115 + h[0] % 40, 70 + h[1] % 20, 55 + h[2] % 45
    vital = {"coding": [{"system": "http://hl7.org/fhir/observation-category",
                         "code": "vital-signs"}]}
    pressure = {
        "resourceType": "Observation",
        "meta": {"profile": ["http://nictiz.nl/fhir/StructureDefinition/zib-BloodPressure"]},
        "status": "final", "category": [vital], "code": _loinc("85354-9", "Blood pressure"),
        "effectiveDateTime": when,
        "component": [
            {"code": _loinc("8480-6", "Systolic blood pressure"),
             "valueQuantity": _quantity(systolic, "mm[Hg]")},
            {"code": _loinc("8462-4", "Diastolic blood pressure"),
             "valueQuantity": _quantity(diastolic, "mm[Hg]")},
        ],
        "comment": "Zelfmeting thuis",
    }
    body_weight = {
        "resourceType": "Observation",
        "meta": {"profile": ["http://nictiz.nl/fhir/StructureDefinition/zib-BodyWeight"]},
        "status": "final", "category": [vital], "code": _loinc("29463-7", "Body weight"),
        "effectiveDateTime": when, "valueQuantity": _quantity(weight, "kg"),
        "comment": "Zelfmeting thuis",
    }
    return [_entry(pressure), _entry(body_weight)]


def document(person_name: str, when: str) -> list[dict]:
    """A PDF the person wrote in the PGO (a diary of home measurements), with its Binary."""
    data = pdf.render("Mijn meetdagboek", [f"Van: {person_name}", f"Datum: {when[:10]}", "",
                                          "Bloeddruk en gewicht thuis gemeten, zie PGO."])
    binary = _entry({"resourceType": "Binary", "contentType": "application/pdf",
                     "content": base64.b64encode(data).decode()})
    reference = _entry({
        "resourceType": "DocumentReference", "status": "current",
        "type": {"coding": [{"system": LOINC, "code": "51855-5", "display": "Patient Note"}]},
        "indexed": when, "created": when, "description": "Mijn meetdagboek",
        "content": [{"attachment": {"contentType": "application/pdf", "language": "nl",
                                    "url": binary["fullUrl"], "size": len(data),
                                    "title": "Mijn meetdagboek"}}],
    })
    return [reference, binary]


def share_bundle(service: str, person: dict, when: str) -> dict:
    """The transaction the PGO sends for one share gegevensdienst, measured ``when``."""
    accepts = GEGEVENSDIENSTEN[service].accepts
    entries = []
    if "blood-pressure" in accepts or "body-weight" in accepts:
        entries += self_measurements(person["id"], when)
    if "document" in accepts:
        entries += document(person["name"], when)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def share_scope(provider: str, service: str) -> str:
    """Delen always names one gegevensdienst: ``<provider>~<id>``."""
    return build_scope(provider, service)


class ShareStore:
    """Pending shares are ordinary pending authorizations of the DVP's store, and the share log
    lives in the same database: one place for a person's data, which the curator's erasure
    empties whole. It also keeps the flow kind of every pending authorization (collect or
    share, ``auth_flow``), which each callback checks."""

    def __init__(self, store, clock: Clock) -> None:  # store: simulators.dvp.store.DvpStore
        self.store = store
        self.db = store.db
        self.clock = clock
        self.db.executescript(SCHEMA)

    def start_flow(self, kind: str, person_id: str, provider: str, scope: str,
                   services: list[str], correlation_id: str) -> str:
        """A pending authorization with its flow kind, written in one transaction."""
        with transaction(self.db):
            state = self.store.start_authorization(person_id, provider, scope, services,
                                                   correlation_id)
            self.db.execute("INSERT INTO auth_flow (state, kind) VALUES (?,?)", (state, kind))
        return state

    def take_flow(self, state: str, kind: str) -> dict | None:
        """The pending authorization of ``state``, once, at its own flow's callback only;
        another flow's state is not found here (and not used up)."""
        row = self.db.execute("SELECT kind FROM auth_flow WHERE state = ?", (state,)).fetchone()
        if row is None or row["kind"] != kind:
            return None
        return self.store.take_authorization(state)

    def start(self, person_id: str, provider: str, service: str, correlation_id: str) -> str:
        return self.start_flow(SHARE, person_id, provider, share_scope(provider, service),
                               [service], correlation_id)

    def take(self, state: str) -> dict | None:
        pending = self.take_flow(state, SHARE)
        if pending is None or len(pending["services"]) != 1:
            return None
        return pending | {"service": pending["services"][0]}

    def log(self, pending: dict, status: str, error: str | None, locations: list[str]) -> None:
        self.db.execute(
            "INSERT INTO share_log (person_id, provider, service, status, error, locations,"
            " timestamp, correlation_id) VALUES (?,?,?,?,?,?,?,?)",
            (pending["person_id"], pending["provider"], pending["service"], status, error,
             orjson.dumps(locations).decode(), utc_timestamp(self.clock.now()),
             pending["correlation_id"]))

    def shares(self, person_id: str) -> list[dict]:
        rows = self.db.execute("SELECT * FROM share_log WHERE person_id = ? ORDER BY id",
                               (person_id,))
        return [dict(r) | {"locations": orjson.loads(r["locations"])} for r in rows]


def share_endpoints(dvp, service: str, provider: str) -> ServiceEndpoints:
    """The provider's endpoints for a share gegevensdienst on the ZAL."""
    dienst = GEGEVENSDIENSTEN.get(service)
    if dienst is None or not dienst.is_share:
        raise Refused(f"gegevensdienst {service} is not a share service",
                      message=f"Gegevensdienst {service} is geen dienst om te delen.")
    endpoints = dvp.lists.lists.zal.get(provider, {}).get(service)
    if endpoints is None:
        raise NotFound(f"{provider} offers no gegevensdienst {service} on the ZAL",
                       message=f"{provider} biedt gegevensdienst {service} niet aan.")
    return endpoints


def share_redirect_uri(dvp) -> str:
    return dvp.config.public_url(dvp.hostname, "/oauth/share/callback")


def start_share(dvp, shares: ShareStore, person_id: str, provider: str, service: str,
                correlation_id: str) -> str:
    """Record the pending share and return the DVA authorize URL (scope ``<slug>~<id>``)."""
    endpoints = share_endpoints(dvp, service, provider)
    state = shares.start(person_id, provider, service, correlation_id)
    query = urlencode({"response_type": "code", "client_id": dvp.hostname,
                       "redirect_uri": share_redirect_uri(dvp),
                       "scope": share_scope(provider, service), "state": state})
    return f"{endpoints.authorize}?{query}"


def take_share(dvp, shares: ShareStore, state: str, code: str | None, error: str | None,
               error_description: str | None) -> tuple[dict, dict]:
    """The pending share of a callback whose owner was checked, and the answer's context;
    the DVA's refusal (not receptive, declined) is logged and passed on."""
    pending = shares.take(state)
    if pending is None:
        raise Refused("unknown or already used state",
                      message="Onbekend of al gebruikt antwoord van de zorgaanbieder.")
    context = {"provider": pending["provider"], "gegevensdienst": pending["service"],
               "person_id": pending["person_id"], "correlation_id": pending["correlation_id"]}
    if error:
        shares.log(pending, "refused", error, [])
        raise ProviderRefused(error, error_description, **context)
    if not code:
        raise Refused("callback without code or error")
    return pending, context


async def complete_share(dvp, shares: ShareStore, pending: dict, context: dict,
                         code: str) -> dict:
    """Exchange the code and write the share's transaction Bundle at the provider."""
    dvp.refuse_if_curator()
    endpoints = dvp.lists.lists.zal.get(pending["provider"], {}).get(pending["service"])
    if endpoints is None:
        raise Refused(f"{pending['provider']} left the Zorgaanbiederslijst", http_status=409)
    person = dvp.person_or_404(pending["person_id"])
    corr = pending["correlation_id"]
    try:
        token = await token_request(dvp.client, endpoints, {
            "grant_type": "authorization_code", "code": code, "client_id": dvp.hostname,
            "redirect_uri": share_redirect_uri(dvp)}, corr)
    except CollectError as exc:
        shares.log(pending, "failed", exc.error, [])
        retry = f"/persons/{pending['person_id']}/share?" + urlencode(
            {"provider": pending["provider"], "service": pending["service"]})
        raise UpstreamFailed(exc.step, exc.error, exc.description, status=exc.status,
                             retry=retry, **context) from exc
    fhir = fhir_accept(GEGEVENSDIENSTEN[pending["service"]].fhir_version, FHIR_JSON)
    bundle = share_bundle(pending["service"], person, utc_timestamp(dvp.clock.now()))
    try:
        response = await dvp.client.post(
            next(iter(endpoints.resources.values())), content=orjson.dumps(bundle),
            headers={"Authorization": f"Bearer {token['access_token']}", "Accept": fhir,
                     "Content-Type": fhir, **medmij_headers(corr)})
    except httpx.TransportError as exc:  # refused, dropped, or no answer in time
        shares.log(pending, "failed", OAuthError.TEMPORARILY_UNAVAILABLE, [])
        raise UpstreamFailed.unreachable("write", exc, **context) from exc
    body = json_object(response)
    if response.status_code != 200:
        issues = body.get("issue")
        issue = issues[0] if isinstance(issues, list) and issues and \
            isinstance(issues[0], dict) else {}
        code = str(issue.get("code") or response.status_code)
        shares.log(pending, "failed", code, [])
        raise UpstreamFailed("write", code, str(issue.get("diagnostics") or ""), **context)
    locations = response_locations(body)
    if locations is None:
        shares.log(pending, "failed", "invalid_response", [])
        raise UpstreamFailed("write", "invalid_response", "the DVA's answer is no "
                             "transaction-response with a response.location per entry",
                             **context)
    shares.log(pending, "shared", None, locations)
    return context | {"status": "shared", "resources": len(locations), "locations": locations}


def response_locations(body: dict) -> list[str] | None:
    """Where the provider keeps what was shared: every entry's ``response.location`` of a
    transaction-response Bundle, or None when the answer is not of that shape."""
    entries = body.get("entry")
    if not isinstance(entries, list):
        return None
    locations = []
    for entry in entries:
        response = entry.get("response") if isinstance(entry, dict) else None
        location = response.get("location") if isinstance(response, dict) else None
        if not isinstance(location, str) or not location:
            return None
        locations.append(location)
    return locations
