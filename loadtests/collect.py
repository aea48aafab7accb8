"""A PGO user collects: authorize -> DigiD -> consent -> token -> every search (48 or 63).

Scope is the provider (2.x collect); the searches are those of the gegevensdiensten in
``PGO_LOAD_SERVICES`` (default 48 and 63) that the provider offers.

Locust plays both the person's browser and the PGO's back-end (client_id of one of the
topology's DVPs), so each MedMij step is its own statistic and the whole flow is one
transaction "collect flow (<gegevensdienst>)". A new visit each time: no DigiD single sign-on.
Debug one user: ``python -m loadtests.collect``.
"""

from __future__ import annotations

import random

from locust import task

from loadtests.browser import PersonUser
from loadtests.common import Transaction, flow_name, pause
from loadtests.medmij import PgoBackend, consent_code
from simulators.dvp.collect import granted_services


class CollectUser(PersonUser):
    """A person who opens their PGO in the morning and collects from one provider."""

    wait_time = pause(20, 60)  # between visits
    weight = 10

    def on_start(self) -> None:
        super().on_start()
        # one back-end per PGO: each presents its own certificate (client_id's hostname)
        self.backends = {n.hostname: PgoBackend(self, self.target, n)
                         for n in self.target.topology.dvps}

    @task
    def collect(self) -> None:
        topology = self.target.topology
        provider, services = random.choice(self.target.collects())
        client = random.choice(topology.dvps)
        bsn = self.target.person(provider.name)
        self.browser.new_visit()
        corr = self.browser.correlation_id
        with Transaction(self.environment, flow_name("collect", services)) as flow:
            code, redirect_uri = consent_code(self.browser, flow, client, provider, services[0],
                                              bsn)
            first = self.target.endpoints(provider.name, services[0])
            backend = self.backends[client.hostname]
            token = backend.token(first.token, {
                "grant_type": "authorization_code", "code": code, "client_id": client.hostname,
                "redirect_uri": redirect_uri}, corr)
            # the DVA names a narrower scope when the person's record holds less (RFC 6749
            # 5.1): search what the token covers, as the DVP does
            for service in granted_services(token, provider.name, list(services)):
                backend.searches(provider, service, token["access_token"], corr)


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(CollectUser)
