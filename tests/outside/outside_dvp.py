"""An outside PGO (DVP) written as a stranger to this project would: it imports nothing from
pgo-sandbox, only httpx, lxml and the standard library, and knows the sandbox only through the
published MedMij lists and the official XSDs.

What it does, in MedMij order (Afsprakenstelsel, "Verzamelen"):

1. fetch the ZAL, OCL, Whitelist and GNL from the registry and validate each against its XSD;
2. build the authorization request from the ZAL's AuthorizationEndpointuri;
3. receive the person's browser on its redirect_uri (a tiny ``http.server`` on 127.0.0.1;
   in the ``medmij`` profile HTTPS with its own certificate on ``<its address>:443``);
4. exchange the code at the ZAL's TokenEndpointuri (form body, client_id = its hostname);
5. search the ResourceEndpointuri with the access token.

Over TLS (``identity``, see ``outside_tls``) every back-channel call (lists, token, resource)
verifies the server against the sandbox CA bundle and presents the DVP's own certificate.

The person's browser is not here: a test drives it (DigiD login, consent) with plain httpx.
"""

from __future__ import annotations

import http.server
import socketserver
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from lxml import etree

from tests.outside.outside_tls import Identity, client

LISTS = {
    "zal": ("/MedMij_Zorgaanbiederslijst.xml", "MedMij_Zorgaanbiederslijst.xsd",
            "xmlns://afsprakenstelsel.medmij.nl/zorgaanbiederslijst/release2/"),
    "ocl": ("/MedMij_OAuthclientlist.xml", "MedMij_OAuthclientlist.xsd",
            "xmlns://afsprakenstelsel.medmij.nl/oauthclientlist/release2/"),
    "whitelist": ("/MedMij_Whitelist.xml", "MedMij_Whitelist.xsd",
                  "xmlns://afsprakenstelsel.medmij.nl/whitelist/release2/"),
    "gnl": ("/MedMij_Gegevensdienstnamenlijst.xml", "MedMij_Gegevensdienstnamenlijst.xsd",
            "xmlns://afsprakenstelsel.medmij.nl/gegevensdienstnamenlijst/release1/"),
}
FHIR_STU3 = "application/fhir+json; fhirVersion=3.0"


@dataclass
class Endpoints:
    authorize: str
    token: str
    resource: str


@dataclass
class FetchedLists:
    """The lists as this DVP read them, with each list's XSD errors (empty: valid)."""

    zal: dict[str, dict[str, Endpoints]]  # provider -> GegevensdienstId -> endpoints
    ocl: dict[str, str]
    whitelist: set[str]
    xsd_errors: dict[str, list[str]] = field(default_factory=dict)


