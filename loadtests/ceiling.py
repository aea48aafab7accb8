"""Load on the ceiling endpoint (``ceiling_app``): closed loop, no think time, FastHttp.

``pgo-sandbox load`` runs it in the same command as the flow, with the same users and worker
processes, and reports the flow's figures as ratios to it. Step "ceiling".
"""

from __future__ import annotations

import os

from locust import FastHttpUser, constant, task


class CeilingUser(FastHttpUser):
    """Back-to-back GETs of the bare endpoint at ``PGO_LOAD_CEILING_URL``."""

    wait_time = constant(0)
    host = os.environ.get("PGO_LOAD_CEILING_URL", "http://127.0.0.1:19899")

    @task
    def bare(self) -> None:
        self.client.get("/", name="ceiling")


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(CeilingUser)
