"""Portability at a DVP: export a person's report, import one from another PGO, replay it.

Import does not copy data between vendors: it records which collect actions to replay. The
person then connects each provider again (DigiD + consent at each DVA), and the callback sends
exactly the report's request URIs instead of the default searches.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, HTTPException, Request, Response

from simulators.common import clock
from simulators.common.http import medmij_headers
from simulators.common.lists import ServiceEndpoints
from simulators.dvp.collect import SearchResult, now_iso
from simulators.dvp.report import (
    Report,
    ReportError,
    actions_from_log,
    build_report,
    fhir_package,
    parse_report,
    xml_from_package,
)
from simulators.population import pdf

SCHEMA = """
CREATE TABLE IF NOT EXISTS import_request (
    person_id TEXT NOT NULL REFERENCES person(id), provider TEXT NOT NULL, service TEXT NOT NULL,
    request_uri TEXT NOT NULL, source TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (person_id, provider, service, request_uri));
"""


def _now() -> str:
    return datetime.fromtimestamp(clock.now(), UTC).isoformat(timespec="seconds")


def person_report(dvp, person_id: str) -> Report:
    log = dvp.store.request_log(person_id)
    stamps = [e["timestamp"] for e in log] or [_now()]
    return Report(dvp.hostname, min(stamps), max(stamps), _now(), actions_from_log(log))


def dossier(dvp, person: dict, report: Report) -> bytes:
    """A one-page PDF of what the PGO holds, for the person (the report is for the next PGO)."""
    held = Counter((i["provider"], i["gegevensdienst"], i["resource"]["resourceType"])
                   for i in dvp.store.resources(person["id"]))
    lines = [f"Deelnemer: {report.deelnemer}", f"Periode: {report.van} tot {report.tot}",
             f"Ophaalacties: {len(report.actions)}", ""]
    lines += [f"{provider} ({service}): {kind} x {n}"
              for (provider, service, kind), n in sorted(held.items())]
    return pdf.render(f"Dossier van {person['name']}", lines or ["Geen gegevens."])


def pending_replay(dvp, person_id: str, provider: str, service: str) -> list[str]:
    rows = dvp.store.db.execute(
        "SELECT request_uri FROM import_request WHERE person_id = ? AND provider = ?"
        " AND service = ? AND done = 0 ORDER BY rowid", (person_id, provider, service))
    return [r["request_uri"] for r in rows]


def mark_replayed(dvp, person_id: str, provider: str, service: str) -> None:
    dvp.store.db.execute(
        "UPDATE import_request SET done = 1 WHERE person_id = ? AND provider = ? AND service = ?",
        (person_id, provider, service))


async def replay(dvp, endpoints: ServiceEndpoints, service: str, access_token: str,
                 uris: list[str], correlation_id: str, fhir_version: str) -> list[SearchResult]:
    """Send the imported request URIs, but only those under the provider's listed resource
    endpoint: a token never goes to an address the ZAL does not name."""
    bases = [b.rstrip("/") + "/" for b in endpoints.resources.values()]
    results = []
    for uri in dict.fromkeys(uris):
        if not any(uri.startswith(b) for b in bases):
            results.append(SearchResult(service, uri, 0, now_iso(), 0.0))
            continue
        response = await dvp.client.get(uri, headers={
            "Authorization": f"Bearer {access_token}",
            "Accept": f"application/fhir+json; fhirVersion={fhir_version}",
            **medmij_headers(correlation_id)})
        result = SearchResult(service, uri, response.status_code, now_iso(), 0.0)
        if response.status_code == 200:
            body = response.json()
            result.resources = ([e["resource"] for e in body.get("entry", [])]
                                if body.get("resourceType") == "Bundle" else [body])
        results.append(result)
    return results


def build_router(dvp) -> APIRouter:
    router = APIRouter()
    dvp.store.db.executescript(SCHEMA)

    @router.get("/api/persons/{person_id}/portability")
    async def export_xml(person_id: str) -> Response:
        """The portabiliteitsrapport (XML); works in curator mode too."""
        dvp.person_or_404(person_id)
        return Response(build_report(person_report(dvp, person_id)),
                        media_type="application/xml; charset=utf-8")

    @router.get("/api/persons/{person_id}/portability/fhir")
    async def export_fhir(person_id: str) -> Response:
        person = dvp.person_or_404(person_id)
        report = person_report(dvp, person_id)
        package = fhir_package(build_report(report), report.tijdstempel,
                               dossier(dvp, person, report))
        return Response(orjson.dumps(package),
                        media_type="application/fhir+json; fhirVersion=3.0")

    @router.post("/api/persons/{person_id}/portability/import", status_code=201)
    async def import_report(person_id: str, request: Request) -> dict:
        """Accept a report (XML, or the FHIR package as JSON) from another PGO."""
        dvp.person_or_404(person_id)
        if dvp.curator.active:
            raise HTTPException(403, dvp.curator.notice)
        body = await request.body()
        try:
            if request.headers.get("content-type", "").split(";")[0].endswith("json"):
                body = xml_from_package(orjson.loads(body))
            report = parse_report(body)
        except (ReportError, orjson.JSONDecodeError) as exc:
            raise HTTPException(400, f"not a portabiliteitsrapport: {exc}") from exc
        zal = dvp.lists.lists.zal
        plan, unknown = Counter(), set()
        with dvp.store.db:
            for action in report.actions:
                if action.service not in zal.get(action.provider, {}):
                    unknown.add(action.provider)
                    continue
                for uri, _ in action.requests:
                    dvp.store.db.execute(
                        "INSERT OR IGNORE INTO import_request (person_id, provider, service,"
                        " request_uri, source) VALUES (?,?,?,?,?)",
                        (person_id, action.provider, action.service, uri, report.deelnemer))
                    plan[action.provider] += 1
        return {"source": report.deelnemer, "actions": len(report.actions),
                "providers": sorted(plan), "requests": sum(plan.values()),
                "not_on_zal": sorted(unknown),
                "next": [f"/persons/{person_id}/connect?provider={p}" for p in sorted(plan)]}

    @router.get("/api/persons/{person_id}/portability/import")
    async def import_status(person_id: str) -> dict:
        """What an import rebuilt so far: per provider, requests replayed and resources held."""
        dvp.person_or_404(person_id)
        rows = dvp.store.db.execute(
            "SELECT provider, service, source, SUM(done) AS done, COUNT(*) AS total"
            " FROM import_request WHERE person_id = ? GROUP BY provider, service, source",
            (person_id,)).fetchall()
        held = Counter(i["provider"] for i in dvp.store.resources(person_id))
        return {"actions": [dict(r) | {"resources_held": held[r["provider"]]} for r in rows],
                "complete": all(r["done"] == r["total"] for r in rows)}

    return router
