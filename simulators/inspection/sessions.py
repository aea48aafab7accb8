"""The inspection function's memory: one ``ViewSession`` per logged-in browser, in memory
only, timed by the injected clock (so ``pgo-sandbox clock advance`` ends sessions too).

Data minimisation (issue 11 item 4): a session holds which providers remain, the OAuth states
in flight and, per provider visited, the overview line the person will see (counts per
resource type and the found items in plain words); never a BSN, a pseudonym or a FHIR
resource. It is forgotten once the overview is shown or ``SESSION_SECONDS`` have passed:
nothing is written to disk. The admin view (``state``) shows counts only, never the items.

Bound: nothing is kept for a browser before its DigiD login is confirmed. ``/start`` gives
the browser a pre-login cookie ``<created>.<nonce>`` and DigiD a ``RelayState`` that is the
HMAC of that cookie under a key only this process knows (as DigiD and the PGO bind their
pre-login CSRF tokens); ``/digid/acs`` recomputes it. So anonymous requests cost no memory, and
the sessions table holds at most one entry per DigiD-confirmed login of the last
``SESSION_SECONDS``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from simulators.common.clock import Clock
from simulators.common.security import PendingLogins, new_token

SESSION_SECONDS = 15 * 60
LOGIN_SECONDS = SESSION_SECONDS  # a DigiD login started at /start must return within this
RESULT_COUNTS = ("provider", "status", "resources")  # what the admin view shows of a result


@dataclass
class ViewSession:
    """One browser's visit, from its DigiD return on; ``logged_in`` once DigiD confirmed
    the login."""

    correlation_id: str
    created: float
    logged_in: bool = False
    queue: list[dict] = field(default_factory=list)  # providers still to visit
    pending: dict[str, dict] = field(default_factory=dict)  # OAuth state -> provider entry
    results: list[dict] = field(default_factory=list)  # per provider: the overview line

    def held(self) -> dict:
        """What this session holds, for the admin view: no tokens, no states, and of each
        result only its counts (not the person's clinical items)."""
        return {"correlation_id": self.correlation_id, "logged_in": self.logged_in,
                "queue": self.queue, "pending": list(self.pending.values()),
                "results": [{k: r[k] for k in RESULT_COUNTS if k in r} for r in self.results]}


class SessionStore:
    """The sessions of every logged-in browser, keyed by the session cookie, and the key
    that binds a pending login to its browser without storing it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sessions: dict[str, ViewSession] = {}
        self.pending = PendingLogins(LOGIN_SECONDS, clock.now)  # a restart voids them

    def expire(self) -> None:
        """Forget sessions older than SESSION_SECONDS, with whatever they held."""
        now = self.clock.now()
        for sid in [s for s, v in self.sessions.items() if now - v.created > SESSION_SECONDS]:
            del self.sessions[sid]

    # the pending DigiD login: stateless (``PendingLogins``) ---------------------------------

    def start_login(self) -> tuple[str, str]:
        """(pre-login cookie value, RelayState) for a new DigiD login; nothing is stored."""
        return self.pending.start()

    def login_ok(self, pre_login: str | None, relay_state: str | None) -> bool:
        """Whether this RelayState is the one issued with this browser's pre-login cookie,
        within LOGIN_SECONDS."""
        return self.pending.ok(pre_login, relay_state)

    # sessions ----------------------------------------------------------------------------

    def open(self) -> tuple[str, ViewSession]:
        """A new session for a browser whose pending login checked out (``login_ok``); the
        route sets ``logged_in`` once DigiD confirmed the artifact, and drops it otherwise."""
        self.expire()
        sid = new_token()
        session = ViewSession(correlation_id=str(uuid.uuid4()), created=self.clock.now())
        self.sessions[sid] = session
        return sid, session

    def get(self, sid: str | None) -> ViewSession | None:
        """The live session of this cookie, or None."""
        self.expire()
        return self.sessions.get(sid or "")

    def drop(self, sid: str | None) -> None:
        self.sessions.pop(sid or "", None)

    def state(self) -> dict:
        """What is held right now, for the admin view: counts, never clinical content."""
        self.expire()
        return {"sessions": len(self.sessions),
                "results_held": sum(len(s.results) for s in self.sessions.values()),
                "held": [s.held() for s in self.sessions.values()]}
