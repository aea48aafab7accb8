"""The story engine: chapters of narrated steps that drive the real sandbox one at a time.

A trainer shows the MedMij system to an audience at their own pace, so a chapter is not one
``run`` like a scenario but a list of ``Step``s, each with a title and a narration in Dutch
and English and an action: what the citizen's browser (a scripted ``Browser``) or the system
(MedMij Beheer, the curator, the sandbox clock) does. The ``Runner`` runs one step at a time
and returns a ``StepResult``: what happened (detail), the citizen's page at that step (the
last HTML the browser got, or the page it looked at afterwards) and the system view: the hops
the nodes saw for that step, read from every node's ``/admin/events``.

A chapter is one journey with one X-Correlation-ID (as a scenario's browser has): the nodes
pass it on to the peers they call, also later (the PGO's token request after the consent
carries the id of the connect that started it). So a step's hops are those with the
chapter's id that started during the step, at any node; admin calls made for the system (the
vendor module's clients send no correlation id) are those without an id from a plain client
during the step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from sandbox.state import Running
from scenarios.flow import Flow, Note, Request
from scenarios.useragent import Browser

LANGS = ("nl", "en")


def text(nl: str, en: str) -> dict[str, str]:
    """One text in both languages (Dutch first: the audience is Dutch)."""
    return {"nl": nl, "en": en}


class StoryBrowser(Browser):
    """The citizen's scripted browser, remembering the last page (HTML) it was shown, so the
    story can put that page beside the system view."""

    def __init__(self, addresses: dict[str, str]) -> None:
        super().__init__(addresses)
        self.page: str | None = None
        self.page_url = ""

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        response = super().request(method, url, **kwargs)
        if "text/html" in response.headers.get("content-type", ""):
            self.page, self.page_url = response.text, str(response.url)
        return response


@dataclass
class StoryContext:
    """What the steps of one chapter share: the sandbox, the citizen's browser, and what
    earlier steps found (``facts``: the person, the account, ...)."""

    running: Running
    browser: StoryBrowser
    facts: dict[str, Any] = field(default_factory=dict)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def look(self, url: str, **kwargs) -> httpx.Response:
        """The citizen opens a page (the story shows it as this step's page)."""
        return self.browser.follow(self.browser.get(url, **kwargs))


Action = Callable[[StoryContext], str]


@dataclass(frozen=True)
class Step:
    """One narrated step: ``action`` returns a short detail of what the system did."""

    key: str
    title: dict[str, str]
    narration: dict[str, str]
    action: Action
    background: bool = False  # also show the nodes' own traffic (list refreshes) meanwhile


@dataclass(frozen=True)
class Chapter:
    name: str
    title: dict[str, str]
    intro: dict[str, str]
    steps: tuple[Step, ...]


@dataclass
class Hop:
    """One request a node answered during a step (from its ``/admin/events``)."""

    node: str
    caller: str
    method: str
    path: str
    status: int
    ms: float
    start: float  # Unix time the request started (event time minus its duration)
    count: int = 1  # repeats folded into one line (a DVA polled until it refuses)

    @property
    def line(self) -> str:
        times = f" ×{self.count}" if self.count > 1 else ""
        return (f"{self.caller} → {self.node}  {self.method} {self.path}  {self.status}  "
                f"{self.ms:.0f} ms{times}")


@dataclass
class StepResult:
    index: int
    step: Step
    ok: bool
    detail: str
    seconds: float
    correlation_id: str
    page: str | None = None  # the HTML the citizen's browser had at this step
    page_url: str = ""
    hops: list[Hop] = field(default_factory=list)


class EventReader:
    """Reads every node's recent events (admin token) and remembers where it left off."""

    def __init__(self, running: Running, client: httpx.Client | None = None) -> None:
        from simulators.common.http import sync_client

        self.running = running
        self.client = client or sync_client(running.info.addresses, timeout=10.0)
        self.seen: dict[str, int] = {}

    def close(self) -> None:
        self.client.close()

    def _poll(self, node: str) -> tuple[int, list[dict]]:
        try:
            r = self.client.get(self.running.url(node, "/admin/events"),
                                params={"since": self.seen.get(node, 0)},
                                headers=self.running.admin_headers)
            r.raise_for_status()
        except httpx.HTTPError:
            return self.seen.get(node, 0), []  # a node down (a fault, a restart): no hops
        body = r.json()
        return int(body["last"]), list(body["events"])

    def mark(self) -> None:
        """Skip what happened so far (before the first step)."""
        for node in self.running.topology.nodes:
            self.seen[node.id] = self._poll(node.id)[0]

    def hops(self, correlation_id: str, since: float, background: bool = False
             ) -> list[Hop]:
        """The hops that started after ``since`` (the step's start) with the chapter's
        correlation id, or with none from a plain client (the system's admin calls); with
        ``background`` also the nodes' own calls without an id (list refreshes)."""
        found: list[Hop] = []
        for node in self.running.topology.nodes:
            last, events = self._poll(node.id)
            self.seen[node.id] = last
            for e in events:
                if e.get("kind") != "hop" or e["path"] == "/health":
                    continue
                start = e["t"] - e["ms"] / 1000
                if start < since:
                    continue
                ours = e["corr"] == correlation_id
                untied = e["corr"] == "-"
                if ours or (untied and (e["caller"] == "client" or background)):
                    caller = e["caller"] if e["caller"] != "client" else (
                        "browser" if ours else "sandbox")
                    found.append(Hop(node.id, caller, e["method"], e["path"], e["status"],
                                     e["ms"], start))
        found.sort(key=lambda h: h.start)
        return fold(found)


def fold(hops: list[Hop]) -> list[Hop]:
    """Repeated hops as one line with a count: consecutive identical ones (a search sent
    twice), and every repeat of the sandbox's own polls (a DVA probed until it refuses)."""
    out: list[Hop] = []
    polls: dict[tuple, Hop] = {}
    for hop in hops:
        key = (hop.node, hop.caller, hop.method, hop.path, hop.status)
        last = out[-1] if out else None
        same = last if last and key == (last.node, last.caller, last.method, last.path,
                                        last.status) else polls.get(key)
        if same is not None:
            same.count += 1
            same.ms = max(same.ms, hop.ms)
            continue
        out.append(hop)
        if hop.caller == "sandbox":
            polls[key] = hop
    return out


class Runner:
    """One chapter being told: ``next()`` runs the next step; ``finish()`` puts back what the
    chapter changed (the clock, a bankrupt vendor) and closes the browser."""

    def __init__(self, running: Running, chapter: Chapter,
                 events: EventReader | None = None) -> None:
        self.running = running
        self.chapter = chapter
        self.context = StoryContext(running, StoryBrowser(running.info.addresses))
        self.events = events or EventReader(running)
        self.results: list[StepResult] = []
        self.failed = False
        self.finished = False
        self.events.mark()

    @property
    def done(self) -> bool:
        return self.failed or len(self.results) >= len(self.chapter.steps)

    def next(self) -> StepResult | None:
        """Run the next step (None when the chapter is over or stopped at a failure)."""
        if self.done or self.finished:
            return None
        index = len(self.results)
        step = self.chapter.steps[index]
        browser = self.context.browser
        browser.page, browser.page_url = None, ""
        wall, start = time.time(), time.perf_counter()
        ok = True
        try:
            detail = step.action(self.context)
        except Exception as exc:  # a step of a live system can fail: the story says how
            ok, detail = False, f"{type(exc).__name__}: {exc}"
            self.failed = True
        corr = browser.correlation_id
        result = StepResult(index, step, ok, detail, time.perf_counter() - start, corr,
                            browser.page, browser.page_url)
        time.sleep(0.05)  # the last hop's event is published just after its answer
        result.hops = self.events.hops(corr, wall - 0.002, step.background)
        self.results.append(result)
        return result

    def finish(self) -> None:
        """Undo the chapter's changes to the sandbox (latest first); idempotent."""
        if self.finished:
            return
        self.finished = True
        try:
            while self.context.cleanups:
                self.context.cleanups.pop()()
        finally:
            self.context.browser.close()
            self.events.close()


class FlowSteps:
    """A journey of ``scenarios.flow`` told step by step: ``run(name)`` drives its events
    while they carry that step name (as ``run_reported`` does for a whole report)."""

    def __init__(self, flow: Flow[Any]) -> None:
        self.flow = flow
        self.event = next(flow)
        self.done = False
        self.value: Any = None

    def run(self, send: Callable[[Request], Any], name: str) -> str:
        detail = ""
        while not self.done and self.event.step == name:
            event = self.event
            answer = send(event) if isinstance(event, Request) else None
            if isinstance(event, Note):
                detail = event.text
            try:
                self.event = self.flow.send(answer)
            except StopIteration as finished:
                self.done, self.value = True, finished.value
        return detail
