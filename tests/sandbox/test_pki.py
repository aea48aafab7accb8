"""The sandbox PKI (issue 13, item 1): a PKIoverheid-shaped chain that verifies, works in real
mutual TLS handshakes, refuses expired / wrong-host / revoked certificates, and is
deterministic from the seed and the state directory's CA secret. Plus the `pgo-sandbox ca`
commands."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import threading
from datetime import UTC, datetime, timedelta

import pytest
import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner

from sandbox import pki as pki_module
from sandbox.pki import Pki, PkiError, client_context, server_context
from sandbox.pki_cli import register

SEED = 20261125
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
DVA = "dva-nexus.sandbox.test"
DVP = "pgo-alpha.sandbox.test"


@pytest.fixture
def pki(tmp_path):
    authority = Pki(SEED, tmp_path / "pki")
    authority.issue(DVA, "Nexus DVA")
    authority.issue(DVP, "Alpha Gezond PGO")
    return authority


def ext(cert: x509.Certificate, kind):
    return cert.extensions.get_extension_for_class(kind)


# -- shape -------------------------------------------------------------------------------


def test_chain_has_the_pkioverheid_private_services_shape(pki):
    root, issuing = pki.root.certificate, pki.issuing.certificate
    leaf = pki.current(DVA)
    assert "Sandbox" in root.subject.rfc4514_string() and root.subject == root.issuer
    assert "Private Services CA - G1" in issuing.subject.rfc4514_string()
    assert issuing.issuer == root.subject and leaf.issuer == issuing.subject

    assert ext(root, x509.BasicConstraints).critical
    assert ext(root, x509.BasicConstraints).value.ca is True
    assert ext(issuing, x509.BasicConstraints).value.ca is True
    assert ext(issuing, x509.BasicConstraints).value.path_length == 0
    for ca in (root, issuing):
        usage = ext(ca, x509.KeyUsage).value
        assert usage.key_cert_sign and usage.crl_sign and ext(ca, x509.KeyUsage).critical
        constraints = ext(ca, x509.NameConstraints)
        assert constraints.critical
        assert constraints.value.permitted_subtrees == [x509.DNSName("test")]

    assert ext(leaf, x509.BasicConstraints).value.ca is False
    assert ext(leaf, x509.KeyUsage).value.digital_signature
    assert set(ext(leaf, x509.ExtendedKeyUsage).value) == {
        ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert ext(leaf, x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == [DVA]
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Nexus DVA"
    assert isinstance(hashes.SHA256(), type(leaf.signature_hash_algorithm))


def verifier(pki: Pki, hostname: str):
    store = verification.Store([pki.root.certificate])
    return (verification.PolicyBuilder().store(store).time(pki.now)
            .build_server_verifier(x509.DNSName(hostname)))


def test_chain_verifies_as_server_and_client(pki):
    leaf = pki.current(DVA)
    chain = verifier(pki, DVA).verify(leaf, [pki.issuing.certificate])
    assert chain[-1] == pki.root.certificate
    store = verification.Store([pki.root.certificate])
    client = verification.PolicyBuilder().store(store).time(pki.now).build_client_verifier()
    verified = client.verify(pki.current(DVP), [pki.issuing.certificate])
    assert verified.subjects == [x509.DNSName(DVP)]


def test_verifier_refuses_other_hostname_and_expiry(pki):
    leaf = pki.current(DVA)
    with pytest.raises(verification.VerificationError):
        verifier(pki, "dva-lumen.sandbox.test").verify(leaf, [pki.issuing.certificate])
    expired = pki.issue("old.sandbox.test", "Old DVA", expired=True).certificate
    with pytest.raises(verification.VerificationError):
        verifier(pki, "old.sandbox.test").verify(expired, [pki.issuing.certificate])


def test_cas_are_constrained_to_test_names(pki):
    """A sandbox CA (and one from the public seed alone, in memory) may only vouch for .test."""
    with pytest.raises(PkiError, match="under .test"):
        pki.issue("www.example.com", "Somebody Else")
    # a certificate minted by hand with the real issuing key for a .com name does not verify
    key = pki_module.derive_key(1, "x")
    rogue = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bank.com")]))
             .issuer_name(pki.issuing.certificate.subject).public_key(key.public_key())
             .serial_number(7).not_valid_before(pki.now - timedelta(days=1))
             .not_valid_after(pki.now + timedelta(days=30))
             .add_extension(x509.SubjectAlternativeName([x509.DNSName("bank.com")]), False)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 pki.issuing.key.public_key()), False)
             .sign(pki.issuing.key, hashes.SHA256()))
    with pytest.raises(verification.VerificationError, match="name constraints"):
        verifier(pki, "bank.com").verify(rogue, [pki.issuing.certificate])


def test_root_constraint_holds_for_an_intermediate_minted_with_the_root_key(pki):
    """Even a new intermediate without constraints, signed with the derivable root key,
    cannot vouch for a name outside .test: the root's own constraint applies."""
    ca_key, leaf_key = pki_module.derive_key(1, "rogue-ca"), pki_module.derive_key(1, "rogue")
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rogue CA")])
    start, end = pki.now - timedelta(days=1), pki.now + timedelta(days=30)
    rogue_ca = (x509.CertificateBuilder().subject_name(ca_name)
                .issuer_name(pki.root.certificate.subject).public_key(ca_key.public_key())
                .serial_number(8).not_valid_before(start).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
                .add_extension(pki_module._ca_key_usage(), True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                    ca_key.public_key()), False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    pki.root.key.public_key()), False)
                .sign(pki.root.key, hashes.SHA256()))
    rogue = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bank.com")]))
             .issuer_name(ca_name).public_key(leaf_key.public_key())
             .serial_number(9).not_valid_before(start).not_valid_after(end)
             .add_extension(x509.SubjectAlternativeName([x509.DNSName("bank.com")]), False)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 ca_key.public_key()), False)
             .sign(ca_key, hashes.SHA256()))
    with pytest.raises(verification.VerificationError, match="name constraints"):
        verifier(pki, "bank.com").verify(rogue, [rogue_ca])


