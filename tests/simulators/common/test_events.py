"""Every node keeps its recent hops as events behind its admin API, naming the caller: the
dashboard, sequence diagrams and drills read them over HTTP in any runtime."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from sandbox.runtime.local import LocalRuntime
from simulators.common.app import serving_app
from simulators.common.config import SandboxConfig
from simulators.common.events import EventLog, agent, caller_of
from simulators.common.security import admin_headers, ensure_admin_token
from simulators.medmij import CORRELATION_ID
from simulators.medmij.topology import load_topology
from simulators.registry.app import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def registry(tmp_path):
    topology = load_topology()
    config = SandboxConfig(topology, "loopback", LocalRuntime(tmp_path).addresses(topology, 18400),
                           tmp_path)
    ensure_admin_token(tmp_path)
    app = create_app(config, "registry")
    return serving_app(app, "registry"), admin_headers(tmp_path)


def client(asgi) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(asgi), base_url="http://registry.test")


async def test_a_hop_becomes_an_event_with_its_caller_and_correlation_id(registry):
    asgi, admin = registry
    async with client(asgi) as http:
        await http.get("/health", headers={CORRELATION_ID: "c-1", "User-Agent": agent("dva-x")})
        await http.get("/health", headers={"User-Agent": "Mozilla/5.0 (X11)"})
        answer = (await http.get("/admin/events", headers=admin)).json()
    hops = [e for e in answer["events"] if e["kind"] == "hop"]
    assert [(h["path"], h["status"], h["corr"], h["caller"]) for h in hops] == [
        ("/health", 200, "c-1", "dva-x"), ("/health", 200, "-", "browser")]
    assert answer["node"] == "registry" and answer["last"] == hops[-1]["seq"]


async def test_events_need_the_admin_token(registry):
    asgi, _ = registry
    async with client(asgi) as http:
        assert (await http.get("/admin/events")).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await http.get("/admin/events/stream", headers=wrong)).status_code == 401


async def test_since_returns_only_newer_events(registry):
    asgi, admin = registry
    async with client(asgi) as http:
        await http.get("/health")
        first = (await http.get("/admin/events", headers=admin)).json()["last"]
        await http.get("/health", headers={CORRELATION_ID: "later"})
        newer = (await http.get(f"/admin/events?since={first}", headers=admin)).json()
    assert [e["corr"] for e in newer["events"]] == ["later"]


async def test_the_stream_sends_events_as_they_happen():
    events = EventLog("dva-x")
    waiting = asyncio.create_task(events.wait(0, timeout=5))
    await asyncio.sleep(0)
    events.publish("fault", name="slow")
    got = await waiting
    assert [e["kind"] for e in got] == ["fault"] and got[0]["name"] == "slow"
    assert json.loads(json.dumps(got[0]))["node"] == "dva-x"


def test_the_window_keeps_the_newest_events():
    events = EventLog("n", keep=3)
    for i in range(5):
        events.publish("hop", i=i)
    assert [e["i"] for e in events.since(0)] == [2, 3, 4]
    assert events.since(5) == []


def test_callers_are_named_by_user_agent():
    assert caller_of(agent("pgo-alpha")) == "pgo-alpha"
    assert caller_of("Mozilla/5.0") == "browser"
    assert caller_of("python-httpx/0.27") == "client"