class CallbackServer:
    """The redirect_uri: remembers the query the person's browser brought back. Plain HTTP
    on 127.0.0.1 (loopback profile), or with ``identity`` HTTPS on ``address``:443 under
    ``https://<hostname>/callback`` (the medmij profile wants the DVP's own host, no port)."""

    def __init__(self, identity: Identity | None = None, address: str = "127.0.0.1",
                 hostname: str | None = None) -> None:
        self.received: list[dict[str, str]] = []
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                query = parse_qs(urlsplit(self.path).query)
                received.append({k: v[0] for k, v in query.items()})
                body = b"<html><body>Terug bij de PGO</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args) -> None:
                pass

        self.hostname = hostname
        self.server = http.server.ThreadingHTTPServer(
            (address, 443 if identity is not None else 0), Handler, bind_and_activate=False)
        self.server.allow_reuse_address = True
        socketserver.TCPServer.server_bind(self.server)  # not HTTPServer's: no reverse DNS
        self.server.server_name, self.server.server_port = self.server.server_address[:2]
        self.server.server_activate()
        if identity is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(identity.cert, identity.key)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def redirect_uri(self) -> str:
        if self.hostname is not None:
            return f"https://{self.hostname}/callback"
        return f"http://127.0.0.1:{self.server.server_address[1]}/callback"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class OutsideDvp:
    """``identity``: its certificate, key and the CA bundle (medmij profile: mutual TLS);
    ``hosts``: hostname -> address, like ``curl --resolve`` (else the system resolver)."""

    def __init__(self, hostname: str, registry: str, xsd_dir: Path, redirect_uri: str,
                 identity: Identity | None = None, hosts: dict[str, str] | None = None) -> None:
        self.hostname = hostname
        self.registry = registry.rstrip("/")
        self.xsd_dir = xsd_dir
        self.redirect_uri = redirect_uri
        self.http = client(identity, hosts)
        self.pending: dict[str, tuple[str, str]] = {}  # state -> (provider, service)

    def close(self) -> None:
        self.http.close()

    # 1. the lists ----------------------------------------------------------------------------
    def fetch_lists(self) -> FetchedLists:
        roots, errors = {}, {}
        for kind, (path, xsd, _ns) in LISTS.items():
            r = self.http.get(f"{self.registry}{path}", params={"api": "1"})
            r.raise_for_status()
            root = etree.fromstring(r.content, etree.XMLParser(resolve_entities=False,
                                                               no_network=True))
            schema = etree.XMLSchema(etree.parse(str(self.xsd_dir / xsd)))
            schema.validate(root)
            errors[kind] = [e.message for e in schema.error_log]
            roots[kind] = root
        return FetchedLists(self._zal(roots["zal"]), self._ocl(roots["ocl"]),
                            self._whitelist(roots["whitelist"]), errors)

    @staticmethod
    def _zal(root: etree._Element) -> dict[str, dict[str, Endpoints]]:
        m = {"m": LISTS["zal"][2]}
        out: dict[str, dict[str, Endpoints]] = {}
        for za in root.iterfind("m:Zorgaanbieders/m:Zorgaanbieder", m):
            services = {}
            for gd in za.iterfind("m:Gegevensdiensten/m:Gegevensdienst", m):
                services[gd.findtext("m:GegevensdienstId", namespaces=m)] = Endpoints(
                    gd.findtext("m:AuthorizationEndpoint/m:AuthorizationEndpointuri",
                                namespaces=m),
                    gd.findtext("m:TokenEndpoint/m:TokenEndpointuri", namespaces=m),
                    gd.findtext("m:Systeemrollen/m:Systeemrol/m:ResourceEndpoint/"
                                "m:ResourceEndpointuri", namespaces=m))
            out[za.findtext("m:Zorgaanbiedernaam", namespaces=m)] = services
        return out

    @staticmethod
    def _ocl(root: etree._Element) -> dict[str, str]:
        m = {"m": LISTS["ocl"][2]}
        return {c.findtext("m:Hostname", namespaces=m):
                c.findtext("m:OAuthclientOrganisatienaam", namespaces=m)
                for c in root.iterfind("m:OAuthclients/m:OAuthclient", m)}

    @staticmethod
    def _whitelist(root: etree._Element) -> set[str]:
        m = {"m": LISTS["whitelist"][2]}
        return {n.findtext("m:Hostname", namespaces=m)
                for n in root.iterfind("m:MedMijNodes/m:MedMijNode", m)}

    # 2. the authorization request ------------------------------------------------------------
    def authorize_url(self, lists: FetchedLists, provider: str, service: str) -> str:
        state = uuid.uuid4().hex
        self.pending[state] = (provider, service)
        slug = provider.removesuffix("@medmij")
        query = urlencode({"response_type": "code", "client_id": self.hostname,
                           "redirect_uri": self.redirect_uri, "scope": f"{slug}~{service}",
                           "state": state})
        return f"{lists.zal[provider][service].authorize}?{query}"

    # 4. + 5. token and searches ----------------------------------------------------------------
    def token(self, lists: FetchedLists, callback: dict[str, str]) -> httpx.Response:
        provider, service = self.pending.pop(callback["state"])
        return self.http.post(lists.zal[provider][service].token, data={
            "grant_type": "authorization_code", "code": callback["code"],
            "client_id": self.hostname, "redirect_uri": self.redirect_uri})

    def search(self, endpoint: str, access_token: str, query: str) -> httpx.Response:
        return self.http.get(f"{endpoint}/{query}", headers={
            "Authorization": f"Bearer {access_token}", "Accept": FHIR_STU3,
            "MedMij-Request-ID": str(uuid.uuid4())})
