"""The MedMij steps the flows share: a person's consent (authorize, DigiD, consent) and the
PGO's back-channel (token, every search of a gegevensdienst), as SPEC.md section 3 has them.

The person's side is the journey of ``scenarios.flow`` (the one the scenarios and probes run),
driven by ``LocustBrowser`` with the transaction's think times; the PGO's side goes through a
``FastHttpSession`` with six connections, searching in parallel as the sandbox's DVP does
(``simulators/dvp/collect.py``). Over TLS that session presents the acting PGO's certificate
(``back_channel_session``): MedMij's token endpoint wants ``client_id`` equal to it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlencode

from gevent.pool import Pool
from locust import User
from locust.contrib.fasthttp import FastHttpSession
from requests import Response

from loadtests.browser import LocustBrowser
from loadtests.common import FlowError, Transaction, search_name
from loadtests.target import Target
from scenarios import flow as journeys
from scenarios.accounts import PgoAccount, create_account, login
from simulators.common import clock
from simulators.common.http import KEEPALIVE_EXPIRY, medmij_headers
from simulators.dvp.collect import SearchResult, binary_refs, collect_queries
from simulators.medmij import CORRELATION_ID, build_scope, fhir_accept
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN
from simulators.medmij.topology import Node, Provider

PARALLEL_SEARCHES = 6  # as simulators/dvp/collect.py


def consent_code(browser: LocustBrowser, flow: Transaction, client: Node, provider: Provider,
                 service: str, bsn: str, long_lived: bool = False) -> tuple[str, str]:
    """authorize -> DigiD login -> consent page -> consent; returns (code, redirect_uri).

    The scope is the provider (2.x collect: all its gegevensdiensten); ``service`` names the
    ZAL entry whose authorization endpoint the PGO uses. The browser stops at the redirect to
    the PGO's callback: the PGO back-end takes it from here.
    """
    redirect_uri = browser.target.public_url(client.id, "/oauth/callback")
    query = urlencode({"response_type": "code", "client_id": client.hostname,
                       "redirect_uri": redirect_uri, "scope": build_scope(provider.name),
                       "state": uuid.uuid4().hex})
    authorize = browser.target.endpoints(provider.name, service).authorize
    journey = journeys.authorization_code(f"{authorize}?{query}", bsn, long_lived=long_lived)
    code = browser.run(journey, flow.think)
    return code, redirect_uri


def back_channel_session(user: User, target: Target, node: Node,
                         **kwargs: Any) -> FastHttpSession:
    """A FastHttpSession for ``node``'s back-channel calls. Against a sandbox that serves
    HTTPS it trusts the sandbox CA, checks the peer's hostname and presents ``node``'s
    certificate (geventhttpclient takes the context from ``ssl_context_factory``); against
    plain HTTP it is Locust's default session."""
    pki = target.pki
    if pki is not None:
        context = pki.client_context(node.hostname)  # one per session, its files read once
        kwargs |= {"insecure": False, "ssl_context_factory": lambda *_a, **_k: context}
    return FastHttpSession(None, user.environment.events.request, user, **kwargs)


