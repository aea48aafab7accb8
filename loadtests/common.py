"""What every flow shares: think time, the end-to-end transaction, step names, the run's bound.

A flow is a straight-line task, not a SequentialTaskSet, so that one ``Transaction`` can time it
end to end; think time inside it is slept but not counted in the transaction's latency.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from types import TracebackType

import gevent
from locust import events
from locust.env import Environment
from locust.exception import InterruptTaskSet, RescheduleTask, StopUser
from locust.runners import WorkerRunner

from scenarios.flow import FlowError as FlowError  # the journeys' one, for the flows
from simulators.medmij.topology import Node

FLOW = "FLOW"  # request_type of end-to-end transactions: never counted as requests
THINK_SCALE = float(os.environ.get("PGO_LOAD_THINK_SCALE", "1"))
MAX_REQUESTS = int(os.environ.get("PGO_LOAD_MAX_REQUESTS", "0"))  # per process; 0: unbounded
_CONTROL = (InterruptTaskSet, RescheduleTask, StopUser)


def think(low: float, high: float) -> float:
    """Sleep like a person reading or typing; PGO_LOAD_THINK_SCALE=0 removes it (tests)."""
    seconds = random.uniform(low, high) * THINK_SCALE
    if seconds > 0:
        gevent.sleep(seconds)
    return seconds


def pause(low: float, high: float) -> Callable[[object], float]:
    """A Locust wait_time between visits, scaled like think time."""
    return lambda _user: random.uniform(low, high) * THINK_SCALE


class Transaction:
    """Records a whole flow as one request event (type FLOW), e.g. "collect flow (48)".

    Latency is wall time minus think time; an exception fails the flow and ends the iteration.
    Example::

        with Transaction(self.environment, "collect flow (48)") as flow:
            flow.think(2, 5)
    """

    def __init__(self, environment: Environment, name: str) -> None:
        self.environment = environment
        self.name = name
        self.thought = 0.0
        self.start = 0.0

    def think(self, low: float, high: float) -> None:
        self.thought += think(low, high)

    def __enter__(self) -> Transaction:
        self.start = time.perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc is not None and (not isinstance(exc, Exception) or isinstance(exc, _CONTROL)):
            return False  # the user is being stopped: neither success nor failure
        elapsed = (time.perf_counter() - self.start - self.thought) * 1000
        self.environment.events.request.fire(
            request_type=FLOW, name=self.name, response_time=elapsed, response_length=0,
            exception=exc, context={})
        return exc is not None  # recorded as a failed flow; the next iteration starts afresh


# Step names by node role, method and path: the MedMij step a request belongs to.
STEPS: list[tuple[str, str, re.Pattern[str], str]] = [
    (role, method, re.compile(path), name) for role, method, path, name in (
        ("dva", "GET", r"^/oauth/authorize$", "authorize"),
        ("dva", "GET", r"^/digid/acs$", "consent page"),
        ("dva", "POST", r"^/oauth/consent$", "consent"),
        ("dva", "POST", r"^/oauth/token$", "token"),
        ("digid", "GET", r"^/login$", "login page"),
        ("digid", "POST", r"^/login$", "login"),
        ("digid", "POST", r"^/login/continue$", "login (single sign-on)"),
        ("inspection", "GET", r"^/start$", "inspection start"),
        ("inspection", "GET", r"^/digid/acs$", "localisation"),
        ("inspection", "GET", r"^/next$", "next provider"),
        ("inspection", "GET", r"^/oauth/callback$", "inspection collect (token + searches)"),
        ("inspection", "GET", r"^/overview$", "overview"),
        ("dvp", "POST", r"^/api/persons$", "pgo account"),
        ("dvp", "POST", r"^/api/login$", "pgo login"),
        ("dvp", "GET", r"^/persons/[^/]+/connect$", "connect page"),
        ("dvp", "POST", r"^/persons/[^/]+/connect$", "connect"),
        ("dvp", "GET", r"^/oauth/callback$", "pgo collect (token + searches)"),
        ("dvp", "GET", r"^/api/persons/[^/]+/resources$", "pgo data"),
        ("dvp", "GET", r"^/api/persons/[^/]+/portability$", "portability report"),
        ("dvp", "GET", r"^/persons/[^/]+/share$", "share page"),
        ("dvp", "POST", r"^/persons/[^/]+/share$", "share start"),
        ("dvp", "GET", r"^/oauth/share/callback$", "share write (token + write)"),
    )
]


def step_name(node: Node | None, method: str, path: str) -> str:
    """The step a request is reported under, e.g. 'authorize'; unknown paths by role and path."""
    role = node.role if node else "?"
    for step_role, step_method, pattern, name in STEPS:
        if role == step_role and method == step_method and pattern.match(path):
            return name
    return f"{role} {method} {path}"


def flow_name(kind: str, services: tuple[str, ...]) -> str:
    """'collect flow (48)': the transaction's name says which gegevensdiensten it collected."""
    return f"{kind} flow ({'+'.join(services)})"


def search_name(query: str, service: str) -> str:
    """'search Condition', 'search Observation' ($lastn included); other services say which."""
    resource = query.split("?", 1)[0].split("/", 1)[0]
    return f"search {resource}" if service == "48" else f"search {resource} ({service})"


@events.init.add_listener
def _bound_requests(environment: Environment, **_: object) -> None:
    """Stop this process's users after PGO_LOAD_MAX_REQUESTS requests: every run is bounded."""
    if MAX_REQUESTS <= 0:
        return
    count = 0

    def on_request(request_type: str, **_: object) -> None:
        nonlocal count
        if request_type == FLOW:
            return
        count += 1
        if count == MAX_REQUESTS and environment.runner is not None:
            gevent.spawn(_end_run, environment.runner)

    environment.events.request.add_listener(on_request)


def _end_run(runner) -> None:
    """End this process's part of the run once its budget is spent. A worker first hands
    the master what it measured since its last report: Locust reports every few seconds and
    ``quit`` alone drops the rest, so a short budget used to end a distributed run (local
    ``--workers`` and ``--worker-containers`` alike) with no request in its statistics."""
    if isinstance(runner, WorkerRunner):
        runner.stop()
        runner._send_stats()  # what WorkerRunner does itself on the master's "quit"
    runner.quit()
