"""Scenario reports: steps with timings and correlation ids, a rich table, a JSON file."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table


@dataclass
class Step:
    name: str
    ok: bool
    seconds: float
    detail: str = ""
    correlation_id: str = ""


# Who hears a scenario's steps as they happen: (report, event, name or Step). Set by the CLI
# (``live``) so a long scenario shows its progress instead of minutes of silence.
Listener = Callable[["ScenarioReport", str, object], None]
_listener: ContextVar[Listener | None] = ContextVar("scenario_listener", default=None)


@contextmanager
def live(listener: Listener) -> Iterator[None]:
    """Within the block, every ScenarioReport step start, end and timeline mark is told to
    ``listener`` as it happens (events ``start``, ``ok``, ``failed``, ``mark``)."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def _tell(report: ScenarioReport, event: str, what: object) -> None:
    listener = _listener.get()
    if listener is not None:
        listener(report, event, what)


@dataclass
class ScenarioReport:
    scenario: str
    steps: list[Step] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    timeline: list[tuple[float, str]] = field(default_factory=list)

    def mark(self, event: str) -> None:
        """A moment on the scenario's timeline, in seconds since it started."""
        self.timeline.append((round(time.time() - self.started, 3), event))
        _tell(self, "mark", event)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    @property
    def failure(self) -> str:
        """Why the scenario failed, failed step and its error first; "" when it passed."""
        if self.ok:
            return ""
        failed = [s for s in self.steps if not s.ok]
        if not failed:
            return f"scenario {self.scenario} FAILED: no step ran"
        lines = [f"FAILED step {s.name!r}: {s.detail}"
                 + (f" [corr {s.correlation_id}]" if s.correlation_id else "") for s in failed]
        passed = [s.name for s in self.steps if s.ok]
        return "; ".join(lines) + f" (scenario {self.scenario}; {len(passed)} steps ok before)"

    def __repr__(self) -> str:
        """What pytest shows for ``assert report.ok``: the failure, not the whole dataclass."""
        return f"<ScenarioReport {self.scenario} {self.failure or 'passed'}>"

    @contextmanager
    def step(self, name: str, correlation_id: str = ""):
        """Time a step; an exception inside marks it failed and stops the scenario."""
        start = time.perf_counter()
        holder = {"detail": ""}
        _tell(self, "start", name)
        try:
            yield holder
        except Exception as exc:
            self.steps.append(Step(name, False, time.perf_counter() - start,
                                   f"{type(exc).__name__}: {exc}", correlation_id))
            _tell(self, "failed", self.steps[-1])
            raise StepFailed(name) from exc
        self.steps.append(Step(name, True, time.perf_counter() - start, holder["detail"],
                               correlation_id))
        _tell(self, "ok", self.steps[-1])

    def to_dict(self) -> dict:
        return ReportDict(self.failure, {
                "scenario": self.scenario, "ok": self.ok, "started": self.started,
                "seconds": sum(s.seconds for s in self.steps),
                "steps": [asdict(s) for s in self.steps], "summary": self.summary,
                "timeline": [{"t": t, "event": e} for t, e in self.timeline]})

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2), "utf-8")

    def print(self, console: Console) -> None:
        if self.timeline:
            timeline = Table(title=f"timeline of {self.scenario}")
            timeline.add_column("t (s)", justify="right")
            timeline.add_column("event")
            for t, event in self.timeline:
                timeline.add_row(f"{t:.2f}", event)
            console.print(timeline)
        table = Table(title=f"scenario {self.scenario}")
        table.add_column("step")
        table.add_column("result")
        table.add_column("ms", justify="right")
        table.add_column("detail", overflow="fold")
        table.add_column("correlation id", overflow="fold")
        for s in self.steps:
            table.add_row(s.name, "[green]ok[/]" if s.ok else "[red]FAILED[/]",
                          f"{s.seconds * 1000:.1f}", s.detail, s.correlation_id)
        console.print(table)
        if self.summary:
            summary = Table(title="summary", show_header=False)
            summary.add_column("what")
            summary.add_column("value", overflow="fold")
            for key, value in self.summary.items():
                summary.add_row(key.replace("_", " "), str(value))
            console.print(summary)
        verdict = "[green]passed[/]" if self.ok else "[red]failed[/]"
        console.print(f"scenario {self.scenario} {verdict}")


class ReportDict(dict):
    """A report as a dict (for JSON) whose repr leads with the failed step and its error.

    Tests write ``assert report.ok, report.to_dict()``; pytest shows the message through a
    repr cut to 240 characters, which used to end inside the first passed step's timings.
    ``str()`` stays the full dict."""

    def __init__(self, failure: str, data: dict) -> None:
        super().__init__(data)
        self.failure = failure

    def __repr__(self) -> str:
        return self.failure or dict.__repr__(self)

    def __str__(self) -> str:
        return dict.__repr__(self)


class StepFailed(Exception):
    """A step failed; the report already holds why."""
