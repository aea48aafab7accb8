"""simulators.common.tls and the TLS side of simulators.common.http, without a whole sandbox:
the peer certificate reaches the request scope over a real TLS handshake on 127.0.0.1, a peer
off the Whitelist is refused in TLS, the back-channel gate answers with the protocol's errors,
the client keeps the hostname for SNI."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization

from sandbox.pki import Pki
from simulators.common import revocation, tls
from simulators.common.http import ResolvingTransport, _rewrite, _tls_names

SERVER = "server.sandbox.test"
CLIENT = "client.sandbox.test"
UNLISTED = "unlisted.sandbox.test"
INFRA = "registry.sandbox.test"
CA = b"one sandbox CA for every folder of these tests"  # its CA secret (sandbox.pki)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    pki = Pki(7, directory, secret=CA)
    pki.issue(SERVER, "Server Org")
    pki.issue(CLIENT, "Client Org")
    pki.issue(UNLISTED, "Unlisted Org")
    pki.issue(INFRA, "Registry Org")
    return directory


def test_cert_hostname_reads_the_san(pki):
    certificate = Pki(7, pki, secret=CA).current(CLIENT)
    der = certificate.public_bytes(serialization.Encoding.DER)
    assert tls.cert_hostname(der) == CLIENT
    assert tls.cert_hostname(None) is None
    assert tls.cert_hostname(b"not a certificate") is None


async def echo_peer(scope, receive, send) -> None:
    """An ASGI app that answers the peer hostname the protocol put into the scope."""
    if scope["type"] != "http":
        return
    body = (tls.peer_hostname(scope) or "-").encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _serve(pki, protocol, context: ssl.SSLContext | None = None):
    """A real uvicorn TLS server on 127.0.0.1 with ``protocol`` (and ``context``, by default
    a plain server context); yields its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = context or tls.server_ssl_context(pki, SERVER)
    config = uvicorn.Config(echo_peer, host="127.0.0.1", port=port, log_level="warning",
                            http=protocol, lifespan="off",
                            ssl_context_factory=lambda *_: context)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(5)


@pytest.fixture(scope="module")
def tls_server(pki):
    yield from _serve(pki, tls.PeerCertProtocol)


class Lists:
    """The Whitelist an admitting server holds, changed by the test (None: no lists yet)."""

    def __init__(self) -> None:
        self.whitelist: set[str] | None = {CLIENT}
        self.refused: list[str] = []


@pytest.fixture(scope="module")
def lists():
    return Lists()


@pytest.fixture(scope="module")
def admitting_server(pki, lists):
    protocol = tls.admitting(lambda: lists.whitelist, frozenset({INFRA}), lists.refused.append)
    yield from _serve(pki, protocol)


def _client(pki, port: int, cert: str | None) -> httpx.Client:
    context = ssl.create_default_context(cafile=pki / "ca-bundle.pem")
    if cert:
        context.load_cert_chain(pki / f"{cert}.crt", pki / f"{cert}.key")
    addresses = {SERVER: f"https://127.0.0.1:{port}"}
    return httpx.Client(transport=ResolvingTransport(addresses, verify=context))


def test_peer_certificate_hostname_reaches_every_request(pki, tls_server):
    """Real handshake on 127.0.0.1: the client certificate's SAN is in the scope of each
    request on the connection; without a certificate the front channel still answers."""
    with _client(pki, tls_server, CLIENT) as http:
        assert http.get(f"https://{SERVER}/a").text == CLIENT
        assert http.get(f"https://{SERVER}/b").text == CLIENT  # same connection, next request
    with _client(pki, tls_server, None) as http:
        assert http.get(f"https://{SERVER}/a").text == "-"


