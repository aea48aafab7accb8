"""What a drill's Locust process writes down for the drill to measure: every request, and
every acknowledgement the system gave a person (``pgo-sandbox drill``, ``sandbox/drill.py``).

Locust's own statistics are aggregates; a drill needs each request's time, node and status to
draw its timeline around the fault, and the acknowledgements ("collected", "imported") to check
afterwards that nothing the system confirmed was lost. Both go as JSON lines into the folder
``PGO_DRILL_DIR``:

- ``requests.jsonl``: ``{"t", "type", "name", "node", "pgo", "status", "ms", "ok"}`` per
  request and per flow transaction (``type`` ``FLOW``), ``t`` the Unix time it ended,
  ``node`` the node it went to, ``pgo`` the PGO of the person who sent it (the user's
  ``context()``);
- ``ledger.jsonl``: ``{"t", "kind", ...}`` per acknowledgement (``collect``, ``import``,
  ``import_failed``), written at once (the drill may kill nodes, never this process);
- ``started``: touched when the first user starts, so the drill times its fault from the load.

Without ``PGO_DRILL_DIR`` nothing is written (the user classes then run as ordinary load).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO

from locust import events
from locust.env import Environment

from loadtests.target import target

DIR = os.environ.get("PGO_DRILL_DIR", "")
_requests: IO[str] | None = None


def folder() -> Path | None:
    return Path(DIR) if DIR else None


def ledger(kind: str, **fields: object) -> None:
    """Write one acknowledgement (or a failure the person saw) to the drill's ledger."""
    where = folder()
    if where is None:
        return
    with open(where / "ledger.jsonl", "a", encoding="utf-8") as out:
        out.write(json.dumps({"t": round(time.time(), 3), "kind": kind, **fields}) + "\n")


def _node(url: str | None) -> str:
    if not url:
        return "-"
    node = target().node_of(url)
    return node.id if node else "-"


@events.init.add_listener
def _record(environment: Environment, **_: object) -> None:
    """Append every request (and flow transaction) to ``requests.jsonl``."""
    global _requests
    where = folder()
    if where is None or _requests is not None:
        return
    _requests = open(where / "requests.jsonl", "a", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115

    def on_request(request_type: str, name: str, response_time: float,
                   exception: BaseException | None = None, response: object = None,
                   url: str | None = None, context: dict | None = None,
                   **_: object) -> None:
        status = int(getattr(response, "status_code", 0) or 0)
        assert _requests is not None
        _requests.write(json.dumps({
            "t": round(time.time(), 3), "type": request_type, "name": name,
            "node": _node(url), "pgo": (context or {}).get("pgo", "-"), "status": status,
            "ms": round(float(response_time or 0), 1), "ok": exception is None}) + "\n")

    environment.events.request.add_listener(on_request)


@events.test_start.add_listener
def _started(**_: object) -> None:
    where = folder()
    if where is not None:
        (where / "started").write_text(str(time.time()), encoding="utf-8")


@events.quitting.add_listener
def _flush(**_: object) -> None:
    if _requests is not None:
        _requests.flush()
