"""The sandbox PKI: a root and an issuing CA shaped like PKIoverheid Private Services.

MedMij nodes authenticate each other with PKIoverheid Private Services certificates (mutual TLS
on every back channel, the Whitelist compared with the peer certificate's hostname). The sandbox
copies that shape with its own, clearly marked hierarchy::

    PGO Sandbox Private Root CA - G1        CA:TRUE                keyCertSign, cRLSign
      PGO Sandbox Private Services CA - G1  CA:TRUE, pathlen:0     keyCertSign, cRLSign
        <node hostname>                     CA:FALSE               digitalSignature,
                                                                   serverAuth + clientAuth,
                                                                   SAN dNSName = the hostname,
                                                                   O = the organisation

Determinism: every key is an EC P-256 key derived from (seed, the CA secret, name) with HKDF,
serial numbers are hashes, validity periods are fixed dates and the signatures use RFC 6979
deterministic ECDSA, so the same seed and CA secret (and the same revocation history) give
byte-identical certificates.

The CA secret: 32 random bytes in ``ca.secret`` (mode 0600) of the PKI folder, made the first
time the folder is opened, kept by ``reset``, never copied into a node's container or volume
or a Kubernetes Secret (``deploy k8s`` keeps its own CA's in ``attach.json``, the owner's
file, which ``deploy attach`` puts here; the load containers, our own Locust users, mount the
state directory read-only). Without it anyone who knows the seed (the default one is in the
packaged topology) could derive the CA keys and every node's key, and so mint a certificate
for any node: the DigiD artifact resolution, a PGO's token calls, the MGO's localisation,
every back channel's mutual TLS would prove nothing. A ``Pki`` without a folder (in memory,
tests) has no secret unless given one: its keys follow from the seed alone.

Validity rule: the CAs run from 2024-01-01 for ten years. A node certificate runs from 1 January
of the current (real, UTC) year for two years, so it is always valid for at least one more year:
`pgo-sandbox clock advance 200d` never expires it, and TLS checks use the real clock anyway.
Drills: ``issue(..., expired=True)`` gives a certificate that ended on 2024-01-02,
``issue(..., days=N)`` one that ends N days from today, ``revoke(hostname)`` puts the current
certificate of a hostname on the issuing CA's CRL.

Still a sandbox CA: both CAs carry a critical name constraint limiting them to ``.test`` names,
and the bundle is meant for a DVP's or DVA's own TLS settings, not a system trust store.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
CA_NOT_AFTER = EPOCH.replace(year=EPOCH.year + 10)
LEAF_YEARS = 2
EXPIRED_NOT_AFTER = EPOCH + timedelta(days=1)
PERMITTED_DOMAIN = "test"  # name constraint of both CAs; the sandbox lives under .test
ROOT_NAME = "PGO Sandbox Private Root CA - G1"
ISSUING_NAME = "PGO Sandbox Private Services CA - G1"
CA_ORGANISATION = "PGO Sandbox (NOT PKIoverheid)"
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+test$")
# the order n of P-256: a private scalar must lie in [1, n-1]
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

BUNDLE = "ca-bundle.pem"
ROOT_FILE = "root-ca.crt"
ISSUING_FILE = "issuing-ca.crt"
CRL_FILE = "crl.pem"
REVOKED_FILE = "revoked.json"
CA_SECRET_FILE = "ca.secret"  # the CA secret of a PKI folder (see the module docstring)


class PkiError(ValueError):
    """A certificate request the sandbox PKI refuses (a name outside .test, nothing to revoke)."""


def valid_hostname(hostname: str) -> bool:
    """Whether the PKI may certify this name: a lowercase DNS name under .test."""
    return bool(HOSTNAME.match(hostname))


def derive_key(seed: int, label: str, secret: bytes = b"") -> ec.EllipticCurvePrivateKey:
    """An EC P-256 key that depends only on (seed, secret, label): HKDF output reduced into
    [1, n-1]. 48 bytes (384 bits) are reduced modulo a 256-bit order, so the bias is
    negligible."""
    material = HKDF(
        algorithm=hashes.SHA256(), length=48, salt=b"pgo-sandbox pki v1", info=label.encode()
    ).derive(str(seed).encode() + secret)
    scalar = int.from_bytes(material, "big") % (P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def derive_serial(seed: int, *parts: object) -> int:
    """A positive serial number below 2**152 (RFC 5280 allows 20 octets) from a hash."""
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:19], "big") | 1


def leaf_window(now: datetime) -> tuple[datetime, datetime]:
    """The default validity of a node certificate: 1 January of this year, for two years,
    clipped to the issuing CA's own end."""
    start = datetime(now.year, 1, 1, tzinfo=UTC)
    return start, min(start.replace(year=start.year + LEAF_YEARS), CA_NOT_AFTER)