@pytest.mark.parametrize("today", [datetime(2026, 1, 1, tzinfo=UTC),
                                   datetime(2026, 12, 31, 23, tzinfo=UTC),
                                   datetime(2031, 6, 30, tzinfo=UTC)])
def test_leaf_stays_valid_across_a_200_day_clock_advance(tmp_path, today):
    leaf = Pki(SEED, now=today).issue(DVA, "Nexus DVA").certificate
    assert leaf.not_valid_before_utc <= today
    assert leaf.not_valid_after_utc >= today + timedelta(days=200)


def test_days_and_expired_drills(pki):
    short = pki.issue("short.sandbox.test", "Short Lived", days=3).certificate
    assert short.not_valid_after_utc.date() == (pki.now + timedelta(days=3)).date()
    assert short.not_valid_before_utc < pki.now
    old = pki.issue("old.sandbox.test", "Old DVA", expired=True).certificate
    assert old.not_valid_after_utc < pki.now


# -- determinism and files ---------------------------------------------------------------


def test_same_seed_gives_byte_identical_certificates(tmp_path):
    first, second = Pki(SEED, now=NOW), Pki(SEED, now=NOW)
    assert first.bundle_pem() == second.bundle_pem()
    assert first.issue(DVA, "Nexus DVA").cert_pem == second.issue(DVA, "Nexus DVA").cert_pem
    assert first.issue(DVA, "Nexus DVA").key_pem == second.issue(DVA, "Nexus DVA").key_pem
    first.revoke(DVA)
    second.revoke(DVA)
    assert first.crl_pem() == second.crl_pem()
    assert Pki(SEED + 1, now=NOW).bundle_pem() != first.bundle_pem()


