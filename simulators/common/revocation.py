"""The CRL a node holds, and the one rule every copy of the sandbox CRL obeys.

In containers the PKI folder is a read-only copy made at ``up``, so each node keeps a CRL of
its own (``CrlFile``, in its node directory) that its server and client contexts follow
(``simulators.common.tls``); the registry serves the newest (``simulators.registry.crl``) and
the others fetch it with their list refresh (``simulators.common.lists.CrlFollower``).
``check_crl``: a CRL is taken only when the sandbox's issuing CA signed it, it has not
expired, and neither its number nor its thisUpdate goes backwards nor does it drop a revoked
serial, so nobody unrevokes a certificate by handing over an old or forged CRL.
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from simulators.common.tls import BUNDLE, CRL_FILE, ISSUING_FILE, file_stamp

log = logging.getLogger(__name__)


class CrlRefused(ValueError):
    """A CRL that is not taken: unreadable, not signed by the sandbox's issuing CA, expired."""


class CrlStale(CrlRefused):
    """A CRL older than the one held (its number or thisUpdate goes backwards, or it drops a
    revoked serial): taking it would unrevoke a certificate."""


def _number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


def check_crl(pem: bytes, issuer: x509.Certificate,
              held: x509.CertificateRevocationList | None = None,
              now: datetime | None = None) -> x509.CertificateRevocationList:
    """The CRL in ``pem`` if a node may take it instead of ``held``; else ``CrlRefused``
    (or ``CrlStale``) saying why. ``issuer``: the sandbox's issuing CA, the only CA that
    signs node certificates, so the only CRL the handshakes consult (VERIFY_CRL_CHECK_LEAF)."""
    try:
        crl = x509.load_pem_x509_crl(pem)
    except ValueError as exc:
        raise CrlRefused(f"not a PEM CRL ({exc})") from exc
    if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):
        raise CrlRefused(f"not signed by the sandbox CA {issuer.subject.rfc4514_string()}")
    now = now or datetime.now(UTC)
    if crl.next_update_utc is not None and crl.next_update_utc < now:
        raise CrlRefused(f"expired on {crl.next_update_utc:%Y-%m-%d} (nextUpdate)")
    if held is None:
        return crl
    number, held_number = _number(crl), _number(held)
    if number < held_number:
        raise CrlStale(f"CRL number {number} is lower than {held_number} held")
    if crl.last_update_utc < held.last_update_utc:
        raise CrlStale(f"thisUpdate {crl.last_update_utc:%Y-%m-%d %H:%M:%S} is before the "
                       f"held CRL's {held.last_update_utc:%Y-%m-%d %H:%M:%S}")
    dropped = {r.serial_number for r in held} - {r.serial_number for r in crl}
    if dropped:
        raise CrlStale(f"it drops {len(dropped)} revoked serial(s) the held CRL lists, "
                       f"e.g. {min(dropped):x}")
    return crl


def _write_file(path: Path, data: bytes) -> None:
    """Replace a file atomically, through a temporary name no other process picks (DVA
    replicas share a node directory, and in containers every process may be pid 1)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o644)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def issuing_ca(pki_dir: Path) -> x509.Certificate:
    """The sandbox's issuing CA: ``issuing-ca.crt``, else the one certificate of the bundle
    that is not self-signed (a Kubernetes deployment projects only the bundle and the CRL)."""
    if (pki_dir / ISSUING_FILE).exists():
        return x509.load_pem_x509_certificate((pki_dir / ISSUING_FILE).read_bytes())
    for certificate in x509.load_pem_x509_certificates((pki_dir / BUNDLE).read_bytes()):
        if certificate.issuer != certificate.subject:
            return certificate
    raise CrlRefused(f"no issuing CA in {pki_dir / BUNDLE}")


class CrlFile:
    """A node's own copy of the sandbox CRL (``path``, writable), which only moves forward.

    Made from the newest valid CRL of its own file (kept across restarts) and the PKI
    folder's ``crl.pem``; later CRLs come through ``offer`` (fetched from the registry, or
    handed to the registry by ``ca revoke``) and ``adopt_published`` (the PKI folder's file
    changed, as ``ca revoke`` does in the local runtime). Each obeys ``check_crl``.

        crl = CrlFile(state / "pki", state / "nodes" / "dva-nexus" / "crl.pem")
        crl.offer(pem)  # True when taken and written; CrlRefused says why not
    """

    def __init__(self, pki_dir: Path, path: Path) -> None:
        self.pki_dir = Path(pki_dir)
        self.path = Path(path)
        self.issuer = issuing_ca(self.pki_dir)
        self.crl: x509.CertificateRevocationList | None = None
        self.pem = b""
        self._published: tuple[int, int, int] | None = None
        for candidate in (self.path, self.pki_dir / CRL_FILE):
            self._take_file(candidate)
        self._published = file_stamp(self.pki_dir / CRL_FILE)
        if self.pem and (not self.path.exists() or self.path.read_bytes() != self.pem):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _write_file(self.path, self.pem)

    def _take_file(self, path: Path) -> None:
        try:
            pem = path.read_bytes()
        except OSError:
            return
        if pem == self.pem:
            return
        try:
            self.crl, self.pem = check_crl(pem, self.issuer, self.crl), pem
        except CrlRefused as exc:
            log.info("CRL in %s not taken: %s", path, exc)

    @property
    def number(self) -> int:
        return _number(self.crl) if self.crl is not None else 0

    def offer(self, pem: bytes) -> bool:
        """Take this CRL if ``check_crl`` allows it; True when it replaced the held one."""
        if pem == self.pem:
            return False
        self.crl = check_crl(pem, self.issuer, self.crl)
        self.pem = pem
        _write_file(self.path, pem)
        return True

    def adopt_published(self) -> bool:
        """Take the PKI folder's ``crl.pem`` when it changed since last looked at."""
        stamp = file_stamp(self.pki_dir / CRL_FILE)
        if stamp == self._published:
            return False
        self._published = stamp
        try:
            return self.offer((self.pki_dir / CRL_FILE).read_bytes())
        except (OSError, CrlRefused) as exc:
            log.warning("the PKI folder's CRL not taken: %s", exc)
            return False
