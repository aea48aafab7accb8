"""Story mode in-process (issue 15 item 3): the engine's steps, hops and clean-up, the story
page's buttons (CSRF, Origin, Host), the citizen's page shown safely, the language switch,
replay and reset, and the CLI's checks; no sandbox processes (fake chapters and events)."""

from __future__ import annotations

import re
import time
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from sandbox import story_cli
from sandbox.runtime.local import LocalRuntime
from sandbox.state import Running, RuntimeInfo
from scenarios.flow import Note, Request
from scenarios.story import CHAPTERS, Runner
from scenarios.story import web as story_web
from scenarios.story.engine import Chapter, EventReader, FlowSteps, Hop, Step, fold, text
from simulators.common.config import SandboxConfig
from simulators.common.security import ensure_admin_token
from simulators.medmij.topology import load_topology

BASE = "http://127.0.0.1"
EVIL_PAGE = '<h1 title="x">Hallo</h1><script>alert("boe")</script>'


@pytest.fixture
def running(tmp_path: Path) -> Running:
    topology = load_topology()
    addresses = LocalRuntime(tmp_path).addresses(topology, 29900)
    ensure_admin_token(tmp_path)
    info = RuntimeInfo("local", "loopback", addresses, {}, time.time())
    return Running(tmp_path, info, SandboxConfig(topology, "loopback", addresses, tmp_path))


class FakeEvents:
    """An ``EventReader`` that reads nothing (no nodes run here)."""

    def __init__(self) -> None:
        self.closed = False

    def mark(self) -> None:
        pass

    def hops(self, correlation_id: str, since: float, background: bool = False) -> list[Hop]:
        return [Hop("dva-nexus", "pgo-alpha", "POST", "/oauth/token", 200, 3.0, since)]

    def close(self) -> None:
        self.closed = True


def fake_chapter(log: list[str], fail_at: int | None = None) -> Chapter:
    def action(i: int):
        def run(ctx) -> str:
            if i == fail_at:
                raise RuntimeError("DVA weg")
            if i == 0:
                ctx.cleanups.append(lambda: log.append("undo"))
            ctx.browser.page, ctx.browser.page_url = EVIL_PAGE, "http://pgo/x"
            log.append(f"step {i}")
            return f"detail {i}"
        return run

    return Chapter("fake", text("Nep", "Fake"), text("Inleiding", "Intro"), tuple(
        Step(f"s{i}", text(f"Stap {i}", f"Step {i}"), text(f"Verteld {i}", f"Told {i}"),
             action(i)) for i in range(3)))


def make_runner(log: list[str], fail_at: int | None = None):
    def factory(running: Running, name: str) -> Runner:
        return Runner(running, fake_chapter(log, fail_at), events=FakeEvents())
    return factory


# --- the engine ---------------------------------------------------------------------------

def test_runner_runs_one_step_at_a_time_and_finish_undoes(running):
    log: list[str] = []
    runner = make_runner(log)(running, "fake")
    first = runner.next()
    assert first.ok and first.detail == "detail 0" and first.page == EVIL_PAGE
    assert first.hops[0].path == "/oauth/token" and log == ["step 0"]
    assert runner.next().index == 1 and runner.next().index == 2
    assert runner.done and runner.next() is None
    runner.finish()
    runner.finish()  # idempotent
    assert log == ["step 0", "step 1", "step 2", "undo"]


def test_a_failed_step_says_why_and_stops_the_chapter(running):
    log: list[str] = []
    runner = make_runner(log, fail_at=1)(running, "fake")
    runner.next()
    failed = runner.next()
    assert not failed.ok and "DVA weg" in failed.detail
    assert runner.done and runner.next() is None and len(runner.results) == 2


def _events(node: str, items: list[dict]) -> dict:
    return {"node": node, "last": len(items), "events": items}


def hop(corr: str, t: float, caller: str = "client", path: str = "/oauth/authorize",
        status: int = 302) -> dict:
    return {"seq": 1, "t": t, "node": "x", "kind": "hop", "method": "GET", "path": path,
            "status": status, "ms": 10.0, "corr": corr, "req": "-", "caller": caller}


