"""A person collects through the sandbox's own PGO (a DVP node), as the collect scenario does.

account (once; later visits log in) -> connect page + form -> authorize -> DigiD -> consent ->
the PGO's callback, which exchanges the code and sends every search itself: its token and
searches show as one step, "pgo collect (token + searches)". Transaction "pgo collect flow
(48)". Use ``collect`` for per-search figures; this flow loads the DVP as well.
"""

from __future__ import annotations

import random

from locust import task

from loadtests.browser import PersonUser
from loadtests.common import Transaction, flow_name, pause
from loadtests.medmij import pgo_account, pgo_collect, pgo_login


class PgoCollectUser(PersonUser):
    """One person with an account at one PGO, collecting from one provider per visit."""

    wait_time = pause(20, 60)
    weight = 3

    def on_start(self) -> None:
        super().on_start()

    @task
    def collect(self) -> None:
        provider, services = random.choice(self.target.collects())
        bsn = self.target.person(provider.name)
        self.browser.new_visit()
        name = flow_name("pgo collect", services)
        with Transaction(self.environment, name) as flow:
            if self.account is None:
                self.account = pgo_account(self.browser, self.dvp, f"load {bsn}")
            else:
                pgo_login(self.browser, self.account)
            pgo_collect(self.browser, flow, self.account, provider, bsn)


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(PgoCollectUser)
