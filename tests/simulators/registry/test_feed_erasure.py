"""The curator's erasure reaches the registry's dashboard feed (review finding, privacy): the
feed drops what it polled of a DVP before its erasure, from ``/dashboard/events.json`` and the
journeys, and keeps every other node's events.

In process: the registry, a DVP (``pgo-alpha``) and a DVA node (``dva-nexus``, the node
frame every role is built on) are the apps ``create_app``/``node_app`` build, served through
``serving_app`` so their hops become events; the registry's feed reaches the two over ASGI.
Each test names the rule it guards; removing that rule alone makes it fail.
"""

from __future__ import annotations

import json

import httpx
import pytest

from sandbox.runtime.local import LocalRuntime
from simulators.common.app import node_app, serving_app
from simulators.common.clock import ManualClock
from simulators.common.config import SandboxConfig
from simulators.common.security import admin_headers, ensure_admin_token
from simulators.dvp.app import create_app as create_dvp
from simulators.medmij.topology import load_topology
from simulators.registry.app import create_app as create_registry
from simulators.registry.state import RegistryState

pytestmark = pytest.mark.anyio
DVP, DVA = "pgo-alpha", "dva-nexus"
CLOSED = "http://127.0.0.1:1"  # tcpmux: the other nodes are not running
DVP_CORR, DVA_CORR = "corr-dvp-before-erasure", "corr-dva-stays"


class Ecosystem:
    """The registry with its dashboard, the DVP and the DVA, their addresses routed in
    process (every other node's address points where nothing listens)."""

    def __init__(self, tmp_path) -> None:
        topology = load_topology()
        addresses = LocalRuntime(tmp_path).addresses(topology, 30000)
        self.live = {n.hostname for n in topology.nodes if n.id in ("registry", DVP, DVA)}
        addresses = {h: url if h in self.live else CLOSED for h, url in addresses.items()}
        ensure_admin_token(tmp_path)
        self.admin = admin_headers(tmp_path)
        self.config = SandboxConfig(topology, "loopback", addresses, tmp_path)
        self.dvp_base = addresses[topology.node(DVP).hostname]
        self.dva_base = addresses[topology.node(DVA).hostname]
        state = RegistryState(self.config, None, clock=ManualClock(1_700_000_000.0))
        self.registry = create_registry(self.config, "registry", state=state)
        self.board = self.registry.state.dashboard
        self.dva = serving_app(node_app(self.config, DVA, "Nexus DVA"), DVA)
        self.start_dvp()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(serving_app(self.registry, "registry")),
            base_url="http://registry.test")

    def start_dvp(self) -> None:
        """(Re)start the DVP from its node directory, and route the feed's polls to it."""
        self.dvp = create_dvp(self.config, DVP)
        self.board.feed._client = httpx.AsyncClient(mounts={
            self.dvp_base: httpx.ASGITransport(serving_app(self.dvp, DVP)),
            self.dva_base: httpx.ASGITransport(self.dva)})

    def browser(self, base: str, app) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=base)

    async def person_visits_the_dvp(self) -> str:
        """A person's account and page at the DVP: hops whose paths carry the person id."""
        async with self.browser(self.dvp_base, serving_app(self.dvp, DVP)) as browser:
            r = await browser.post("/api/persons", json={"name": "Jantje Feed",
                                                         "password": "correct horse battery"})
            assert r.status_code == 201, r.text
            person = r.json()["id"]
            await browser.get(f"/persons/{person}", headers={"X-Correlation-ID": DVP_CORR})
        return person

    async def someone_visits_the_dva(self) -> None:
        async with self.browser(self.dva_base, self.dva) as browser:
            await browser.get("/fhir/somewhere", headers={"X-Correlation-ID": DVA_CORR})

    async def settle_the_dvp(self) -> None:
        async with self.browser(self.dvp_base, serving_app(self.dvp, DVP)) as curator:
            assert (await curator.post("/admin/curator", headers=self.admin)).status_code == 200
            r = await curator.post("/admin/erase", headers=self.admin)
            assert r.status_code == 200, r.text

    async def dashboard(self) -> tuple[str, list[dict], list[str]]:
        """A poll of every node now, then what the dashboard serves: (events.json as text,
        its events, the journeys' correlation ids)."""
        await self.board.feed.refresh(force=True)
        events = await self.http.get("/dashboard/events.json", headers=self.admin)
        journeys = await self.http.get("/dashboard/journeys.json", headers=self.admin)
        assert events.status_code == journeys.status_code == 200
        return (events.text, events.json()["events"],
                [j["corr"] for j in journeys.json()["journeys"]])


@pytest.fixture
async def ecosystem(tmp_path):
    world = Ecosystem(tmp_path)
    async with world.http:
        yield world


