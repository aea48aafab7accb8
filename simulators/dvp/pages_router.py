"""The person's buttons on their own page, as forms: withdraw a consent ("Intrekken"),
download the portabiliteitsrapport, read one in from another PGO. Each calls the same service
as its ``/api/...`` twin and answers a page or a redirect back to the person's page; every
POST carries the session's CSRF token (``deps.current_person``)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from simulators.common.html import render
from simulators.dvp import grants, portability, views
from simulators.dvp.accounts import read_form
from simulators.dvp.deps import DvpDep, current_person
from simulators.dvp.errors import Refused
from simulators.dvp.report import build_report

router = APIRouter(tags=["pagina's"], dependencies=[Depends(current_person)])


@router.post("/persons/{person_id}/grants/{provider}/revoke")
async def revoke_form(dvp: DvpDep, person_id: str, provider: str,
                      x_correlation_id: str | None = Header(None)) -> RedirectResponse:
    """"Intrekken" on the consent overview: RFC 7009 at the DVA, then back to the page."""
    await grants.revoke(dvp, dvp.revocations, person_id, provider,
                        x_correlation_id or str(uuid.uuid4()))
    return RedirectResponse(f"/persons/{person_id}#toestemmingen", status_code=303)


@router.get("/persons/{person_id}/portability")
async def download_report(dvp: DvpDep, person_id: str) -> Response:
    """"Portabiliteitsrapport downloaden": the XML report as a file (curator mode too)."""
    dvp.person_or_404(person_id)
    return Response(build_report(portability.person_report(dvp, person_id)),
                    media_type="application/xml; charset=utf-8",
                    headers={"Content-Disposition":
                             'attachment; filename="portabiliteitsrapport.xml"'})


@router.post("/persons/{person_id}/portability/import", response_class=HTMLResponse)
async def import_form(dvp: DvpDep, person_id: str, request: Request) -> HTMLResponse:
    """The upload form: the file goes to the same import as the API's; then the person is
    shown which providers to connect again."""
    dvp.person_or_404(person_id)
    dvp.refuse_if_curator()
    # capped while it is read (413), before it is parsed; the CSRF check did the same when
    # the token came in the form, and the form parsed then is the one closed here
    form = await read_form(request)
    try:
        upload = form.get("report")
        if upload is None or isinstance(upload, str):
            raise Refused("no report file", message="Kies eerst een bestand om in te lezen.")
        body = await upload.read()
        content_type = upload.content_type or ""
        if (upload.filename or "").lower().endswith(".json"):
            content_type = "application/json"
    finally:
        await form.close()
    plan = portability.import_report(dvp, person_id, body, content_type)
    return HTMLResponse(render(
        "dvp_imported.html", title="Rapport ingelezen", banner=dvp.node.name,
        person_id=person_id,
        providers=[(p, views.provider_display(dvp, p)) for p in plan["providers"]]))
