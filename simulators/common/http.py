"""The HTTP client every node and scenario uses: MedMij headers and hostname resolution.

In the ``medmij`` profile the lists name https://<hostname> URIs; the runtime's address map
says where each hostname is reachable, so the client rewrites the URL at the transport, below
redirects and cookies, exactly where DNS and TLS would sit.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import httpx


def _rewrite(request: httpx.Request, addresses: dict[str, str]) -> None:
    base = addresses.get(request.url.host)
    if base is None:
        return
    target = urlsplit(base)
    request.url = request.url.copy_with(
        scheme=target.scheme, host=target.hostname, port=target.port
    )
    request.headers["Host"] = request.url.netloc.decode()


class ResolvingTransport(httpx.HTTPTransport):
    def __init__(self, addresses: dict[str, str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.addresses = addresses

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _rewrite(request, self.addresses)
        return super().handle_request(request)


class AsyncResolvingTransport(httpx.AsyncHTTPTransport):
    def __init__(self, addresses: dict[str, str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.addresses = addresses

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _rewrite(request, self.addresses)
        return await super().handle_async_request(request)


def medmij_headers(correlation_id: str | None = None) -> dict[str, str]:
    """A fresh MedMij-Request-ID for every request, the flow's X-Correlation-ID when known."""
    headers = {"MedMij-Request-ID": str(uuid.uuid4())}
    if correlation_id:
        headers["X-Correlation-ID"] = correlation_id
    return headers


def _name_only(addresses: dict[str, str]) -> dict[str, str]:
    """Only hostnames (not already-reachable base URLs) need rewriting."""
    return {host: base for host, base in addresses.items() if urlsplit(base).hostname != host}


def async_client(addresses: dict[str, str], timeout: float = 60.0) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    transport = AsyncResolvingTransport(_name_only(addresses), limits=limits)
    return httpx.AsyncClient(transport=transport, timeout=timeout)


def sync_client(addresses: dict[str, str], timeout: float = 60.0) -> httpx.Client:
    transport = ResolvingTransport(_name_only(addresses))
    return httpx.Client(transport=transport, timeout=timeout)