def test_a_peer_off_the_whitelist_is_refused_in_tls_before_any_http(pki, admitting_server,
                                                                    lists):
    """MedMij's node refuses a connection whose certificate hostname is not on its latest
    Whitelist: the connection is closed before HTTP, on any path (the echo app has no gate),
    while a listed peer, a browser without a certificate and sandbox infrastructure pass."""
    lists.whitelist = {CLIENT}
    with _client(pki, admitting_server, UNLISTED) as http:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
            http.get(f"https://{SERVER}/health")
    assert lists.refused[-1] == UNLISTED
    for cert, seen in ((CLIENT, CLIENT), (None, "-"), (INFRA, INFRA)):
        with _client(pki, admitting_server, cert) as http:
            assert http.get(f"https://{SERVER}/health").text == seen
    # the next lists decide the next connection: listed now, let in; off again, refused
    lists.whitelist = {CLIENT, UNLISTED}
    with _client(pki, admitting_server, UNLISTED) as http:
        assert http.get(f"https://{SERVER}/health").text == UNLISTED
    lists.whitelist = {CLIENT}
    with _client(pki, admitting_server, UNLISTED) as http:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
            http.get(f"https://{SERVER}/health")
    # before the first lists nobody is refused in TLS (the back-channel gate waits for them)
    lists.whitelist = None
    with _client(pki, admitting_server, UNLISTED) as http:
        assert http.get(f"https://{SERVER}/health").text == UNLISTED
    lists.whitelist = {CLIENT}


def raw_get(context: ssl.SSLContext, address: str, port: int, hostname: str, path: str,
            session: ssl.SSLSession | None = None) -> tuple[bytes, ssl.SSLSession | None]:
    """GET ``path`` on a new TLS connection, resuming ``session`` if given (what a browser or
    any TLS stack does; httpx never does): (the raw answer, b"" when the server closed
    without one; the session to resume next time)."""
    with socket.create_connection((address, port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=hostname, session=session) as conn:
            assert session is None or conn.session_reused, "the server did not resume"
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {hostname}\r\n"
                         "Connection: close\r\n\r\n".encode())
            answer = b""
            try:
                while chunk := conn.recv(65536):
                    answer += chunk
            except (ssl.SSLError, ConnectionError):
                pass
            return answer, conn.session


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_a_resumed_session_meets_the_crl_of_now(tmp_path, monkeypatch, version):
    """A resumed TLS session skips certificate verification, and tickets and the session
    cache belong to the listener's context, which ``LiveServerContext`` keeps: a client
    revoked after one handshake kept its identity by resuming. ``rechecking`` closes it."""
    monkeypatch.setattr(tls.LiveServerContext, "CHECK_SECONDS", 0.0)
    directory = tmp_path / "pki"
    authority = Pki(7, directory, secret=CA)
    for hostname in (SERVER, CLIENT):
        authority.issue(hostname, "Some Org")
    live = tls.LiveServerContext(directory, SERVER)
    server = _serve(directory, tls.rechecking(tls.PeerCertProtocol, live), live.context)
    port = next(server)
    client = ssl.create_default_context(cafile=directory / "ca-bundle.pem")
    client.maximum_version = version
    client.load_cert_chain(directory / f"{CLIENT}.crt", directory / f"{CLIENT}.key")

    def get(session: ssl.SSLSession | None = None) -> tuple[bytes, ssl.SSLSession | None]:
        """The raw answer to a GET on a new connection resuming ``session``; the session."""
        return raw_get(client, "127.0.0.1", port, SERVER, "/", session)

    try:
        answer, session = get()
        assert CLIENT.encode() in answer, answer
        answer, session = get(session)
        assert CLIENT.encode() in answer, answer  # resumed: the same identity, unrevoked
        authority.revoke(CLIENT)
        assert get(session)[0] == b""  # closed before any HTTP
        other = authority.issue(UNLISTED, "Other Org")  # an unrevoked peer still resumes
        assert live.still_good(other.certificate)
        expired = Pki(7, tmp_path / "expired", secret=CA).issue(UNLISTED, "Other Org",
                                                               expired=True)
        assert not live.still_good(expired.certificate)
    finally:
        next(server, None)


