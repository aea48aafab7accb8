"""A node that fails on a request (a bug) answers a 500 in its caller's shape: an
OperationOutcome on a FHIR path, a Dutch page for a browser, JSON for an API client; never
Starlette's plain English text, never a traceback."""

from __future__ import annotations

import re

import httpx
import pytest

from simulators.common.app import node_app, serving_app
from simulators.common.config import SandboxConfig
from simulators.medmij.topology import load_topology

pytestmark = pytest.mark.anyio


def failing_app(tmp_path):
    topology = load_topology()
    addresses = {n.hostname: f"http://127.0.0.1:{18700 + i}" for i, n in enumerate(topology.nodes)}
    return node_app(SandboxConfig(topology, "loopback", addresses, tmp_path), "registry", "test")


@pytest.fixture
async def client(tmp_path):
    app = failing_app(tmp_path)

    @app.get("/fhir/x/48/Patient")
    async def fhir() -> None:
        raise RuntimeError("secret detail of the bug")

    @app.get("/page")
    async def page() -> None:
        raise RuntimeError("secret detail of the bug")

    # the exception still goes on to the server (its log) after the answer: not raised here
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
        yield c


async def test_a_fhir_path_gets_an_operation_outcome(client) -> None:
    r = await client.get("/fhir/x/48/Patient", headers={"Accept": "application/fhir+json"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("application/fhir+json")
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "exception"
    assert "secret detail" not in r.text and "Traceback" not in r.text


async def test_a_browser_gets_a_dutch_page_with_the_page_headers(client) -> None:
    r = await client.get("/page", headers={"Accept": "text/html"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert "<html lang='nl'>" in r.text and "Er ging iets mis" in r.text
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    assert "secret detail" not in r.text and "Traceback" not in r.text


async def test_an_api_client_gets_json(client) -> None:
    r = await client.get("/page", headers={"Accept": "application/json"})
    assert r.status_code == 500 and r.json()["error"] == "server_error"
    assert "secret detail" not in r.text


@pytest.mark.parametrize("fault_set", [False, True])
async def test_a_fast_route_that_fails_answers_an_operation_outcome(tmp_path, fault_set) -> None:
    """Fast routes run outside FastAPI (its handlers never see them): on the hot path
    (``HotPath``) and, with a fault set, on the usual way (``FastRoutes``) alike."""
    app = failing_app(tmp_path)

    def search(scope: dict):
        raise RuntimeError("secret detail of the bug")

    app.state.fast_routes = [("GET", re.compile(r"^/fhir/(?P<path>.+)$"), search)]
    if fault_set:  # a fault on another path: the request takes the usual way
        app.state.faults.add("status", {"path": "/elsewhere"}, params={"status": 503})
    served = serving_app(app, "registry")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(served),
                                 base_url="http://127.0.0.1:8000") as c:
        r = await c.get("/fhir/x/48/Condition")
    assert r.status_code == 500 and r.json()["resourceType"] == "OperationOutcome"
    assert "secret detail" not in r.text
    hops = [e["status"] for e in app.state.events.since(0) if e["kind"] == "hop"]
    assert hops == [500]
