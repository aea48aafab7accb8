"""The registry as the sandbox CA's CRL distribution point (issue 13, revocation in containers):
``GET /pki/crl.pem`` serves the newest CRL held, to anyone; ``PUT /admin/crl`` takes a newer one
only with the admin token, only when the sandbox CA signed it and nothing goes backwards. The
registry app runs in-process (ASGITransport); the container test
(tests/sandbox/runtime/test_docker_tls.py) drives the same API over TLS through `ca revoke`."""

from __future__ import annotations

import pytest
from cryptography import x509

from sandbox.pki import Pki
from simulators.common import tls
from simulators.medmij.topology import load_topology
from tests.simulators.registry.test_admin import make_registry

PEM = {"Content-Type": "application/x-pem-file"}
REVOKED = "pgo-gamma.sandbox.test"


@pytest.fixture
def sandbox(tmp_path):
    """A registry app of the default topology with the sandbox PKI in its state directory."""
    pki = Pki(load_topology().seed, tmp_path / "pki")
    pki.issue_nodes(load_topology().nodes)
    client, admin = make_registry(tmp_path, "medmij")
    return client, {**admin, **PEM}, pki


def _serials(pem: bytes) -> set[int]:
    return {r.serial_number for r in x509.load_pem_x509_crl(pem)}


def test_the_crl_is_public_and_a_newer_one_is_taken_with_the_admin_token(sandbox):
    client, admin, pki = sandbox
    first = client.get(tls.CRL_PATH)
    assert first.status_code == 200 and first.headers["content-type"] == "application/x-pem-file"
    assert first.content == pki.crl_path.read_bytes() and _serials(first.content) == set()
    # the same CA, elsewhere (a container's copy stays as it was)
    newer = Pki(pki.seed, secret=pki.secret)
    newer.issue(REVOKED, "Gamma PGO", revoked=True)
    refused = client.request("PUT", "/admin/crl", content=newer.crl_pem(), headers=PEM)
    assert refused.status_code == 401  # no admin token
    taken = client.request("PUT", "/admin/crl", content=newer.crl_pem(), headers=admin)
    assert taken.status_code == 200, taken.text
    assert taken.json() | {"this_update": None} == {"changed": True, "crl_number": 2,
                                                    "revoked": 1, "this_update": None}
    assert client.get(tls.CRL_PATH).content == newer.crl_pem()
    again = client.request("PUT", "/admin/crl", content=newer.crl_pem(), headers=admin)
    assert again.json()["changed"] is False


def test_an_old_or_forged_crl_never_unrevokes(sandbox):
    client, admin, pki = sandbox
    old = pki.crl_pem()
    pki.issue(REVOKED, "Gamma PGO", revoked=True)
    assert client.request("PUT", "/admin/crl", content=pki.crl_pem(), headers=admin
                          ).status_code == 200
    stale = client.request("PUT", "/admin/crl", content=old, headers=admin)
    assert stale.status_code == 409 and "lower" in stale.json()["error_description"]
    forged = client.request("PUT", "/admin/crl", content=Pki(pki.seed + 1).crl_pem(),
                            headers=admin)
    assert forged.status_code == 400 and "not signed" in forged.json()["error_description"]
    garbage = client.request("PUT", "/admin/crl", content=b"-----BEGIN X509 CRL-----",
                             headers=admin)
    assert garbage.status_code == 400 and "not a PEM CRL" in garbage.text
    assert len(_serials(client.get(tls.CRL_PATH).content)) == 1  # still revoked


def test_in_the_local_runtime_the_registry_publishes_what_ca_revoke_wrote(sandbox):
    """Local nodes read pki/crl.pem themselves; the distribution point follows it too, so an
    outside participant sees the same CRL whichever runtime runs."""
    client, _, pki = sandbox
    assert client.get(tls.CRL_PATH).status_code == 200
    pki.revoke(pki.issue(REVOKED, "Gamma PGO").hostname)
    assert len(_serials(client.get(tls.CRL_PATH).content)) == 1


def test_a_sandbox_without_pki_has_no_crl(tmp_path):
    client, admin = make_registry(tmp_path)
    answer = client.get(tls.CRL_PATH)
    assert answer.status_code == 404 and "no PKI" in answer.json()["error_description"]