def test_client_verifies_the_server_hostname(pki, tls_server):
    """The URL's hostname is used for SNI and verification, not the address connected to."""
    context = ssl.create_default_context(cafile=pki / "ca-bundle.pem")
    wrong = {CLIENT: f"https://127.0.0.1:{tls_server}"}  # the server's cert names SERVER
    with httpx.Client(transport=ResolvingTransport(wrong, verify=context)) as http:
        with pytest.raises(httpx.ConnectError, match="[Hh]ostname mismatch"):
            http.get(f"https://{CLIENT}/")


def test_rewrite_keeps_the_hostname_for_tls():
    addresses = {SERVER: "https://127.9.0.3"}
    names = _tls_names(addresses)
    sent = _rewrite(httpx.Request("GET", f"https://{SERVER}/x"), addresses, names)
    assert sent.url.host == "127.9.0.3"
    assert sent.extensions["sni_hostname"] == SERVER and sent.headers["Host"] == SERVER
    direct = _rewrite(httpx.Request("GET", "https://127.9.0.3/x"), addresses, names)
    assert direct.extensions["sni_hostname"] == SERVER  # Running.url: the IP's hostname
    plain = _rewrite(httpx.Request("GET", f"http://{SERVER}/x"),
                     {SERVER: "http://127.0.0.1:8000"}, {})
    assert "sni_hostname" not in plain.extensions and plain.headers["Host"] == "127.0.0.1:8000"


async def _call(gate, path: str, peer: str | None,
                serial: int | None = None) -> tuple[int, dict]:
    scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    if peer is not None:
        scope["extensions"] = {"tls": {"client_cert_hostname": peer,
                                       "client_cert_id": (b"issuer", serial or 1)}}
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    await gate(scope, receive, send)
    return sent[0]["status"], json.loads(sent[1]["body"] or b"{}")


