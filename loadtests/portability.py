"""Mass export during a bankruptcy: every person of a PGO downloads their portability report.

Each user is a person at one PGO who collected there once (account + collect, before the vendor
failed), then asks for the portabiliteitsrapport (``GET /api/persons/{id}/portability``, XML; it
works in curator mode too; each visit logs in again) and comes back now and then to try again.
Turn curator mode on first to load the bankrupt vendor; the collect then fails, and the user
exports what it holds. Steps "portability report"; transaction "portability export".
"""

from __future__ import annotations

import random

from locust import task

from loadtests.browser import PersonUser
from loadtests.common import FlowError, Transaction, flow_name, pause
from loadtests.medmij import pgo_account, pgo_collect, pgo_login


class PortabilityExportUser(PersonUser):
    """A person of the failed vendor taking their data elsewhere."""

    wait_time = pause(10, 40)
    weight = 1

    def on_start(self) -> None:
        super().on_start()

    @task
    def export(self) -> None:
        if self.account is None:
            self._before_the_bankruptcy()
            return
        url = self.account.url(f"/api/persons/{self.account.person_id}/portability")
        self.browser.new_visit()
        with Transaction(self.environment, "portability export"):
            pgo_login(self.browser, self.account)
            r = self.browser.get(url)
            if r.status_code != 200 or b"<" not in r.content[:100]:
                raise FlowError(f"portability report answered {r.status_code}")

    def _before_the_bankruptcy(self) -> None:
        provider, services = random.choice(self.target.collects())
        bsn = self.target.person(provider.name)
        self.browser.new_visit()
        with Transaction(self.environment, flow_name("pgo collect", services)) as flow:
            self.account = pgo_account(self.browser, self.dvp, f"export {bsn}")
            pgo_collect(self.browser, flow, self.account, provider, bsn)


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(PortabilityExportUser)
