"""The docker runtime is the ``medmij`` profile with real TLS and mutual TLS (issue 13 item 6).

One sandbox for the module (``up --runtime docker``): every node serves HTTPS on port 443 of
its container under its MedMij hostname with its certificate from the sandbox PKI (made in the
state directory, mounted read-only at /state/pki), the back channels want a client
certificate on the Whitelist, and this machine reaches the published 127.0.0.1 ports over
HTTPS with SNI = the node's hostname. Skips only as the other container tests do (no engine
or base image, and no .ci/docker-setup.sh marker). The in-process tests at the top need no
engine: they pin the pieces the containers rely on.
"""

from __future__ import annotations

import json
import ssl
import stat
import tarfile
import time
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from lxml import etree
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.compose_gen import PKI_MOUNT, edge_forwards, runtime_compose, swarm_stack
from sandbox.pki import Pki
from sandbox.runtime.docker import NODE_UID, DockerRuntime, _tar_files, make_pki, pki_files
from sandbox.state import running
from scenarios import collect
from simulators.common import tls
from simulators.common.http import ResolvingTransport, async_client, sync_client
from simulators.medmij import LIST_PATHS
from simulators.medmij.topology import load_topology
from simulators.serve import network_config
from tests.conftest import free_base_port
from tests.sandbox.runtime.test_docker import (  # noqa: F401 - engine is a fixture
    TIMINGS,
    _log_tails,
    engine,
    report_timings,
)

XSDS = {
    "zal": "MedMij_Zorgaanbiederslijst.xsd",
    "ocl": "MedMij_OAuthclientlist.xsd",
    "whitelist": "MedMij_Whitelist.xsd",
    "gnl": "MedMij_Gegevensdienstnamenlijst.xsd",
}
STRANGER = "stranger.sandbox.test"


# --- in-process: the pieces the containers rely on ----------------------------------------

def test_in_network_https_names_trust_the_sandbox_ca_and_present_the_node_certificate():
    """In a container the map is hostname -> https://<hostname>: nothing to rewrite, but the
    client must still verify with the sandbox CA (not the public roots) and present the
    node's certificate; before the fix every node's list download failed verification."""
    addresses = {"registry.sandbox.test": "https://registry.sandbox.test"}
    for client in (async_client(addresses), sync_client(addresses)):
        pool = client._transport.transport._pool
        assert pool._ssl_context is tls.client_ssl_context()


def test_network_config_with_tls_names_every_node_https_without_port(tmp_path):
    config = network_config(None, 443, tmp_path, use_tls=True)
    assert set(config.addresses.values()) == {f"https://{n.hostname}"
                                              for n in config.topology.nodes}
    assert all(tls.uses_tls(config, n.hostname) for n in config.topology.nodes)
    assert network_config(None, 8443, tmp_path, True).addresses[
        config.topology.registry.hostname] == f"https://{config.topology.registry.hostname}:8443"
    plain = network_config(None, 8000, tmp_path)
    assert not any(tls.uses_tls(plain, n.hostname) for n in plain.topology.nodes)


def test_pki_volume_holds_the_nodes_keys_readable_by_the_node_user_only(tmp_path):
    """Root-owned, group of the image's user: a node reads its key and changes nothing;
    an outside participant's key (`ca issue`) never enters the containers."""
    topology = load_topology()
    pki_dir = make_pki(tmp_path, topology)
    Pki(topology.seed, pki_dir).issue(STRANGER, "Vreemde PGO")
    files = {name: (uid, gid, mode) for name, _, uid, gid, mode in pki_files(pki_dir, topology)}
    assert f"{STRANGER}.key" not in files and f"{STRANGER}.crt" not in files
    assert (pki_dir / "ca.secret").exists() and "ca.secret" not in files  # no node mints
    for node in topology.nodes:
        assert files[f"{node.hostname}.key"] == (0, NODE_UID, 0o440)
        assert files[f"{node.hostname}.crt"] == (0, NODE_UID, 0o444)
    assert files["ca-bundle.pem"] == files["crl.pem"] == (0, NODE_UID, 0o444)
    with tarfile.open(fileobj=BytesIO(_tar_files(pki_files(pki_dir, topology)))) as tar:
        key = tar.getmember(f"{topology.registry.hostname}.key")
        assert (key.uid, key.gid, stat.S_IMODE(key.mode)) == (0, NODE_UID, 0o440)


