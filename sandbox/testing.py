"""Faults from your own test suite (issue 16): a pytest plugin for a running sandbox.

A developer testing their own PGO or DVA against the sandbox needs it to misbehave on purpose
for one test and behave again after it. With a sandbox running (``pgo-sandbox up``)::

    # conftest.py
    pytest_plugins = ["sandbox.testing"]

    # test_my_pgo.py
    def test_my_pgo_survives_a_slow_dva(sandbox_faults):
        with sandbox_faults.fault("dva-nexus", "slow", ms=3000, provider="umcsandbox@medmij"):
            ...  # drive your PGO; every FHIR answer of that provider takes 3 s
        assert sandbox_faults.fired("dva-nexus", "slow")

The fixture finds the sandbox as the CLI does (``$PGO_SANDBOX_HOME`` or ``~/.pgo-sandbox``;
``--sandbox-state DIR`` overrides) and clears every fault it added when the test ends, so a
failing test leaves no fault behind. The same calls work without pytest:
``Faults(running()).add(...)``. Under the hood it is the nodes' admin API
(``/admin/faults``, see ``docs/faults.md``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.state import Running, running
from simulators.common.http import sync_client


class FaultRefused(RuntimeError):
    """A node refused a fault (unknown kind, a kind that does not fire there, bad params)."""


class Faults:
    """The fault API of every node of one running sandbox."""

    def __init__(self, sandbox: Running, timeout: float = 30.0) -> None:
        self.sandbox = sandbox
        self.timeout = timeout
        self.added: list[tuple[str, str]] = []  # (node, fault id), for cleanup

    def nodes(self) -> list[str]:
        return [n.id for n in self.sandbox.topology.nodes]

    def _call(self, node: str, method: str, path: str, body: dict | None = None) -> Any:
        with sync_client(self.sandbox.info.addresses, timeout=self.timeout) as client:
            r = client.request(method, self.sandbox.url(node, path), json=body,
                               headers=self.sandbox.admin_headers)
        if r.status_code >= 400:
            try:
                reason = r.json().get("error_description", r.text)
            except ValueError:
                reason = r.text
            raise FaultRefused(f"{node} refused ({r.status_code}): {reason}")
        return r.json()

    def add(self, node: str, kind: str, *, provider: str | None = None,
            client: str | None = None, person: str | int | None = None,
            path: str | None = None, count: int | None = None, seconds: float | None = None,
            probability: float | None = None, params: dict[str, Any] | None = None,
            **kind_params: Any) -> dict:
        """Switch a fault on at ``node``; the fault as the node has it (with its ``id``).
        The kind's params as keywords (``status=429``) or, where a name is taken (clock_jump's
        ``seconds``), as ``params={...}``."""
        params = {**(params or {}), **kind_params}
        match = {k: str(v) for k, v in (("provider", provider), ("client", client),
                                         ("person", person), ("path", path)) if v is not None}
        body = {"kind": kind, "match": match, "count": count, "seconds": seconds,
                "probability": probability, "params": params}
        fault = self._call(node, "POST", "/admin/faults", body)
        self.added.append((node, fault["id"]))
        return fault

    def list(self, node: str) -> list[dict]:
        return self._call(node, "GET", "/admin/faults")["faults"]

    def remove(self, node: str, fault_id: str) -> bool:
        """False when the fault was already gone (its count used up, its time over)."""
        try:
            self._call(node, "DELETE", f"/admin/faults/{fault_id}")
        except FaultRefused as exc:
            if "(404)" in str(exc):
                return False
            raise
        return True

    def clear(self, node: str | None = None) -> int:
        """Clear the faults of one node, or of every node; how many were cleared."""
        return sum(self._call(n, "DELETE", "/admin/faults")["cleared"]
                   for n in ([node] if node else self.nodes()))

    def events(self, node: str, since: int = 0) -> list[dict]:
        """The faults that fired at ``node`` (events ``kind="fault"``: id, name, corr, path)."""
        found = self._call(node, "GET", f"/admin/events?since={since}")
        return [e for e in found["events"] if e["kind"] == "fault"]

    def fired(self, node: str, kind: str, since: int = 0) -> list[dict]:
        return [e for e in self.events(node, since) if e["name"] == kind]

    @contextmanager
    def fault(self, node: str, kind: str, **options: Any) -> Iterator[dict]:
        """A fault for the duration of a ``with`` block, removed afterwards whatever
        happened inside."""
        fault = self.add(node, kind, **options)
        try:
            yield fault
        finally:
            self.remove(node, fault["id"])

    def cleanup(self) -> None:
        """Remove what this object added (the fixture's teardown)."""
        for node, fault_id in reversed(self.added):
            try:
                self.remove(node, fault_id)
            except (FaultRefused, httpx.HTTPError):
                pass  # a node that went away holds no faults any more
        self.added.clear()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--sandbox-state", default=None,
                     help="state directory of the running pgo-sandbox (default "
                          "$PGO_SANDBOX_HOME or ~/.pgo-sandbox)")


@pytest.fixture
def sandbox_faults(request: pytest.FixtureRequest) -> Iterator[Faults]:
    """``Faults`` on the running sandbox; every fault added through it is removed after the
    test."""
    state = request.config.getoption("--sandbox-state", default=None)
    faults = Faults(running(Path(state).resolve() if state else None))
    try:
        yield faults
    finally:
        faults.cleanup()
