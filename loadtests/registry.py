"""MedMij nodes polling the registry's four lists, as every DVA and DVP does in the background.

Each Locust user is one node; it reads ZAL, OCL, Whitelist and GNL once per refresh interval
(the topology's ``list_refresh_seconds``; MedMij allows at most 900 s). Steps "list ZAL" ….
A list download is a back channel: over TLS each user presents the certificate of the DVA or
PGO it plays (both are on the Whitelist the registry admits).
"""

from __future__ import annotations

import random
import time

from locust import FastHttpUser, task

from loadtests.common import THINK_SCALE
from loadtests.medmij import back_channel_session
from loadtests.target import target
from simulators.common.lists import PATHS

NAMES = {"zal": "ZAL", "ocl": "OCL", "whitelist": "Whitelist", "gnl": "GNL"}


class ListPoller(FastHttpUser):
    """One MedMij node keeping its lists fresh."""

    host = "http://127.0.0.1"
    weight = 1

    def on_start(self) -> None:
        sandbox = target()
        topology = sandbox.topology
        self.node = random.choice([n for n in topology.nodes if n.role in ("dva", "dvp")])
        self.client = back_channel_session(self, sandbox, self.node)
        self.registry = sandbox.url("registry")
        self.interval = sandbox.topology.list_refresh_seconds * THINK_SCALE
        self.started = time.monotonic()

    def wait_time(self) -> float:
        """Constant pacing: one round of the four lists per refresh interval."""
        return max(0.0, self.interval - (time.monotonic() - self.started))

    @task
    def poll(self) -> None:
        self.started = time.monotonic()
        for kind, path in PATHS.items():
            with self.client.get(f"{self.registry}{path}?api=1", name=f"list {NAMES[kind]}",
                                 catch_response=True) as r:
                if r.status_code == 200 and (r.content or b"").lstrip().startswith(b"<"):
                    r.success()
                else:
                    r.failure(f"{r.status_code}: not a list")


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(ListPoller)
