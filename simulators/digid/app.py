"""The DigiD round trip, as a relying party (a DVA, the inspection function) sees it.

1. The relying party sends the browser to ``/login?rp=<its hostname>&return_to=…&RelayState=…``.
2. The person submits a BSN (test persons only: the population's BSNs).
3. The browser is sent back to ``return_to?SAMLart=<artifact>&RelayState=…``.
4. The relying party resolves the single-use artifact over the back-channel (``/artifact``).

Single sign-on: a DigiD session (cookie ``digid_session``) lets the person log in again within
15 minutes without a BSN, but never silently: the login page says who is logged in and the person
clicks "Doorgaan als ..." (a POST to ``/login/continue``), or logs in as someone else below it.
A silent pass-through would let anyone who sends a logged-in person a DigiD link (with their own
RelayState) log that person in to a session of theirs.

Every form post carries a CSRF token and must come from DigiD's own origin: the BSN form's token
is bound to a pre-login cookie (``digid_csrf``), the continue form's to the DigiD session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import urlencode

from fastapi import Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from simulators.common import pseudonym
from simulators.common.app import node_app
from simulators.common.config import SandboxConfig
from simulators.common.html import escape, hidden, page
from simulators.common.people import population_for
from simulators.common.security import csrf_ok, new_token, same_origin, set_session_cookie

ARTIFACT_SECONDS = 60
SESSION_SECONDS = 15 * 60


def is_valid_bsn(bsn: str) -> bool:
    """The 11-proof: 9 digits, weights 9..2 and -1, sum divisible by 11."""
    if len(bsn) != 9 or not bsn.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(bsn, (9, 8, 7, 6, 5, 4, 3, 2, -1), strict=True))
    return total % 11 == 0 and total != 0


def create_app(config: SandboxConfig, node_id: str) -> object:
    app = node_app(config, node_id, "DigiD simulator")
    population = population_for(config)
    topology = config.topology
    hostname = topology.node(node_id).hostname
    own_origins = {config.public_base(hostname).rstrip("/"),
                   config.addresses[hostname].rstrip("/")}
    session_cookie, csrf_cookie = f"{node_id}_session", f"{node_id}_csrf"
    csrf_key = secrets.token_bytes(32)  # pre-login tokens: HMAC of the digid_csrf cookie
    relying_parties = {n.hostname for n in (*topology.dvas, topology.inspection)}
    artifacts: dict[str, tuple[str, str, float]] = {}  # artifact -> (bsn, rp, expires)
    # DigiD session cookie -> (bsn, expires, CSRF token of the continue form)
    sessions: dict[str, tuple[str, float, str]] = {}

    def login_csrf(cookie: str) -> str:
        """The BSN form's CSRF token: derived from the pre-login cookie with a key only this
        node knows, so a planted cookie does not give a usable token."""
        return hmac.new(csrf_key, cookie.encode(), hashlib.sha256).hexdigest()

    def live_session(request: Request) -> tuple[str, float, str] | None:
        found = sessions.get(request.cookies.get(session_cookie) or "")
        if found and found[1] > time.monotonic():
            return found
        return None

    def refused(message: str) -> HTMLResponse:
        body = (f"<p class='error' role='alert'>{escape(message)}</p>"
                "<p>Ga terug naar de website waar u wilde inloggen en probeer het opnieuw.</p>")
        return HTMLResponse(page("DigiD: niet toegestaan", body, "DigiD simulator"),
                            status_code=403)

    def check_rp(rp: str, return_to: str) -> None:
        if rp not in relying_parties:
            raise HTTPException(400, f"unknown relying party {rp!r}")
        if not config.is_on_host(return_to, rp):
            raise HTTPException(400, "return_to is not on the relying party's host")

    def back_to_rp(bsn: str, rp: str, return_to: str, relay_state: str) -> RedirectResponse:
        artifact = secrets.token_urlsafe(24)
        artifacts[artifact] = (bsn, rp, time.monotonic() + ARTIFACT_SECONDS)
        query = urlencode({"SAMLart": artifact, "RelayState": relay_state})
        sep = "&" if "?" in return_to else "?"
        return RedirectResponse(f"{return_to}{sep}{query}", status_code=303)

    def person_name(bsn: str) -> str:
        index = population.index_of(bsn)
        if index is None:
            return "onbekende testpersoon"
        p = population.patient(index)
        return f"{p.given} {p.family}"

    def login_page(request: Request, rp: str, return_to: str, relay_state: str,
                   error: str = "") -> HTMLResponse:
        """The BSN form; with a live DigiD session, first who is logged in and a button to
        continue as that person."""
        persons = "".join(
            f"<tr><td>{p.bsn}</td><td>{escape(p.given)} {escape(p.family)}</td></tr>"
            for p in (population.patient(i) for i in range(min(5, population.size)))
        )
        back = hidden("rp", rp) + hidden("return_to", return_to) + hidden("RelayState", relay_state)
        pre_login = request.cookies.get(csrf_cookie) or new_token()
        session = live_session(request)
        sso = ""
        if session is not None:
            name = escape(person_name(session[0]))
            sso = (
                f"<p>U bent ingelogd als <strong>{name}</strong> (BSN {session[0]}).</p>"
                "<form method='post' action='/login/continue'>" + back
                + hidden("csrf_token", session[2])
                + "<button type='submit' name='continue' value='yes'>"
                + f"Doorgaan als {name}</button></form>"
                + "<h2>Inloggen als iemand anders</h2>"
            )
        body = (
            (f"<p class='error' role='alert'>{escape(error)}</p>" if error else "")
            + "<p>Inloggen met DigiD (simulator) voor "
            + f"<strong>{escape(rp)}</strong>.</p>"
            + sso
            + "<form method='post' action='/login'>" + back
            + hidden("csrf_token", login_csrf(pre_login))
            + "<label>BSN testpersoon <input name='bsn' inputmode='numeric'"
            + ("" if sso else " autofocus")
            + " pattern='[0-9]{9}' required></label> <button type='submit'>Inloggen</button></form>"
            + f"<h2>Testpersonen</h2><table><tr><th>BSN</th><th>Naam</th></tr>{persons}</table>"
        )
        response = HTMLResponse(page("DigiD", body, "DigiD simulator"),
                                status_code=400 if error else 200)
        if request.cookies.get(csrf_cookie) != pre_login:
            set_session_cookie(response, csrf_cookie, pre_login,
                               secure=request.url.scheme == "https")
        return response

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(
        request: Request,
        rp: str,
        return_to: str,
        relay_state: str = Query("", alias="RelayState"),
    ):
        check_rp(rp, return_to)
        return login_page(request, rp, return_to, relay_state)

    @app.post("/login")
    async def login(
        request: Request,
        rp: str = Form(...),
        return_to: str = Form(...),
        bsn: str = Form(...),
        relay_state: str = Form("", alias="RelayState"),
        csrf_token: str | None = Form(None),
    ):
        check_rp(rp, return_to)
        if not same_origin(request, own_origins):
            return refused("Dit inlogformulier komt niet van DigiD.")
        pre_login = request.cookies.get(csrf_cookie)
        if not pre_login or not csrf_ok(login_csrf(pre_login), csrf_token):
            return refused("Het inlogformulier is verlopen of komt niet van deze pagina.")
        bsn = bsn.strip()
        if not is_valid_bsn(bsn) or population.index_of(bsn) is None:
            return login_page(request, rp, return_to, relay_state,
                              "Onbekend BSN voor een testpersoon.")
        response = back_to_rp(bsn, rp, return_to, relay_state)
        cookie = new_token()
        sessions[cookie] = (bsn, time.monotonic() + SESSION_SECONDS, new_token())
        set_session_cookie(response, session_cookie, cookie,
                           secure=request.url.scheme == "https", max_age=SESSION_SECONDS)
        return response

    @app.post("/login/continue")
    async def continue_as(
        request: Request,
        rp: str = Form(...),
        return_to: str = Form(...),
        relay_state: str = Form("", alias="RelayState"),
        csrf_token: str | None = Form(None),
    ):
        """Single sign-on, confirmed by the person: "Doorgaan als ..." on the login page."""
        check_rp(rp, return_to)
        if not same_origin(request, own_origins):
            return refused("Dit formulier komt niet van DigiD.")
        session = live_session(request)
        if session is None:
            return refused("U bent niet (meer) ingelogd bij DigiD. Log opnieuw in.")
        if not csrf_ok(session[2], csrf_token):
            return refused("Het formulier is verlopen of komt niet van deze pagina.")
        return back_to_rp(session[0], rp, return_to, relay_state)

    @app.post("/artifact")
    async def resolve(artifact: str = Form(...), rp: str = Form(...)) -> dict:
        """Back-channel artifact resolution: single use, bound to the relying party."""
        found = artifacts.pop(artifact, None)
        if found is None or found[1] != rp or found[2] < time.monotonic():
            raise HTTPException(400, "unknown, used or expired artifact")
        bsn = found[0]
        if rp == topology.inspection.hostname:
            # the inspection function needs no identity, only what finds the person's
            # providers: a pseudonym that only the localisation service can open (no BSN)
            registry = topology.registry.hostname
            return {"localisation_pseudonym": pseudonym.pseudonymise(
                config.secret, registry, bsn)}
        return {"bsn": bsn}

    @app.get("/api/test-persons")
    async def test_persons(
        provider: str | None = None,
        service: str | None = None,
        n: int = Query(5, ge=1, le=1000),
        start: int = Query(0, ge=0),
    ) -> list[dict]:
        """Test persons for automation: optionally only those a provider holds data for."""
        found, index = [], start
        while len(found) < n and index < population.size + population.extra_count:
            if provider:
                try:
                    index = population.find(provider, index, service)
                except (KeyError, ValueError, LookupError):
                    break
            p = population.patient(index)
            found.append({"index": index, "bsn": p.bsn, "name": f"{p.given} {p.family}"})
            index += 1
        return found

    return app
