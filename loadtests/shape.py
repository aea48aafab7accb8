"""A busy morning, compressed into the run's duration: how many users are active when.

People collect on waking, on the commute and before the first appointment; the peak (the run's
``--users``) comes a third of the way in and lasts a fifth of the run, then it settles to
about half. Read by Locust when ``pgo-sandbox load … --shape morning`` adds this file.
"""

from __future__ import annotations

import os

from locust import LoadTestShape

# (fraction of the run, fraction of peak users): 06:30 … 10:30 if the run were four hours
MORNING: tuple[tuple[float, float], ...] = (
    (0.00, 0.05), (0.10, 0.15), (0.25, 0.55), (0.35, 1.00), (0.55, 1.00), (0.70, 0.65),
    (0.85, 0.50), (1.00, 0.45),
)


def users_at(fraction: float, peak: int) -> int:
    """Peak users scaled by the morning curve, linear between its points."""
    for (x0, y0), (x1, y1) in zip(MORNING, MORNING[1:], strict=False):
        if x0 <= fraction <= x1:
            share = y0 + (y1 - y0) * (fraction - x0) / (x1 - x0)
            return max(1, round(peak * share))
    return max(1, round(peak * MORNING[-1][1]))


class MorningPeak(LoadTestShape):
    """Users over time for a busy morning: ``PGO_LOAD_USERS`` at the peak, over
    ``PGO_LOAD_DURATION`` seconds, ramping at ``PGO_LOAD_SPAWN_RATE`` users/s at most."""

    def tick(self) -> tuple[int, float] | None:
        peak = int(os.environ.get("PGO_LOAD_USERS", "50"))
        duration = float(os.environ.get("PGO_LOAD_DURATION", "300"))
        rate = float(os.environ.get("PGO_LOAD_SPAWN_RATE", "10"))
        elapsed = self.get_run_time()
        if elapsed >= duration:
            return None
        return users_at(elapsed / duration, peak), rate
