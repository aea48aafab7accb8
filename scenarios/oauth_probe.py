"""The OAuth flow driven up to the code, for scenarios and tests that act as a DVP's back end
(probing what a DVA grants or refuses)."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from sandbox.state import Running
from scenarios.flow import authorization_code
from scenarios.useragent import Browser
from simulators.medmij import build_scope


def authorize_url(sandbox: Running, provider: str, client: str, redirect_uri: str,
                  state: str = "s1", scope: str | None = None) -> str:
    p = sandbox.topology.provider(provider)
    query = urlencode({"response_type": "code", "client_id": client,
                       "redirect_uri": redirect_uri, "scope": scope or build_scope(p.name),
                       "state": state})
    return sandbox.public_url(p.dva, f"/oauth/authorize?{query}")


def get_code(sandbox: Running, provider: str, bsn: str, dvp: str = "pgo-alpha",
             long_lived: bool = False) -> tuple[str, str]:
    """Run authorize -> DigiD -> consent as the person (``scenarios.flow.authorization_code``);
    return (code, redirect_uri)."""
    redirect_uri = sandbox.public_url(dvp, "/oauth/callback")
    client = sandbox.topology.node(dvp).hostname
    with Browser(sandbox.info.addresses) as browser:
        code = browser.run(authorization_code(
            authorize_url(sandbox, provider, client, redirect_uri), bsn, long_lived=long_lived))
    return code, redirect_uri


def token_url(sandbox: Running, provider: str) -> str:
    return sandbox.public_url(sandbox.topology.provider(provider).dva, "/oauth/token")


def resource_base(sandbox: Running, provider: str, service: str = "48") -> str:
    p = sandbox.topology.provider(provider)
    return sandbox.public_url(p.dva, f"/fhir/{p.slug}/{service}")


def exchange(client: httpx.Client, sandbox: Running, provider: str, code: str,
             redirect_uri: str, client_id: str) -> httpx.Response:
    return client.post(token_url(sandbox, provider), data={
        "grant_type": "authorization_code", "code": code, "client_id": client_id,
        "redirect_uri": redirect_uri})


def refresh(client: httpx.Client, sandbox: Running, provider: str, refresh_token: str,
            client_id: str) -> httpx.Response:
    return client.post(token_url(sandbox, provider), data={
        "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id})
