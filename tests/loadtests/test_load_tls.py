"""``pgo-sandbox load`` against a sandbox that serves HTTPS with mutual TLS (issue 13's
``medmij`` profile): bounded Locust runs with real processes and real handshakes.

One local ``medmij`` sandbox for the module, on its own 127.x.y.0/24 block and port 443 (root
binds it), as tests/sandbox/runtime/test_medmij_profile.py starts it. The Locust users reach
the nodes under their MedMij hostnames, resolved in the Locust process from the runtime's
map (no /etc/hosts), trust the sandbox CA and present the acting PGO's certificate on the
back channels; a run without that certificate fails every token request (401
invalid_client), so the runs' "0 failures" is the test that the certificate is presented.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from loadtests.mtls import SandboxPki, reachable_bases
from loadtests.run import LoadError, LoadOptions, check_tls, run
from sandbox.state import Running
from simulators.common.http import ResolvingTransport
from simulators.medmij.topology import load_topology
from tests.conftest import medmij_profile_sandbox

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="binds <address>:443: needs root")


@pytest.fixture(scope="module")
def medmij(tmp_path_factory):
    with medmij_profile_sandbox(tmp_path_factory.mktemp("medmij-load")) as sandbox:
        yield sandbox


def _failures(summary: dict) -> dict:
    return {n: s["failures"] for n, s in summary["steps"].items() if s["failures"]}


@needs_root
@pytest.mark.slow
def test_bounded_collect_run_over_mutual_tls(medmij: Running, tmp_path: Path) -> None:
    """The collect flow end to end over HTTPS: browser steps without a certificate, token
    and searches with the acting PGO's (a token without it answers 401)."""
    opts = LoadOptions("collect", users=3, spawn_rate=3, duration=15, out_dir=tmp_path,
                       think_scale=0, max_requests=20_000, ceiling_users=2, ceiling_duration=2)
    summary = run(medmij, opts, say=lambda _: None)
    steps = summary["steps"]
    assert summary["failures"] == 0, _failures(summary)
    for name in ("authorize", "login", "consent", "token"):
        assert steps[name]["requests"] >= 1, name
    assert any(n.startswith("collect flow") and s["requests"] >= 1 for n, s in steps.items())
    assert any(n.startswith("search ") for n in steps)


@needs_root
@pytest.mark.slow
def test_bounded_search_run_over_mutual_tls(medmij: Running, tmp_path: Path) -> None:
    """The BgZ search at saturation: the FastHttpUser's own client presents the PGO's
    certificate (the DVA's resource server is a back channel)."""
    opts = LoadOptions("search", users=3, spawn_rate=3, duration=15, out_dir=tmp_path,
                       think_scale=0, max_requests=20_000, ceiling=False)
    summary = run(medmij, opts, say=lambda _: None)
    assert summary["failures"] == 0, _failures(summary)
    assert summary["steps"]["token"]["requests"] >= 1
    assert summary["steps"]["search Condition"]["requests"] >= 100


@needs_root
def test_a_back_channel_context_presents_the_pgos_certificate(medmij: Running) -> None:
    """What the load users' back-channel sessions are built from: with the PGO's certificate
    the token endpoint gets to judge the (bogus) code; without one it refuses the client."""
    pki = SandboxPki(medmij.state_dir / "pki")
    pgo = medmij.topology.dvps[0].hostname
    url = medmij.url(medmij.topology.dvas[0].id, "/oauth/token")
    form = {"grant_type": "authorization_code", "code": "not-a-code", "client_id": pgo,
            "redirect_uri": f"https://{pgo}/oauth/callback"}

    def token(context) -> httpx.Response:
        transport = ResolvingTransport(medmij.info.addresses, verify=context)
        with httpx.Client(transport=transport, timeout=10) as client:
            return client.post(url, data=form)

    with_cert = token(pki.client_context(pgo))
    assert with_cert.status_code == 400 and with_cert.json()["error"] == "invalid_grant"
    without = token(pki.client_context())
    assert without.status_code == 401 and without.json()["error"] == "invalid_client"


def test_tls_addresses_keep_the_hostname() -> None:
    """URLs keep the MedMij hostname (SNI, certificate check); the map says where it is."""
    local = {"dva.sandbox.test": "https://127.77.0.3"}
    assert reachable_bases(local) == ({"dva.sandbox.test": "https://dva.sandbox.test"},
                                      {"dva.sandbox.test": "127.77.0.3"})
    docker = {"dva.sandbox.test": "https://127.0.0.1:18443"}
    assert reachable_bases(docker) == ({"dva.sandbox.test": "https://dva.sandbox.test:18443"},
                                       {"dva.sandbox.test": "127.0.0.1"})
    in_network = {"dva.sandbox.test": "https://dva.sandbox.test"}  # Docker DNS resolves it
    assert reachable_bases(in_network) == (in_network, {})
    plain = {"dva.sandbox.test": "http://127.0.0.1:18402"}
    assert reachable_bases(plain) == (plain, {})


def _stub(state_dir: Path, base: str) -> SimpleNamespace:
    addresses = {"registry.sandbox.test": base}
    topology = load_topology()
    return SimpleNamespace(state_dir=state_dir, topology=topology,
                           info=SimpleNamespace(addresses=addresses),
                           config=SimpleNamespace(addresses=addresses))


def test_a_tls_sandbox_without_its_pki_here_is_refused(tmp_path: Path) -> None:
    """Plain HTTP needs nothing; HTTPS needs the CA bundle and the acting PGOs' certificate
    and key on this machine, and a run without them is refused naming the missing files."""
    check_tls(_stub(tmp_path, "http://127.0.0.1:18400"), ["collect"])  # type: ignore[arg-type]
    with pytest.raises(LoadError, match="ca-bundle.pem"):
        check_tls(_stub(tmp_path, "https://registry.sandbox.test"),  # type: ignore[arg-type]
                  ["collect"])


@needs_root
def test_a_missing_key_of_an_acting_node_is_named(medmij: Running, tmp_path: Path) -> None:
    """Every PGO's key (the collect's back-end picks one per visit); a DVA's only for the
    registry flow, whose users poll the lists as DVAs and PGOs."""
    topology = medmij.topology
    pki = tmp_path / "pki"
    shutil.copytree(medmij.state_dir / "pki", pki)
    stub = SimpleNamespace(state_dir=tmp_path, topology=topology, info=medmij.info,
                           config=medmij.config)
    (pki / f"{topology.dvas[0].hostname}.key").unlink()
    check_tls(stub, ["collect"])  # type: ignore[arg-type]
    with pytest.raises(LoadError, match=f"{topology.dvas[0].hostname}.key"):
        check_tls(stub, ["registry"])  # type: ignore[arg-type]
    (pki / f"{topology.dvps[-1].hostname}.key").unlink()
    with pytest.raises(LoadError, match=f"{topology.dvps[-1].hostname}.key"):
        check_tls(stub, ["collect"])  # type: ignore[arg-type]
