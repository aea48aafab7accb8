"""DigiD's login page (plain strings, no HTTP): the BSN form, and with a live DigiD session
first who is logged in and a "Doorgaan als ..." button. Never a silent pass-through: a
stranger's DigiD link would otherwise log the person in to the stranger's session."""

from __future__ import annotations

from simulators.common.html import escape, hidden, page
from simulators.digid.errors import BANNER
from simulators.digid.service import DigiD, DigiDSession

LISTED_PERSONS = 5


def _back(rp: str, return_to: str, relay_state: str) -> str:
    return hidden("rp", rp) + hidden("return_to", return_to) + hidden("RelayState", relay_state)


def _continue_as(digid: DigiD, session: DigiDSession, back: str) -> str:
    name = escape(digid.person_name(session.bsn))
    return (f"<p>U bent ingelogd als <strong>{name}</strong> (BSN {session.bsn}).</p>"
            "<form method='post' action='/login/continue'>" + back
            + hidden("csrf_token", session.csrf_token)
            + "<button type='submit' name='continue' value='yes'>"
            + f"Doorgaan als {name}</button></form>"
            + "<h2>Inloggen als iemand anders</h2>")


def login_page(digid: DigiD, *, rp: str, return_to: str, relay_state: str, csrf_token: str,
               session: DigiDSession | None, error: str = "") -> str:
    population = digid.population
    persons = "".join(
        f"<tr><td>{p.bsn}</td><td>{escape(p.given)} {escape(p.family)}</td></tr>"
        for p in (population.patient(i) for i in range(min(LISTED_PERSONS, population.size))))
    back = _back(rp, return_to, relay_state)
    sso = _continue_as(digid, session, back) if session is not None else ""
    body = (
        (f"<p class='error' role='alert'>{escape(error)}</p>" if error else "")
        + f"<p>Inloggen met DigiD (simulator) voor <strong>{escape(rp)}</strong>.</p>"
        + sso
        + "<form method='post' action='/login'>" + back
        + hidden("csrf_token", csrf_token)
        + "<label>BSN testpersoon <input name='bsn' inputmode='numeric'"
        + ("" if sso else " autofocus")
        + " pattern='[0-9]{9}' required></label> <button type='submit'>Inloggen</button></form>"
        + f"<h2>Testpersonen</h2><table><tr><th>BSN</th><th>Naam</th></tr>{persons}</table>"
    )
    return page("DigiD", body, BANNER)
