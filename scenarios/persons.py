"""Test persons for a flow, as the DigiD simulator lists them (``/api/test-persons``)."""

from __future__ import annotations

from sandbox.names import unknown_message
from sandbox.state import Running
from scenarios.useragent import FlowError


def find_persons(client, running: Running, provider: str, n: int = 1, start: int = 0,
                 service: str | None = None) -> list[dict]:
    """``n`` persons (index, bsn, name) the provider holds data for, from ``start`` on.

    ``client`` is anything with ``get`` (a scenario's Browser, an httpx client). A provider
    the topology does not have is named as such, not as "only 0 test persons"."""
    known = [p.name for p in running.topology.providers]
    if provider not in known:
        raise FlowError(unknown_message("provider", provider, known))
    params = {"provider": provider, "n": n, "start": start} | (
        {"service": service} if service else {})
    r = client.get(running.url("digid", "/api/test-persons"), params=params)
    r.raise_for_status()
    found = r.json()
    if len(found) < n:
        raise FlowError(f"only {len(found)} test persons with data at {provider}")
    return found
