"""Serialised search answers of the records the DVA holds cached (issue 17, the warm search).

A searchset answer is a function of the patient's record, the endpoint, the search (path and
query) and a fresh Bundle id. The source system keeps recent records cached; the DVA keeps the
JSON of the answers it gave from them, split around the Bundle id, so the same search on the
same cached record is the bytes before the id, a new id, and the bytes after it, instead of a
search, a Bundle and orjson every time. The access checks, the clock check and the logging of
each request are not part of it: they run for every request.

An answer is kept with the record object it came from and used only while the source system
still answers that very object: a record that left the source's cache, or was rebuilt because a
PGO shared data into it, makes a new answer.
"""

from __future__ import annotations

from collections.abc import Hashable

SIZE = 1024  # answers kept (the oldest goes first)
MAX_BYTES = 64 * 1024  # larger answers are made per request: memory stays bounded (~64 MB)


class SearchAnswers:
    """The last ``SIZE`` JSON search answers, each held with the record it came from."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._held: dict[Hashable, tuple[object, bytes, bytes]] = {}

    def get(self, key: Hashable, record: object) -> tuple[bytes, bytes] | None:
        """(bytes before the Bundle id, bytes after it) of the answer to ``key`` made from
        this ``record``; None when there is none, or it came from another record."""
        held = self._held.get(key)
        if held is None or held[0] is not record:
            return None
        return held[1], held[2]

    def put(self, key: Hashable, record: object, body: bytes, bundle_id: str) -> None:
        """Keep ``body``, the JSON of a searchset with id ``bundle_id``, made from ``record``."""
        if len(body) > MAX_BYTES:
            return
        found = body.find(b'"id":"%s"' % bundle_id.encode())
        if found < 0:
            return
        start = found + len(b'"id":"')  # the id's first byte
        if len(self._held) >= self.size and key not in self._held:
            del self._held[next(iter(self._held))]
        self._held[key] = (record, body[:start], body[start + len(bundle_id):])

    def __len__(self) -> int:
        return len(self._held)
