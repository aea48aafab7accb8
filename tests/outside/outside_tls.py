"""TLS for the outside DVP and DVA, written as a stranger to this project would: the standard
library's ``ssl``, httpx and uvicorn only, configured from the files ``pgo-sandbox ca issue``
and ``participant add-dvp|add-dva`` hand out (``ca-bundle.pem``, ``<hostname>.crt``,
``<hostname>.key``).

- ``Identity``: the participant's certificate, key and the CA bundle it trusts.
- ``client``: an httpx client that verifies servers against the bundle (hostname checked) and
  presents the participant's certificate (mutual TLS on the back channels). ``hosts`` works
  like ``curl --resolve``: connect to a given address for a hostname while SNI, certificate
  check and Host header keep the hostname, so a test needs no ``/etc/hosts`` line for the
  sandbox's own nodes.
- ``PeerRecorder``: uvicorn's h11 protocol that remembers, per client address, the hostname in
  the verified client certificate of that connection (uvicorn puts no TLS facts into the ASGI
  scope; the app looks the connection up by ``request.client``).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class Identity:
    """A participant's TLS files: its certificate chain, its key and the CA bundle it trusts."""

    cert: Path
    key: Path
    ca_bundle: Path

    @classmethod
    def in_dir(cls, folder: Path, hostname: str) -> Identity:
        """The files as ``pgo-sandbox ca issue HOSTNAME --out FOLDER`` writes them."""
        return cls(folder / f"{hostname}.crt", folder / f"{hostname}.key",
                   folder / "ca-bundle.pem")

    def client_context(self, present: bool = True, tls12: bool = False) -> ssl.SSLContext:
        """Verify servers against the bundle, hostname checked; ``present``: show our own
        certificate when asked (the back channels ask); ``tls12``: at most TLS 1.2, where a
        refused client certificate fails inside the handshake (TLS 1.3 refuses after it)."""
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        if tls12:
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        if present:
            context.load_cert_chain(self.cert, self.key)
        return context


class Resolve(httpx.HTTPTransport):
    """``curl --resolve`` for httpx: a hostname in ``hosts`` is dialled at its address; SNI,
    the server certificate's hostname check and the Host header keep the hostname."""

    def __init__(self, hosts: dict[str, str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.hosts = hosts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        address = self.hosts.get(request.url.host)
        if address is not None:
            request = httpx.Request(
                request.method, request.url.copy_with(host=address), headers=request.headers,
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": request.url.host})
        return super().handle_request(request)


def client(identity: Identity | None, hosts: dict[str, str] | None = None,
           present: bool = True, tls12: bool = False, timeout: float = 30.0) -> httpx.Client:
    """An httpx client for a participant (``identity``) or, with None, a plain one."""
    verify: ssl.SSLContext | bool = True
    if identity is not None:
        verify = identity.client_context(present, tls12)
    return httpx.Client(transport=Resolve(hosts or {}, verify=verify), timeout=timeout)


def server_options(identity: Identity) -> dict:
    """uvicorn's TLS settings for a participant's HTTPS endpoint: its certificate; a client
    certificate asked for and verified against the bundle when given, not demanded (the
    person's browser shares the port)."""
    return {"ssl_certfile": str(identity.cert), "ssl_keyfile": str(identity.key),
            "ssl_ca_certs": str(identity.ca_bundle), "ssl_cert_reqs": ssl.CERT_OPTIONAL}


def san_hostname(peercert: dict | None) -> str | None:
    """The first DNS name of a verified peer certificate (``SSLObject.getpeercert()``)."""
    for kind, value in (peercert or {}).get("subjectAltName", ()):
        if kind == "DNS":
            return value.lower()
    return None


def peer_recorder(peers: dict[tuple, str | None]) -> type[H11Protocol]:
    """A uvicorn protocol class that records ``peers[(host, port)] = certificate hostname``
    for every connection (None: no client certificate) and forgets it when it closes."""

    class PeerRecorder(H11Protocol):
        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            ssl_object = transport.get_extra_info("ssl_object")
            self._peer_key = transport.get_extra_info("peername")
            if self._peer_key is not None:
                peers[tuple(self._peer_key[:2])] = san_hostname(
                    ssl_object.getpeercert() if ssl_object is not None else None)

        def connection_lost(self, exc) -> None:
            if getattr(self, "_peer_key", None) is not None:
                peers.pop(tuple(self._peer_key[:2]), None)
            super().connection_lost(exc)

    return PeerRecorder
