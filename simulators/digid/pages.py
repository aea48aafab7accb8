"""DigiD's pages (plain strings, no HTTP; templates ``digid_*.html``): the login page with
the BSN form and the test persons with where they have data, and with a live DigiD session
first who is logged in and a "Doorgaan als ..." button. Never a silent pass-through: a
stranger's DigiD link would otherwise log the person in to the stranger's session."""

from __future__ import annotations

from simulators.common.html import render
from simulators.digid.errors import BANNER
from simulators.digid.service import LISTED_PERSONS, DigiD, DigiDSession

__all__ = ["LISTED_PERSONS", "home_page", "login_page"]


def login_page(digid: DigiD, *, rp: str, return_to: str, relay_state: str, csrf_token: str,
               session: DigiDSession | None, error: str = "") -> str:
    """The login page for relying party ``rp``: the persons offered have data at its
    providers (the first has the most of them), each with a button that logs in as them."""
    return render("digid_login.html", title="DigiD", banner=BANNER, rp=rp,
                  rp_name=digid.rp_name(rp), return_to=return_to, relay_state=relay_state,
                  csrf_token=csrf_token, session=session,
                  session_name=digid.person_name(session.bsn) if session else "",
                  persons=digid.listed_persons(rp), error=error)


def home_page(digid: DigiD) -> str:
    """DigiD's root: what this simulator is, and the test persons (no login without a
    relying party: a website sends you here)."""
    return render("digid_login.html", title="DigiD", banner=BANNER, rp="",
                  rp_name="een website die om inloggen vraagt", return_to="",
                  relay_state="", csrf_token="", session=None, session_name="",
                  persons=digid.listed_persons(None), error="", home=True)
