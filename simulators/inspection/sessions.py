"""The inspection function's memory: one ``ViewSession`` per browser, in memory only, timed
by the injected clock (so ``pgo-sandbox clock advance`` ends sessions too).

Data minimisation (issue 11 item 4): a session holds which providers remain, the OAuth states
in flight and per provider counts; never a BSN or a pseudonym. It is forgotten once the
overview is shown or ``SESSION_SECONDS`` have passed: nothing is written to disk.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from simulators.common.clock import Clock
from simulators.common.security import new_token

SESSION_SECONDS = 15 * 60


@dataclass
class ViewSession:
    """One browser's visit. ``relay_state`` is set while its DigiD login is pending and
    cleared when used (one time); ``logged_in`` once DigiD confirmed it for this browser."""

    correlation_id: str
    created: float
    relay_state: str | None = None
    logged_in: bool = False
    queue: list[dict] = field(default_factory=list)  # providers still to visit
    pending: dict[str, dict] = field(default_factory=dict)  # OAuth state -> provider entry
    results: list[dict] = field(default_factory=list)  # per provider: counts, status

    def held(self) -> dict:
        """What this session holds, for the admin view (no tokens, no states)."""
        return {"correlation_id": self.correlation_id, "logged_in": self.logged_in,
                "login_pending": self.relay_state is not None,
                "queue": self.queue, "pending": list(self.pending.values()),
                "results": self.results}


class SessionStore:
    """The sessions of every browser, keyed by the session cookie."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sessions: dict[str, ViewSession] = {}

    def expire(self) -> None:
        """Forget sessions older than SESSION_SECONDS, with whatever they held."""
        now = self.clock.now()
        for sid in [s for s, v in self.sessions.items() if now - v.created > SESSION_SECONDS]:
            del self.sessions[sid]

    def open(self, previous: str | None) -> tuple[str, ViewSession]:
        """A new session with a fresh one-time RelayState; the browser's previous session
        is dropped with what it held."""
        if previous:
            self.sessions.pop(previous, None)
        self.expire()
        sid = new_token()
        session = ViewSession(correlation_id=str(uuid.uuid4()), created=self.clock.now(),
                              relay_state=new_token())
        self.sessions[sid] = session
        return sid, session

    def get(self, sid: str | None) -> ViewSession | None:
        """The live session of this cookie, or None."""
        self.expire()
        return self.sessions.get(sid or "")

    def drop(self, sid: str) -> None:
        self.sessions.pop(sid, None)

    def state(self) -> dict:
        """Everything held right now (for the admin view)."""
        self.expire()
        return {"sessions": len(self.sessions),
                "results_held": sum(len(s.results) for s in self.sessions.values()),
                "held": [s.held() for s in self.sessions.values()]}