def test_compose_and_swarm_specs_serve_tls_on_443_with_the_pki_read_only():
    topology = load_topology()
    spec = runtime_compose(topology, 18400, "img:1", "n0nce", "vol", {}, "pki-vol")
    assert spec["volumes"]["pki"] == {"external": True, "name": "pki-vol"}
    for i, service in enumerate(spec["services"].values()):
        assert f"pki:{PKI_MOUNT}:ro" in service["volumes"]
        assert service["ports"] == [f"127.0.0.1:{18400 + i}:443"]
        assert service["environment"]["PGO_SANDBOX_TLS"] == "1"
        assert "443" in " ".join(service["healthcheck"]["test"])
    plain = runtime_compose(topology, 18400, "img:1", "n0nce", "vol")
    assert "pki" not in plain["volumes"]
    stack = swarm_stack(topology, 18400, "img:1", "n0nce", "vol", None, "pki-vol")
    assert "18402=dva-nexus.sandbox.test:443" in edge_forwards(topology, 18400, tls=True)
    assert not any("ports" in service for service in stack["services"].values())
    assert f"pki:{PKI_MOUNT}:ro" in stack["services"]["dva-nexus"]["volumes"]


def test_docker_tls_can_be_turned_off_for_tools_without_mutual_tls(tmp_path, monkeypatch):
    topology = load_topology()
    assert DockerRuntime(tmp_path).addresses(topology, 18400)[
        topology.registry.hostname] == "https://127.0.0.1:18400"
    monkeypatch.setenv("PGO_SANDBOX_DOCKER_TLS", "0")
    assert DockerRuntime(tmp_path).addresses(topology, 18400)[
        topology.registry.hostname] == "http://127.0.0.1:18400"
    from sandbox.runtime.compose import ComposeRuntime
    from sandbox.runtime.swarm import SwarmRuntime

    assert not SwarmRuntime(tmp_path).tls and not ComposeRuntime(tmp_path).tls
    monkeypatch.delenv("PGO_SANDBOX_DOCKER_TLS")
    # TLS is every container runtime's default (swarm's since it ran end to end)
    assert ComposeRuntime(tmp_path).tls and SwarmRuntime(tmp_path).tls


# --- real containers -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_sandbox(engine, tmp_path_factory):  # noqa: F811
    """`pgo-sandbox up --runtime docker` (TLS, the default) on the default topology."""
    state = tmp_path_factory.mktemp("docker-tls")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PGO_SANDBOX_DOCKER_TLS", raising=False)
        runtime = DockerRuntime(state, client=engine)
        args = ["--state-dir", str(state)]
        start = time.perf_counter()
        result = CliRunner().invoke(app, ["up", "--runtime", "docker", "--base-port",
                                          str(free_base_port()), "--timeout", "120", *args])
        TIMINGS["TLS up (build if needed + start + healthy)"] = time.perf_counter() - start
        try:
            assert result.exit_code == 0, result.output + _log_tails(state / "logs")
            TIMINGS["TLS healthy after start"] = running(state).info.healthy_seconds
            yield state, runtime, args
        finally:
            runtime.down()
            runtime.wipe()


def _container(runtime: DockerRuntime, node_id: str):
    (found,) = [c for c in runtime._containers() if c.labels["pgo-sandbox.node"] == node_id]
    return found


