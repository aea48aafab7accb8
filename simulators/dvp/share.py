"""Delen (share, SPEC.md section 3): the person sends self-measurements or a document from the
PGO to a provider.

Scope ``<provider>~<gegevensdienst>``; the DVA logs the person in with DigiD, checks the
provider is receptive and shows the Bevestigingsverklaring; the PGO then writes one FHIR
transaction Bundle to the provider's resource endpoint. Pending shares and the share log are
kept in the DVP's own store.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Form, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from simulators.common import clock
from simulators.common.html import escape, hidden, page
from simulators.common.http import medmij_headers
from simulators.dvp.accounts import Session
from simulators.dvp.collect import CollectError, token_request
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN
from simulators.population import pdf

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SCHEMA = """
CREATE TABLE IF NOT EXISTS share_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, person_id TEXT NOT NULL REFERENCES person(id),
    provider TEXT NOT NULL,
    service TEXT NOT NULL, status TEXT NOT NULL, error TEXT, locations TEXT NOT NULL,
    timestamp TEXT NOT NULL, correlation_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS share_log_person ON share_log(person_id);
"""


def _now_iso() -> str:
    return datetime.fromtimestamp(clock.now(), UTC).isoformat(timespec="seconds")


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


def share_bundle(service: str, person: dict) -> dict:
    """The transaction the PGO sends for one share gegevensdienst."""
    when = _now_iso()
    accepts = GEGEVENSDIENSTEN[service].accepts
    entries = []
    if "blood-pressure" in accepts or "body-weight" in accepts:
        entries += self_measurements(person["id"], when)
    if "document" in accepts:
        entries += document(person["name"], when)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def share_scope(provider: str, service: str) -> str:
    """Delen always names one gegevensdienst: ``<provider>~<id>``."""
    return f"{provider.removesuffix('@medmij')}~{service}"


class ShareStore:
    """Pending shares are ordinary pending authorizations of the DVP's store, and the share log
    lives in the same database: one place for a person's data, which the curator's erasure
    empties whole."""

    def __init__(self, dvp) -> None:
        self.store = dvp.store
        self.db = dvp.store.db
        self.db.executescript(SCHEMA)

    def start(self, person_id: str, provider: str, service: str, correlation_id: str) -> str:
        return self.store.start_authorization(person_id, provider, share_scope(provider, service),
                                              [service], correlation_id)

    def take(self, state: str) -> dict | None:
        pending = self.store.take_authorization(state)
        if pending is None or len(pending["services"]) != 1:
            return None
        return pending | {"service": pending["services"][0]}

    def log(self, pending: dict, status: str, error: str | None, locations: list[str]) -> None:
        self.db.execute(
            "INSERT INTO share_log (person_id, provider, service, status, error, locations,"
            " timestamp, correlation_id) VALUES (?,?,?,?,?,?,?,?)",
            (pending["person_id"], pending["provider"], pending["service"], status, error,
             orjson.dumps(locations).decode(), _now_iso(), pending["correlation_id"]))

    def shares(self, person_id: str) -> list[dict]:
        rows = self.db.execute("SELECT * FROM share_log WHERE person_id = ? ORDER BY id",
                               (person_id,))
        return [dict(r) | {"locations": orjson.loads(r["locations"])} for r in rows]


def build_router(dvp) -> APIRouter:  # dvp: simulators.dvp.app.DVP
    router = APIRouter(tags=["delen"])
    shares = ShareStore(dvp)
    redirect_uri = dvp.config.public_url(dvp.hostname, "/oauth/share/callback")

    person = Depends(dvp.accounts.person)

    def share_endpoints(service: str, provider: str):
        dienst = GEGEVENSDIENSTEN.get(service)
        if dienst is None or not dienst.is_share:
            raise HTTPException(400, f"gegevensdienst {service} is not a share service")
        endpoints = dvp.lists.lists.zal.get(provider, {}).get(service)
        if endpoints is None:
            raise HTTPException(404, f"{provider} offers no gegevensdienst {service} on the ZAL")
        return endpoints

    @router.get("/persons/{person_id}/share", response_class=HTMLResponse)
    async def share_page(person_id: str, provider: str, service: str,
                         session: Session = person) -> HTMLResponse:
        """Ask before sending anything: the form on this page starts the share (a link alone
        could be followed from any site)."""
        dvp.person_or_404(person_id)
        share_endpoints(service, provider)
        body = (f"<p>Gegevens delen met <strong>{escape(provider)}</strong> (gegevensdienst "
                f"{escape(service)}). U logt in met DigiD en bevestigt bij de zorgaanbieder.</p>"
                f"<form method='post' action='/persons/{escape(person_id)}/share'>"
                + hidden("csrf_token", session.csrf_token) + hidden("provider", provider)
                + hidden("service", service) + "<button type='submit'>Delen</button></form>")
        return HTMLResponse(page("Gegevens delen", body, dvp.node.name))

    @router.post("/persons/{person_id}/share", dependencies=[person])
    async def start_share(person_id: str, provider: str = Form(..., max_length=300),
                          service: str = Form(..., max_length=20),
                          x_correlation_id: str | None = Header(None)):
        """Send the person's browser to the provider's DVA to share data (Delen)."""
        dvp.person_or_404(person_id)
        endpoints = share_endpoints(service, provider)
        correlation_id = x_correlation_id or str(uuid.uuid4())
        state = shares.start(person_id, provider, service, correlation_id)
        query = urlencode({"response_type": "code", "client_id": dvp.hostname,
                           "redirect_uri": redirect_uri,
                           "scope": share_scope(provider, service),
                           "state": state})
        return RedirectResponse(f"{endpoints.authorize}?{query}", status_code=302)

    @router.get("/oauth/share/callback")
    async def share_callback(request: Request, state: str = Query(..., max_length=200),
                             code: str | None = None, error: str | None = None,
                             error_description: str | None = None):
        """The DVA's answer: a code to write with, or its refusal (not receptive, declined).
        Only the browser session that started the share completes it."""
        from simulators.dvp.app import pending_owner

        owner = pending_owner(dvp.store.db, state)
        if owner is None:
            raise HTTPException(400, "unknown or already used state")
        refused = dvp.refuse_foreign_callback(request, owner)
        if refused is not None:
            return refused
        pending = shares.take(state)
        if pending is None:
            raise HTTPException(400, "unknown or already used state")
        base = {"provider": pending["provider"], "gegevensdienst": pending["service"],
                "person_id": pending["person_id"], "correlation_id": pending["correlation_id"]}
        if error:
            shares.log(pending, "refused", error, [])
            return JSONResponse(base | {"status": "refused", "error": error,
                                        "error_description": error_description},
                                status_code=400)
        if not code:
            raise HTTPException(400, "callback without code or error")
        if dvp.curator.active:
            return JSONResponse(base | {"status": "refused", "error": "curator"}, status_code=403)
        endpoints = dvp.lists.lists.zal.get(pending["provider"], {}).get(pending["service"])
        if endpoints is None:
            raise HTTPException(409, f"{pending['provider']} left the Zorgaanbiederslijst")
        person = dvp.person_or_404(pending["person_id"])
        corr = pending["correlation_id"]
        try:
            token = await token_request(dvp.client, endpoints, {
                "grant_type": "authorization_code", "code": code, "client_id": dvp.hostname,
                "redirect_uri": redirect_uri}, corr)
        except CollectError as exc:
            shares.log(pending, "failed", exc.error, [])
            retry = f"/persons/{pending['person_id']}/share?" + urlencode(
                {"provider": pending["provider"], "service": pending["service"]})
            return dvp.collect_failed(request, exc, base, retry)
        version = GEGEVENSDIENSTEN[pending["service"]].fhir_version
        fhir = f"application/fhir+json; fhirVersion={version}"
        response = await dvp.client.post(
            next(iter(endpoints.resources.values())),
            content=orjson.dumps(share_bundle(pending["service"], person)),
            headers={"Authorization": f"Bearer {token['access_token']}", "Accept": fhir,
                     "Content-Type": fhir, **medmij_headers(corr)})
        body = response.json() if response.content else {}
        if response.status_code != 200:
            issue = (body.get("issue") or [{}])[0]
            shares.log(pending, "failed", issue.get("code", str(response.status_code)), [])
            return JSONResponse(base | {"status": "failed", "step": "write",
                                        "error": issue.get("code"),
                                        "error_description": issue.get("diagnostics")},
                                status_code=502)
        locations = [e["response"]["location"] for e in body.get("entry", [])]
        shares.log(pending, "shared", None, locations)
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(f"/persons/{pending['person_id']}", status_code=303)
        return JSONResponse(base | {"status": "shared", "resources": len(locations),
                                    "locations": locations})

    @router.get("/api/persons/{person_id}/shares", dependencies=[person])
    async def list_shares(person_id: str) -> list[dict]:
        """What this person shared with which provider, and what was refused."""
        dvp.person_or_404(person_id)
        return shares.shares(person_id)

    return router
