"""The DVA's record of the FHIR requests PGOs sent, for ``pgo-sandbox conformance pgo``."""

from __future__ import annotations

import itertools
import time
from collections import deque

from simulators.medmij import CORRELATION_ID, MEDMIJ_REQUEST_ID

REQUEST_LOG_SIZE = 20_000
# raw ASGI header name -> key in the record (ASGI header names are lower-case bytes)
_RECORDED_HEADERS = {b"authorization": "authorization", b"accept": "accept",
                     MEDMIJ_REQUEST_ID.lower().encode(): "medmij_request_id",
                     CORRELATION_ID.lower().encode(): "x_correlation_id"}


class RequestLog:
    """The last ``REQUEST_LOG_SIZE`` FHIR requests this DVA received, as PGOs sent them.

    Bounded (a deque) and cheap: one scan of the request headers and one append per request,
    no I/O. The hop log has no query string and no Accept; the PGO check needs both. The
    Authorization value is never kept: only its scheme (``Bearer``) or ``None``. ``time`` is
    wall time, when the request arrived: the sandbox clock would cost a ``stat`` of
    ``clock.json`` per request on the hot path, and the PGO check does not read it."""

    def __init__(self, size: int = REQUEST_LOG_SIZE) -> None:
        self.records: deque[dict] = deque(maxlen=size)
        self._seq = itertools.count(1)

    def add(self, scope: dict, status: int, client_id: str | None) -> None:
        seen: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = _RECORDED_HEADERS.get(name)
            if key is not None:
                seen[key] = value.decode("latin-1")
        authorization = seen.pop("authorization", None)
        query = scope["query_string"].decode("latin-1")
        self.records.append({
            "seq": next(self._seq), "time": time.time(), "method": scope["method"],
            "path": scope["path"] + (f"?{query}" if query else ""),
            "client_id": client_id, "status": status,
            "authorization": authorization.partition(" ")[0] if authorization else None,
            **seen})

    def since(self, seq: int = 0, client_id: str | None = None,
              anonymous: bool = False) -> list[dict]:
        """Records after ``seq``; of ``client_id`` (and those without a valid token when
        ``anonymous``)."""
        return [r for r in self.records if r["seq"] > seq and (
            client_id is None or r["client_id"] == client_id
            or (anonymous and r["client_id"] is None))]

    @property
    def last_seq(self) -> int:
        return self.records[-1]["seq"] if self.records else 0
