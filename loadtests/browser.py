"""The scripted browser of scenarios/useragent.py, sending through Locust's HTTP session.

Same forms (hidden fields such as CSRF tokens included), same redirects, same cookies (the
session's cookie jar; every node's cookie has its own name, so nodes on one host do not mix),
the PGO session's CSRF token on POSTs; each request is reported under its MedMij step
(``common.step_name``) and MedMij hostnames are resolved through the runtime's address map.
Over TLS the browser trusts the sandbox CA and, as a browser does, presents no certificate.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from locust import HttpUser
from locust.clients import HttpSession
from requests import Response

from loadtests.common import step_name
from loadtests.target import Target, target
from scenarios.accounts import PgoAccount
from scenarios.flow import Flow, Pause, Request
from scenarios.useragent import Browser
from simulators.medmij import CORRELATION_ID

T = TypeVar("T")


class LocustBrowser(Browser):
    """A person's browser inside a Locust user: ``LocustBrowser(self.client, target())``."""

    def __init__(self, session: HttpSession, target: Target) -> None:  # no httpx client
        self.client = session  # type: ignore[assignment]
        self.target = target
        self.correlation_id = str(uuid.uuid4())
        self.hops: list[tuple[str, str, int]] = []
        self.csrf: dict[str, str] = {}

    def new_visit(self) -> None:
        """A fresh browser session: no cookies (no DigiD single sign-on, logged out of the PGO),
        a new correlation id."""
        self.client.cookies.clear()
        self.csrf.clear()
        self.correlation_id = str(uuid.uuid4())
        self.hops.clear()

    def close(self) -> None:
        """The Locust user owns the session."""

    def request(self, method: str, url: str, **kwargs: Any) -> Response:  # type: ignore[override]
        url = self.target.resolve(url)
        name = kwargs.pop("name", None) or step_name(self.target.node_of(url), method,
                                                     urlsplit(url).path)
        headers = {CORRELATION_ID: self.correlation_id,
                   **self.csrf_headers(method, url, kwargs.pop("headers", None))}
        # per request, not on the session: a session's verify loses to $REQUESTS_CA_BUNDLE
        # when it trusts the environment (an HttpSession outside an HttpUser does); the sandbox
        # CA over TLS, and no certificate (a browser's front channel)
        response = self.client.request(method, url, name=name, headers=headers,
                                       allow_redirects=False, verify=self.target.verify(),
                                       cert=None, **kwargs)
        self.hops.append((method, url, response.status_code))
        return response

    def run(self, flow: Flow[T], think: Callable[[float, float], object] | None = None) -> T:
        """Drive a journey of ``scenarios.flow``: ``think`` sleeps its pauses (a
        ``Transaction``'s, so they are not counted in the flow's latency); a request counts as
        failed in Locust's statistics when the journey rejects its answer."""
        try:
            event = next(flow)
            while True:
                if not isinstance(event, Request):
                    if isinstance(event, Pause) and think is not None:
                        think(event.low, event.high)
                    event = flow.send(None)
                    continue
                with self.request(event.method, event.url, data=event.data,
                                  params=event.params, headers=event.headers,
                                  catch_response=True) as answer:
                    try:  # the journey judges the answer before Locust counts it
                        event = flow.send(answer)
                    except StopIteration:
                        answer.success()
                        raise
                    except Exception as exc:
                        answer.failure(str(exc)[:300])
                        raise
                    answer.success()
        except StopIteration as done:
            return done.value


class PersonUser(HttpUser):
    """A person with a browser, known at one of the topology's PGOs: what every browser-flow
    user (collect, long-lived consent, inspection, PGO, share, portability) starts from."""

    abstract = True
    host = "http://127.0.0.1"  # every request is absolute; see loadtests.target

    def on_start(self) -> None:
        self.target = target()
        self.browser = LocustBrowser(self.client, self.target)
        self.dvp = random.choice(self.target.topology.dvps)
        self.account: PgoAccount | None = None
