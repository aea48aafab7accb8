"""A node's recent events (hops, faults fired, list refreshes), readable over its admin API.

The dashboard, the sequence diagrams, drills and story mode all need to see what happened
where, in whichever runtime the nodes run (local processes, containers, a cluster). Reading
log files only works where the files are; so every node keeps its last events in memory and
serves them over HTTP like any other admin API (Bearer admin token):

- ``GET /admin/events?since=N`` answers ``{"node", "last", "epoch", "events": [...]}`` with
  the events whose ``seq`` is above ``N`` (a poll); ``epoch`` names the log the events come
  from, new with every node process and every ``clear`` (the curator's erasure), so a poller
  that kept earlier events (the registry's dashboard feed) sees that the node has forgotten
  them and forgets them too, whether the numbering went on (an erasure) or started again;
- ``GET /admin/events/stream?since=N`` is the same as server-sent events, one ``data:`` line
  of JSON per event, kept open until the client leaves.

An event is a flat JSON object: ``seq`` (per node, from 1), ``t`` (Unix time, wall clock),
``node``, ``kind`` (``hop``, ``fault``, ...) and the kind's own fields. A ``hop`` has
``method``, ``path``, ``status``, ``ms``, ``corr`` (X-Correlation-ID or ``-``), ``req``
(MedMij-Request-ID or ``-``) and ``caller``: the calling node's id when one of our nodes made
the request (its User-Agent, see ``AGENT_PREFIX``), else ``browser`` or ``client``.

Publishing runs on every request of a node (the resource server's hot path): a hop is kept as
the tuple of what the request gave (the header values as bytes, times unrounded) and made into
its JSON object only when read, which is rare next to the requests (issue 17: built, rounded
and decoded per request, the event cost 2.0 µs of a 7.7 µs warm search in process; kept as
sent, 0.6 µs).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

AGENT_PREFIX = "pgo-sandbox-node/"  # User-Agent of our nodes' own HTTP clients: + node id
KEEP = 5000  # events per node kept in memory (a collect is ~12 hops at the DVA)
HEARTBEAT_SECONDS = 15.0  # an SSE comment so proxies and clients see a live stream


def agent(node_id: str) -> str:
    """The User-Agent our node ``node_id`` sends, so the callee's hops name their caller."""
    return f"{AGENT_PREFIX}{node_id}"


@functools.lru_cache(maxsize=256)  # a node hears a few User-Agents; bounded
def caller_of(user_agent: str) -> str:
    """Who made a request: one of our nodes (by id), a browser, or another client."""
    if user_agent.startswith(AGENT_PREFIX):
        return user_agent[len(AGENT_PREFIX):] or "client"
    return "browser" if user_agent.startswith("Mozilla/") else "client"


class EventLog:
    """The last ``KEEP`` events of one node, and the waiters for new ones.

    Each kept event is a dict (``publish``) or a hop's tuple (``publish_hop``), in ``seq``
    order with no gaps: the events after ``seq`` are the last ``last - seq`` kept. ``epoch``
    is random, not a count: a node erased and then restarted before the next poll must not
    show the epoch the poller saw before the erasure."""

    def __init__(self, node: str, keep: int = KEEP) -> None:
        self.node = node
        self._kept: deque[dict | tuple] = deque(maxlen=keep)
        self.last = 0
        self.epoch = secrets.token_hex(8)
        self._waiters: list[asyncio.Future] = []

    def publish(self, kind: str, **fields: object) -> dict:
        event = {"seq": self.last + 1, "t": round(time.time(), 3), "node": self.node,
                 "kind": kind, **fields}
        self._append(event)
        return event

    def publish_hop(self, t: float, method: str, path: str, status: int, ms: float,
                    corr: bytes, req: bytes, user_agent: bytes) -> None:
        """``publish("hop", method=..., ...)`` of a hop at wall time ``t`` taking ``ms``, with
        the request's X-Correlation-ID, MedMij-Request-ID and User-Agent values as sent
        (``b"-"``, ``b"-"``, ``b""`` when absent): kept as they are, the event is made when
        read (``since``)."""
        self._append((self.last + 1, t, method, path, status, ms, corr, req, user_agent))

    def _append(self, event: dict | tuple) -> None:
        self.last += 1
        self._kept.append(event)
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _event(self, kept: dict | tuple) -> dict:
        if isinstance(kept, dict):
            return kept
        seq, t, method, path, status, ms, corr, req, user_agent = kept
        return {"seq": seq, "t": round(t, 3), "node": self.node, "kind": "hop",
                "method": method, "path": path, "status": status, "ms": round(ms, 2),
                "corr": corr.decode("latin-1"), "req": req.decode("latin-1"),
                "caller": caller_of(user_agent.decode("latin-1"))}

    def clear(self) -> None:
        """Forget every event kept (the curator's erasure: hop paths name persons); the
        sequence goes on, so a poller's ``since`` stays valid, and a new ``epoch`` tells the
        pollers to forget what they took from this log."""
        self._kept.clear()
        self.epoch = secrets.token_hex(8)

    def since(self, seq: int) -> list[dict]:
        """Events after ``seq``, oldest first (those that fell out of the window are gone)."""
        newer = self.last - seq
        if newer <= 0:
            return []
        kept = self._kept
        skip = max(len(kept) - newer, 0)
        return [self._event(e) for e in itertools.islice(kept, skip, None)]

    async def wait(self, seq: int, timeout: float) -> list[dict]:
        """Events after ``seq``; if none yet, wait up to ``timeout`` seconds for one."""
        found = self.since(seq)
        if found:
            return found
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return []
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return self.since(seq)


def events_router(events: EventLog, require_admin) -> APIRouter:
    """The admin routes above for one node's ``events``."""
    router = APIRouter(prefix="/admin/events", dependencies=[Depends(require_admin)],
                       include_in_schema=False)

    @router.get("")
    async def poll(since: int = Query(0, ge=0)) -> dict:
        return {"node": events.node, "last": events.last, "epoch": events.epoch,
                "events": events.since(since)}

    @router.get("/stream")
    async def stream(request: Request, since: int = Query(0, ge=0)) -> StreamingResponse:
        async def lines() -> AsyncIterator[str]:
            seq = since
            yield ": stream of " + events.node + "\n\n"
            while not await request.is_disconnected():
                batch = await events.wait(seq, HEARTBEAT_SECONDS)
                if not batch:
                    yield ": heartbeat\n\n"
                    continue
                for event in batch:
                    yield f"id: {event['seq']}\ndata: {json.dumps(event)}\n\n"
                seq = batch[-1]["seq"]

        return StreamingResponse(lines(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    return router
