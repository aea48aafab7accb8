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


def test_a_hop_kept_as_sent_reads_as_its_event():
    """A hop is kept as the request gave it (header values as bytes, times unrounded) and
    made into the same JSON object as any event when read, in seq order with the others."""
    events = EventLog("dva-x", keep=4)
    events.publish("fault", name="slow")
    events.publish_hop(1_800_000_000.12345, "GET", "/fhir/x/48/Condition", 200, 0.123456,
                       b"corr-1", b"-", agent("pgo-alpha").encode())
    hop = events.since(1)[0]
    assert hop == {"seq": 2, "t": 1_800_000_000.123, "node": "dva-x", "kind": "hop",
                   "method": "GET", "path": "/fhir/x/48/Condition", "status": 200,
                   "ms": 0.12, "corr": "corr-1", "req": "-", "caller": "pgo-alpha"}
    assert json.loads(json.dumps(hop)) == hop


def test_since_counts_from_the_newest_across_the_window_and_an_erasure():
    events = EventLog("n", keep=3)
    for i in range(5):  # hops and other events mixed: seq 1..5, the window holds 3..5
        if i % 2:
            events.publish("fault", i=i)
        else:
            events.publish_hop(float(i), "GET", f"/p{i}", 200, 1.0, b"-", b"-", b"")
    assert [e["seq"] for e in events.since(0)] == [3, 4, 5]
    assert [e["seq"] for e in events.since(3)] == [4, 5]
    assert [e.get("path", e.get("i")) for e in events.since(3)] == [3, "/p4"]
    assert events.since(5) == [] and events.since(9) == []
    events.clear()  # the curator's erasure: the numbering goes on
    assert events.since(0) == []
    events.publish("fault", i=6)
    assert [e["seq"] for e in events.since(0)] == [6] == [e["seq"] for e in events.since(5)]