def test_hops_of_a_step_are_its_correlation_id_and_the_system_calls(running):
    """Hops with the chapter's id that started in the step, admin calls without an id (the
    vendor module's) and, for a background step, the nodes' own list refreshes."""
    now = time.time()
    events = {"dva-nexus": [
        hop("c1", now + 1.0, caller="pgo-alpha", path="/oauth/token", status=200),
        hop("c1", now - 5.0),  # an earlier step's
        hop("other", now + 1.0),  # another journey's
        hop("-", now + 1.0, path="/health", status=200),  # the supervisor's probe
        hop("-", now + 2.0), hop("-", now + 2.1), hop("-", now + 2.2, status=400),  # polls
    ], "registry": [hop("-", now + 1.5, caller="dva-nexus", path="/MedMij_Whitelist.xml",
                        status=200)]}

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"].startswith("Bearer ")
        node = next(n.id for n in running.topology.nodes
                    if running.url(n.id) == str(request.url).split("/admin")[0])
        return httpx.Response(200, json=_events(node, events.get(node, [])))

    reader = EventReader(running, httpx.Client(transport=httpx.MockTransport(answer)))
    found = reader.hops("c1", now)
    assert [(h.caller, h.path, h.status, h.count) for h in found] == [
        ("pgo-alpha", "/oauth/token", 200, 1), ("sandbox", "/oauth/authorize", 302, 2),
        ("sandbox", "/oauth/authorize", 400, 1)]
    background = reader.hops("c1", now, background=True)
    assert ("dva-nexus", "/MedMij_Whitelist.xml") in [(h.caller, h.path) for h in background]
    reader.close()


def test_a_node_that_does_not_answer_gives_no_hops(running):
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    reader = EventReader(running, httpx.Client(transport=httpx.MockTransport(down)))
    reader.mark()
    assert reader.hops("c1", 0.0) == []


def test_fold_keeps_distinct_hops_apart():
    a = Hop("dva-nexus", "sandbox", "GET", "/oauth/authorize", 302, 1.0, 0.0)
    b = Hop("dva-lumen", "sandbox", "GET", "/oauth/authorize", 302, 2.0, 0.1)
    c = Hop("dva-nexus", "sandbox", "GET", "/oauth/authorize", 302, 5.0, 0.2)
    d = Hop("dva-nexus", "browser", "GET", "/x", 200, 1.0, 0.3)
    folded = fold([a, b, c, d])
    assert [(h.node, h.count) for h in folded] == [("dva-nexus", 2), ("dva-lumen", 1),
                                                    ("dva-nexus", 1)]
    assert folded[0].ms == 5.0 and "×2" in folded[0].line


def test_a_journey_is_told_step_by_step():
    """``FlowSteps`` drives a ``scenarios.flow`` journey only while its events carry the
    step's name; the next step picks up where it stopped."""
    sent: list[str] = []

    def journey():
        yield Request("one", "GET", "http://a/1")
        yield Note("one", "first done")
        yield Request("two", "GET", "http://a/2")
        yield Note("two", "second done")
        return "value"

    steps = FlowSteps(journey())
    assert steps.run(lambda r: sent.append(r.url), "one") == "first done"
    assert sent == ["http://a/1"] and not steps.done
    assert steps.run(lambda r: sent.append(r.url), "two") == "second done"
    assert steps.done and steps.value == "value"


def test_every_chapter_is_told_in_dutch_and_english():
    assert set(CHAPTERS) == {"collect", "consent-revoke", "long-lived-consent", "inspection",
                             "share", "bankruptcy"}
    for chapter in CHAPTERS.values():
        texts = [chapter.title, chapter.intro] + [t for s in chapter.steps
                                                  for t in (s.title, s.narration)]
        assert all(t["nl"] and t["en"] and t["nl"] != t["en"] for t in texts), chapter.name
        assert len({s.key for s in chapter.steps}) == len(chapter.steps)


# --- the story page -------------------------------------------------------------------------

class Page:
    """The story page app in-process (ASGI), with the fake chapter and an injected reset."""

    def __init__(self, running: Running) -> None:
        self.log: list[str] = []
        self.resets: list[int] = []

        def reset() -> Running:
            self.resets.append(1)
            return running

        self.state = story_web.StoryState(running, "collect", reset=reset,
                                          runner_factory=make_runner(self.log))
        self.app = story_web.create_app(self.state)

    @asynccontextmanager
    async def client(self):
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE,
                                     follow_redirects=True) as client:
            yield client
        self.state.close()

    async def token(self, client: httpx.AsyncClient, lang: str = "nl") -> str:
        r = await client.get("/", params={"lang": lang})
        assert r.status_code == 200
        return re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)


@pytest.fixture
def page(running) -> Page:
    return Page(running)


@pytest.mark.anyio
async def test_a_button_needs_the_csrf_token(page):
    async with page.client() as client:
        csrf = await page.token(client)
        r = await client.post("/next", data={"csrf": "wrong", "lang": "nl"})
        assert r.status_code == 403 and "CSRF" in r.text and "Terug" in r.text
        assert page.log == []
        r = await client.post("/next", data={"csrf": csrf, "lang": "nl"},
                              follow_redirects=False)
        assert r.status_code == 303 and page.log == ["step 0"]