async def test_the_dvps_erasure_empties_the_feed_of_its_events(ecosystem) -> None:
    """Rules: a node's ``/admin/events`` names its log (``epoch``), ``clear`` (the curator's
    erasure) gives it a new one, and the feed, seeing another epoch, drops every event it took
    from that node before taking new ones, though the node's numbering goes on; the events of
    other nodes (the DVA, the registry itself) stay."""
    person = await ecosystem.person_visits_the_dvp()
    await ecosystem.someone_visits_the_dva()
    text, events, journeys = await ecosystem.dashboard()
    assert person in text and DVP_CORR in journeys and DVA_CORR in journeys  # polled
    before = max(e["fseq"] for e in events if e["node"] == DVP)

    await ecosystem.settle_the_dvp()
    text, events, journeys = await ecosystem.dashboard()
    assert person not in text and DVP_CORR not in text
    assert not [e for e in ecosystem.board.feed.events
                if e["node"] == DVP and e["fseq"] <= before]
    assert DVP_CORR not in journeys
    page = await ecosystem.http.get(f"/dashboard/journeys/{DVP_CORR}", headers=ecosystem.admin)
    assert page.status_code == 404
    assert DVA_CORR in journeys and any(e["node"] == DVA for e in events)
    assert any(e["node"] == "registry" for e in ecosystem.board.feed.events)
    # the DVP's events after the erasure come in as before (its numbering went on)
    await ecosystem.someone_visits_the_dva()
    async with ecosystem.browser(ecosystem.dvp_base,
                                 serving_app(ecosystem.dvp, DVP)) as browser:
        await browser.get("/after-erasure", headers={"X-Correlation-ID": "corr-after"})
    _, events, journeys = await ecosystem.dashboard()
    after = [e for e in events if e["node"] == DVP]
    assert [e["path"] for e in after] == ["/after-erasure"] and after[0]["seq"] > 1
    assert "corr-after" in journeys


async def test_a_dvp_erased_and_restarted_before_the_next_poll_is_dropped_too(ecosystem):
    """Rules: a log's ``epoch`` is random, not a count of erasures: a DVP erased and restarted
    between two polls starts a log whose epoch the feed never saw, so the feed drops what it
    took before the erasure (a count would be back at the value the feed saw); and it reads
    that new log from its start (``since=0`` again), though the poll asked for what followed
    the old log's ``seq``."""
    person = await ecosystem.person_visits_the_dvp()
    text, _, journeys = await ecosystem.dashboard()
    assert person in text and DVP_CORR in journeys
    await ecosystem.settle_the_dvp()
    ecosystem.start_dvp()  # the process restarts: a new log, numbering from 1 again
    async with ecosystem.browser(ecosystem.dvp_base,
                                 serving_app(ecosystem.dvp, DVP)) as browser:
        for _ in range(3):  # its ``last`` catches up: no "restarted" from a lower ``last``
            await browser.get("/after-restart", headers={"X-Correlation-ID": "corr-after"})
    text, events, journeys = await ecosystem.dashboard()
    assert person not in text and DVP_CORR not in journeys and "corr-after" in journeys
    assert [e["seq"] for e in events if e["node"] == DVP] == [1, 2, 3]


async def test_the_first_poll_after_a_registry_restart_takes_everything(ecosystem) -> None:
    """A check, no rule of its own: a registry restarted (a new feed) knows no epoch yet, so
    its first poll drops nothing and takes what the nodes still hold, none of it from before
    the DVP's erasure."""
    person = await ecosystem.person_visits_the_dvp()
    await ecosystem.settle_the_dvp()
    await ecosystem.someone_visits_the_dva()
    text, events, journeys = await ecosystem.dashboard()
    assert person not in text and DVP_CORR not in journeys and DVA_CORR in journeys


async def test_open_pages_are_told_to_drop_what_the_feed_dropped(ecosystem) -> None:
    """Rule: a page holds the events it was streamed, so when the feed drops a node's events
    (``Feed.forget``) the stream sends ``event: forget`` with the node and the ``fseq`` it
    dropped up to (``dashboard.js`` removes those rows); a stream opened after the drop gets
    it too (a reconnecting page may hold them), and a node that dropped nothing sends none."""
    await ecosystem.person_visits_the_dvp()
    await ecosystem.someone_visits_the_dva()
    await ecosystem.dashboard()
    held = [e["fseq"] for e in ecosystem.board.feed.events if e["node"] == DVP]
    first = await ecosystem.http.get("/dashboard/stream", params={"seconds": 0.2},
                                     headers=ecosystem.admin)
    assert first.status_code == 200 and "event: forget" not in first.text
    await ecosystem.settle_the_dvp()
    later = await ecosystem.http.get("/dashboard/stream", params={"seconds": 0.2},
                                     headers=ecosystem.admin)
    forgets = [line for line in later.text.split("\n\n") if line.startswith("event: forget")]
    assert len(forgets) == 1, later.text[:500]
    dropped = json.loads(forgets[0].split("data: ", 1)[1])
    assert dropped["node"] == DVP and dropped["through"] >= max(held)


def test_a_new_log_is_announced_though_its_events_left_the_feed(monkeypatch) -> None:
    """Rule: open pages are told of a node's new log (``forgotten``) whenever the feed saw
    another one before, even when the node's old events already rolled out of the feed's
    window (a page may still show them); a node seen for the first time is no drop."""
    from simulators.common.events import EventLog
    from simulators.registry import dashboard_feed

    monkeypatch.setattr(dashboard_feed, "KEEP", 3)
    feed = dashboard_feed.Feed(None, "registry", EventLog("registry"))  # type: ignore[arg-type]
    feed.ingest(DVP, [{"seq": 1, "kind": "hop"}], 1, "old log")
    assert feed.forgotten_after(0) == []
    feed.ingest(DVA, [{"seq": n, "kind": "hop"} for n in range(1, 4)], 3, "dva log")
    assert not [e for e in feed.events if e["node"] == DVP]  # rolled out
    feed.ingest(DVP, [], 1, "new log")
    assert [(node, through) for _, node, through in feed.forgotten_after(0)] == [(DVP, 4)]
