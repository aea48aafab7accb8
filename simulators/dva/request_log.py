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

    Bounded (a deque) and cheap: one scan of the request headers and one tuple appended per
    request, no I/O; the records are made into dictionaries only when read (``since``), which
    is rare next to the requests. The hop log has no query string and no Accept; the PGO check
    needs both. The Authorization value is never kept: only its scheme (``Bearer``) or
    ``None``. ``time`` is wall time, when the request arrived: the sandbox clock would cost a
    ``stat`` of ``clock.json`` per request on the hot path, and the PGO check does not read
    it."""

    def __init__(self, size: int = REQUEST_LOG_SIZE) -> None:
        # (seq, time, method, path, query, client_id, status, raw headers kept)
        self.records: deque[tuple] = deque(maxlen=size)
        self._seq = itertools.count(1)

    def add(self, scope: dict, status: int, client_id: str | None) -> None:
        kept = []
        for name, value in scope["headers"]:
            if name in _RECORDED_HEADERS:  # of the Authorization value only its scheme
                kept.append((name, value.partition(b" ")[0] if name == b"authorization"
                             else value))
        self.records.append((next(self._seq), time.time(), scope["method"], scope["path"],
                             scope["query_string"], client_id, status, kept))

    @staticmethod
    def _as_dict(held: tuple) -> dict:
        seq, at, method, path, query, client_id, status, headers = held
        seen: dict[str, str] = {}
        for name, value in headers:  # the last of each
            seen[_RECORDED_HEADERS[name]] = value.decode("latin-1")
        authorization = seen.pop("authorization", None)
        query_text = query.decode("latin-1")
        return {"seq": seq, "time": at, "method": method,
                "path": path + (f"?{query_text}" if query_text else ""),
                "client_id": client_id, "status": status,
                "authorization": authorization or None,
                **seen}

    def since(self, seq: int = 0, client_id: str | None = None,
              anonymous: bool = False) -> list[dict]:
        """Records after ``seq``; of ``client_id`` (and those without a valid token when
        ``anonymous``)."""
        return [self._as_dict(r) for r in self.records if r[0] > seq and (
            client_id is None or r[5] == client_id or (anonymous and r[5] is None))]

    @property
    def last_seq(self) -> int:
        return self.records[-1][0] if self.records else 0