def _client(state: Path, hostname: str | None, pki_dir: Path | None = None) -> httpx.Client:
    """From this machine through the published ports: trusts the sandbox CA, SNI = the
    hostname (the resolving transport), presents ``hostname``'s certificate if given."""
    context = ssl.create_default_context(cafile=state / "pki" / "ca-bundle.pem")
    if hostname is not None:
        pki_dir = pki_dir or state / "pki"
        context.load_cert_chain(pki_dir / f"{hostname}.crt", pki_dir / f"{hostname}.key")
    transport = ResolvingTransport(running(state).info.addresses, verify=context)
    return httpx.Client(transport=transport, timeout=15)


@pytest.mark.container
def test_every_node_serves_https_on_443_under_its_hostname(tls_sandbox):
    state, runtime, args = tls_sandbox
    rows = json.loads(CliRunner().invoke(app, ["status", "--json", *args]).output)
    assert all(r["healthy"] for r in rows) and all(r["url"].startswith("https://127.0.0.1:")
                                                   for r in rows)
    sandbox = running(state)
    assert set(sandbox.config.addresses.values()) == {f"https://{n.hostname}"
                                                      for n in sandbox.topology.nodes}
    for node in sandbox.topology.nodes:  # the published port: a TLS handshake, SNI = hostname
        context = ssl.create_default_context(cafile=state / "pki" / "ca-bundle.pem")
        port = int(sandbox.info.addresses[node.hostname].rsplit(":", 1)[1])
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname=node.hostname) as conn:
            assert conn.getpeercert()["subjectAltName"] == (("DNS", node.hostname),)
    container = _container(runtime, "dva-nexus")
    assert container.attrs["HostConfig"]["PortBindings"].keys() == {"443/tcp"}
    written = container.exec_run(["touch", f"{PKI_MOUNT}/x"])
    assert written.exit_code != 0 and b"Read-only" in written.output, written.output


@pytest.mark.container
def test_collect_scenario_passes_over_mutual_tls(tls_sandbox):
    state, _, args = tls_sandbox
    start = time.perf_counter()
    report = collect.run(running(state))
    TIMINGS["TLS collect scenario"] = time.perf_counter() - start
    assert report.ok, report.to_dict()
    logs = CliRunner().invoke(app, ["logs", "dva-nexus", "--lines", "300", *args])
    assert report.summary["correlation_id"] in logs.output


PROBE = """
import json, ssl, sys, http.client as h, urllib.parse as u
cert, host, path, client_id = sys.argv[1:]
ctx = ssl.create_default_context(cafile='/state/pki/ca-bundle.pem')
if cert != '-':
    ctx.load_cert_chain(f'/state/pki/{cert}.crt', f'/state/pki/{cert}.key')
c = h.HTTPSConnection(host, 443, context=ctx, timeout=10)
if path == '/oauth/token':
    body = u.urlencode({'grant_type': 'authorization_code', 'code': 'x', 'client_id': client_id,
                        'redirect_uri': f'https://{client_id}/callback'})
    c.request('POST', path, body, {'Content-Type': 'application/x-www-form-urlencoded'})
else:
    c.request('GET', path)
r = c.getresponse()
print(json.dumps({'status': r.status, 'body': r.read().decode()}))
"""


def _inside(runtime: DockerRuntime, node_id: str, cert: str | None, host: str, path: str,
            client_id: str = "-") -> dict:
    """A back-channel call from inside node ``node_id``'s container, over the network."""
    result = _container(runtime, node_id).exec_run(
        ["python", "-c", PROBE, cert or "-", host, path, client_id])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.decode().strip().splitlines()[-1])


