"""A person's account at a PGO (DVP), as scenarios, load users and tests use it.

The person creates the account with a password (which logs them in), or logs in again later;
the browser keeps the session cookie and the session's CSRF token (sent as ``X-CSRF-Token`` on
every POST/DELETE to that PGO). Works with the scripted ``Browser`` and ``LocustBrowser``.
"""

from __future__ import annotations

from dataclasses import dataclass

from scenarios.useragent import FlowError, origin
from simulators.common.security import new_token


@dataclass(frozen=True)
class PgoAccount:
    """What the person remembers: which PGO, their account number and password."""

    dvp_url: str  # the PGO's base URL as the browser reaches it
    person_id: str
    password: str

    def url(self, path: str) -> str:
        return self.dvp_url.rstrip("/") + path


def _logged_in(browser, response) -> dict:
    """Keep the session's CSRF token for the origin the answer came from (the URL as this
    browser sends to it, so ``Browser.request`` finds it again)."""
    body = response.json()
    browser.csrf[origin(str(response.url))] = body["csrf_token"]
    return body


def create_account(browser, dvp_url: str, name: str, password: str | None = None
                   ) -> PgoAccount:
    """``POST /api/persons``: the new account, logged in."""
    password = password or new_token()
    r = browser.request("POST", dvp_url.rstrip("/") + "/api/persons",
                        json={"name": name, "password": password})
    if r.status_code != 201:
        raise FlowError(f"account at the PGO answered {r.status_code}: {r.text[:200]}")
    body = _logged_in(browser, r)
    return PgoAccount(dvp_url, body["id"], password)


def login(browser, account: PgoAccount) -> None:
    """``POST /api/login``: a new session for a person who has an account."""
    r = browser.request("POST", account.url("/api/login"),
                        json={"person_id": account.person_id, "password": account.password})
    if r.status_code != 200:
        raise FlowError(f"login at the PGO answered {r.status_code}: {r.text[:200]}")
    _logged_in(browser, r)


def start(browser, account: PgoAccount, flow: str, params: dict[str, str]):
    """Start a connect (``flow="connect"``) or a share (``"share"``) as the person does: the
    PGO's page, then its form; returns the PGO's answer (a 302 to the DVA, or a refusal)."""
    page = browser.get(account.url(f"/persons/{account.person_id}/{flow}"), params=params)
    if page.status_code != 200:
        return page
    return browser.submit(page, action=f"/{flow}")
