"""Reading a request body with a cap: the one way every node reads a body it parses itself.

A body over the cap is refused by its Content-Length before any byte is read, or, sent in
chunks without one, as soon as the cap is passed: it is never held whole (a 200 MB POST would
otherwise sit in memory before a size check). The refusal is the caller's, in its own
protocol's words: a DVA's token endpoint answers ``invalid_request``, its Delen endpoint a 413
OperationOutcome, a PGO a Dutch page.
"""

from __future__ import annotations

from fastapi import Request


async def read_body(request: Request, limit: int, too_large: Exception) -> bytes:
    """The request body, or ``too_large`` raised once it passes ``limit`` bytes.

    What was read is kept where Starlette keeps a body it read itself (``Request.body`` sets
    the same attribute), so ``request.form()`` or ``request.json()`` afterwards parse these
    bytes instead of a stream already consumed."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    request._body = body = b"".join(chunks)
    return body