@pytest.mark.container
def test_back_channels_without_client_certificate_are_refused_inside_the_network(tls_sandbox):
    state, runtime, _ = tls_sandbox
    topology = running(state).topology
    dva, pgo, registry = (topology.dvas[0].hostname, topology.dvps[0].hostname,
                          topology.registry.hostname)
    token = _inside(runtime, "pgo-alpha", None, dva, "/oauth/token", pgo)
    assert token["status"] == 401 and json.loads(token["body"])["error"] == "invalid_client"
    assert "mutual TLS" in token["body"]
    fhir = _inside(runtime, "pgo-alpha", None, dva, "/fhir/x/Patient")
    assert fhir["status"] == 401 and "OperationOutcome" in fhir["body"]
    lists = _inside(runtime, "pgo-alpha", None, registry, LIST_PATHS["zal"])
    assert lists["status"] == 401
    # the token endpoint authenticates the client by certificate: client_id must match it
    other = _inside(runtime, "pgo-alpha", pgo, dva, "/oauth/token", topology.dvps[1].hostname)
    assert other["status"] == 401 and pgo in other["body"]
    listed = _inside(runtime, "pgo-alpha", pgo, dva, "/oauth/token", pgo)
    assert listed["status"] == 400, listed  # past the gate: the code is unknown (invalid_grant)


@pytest.mark.container
def test_a_certificate_not_on_the_whitelist_is_refused_through_the_published_port(
        tls_sandbox, tmp_path):
    state, _, args = tls_sandbox
    out = tmp_path / "stranger"
    issued = CliRunner().invoke(app, ["ca", "issue", STRANGER, "--out", str(out), *args])
    assert issued.exit_code == 0, issued.output
    sandbox = running(state)
    dva = sandbox.topology.dvas[0].hostname
    # the DVA closes the stranger's connection in TLS, before any HTTP, whatever the path
    for method, path in (("POST", "/oauth/token"), ("GET", "/fhir/x/Patient"),
                         ("GET", "/health")):
        with _client(state, STRANGER, out) as http:
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError,
                                httpx.ConnectError)):
                http.request(method, f"https://{dva}{path}", data={"client_id": STRANGER})
    with _client(state, None) as http:  # without a certificate the front channel is open
        assert http.get(f"https://{dva}/health").status_code == 200


@pytest.mark.container
def test_lists_fetched_over_https_validate_against_the_xsds(tls_sandbox, medmij_dir):
    state, _, _ = tls_sandbox
    sandbox = running(state)
    registry = sandbox.topology.registry.hostname
    with _client(state, sandbox.topology.dvps[0].hostname) as http:
        for kind, path in LIST_PATHS.items():
            response = http.get(f"https://{registry}{path}", params={"api": "1"})
            assert response.status_code == 200, response.text
            schema = etree.XMLSchema(etree.parse(str(medmij_dir / "lists" / "xsd" / XSDS[kind])))
            document = etree.fromstring(response.content)
            assert schema.validate(document), (kind, schema.error_log)
            if kind == "zal":
                assert b"https://dva-nexus.sandbox.test/" in response.content


def _tls_probe(state: Path, hostname: str, cert: str) -> str:
    """One handshake with the node ``hostname`` through its published port, presenting
    ``cert``'s certificate, and one request: "HTTP/1.1 <status>", or "refused: ..." with the
    TLS error. In TLS 1.3 the server's verdict on the client certificate arrives with the
    first read; a node closes the connection without an alert (asyncio's TLS does not send
    one), so a refusal reads as a closed connection."""
    import socket

    context = ssl.create_default_context(cafile=state / "pki" / "ca-bundle.pem")
    context.load_cert_chain(state / "pki" / f"{cert}.crt", state / "pki" / f"{cert}.key")
    port = int(running(state).info.addresses[hostname].rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname=hostname) as conn:
            conn.sendall(f"GET /health HTTP/1.1\r\nHost: {hostname}\r\n\r\n".encode())
            answer = conn.recv(64)
    except (ssl.SSLError, OSError) as exc:
        return f"refused: {exc}"
    return answer.split(b"\r\n", 1)[0].decode() if answer else "refused: closed"


