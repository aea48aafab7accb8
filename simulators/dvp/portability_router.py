"""Portability routes of a DVP: export the report (XML or FHIR package), import one from
another PGO, and the import's progress. The protocol steps are ``portability.py``'s."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, Request, Response

from simulators.dvp import portability
from simulators.dvp.accounts import read_upload
from simulators.dvp.deps import DvpDep, current_person
from simulators.dvp.report import build_report
from simulators.medmij import FHIR_JSON, fhir_accept

router = APIRouter(tags=["portabiliteit"], dependencies=[Depends(current_person)])


@router.get("/api/persons/{person_id}/portability")
async def export_xml(dvp: DvpDep, person_id: str) -> Response:
    """The portabiliteitsrapport (XML); works in curator mode too."""
    dvp.person_or_404(person_id)
    return Response(build_report(portability.person_report(dvp, person_id)),
                    media_type="application/xml; charset=utf-8")


@router.get("/api/persons/{person_id}/portability/fhir")
async def export_fhir(dvp: DvpDep, person_id: str) -> Response:
    person = dvp.person_or_404(person_id)
    return Response(orjson.dumps(portability.export_fhir(dvp, person)),
                    media_type=fhir_accept("3.0", FHIR_JSON))


@router.post("/api/persons/{person_id}/portability/import", status_code=201)
async def import_report(dvp: DvpDep, person_id: str, request: Request) -> dict:
    """Accept a report (XML, or the FHIR package as JSON) from another PGO."""
    dvp.person_or_404(person_id)
    dvp.refuse_if_curator()
    body = await read_upload(request)
    return portability.import_report(dvp, person_id, body,
                                     request.headers.get("content-type", ""))


@router.get("/api/persons/{person_id}/portability/import")
async def import_status(dvp: DvpDep, person_id: str) -> dict:
    """What an import rebuilt so far: per provider, requests replayed and resources held."""
    dvp.person_or_404(person_id)
    return portability.import_status(dvp, person_id)
