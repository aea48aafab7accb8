"""The DVA's pages outside the OAuth steps: its root (a page, not a JSON 404) and the consent
screen shown again for its own browser (the language switch of ``simulators.dva.pages``:
DigiD's return cannot be fetched twice, its artifact is single use). Showing the screen again
answers nothing: the session stays open until the person posts the form."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from simulators.dva.authorize import bound_session
from simulators.dva.deps import DvaDep
from simulators.dva.pages import confirmation_page, consent_page, root_page

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def root(dva: DvaDep) -> str:
    return root_page(dva.name, sorted(dva.providers.values(), key=lambda p: p.display))


@router.get("/oauth/consent", response_class=HTMLResponse)
async def consent_again(request: Request, dva: DvaDep, session_id: str) -> str:
    """The open consent screen of this browser's identified session, again (in the language
    just chosen)."""
    session = bound_session(dva, request, session_id, identified=True)
    provider = dva.config.topology.provider(session["provider"])
    services = dva.session_services(session)
    if dva.is_share(services):
        return confirmation_page(dva.name, dva.lists.lists, session, provider, services)
    return consent_page(dva.name, dva.lists.lists, session, provider, services,
                        long_lived_allowed=dva.may_consent_long_lived(session))