@dataclass(frozen=True)
class CertifiedKey:
    """A certificate with its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def serial(self) -> int:
        return self.certificate.serial_number


@dataclass(frozen=True)
class Issued(CertifiedKey):
    """A node (leaf) certificate: the hostname it names and the organisation in its subject."""

    hostname: str = ""
    organisation: str = ""


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )


def _sign(builder: x509.CertificateBuilder, issuer_key: ec.EllipticCurvePrivateKey
          ) -> x509.Certificate:
    """Sign with RFC 6979 deterministic ECDSA, so the same input gives the same bytes."""
    return builder.sign(issuer_key, hashes.SHA256(), ecdsa_deterministic=True)


def _name_constraints() -> x509.NameConstraints:
    return x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(PERMITTED_DOMAIN)], excluded_subtrees=None
    )


def make_root(seed: int, secret: bytes = b"") -> CertifiedKey:
    """The self-signed root, like "Staat der Nederlanden Private Root CA - G1"."""
    key = derive_key(seed, "root-ca", secret)
    name = _name(ROOT_NAME, CA_ORGANISATION)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(derive_serial(seed, "root-ca"))
        .not_valid_before(EPOCH).not_valid_after(CA_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(_name_constraints(), critical=True)
        .add_extension(ski, critical=False)
    )
    return CertifiedKey(_sign(builder, key), key)


def make_issuing(seed: int, root: CertifiedKey, secret: bytes = b"") -> CertifiedKey:
    """The issuing CA under the root (pathlen 0: it signs only end-entity certificates)."""
    key = derive_key(seed, "issuing-ca", secret)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(ISSUING_NAME, CA_ORGANISATION))
        .issuer_name(root.certificate.subject).public_key(key.public_key())
        .serial_number(derive_serial(seed, "issuing-ca"))
        .not_valid_before(EPOCH).not_valid_after(CA_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(_name_constraints(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()), False
        )
    )
    return CertifiedKey(_sign(builder, root.key), key)


def write_private(path: Path, data: bytes) -> None:
    """Write a key file readable by its owner only (0600), atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask or an older file could have left wider bits
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


LEGACY = ("the PKI in {directory} holds a CA without its CA secret (ca.secret; made by an "
          "earlier version): run `pgo-sandbox down` and `pgo-sandbox up` to make it anew, then "
          "`pgo-sandbox ca export` again and re-issue outside participants' certificates (`ca "
          "issue`); a Kubernetes sandbox: generate and apply the files again, then `deploy "
          "attach`")


def holds_ca_without_secret(directory: Path) -> bool:
    """Whether a PKI folder holds a CA but no CA secret: an earlier version's, or a bundle
    ``deploy attach`` wrote from files that kept no secret."""
    return not (directory / CA_SECRET_FILE).exists() and (
        (directory / ROOT_FILE).exists() or (directory / BUNDLE).exists())


