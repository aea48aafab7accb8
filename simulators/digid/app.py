"""The DigiD round trip, as a relying party (a DVA, the inspection function) sees it.

1. The relying party sends the browser to ``/login?rp=<its hostname>&return_to=…&RelayState=…``.
2. The person submits a BSN (test persons only: the population's BSNs).
3. The browser is sent back to ``return_to?SAMLart=<artifact>&RelayState=…``.
4. The relying party resolves the single-use artifact over the back-channel (``/artifact``).

A DigiD session cookie makes the next login within 15 minutes a pass-through, as with real DigiD.
"""

from __future__ import annotations

import secrets
import time
import uuid
from urllib.parse import urlencode

from fastapi import Cookie, Form, HTTPException, Query
from fastapi.responses import HTMLResponse, RedirectResponse

from simulators.common import pseudonym
from simulators.common.app import node_app
from simulators.common.config import SandboxConfig
from simulators.common.html import escape, hidden, page
from simulators.common.people import population_for

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
    relying_parties = {n.hostname for n in (*topology.dvas, topology.inspection)}
    artifacts: dict[str, tuple[str, str, float]] = {}  # artifact -> (bsn, rp, expires)
    sessions: dict[str, tuple[str, float]] = {}  # DigiD session cookie -> (bsn, expires)

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

    def login_page(rp: str, return_to: str, relay_state: str, error: str = "") -> HTMLResponse:
        persons = "".join(
            f"<tr><td>{p.bsn}</td><td>{escape(p.given)} {escape(p.family)}</td></tr>"
            for p in (population.patient(i) for i in range(min(5, population.size)))
        )
        body = (
            (f"<p class='error' role='alert'>{escape(error)}</p>" if error else "")
            + "<p>Inloggen met DigiD (simulator) voor "
            + f"<strong>{escape(rp)}</strong>.</p>"
            + "<form method='post' action='/login'>"
            + hidden("rp", rp) + hidden("return_to", return_to) + hidden("RelayState", relay_state)
            + "<label>BSN testpersoon <input name='bsn' inputmode='numeric' autofocus"
            + " pattern='[0-9]{9}' required></label> <button type='submit'>Inloggen</button></form>"
            + f"<h2>Testpersonen</h2><table><tr><th>BSN</th><th>Naam</th></tr>{persons}</table>"
        )
        return HTMLResponse(page("DigiD", body, "DigiD simulator"),
                            status_code=400 if error else 200)

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(
        rp: str,
        return_to: str,
        relay_state: str = Query("", alias="RelayState"),
        digid_session: str | None = Cookie(None),
    ):
        check_rp(rp, return_to)
        session = sessions.get(digid_session or "")
        if session and session[1] > time.monotonic():
            return back_to_rp(session[0], rp, return_to, relay_state)
        return login_page(rp, return_to, relay_state)

    @app.post("/login")
    async def login(
        rp: str = Form(...),
        return_to: str = Form(...),
        bsn: str = Form(...),
        relay_state: str = Form("", alias="RelayState"),
    ):
        check_rp(rp, return_to)
        bsn = bsn.strip()
        if not is_valid_bsn(bsn) or population.index_of(bsn) is None:
            return login_page(rp, return_to, relay_state, "Onbekend BSN voor een testpersoon.")
        response = back_to_rp(bsn, rp, return_to, relay_state)
        cookie = str(uuid.uuid4())
        sessions[cookie] = (bsn, time.monotonic() + SESSION_SECONDS)
        response.set_cookie("digid_session", cookie, httponly=True, samesite="lax")
        return response

    @app.post("/artifact")
    async def resolve(artifact: str = Form(...), rp: str = Form(...)) -> dict:
        """Back-channel artifact resolution: single use, bound to the relying party."""
        found = artifacts.pop(artifact, None)
        if found is None or found[1] != rp or found[2] < time.monotonic():
            raise HTTPException(400, "unknown, used or expired artifact")
        bsn = found[0]
        if rp == topology.inspection.hostname:
            # the inspection function gets a pseudonym for the localisation service alongside
            registry = topology.registry.hostname
            return {"bsn": bsn, "localisation_pseudonym": pseudonym.pseudonymise(
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
