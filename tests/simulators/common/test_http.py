"""The shared HTTP client survives a server that closes keep-alive connections (issue 11,
item 13): its keep-alive expiry is below the nodes' server timeout, and a safe request whose
reused connection is reset is retried once on a fresh one; a POST that may have reached the
server is not."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

import httpx
import pytest

from simulators.common.http import (
    KEEPALIVE_EXPIRY,
    SERVER_KEEP_ALIVE,
    async_client,
    sync_client,
)
from simulators.serve import UVICORN_OPTIONS


class ClosingServer:
    """An HTTP/1.1 server that answers the first request on each connection with keep-alive,
    then resets that connection when the next request arrives (as a server whose keep-alive
    timer fires just as the client sends). Counts the requests it received."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests: list[str] = []
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_request(conn: socket.socket) -> str | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += conn.recv(65536)
        return head.split(b"\r\n")[0].decode()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            first = self._read_request(conn)
            if first is None:
                return
            self.requests.append(first)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n"
                         b"\r\nok")
            second = self._read_request(conn)
            if second is not None:
                self.requests.append(second)
            # reset, no answer: SO_LINGER 0 makes close() send RST (the client sees ReadError)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server():
    s = ClosingServer()
    yield s
    s.close()


def test_client_keepalive_expires_before_the_servers():
    assert UVICORN_OPTIONS["timeout_keep_alive"] == SERVER_KEEP_ALIVE
    assert KEEPALIVE_EXPIRY < SERVER_KEEP_ALIVE - 1
    with sync_client({}) as client:
        pool = client._transport.transport._pool
        assert pool._keepalive_expiry == KEEPALIVE_EXPIRY


def test_sync_get_on_a_reset_connection_is_retried_once(server):
    with sync_client({}) as client:
        assert client.get(server.url + "/a").text == "ok"
        assert client.get(server.url + "/b").text == "ok"  # reset, then a fresh connection
    assert server.requests == ["GET /a HTTP/1.1", "GET /b HTTP/1.1", "GET /b HTTP/1.1"]
    assert server.connections == 2


def test_async_get_on_a_reset_connection_is_retried_once(server):
    async def run() -> list[str]:
        async with async_client({}) as client:
            return [(await client.get(server.url + p)).text for p in ("/a", "/b")]

    assert asyncio.run(run()) == ["ok", "ok"]
    assert server.requests.count("GET /b HTTP/1.1") == 2


def test_post_that_reached_the_server_is_not_sent_twice(server):
    """A token request whose connection died after sending may have burnt the code: the
    error goes to the caller, not a second POST."""
    with sync_client({}) as client:
        assert client.get(server.url + "/a").text == "ok"
        with pytest.raises(httpx.TransportError):
            client.post(server.url + "/oauth/token", data={"grant_type": "authorization_code"})
    assert server.requests.count("POST /oauth/token HTTP/1.1") == 1


def test_a_request_that_could_not_connect_is_tried_twice_then_fails():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    calls = []

    class Counting(httpx.HTTPTransport):
        def handle_request(self, request):
            calls.append(request.method)
            return super().handle_request(request)

    from simulators.common.http import RetryOnReset

    with httpx.Client(transport=RetryOnReset(Counting())) as client:
        with pytest.raises(httpx.ConnectError):
            client.post(f"http://127.0.0.1:{port}/oauth/token", data={"x": "1"})
    assert calls == ["POST", "POST"]  # nothing was sent: a second try is harmless


FAILING_SCENARIO = '''
import httpx
from scenarios.report import ScenarioReport, StepFailed


def test_drill():
    report = ScenarioReport("bankruptcy")
    for i in range(12):
        with report.step(f"background collect {i}", correlation_id=f"corr-{i}") as s:
            s["detail"] = "x" * 80
    try:
        with report.step("token request", correlation_id="corr-token"):
            raise httpx.ReadError("connection reset by peer")
    except StepFailed:
        pass
    report.summary = {"users": 2, "cut_off_per_dva_s": {"dva-nexus": 1.5, "dva-lumen": 1.7}}
    report.mark("vendor off the OCL")
    assert report.ok, report.to_dict()
'''


def test_failing_scenario_assertion_shows_the_failed_step_and_its_error(tmp_path):
    """pytest cuts an assertion message's repr to 240 characters: the failed step and its
    error must come first, not the first passed steps' timings."""
    import subprocess
    import sys

    (tmp_path / "test_drill.py").write_text(FAILING_SCENARIO)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(tmp_path / "test_drill.py")], capture_output=True, text=True,
                         cwd=tmp_path)
    assert run.returncode == 1
    assert "AssertionError: FAILED step 'token request': ReadError: connection reset by peer" \
        in run.stdout, \
        run.stdout[-2000:]
    assert "[corr corr-token]" in run.stdout
