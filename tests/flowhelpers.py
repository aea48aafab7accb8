"""Test-side pieces of the OAuth flow: a browser that stops at the redirect with the code."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode, urlsplit

from sandbox.state import Running
from scenarios.useragent import Browser


def pick_person(sandbox: Running, provider: str, start: int = 0) -> str:
    browser = Browser(sandbox.info.addresses)
    try:
        r = browser.get(sandbox.url("digid", "/api/test-persons"),
                        params={"provider": provider, "n": 1, "start": start})
        r.raise_for_status()
        return r.json()[0]["bsn"]
    finally:
        browser.close()


def authorize_url(sandbox: Running, provider_slug: str, client: str, redirect_uri: str,
                  state: str = "s1", scope: str | None = None) -> str:
    provider = sandbox.topology.provider(provider_slug)
    query = urlencode({"response_type": "code", "client_id": client,
                       "redirect_uri": redirect_uri, "scope": scope or provider.slug,
                       "state": state})
    return sandbox.public_url(provider.dva, f"/oauth/authorize?{query}")


def get_code(sandbox: Running, provider: str, bsn: str, dvp: str = "pgo-alpha",
             long_lived: bool = False) -> tuple[str, str]:
    """Run authorize -> DigiD -> consent as the person; return (code, redirect_uri)."""
    redirect_uri = sandbox.public_url(dvp, "/oauth/callback")
    client = sandbox.topology.node(dvp).hostname
    browser = Browser(sandbox.info.addresses)
    try:
        r = browser.get(authorize_url(sandbox, provider, client, redirect_uri))
        assert r.status_code == 302, r.text
        page = browser.get(browser.location(r))
        r = browser.submit(page, {"bsn": bsn})
        consent = browser.get(browser.location(r))
        assert consent.status_code == 200, consent.headers
        r = browser.submit(consent, button=("decision", "allow"),
                           checked=("long_lived",) if long_lived else ())
        location = browser.location(r)
        assert location.startswith(redirect_uri)
        params = parse_qs(urlsplit(location).query)
        assert params["state"] == ["s1"]
        return params["code"][0], redirect_uri
    finally:
        browser.close()


def token_endpoint(sandbox: Running, provider: str) -> str:
    return sandbox.public_url(sandbox.topology.provider(provider).dva, "/oauth/token")


def resource_base(sandbox: Running, provider: str, service: str = "48") -> str:
    p = sandbox.topology.provider(provider)
    return sandbox.public_url(p.dva, f"/fhir/{p.slug}/{service}")


def set_clock(sandbox: Running, offset_seconds: float) -> None:
    path = sandbox.state_dir / "clock.json"
    if offset_seconds:
        path.write_text(json.dumps({"offset_seconds": offset_seconds}))
    else:
        path.unlink(missing_ok=True)
