"""A drill's person moving to a PGO: a new account imports a portability report.

Each iteration a new person creates an account at the PGO ``PGO_DRILL_DVP`` and uploads the
report in ``PGO_DRILL_REPORT`` (XML, exported from another PGO by the drill). A 201 goes to
the drill's ledger as ``import`` with the plan's request count; any other outcome (the PGO
killed mid-import: the connection drops) as ``import_failed``, and the same person retries on
the next iteration, as a person would. Transaction "import at <pgo>", step "portability
import".
"""

from __future__ import annotations

import os
import uuid

from locust import task

from loadtests import drill_record
from loadtests.browser import PersonUser
from loadtests.common import FlowError, Transaction, pause
from loadtests.medmij import pgo_login
from scenarios.accounts import create_account
from simulators.common.security import new_token


class DrillImportUser(PersonUser):
    """A person importing a portability report at the drill's PGO, retrying until it is in."""

    wait_time = pause(0.2, 0.6)

    def on_start(self) -> None:
        super().on_start()
        self.dvp = self.target.topology.node(os.environ.get("PGO_DRILL_DVP") or self.dvp.id)
        with open(os.environ["PGO_DRILL_REPORT"], "rb") as f:
            self.report = f.read()
        self.password = ""

    def context(self) -> dict:
        return {"pgo": self.dvp.id}

    @task
    def import_report(self) -> None:
        self.browser.new_visit()
        with Transaction(self.environment, f"import at {self.dvp.id}"):
            if self.account is None:
                self.password = new_token()
                self.account = create_account(self.browser, self.target.public_url(self.dvp.id),
                                              f"drill import {uuid.uuid4().hex[:8]}",
                                              self.password)
            else:
                pgo_login(self.browser, self.account)
            account = self.account
            url = account.url(f"/api/persons/{account.person_id}/portability/import")
            r = self.browser.request("POST", url, data=self.report, name="portability import",
                                     headers={"Content-Type": "application/xml"})
            if r.status_code != 201:
                drill_record.ledger("import_failed", dvp=self.dvp.id,
                                    person_id=account.person_id, password=self.password,
                                    status=r.status_code)
                raise FlowError(f"import answered {r.status_code}")
            drill_record.ledger("import", dvp=self.dvp.id, person_id=account.person_id,
                                password=self.password, requests=r.json()["requests"])
            self.account = None  # done: the next iteration is another person


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(DrillImportUser)
