"""The HTTP client every node and scenario uses: MedMij headers and hostname resolution.

In the ``medmij`` profile the lists name https://<hostname> URIs; the runtime's address map
says where each hostname is reachable, so the client rewrites the URL at the transport, below
redirects and cookies, exactly where DNS and TLS would sit.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import httpx


def _rewrite(request: httpx.Request, addresses: dict[str, str]) -> httpx.Request:
    """The request as sent to the mapped address. A copy: the client keeps the original, so
    cookies and redirects stay bound to the MedMij hostname, as in a browser."""
    base = addresses.get(request.url.host)
    if base is None:
        return request
    target = urlsplit(base)
    url = request.url.copy_with(scheme=target.scheme, host=target.hostname, port=target.port)
    headers = request.headers.copy()
    headers["Host"] = url.netloc.decode()
    return httpx.Request(request.method, url, headers=headers, stream=request.stream,
                         extensions=request.extensions)


class ResolvingTransport(httpx.HTTPTransport):
    def __init__(self, addresses: dict[str, str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.addresses = addresses

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return super().handle_request(_rewrite(request, self.addresses))


class AsyncResolvingTransport(httpx.AsyncHTTPTransport):
    def __init__(self, addresses: dict[str, str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.addresses = addresses

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await super().handle_async_request(_rewrite(request, self.addresses))


def medmij_headers(correlation_id: str | None = None) -> dict[str, str]:
    """A fresh MedMij-Request-ID for every request, the flow's X-Correlation-ID when known."""
    headers = {"MedMij-Request-ID": str(uuid.uuid4())}
    if correlation_id:
        headers["X-Correlation-ID"] = correlation_id
    return headers


def _name_only(addresses: dict[str, str]) -> dict[str, str]:
    """Rewrite a hostname unless its address already is the https://<hostname> the lists name
    (in containers the map is hostname -> http://hostname:8000: still a rewrite)."""
    return {host: base for host, base in addresses.items()
            if base.rstrip("/") != f"https://{host}"}


def async_client(addresses: dict[str, str], timeout: float = 60.0) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    transport = AsyncResolvingTransport(_name_only(addresses), limits=limits)
    return httpx.AsyncClient(transport=transport, timeout=timeout)


def sync_client(addresses: dict[str, str], timeout: float = 60.0) -> httpx.Client:
    transport = ResolvingTransport(_name_only(addresses))
    return httpx.Client(transport=transport, timeout=timeout)
