"""A drill's person: one account at a PGO, collecting from one provider again and again.

Each user is one test person (one BSN) with an account at a PGO (``PGO_DRILL_DVPS``, comma
separated, else the topology's, in turn), collecting through the PGO from one provider
(``PGO_DRILL_PROVIDERS`` or any): connect page + form -> authorize -> DigiD -> consent -> the
PGO's callback (token + searches). Every collect the PGO acknowledges as ``collected`` goes to
the drill's ledger with the account's password, so the drill can afterwards log in and compare
what the PGO holds with what the DVA serves (``sandbox/drill.py``). Transactions are named by
PGO, "collect at pgo-alpha", so a drill sees one vendor's flows apart from the others'.
"""

from __future__ import annotations

import itertools
import os
import random

from locust import task

from loadtests import drill_record
from loadtests.browser import PersonUser
from loadtests.common import Transaction, pause
from loadtests.medmij import pgo_collect, pgo_login
from scenarios.accounts import create_account
from simulators.common.security import new_token


def _names(variable: str) -> list[str]:
    return [n.strip() for n in os.environ.get(variable, "").split(",") if n.strip()]


class DrillCollectUser(PersonUser):
    """A person who keeps collecting from one provider through one PGO during a drill."""

    wait_time = pause(0.5, 1.5)
    _numbers = itertools.count()  # users spread over the PGOs in turn: each vendor has some

    def on_start(self) -> None:
        super().on_start()
        dvps = _names("PGO_DRILL_DVPS") or [d.id for d in self.target.topology.dvps]
        self.dvp = self.target.topology.node(dvps[next(self._numbers) % len(dvps)])
        wanted = _names("PGO_DRILL_PROVIDERS")
        choices = [(p, s) for p, s in self.target.collects() if not wanted or p.name in wanted]
        self.provider = random.choice(choices)[0]
        self.bsn = self.target.person(self.provider.name)
        self.password = new_token()

    def context(self) -> dict:
        """Every request names the person's PGO (the drill tells vendors' persons apart)."""
        return {"pgo": self.dvp.id}

    @task
    def collect(self) -> None:
        self.browser.new_visit()
        with Transaction(self.environment, f"collect at {self.dvp.id}") as flow:
            if self.account is None:
                self.account = create_account(self.browser, self.target.public_url(self.dvp.id),
                                              f"drill {self.bsn}", self.password)
            else:
                pgo_login(self.browser, self.account)
            summary = pgo_collect(self.browser, flow, self.account, self.provider, self.bsn)
            drill_record.ledger(
                "collect", dvp=self.dvp.id, person_id=self.account.person_id,
                password=self.password, bsn=self.bsn, provider=self.provider.name,
                services=summary.get("gegevensdiensten", []),
                resources=summary.get("resources", 0),
                correlation_id=summary.get("correlation_id", ""))


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(DrillCollectUser)
