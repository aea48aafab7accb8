"""Test-side pieces of the OAuth flow (shared with the scenarios' probes)."""

from __future__ import annotations

import json

from sandbox.state import Running
from scenarios.oauth_probe import authorize_url, get_code, resource_base
from scenarios.oauth_probe import token_url as token_endpoint
from scenarios.persons import find_persons
from scenarios.useragent import Browser
from simulators.common import clock

__all__ = ["authorize_url", "get_code", "pick_person", "resource_base", "set_clock",
           "token_endpoint"]


def pick_person(sandbox: Running, provider: str, start: int = 0) -> str:
    browser = Browser(sandbox.info.addresses)
    try:
        return find_persons(browser, sandbox, provider, start=start)[0]["bsn"]
    finally:
        browser.close()


def set_clock(sandbox: Running, offset_seconds: float) -> None:
    path = sandbox.state_dir / "clock.json"
    if offset_seconds:
        path.write_text(json.dumps({"offset_seconds": offset_seconds}))
    else:
        path.unlink(missing_ok=True)
    clock.settle()  # every node has looked at the clock again
