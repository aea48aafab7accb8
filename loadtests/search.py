"""One BgZ search at saturation: the figure to hold against the ceiling (issue 5 target).

Each user consents once (authorize -> DigiD -> consent -> token, the real flow) and then sends
one search of gegevensdienst 48 back to back, no think time, over FastHttp: the DVA's resource
path at full load. ``PGO_LOAD_SEARCH`` picks the search (default ``Condition``, the query the
MGO DVA mock was measured with in PERFORMANCE.md). Over TLS the searches go out on the PGO's
own connections, with its certificate (``back_channel_session``).
"""

from __future__ import annotations

import os
import time

from locust import FastHttpUser, constant, task
from locust.clients import HttpSession

from loadtests.browser import LocustBrowser
from loadtests.common import Transaction, search_name
from loadtests.medmij import PgoBackend, back_channel_session, consent_code
from loadtests.target import target
from simulators.medmij import fhir_accept
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN

QUERY = os.environ.get("PGO_LOAD_SEARCH", "Condition")
SERVICE = "48"
TOKEN_REUSE_SECONDS = 800  # access tokens live 900 s


class BgzSearchUser(FastHttpUser):
    """A PGO back-end hammering one BgZ search with a valid token."""

    wait_time = constant(0)
    host = "http://127.0.0.1"
    weight = 1

    def on_start(self) -> None:
        self.target = target()
        self.provider = self.target.providers(SERVICE)[0]
        self.client_node = self.target.topology.dvps[0]
        # the searches are the PGO's back channel: its certificate over TLS (the default
        # client of a FastHttpUser trusts no sandbox CA and presents nothing)
        self.client = back_channel_session(self, self.target, self.client_node)
        self.backend = PgoBackend(self, self.target, self.client_node)
        base = next(iter(self.target.endpoints(self.provider.name, SERVICE).resources.values()))
        self.url = self.target.resolve(f"{base}/{QUERY}")
        self.name = search_name(QUERY, SERVICE)
        self.headers: dict[str, str] | None = None
        self.consented = 0.0

    def _consent(self) -> None:
        """The real flow once, and again before the 900 s access token lapses."""
        session = HttpSession("http://127.0.0.1", self.environment.events.request, self)
        browser = LocustBrowser(session, self.target)
        backend = self.backend
        bsn = self.target.person(self.provider.name)
        token: dict | None = None
        with Transaction(self.environment, "consent for search") as flow:
            code, redirect_uri = consent_code(browser, flow, self.client_node, self.provider,
                                              SERVICE, bsn)
            token = backend.token(self.target.endpoints(self.provider.name, SERVICE).token, {
                "grant_type": "authorization_code", "code": code,
                "client_id": self.client_node.hostname, "redirect_uri": redirect_uri},
                browser.correlation_id)
        if token is None:
            return  # the failed flow is recorded; the next task tries again
        self.consented = time.monotonic()
        version = GEGEVENSDIENSTEN[SERVICE].fhir_version
        self.headers = {"Authorization": f"Bearer {token['access_token']}",
                        "Accept": fhir_accept(version)}

    @task
    def search(self) -> None:
        if self.headers is None or time.monotonic() - self.consented > TOKEN_REUSE_SECONDS:
            self._consent()
            return
        with self.client.get(self.url, name=self.name, headers=self.headers,
                             catch_response=True) as r:
            if r.status_code == 200 and b'"resourceType":"Bundle"' in (r.content or b""):
                r.success()
            else:
                r.failure(f"{r.status_code}")


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(BgzSearchUser)
