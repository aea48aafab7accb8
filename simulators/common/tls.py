"""TLS and mutual TLS of the ``medmij`` profile: who the peer is, and who may use a back channel.

Serving. uvicorn has no ASGI ``tls`` extension, but it takes an HTTP protocol class:
``PeerCertProtocol`` reads the peer certificate once per connection (``connection_made`` runs
after the TLS handshake) and puts its SAN hostname into every request's scope as
``scope["extensions"]["tls"]["client_cert_hostname"]``. One port (443) serves the browser's
front channel and the back channels, so the server asks for a client certificate without
demanding one (``CERT_OPTIONAL``); a certificate the sandbox CA did not issue, an expired or a
revoked one still fails the handshake.

Gating, in two layers, is the Whitelist rule of MedMij (the latest Whitelist the node holds;
a vendor taken off the lists is refused from the next list refresh):
- in TLS: a node that holds a Whitelist (registry, DigiD, DVA) closes the connection of a
  peer whose certificate names a hostname neither on it nor sandbox infrastructure, before
  any HTTP (``admitting``; MedMij's nodes answer with the alert ``access_denied``, which
  Python's ``ssl`` cannot send);
- in HTTP: ``BackChannelGate`` on the back-channel paths of a role (token, resource server
  and Delen at a DVA, list download at the registry, artifact resolution at DigiD) wants a
  certificate on the Whitelist and answers otherwise with the protocol's own error: OAuth
  ``invalid_client`` at the token endpoint, an OperationOutcome at the resource server, a
  JSON error elsewhere. It is what a caller without a certificate meets, and a removed
  vendor on a connection it opened before the removal.

Clients. ``trust`` registers a sandbox CA bundle for this process's clients and
``use_identity`` the node's own certificate, presented on every back-channel call
(``simulators.common.http`` builds its SSL context from ``client_ssl_context``).

Revocation, as PKIoverheid has it: the CA publishes a CRL and every relying party fetches it.
Server (``LiveServerContext``) and client contexts (``LiveClientContext``) follow a CRL file
without a restart; a client resuming a TLS session (no certificate check in that handshake)
is checked against the CRL of now by the serving protocol (``rechecking``). In the local
runtime every node follows ``<state>/pki/crl.pem``, which ``pgo-sandbox ca revoke`` writes; in
containers each node's own CRL file (``simulators.common.revocation``, which also holds the
rule every copy of the CRL obeys).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson
from cryptography import x509
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from simulators.medmij import OAuthError

log = logging.getLogger(__name__)

BUNDLE = "ca-bundle.pem"  # the sandbox PKI's files (sandbox.pki, under <state>/pki/)
CRL_FILE = "crl.pem"
ISSUING_FILE = "issuing-ca.crt"  # the CA that signs the node certificates and the CRL
CRL_PATH = "/pki/crl.pem"  # the registry's CRL distribution point (simulators.registry.crl)
LIST_WAIT_SECONDS = 10.0  # a gate without lists yet waits this long for the first refresh

_trusted: list[Path] = []  # pki directories whose CA bundle this process trusts
_identity: tuple[Path, str] | None = None  # (pki directory, own hostname) of a node process
_crl_files: dict[Path, Path] = {}  # pki directory -> the CRL file this process follows for it
_contexts: dict[tuple, ssl.SSLContext] = {}


# --- certificates -------------------------------------------------------------------------

def load_certificate(der: bytes | None) -> x509.Certificate | None:
    """A DER certificate (a peer's), or None when there is none or it does not parse."""
    if not der:
        return None
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


def hostname_of(certificate: x509.Certificate) -> str | None:
    """The first SAN dNSName of a certificate (what MedMij compares with the Whitelist)."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (ValueError, x509.ExtensionNotFound):
        return None
    names = san.value.get_values_for_type(x509.DNSName)
    return names[0].lower() if names else None


def cert_hostname(der: bytes | None) -> str | None:
    """``hostname_of`` a DER certificate."""
    certificate = load_certificate(der)
    return hostname_of(certificate) if certificate is not None else None


CertId = tuple[bytes, int]  # (issuer name in DER, serial number): what a CRL lists


def id_of(certificate: x509.Certificate) -> CertId:
    """The (issuer, serial) of a certificate, as a CRL names it."""
    return certificate.issuer.public_bytes(), certificate.serial_number


def cert_id(der: bytes | None) -> CertId | None:
    """``id_of`` a DER certificate."""
    certificate = load_certificate(der)
    return id_of(certificate) if certificate is not None else None


def peer_cert_id(scope: dict) -> CertId | None:
    """(issuer, serial) of the client certificate of this request's connection, if any."""
    return ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_id")


def peer_hostname(scope: dict) -> str | None:
    """The hostname of the client certificate of this request's connection, if any."""
    return ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_hostname")


def uses_tls(config, hostname: str) -> bool:
    """Whether the node serves TLS: the runtime mapped it to an https address (the local
    runtime's ``medmij`` profile; the docker, compose and swarm runtimes' network)."""
    return config.addresses.get(hostname, "").startswith("https://")


# the hostnames on the latest Whitelist a node holds; None: no lists yet
Whitelist = Callable[[], "frozenset[str] | set[str] | None"]
Admit = Callable[[str], bool]  # may a peer with this certificate hostname connect at all?


class PeerCertProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that hands the peer certificate's hostname to the app,
    and closes the connection of a peer its node does not admit (``admitting``)."""

    _tls: dict | None = None
    admit: Admit | None = None  # None: every peer the handshake accepted
    refused: Callable[[str], None] | None = None  # told of each refusal (the node's events)
    # a resumed session's certificate, still good now? (``rechecking``); None: not asked
    still_good: Callable[[x509.Certificate], bool] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        certificate = load_certificate(der)  # parsed once per connection
        hostname = hostname_of(certificate) if certificate is not None else None
        if certificate is not None and self.still_good is not None \
                and ssl_object.session_reused and not self.still_good(certificate):
            # a resumed session skips certificate verification: a peer revoked after its
            # first handshake would keep its identity for the session's (renewable) life
            log.warning("closed the resumed TLS connection of %s: its certificate was revoked "
                        "or expired after the session began", hostname)
            transport.abort()
            return
        if hostname is not None and self.admit is not None and not self.admit(hostname):
            # Python's ssl cannot send the alert (it has no verify callback, and after the
            # handshake every alert is encrypted), so the refusal is the nearest thing: the
            # TLS connection is closed before a byte of HTTP is read or written
            log.warning("closed the TLS connection of %s: its certificate hostname is not on "
                        "the Whitelist", hostname)
            if self.refused is not None:
                self.refused(hostname)
            transport.abort()
            return
        self._tls = {"client_cert_hostname": hostname,
                     "client_cert_id": id_of(certificate) if certificate is not None else None}

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            self.scope["extensions"] = {"tls": self._tls}  # type: ignore[typeddict-unknown-key]


def admitting(whitelist: Whitelist, infrastructure: frozenset[str],
              refused: Callable[[str], None] | None = None) -> type[PeerCertProtocol]:
    """The protocol class of a node that holds a Whitelist: MedMij's rule that a node
    refuses, in TLS, a peer whose certificate hostname is not on the latest Whitelist
    (SPEC section 2). ``infrastructure``: sandbox nodes that are no MedMij participants
    (registry, DigiD, inspection function) and are let in besides. Before the node has its
    first lists every peer is let in; ``BackChannelGate`` then waits for them and refuses on
    the back channels with the protocol's errors, which is also what a connection opened
    before a removal meets."""

    def admit(hostname: str) -> bool:
        if hostname in infrastructure:
            return True
        listed = whitelist()
        return listed is None or hostname in listed

    return type("AdmittingPeerCertProtocol", (PeerCertProtocol,),
                {"admit": staticmethod(admit),
                 "refused": staticmethod(refused) if refused is not None else None})


def rechecking(protocol: type[PeerCertProtocol], live: LiveServerContext
               ) -> type[PeerCertProtocol]:
    """``protocol`` that closes a resumed TLS session whose client certificate the CRL ``live``
    follows now revokes (or that expired since). OpenSSL verifies a certificate only in a full
    handshake, and session tickets and the session cache belong to the listener's context,
    which ``LiveServerContext`` never replaces: without this a peer revoked after one
    handshake kept its identity by resuming that session (Python offers no switch to turn
    resumption off on a server: no session-cache mode, and tickets off still leaves the
    TLS 1.2 session-id cache)."""
    return type(f"Rechecking{protocol.__name__}", (protocol,),
                {"still_good": staticmethod(live.still_good)})


# --- contexts -----------------------------------------------------------------------------

def server_ssl_context(pki_dir: Path, hostname: str, crl: Path | None = None
                       ) -> ssl.SSLContext:
    """The node's server context: its chain; a client certificate asked for, verified against
    the sandbox CA and its CRL when given, not required (the browser's front channel shares
    the port; the gate refuses a back-channel call without one). ``crl``: the CRL file to
    check against (default: the PKI folder's)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(pki_dir / f"{hostname}.crt", pki_dir / f"{hostname}.key")
    _trust_files(context, pki_dir, crl)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def revoked_serials(crl: Path) -> frozenset[CertId]:
    """(issuer name in DER, serial number) of every certificate on a PEM CRL file (none when
    it is missing or unreadable: the contexts built from the same file check nothing then)."""
    try:
        found = x509.load_pem_x509_crl(crl.read_bytes())
    except (OSError, ValueError):
        return frozenset()
    issuer = found.issuer.public_bytes()
    return frozenset((issuer, entry.serial_number) for entry in found)


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells a rewritten file from the one read before: an atomic replace gives a new
    inode, a rewrite in place a new mtime or size (mtime alone can repeat within a tick)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_ino, info.st_size


class LiveServerContext:
    """A node's server context that follows the sandbox CRL without a restart.

    OpenSSL reads a CRL into a context once; a certificate revoked later (``pgo-sandbox ca
    revoke``, a drill) would pass every handshake until the node restarts. So each handshake
    passes through ``sni_callback``, which looks at the CRL file at most once per
    ``CHECK_SECONDS`` and, when it changed, builds a fresh context from the files and hands
    the connection over to it (``SSLObject.context``: certificate, trust store and CRL of the
    new context; a new CRL replaces the old one instead of sitting beside it). Connections
    already open keep what they were verified with, as with any TLS server.

    ``crl``: the file to follow; the PKI folder's ``crl.pem`` by default (local runtime), a
    node's own ``CrlFile`` in containers, whose follower calls ``refresh`` on each new CRL.
    """

    CHECK_SECONDS = 1.0

    def __init__(self, pki_dir: Path, hostname: str, crl: Path | None = None) -> None:
        self.pki_dir = Path(pki_dir)
        self.hostname = hostname
        self.crl = Path(crl) if crl is not None else self.pki_dir / CRL_FILE
        self._crl_stamp = file_stamp(self.crl)
        self._failed_stamp: tuple[int, int, int] | None = None  # logged once per stamp
        self._checked = time.monotonic()
        self.current = server_ssl_context(self.pki_dir, hostname, self.crl)
        self.revoked = revoked_serials(self.crl)
        self.context = server_ssl_context(self.pki_dir, hostname, self.crl)  # the listener's
        self.context.sni_callback = self._on_hello

    def refresh(self) -> bool:
        """Rebuild the context if the CRL file changed; whether it did. Files that cannot be
        read (a PKI folder being remade) leave the context as it was, with an error in the
        log, rather than failing the handshake or the request that looked."""
        stamp = file_stamp(self.crl)
        if stamp == self._crl_stamp or stamp is None:  # a CRL gone for a moment revokes less
            return False
        try:
            self.current = server_ssl_context(self.pki_dir, self.hostname, self.crl)
        except (OSError, ssl.SSLError, ValueError) as exc:  # tried again at the next look
            if stamp != self._failed_stamp:
                log.error("kept the TLS context of %s: its files could not be read (%s)",
                          self.hostname, exc)
                self._failed_stamp = stamp
            return False
        self.revoked = revoked_serials(self.crl)
        self._crl_stamp = stamp
        return True

    def still_good(self, certificate: x509.Certificate) -> bool:
        """Whether a client certificate verified in an earlier handshake is neither on the
        CRL this context follows now nor expired (a resumed session: ``rechecking``)."""
        return id_of(certificate) not in self.revoked \
            and certificate.not_valid_after_utc.timestamp() > time.time()

    def _look(self) -> None:
        """Look at the CRL file, at most once per ``CHECK_SECONDS``."""
        now = time.monotonic()
        if now - self._checked >= self.CHECK_SECONDS:
            self._checked = now
            self.refresh()

    def revoked_now(self, certificate: CertId) -> bool:
        """Whether the CRL this context follows now lists ``certificate``: for a request on a
        connection whose handshake came before the revocation (``BackChannelGate``)."""
        self._look()
        return certificate in self.revoked

    def _on_hello(self, connection, _server_name: str | None, _context) -> None:
        self._look()
        connection.context = self.current


class LiveClientContext(ssl.SSLContext):
    """The client context of a process, following its CRL files as ``LiveServerContext`` does.

    httpx keeps the context it was given for the client's life, and a node's clients live as
    long as the node. So this context only delegates: every new connection (``wrap_socket``
    of the sync clients, ``wrap_bio`` of the async ones) is made by ``current``, a context
    built from the files and rebuilt when a watched CRL file changed (looked at, at most once
    per ``CHECK_SECONDS``). A peer whose certificate was revoked is refused at the next
    handshake, a server as much as a client. The ALPN list httpx sets is carried over.
    """

    CHECK_SECONDS = 1.0

    def __new__(cls, build: Callable[[], ssl.SSLContext], watched: tuple[Path, ...]):
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def __init__(self, build: Callable[[], ssl.SSLContext], watched: tuple[Path, ...]) -> None:
        self._build = build
        self._watched = watched
        self._alpn: list[str] | None = None
        self._stamps = [file_stamp(p) for p in watched]
        self._failed_stamps: list | None = None  # logged once per set of stamps
        self._checked = time.monotonic()
        self.current = build()

    def refresh(self) -> bool:
        """Rebuild the context if a watched CRL file changed; whether it did."""
        stamps = [file_stamp(p) for p in self._watched]
        if stamps == self._stamps:
            return False
        try:
            current = self._build()
        except (OSError, ssl.SSLError, ValueError) as exc:  # as LiveServerContext.refresh
            if stamps != self._failed_stamps:
                log.error("kept the TLS client context: its files could not be read (%s)", exc)
                self._failed_stamps = stamps
            return False
        if self._alpn is not None:
            current.set_alpn_protocols(self._alpn)
        self.current, self._stamps = current, stamps
        return True

    def _latest(self) -> ssl.SSLContext:
        now = time.monotonic()
        if now - self._checked >= self.CHECK_SECONDS:
            self._checked = now
            self.refresh()
        return self.current

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        self._alpn = list(alpn_protocols)
        self.current.set_alpn_protocols(self._alpn)

    def wrap_socket(self, *args, **kwargs):  # type: ignore[override]
        return self._latest().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args, **kwargs):  # type: ignore[override]
        return self._latest().wrap_bio(*args, **kwargs)

    def cert_store_stats(self) -> dict[str, int]:
        return self._latest().cert_store_stats()

    def get_ca_certs(self, binary_form: bool = False):  # type: ignore[override]
        return self._latest().get_ca_certs(binary_form)


def _trust_files(context: ssl.SSLContext, pki_dir: Path, crl: Path | None = None) -> None:
    """Trust the sandbox CA bundle and check leaf certificates against its CRL (``crl``, or
    the one this process follows for the folder, or the folder's own)."""
    context.load_verify_locations(cafile=pki_dir / BUNDLE)
    crl = crl or _crl_files.get(Path(pki_dir).resolve(), pki_dir / CRL_FILE)
    if crl.exists():
        context.load_verify_locations(cafile=crl)
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF


def trust(pki_dir: Path) -> None:
    """Trust a sandbox's CA bundle in this process's clients (the runtime calls it on ``up``)."""
    pki_dir = Path(pki_dir).resolve()
    if pki_dir not in _trusted:
        _trusted.append(pki_dir)


def use_identity(pki_dir: Path, hostname: str) -> None:
    """This process is the node ``hostname``: trust its CA, present its certificate."""
    global _identity
    trust(pki_dir)
    _identity = (Path(pki_dir).resolve(), hostname)


def follow_crl(pki_dir: Path, crl: Path) -> None:
    """This process's clients check certificates of ``pki_dir``'s CA against ``crl`` (a
    node's own ``CrlFile`` in containers) instead of the folder's ``crl.pem``."""
    _crl_files[Path(pki_dir).resolve()] = Path(crl)


def _default_pki() -> Iterable[Path]:
    """A CLI process after `up`: the state directory's PKI, if the sandbox made one."""
    home = Path(os.environ.get("PGO_SANDBOX_HOME", Path.home() / ".pgo-sandbox"))
    if (home / "pki" / BUNDLE).exists():
        yield (home / "pki").resolve()


def client_ssl_context(present_identity: bool = True) -> ssl.SSLContext:
    """The context of this process's clients: trusts every registered sandbox CA (hostname
    checked), follows their CRLs (``LiveClientContext``) and, in a node process, presents the
    node's certificate (mutual TLS). ``present_identity=False``: no certificate, for what is
    public (the CRL: a node whose own certificate was revoked must still fetch it)."""
    # a sandbox that was torn down (its state directory gone) is trusted no more
    dirs = tuple(d for d in _trusted if (d / BUNDLE).exists()) or tuple(_default_pki())
    watched = tuple(_crl_files.get(d, d / CRL_FILE) for d in dirs)
    identity = _identity if present_identity else None
    key = (dirs, watched, identity)
    context = _contexts.get(key)
    if context is None:

        def build() -> ssl.SSLContext:
            built = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            built.minimum_version = ssl.TLSVersion.TLSv1_2
            for pki_dir in dirs:
                _trust_files(built, pki_dir)
            if identity is not None:
                pki_dir, hostname = identity
                built.load_cert_chain(pki_dir / f"{hostname}.crt", pki_dir / f"{hostname}.key")
            return built

        context = _contexts[key] = LiveClientContext(build, watched)
    return context


# --- the Whitelist gate -------------------------------------------------------------------

def _json(status: int, body: dict, headers: Iterable[tuple[bytes, bytes]] = ()) -> tuple:
    return status, orjson.dumps(body), [(b"content-type", b"application/json"),
                                        (b"cache-control", b"no-store"), *headers]


def refusal(path: str, peer: str | None, why: str | None = None
            ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """The protocol's answer to a back-channel call from a peer that may not make it."""
    why = why or ("no client certificate: this back channel requires mutual TLS" if peer is None
                  else f"certificate hostname {peer} is not on the Whitelist")
    if path.startswith("/oauth/"):
        return _json(401, {"error": OAuthError.INVALID_CLIENT, "error_description": why})
    if path.startswith("/fhir/"):
        return _json(401 if peer is None else 403, {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "login" if peer is None else "forbidden",
                       "diagnostics": why}]})
    return _json(401 if peer is None else 403, {"error": OAuthError.ACCESS_DENIED,
                                                "error_description": why})