def test_key_files_are_0600_and_ca_keys_are_not_written(tmp_path):
    old = os.umask(0)
    try:
        authority = Pki(SEED, tmp_path / "pki")
        authority.issue(DVA, "Nexus DVA")
    finally:
        os.umask(old)
    assert stat.S_IMODE(authority.key_path(DVA).stat().st_mode) == 0o600
    assert sorted(p.name for p in (tmp_path / "pki").glob("*.key")) == [f"{DVA}.key"]
    chain = x509.load_pem_x509_certificates(authority.cert_path(DVA).read_bytes())
    assert chain[1] == authority.issuing.certificate  # leaf followed by the issuing CA


def test_revocation_is_kept_and_a_reissue_is_fresh(pki, tmp_path):
    serial = pki.revoke(DVA)
    assert pki.revoke(DVA) == serial  # idempotent
    reopened = Pki(SEED, tmp_path / "pki")
    crl = x509.load_pem_x509_crl(reopened.crl_path.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    assert crl.is_signature_valid(pki.issuing.key.public_key())
    old_key = reopened.key_path(DVA).read_bytes()
    fresh = reopened.issue(DVA, "Nexus DVA")
    assert fresh.serial != serial and not reopened.is_revoked(fresh.serial)
    assert fresh.key_pem != old_key  # a re-issue after revocation is re-keyed
    with pytest.raises(PkiError, match="no certificate"):
        reopened.revoke("never.sandbox.test")


def test_folder_of_another_seed_is_cleared(pki, tmp_path):
    pki.revoke(DVA)
    other = Pki(SEED + 1, tmp_path / "pki")
    assert other.current(DVA) is None and other.crl().__len__() == 0


# -- real TLS handshakes -----------------------------------------------------------------


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, server_hostname: str) -> dict:
    """One TLS connection on 127.0.0.1: a server thread and a client; errors on both sides."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    result: dict = {}

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            conn.settimeout(5)
            with server.wrap_socket(conn, server_side=True) as tls:
                result["peer"] = tls.getpeercert()
                tls.sendall(b"pong:" + tls.recv(4))
        except (ssl.SSLError, OSError) as exc:
            result["server_error"] = exc

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=5) as raw:
            with client.wrap_socket(raw, server_hostname=server_hostname) as tls:
                tls.sendall(b"ping")
                result["reply"] = tls.recv(16)
    except (ssl.SSLError, OSError) as exc:
        result["client_error"] = exc
    thread.join(5)
    listener.close()
    return result


def test_mutual_tls_handshake_succeeds(pki):
    result = handshake(server_context(pki.directory, DVA), client_context(pki.directory, DVP),
                       DVA)
    assert result.get("reply") == b"pong:ping", result
    assert result["peer"]["subjectAltName"] == (("DNS", DVP),)


def test_server_refuses_a_client_without_certificate(pki):
    result = handshake(server_context(pki.directory, DVA), client_context(pki.directory), DVA)
    assert "reply" not in result and "server_error" in result


def test_expired_server_certificate_is_refused(pki):
    pki.issue(DVA, "Nexus DVA", expired=True)
    result = handshake(server_context(pki.directory, DVA), client_context(pki.directory, DVP),
                       DVA)
    assert isinstance(result.get("client_error"), ssl.SSLCertVerificationError), result
    assert "expired" in str(result["client_error"])


def test_expired_client_certificate_is_refused(pki):
    pki.issue(DVP, "Alpha Gezond PGO", expired=True)
    result = handshake(server_context(pki.directory, DVA), client_context(pki.directory, DVP),
                       DVA)
    assert "reply" not in result
    assert "expired" in str(result.get("server_error")), result


def test_certificate_for_another_hostname_is_refused(pki):
    pki.issue("dva-lumen.sandbox.test", "Lumen DVA")
    result = handshake(server_context(pki.directory, "dva-lumen.sandbox.test"),
                       client_context(pki.directory, DVP), DVA)
    assert isinstance(result.get("client_error"), ssl.SSLCertVerificationError), result
    assert "mismatch" in str(result["client_error"]).lower()


def test_revoked_certificates_are_refused(pki):
    pki.revoke(DVA)
    result = handshake(server_context(pki.directory, DVA), client_context(pki.directory, DVP),
                       DVA)
    assert "revoked" in str(result.get("client_error")), result
    pki.issue(DVA, "Nexus DVA")  # a fresh certificate works again
    pki.revoke(DVP)
    result = handshake(server_context(pki.directory, DVA), client_context(pki.directory, DVP),
                       DVA)
    assert "revoked" in str(result.get("server_error")), result


# -- the `ca` commands -------------------------------------------------------------------


@pytest.fixture
def cli():
    app = typer.Typer()
    register(app)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return invoke


@pytest.mark.parametrize("command", [["ca"], ["ca", "export"], ["ca", "issue"],
                                     ["ca", "revoke"], ["hosts"]])
def test_ca_commands_have_help_with_an_example(cli, command):
    result = cli(*command, "--help")
    assert result.exit_code == 0 and "Example" in result.output, result.output


def test_ca_export_writes_the_bundle(cli, tmp_path):
    result = cli("ca", "export", "--out", str(tmp_path / "out"),
                 "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 0, result.output
    bundle = x509.load_pem_x509_certificates((tmp_path / "out" / "ca-bundle.pem").read_bytes())
    own = Pki(SEED, tmp_path / "state" / "pki")  # the state directory's CA (its ca.secret)
    assert bundle == [own.root.certificate, own.issuing.certificate]
    assert bundle[0] != Pki(SEED).root.certificate  # not the one the public seed gives
    assert (tmp_path / "out" / "crl.pem").exists()
    assert not list((tmp_path / "out").glob("*.secret"))


def test_ca_issue_for_an_outside_participant(cli, tmp_path):
    out, state = tmp_path / "tls", tmp_path / "state"
    result = cli("ca", "issue", "pgo-mine.sandbox.test", "--organisation", "Mijn PGO",
                 "--out", str(out), "--state-dir", str(state))
    assert result.exit_code == 0, result.output
    key = out / "pgo-mine.sandbox.test.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    leaf = x509.load_pem_x509_certificates((out / "pgo-mine.sandbox.test.crt").read_bytes())[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Mijn PGO"
    assert (out / "ca-bundle.pem").exists()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # the files load as a TLS client would
    context.load_verify_locations(out / "ca-bundle.pem")
    context.load_cert_chain(out / "pgo-mine.sandbox.test.crt", key)

    expired = cli("ca", "issue", "dva-nexus", "--expired", "--out", str(out),
                  "--state-dir", str(state))
    assert expired.exit_code == 0 and DVA in expired.output, expired.output
    leaf = x509.load_pem_x509_certificates((out / f"{DVA}.crt").read_bytes())[0]
    assert leaf.not_valid_after_utc.year == 2024
    assert "Nexus DVA" in leaf.subject.rfc4514_string()


def test_ca_issue_refuses_unknown_hostnames(cli, tmp_path):
    result = cli("ca", "issue", "bank.example.com", "--out", str(tmp_path / "o"),
                 "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 2
    assert "unknown hostname" in result.output and "known: registry.sandbox.test" in result.output
    assert "Traceback" not in result.output


def test_ca_revoke_puts_the_serial_on_the_crl(cli, tmp_path):
    state = tmp_path / "state"
    issued = cli("ca", "issue", "pgo-mine.sandbox.test", "--out", str(tmp_path / "o"),
                 "--state-dir", str(state))
    assert issued.exit_code == 0, issued.output
    serial = x509.load_pem_x509_certificates(
        (tmp_path / "o" / "pgo-mine.sandbox.test.crt").read_bytes())[0].serial_number
    result = cli("ca", "revoke", "pgo-mine.sandbox.test", "--state-dir", str(state))
    assert result.exit_code == 0, result.output
    crl = x509.load_pem_x509_crl((state / "pki" / "crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None

    node = cli("ca", "revoke", "pgo-beta", "--state-dir", str(state))  # a node, never issued
    assert node.exit_code == 0 and "pgo-beta.sandbox.test" in node.output, node.output

    unknown = cli("ca", "revoke", "nobody.sandbox.test", "--state-dir", str(state))
    assert unknown.exit_code == 2 and "unknown hostname" in unknown.output
    assert "pgo-mine.sandbox.test" in unknown.output  # issued names are listed as known


def test_a_running_server_follows_the_crl_without_a_restart(pki, monkeypatch):
    """Issue 13: the CRL was read once at start, so a certificate revoked while the nodes ran
    passed every handshake until a restart."""
    from simulators.common.tls import LiveServerContext

    monkeypatch.setattr(LiveServerContext, "CHECK_SECONDS", 0.0)
    live = LiveServerContext(pki.directory, DVA)
    before = handshake(live.context, client_context(pki.directory, DVP), DVA)
    assert before.get("reply") == b"pong:ping", before
    pki.revoke(DVP)
    after = handshake(live.context, client_context(pki.directory, DVP), DVA)
    assert "reply" not in after and "revoked" in str(after.get("server_error")), after
    # the server's own certificate comes from the new context too, and other peers still pass
    pki.issue(DVP, "Alpha Gezond PGO")
    again = handshake(live.context, client_context(pki.directory, DVP), DVA)
    assert again.get("reply") == b"pong:ping", again


def test_a_folder_holding_a_ca_without_its_secret_is_renewed_only_by_up(cli, tmp_path):
    """Rule (``ca_secret``): a PKI folder made before the CA secret holds a CA and the running
    nodes' keys; a command opening it must not make a new CA (that deleted every node's key
    under the running sandbox): it says what to do and exits 1. Only a runtime's ``up``
    (``renew``) makes it anew."""
    folder = tmp_path / "state" / "pki"
    Pki(SEED, folder, secret=b"").issue(DVA, "Nexus DVA")  # as an earlier version left it
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(PkiError, match="without its CA secret"):
        Pki(SEED, folder)
    result = cli("ca", "issue", "pgo-mine.sandbox.test", "--out", str(tmp_path / "out"),
                 "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 1 and "pgo-sandbox up" in result.output, result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in folder.iterdir()) == before  # the node's key is still there
    renewed = Pki(SEED, folder, renew=True)
    assert (folder / "ca.secret").exists() and not (folder / f"{DVA}.key").exists()
    assert renewed.root.certificate != Pki(SEED).root.certificate


@pytest.mark.parametrize("content", ["", "not hex", "ab" * 8])
def test_a_damaged_ca_secret_is_a_clear_error(cli, tmp_path, content):
    """Rule: an empty, non-hex or short ``ca.secret`` is a ``PkiError`` saying what to do,
    and the commands exit 1 with it, not a traceback."""
    folder = tmp_path / "state" / "pki"
    folder.mkdir(parents=True)
    (folder / "ca.secret").write_text(content)
    with pytest.raises(PkiError, match="damaged"):
        Pki(SEED, folder)
    result = cli("ca", "export", "--out", str(tmp_path / "out"),
                 "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 1 and "damaged" in result.output, result.output
    assert "Traceback" not in result.output


def test_two_processes_making_the_secret_agree(tmp_path):
    """Rule: the secret is linked into place whole; whoever comes second reads the first."""
    first = pki_module.ca_secret(tmp_path / "pki")
    assert pki_module.ca_secret(tmp_path / "pki") == first and len(first) == 32
    assert stat.S_IMODE((tmp_path / "pki" / "ca.secret").stat().st_mode) == 0o600
    assert not list((tmp_path / "pki").glob(".ca.secret.*"))


def test_up_remakes_a_folder_without_its_secret_whatever_the_profile(tmp_path):
    """Rule (``renew_legacy``, called by ``up`` and ``reset`` in every profile): a CA without
    its secret is made anew, once; a folder with its secret, or none, is left alone."""
    folder = tmp_path / "pki"
    assert pki_module.renew_legacy(folder, SEED) is False and not folder.exists()
    Pki(SEED, folder, secret=b"")
    assert pki_module.renew_legacy(folder, SEED) is True
    secret = (folder / "ca.secret").read_bytes()
    assert pki_module.renew_legacy(folder, SEED) is False
    assert (folder / "ca.secret").read_bytes() == secret