@pytest.mark.container
def test_a_certificate_revoked_while_the_containers_run_is_refused_by_every_node(tls_sandbox):
    """`ca revoke` while the containers run: the PKI volume is a copy made at `up`, so the
    registry is handed the new CRL (admin API) and every node fetches it with its list
    refresh. Before, a revoked certificate passed every handshake until the next `up`."""
    state, _, args = tls_sandbox
    sandbox = running(state)
    topology = sandbox.topology
    revoked, control = "pgo-gamma.sandbox.test", "pgo-beta.sandbox.test"
    hostnames = [n.hostname for n in topology.nodes]
    for hostname in hostnames:  # both listed, both admitted everywhere before
        for cert in (revoked, control):
            assert _tls_probe(state, hostname, cert) == "HTTP/1.1 200 OK", (hostname, cert)
    old_crl = (state / "pki" / "crl.pem").read_bytes()
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["ca", "revoke", revoked, *args])
    assert result.exit_code == 0, result.output
    assert "registry publishes CRL number" in result.output, result.output
    refresh = topology.list_refresh_seconds
    pending = set(hostnames)
    while pending and time.perf_counter() - start < refresh + 10:
        pending = {h for h in pending if not _tls_probe(state, h, revoked).startswith("refused")}
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    TIMINGS["revoke to refused by every node"] = elapsed
    assert not pending, f"still admitted after {elapsed:.1f} s: {sorted(pending)}"
    assert elapsed <= refresh + 2, f"{elapsed:.1f} s is more than one list refresh"
    with _client(state, revoked) as http:  # the DVA refuses it in TLS, before any HTTP
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            http.post(f"https://{topology.dvas[0].hostname}/oauth/token",
                      data={"client_id": revoked})
    for hostname in hostnames:  # the control certificate still works at every node
        assert _tls_probe(state, hostname, control) == "HTTP/1.1 200 OK", hostname
    with _client(state, control) as http:
        token = http.post(f"https://{topology.dvas[0].hostname}/oauth/token",
                          data={"grant_type": "authorization_code", "code": "x",
                                "client_id": control,
                                "redirect_uri": f"https://{control}/callback"})
        assert token.status_code == 400, token.text  # past TLS and the gate: unknown code

    # the distribution point is public and serves the new CRL; nobody unrevokes with an old
    # or a forged one, and only the admin token hands one over
    registry = topology.registry.hostname
    with _client(state, None) as http:
        published = http.get(f"https://{registry}{tls.CRL_PATH}")
        assert published.status_code == 200
        serial = Pki(topology.seed, state / "pki").current(revoked).serial_number
        crl = x509.load_pem_x509_crl(published.content)
        assert crl.get_revoked_certificate_by_serial_number(serial) is not None
        admin = {**sandbox.admin_headers, "Content-Type": "application/x-pem-file"}
        old = http.put(f"https://{registry}/admin/crl", content=old_crl, headers=admin)
        assert old.status_code == 409 and "lower" in old.json()["error_description"], old.text
        forged = Pki(topology.seed + 1).crl_pem()
        other = http.put(f"https://{registry}/admin/crl", content=forged, headers=admin)
        assert other.status_code == 400 and "not signed" in other.text, other.text
        anonymous = http.put(f"https://{registry}/admin/crl", content=published.content)
        assert anonymous.status_code == 401
    assert _tls_probe(state, topology.dvas[0].hostname, revoked).startswith("refused")


@pytest.mark.container
def test_down_removes_containers_network_and_pki_volume(tls_sandbox, engine):  # noqa: F811
    state, runtime, args = tls_sandbox
    result = CliRunner().invoke(app, ["down", *args])
    assert result.exit_code == 0, result.output
    label = {"label": f"pgo-sandbox.project={runtime.project}"}
    assert engine.containers.list(all=True, filters=label) == []
    assert engine.networks.list(filters=label) == []
    assert runtime.pki_volume not in {v.name for v in engine.volumes.list(filters=label)}
    assert (state / "pki" / "ca-bundle.pem").exists()  # the PKI stays with the state dir
