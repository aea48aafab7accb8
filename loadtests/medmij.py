"""The MedMij steps the flows share: a person's consent (authorize, DigiD, consent) and the
PGO's back-channel (token, every search of a gegevensdienst), as SPEC.md section 3 has them.

The person's side goes through ``LocustBrowser`` (cookies, forms, redirects); the PGO's side
through a ``FastHttpSession`` with six connections, searching in parallel as the sandbox's
DVP does (``simulators/dvp/collect.py``).
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

from gevent.pool import Pool
from locust import User
from locust.contrib.fasthttp import FastHttpSession
from requests import Response

from loadtests.browser import LocustBrowser
from loadtests.common import FlowError, Transaction, search_name
from loadtests.target import Target
from sandbox.topology import Node, Provider
from scenarios.useragent import forms
from simulators.common.gegevensdiensten import GEGEVENSDIENSTEN

PARALLEL_SEARCHES = 6  # as simulators/dvp/collect.py


def consent_code(browser: LocustBrowser, flow: Transaction, client: Node, provider: Provider,
                 service: str, bsn: str, long_lived: bool = False) -> tuple[str, str]:
    """authorize -> DigiD login -> consent page -> consent; returns (code, redirect_uri).

    The scope is the provider (2.x collect: all its gegevensdiensten); ``service`` names the
    ZAL entry whose authorization endpoint the PGO uses.

    The browser stops at the redirect to the PGO's callback: the PGO back-end takes it from here.
    """
    target = browser.target
    redirect_uri = target.public_url(client.id, "/oauth/callback")
    state = uuid.uuid4().hex
    query = urlencode({"response_type": "code", "client_id": client.hostname,
                       "redirect_uri": redirect_uri, "scope": provider.slug, "state": state})
    authorize = target.endpoints(provider.name, service).authorize
    r = browser.get(f"{authorize}?{query}")
    if r.status_code != 302:
        raise FlowError(f"authorize answered {r.status_code}")
    page = browser.get(browser.location(r))
    if page.status_code == 303:  # DigiD single sign-on
        r = page
    elif page.status_code == 200:
        flow.think(3, 8)  # types the BSN (in real life: DigiD app)
        r = browser.submit(page, {"bsn": bsn})
    else:
        raise FlowError(f"DigiD login page answered {page.status_code}")
    if r.status_code != 303:
        raise FlowError(f"DigiD login answered {r.status_code}")
    consent = browser.get(browser.location(r))
    if consent.status_code != 200 or "Toestemming" not in consent.text:
        raise FlowError(f"no consent screen ({consent.status_code})")
    flow.think(2, 6)  # reads the consent screen
    r = browser.submit(consent, button=("decision", "allow"),
                       checked=("long_lived",) if long_lived else ())
    location = browser.location(r) if r.status_code == 302 else ""
    params = parse_qs(urlsplit(location).query)
    if not location.startswith(redirect_uri) or params.get("state") != [state]:
        raise FlowError(f"consent answered {r.status_code} to {location[:120]}")
    if "code" not in params:
        raise FlowError(f"no code: {params.get('error')}")
    return params["code"][0], redirect_uri


class PgoBackend:
    """The PGO's server side: token requests and searches at a DVA, timed per MedMij step."""

    def __init__(self, user: User, target: Target) -> None:
        self.target = target
        self.session = FastHttpSession(
            None, user.environment.events.request, user, concurrency=PARALLEL_SEARCHES,
            network_timeout=60.0, connection_timeout=60.0, max_retries=0)

    def token(self, endpoint: str, form: dict[str, str], correlation_id: str,
              name: str = "token") -> dict:
        """POST to the token endpoint; returns the token response or raises FlowError."""
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "MedMij-Request-ID": str(uuid.uuid4()), "X-Correlation-ID": correlation_id}
        with self.session.post(self.target.resolve(endpoint), data=urlencode(form), name=name,
                               headers=headers, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code} {r.text[:200] if r.text else ''}")
                raise FlowError(f"{name} answered {r.status_code}")
            body = r.json()
            if "access_token" not in body:
                r.failure("no access_token")
                raise FlowError(f"{name}: no access_token")
            r.success()
        return body

    def search(self, url: str, name: str, headers: dict[str, str]) -> int:
        with self.session.get(url, name=name, catch_response=True,
                              headers={**headers, "MedMij-Request-ID": str(uuid.uuid4())}) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}")
            elif b'"resourceType":"Bundle"' not in (r.content or b""):
                r.failure("not a searchset Bundle")
            else:
                r.success()
            return r.status_code

    def searches(self, provider: Provider, service: str, access_token: str,
                 correlation_id: str) -> int:
        """Every search the PGO query list prescribes, six at a time; returns how many."""
        dienst = GEGEVENSDIENSTEN[service]
        endpoints = self.target.endpoints(provider.name, service)
        base = self.target.resolve(next(iter(endpoints.resources.values())))
        headers = {"Authorization": f"Bearer {access_token}", "X-Correlation-ID": correlation_id,
                   "Accept": f"application/fhir+json; fhirVersion={dienst.fhir_version}"}
        statuses = Pool(PARALLEL_SEARCHES).map(
            lambda q: self.search(f"{base}/{q}", search_name(q, service), headers),
            dienst.searches)
        failed = [s for s in statuses if s != 200]
        if failed:
            raise FlowError(f"{len(failed)} of {len(statuses)} searches failed: {failed[:3]}")
        return len(statuses)


def person_consents(browser: LocustBrowser, flow: Transaction, r: Response, bsn: str) -> Response:
    """From the DVA's authorize redirect to the redirect back to the PGO: DigiD, then consent.

    For flows that start at the sandbox's own PGO (connect, share): the PGO picked the scope.
    """
    if r.status_code != 302:
        raise FlowError(f"PGO answered {r.status_code} instead of sending the browser on")
    r = browser.get(browser.location(r))  # authorize
    if r.status_code != 302:
        raise FlowError(f"authorize answered {r.status_code}")
    page = browser.get(browser.location(r))
    if page.status_code == 200:
        flow.think(3, 8)
        page = browser.submit(page, {"bsn": bsn})
    if page.status_code != 303:
        raise FlowError(f"DigiD login answered {page.status_code}")
    consent = browser.get(browser.location(page))
    if consent.status_code != 200 or not forms(consent.text):
        raise FlowError(f"no consent screen ({consent.status_code})")
    flow.think(2, 6)
    r = browser.submit(consent, button=("decision", "allow"))
    if r.status_code != 302:
        raise FlowError(f"consent answered {r.status_code}")
    return r


def pgo_account(browser: LocustBrowser, dvp: Node, name: str) -> str:
    """A person's account at the sandbox's PGO; returns its id."""
    r = browser.request("POST", browser.target.url(dvp.id, "/api/persons"), json={"name": name})
    if r.status_code != 201:
        raise FlowError(f"account answered {r.status_code}")
    return r.json()["id"]


def pgo_collect(browser: LocustBrowser, flow: Transaction, dvp: Node, person_id: str,
                provider: Provider, bsn: str) -> dict:
    """connect -> authorize -> DigiD -> consent -> the PGO's callback (token + searches)."""
    r = browser.get(browser.target.url(dvp.id, f"/persons/{person_id}/connect"),
                    params={"provider": provider.name})
    r = person_consents(browser, flow, r, bsn)
    r = browser.get(browser.location(r), headers={"Accept": "application/json"})
    summary = r.json() if r.status_code in (200, 502) else {}
    if r.status_code != 200 or summary.get("status") != "collected":
        raise FlowError(f"collect at the PGO: {r.status_code} {summary.get('status')}")
    return summary
