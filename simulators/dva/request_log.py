"""The DVA's record of the FHIR requests PGOs sent, for ``pgo-sandbox conformance pgo``."""

from __future__ import annotations

import itertools
import time
from collections import deque
from typing import NamedTuple

from simulators.medmij import CORRELATION_ID, MEDMIJ_REQUEST_ID

REQUEST_LOG_SIZE = 20_000
_REQUEST_ID = MEDMIJ_REQUEST_ID.lower().encode()
_CORRELATION_ID = CORRELATION_ID.lower().encode()


class FhirHeaders(NamedTuple):
    """What the DVA reads of a FHIR request's headers, in one pass (``fhir_headers``): the
    resource server decides by the first Accept and Authorization, as Starlette's
    ``Headers.get`` gives them; the MedMij ids are the last of each, as the hop log has them."""

    accept: str | None
    authorization: str  # '' without one
    request_id: str | None
    correlation_id: str | None


def fhir_headers(scope: dict) -> FhirHeaders:
    """One pass over the raw ASGI headers (lower-case names)."""
    accept = authorization = request_id = correlation_id = None
    for name, value in scope["headers"]:
        if name == b"accept":
            if accept is None:
                accept = value.decode("latin-1")
        elif name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == _REQUEST_ID:
            request_id = value.decode("latin-1")
        elif name == _CORRELATION_ID:
            correlation_id = value.decode("latin-1")
    return FhirHeaders(accept, authorization or "", request_id, correlation_id)


class RequestLog:
    """The last ``REQUEST_LOG_SIZE`` FHIR requests this DVA received, as PGOs sent them.

    Bounded (a deque) and cheap: one tuple appended per request from the headers the resource
    server read anyway (``FhirHeaders``), no I/O; the records are made into dictionaries only
    when read (``since``), which is rare next to the requests. The hop log has no query string
    and no Accept; the PGO check needs both. The Authorization value is never kept: only its
    scheme (``Bearer``) or ``None``. ``time`` is wall time, when the request arrived: the
    sandbox clock would cost a ``stat`` of ``clock.json`` per request on the hot path, and the
    PGO check does not read it."""

    def __init__(self, size: int = REQUEST_LOG_SIZE) -> None:
        # (seq, time, method, path, query, client_id, status, scheme, accept, request id,
        #  correlation id)
        self.records: deque[tuple] = deque(maxlen=size)
        self._seq = itertools.count(1)

    def add(self, scope: dict, status: int, client_id: str | None,
            headers: FhirHeaders) -> None:
        self.records.append((next(self._seq), time.time(), scope["method"], scope["path"],
                             scope["query_string"], client_id, status,
                             headers.authorization.partition(" ")[0] or None, headers.accept,
                             headers.request_id, headers.correlation_id))

    @staticmethod
    def _as_dict(held: tuple) -> dict:
        (seq, at, method, path, query, client_id, status, scheme, accept, request_id,
         correlation_id) = held
        query_text = query.decode("latin-1")
        record = {"seq": seq, "time": at, "method": method,
                  "path": path + (f"?{query_text}" if query_text else ""),
                  "client_id": client_id, "status": status, "authorization": scheme}
        for key, value in (("accept", accept), ("medmij_request_id", request_id),
                           ("x_correlation_id", correlation_id)):
            if value is not None:  # a header the request did not send is not in its record
                record[key] = value
        return record

    def since(self, seq: int = 0, client_id: str | None = None,
              anonymous: bool = False) -> list[dict]:
        """Records after ``seq``; of ``client_id`` (and those without a valid token when
        ``anonymous``)."""
        return [self._as_dict(r) for r in self.records if r[0] > seq and (
            client_id is None or r[5] == client_id or (anonymous and r[5] is None))]

    @property
    def last_seq(self) -> int:
        return self.records[-1][0] if self.records else 0
