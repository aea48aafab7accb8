"""A person shares (Delen) self-measurements or a document from their PGO with a provider.

account (once; later visits log in) -> share page + form at the PGO -> authorize (scope
``<provider>~<52|53>``) -> DigiD -> Bevestigingsverklaring -> the PGO's share callback, which
exchanges the code and writes one FHIR transaction Bundle to the provider's DVA (step "share
write (token + write)"). Transaction "share flow (52)" or "(53)". Needs a topology with a share
gegevensdienst on the ZAL.
"""

from __future__ import annotations

import random

from locust import task

from loadtests.browser import PersonUser
from loadtests.common import FlowError, Transaction, flow_name, pause
from loadtests.medmij import person_consents, pgo_account, pgo_login
from loadtests.target import target
from scenarios.accounts import PgoAccount, start
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN


def share_services() -> list[tuple[str, str]]:
    """(provider, share gegevensdienst) pairs of the topology that the ZAL lists."""
    pairs = []
    for p in target().topology.providers:
        for s in p.gegevensdiensten:
            if getattr(GEGEVENSDIENSTEN.get(s), "is_share", False):
                try:
                    target().endpoints(p.name, s)
                except KeyError:
                    continue
                pairs.append((p.name, s))
    return pairs


class ShareUser(PersonUser):
    """One person at one PGO sending a measurement or a document to a provider now and then."""

    wait_time = pause(60, 180)
    weight = 1

    def on_start(self) -> None:
        super().on_start()
        self.pairs = share_services()
        if not self.pairs:
            raise FlowError("no provider offers a share gegevensdienst (52/53) on the ZAL")
        self.accounts: dict[str, PgoAccount] = {}  # BSN -> account at the PGO

    @task
    def share(self) -> None:
        provider, service = random.choice(self.pairs)
        bsn = self.target.person(provider)
        self.browser.new_visit()
        with Transaction(self.environment, flow_name("share", (service,))) as flow:
            account = self.accounts.get(bsn)
            if account is None:
                account = self.accounts[bsn] = pgo_account(self.browser, self.dvp,
                                                           f"share {bsn}")
            else:
                pgo_login(self.browser, account)
            r = start(self.browser, account, "share", {"provider": provider, "service": service})
            callback = person_consents(self.browser, flow, r, bsn, "Bevestigingsverklaring")
            r = self.browser.get(callback, headers={"Accept": "application/json"})
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") \
                else {}
            if r.status_code != 200 or body.get("status") != "shared":
                raise FlowError(f"share: {r.status_code} {body.get('status')} {body.get('error')}")


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(ShareUser)