class PgoBackend:
    """The PGO ``pgo``'s server side: token requests and searches at a DVA, timed per MedMij
    step, over its own connections (its certificate on them when the sandbox serves TLS)."""

    def __init__(self, user: User, target: Target, pgo: Node) -> None:
        self.target = target
        self.pgo = pgo
        clock.configure(target.sandbox.state_dir)  # the sandbox date, for the date templates
        self.session = back_channel_session(
            user, target, pgo, concurrency=PARALLEL_SEARCHES, network_timeout=60.0,
            connection_timeout=60.0, max_retries=0)
        self._used = 0.0  # monotonic time of the last call: see _drop_idle

    def _drop_idle(self) -> None:
        """Close the pooled connections when they have been idle longer than
        ``KEEPALIVE_EXPIRY``, the project's rule that a client drops an idle connection
        before the nodes' uvicorn does (simulators.common.http): geventhttpclient does not
        send a POST (the token request) again on a connection the server closed meanwhile,
        so it failed with status 0 (seen once in 292 tokens, with a back-end per PGO)."""
        if time.monotonic() - self._used > KEEPALIVE_EXPIRY:
            self.session.client.clientpool.close()

    def token(self, endpoint: str, form: dict[str, str], correlation_id: str,
              name: str = "token") -> dict:
        """POST to the token endpoint; returns the token response or raises FlowError."""
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   **medmij_headers(correlation_id)}
        self._drop_idle()
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
        self._used = time.monotonic()
        return body

    def search(self, url: str, name: str, headers: dict[str, str]) -> tuple[int, list[dict]]:
        """One search (a searchset Bundle) or Binary read; its status and the resources."""
        binary = "/Binary/" in url
        with self.session.get(url, name=name, catch_response=True,
                              headers={**headers, **medmij_headers()}) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}")
                return r.status_code, []
            body = r.json() if r.content else {}
            kind = "Binary" if binary else "Bundle"
            if body.get("resourceType") != kind:
                r.failure(f"not a {kind}")
                return r.status_code, []
            r.success()
        resources = [body] if binary else [e["resource"] for e in body.get("entry", [])]
        return 200, resources

    def searches(self, provider: Provider, service: str, access_token: str,
                 correlation_id: str) -> int:
        """Every search the PGO query list prescribes (date templates filled in with the
        sandbox date, as the DVP does), six at a time; for Documenten (51) then a read of every
        Binary the DocumentReferences point to. Returns how many requests were sent."""
        dienst = GEGEVENSDIENSTEN[service]
        endpoints = self.target.endpoints(provider.name, service)
        base = self.target.resolve(next(iter(endpoints.resources.values())))
        headers = {"Authorization": f"Bearer {access_token}", CORRELATION_ID: correlation_id,
                   "Accept": fhir_accept(dienst.fhir_version)}
        self._drop_idle()
        pool = Pool(PARALLEL_SEARCHES)
        answers = pool.map(
            lambda q: self.search(f"{base}/{q}", search_name(q, service), headers),
            collect_queries(service))
        if dienst.binary_reads:
            found = [SearchResult(service, "", status, "", 0.0, resources)
                     for status, resources in answers]
            answers += pool.map(
                lambda ref: self.search(f"{base}/{ref}", f"read Binary ({service})", headers),
                binary_refs(found))
        self._used = time.monotonic()
        failed = [status for status, _ in answers if status != 200]
        if failed:
            raise FlowError(f"{len(failed)} of {len(answers)} requests failed: {failed[:3]}")
        return len(answers)


def person_consents(browser: LocustBrowser, flow: Transaction, r: Response, bsn: str,
                    screen: str = "Toestemming") -> str:
    """From the PGO's redirect to the DVA (``r``) to the redirect back to the PGO: authorize,
    DigiD, then the consent (or Bevestigingsverklaring) ``screen``; returns the callback URL.
    For flows that start at the sandbox's own PGO (share): the PGO picked the scope.
    """
    if r.status_code != 302:
        raise FlowError(f"PGO answered {r.status_code} instead of sending the browser on")
    return browser.run(journeys.consent(journeys.location(r), bsn, screen=screen), flow.think)


def pgo_account(browser: LocustBrowser, dvp: Node, name: str) -> PgoAccount:
    """A person's account at the sandbox's PGO (with a password; creating it logs in)."""
    return create_account(browser, browser.target.public_url(dvp.id), name)


def pgo_login(browser: LocustBrowser, account: PgoAccount) -> None:
    """A new visit: the person logs in to their PGO again."""
    login(browser, account)


def pgo_collect(browser: LocustBrowser, flow: Transaction, account: PgoAccount,
                provider: Provider, bsn: str) -> dict:
    """connect page + form -> authorize -> DigiD -> consent -> the PGO's callback (token +
    searches), in the person's PGO session."""
    journey = journeys.pgo_collect(account, provider.name, bsn, see_data=False)
    return browser.run(journey, flow.think)
