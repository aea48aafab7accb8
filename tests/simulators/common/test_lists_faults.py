"""A node's list cache when the registry misbehaves (issue 16 item 2): it keeps serving on its
last valid lists, refuses (and logs) a bad or older list, reports the lists' age, and stops
trusting lists older than the allowed maximum. In process: the registry's real lists behind an
``httpx.MockTransport`` that can fail. Each test names the rule it guards."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from simulators.common.config import SandboxConfig
from simulators.common.lists import LIST_PATHS, ListCache
from simulators.inspection.app import create_app as create_inspection
from simulators.medmij.topology import load_topology
from simulators.registry.state import RegistryState

CLIENT = "pgo-alpha.sandbox.test"


def loopback_config(state_dir: Path) -> SandboxConfig:
    topology = load_topology()
    addresses = {n.hostname: f"http://127.0.0.1:{18700 + i}"
                 for i, n in enumerate(topology.nodes)}
    return SandboxConfig(topology, "loopback", addresses, state_dir)


def _with_volgnummer(content: bytes, number: int) -> bytes:
    start = content.index(b"<Volgnummer>") + len(b"<Volgnummer>")
    end = content.index(b"</Volgnummer>")
    return content[:start] + str(number).encode() + content[end:]


class Registry:
    """The registry's real lists (Volgnummer set by hand), and what it does instead."""

    def __init__(self, tmp_path) -> None:
        self.state = RegistryState(loopback_config(tmp_path), None)
        self.served = {kind: _with_volgnummer(self.state.render(kind), 7) for kind in LIST_PATHS}
        self.by_path = {path: kind for kind, path in LIST_PATHS.items()}
        self.down: set[str] = set()  # list kinds answering 503

    def __call__(self, request: httpx.Request) -> httpx.Response:
        kind = self.by_path[request.url.path]
        if kind in self.down:
            return httpx.Response(503)
        return httpx.Response(200, content=self.served[kind])


@pytest.fixture
def registry(tmp_path) -> Registry:
    return Registry(tmp_path)


def cache_for(registry: Registry, now: list[float], max_age: float = 100) -> ListCache:
    client = httpx.AsyncClient(transport=httpx.MockTransport(registry))
    return ListCache("http://registry.test", client, 60, max_age=max_age, now=lambda: now[0])


@pytest.mark.anyio
async def test_a_registry_outage_keeps_the_last_lists_and_their_age_grows(registry):
    """Rule: a list that does not answer is refused per list (the others still refresh), the
    last valid one stays in use, and the age counts from the last confirmation."""
    now = [0.0]
    cache = cache_for(registry, now)
    await cache.refresh()
    assert cache.ready.is_set() and cache.age_seconds() == 0.0
    registry.down = {"ocl"}
    registry.served["gnl"] = _with_volgnummer(registry.state.render("gnl"), 8)
    now[0] = 30.0
    await cache.refresh()
    assert CLIENT in cache.lists.ocl and cache.lists.volgnummers["gnl"] == 8
    assert cache.age_seconds() == 30.0 and cache.refusals[-1]["list"] == "ocl"
    assert "answered 503" in cache.refusals[-1]["reason"]
    registry.down = set()
    await cache.refresh()
    assert cache.age_seconds() == 0.0


@pytest.mark.anyio
async def test_an_invalid_list_is_refused_and_the_last_valid_one_kept(registry):
    """Rule: a list that does not parse is refused, logged, and the previous one kept."""
    cache = cache_for(registry, [0.0])
    await cache.refresh()
    registry.served["ocl"] = b"<not-a-list"
    await cache.refresh()
    assert CLIENT in cache.lists.ocl and cache.lists.volgnummers["ocl"] == 7
    assert cache.refusals[-1]["list"] == "ocl" and "invalid list" in cache.refusals[-1]["reason"]


@pytest.mark.anyio
async def test_a_lower_volgnummer_is_refused_and_logged(registry, caplog):
    """Rule: a list with a LOWER Volgnummer than held is refused, logged, and not counted as
    a confirmation of the lists (their age keeps growing)."""
    now = [0.0]
    cache = cache_for(registry, now)
    await cache.refresh()
    registry.state.remove_client(CLIENT)
    registry.served["ocl"] = _with_volgnummer(registry.state.render("ocl"), 6)
    now[0] = 50.0
    with caplog.at_level(logging.WARNING, logger="simulators.common.lists"):
        await cache.refresh()
    assert CLIENT in cache.lists.ocl and cache.lists.volgnummers["ocl"] == 7
    assert "Volgnummer 6 is lower than 7 held" in caplog.text
    assert cache.refusals[-1]["reason"] == "Volgnummer 6 is lower than 7 held"
    assert cache.age_seconds() == 50.0


@pytest.mark.anyio
async def test_lists_older_than_the_maximum_are_not_trusted(registry):
    """Rule: past ``max_age`` (topology ``list_max_age_seconds``) the cache says expired; a
    valid answer from the registry makes it trusted again."""
    now = [0.0]
    cache = cache_for(registry, now, max_age=100)
    await cache.refresh()
    registry.down = set(LIST_PATHS)
    now[0] = 100.0
    await cache.refresh()
    assert not cache.expired()
    now[0] = 100.5
    assert cache.expired() and cache.health()["lists_trusted"] is False
    registry.down = set()
    await cache.refresh()
    assert not cache.expired()


def test_the_default_maximum_age_is_a_topology_setting():
    """Rule: the maximum is the topology's ``list_max_age_seconds`` (default 24 h)."""
    from simulators.medmij.topology import Topology, load_topology

    topology = load_topology()
    assert topology.list_max_age_seconds == 24 * 3600
    assert Topology.from_dict(topology.to_dict() | {"list_max_age_seconds": 60}) \
        .list_max_age_seconds == 60


@pytest.mark.anyio
async def test_health_reports_the_lists_age_and_stays_ok(registry, tmp_path):
    """Rule: ``/health`` of a node with lists carries their age and whether they are trusted;
    its ``status`` stays "ok" (the runtime's probe), also with lists too old."""
    now = [0.0]
    cache = cache_for(registry, now, max_age=10)
    await cache.refresh()
    app = create_inspection(loopback_config(tmp_path), "mgo", lists=cache,
                            http=httpx.AsyncClient())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://mgo.test") as client:
        now[0] = 60.0
        body = (await client.get("/health")).json()
    assert body["status"] == "ok" and body["lists_age_s"] == 60.0
    assert body["lists_trusted"] is False and body["lists_volgnummers"]["zal"] == 7
