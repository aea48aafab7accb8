"""Delen routes of a DVP: ask, start the share at the DVA, take the callback, list the shares.
The protocol steps are ``share.py``'s (a service)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from simulators.common.html import escape, hidden, page
from simulators.dvp import share
from simulators.dvp.deps import DvpDep, PersonSession, current_person
from simulators.dvp.errors import is_api

router = APIRouter(tags=["delen"])


@router.get("/persons/{person_id}/share", response_class=HTMLResponse)
async def share_page(dvp: DvpDep, session: PersonSession, person_id: str, provider: str,
                     service: str) -> HTMLResponse:
    """Ask before sending anything: the form on this page starts the share (a link alone
    could be followed from any site)."""
    dvp.person_or_404(person_id)
    share.share_endpoints(dvp, service, provider)
    body = (f"<p>Gegevens delen met <strong>{escape(provider)}</strong> (gegevensdienst "
            f"{escape(service)}). U logt in met DigiD en bevestigt bij de zorgaanbieder.</p>"
            f"<form method='post' action='/persons/{escape(person_id)}/share'>"
            + hidden("csrf_token", session.csrf_token) + hidden("provider", provider)
            + hidden("service", service) + "<button type='submit'>Delen</button></form>")
    return HTMLResponse(page("Gegevens delen", body, dvp.node.name))


@router.post("/persons/{person_id}/share", dependencies=[Depends(current_person)])
async def start_share(dvp: DvpDep, person_id: str, provider: str = Form(..., max_length=300),
                      service: str = Form(..., max_length=20),
                      x_correlation_id: str | None = Header(None)) -> Response:
    """Send the person's browser to the provider's DVA to share data (Delen)."""
    dvp.person_or_404(person_id)
    url = share.start_share(dvp, dvp.shares, person_id, provider, service,
                            x_correlation_id or str(uuid.uuid4()))
    return RedirectResponse(url, status_code=302)


@router.get("/oauth/share/callback")
async def share_callback(dvp: DvpDep, request: Request, state: str = Query(..., max_length=200),
                         code: str | None = None, error: str | None = None,
                         error_description: str | None = None) -> Response:
    """The DVA's answer: a code to write with, or its refusal (not receptive, declined).
    Only the browser session that started the share completes it."""
    dvp.check_callback_owner(request, state)
    pending, context = share.take_share(dvp, dvp.shares, state, code, error, error_description)
    result = await share.complete_share(dvp, dvp.shares, pending, context, code or "")
    if not is_api(request):
        return RedirectResponse(f"/persons/{pending['person_id']}", status_code=303)
    return JSONResponse(result)


@router.get("/api/persons/{person_id}/shares", dependencies=[Depends(current_person)])
async def list_shares(dvp: DvpDep, person_id: str) -> list[dict]:
    """What this person shared with which provider, and what was refused."""
    dvp.person_or_404(person_id)
    return dvp.shares.shares(person_id)
