"""An outside DVA written as a stranger to this project would: it imports nothing from
pgo-sandbox, only FastAPI/uvicorn, httpx, lxml and the standard library, and knows the
sandbox only through the published OCL and Whitelist.

Its endpoints live on other paths than the sandbox's own DVAs (``/oauth/authorize``,
``/oauth/token``, ``/fhir/<slug>/<id>``), so a PGO reaches it only if it takes the URLs from
the ZAL::

    GET  /auth/start                 authorization endpoint (client on OCL + Whitelist)
    GET  /auth/login                 identification, simplified: passes straight on (the
                                     sandbox's DigiD knows only the topology's own DVAs)
    GET  /auth/consent, POST         the consent screen ("Toestemming") and the answer
    POST /auth/token                 token endpoint (authorization_code only)
    GET  /api/fhir/<slug>/48/...     resource endpoint: a canned Patient and Condition for
                                     the one test person, an empty searchset for the rest
    GET  /health

It serves one provider and gegevensdienst 48 (BgZ, FHIR STU3).

Over TLS (``identity``: the medmij profile) it serves HTTPS with its sandbox-issued certificate
on ``<address>:443``, reads the lists with mutual TLS, and on its back channels (token,
resource) checks the caller's certificate itself: one must be presented, its hostname must be
on the latest OCL and Whitelist and equal ``client_id``, and a token is good only for the
client it was issued to.
"""

from __future__ import annotations

import html
import secrets
import socket
import threading
import time
from urllib.parse import urlencode, urlsplit

import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from lxml import etree
from starlette.concurrency import run_in_threadpool

from tests.outside.outside_tls import Identity, client, peer_recorder, server_options

OCL_NS = "xmlns://afsprakenstelsel.medmij.nl/oauthclientlist/release2/"
WL_NS = "xmlns://afsprakenstelsel.medmij.nl/whitelist/release2/"
FHIR_STU3 = "application/fhir+json; fhirVersion=3.0"
SERVICE = "48"


def _hostnames(content: bytes, ns: str, path: str) -> set[str]:
    root = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True))
    return {h.text for h in root.iterfind(path, {"m": ns})}


