"""What the dashboard reads from the ecosystem: every node's events, their health, and the
history of the registry's own lists.

- ``Feed``: the events of every node the sandbox runs, merged in the registry. It polls each
  node's ``GET /admin/events?since=N`` (admin token) while somebody looks (each dashboard
  stream and each journeys request asks for a refresh, at most every ``REFRESH_SECONDS``), so
  there is no background task to leak and nothing is fetched when nobody looks. Nodes keep
  their last events in memory, so a dashboard opened after a collect still sees its journey.
  A node whose ``last`` went down was restarted: its numbering starts again from 0. What a
  node forgets, the feed forgets: each answer names the node's log (``epoch``, new with every
  node process and every curator's erasure, see ``simulators.common.events``), and when it
  changes the feed drops every event it took from that node (the journeys and pages are made
  from these events when asked, so they lose them too) before taking the new ones, and notes
  the drop (``forgotten``) so that open dashboard pages, which hold the events they were sent,
  drop them too. The registry trusts nobody's word for an erasure: it only mirrors what the
  node still serves.
- ``Health``: each node's ``/health`` over HTTP, as the runtime probes it.
- ``ListHistory``: a snapshot of the lists per Volgnummer, so the dashboard can say what
  changed between versions (which provider left the ZAL, which PGO the OCL).

A service: no FastAPI here. Uses the registry node's own HTTP client (its User-Agent names
the registry, so the nodes' hop logs show who polled them).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import httpx

from simulators.common.config import SandboxConfig
from simulators.common.events import EventLog
from simulators.common.http import async_client
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN
from simulators.registry.state import KINDS, RegistryState

REFRESH_SECONDS = 0.4  # at most this often the nodes are polled, however many viewers
POLL_TIMEOUT = 2.0  # a node that does not answer in time is skipped this round
BACKOFF_SECONDS = 5.0  # a node that failed is not asked again for this long
KEEP = 20_000  # merged events kept (a node keeps 5000)
FORGETS_KEPT = 200  # drops remembered for pages that reconnect (each a node and an fseq)
HEALTH_CACHE_SECONDS = 2.0


class Feed:
    """The merged events of every node (``fseq`` numbers them in arrival order)."""

    def __init__(self, config: SandboxConfig, node_id: str, own: EventLog,
                 client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.node_id = node_id
        self.own = own
        self._client = client
        self.events: deque[dict] = deque(maxlen=KEEP)
        self.last_fseq = 0
        self.seen: dict[str, int] = {}  # node id -> last seq taken from it
        self.epochs: dict[str, str | None] = {}  # node id -> the epoch of its log we took from
        self.failed: dict[str, tuple[float, str]] = {}  # node id -> (when, why)
        # (number, node, fseq): the events of ``node`` up to ``fseq`` were dropped; numbered
        # from 1 so a stream knows which it has sent
        self.forgotten: deque[tuple[int, str, int]] = deque(maxlen=FORGETS_KEPT)
        self.forgets = 0
        self._refreshed = 0.0
        self._lock = asyncio.Lock()

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = async_client(self.config.addresses, timeout=POLL_TIMEOUT,
                                        node_id=self.node_id)
        return self._client

    def ingest(self, node: str, events: list[dict], last: int,
               epoch: str | None = None) -> list[dict]:
        """Take a node's events after what we have; another ``epoch`` means the node forgot
        what we took (an erasure, a restart): so do we; a lower ``last`` means it restarted."""
        if node in self.epochs and self.epochs[node] != epoch:
            self.forget(node)  # even when none of its events is left here: a page may hold some
        self.epochs[node] = epoch
        if last < self.seen.get(node, 0):
            self.seen[node] = 0
        taken = []
        for event in events:
            if event.get("seq", 0) <= self.seen.get(node, 0):
                continue
            self.seen[node] = event["seq"]
            self.last_fseq += 1
            merged = {**event, "node": event.get("node", node), "fseq": self.last_fseq}
            self.events.append(merged)
            taken.append(merged)
        return taken

    def forget(self, node: str) -> None:
        """Drop every event taken from ``node`` (``fseq`` goes on: viewers' cursors stay
        valid) and note the drop for open pages (``forgotten``)."""
        self.events = deque((e for e in self.events if e["node"] != node), maxlen=KEEP)
        self.seen.pop(node, None)
        self.forgets += 1
        self.forgotten.append((self.forgets, node, self.last_fseq))

    def forgotten_after(self, number: int) -> list[tuple[int, str, int]]:
        """The drops after the ``number``-th (``forget``), oldest first."""
        return [f for f in self.forgotten if f[0] > number]

    async def refresh(self, force: bool = False) -> None:
        """Poll every node once (all at once), unless that was done a moment ago."""
        async with self._lock:
            if not force and time.monotonic() - self._refreshed < REFRESH_SECONDS:
                return
            self.ingest(self.node_id, self.own.since(self.seen.get(self.node_id, 0)),
                        self.own.last, self.own.epoch)
            others = [n for n in self.config.topology.nodes if n.id != self.node_id]
            await asyncio.gather(*(self._poll(n.id, n.hostname) for n in others))
            self._refreshed = time.monotonic()

    async def _poll(self, node: str, hostname: str) -> None:
        failed = self.failed.get(node)
        if failed and time.monotonic() - failed[0] < BACKOFF_SECONDS:
            return
        try:
            since = self.seen.get(node, 0)
            body = await self._events(hostname, since)
            if since and body.get("epoch") != self.epochs.get(node):
                body = await self._events(hostname, 0)  # a log we never read: all of it is new
            self.ingest(node, list(body["events"]), int(body["last"]), body.get("epoch"))
            self.failed.pop(node, None)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            self.failed[node] = (time.monotonic(), f"{type(exc).__name__}: {exc}")

    async def _events(self, hostname: str, since: int) -> dict:
        """A node's ``GET /admin/events?since=``: ``{"node", "last", "epoch", "events"}``."""
        token = self.config.admin_token or ""
        r = await self.client.get(self.config.public_url(hostname, "/admin/events"),
                                  params={"since": since},
                                  headers={"Authorization": f"Bearer {token}"})
        if r.status_code != 200:
            raise ValueError(f"HTTP {r.status_code}")
        return r.json()

    def since(self, fseq: int) -> list[dict]:
        if fseq >= self.last_fseq:
            return []
        return [e for e in self.events if e["fseq"] > fseq]


