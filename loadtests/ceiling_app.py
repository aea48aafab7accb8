"""The ceiling: a bare ASGI endpoint served exactly as every node is (simulators/serve.py).

uvicorn, uvloop + httptools, one process, no --reload/--workers (the TCP_NODELAY trap in
PERFORMANCE.md), access log off. What this answers per second on this machine, in the same run,
is the most any node could; load results are reported as ratios to it.
Run: ``python -m loadtests.ceiling_app --port 19899``.
"""

from __future__ import annotations

import argparse
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

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Answer every HTTP request with a fixed JSON body (15 bytes unless ``--body-file``)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send(START)
    await send(RESPONSE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", type=str, default=None,
                        help="Answer these bytes (e.g. one real search answer) instead.")
    args = parser.parse_args(argv)
    if args.body_file:
        global START, RESPONSE
        with open(args.body_file, "rb") as f:
            START, RESPONSE = answer(f.read())
    uvicorn.run(app, host=args.host, port=args.port, **UVICORN_OPTIONS)


if __name__ == "__main__":
    main()