class BackChannelGate:
    """Pure ASGI middleware: a back-channel path needs a peer certificate on the Whitelist.

    ``prefixes``: the gated paths (a path equal to one, or under one ending in ``/``).
    ``whitelist()``: the hostnames on the latest Whitelist the node holds (None: no lists yet;
    the gate then waits for ``ready`` up to LIST_WAIT_SECONDS, as the node's /health does).
    ``revoked(cert_id)``: whether the CRL of now lists the peer's certificate. A handshake
    checks the CRL once, so a keep-alive connection opened before ``ca revoke`` would carry
    a revoked vendor's requests for as long as it stays open (the Whitelist is checked per
    request for the same reason).
    """

    def __init__(self, app, prefixes: tuple[str, ...], whitelist: Whitelist,
                 ready: Callable[[], asyncio.Event | None] | None = None,
                 extra: frozenset[str] = frozenset(),
                 revoked: Callable[[CertId], bool] | None = None) -> None:
        self.app = app
        self.prefixes = prefixes
        self.whitelist = whitelist
        self.ready = ready
        self.extra = extra  # sandbox infrastructure allowed besides the Whitelist (DigiD)
        self.revoked = revoked

    def gated(self, path: str) -> bool:
        return any(path == p or (p.endswith("/") and path.startswith(p))
                   for p in self.prefixes)

    async def _latest(self) -> frozenset[str] | set[str]:
        """The latest Whitelist; before the first list refresh, wait for it (bounded)."""
        event = self.ready() if self.ready else None
        if event is not None and not event.is_set():
            try:
                await asyncio.wait_for(event.wait(), LIST_WAIT_SECONDS)
            except TimeoutError:
                pass
        return self.whitelist() or frozenset()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not self.gated(scope["path"]):
            await self.app(scope, receive, send)
            return
        peer = peer_hostname(scope)
        why = None
        if peer is not None and (peer in self.extra or peer in await self._latest()):
            certificate = peer_cert_id(scope)
            if self.revoked is None or certificate is None or not self.revoked(certificate):
                await self.app(scope, receive, send)
                return
            why = f"the certificate of {peer} was revoked"
        status, body, headers = refusal(scope["path"], peer, why)
        log.warning("refused %s %s from %s", scope["method"], scope["path"],
                    peer or "a peer without certificate")
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