class Health:
    """Every node's ``/health`` (ok, starting, down with the reason), cached a moment."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self._cached: tuple[float, dict[str, dict]] | None = None

    async def check(self) -> dict[str, dict]:
        if self._cached and time.monotonic() - self._cached[0] < HEALTH_CACHE_SECONDS:
            return self._cached[1]
        nodes = self.feed.config.topology.nodes
        answers = await asyncio.gather(*(self._probe(n.hostname) for n in nodes))
        result = {n.id: answer for n, answer in zip(nodes, answers, strict=True)}
        self._cached = (time.monotonic(), result)
        return result

    async def _probe(self, hostname: str) -> dict:
        started = time.perf_counter()
        try:
            r = await self.feed.client.get(self.feed.config.public_url(hostname, "/health"))
            ms = round((time.perf_counter() - started) * 1000, 1)
            status = r.json().get("status", "?") if r.status_code in (200, 503) else "down"
            return {"status": status, "http": r.status_code, "ms": ms}
        except (httpx.HTTPError, ValueError) as exc:
            return {"status": "down", "detail": type(exc).__name__}


def snapshot(state: RegistryState) -> dict[str, list[str]]:
    """Each list's entries as short lines people can compare between versions."""
    return {
        "zal": sorted(f"{p.name} bij {p.dva}: {', '.join(p.gegevensdiensten)}"
                      for p in state.providers.values()),
        "ocl": sorted(f"{host} ({name})" for host, name in state.clients.items()),
        "whitelist": sorted(state.nodes),
        "gnl": sorted(f"{gid} {service.weergavenaam}" for gid, service in GEGEVENSDIENSTEN.items()),
    }


class ListHistory:
    """The registry's lists per Volgnummer, and what changed from one version to the next.

    ``observe`` is called after every state-changing request to the registry and before the
    dashboard reads it; two changes between observations show as one step (``v3 → v5``).
    """

    def __init__(self, state: RegistryState) -> None:
        self.state = state
        self.versions = self._versions()
        self.entries = snapshot(state)
        self.changes: list[dict] = []  # newest last

    def _versions(self) -> dict[str, int]:
        return {kind: int(self.state.headers[kind]["volgnummer"]) for kind in KINDS}

    def observe(self) -> None:
        versions = self._versions()
        if versions == self.versions:
            return
        entries = snapshot(self.state)
        for kind in KINDS:
            if versions[kind] == self.versions[kind]:
                continue
            before, after = set(self.entries[kind]), set(entries[kind])
            self.changes.append({
                "list": kind, "from": self.versions[kind], "to": versions[kind],
                "tijdstempel": self.state.headers[kind]["tijdstempel"],
                "added": sorted(after - before), "removed": sorted(before - after)})
        self.versions, self.entries = versions, entries
        del self.changes[:-50]
