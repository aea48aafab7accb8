"""The HTTP client every node and scenario uses: MedMij headers and hostname resolution.

In the ``medmij`` profile the lists name https://<hostname> URIs; the runtime's address map
says where each hostname is reachable, so the client rewrites the URL at the transport, below
redirects and cookies, exactly where DNS and TLS would sit.

Keep-alive: a client drops an idle connection (``KEEPALIVE_EXPIRY``) well before the nodes'
uvicorn closes it (``SERVER_KEEP_ALIVE``); with equal timers a request could leave on a
connection the server was closing at that moment and die with a ``ReadError``. What remains
of that race (a node restarted, a proxy) is absorbed by ``RetryOnReset``: one retry on a
fresh connection where that cannot do a request twice.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import httpx

from simulators.common import tls
from simulators.common.events import agent
from simulators.medmij import CORRELATION_ID, MEDMIJ_REQUEST_ID


def _rewrite(request: httpx.Request, addresses: dict[str, str],
             names: dict[tuple[str, int], str]) -> httpx.Request:
    """The request as sent to the mapped address. A copy: the client keeps the original, so
    cookies and redirects stay bound to the MedMij hostname, as in a browser.

    An https address (the local ``medmij`` profile) keeps the hostname for TLS: the
    connection goes to the address, SNI and certificate verification use the hostname (the
    ``sni_hostname`` extension) and the Host header stays. A URL that names such an address
    directly (``Running.url``) is verified against the hostname mapped there (``names``)."""
    host = request.url.host
    base = addresses.get(host)
    if base is None:
        name = names.get((host, request.url.port or 443)) if request.url.scheme == "https" \
            else None
        if name is None or "sni_hostname" in request.extensions:
            return request
        return httpx.Request(request.method, request.url, headers=request.headers,
                             stream=request.stream,
                             extensions={**request.extensions, "sni_hostname": name})
    target = urlsplit(base)
    url = request.url.copy_with(scheme=target.scheme, host=target.hostname, port=target.port)
    headers = request.headers.copy()
    extensions = request.extensions
    if target.scheme == "https":
        extensions = {**extensions, "sni_hostname": host}
    else:
        headers["Host"] = url.netloc.decode()
    return httpx.Request(request.method, url, headers=headers, stream=request.stream,
                         extensions=extensions)


def _tls_names(addresses: dict[str, str]) -> dict[tuple[str, int], str]:
    """(address, port) -> hostname for every https address of the map."""
    names = {}
    for hostname, base in addresses.items():
        parts = urlsplit(base)
        if parts.scheme == "https" and parts.hostname and parts.hostname != hostname:
            names[(parts.hostname, parts.port or 443)] = hostname
    return names


class ResolvingTransport(httpx.HTTPTransport):
    def __init__(self, addresses: dict[str, str], **kwargs) -> None:
        super().__init__(**_tls_options(addresses, kwargs))
        self.addresses = addresses
        self.names = _tls_names(addresses)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return super().handle_request(_rewrite(request, self.addresses, self.names))


class AsyncResolvingTransport(httpx.AsyncHTTPTransport):
    def __init__(self, addresses: dict[str, str], **kwargs) -> None:
        super().__init__(**_tls_options(addresses, kwargs))
        self.addresses = addresses
        self.names = _tls_names(addresses)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await super().handle_async_request(
            _rewrite(request, self.addresses, self.names))


def _tls_options(addresses: dict[str, str], kwargs: dict,
                 present_identity: bool = True) -> dict:
    """With https addresses in the map: trust the sandbox CA (and present this node's
    certificate unless ``present_identity`` is off, see ``simulators.common.tls``) unless the
    caller chose ``verify`` itself."""
    if "verify" not in kwargs and any(b.startswith("https://") for b in addresses.values()):
        return {**kwargs, "verify": tls.client_ssl_context(present_identity)}
    return kwargs


SERVER_KEEP_ALIVE = 5.0  # seconds uvicorn keeps an idle connection (serve.UVICORN_OPTIONS)
KEEPALIVE_EXPIRY = 3.0  # seconds a client keeps one: below the server's, never equal
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Nothing reached the server: any request may be sent again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.WriteError)
# The connection broke after the request left: only a safe request may be sent again.
RESET = (httpx.ReadError, httpx.RemoteProtocolError)


def _may_retry(request: httpx.Request, exc: Exception) -> bool:
    """Retry once when sending again cannot do the request twice: nothing was sent (connect
    or write failed), or the request is safe (GET, HEAD, OPTIONS) and the connection was
    reset before an answer came. A POST whose connection died after sending (a token request)
    is not retried: the server may have issued the token and burnt the code."""
    if not isinstance(request.stream, httpx.ByteStream):
        return False  # a streamed body cannot be sent twice
    if isinstance(exc, NOT_SENT):
        return True
    return request.method in SAFE_METHODS and isinstance(exc, RESET)


class RetryOnReset(httpx.BaseTransport):
    """Wraps a transport: one retry of a request whose connection was reset (see _may_retry)."""

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self.transport = transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self.transport.handle_request(request)
        except (*NOT_SENT, *RESET) as exc:
            if not _may_retry(request, exc):
                raise
        return self.transport.handle_request(request)

    def close(self) -> None:
        self.transport.close()


class AsyncRetryOnReset(httpx.AsyncBaseTransport):
    """Wraps an async transport: one retry of a request whose connection was reset."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self.transport.handle_async_request(request)
        except (*NOT_SENT, *RESET) as exc:
            if not _may_retry(request, exc):
                raise
        return await self.transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self.transport.aclose()


def medmij_headers(correlation_id: str | None = None) -> dict[str, str]:
    """A fresh MedMij-Request-ID for every request, the flow's X-Correlation-ID when known."""
    headers = {MEDMIJ_REQUEST_ID: str(uuid.uuid4())}
    if correlation_id:
        headers[CORRELATION_ID] = correlation_id
    return headers


def _name_only(addresses: dict[str, str]) -> dict[str, str]:
    """Rewrite a hostname unless its address already is the https://<hostname> the lists name
    (in containers the map is hostname -> http://hostname:8000: still a rewrite)."""
    return {host: base for host, base in addresses.items()
            if base.rstrip("/") != f"https://{host}"}


def async_client(addresses: dict[str, str], timeout: float = 60.0,
                 node_id: str | None = None, present_identity: bool = True
                 ) -> httpx.AsyncClient:
    """A node's client for its peers; with ``node_id`` its User-Agent names the node, so the
    peers' hop events say who called (see ``simulators.common.events``). Without
    ``present_identity`` it presents no certificate (a CRL distribution point is fetched so)."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50,
                          keepalive_expiry=KEEPALIVE_EXPIRY)
    # TLS options from the whole map: a container's https://<hostname> entries are not
    # rewritten, yet their calls must trust the sandbox CA and present the node's certificate
    transport = AsyncResolvingTransport(
        _name_only(addresses), **_tls_options(addresses, {"limits": limits}, present_identity))
    headers = {"User-Agent": agent(node_id)} if node_id else None
    return httpx.AsyncClient(transport=AsyncRetryOnReset(transport), timeout=timeout,
                             headers=headers)


def sync_client(addresses: dict[str, str], timeout: float = 60.0) -> httpx.Client:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20,
                          keepalive_expiry=KEEPALIVE_EXPIRY)
    transport = ResolvingTransport(_name_only(addresses),
                                   **_tls_options(addresses, {"limits": limits}))
    return httpx.Client(transport=RetryOnReset(transport), timeout=timeout)