@pytest.mark.anyio
async def test_a_button_from_another_site_is_refused(page):
    async with page.client() as client:
        csrf = await page.token(client)
        r = await client.post("/reset", data={"csrf": csrf, "lang": "en"},
                              headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and "foreign Origin" in r.text and page.resets == []
        r = await client.post("/next", data={"csrf": csrf, "lang": "en"},
                              headers={"Origin": BASE}, follow_redirects=False)
        assert r.status_code == 303 and page.log == ["step 0"]


@pytest.mark.anyio
async def test_only_a_loopback_host_is_served(page):
    """DNS rebinding: a name of the attacker's that resolves to 127.0.0.1 gets nothing."""
    async with page.client() as client:
        r = await client.get("/", headers={"Host": "evil.example:8765"})
        assert r.status_code == 400
        r = await client.get("/", headers={"Host": "localhost:8765"})
        assert r.status_code == 200


@pytest.mark.anyio
async def test_the_citizens_page_is_shown_sandboxed_and_escaped(page):
    async with page.client() as client:
        csrf = await page.token(client)
        r = await client.post("/next", data={"csrf": csrf, "lang": "nl"})
    assert r.status_code == 200 and 'data-step="s0"' in r.text
    frame = re.search(r"<iframe[^>]*>", r.text).group(0)
    assert 'sandbox=""' in frame and "&lt;script&gt;" in frame and "&#34;boe&#34;" in frame
    assert "<script" not in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert "POST /oauth/token" in r.text and "Nexus DVA" in r.text  # the system view


@pytest.mark.anyio
async def test_language_switch(page):
    async with page.client() as client:
        csrf = await page.token(client)
        await client.post("/next", data={"csrf": csrf, "lang": "en"})
        en = (await client.get("/", params={"lang": "en"})).text
        nl = (await client.get("/", params={"lang": "nl"})).text
        other = (await client.get("/", params={"lang": "xx"})).text
    assert "Next step" in en and "Told 0" in en and 'lang="en"' in en
    assert "Volgende stap" in nl and "Verteld 0" in nl
    assert "Volgende stap" in other


@pytest.mark.anyio
async def test_replay_puts_back_and_starts_again(page):
    async with page.client() as client:
        csrf = await page.token(client)
        for _ in range(3):
            await client.post("/next", data={"csrf": csrf, "lang": "nl"})
        assert page.state.current().done
        assert "Einde van het hoofdstuk" in (await client.get("/")).text
        await client.post("/replay", data={"csrf": csrf, "lang": "nl"})
        assert page.log[-1] == "undo" and page.state.current().results == []


@pytest.mark.anyio
async def test_reset_for_the_next_audience(page):
    async with page.client() as client:
        csrf = await page.token(client)
        await client.post("/next", data={"csrf": csrf, "lang": "nl"})
        r = await client.post("/reset", data={"csrf": csrf, "lang": "nl"})
        assert page.resets == [1] and page.log[-1] == "undo" and "teruggezet" in r.text
        assert page.state.current().results == []


@pytest.mark.anyio
async def test_choose_a_chapter(page):
    async with page.client() as client:
        csrf = await page.token(client)
        r = await client.post("/chapter", data={"csrf": csrf, "lang": "nl", "name": "nope"})
        assert r.status_code == 400 and "unknown chapter" in r.text
        await client.post("/chapter", data={"csrf": csrf, "lang": "nl",
                                             "name": "bankruptcy"})
        assert page.state.chapter == "bankruptcy"


@pytest.mark.anyio
async def test_play_runs_on_and_pause_stops(page, monkeypatch):
    monkeypatch.setattr(story_web, "PLAY_PAUSE_SECONDS", 0.05)
    async with page.client() as client:
        csrf = await page.token(client)
        await client.post("/play", data={"csrf": csrf, "lang": "nl"})
        assert 'http-equiv="refresh"' in (await client.get("/")).text
        deadline = time.monotonic() + 10
        while not page.state.current().done and time.monotonic() < deadline:
            time.sleep(0.02)
        assert page.log[:3] == ["step 0", "step 1", "step 2"]
        await client.post("/pause", data={"csrf": csrf, "lang": "nl"})
        assert not page.state.playing


# --- the command line -----------------------------------------------------------------------

def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """pgo-sandbox (the story command only)."""

    story_cli.register(app)
    return app


def test_cli_lists_the_chapters():
    result = CliRunner().invoke(cli(), ["story", "--list", "--lang", "en"])
    assert result.exit_code == 0
    assert all(c in result.output for c in CHAPTERS)
    assert "A vendor goes bankrupt" in result.output


@pytest.mark.parametrize("args, says", [
    (["story", "nope"], "unknown chapter 'nope'; known: collect"),
    (["story", "collect", "--lang", "de"], "unknown language 'de'; known: nl, en"),
    (["story"], "story --list"),
])
def test_cli_refuses_what_it_does_not_know(args, says, tmp_path):
    result = CliRunner().invoke(cli(), [*args, "--state-dir", str(tmp_path)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 2 and says in result.output


def test_cli_without_a_sandbox(tmp_path):
    result = CliRunner().invoke(cli(), ["story", "collect", "--state-dir", str(tmp_path)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "pgo-sandbox up" in result.output