def create_app(registry: str, provider: str, identity: Identity | None = None,
               hosts: dict[str, str] | None = None) -> FastAPI:
    """``registry``: where the MedMij lists are; ``provider``: the Zorgaanbiedernaam served;
    ``identity``: its TLS files (medmij profile); ``hosts``: like ``curl --resolve``."""
    slug = provider.removesuffix("@medmij")
    app = FastAPI()
    sessions: dict[str, dict] = {}  # authorization sessions, by id
    codes: dict[str, dict] = {}
    tokens: dict[str, dict] = {}
    app.state.requests = []  # (method, path) of every resource request, for tests
    app.state.peers = {}  # (client address, port) -> certificate hostname (see Serving)
    app.state.callers = []  # (path, certificate hostname) of every back-channel call
    mutual = identity is not None

    def on_lists(hostname: str) -> tuple[bool, bool]:
        """(on the OCL, on the Whitelist) right now (read fresh: a small DVA may)."""
        with client(identity, hosts, timeout=10.0) as http:
            ocl = http.get(f"{registry}/MedMij_OAuthclientlist.xml", params={"api": "1"})
            wl = http.get(f"{registry}/MedMij_Whitelist.xml", params={"api": "1"})
        if ocl.status_code != 200 or wl.status_code != 200:  # the registry refused us
            return False, False
        return (hostname in _hostnames(ocl.content, OCL_NS, "m:OAuthclients/m:OAuthclient/"
                                       "m:Hostname"),
                hostname in _hostnames(wl.content, WL_NS, "m:MedMijNodes/m:MedMijNode/"
                                       "m:Hostname"))

    def trusted(client_id: str) -> bool:
        return all(on_lists(client_id))

    def peer(request: Request) -> str | None:
        """The hostname of this connection's verified client certificate, if any."""
        found = app.state.peers.get(tuple(request.client or ()))
        app.state.callers.append((request.url.path, found))
        return found

    def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": error, "error_description": description}, status)

    def outcome(status: int, code: str, why: str) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else {}
        return JSONResponse({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": code, "diagnostics": why}]}, status, headers=headers)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "provider": provider}

    @app.get("/auth/start")
    def start(response_type: str = "", client_id: str = "", redirect_uri: str = "",
              scope: str = "", state: str = "") -> Response:
        if not client_id or not trusted(client_id):
            return HTMLResponse("<p>Onbekende PGO.</p>", 400)
        host = urlsplit(redirect_uri).hostname
        if host not in (client_id, "127.0.0.1"):  # loopback: the OCL names no port
            return HTMLResponse("<p>Onjuist terugkeeradres.</p>", 400)
        sep = "&" if "?" in redirect_uri else "?"
        if response_type != "code" or scope not in (slug, f"{slug}~{SERVICE}") or not state:
            query = urlencode({"error": "invalid_request", "state": state})
            return RedirectResponse(f"{redirect_uri}{sep}{query}", 302)
        session = secrets.token_urlsafe(16)
        sessions[session] = {"client_id": client_id, "redirect_uri": redirect_uri,
                             "state": state, "csrf": secrets.token_urlsafe(16)}
        return RedirectResponse(f"/auth/login?session={session}", 302)

    @app.get("/auth/login")
    def login(session: str = "") -> Response:
        if session not in sessions:
            return HTMLResponse("<p>Onbekende sessie.</p>", 400)
        return RedirectResponse(f"/auth/consent?session={session}", 303)

    @app.get("/auth/consent")
    def consent_page(session: str = "") -> HTMLResponse:
        found = sessions.get(session)
        if found is None:
            return HTMLResponse("<p>Onbekende sessie.</p>", 400)
        return HTMLResponse(
            "<!doctype html><html lang='nl'><body><h1>Toestemming</h1>"
            f"<p>{html.escape(found['client_id'])} wil uw Basisgegevens Zorg ophalen.</p>"
            "<form method='post' action='/auth/consent'>"
            f"<input type='hidden' name='session' value='{html.escape(session)}'>"
            f"<input type='hidden' name='csrf' value='{found['csrf']}'>"
            "<button name='decision' value='allow'>Toestaan</button>"
            "<button name='decision' value='deny'>Weigeren</button></form></body></html>")

    @app.post("/auth/consent")
    def consent(session: str = Form(""), csrf: str = Form(""),
                decision: str = Form("")) -> Response:
        found = sessions.pop(session, None)
        if found is None or not secrets.compare_digest(csrf, found["csrf"]):
            return HTMLResponse("<p>Onbekende sessie.</p>", 400)
        sep = "&" if "?" in found["redirect_uri"] else "?"
        if decision != "allow":
            query = urlencode({"error": "access_denied", "state": found["state"]})
            return RedirectResponse(f"{found['redirect_uri']}{sep}{query}", 302)
        code = secrets.token_urlsafe(24)
        codes[code] = {**found, "expires": time.time() + 60}
        query = urlencode({"code": code, "state": found["state"]})
        return RedirectResponse(f"{found['redirect_uri']}{sep}{query}", 302)

    @app.post("/auth/token")
    async def token(request: Request) -> JSONResponse:
        if not request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            return oauth_error("invalid_request", "form body expected")
        form = await request.form()
        client_id = str(form.get("client_id", ""))
        if mutual:  # the client is who its certificate says, nobody else
            presented = peer(request)
            if presented is None:
                return oauth_error("invalid_client", "client certificate required", 401)
            if presented != client_id:
                return oauth_error("invalid_client", f"client_id {client_id!r} is not the "
                                   f"certificate's hostname {presented}", 401)
        if not client_id or not await run_in_threadpool(trusted, client_id):
            return oauth_error("invalid_client", "not on the OCL and Whitelist", 401)
        if form.get("grant_type") != "authorization_code":
            return oauth_error("unsupported_grant_type", "authorization_code only")
        grant = codes.pop(str(form.get("code", "")), None)
        if grant is None or grant["expires"] < time.time() or grant["client_id"] != client_id \
                or grant["redirect_uri"] != form.get("redirect_uri"):
            return oauth_error("invalid_grant", "unknown, used or foreign code")
        access = secrets.token_urlsafe(24)
        tokens[access] = {"client_id": client_id, "expires": time.time() + 900}
        return JSONResponse({"access_token": access, "token_type": "Bearer",
                             "expires_in": 900, "scope": f"{slug}~{SERVICE}"},
                            headers={"Cache-Control": "no-store"})

    @app.get(f"/api/fhir/{slug}/{SERVICE}/{{query:path}}")
    def resource(query: str, request: Request) -> JSONResponse:
        app.state.requests.append(("GET", request.url.path))
        presented = peer(request) if mutual else None
        if mutual and presented is None:
            return outcome(401, "login", "client certificate required")
        if mutual and not on_lists(presented)[1]:
            return outcome(403, "forbidden", f"{presented} is not on the Whitelist")
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        grant = tokens.get(bearer)
        if grant is None or grant["expires"] < time.time():
            return outcome(401, "login", "unknown or expired token")
        if mutual and grant["client_id"] != presented:
            return outcome(401, "login", "token issued to another client")
        kind = query.split("?")[0].split("/")[0]
        entries = [{"resource": r} for r in CANNED.get(kind, [])]
        bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(entries),
                  "entry": entries}
        return JSONResponse(bundle, media_type=FHIR_STU3)

    return app


CANNED = {
    "Patient": [{"resourceType": "Patient", "id": "outside-patient-1",
                 "name": [{"family": "Buiten", "given": ["Bea"]}],
                 "gender": "female", "birthDate": "1970-05-01"}],
    "Condition": [{"resourceType": "Condition", "id": "outside-condition-1",
                   "clinicalStatus": "active", "verificationStatus": "confirmed",
                   "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003",
                                        "display": "Hypertensie"}]},
                   "subject": {"reference": "Patient/outside-patient-1"}}],
}


class Serving:
    """The app in a thread: plain HTTP on 127.0.0.1 on a port the OS picked, or with
    ``identity`` HTTPS on ``address``:443 under ``https://<hostname>`` (``base``), recording
    each connection's client certificate for the app (``app.state.peers``)."""

    def __init__(self, app: FastAPI, identity: Identity | None = None,
                 address: str = "127.0.0.1", hostname: str | None = None) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((address, 443 if identity is not None else 0))
        self.base = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        options: dict = {}
        if identity is not None:
            self.base = f"https://{hostname}"
            options = {"http": peer_recorder(app.state.peers), **server_options(identity)}
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **options))
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.socket]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)
        self.socket.close()
