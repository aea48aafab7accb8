"""The DVP's collect (SPEC.md section 3): start an authorization at the provider's DVA, and on
the callback exchange the code, send the searches (or an imported report's requests) and store
what came back in one transaction. A service: no web framework; refusals are ``DvpError``s.

The PGO-side MedMij client it uses (token request, searches, query rendering) lives in
``simulators.common.medmij_client`` because the inspection function uses it too. The names
re-exported below keep ``simulators.dvp.collect`` importable for the Locust PGO (loadtests) and
for the inspection role until it imports ``simulators.common.medmij_client`` itself.
"""

from __future__ import annotations

from urllib.parse import urlencode

from simulators.common.lists import ServiceEndpoints
from simulators.common.medmij_client import (
    PARALLEL_SEARCHES,
    CollectError,
    SearchResult,
    binary_refs,
    collect_queries,
    granted_services,
    render_query,
    run_searches,
    token_request,
)
from simulators.dvp import portability
from simulators.dvp.errors import NotFound, ProviderRefused, Refused, UpstreamFailed
from simulators.medmij import build_scope, parse_scope_item
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN

__all__ = [  # re-exports: see the module docstring
    "PARALLEL_SEARCHES", "CollectError", "SearchResult", "binary_refs", "collect_queries",
    "complete_collect", "granted_services", "offered", "render_query", "run_searches",
    "start_collect", "token_request",
]


def offered(dvp, provider: str, service: str | None) -> dict[str, ServiceEndpoints]:
    """The provider's gegevensdiensten on the ZAL; 404 when it (or the service) is not there."""
    services = dvp.lists.lists.zal.get(provider)
    if not services:
        raise NotFound(f"{provider} is not on the Zorgaanbiederslijst",
                       message=f"{provider} staat niet op de Zorgaanbiederslijst.")
    if service is not None and service not in services:
        raise NotFound(f"{provider} offers no gegevensdienst {service}",
                       message=f"{provider} biedt gegevensdienst {service} niet aan.")
    return services


def start_collect(dvp, person_id: str, provider: str, service: str | None,
                  correlation_id: str) -> str:
    """Record the pending authorization and return the DVA authorize URL to send the browser
    to; scope ``<slug>`` (all collect services) or ``<slug>~<id>`` (one)."""
    dvp.refuse_if_curator()
    services = offered(dvp, provider, service)
    scope = build_scope(provider, service)
    wanted = [service] if service else sorted(services)
    state = dvp.store.start_authorization(person_id, provider, scope, wanted, correlation_id)
    query = urlencode({"response_type": "code", "client_id": dvp.hostname,
                       "redirect_uri": dvp.redirect_uri, "scope": scope, "state": state})
    return f"{services[wanted[0]].authorize}?{query}"


def retry_path(pending: dict) -> str:
    """Where the person starts the same collect again (a new authorization, a new code)."""
    _slug, service = parse_scope_item(pending["scope"])
    fields = {"provider": pending["provider"]}
    if service is not None:
        fields["service"] = pending["services"][0]
    return f"/persons/{pending['person_id']}/connect?{urlencode(fields)}"


def take_pending(dvp, state: str, code: str | None, error: str | None,
                 error_description: str | None) -> dict:
    """The pending authorization of a callback whose owner was checked; the DVA's refusal is
    passed on, a callback with neither code nor error is refused."""
    pending = dvp.store.take_authorization(state)
    if pending is None:
        raise Refused("unknown or already used state",
                      message="Onbekend of al gebruikt antwoord van de zorgaanbieder.")
    if error:
        raise ProviderRefused(error, error_description, provider=pending["provider"],
                              correlation_id=pending["correlation_id"])
    if not code:
        raise Refused("callback without code or error")
    return pending


async def complete_collect(dvp, pending: dict, code: str) -> dict:
    """Exchange the code, collect every granted service (or replay an imported report), store
    it in one transaction; the summary the callback answers with."""
    dvp.refuse_if_curator()
    provider, correlation_id = pending["provider"], pending["correlation_id"]
    services = dvp.lists.lists.zal.get(provider, {})
    available = [s for s in pending["services"] if s in services]
    if not available:
        raise Refused(f"{provider} left the Zorgaanbiederslijst", http_status=409)
    try:
        token = await token_request(dvp.client, services[available[0]], {
            "grant_type": "authorization_code", "code": code, "client_id": dvp.hostname,
            "redirect_uri": dvp.redirect_uri}, correlation_id)
        available = granted_services(token, provider, available)
        results, replayed = await _collect(dvp, pending, services, available,
                                           token["access_token"])
    except CollectError as exc:
        raise UpstreamFailed(exc.step, exc.error, exc.description, status=exc.status,
                             retry=retry_path(pending), provider=provider,
                             correlation_id=correlation_id) from exc
    dvp.store.save_grant(pending["person_id"], provider, pending["scope"], available, token)
    stored = dvp.store.store_collect(pending["person_id"], provider, results, correlation_id)
    for service in replayed:  # only once what they rebuilt is stored
        portability.mark_replayed(dvp, pending["person_id"], provider, service)
    failed = [r.request_uri for r in results if r.status != 200]
    return {
        "status": "collected" if not failed else "partial",
        "person_id": pending["person_id"], "provider": provider,
        "gegevensdiensten": available, "requests": len(results), "failed_requests": failed,
        "resources": stored, "long_lived": "refresh_token" in token,
        "correlation_id": correlation_id,
    }


async def _collect(dvp, pending: dict, services: dict[str, ServiceEndpoints],
                   available: list[str], access_token: str) -> tuple[list[SearchResult],
                                                                     list[str]]:
    """Per service: an imported portability report's requests, else the query list's."""
    results: list[SearchResult] = []
    replayed: list[str] = []
    for service in available:
        replay = portability.pending_replay(dvp, pending["person_id"], pending["provider"],
                                            service)
        if replay:  # an imported portability report: send exactly its requests
            results += await portability.replay(
                dvp, services[service], service, access_token, replay,
                pending["correlation_id"], GEGEVENSDIENSTEN[service].fhir_version)
            replayed.append(service)
        else:
            results += await run_searches(dvp.client, services[service], service,
                                          access_token, pending["correlation_id"],
                                          clock=dvp.clock)
    return results, replayed
