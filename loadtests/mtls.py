"""TLS for Locust's users against a sandbox that serves HTTPS (``up --profile medmij``, the
docker runtime): whom they trust, which certificate they present, where a hostname is.

MedMij's rules as a load user meets them (SPEC section 2, simulators/common/tls.py):
- every node is addressed by its MedMij hostname: SNI and the certificate check use it,
  against the sandbox CA (``<state>/pki/ca-bundle.pem``);
- a back channel (token, FHIR resource, list download) needs the calling node's certificate
  (``<state>/pki/<hostname>.crt/.key``), its hostname on the Whitelist, and at the token
  endpoint equal to ``client_id``: a user acting as PGO X presents X's certificate. A DVA or
  the registry closes the connection of a certificate off its Whitelist right after the
  handshake, so a wrong certificate is worse than none;
- the browser's front channel presents no certificate.

The runtime's address map says where each hostname is reachable (the local profile:
https://127.x.y.z on 443; docker from this machine: https://127.0.0.1:<port>; inside the
docker network: https://<hostname>, which Docker DNS resolves). URLs keep the hostname (a
published port is added when there is one) and the Locust process resolves the sandbox's
hostnames itself (``resolve_in_process``), so neither /etc/hosts nor a URL on a bare address
is needed. Nothing here imports Locust: the CLI process uses it as well.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from simulators.common.tls import BUNDLE

DEFAULT_HTTPS_PORT = 443


class TlsSetupError(RuntimeError):
    """The sandbox serves HTTPS but this machine lacks what a load user needs for it."""


def reachable_bases(addresses: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(hostname -> the base URL a load user sends to, hostname -> the address its TCP
    connection goes to) for a runtime's address map.

    A plain-HTTP address is the base itself (the loopback profile: http://127.0.0.1:<port>).
    An https address keeps the hostname in the URL, with the address's port when it is not
    443, and names where the hostname resolves unless the address already is a hostname
    resolved by DNS (inside a docker network)."""
    bases: dict[str, str] = {}
    names: dict[str, str] = {}
    for hostname, base in addresses.items():
        parts = urlsplit(base)
        if parts.scheme != "https" or not parts.hostname:
            bases[hostname] = base.rstrip("/")
            continue
        port = parts.port or DEFAULT_HTTPS_PORT
        bases[hostname] = f"https://{hostname}" + ("" if port == DEFAULT_HTTPS_PORT
                                                   else f":{port}")
        if parts.hostname.lower() != hostname.lower():
            names[hostname.lower()] = parts.hostname
    return bases, names


@dataclass(frozen=True)
class SandboxPki:
    """The sandbox PKI as a load user reads it: the CA bundle and the nodes' certificates."""

    directory: Path

    @property
    def bundle(self) -> Path:
        return self.directory / BUNDLE

    def identity(self, hostname: str) -> tuple[Path, Path]:
        """(certificate, key) of the node ``hostname``: what it presents on a back channel."""
        return self.directory / f"{hostname}.crt", self.directory / f"{hostname}.key"

    def missing(self, hostnames: list[str]) -> list[Path]:
        """Files a run acting as ``hostnames`` needs and this machine does not have."""
        wanted = [self.bundle] + [f for h in hostnames for f in self.identity(h)]
        return [f for f in wanted if not f.is_file()]

    def client_context(self, hostname: str | None = None) -> ssl.SSLContext:
        """A client context trusting the sandbox CA, hostname checked; with ``hostname`` it
        presents that node's certificate (mutual TLS). Built from ``ssl`` at call time: in a
        Locust process that is gevent's patched module, as its sockets need."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_verify_locations(cafile=self.bundle)
        if hostname is not None:
            certificate, key = self.identity(hostname)
            context.load_cert_chain(certificate, key)
        return context


def check_pki(pki: SandboxPki, acting: list[str]) -> None:
    """Refuse a run whose users could not speak TLS as the nodes they act as, naming the
    files: a sandbox whose state directory (with its PKI) is on another machine, or a PKI
    of an older ``up``."""
    missing = pki.missing(acting)
    if missing:
        raise TlsSetupError(
            "the sandbox serves HTTPS, and its load users need the sandbox CA bundle and the "
            "certificate and key of every PGO they act as; missing here: "
            + ", ".join(str(f) for f in missing[:6])
            + (" ..." if len(missing) > 6 else ""))


_names: dict[str, str] = {}  # hostname (lower case) -> address: what resolve_in_process adds


def _resolving(original):
    """getaddrinfo that looks up a sandbox hostname's address instead of the name; every
    other name (and a bytes host) goes through unchanged."""

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str):
            host = _names.get(host.lower(), host)
        return original(host, *args, **kwargs)

    getaddrinfo.sandbox_resolving = True  # type: ignore[attr-defined]
    return getaddrinfo


def resolve_in_process(names: dict[str, str]) -> None:
    """Resolve the sandbox's hostnames to their addresses in this process, as a hosts file
    would, without one: ``socket.getaddrinfo`` (urllib3 under Locust's HttpSession) and
    ``gevent.socket.getaddrinfo`` (geventhttpclient under FastHttpSession) are wrapped once;
    only the names given here are answered differently. Call it after gevent's monkey
    patching (a Locust process has done that on importing locust)."""
    _names.update({k.lower(): v for k, v in names.items()})
    if not _names:
        return
    import gevent.socket

    for module in {socket, gevent.socket}:
        if not getattr(module.getaddrinfo, "sandbox_resolving", False):
            module.getaddrinfo = _resolving(module.getaddrinfo)
