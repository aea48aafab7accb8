"""The ceiling: a bare ASGI endpoint served exactly as every node is (simulators/serve.py).

uvicorn, uvloop + httptools, one process, no --reload/--workers (the TCP_NODELAY trap in
PERFORMANCE.md), access log off. What this answers per second on this machine, in the same run,
is the most any node could; load results are reported as ratios to it.
Run: ``python -m loadtests.ceiling_app --port 19899``.

``--bodies FILE`` (JSON: Authorization header value -> body text) answers each request with the
body of its Authorization header (the first body for any other), so a benchmark's ceiling
serves per request exactly the bytes the real search serves to that token's patient
(``benchmarks/search_bench.py``); finding it costs one pass over the request headers.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from simulators.serve import UVICORN_OPTIONS

BODY = b'{"status":"ok"}'


def answer(body: bytes) -> tuple[dict, dict]:
    """The two ASGI messages that answer ``body`` as JSON."""
    return ({"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())]},
            {"type": "http.response.body", "body": body})


START, RESPONSE = answer(BODY)
BY_AUTHORIZATION: dict[bytes, tuple[dict, dict]] = {}  # --bodies

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Answer every HTTP request with a fixed JSON body (15 bytes unless ``--body-file``)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    start, response = START, RESPONSE
    if BY_AUTHORIZATION:
        for name, value in scope["headers"]:
            if name == b"authorization":
                start, response = BY_AUTHORIZATION.get(value, (START, RESPONSE))
                break
    await send(start)
    await send(response)


def load_bodies(path: str) -> None:
    """Answer each Authorization value in the JSON file at ``path`` with its body (``--bodies``);
    any other request gets the first body."""
    global START, RESPONSE
    with open(path, encoding="utf-8") as f:
        bodies: dict[str, str] = json.load(f)
    BY_AUTHORIZATION.clear()
    for authorization, text in bodies.items():
        BY_AUTHORIZATION[authorization.encode("latin-1")] = answer(text.encode("utf-8"))
    if bodies:
        START, RESPONSE = answer(next(iter(bodies.values())).encode("utf-8"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", type=str, default=None,
                        help="Answer these bytes (e.g. one real search answer) instead.")
    parser.add_argument("--bodies", type=str, default=None,
                        help="JSON file: Authorization value -> body; answer per request.")
    args = parser.parse_args(argv)
    global START, RESPONSE
    if args.bodies:
        load_bodies(args.bodies)
    if args.body_file:
        with open(args.body_file, "rb") as f:
            START, RESPONSE = answer(f.read())
    uvicorn.run(app, host=args.host, port=args.port, **UVICORN_OPTIONS)


if __name__ == "__main__":
    main()
