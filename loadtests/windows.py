"""Per-window statistics of a long run: what a soak test reads (``pgo-sandbox load --window``).

Locust's own CSVs give totals over the whole run and a 10-second "current" percentile; a soak
needs each window on its own (is the 25th minute as fast as the 5th?). This module, loaded as
one more ``-f`` file beside the flows, snapshots the runner's statistics every
``PGO_LOAD_WINDOW_S`` seconds and appends one JSON line per window to
``PGO_LOAD_WINDOWS_FILE``: per step the requests and failures *in that window* and its
p50/p95/p99 from the difference of Locust's response-time histograms. It runs where the
statistics are complete: the master (or the single local runner), never a worker.
"""

from __future__ import annotations

import json
import os
import time

import gevent
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from loadtests.soak import Snapshot, window

WINDOW_S = float(os.environ.get("PGO_LOAD_WINDOW_S", "0"))
OUT = os.environ.get("PGO_LOAD_WINDOWS_FILE", "")



def snapshot(environment: Environment) -> Snapshot:
    """Every step's cumulative counts and response-time histogram (ms bucket -> count)."""
    return {f"{e.method} {e.name}".strip(): (e.num_requests, e.num_failures,
                                             dict(e.response_times))
            for e in environment.stats.entries.values()}


class WindowWriter:
    """Appends a window line every ``seconds`` while the run lasts, and a last partial one."""

    def __init__(self, environment: Environment, seconds: float, out: str) -> None:
        self.environment = environment
        self.seconds = seconds
        self.out = out
        self.index = 0
        self.start = time.time()
        self.before = snapshot(environment)
        self.task = gevent.spawn(self._loop)

    def _loop(self) -> None:
        while True:
            gevent.sleep(max(0.0, self.start + (self.index + 1) * self.seconds - time.time()))
            self.flush()

    def flush(self) -> None:
        now = time.time()
        after = snapshot(self.environment)
        line = window(self.index, self.start + self.index * self.seconds, now, self.before,
                      after)
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        self.before = after
        self.index += 1

    def stop(self) -> None:
        self.task.kill(block=False)
        if time.time() - (self.start + self.index * self.seconds) > 1.0:
            self.flush()  # the last partial window, if it is more than a second long


@events.init.add_listener
def _start(environment: Environment, **_kwargs: object) -> None:
    if not WINDOW_S or not OUT or isinstance(environment.runner, WorkerRunner):
        return
    writers: list[WindowWriter] = []

    @environment.events.test_start.add_listener
    def _on_start(**_kw: object) -> None:
        writers.append(WindowWriter(environment, WINDOW_S, OUT))

    @environment.events.test_stop.add_listener
    def _on_stop(**_kw: object) -> None:
        while writers:
            writers.pop().stop()
