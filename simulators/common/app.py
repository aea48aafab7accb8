"""What every node's FastAPI app has: /health, hop logging with X-Correlation-ID, and
plain 4xx answers instead of stack traces."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from simulators.common.config import SandboxConfig

log = logging.getLogger("pgo_sandbox.hop")


class HopLog:
    """Pure ASGI middleware: one log line per request with the MedMij ids (cheap on hot paths)."""

    def __init__(self, app, node: str) -> None:
        self.app = app
        self.node = node

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def send_wrapper(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_wrapper)
        headers = dict(scope["headers"])
        log.info(
            "%s %s %s %s %.1fms corr=%s req=%s",
            self.node,
            scope["method"],
            scope["path"],
            status,
            (time.perf_counter() - start) * 1000,
            headers.get(b"x-correlation-id", b"-").decode(),
            headers.get(b"medmij-request-id", b"-").decode(),
        )


def node_app(config: SandboxConfig, node_id: str, title: str, lifespan=None) -> FastAPI:
    app = FastAPI(title=title, lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.config = config
    app.state.node_id = node_id

    @app.get("/health", include_in_schema=False)
    async def health() -> dict:
        ready: Callable[[], Awaitable[bool]] | None = getattr(app.state, "ready", None)
        if ready is not None and not await ready():
            return JSONResponse({"status": "starting", "node": node_id}, status_code=503)
        return {"status": "ok", "node": node_id}

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = ", ".join(".".join(str(p) for p in e["loc"][1:]) for e in exc.errors())
        return JSONResponse(
            {"error": "invalid_request", "error_description": f"missing or invalid: {fields}"},
            status_code=400,
        )

    app.add_middleware(HopLog, node=node_id)
    return app
