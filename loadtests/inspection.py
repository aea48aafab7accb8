"""A citizen views Mijn Gezondheidsoverzicht: DigiD at the function, localisation, per provider
the MedMij flow (DigiD single sign-on, consent), then one overview. Transaction
"inspection flow". The function collects server-side, so its token and searches are inside
the step "inspection collect (token + searches)".
"""

from __future__ import annotations

from locust import task

from loadtests.browser import PersonUser
from loadtests.common import FlowError, Transaction, pause
from scenarios.inspection import sso_continue


class InspectionUser(PersonUser):
    """A person who looks once which providers hold data, without choosing a PGO."""

    wait_time = pause(60, 180)
    weight = 1

    def on_start(self) -> None:
        super().on_start()

    @task
    def view(self) -> None:
        browser = self.browser
        bsn = self.target.person(self.target.topology.providers[0].name)
        browser.new_visit()
        with Transaction(self.environment, "inspection flow") as flow:
            page = browser.follow(browser.get(self.target.public_url("mgo", "/start")))
            if page.status_code != 200:
                raise FlowError(f"no DigiD page ({page.status_code})")
            flow.think(3, 8)
            r = browser.follow(browser.submit(page, {"bsn": bsn}, action="/login"))
            consents = 0
            while r.status_code == 200 and "text/html" in r.headers.get("content-type", ""):
                sso = sso_continue(browser, r)  # DigiD single sign-on: "Doorgaan als ..."
                if sso is not None:
                    r = browser.follow(sso)
                elif "Toestemming" in r.text:
                    consents += 1
                    flow.think(2, 6)
                    r = browser.follow(browser.submit(r, button=("decision", "allow")))
                else:
                    break
            if r.status_code != 200:
                raise FlowError(f"overview answered {r.status_code}")
            overview = r.json()
            failed = [p for p in overview["providers"] if p["status"] != "collected"]
            if failed or not consents:
                raise FlowError(f"overview incomplete: {failed or 'no provider'}")


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(InspectionUser)
