"""Collect routes of a DVP: ask, start the authorization at the DVA, take the callback, show
what was collected. The protocol steps are ``collect.py``'s (a service)."""

from __future__ import annotations

import uuid
from collections import Counter

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from simulators.common.html import render
from simulators.dvp import collect, views
from simulators.dvp.deps import DvpDep, PersonSession, current_person
from simulators.dvp.errors import is_api

router = APIRouter(tags=["ophalen"])


@router.get("/persons/{person_id}/connect", response_class=HTMLResponse)
async def connect_page(dvp: DvpDep, session: PersonSession, person_id: str, provider: str,
                       service: str | None = None) -> Response:
    """Ask before leaving for the provider: a page whose form starts the authorization
    (a link alone could be followed by any site that wants the person to consent)."""
    dvp.person_or_404(person_id)
    dvp.refuse_if_curator()
    collect.offered(dvp, provider, service)
    gnl = getattr(dvp.lists.lists, "gnl", {})  # GegevensdienstId -> Weergavenaam
    what = f"gegevensdienst {gnl.get(service, service)}" if service else "alle gegevens"
    return HTMLResponse(render(
        "dvp_connect.html", title="Zorgaanbieder koppelen", banner=dvp.node.name,
        display=views.provider_display(dvp, provider), what=what, person_id=person_id,
        csrf_token=session.csrf_token, provider=provider, service=service))


@router.post("/persons/{person_id}/connect", dependencies=[Depends(current_person)])
async def connect(dvp: DvpDep, person_id: str, provider: str = Form(..., max_length=300),
                  service: str | None = Form(None, max_length=20),
                  x_correlation_id: str | None = Header(None)) -> Response:
    """Start collecting from a provider: send the browser to its DVA's authorize endpoint."""
    dvp.person_or_404(person_id)
    url = collect.start_collect(dvp, person_id, provider, service or None,
                                x_correlation_id or str(uuid.uuid4()))
    return RedirectResponse(url, status_code=302)


@router.get("/oauth/callback")
async def callback(dvp: DvpDep, request: Request, state: str = Query(..., max_length=200),
                   code: str | None = None, error: str | None = None,
                   error_description: str | None = None) -> Response:
    """The DVA's answer. Only the browser session that started the authorization completes
    it; the summary (collected or partial) is a result, answered as it is."""
    dvp.check_callback_owner(request, state)
    pending = collect.take_pending(dvp, state, code, error, error_description)
    summary = await collect.complete_collect(dvp, pending, code or "")
    if not is_api(request):
        return RedirectResponse(f"/persons/{pending['person_id']}", status_code=303)
    return JSONResponse(summary, status_code=200 if summary["status"] == "collected" else 502)


@router.get("/api/persons/{person_id}/resources", dependencies=[Depends(current_person)])
async def resources(dvp: DvpDep, person_id: str) -> dict:
    dvp.person_or_404(person_id)
    items = dvp.store.resources(person_id)
    counts = Counter(i["resource"]["resourceType"] for i in items)
    return {"total": len(items), "by_type": dict(sorted(counts.items())), "items": items}


@router.get("/api/persons/{person_id}/collections", dependencies=[Depends(current_person)])
async def collections(dvp: DvpDep, person_id: str) -> list[dict]:
    """Per provider the latest collect: complete / partial / failed / refused, why, per
    search, and what the person is told (the person page shows the same)."""
    dvp.person_or_404(person_id)
    return collect.collections_view(dvp, person_id)


@router.get("/api/persons/{person_id}/log", dependencies=[Depends(current_person)])
async def request_log(dvp: DvpDep, person_id: str) -> list[dict]:
    dvp.person_or_404(person_id)
    return dvp.store.request_log(person_id)
