"""A PGO user with long-lived consent: consents once, then the PGO refreshes and re-collects.

First visit: authorize -> DigiD -> consent (with ``long_lived`` ticked) -> token -> searches.
After that the person is not involved: the PGO rotates the refresh token (``token refresh``,
grant_type=refresh_token at the DVA's /oauth/token) and sends every search again. The gap
between re-collects stands in for "the next day", compressed. Transactions:
"long-lived consent flow (48)" and "re-collect flow (48)".
"""

from __future__ import annotations

import random

from locust import task

from loadtests.browser import PersonUser
from loadtests.common import FlowError, Transaction, flow_name, pause
from loadtests.medmij import PgoBackend, consent_code
from simulators.dvp.collect import granted_services


class LongLivedUser(PersonUser):
    """One person's standing consent, refreshed and re-collected by the PGO."""

    wait_time = pause(30, 90)  # between re-collects
    weight = 3

    def on_start(self) -> None:
        super().on_start()
        self.provider, self.services = random.choice(self.target.collects())
        self.client_node = random.choice(self.target.topology.dvps)
        self.backend = PgoBackend(self, self.target, self.client_node)
        self.refresh_token: str | None = None

    @task
    def collect(self) -> None:
        provider, client = self.provider, self.client_node
        services = self.services
        token_url = self.target.endpoints(provider.name, services[0]).token
        if self.refresh_token is None:
            bsn = self.target.person(provider.name)
            self.browser.new_visit()
            corr = self.browser.correlation_id
            with Transaction(self.environment, flow_name("long-lived consent", services)) as flow:
                code, redirect_uri = consent_code(self.browser, flow, client, provider, services[0],
                                                  bsn, long_lived=True)
                token = self.backend.token(token_url, {
                    "grant_type": "authorization_code", "code": code,
                    "client_id": client.hostname, "redirect_uri": redirect_uri}, corr)
                self._collect(token, corr)
            return
        corr = self.browser.correlation_id
        with Transaction(self.environment, flow_name("re-collect", services)):
            token = self.backend.token(token_url, {
                "grant_type": "refresh_token", "refresh_token": self.refresh_token,
                "client_id": client.hostname}, corr, name="token refresh")
            self._collect(token, corr)

    def _collect(self, token: dict, corr: str) -> None:
        self.refresh_token = token.get("refresh_token")  # rotated on every use
        if self.refresh_token is None:
            raise FlowError("long-lived consent gave no refresh_token")
        for service in granted_services(token, self.provider.name, list(self.services)):
            self.backend.searches(self.provider, service, token["access_token"], corr)


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(LongLivedUser)