async def passed(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def test_gate_refuses_with_the_protocols_errors():
    ready = asyncio.Event()
    ready.set()
    gate = tls.BackChannelGate(passed, ("/oauth/token", "/fhir/", "/artifact"),
                               lambda: {"pgo.sandbox.test"}, lambda: ready,
                               extra=frozenset({"digid.sandbox.test"}))
    run = asyncio.run
    status, body = run(_call(gate, "/oauth/token", None))
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = run(_call(gate, "/oauth/token", "gone.sandbox.test"))
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = run(_call(gate, "/fhir/umc/48/Patient", "gone.sandbox.test"))
    assert status == 403 and body["resourceType"] == "OperationOutcome"
    status, body = run(_call(gate, "/artifact", "gone.sandbox.test"))
    assert (status, body["error"]) == (403, "access_denied")
    assert run(_call(gate, "/fhir/umc/48/Patient", "pgo.sandbox.test"))[0] == 200
    assert run(_call(gate, "/artifact", "digid.sandbox.test"))[0] == 200  # infrastructure
    assert run(_call(gate, "/oauth/authorize", None))[0] == 200  # front channel: not gated


def test_gate_refuses_a_revoked_certificate_on_every_back_channel():
    """Rule: a listed peer whose certificate the CRL of now lists (``revoked``) is refused per
    request with the protocol's error, though its connection's handshake passed."""
    ready = asyncio.Event()
    ready.set()
    gate = tls.BackChannelGate(passed, ("/oauth/token", "/fhir/"), lambda: {"pgo.sandbox.test"},
                               lambda: ready, revoked=lambda cert: cert == (b"issuer", 7))
    run = asyncio.run
    status, body = run(_call(gate, "/oauth/token", "pgo.sandbox.test", serial=7))
    assert (status, body["error"]) == (401, "invalid_client")
    assert "pgo.sandbox.test was revoked" in body["error_description"]
    status, body = run(_call(gate, "/fhir/umc/48/Patient", "pgo.sandbox.test", serial=7))
    assert status == 403 and "revoked" in body["issue"][0]["diagnostics"]
    assert run(_call(gate, "/oauth/token", "pgo.sandbox.test", serial=8))[0] == 200


def test_a_trusted_sandbox_that_is_gone_is_no_longer_trusted(tmp_path, monkeypatch):
    """One process may meet several sandboxes (tests, a CLI with --state-dir); when one is torn
    down with its state directory, its CA stops being trusted instead of failing every TLS
    client of the process with FileNotFoundError."""
    import shutil

    monkeypatch.setattr(tls, "_trusted", [])
    monkeypatch.setattr(tls, "_contexts", {})
    kept, gone = tmp_path / "kept", tmp_path / "gone"
    Pki(7, kept, secret=CA)
    Pki(8, gone)
    tls.trust(kept)
    tls.trust(gone)
    shutil.rmtree(gone)
    context = tls.client_ssl_context()  # no bundle there any more: skipped, not an error
    assert context.cert_store_stats()["x509_ca"] >= 1  # the sandbox still running is trusted


# --- revocation: the CRL rules and the contexts that follow a CRL file ----------------------

def _crl_after(directory, *revoked: str, now=None) -> bytes:
    """The CRL of seed 7's CA after revoking ``revoked`` (issued as in ``pki``), made in a
    folder of its own: a container's PKI copy stays as it was."""
    authority = Pki(7, directory, now=now, secret=CA)
    for hostname in revoked:
        authority.issue(hostname, "Some Org", revoked=True)
    return authority.crl_pem()


def test_check_crl_takes_only_a_newer_crl_of_the_sandbox_ca(tmp_path):
    from datetime import UTC, datetime, timedelta

    issuer = Pki(7, secret=CA).issuing.certificate
    first = revocation.check_crl(_crl_after(tmp_path / "a"), issuer)
    second = revocation.check_crl(_crl_after(tmp_path / "b", UNLISTED), issuer, first)
    assert revocation.check_crl(_crl_after(tmp_path / "c", UNLISTED, CLIENT), issuer, second)
    with pytest.raises(revocation.CrlRefused, match="not signed by the sandbox CA"):
        revocation.check_crl(Pki(8).crl_pem(), issuer)  # another CA (seed), however new
    with pytest.raises(revocation.CrlRefused, match="not signed"):  # the root signs no leaf's CRL
        seven = Pki(7, secret=CA)
        revocation.check_crl(seven.crl_pem(), seven.root.certificate)
    with pytest.raises(revocation.CrlRefused, match="not a PEM CRL"):
        revocation.check_crl(b"nonsense", issuer)
    long_ago = datetime(2024, 3, 1, tzinfo=UTC)  # its nextUpdate is a year later: past
    with pytest.raises(revocation.CrlRefused, match="expired"):
        revocation.check_crl(_crl_after(tmp_path / "d", now=long_ago), issuer)
    with pytest.raises(revocation.CrlStale, match="lower"):  # an old CRL: unrevokes UNLISTED
        revocation.check_crl(_crl_after(tmp_path / "e"), issuer, second)
    with pytest.raises(revocation.CrlStale, match="drops"):  # same number, another serial
        revocation.check_crl(_crl_after(tmp_path / "f", CLIENT), issuer, second)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with pytest.raises(revocation.CrlStale, match="thisUpdate"):  # a higher number, dated earlier
        revocation.check_crl(_crl_after(tmp_path / "g", UNLISTED, CLIENT, now=yesterday), issuer,
                      second)


def test_a_crl_file_moves_only_forward_and_outlives_a_restart(tmp_path):
    directory = tmp_path / "pki"
    authority = Pki(7, directory, secret=CA)
    own = tmp_path / "node" / "crl.pem"
    crl = revocation.CrlFile(directory, own)  # made from the PKI folder's
    assert own.read_bytes() == (directory / "crl.pem").read_bytes() and crl.number == 1
    old = own.read_bytes()
    authority.issue(CLIENT, "Client Org", revoked=True)  # the local runtime's `ca revoke`
    assert crl.adopt_published() and crl.number == 2 and own.read_bytes() != old
    with pytest.raises(revocation.CrlStale):
        crl.offer(old)
    (directory / "crl.pem").write_bytes(old)  # an older copy in the folder, e.g. a volume
    again = revocation.CrlFile(directory, own)  # the node restarts: it keeps the newer own copy
    assert again.number == 2 and own.read_bytes() == crl.pem


def test_server_and_client_contexts_follow_the_nodes_own_crl_file(tmp_path, monkeypatch):
    """In containers the PKI folder is a copy made at `up`: a node checks handshakes against
    its own CRL file, both as a server (a revoked client) and as a client (a revoked server),
    without a restart and without a new client."""
    from sandbox.pki import server_context
    from tests.sandbox.test_pki import handshake

    monkeypatch.setattr(tls, "_trusted", [])
    monkeypatch.setattr(tls, "_contexts", {})
    monkeypatch.setattr(tls, "_crl_files", {})
    monkeypatch.setattr(tls.LiveClientContext, "CHECK_SECONDS", 0.0)
    directory = tmp_path / "pki"
    authority = Pki(7, directory, secret=CA)
    for hostname in (SERVER, CLIENT):
        authority.issue(hostname, "Some Org")
    folder_crl = (directory / "crl.pem").read_bytes()
    crl = revocation.CrlFile(directory, tmp_path / "node" / "crl.pem")
    tls.follow_crl(directory, crl.path)
    monkeypatch.setattr(tls, "_identity", None)
    tls.use_identity(directory, CLIENT)
    live = tls.LiveServerContext(directory, SERVER, crl.path)
    client = tls.client_ssl_context()
    assert handshake(live.context, client, SERVER).get("reply") == b"pong:ping"

    assert crl.offer(_crl_after(tmp_path / "copy", CLIENT)) and live.refresh()
    refused = handshake(live.context, client, SERVER)
    assert "reply" not in refused and "revoked" in str(refused.get("server_error")), refused
    assert (directory / "crl.pem").read_bytes() == folder_crl  # the folder's is not used

    crl.offer(_crl_after(tmp_path / "copy2", CLIENT, SERVER))
    static_server = server_context(directory, SERVER, check_crl=False)
    refused = handshake(static_server, client, SERVER)  # the same client context object
    assert "revoked" in str(refused.get("client_error")), refused


def test_long_lived_clients_refuse_a_server_revoked_while_they_run(tmp_path, monkeypatch):
    """httpx keeps its SSL context for the client's life; the live client context makes each
    new connection with the CRL of now (sync ``wrap_socket`` and async ``wrap_bio``)."""
    from simulators.common.http import AsyncResolvingTransport

    monkeypatch.setattr(tls, "_trusted", [])
    monkeypatch.setattr(tls, "_contexts", {})
    monkeypatch.setattr(tls, "_crl_files", {})
    monkeypatch.setattr(tls, "_identity", None)
    monkeypatch.setattr(tls.LiveClientContext, "CHECK_SECONDS", 0.0)
    directory = tmp_path / "pki"
    authority = Pki(7, directory, secret=CA)
    for hostname in (SERVER, CLIENT):
        authority.issue(hostname, "Some Org")
    tls.use_identity(directory, CLIENT)
    server = _serve(directory, tls.PeerCertProtocol)
    addresses = {SERVER: f"https://127.0.0.1:{next(server)}"}
    close = {"Connection": "close"}  # the next request opens a new connection

    async def async_calls() -> str:
        async with httpx.AsyncClient(transport=AsyncResolvingTransport(addresses)) as http:
            first = await http.get(f"https://{SERVER}/", headers=close)
            authority.revoke(SERVER)
            with pytest.raises(httpx.ConnectError, match="revoked"):
                await http.get(f"https://{SERVER}/")
            return first.text

    try:
        with httpx.Client(transport=ResolvingTransport(addresses)) as sync_http:
            assert sync_http.get(f"https://{SERVER}/", headers=close).text == CLIENT
            assert asyncio.run(async_calls()) == CLIENT
            with pytest.raises(httpx.ConnectError, match="revoked"):
                sync_http.get(f"https://{SERVER}/")
    finally:
        next(server, None)


def test_the_crl_follower_takes_a_newer_crl_and_keeps_it_against_a_forged_one(tmp_path):
    """What a container node does with its list refresh: fetch the registry's CRL over real
    HTTP, take it under check_crl, tell the server context; refuse and keep on a bad one."""
    from simulators.common.lists import CrlFollower

    directory = tmp_path / "pki"
    Pki(7, directory, secret=CA)
    published = {"body": _crl_after(tmp_path / "newer", CLIENT)}

    async def distribution_point(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": published["body"]})

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(distribution_point, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    crl = revocation.CrlFile(directory, tmp_path / "node" / "crl.pem")
    changes: list[int] = []

    async def follow() -> list[bool]:
        async with httpx.AsyncClient() as http:
            follower = CrlFollower(f"http://127.0.0.1:{port}{tls.CRL_PATH}", http, 5.0, crl,
                                   lambda: changes.append(crl.number))
            taken = [await follower.refresh(), await follower.refresh()]
            published["body"] = Pki(8).crl_pem()  # forged: another CA
            taken.append(await follower.refresh())
            assert "not signed" in follower.refusals[-1]["reason"]
            return taken

    try:
        assert asyncio.run(follow()) == [True, False, False]
    finally:
        server.should_exit = True
        thread.join(5)
    assert changes == [2] and crl.path.read_bytes() == _crl_after(tmp_path / "again", CLIENT)


def test_the_issuing_ca_is_found_in_the_bundle_when_its_own_file_is_not_there(tmp_path):
    """A Kubernetes deployment projects only the CA bundle and the CRL into /state/pki: a
    node must still find the CA that signs the CRL, or it would not start."""
    directory = tmp_path / "pki"
    Pki(7, directory, secret=CA)
    (directory / "issuing-ca.crt").unlink()
    assert revocation.issuing_ca(directory) == Pki(7, secret=CA).issuing.certificate
    assert revocation.CrlFile(directory, tmp_path / "node" / "crl.pem").number == 1


def _live_with_a_revoked_peer(tmp_path, monkeypatch):
    """(the CA, its folder, a server's live context looking at every refresh, the (issuer,
    serial) of a revoked client)."""
    monkeypatch.setattr(tls.LiveServerContext, "CHECK_SECONDS", 0.0)
    directory = tmp_path / "pki"
    authority = Pki(7, directory, secret=CA)
    authority.issue(SERVER, "Some Org")
    gone = authority.issue(CLIENT, "Some Org", revoked=True)
    live = tls.LiveServerContext(directory, SERVER)
    revoked = tls.cert_id(gone.certificate.public_bytes(serialization.Encoding.DER))
    return authority, directory, live, revoked


def test_a_pki_folder_being_remade_leaves_the_live_context_as_it_was(tmp_path, monkeypatch):
    """Rule (``LiveServerContext.refresh``): files that cannot be read when the CRL changed
    (a PKI folder being remade: its keys gone) keep the context and the revocations it had,
    instead of failing every later handshake and back-channel request with an exception."""
    authority, directory, live, revoked = _live_with_a_revoked_peer(tmp_path, monkeypatch)
    before = live.current
    assert live.revoked_now(revoked)
    key = (directory / f"{SERVER}.key").read_bytes()
    (directory / f"{SERVER}.key").unlink()
    (directory / "crl.pem").write_bytes(b"being rewritten")
    assert live.refresh() is False and live.current is before
    assert live.revoked_now(revoked)
    (directory / "crl.pem").write_bytes(authority.crl_pem())  # the CRL first, the key later
    assert live.refresh() is False and live.current is before
    (directory / f"{SERVER}.key").write_bytes(key)  # the CRL file unchanged since: still taken
    assert live.refresh() is True and live.current is not before
    assert live.revoked_now(revoked)


def test_a_crl_gone_for_a_moment_revokes_no_less(tmp_path, monkeypatch):
    """Rule: a CRL file that is missing (being replaced) keeps the revocations the context
    had; without it the per-request gate and resumed sessions let revoked peers through."""
    _, directory, live, revoked = _live_with_a_revoked_peer(tmp_path, monkeypatch)
    (directory / "crl.pem").unlink()
    assert live.revoked_now(revoked)
