"""Every node caps the bodies it reads (``simulators.common.app.BodyLimit``): an urlencoded
form at ``FORM_BODY_LIMIT``, any other body at ``BODY_LIMIT``, refused by the declared length
before a byte is read, or as soon as a streamed body passes the cap; never held whole."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import Form, Request

from simulators.common.app import BODY_LIMIT, FORM_BODY_LIMIT, node_app
from simulators.common.config import SandboxConfig
from simulators.medmij.topology import load_topology

pytestmark = pytest.mark.anyio
CHUNK = 16 * 1024
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Stream:
    """A body sent in chunks without Content-Length; counts what the server pulled."""

    def __init__(self, size: int) -> None:
        self.body = b"a=" + b"x" * size
        self.sent = 0

    async def __aiter__(self):
        for i in range(0, len(self.body), CHUNK):
            self.sent += len(self.body[i:i + CHUNK])
            yield self.body[i:i + CHUNK]


@pytest.fixture
async def client(tmp_path):
    topology = load_topology()
    addresses = {n.hostname: f"http://127.0.0.1:{18700 + i}" for i, n in enumerate(topology.nodes)}
    app = node_app(SandboxConfig(topology, "loopback", addresses, tmp_path), "registry", "test")

    @app.post("/form")
    async def form(a: Annotated[str, Form()]) -> dict:
        return {"length": len(a)}

    @app.post("/json")
    async def json_body(request: Request) -> dict:
        return {"length": len(await request.body())}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://127.0.0.1:8000") as c:
        yield c


async def test_a_streamed_form_is_refused_once_it_passes_the_form_cap(client) -> None:
    body = Stream(4 * 1024 * 1024)
    r = await client.post("/form", content=body, headers=FORM)
    assert r.status_code == 413
    assert body.sent <= FORM_BODY_LIMIT + 2 * CHUNK  # stopped at the cap, not read whole


async def test_a_declared_length_over_the_cap_is_refused_before_reading(client) -> None:
    r = await client.post("/json", content=b"x" * (BODY_LIMIT + 1))
    assert r.status_code == 413
    r = await client.post("/form", content=b"a=" + b"x" * FORM_BODY_LIMIT, headers=FORM)
    assert r.status_code == 413


async def test_bodies_under_their_caps_are_read(client) -> None:
    r = await client.post("/form", data={"a": "x" * 1000})
    assert r.status_code == 200 and r.json() == {"length": 1000}
    r = await client.post("/json", content=b"x" * (2 * 1024 * 1024))  # above the form cap
    assert r.status_code == 200 and r.json() == {"length": 2 * 1024 * 1024}