def ca_secret(directory: Path, renew: bool = False) -> bytes:
    """The CA secret of a PKI folder: read, or made (32 random bytes, mode 0600) the first
    time; two processes making it at once agree on the one linked into place first.

    A folder that already holds a CA but no secret (made by a version before it) is remade
    only when ``renew`` (the runtimes' ``up``, which issue every node anew): anything else
    would delete the certificates and keys of nodes that still run. A damaged secret is a
    ``PkiError`` that says what to do."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CA_SECRET_FILE
    if not path.exists():
        if holds_ca_without_secret(directory) and not renew:
            raise PkiError(LEGACY.format(directory=directory))
        fd, name = tempfile.mkstemp(prefix=f".{CA_SECRET_FILE}.", dir=directory)  # 0600
        tmp = Path(name)
        try:
            os.write(fd, os.urandom(32).hex().encode())
            os.fsync(fd)
            os.close(fd)
            os.link(tmp, path)  # whole or not at all; another process's may be there first
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: the first to create it writes it
            try:
                os.replace(tmp, path) if not path.exists() else None
            except OSError as exc:
                raise PkiError(f"cannot write {path}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
    try:
        secret = bytes.fromhex(path.read_text("ascii").strip())
    except (ValueError, UnicodeDecodeError):
        secret = b""
    if len(secret) != 32:
        raise PkiError(f"{path} is damaged (not 64 hex digits): remove it and run `pgo-sandbox "
                       "up` for a new CA, then `ca export` again and re-issue outside "
                       "participants' certificates (a sandbox attached to a cluster: `deploy "
                       "attach` again)")
    return secret


def renew_legacy(directory: Path, seed: int) -> bool:
    """Remake a PKI folder that holds a CA without its secret (an earlier version's), as
    ``up`` does whatever the profile or runtime: no node of the state runs then, and the
    ``ca`` and ``participant`` commands refuse such a folder until it is remade."""
    if not holds_ca_without_secret(directory):
        return False
    Pki(seed, directory, renew=True)
    return True


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class Pki:
    """The sandbox CA for one seed; with a directory it keeps issued certificates, keys and the
    CRL there (the state directory's ``pki/``), so later commands can revoke and re-read them.

    Files: ``ca-bundle.pem`` (root + issuing CA: what participants trust), ``root-ca.crt``,
    ``issuing-ca.crt``, ``crl.pem`` (the issuing CA's CRL), ``<hostname>.crt`` (leaf followed
    by the issuing CA, as TLS servers send it), ``<hostname>.key`` (0600) and ``revoked.json``.
    The CA keys are never written: they follow from the seed and the folder's CA secret
    (``ca.secret``, made at the first open). ``secret``: another CA secret to use (a second
    folder with the same CA, an in-memory copy); without folder or secret, none (the seed's).
    ``renew``: a folder from before the CA secret is made anew (``ca_secret``).
    """

    def __init__(self, seed: int, directory: Path | None = None, *,
                 now: datetime | None = None, secret: bytes | None = None,
                 renew: bool = False) -> None:
        self.seed = seed
        self.directory = directory
        self.now = now or datetime.now(UTC)
        if secret is None:
            secret = ca_secret(directory, renew) if directory is not None else b""
        self.secret = secret
        self.root = make_root(seed, secret)
        self.issuing = make_issuing(seed, self.root, secret)
        self._issued: dict[str, Issued] = {}
        self._revoked: list[dict] = []  # {serial, hostname, date}, in revocation order
        if directory is not None:
            self._open(directory)

    # -- files ---------------------------------------------------------------------------

    def _open(self, directory: Path) -> None:
        """Create the folder, or adopt it; a folder made for another seed or CA secret (one
        from before ``ca.secret``) is cleared, because its certificates belong to a CA that
        no longer exists."""
        directory.mkdir(parents=True, exist_ok=True)
        root_path = directory / ROOT_FILE
        if root_path.exists() and root_path.read_bytes() != self.root.cert_pem:
            for path in directory.iterdir():
                if path.suffix in (".crt", ".key", ".pem", ".json"):
                    path.unlink()
        revoked = directory / REVOKED_FILE
        if revoked.exists():
            self._revoked = json.loads(revoked.read_text("utf-8"))
        _write_public(directory / ROOT_FILE, self.root.cert_pem)
        _write_public(directory / ISSUING_FILE, self.issuing.cert_pem)
        _write_public(directory / BUNDLE, self.bundle_pem())
        _write_public(directory / CRL_FILE, self.crl_pem())

    def cert_path(self, hostname: str) -> Path:
        return self._dir() / f"{hostname}.crt"

    def key_path(self, hostname: str) -> Path:
        return self._dir() / f"{hostname}.key"

    @property
    def bundle_path(self) -> Path:
        return self._dir() / BUNDLE

    @property
    def crl_path(self) -> Path:
        return self._dir() / CRL_FILE

    def _dir(self) -> Path:
        if self.directory is None:
            raise PkiError("this Pki keeps no files (made without a directory)")
        return self.directory

    # -- issuing -------------------------------------------------------------------------

    def _generation(self, hostname: str) -> int:
        """How often this hostname was revoked: a re-issue after revocation gets a new key and
        serial, still deterministic for the same history."""
        return sum(1 for r in self._revoked if r["hostname"] == hostname)

    def issue(self, hostname: str, organisation: str, *, not_after: datetime | None = None,
              days: int | None = None, expired: bool = False, revoked: bool = False) -> Issued:
        """A server+client certificate for a MedMij hostname, signed by the issuing CA.

        Default validity per `leaf_window`; ``days`` ends it N days from today, ``not_after``
        at that moment, ``expired`` on 2024-01-02 (a drill); ``revoked`` puts it on the CRL
        right away. With a directory the certificate chain and key are written there."""
        hostname = hostname.lower()
        if not valid_hostname(hostname):
            raise PkiError(f"{hostname!r} is not a DNS name under .{PERMITTED_DOMAIN}; the "
                           "sandbox CA certifies only .test names")
        if not 3 <= len(organisation) <= 64:
            raise PkiError(f"organisation name must be 3-64 characters, got {organisation!r}")
        not_before, end = leaf_window(self.now)
        if expired:
            not_before, end = EPOCH, EXPIRED_NOT_AFTER
        elif days is not None:
            if days < 1:
                raise PkiError("days must be at least 1 (use expired for an expired one)")
            today = datetime(self.now.year, self.now.month, self.now.day, tzinfo=UTC)
            not_before, end = today - timedelta(days=1), today + timedelta(days=days)
        elif not_after is not None:
            end = not_after.astimezone(UTC)
            not_before = min(not_before, end - timedelta(days=1))
        end = min(end, CA_NOT_AFTER)
        generation = self._generation(hostname)
        key = derive_key(self.seed, f"leaf:{hostname}:{generation}", self.secret)
        serial = derive_serial(self.seed, "leaf", hostname, organisation, not_before.isoformat(),
                               end.isoformat(), generation)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(hostname, organisation))
            .issuer_name(self.issuing.certificate.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.issuing.key.public_key()), False)
        )
        issued = Issued(_sign(builder, self.issuing.key), key, hostname, organisation)
        self._issued[hostname] = issued
        if self.directory is not None:
            write_private(self.key_path(hostname), issued.key_pem)
            _write_public(self.cert_path(hostname), issued.cert_pem + self.issuing.cert_pem)
        if revoked:
            self.revoke(hostname)
        return issued

    def issue_nodes(self, nodes) -> dict[str, Issued]:
        """One certificate per topology node (anything with .hostname and .name)."""
        return {n.hostname: self.issue(n.hostname, n.name) for n in nodes}

    def current(self, hostname: str) -> x509.Certificate | None:
        """The certificate last issued for a hostname, from memory or the directory."""
        if hostname in self._issued:
            return self._issued[hostname].certificate
        if self.directory is not None and self.cert_path(hostname).exists():
            return x509.load_pem_x509_certificates(self.cert_path(hostname).read_bytes())[0]
        return None

    def issued_hostnames(self) -> list[str]:
        """Hostnames with a certificate in memory or in the directory."""
        names = set(self._issued)
        if self.directory is not None:
            names |= {p.stem for p in self.directory.glob("*.key")}
        return sorted(names)

    # -- revocation ----------------------------------------------------------------------

    def revoke(self, hostname: str) -> int:
        """Put the current certificate of a hostname on the CRL (idempotent); its serial."""
        certificate = self.current(hostname)
        if certificate is None:
            raise PkiError(f"no certificate issued for {hostname}")
        serial = certificate.serial_number
        if all(r["serial"] != serial for r in self._revoked):
            today = datetime(self.now.year, self.now.month, self.now.day, tzinfo=UTC)
            self._revoked.append(
                {"serial": serial, "hostname": hostname, "date": today.isoformat()}
            )
            if self.directory is not None:
                _write_public(self.directory / REVOKED_FILE,
                              json.dumps(self._revoked, indent=2).encode())
                _write_public(self.crl_path, self.crl_pem())
        return serial

    def is_revoked(self, serial: int) -> bool:
        return any(r["serial"] == serial for r in self._revoked)

    def crl(self) -> x509.CertificateRevocationList:
        """The issuing CA's CRL: valid from today (UTC midnight) for a year, listing every
        revoked serial with its revocation date."""
        today = datetime(self.now.year, self.now.month, self.now.day, tzinfo=UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.issuing.certificate.subject)
            .last_update(today).next_update(today + timedelta(days=365))
            .add_extension(x509.CRLNumber(len(self._revoked) + 1), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.issuing.key.public_key()), critical=False)
        )
        for entry in self._revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(entry["serial"])
                .revocation_date(datetime.fromisoformat(entry["date"]))
                .build()
            )
        return builder.sign(self.issuing.key, hashes.SHA256(), ecdsa_deterministic=True)

    def crl_pem(self) -> bytes:
        return self.crl().public_bytes(serialization.Encoding.PEM)

    def bundle_pem(self) -> bytes:
        """What a participant trusts: the root and the issuing CA, in PEM."""
        return self.root.cert_pem + self.issuing.cert_pem

    def export(self, out: Path) -> list[Path]:
        """Write the CA bundle, the two CA certificates and the CRL into a folder."""
        out.mkdir(parents=True, exist_ok=True)
        files = {BUNDLE: self.bundle_pem(), ROOT_FILE: self.root.cert_pem,
                 ISSUING_FILE: self.issuing.cert_pem, CRL_FILE: self.crl_pem()}
        for name, data in files.items():
            _write_public(out / name, data)
        return [out / name for name in files]


def server_context(pki_dir: Path, hostname: str, *, check_crl: bool = True) -> ssl.SSLContext:
    """A TLS server context for a node: presents its chain, demands a client certificate from
    the sandbox CA (mutual TLS) and, by default, refuses revoked ones via the CRL."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(pki_dir / f"{hostname}.crt", pki_dir / f"{hostname}.key")
    _trust(context, pki_dir, check_crl)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(pki_dir: Path, hostname: str | None = None, *,
                   check_crl: bool = True) -> ssl.SSLContext:
    """A TLS client context that trusts only the sandbox CA, checks the server's hostname and,
    given a hostname, presents that node's certificate (mutual TLS)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _trust(context, pki_dir, check_crl)
    if hostname is not None:
        context.load_cert_chain(pki_dir / f"{hostname}.crt", pki_dir / f"{hostname}.key")
    return context


def _trust(context: ssl.SSLContext, pki_dir: Path, check_crl: bool) -> None:
    context.load_verify_locations(cafile=pki_dir / BUNDLE)
    if check_crl:
        context.load_verify_locations(cafile=pki_dir / CRL_FILE)
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
