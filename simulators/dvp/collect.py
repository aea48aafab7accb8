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

from simulators.common.lists import ServiceEndpoints, expired
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
from simulators.dvp.share import COLLECT
from simulators.medmij import OAuthError, build_scope, parse_scope_item
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN

__all__ = [  # re-exports: see the module docstring
    "PARALLEL_SEARCHES", "CollectError", "SearchResult", "binary_refs", "collect_queries",
    "complete_collect", "granted_services", "offered", "render_query", "run_searches",
    "start_collect", "token_request",
]

# How a person hears who could not deliver: the provider's kind (topology) in plain Dutch.
KIND_NOUNS = {"gp": "De huisarts", "hospital": "Het ziekenhuis", "pharmacy": "De apotheek",
              "rivm": "Het RIVM", "ggz": "De ggz-instelling"}
# The DVA's authorization errors (RFC 6749 4.1.2.1, MedMij) in words, with what to do.
REFUSALS = {
    OAuthError.ACCESS_DENIED:
        "U gaf geen toestemming, of de zorgaanbieder heeft geen gegevens over u die deze PGO "
        "mag ophalen. Er is niets opgehaald.",
    OAuthError.TEMPORARILY_UNAVAILABLE:
        "{noun} kan nu even geen gegevens geven. Uw eerder opgehaalde gegevens blijven "
        "bewaard. Probeer het later opnieuw.",
    OAuthError.SERVER_ERROR:
        "Bij {noun_lower} ging iets mis. Uw eerder opgehaalde gegevens blijven bewaard. "
        "Probeer het later opnieuw.",
    OAuthError.UNAUTHORIZED_CLIENT:
        "{noun} accepteert deze PGO nu niet. Probeer het later opnieuw of neem contact op met "
        "uw PGO.",
}
REFUSED_OTHERWISE = ("{noun} kon de aanvraag niet uitvoeren ({error}). Er is niets opgehaald; "
                     "u kunt het opnieuw proberen vanaf uw pagina.")


def provider_noun(dvp, provider: str) -> str:
    """"De huisarts", "Het ziekenhuis", ...; "De zorgaanbieder" for a kind we do not know."""
    try:
        kind = dvp.config.topology.provider(provider).kind
    except KeyError:
        kind = ""
    return KIND_NOUNS.get(kind, "De zorgaanbieder")


def person_message(dvp, provider: str, status: str, warnings: list[str] = ()) -> str:
    """What the person reads about one collect: what happened and what to do."""
    noun = provider_noun(dvp, provider)
    if status == "partial":
        return (f"{noun} kon nu niet alle gegevens leveren. Probeer het later opnieuw. "
                "Wat wel binnenkwam is bewaard, naast wat u eerder ophaalde.")
    if status == "failed":
        return (f"{noun} kon nu geen gegevens leveren. Uw eerder opgehaalde gegevens blijven "
                "bewaard. Probeer het later opnieuw.")
    if warnings:
        return f"{noun} gaf een waarschuwing bij uw gegevens: {'; '.join(warnings)}."
    return ""


STATUS_WORDS = {"complete": "Compleet", "partial": "Gedeeltelijk", "failed": "Mislukt",
                "refused": "Niet gelukt"}


def collections_view(dvp, person_id: str) -> list[dict]:
    """The latest collect per provider as the person page and the API show it: the record,
    the provider's display name, the status in Dutch and what to do."""
    rows = []
    for row in dvp.store.collections(person_id):
        warnings = [w for s in row["searches"] for w in s.get("warnings", [])]
        if row["status"] == "refused":
            noun = provider_noun(dvp, row["provider"])
            message = REFUSALS.get(row["reason"], REFUSED_OTHERWISE).format(
                noun=noun, noun_lower=noun[0].lower() + noun[1:], error=row["reason"])
        else:
            message = person_message(dvp, row["provider"], row["status"], warnings)
        try:
            display = dvp.config.topology.provider(row["provider"]).display
        except KeyError:
            display = row["provider"]
        rows.append(row | {"display": display, "status_nl": STATUS_WORDS[row["status"]],
                           "message": message, "warnings": warnings})
    return rows


def collection_status(results: list[SearchResult]) -> tuple[str, str]:
    """A collect as a whole: ``complete`` when every search was, ``failed`` when none brought
    anything usable, else ``partial``; with the reasons of the searches that were not."""
    short = [r for r in results if r.outcome != "complete"]
    if not short:
        return "complete", ""
    status = "failed" if all(r.outcome == "failed" for r in results) else "partial"
    reasons = dict.fromkeys(f"{r.request_uri.rsplit('/', 1)[-1]}: {r.reason}" for r in short)
    return status, "; ".join(reasons)


class CollectFailed(UpstreamFailed):
    """The token step failed: the DVA's code as an API client knows it, and for the person
    what happened and what to do (with a form to start again: a new code, never this one)."""

    def __init__(self, dvp, exc: CollectError, pending: dict) -> None:
        super().__init__(exc.step, exc.error, exc.description, status=exc.status,
                         retry=retry_path(pending), provider=pending["provider"],
                         correlation_id=pending["correlation_id"])
        self.message = person_message(dvp, pending["provider"], "failed")
        if exc.status == 504:
            self.message = ("De zorgaanbieder antwoordde niet op tijd. " + self.message)


class AuthorizationRefused(ProviderRefused):
    """The DVA's error at the redirect, passed on with its own code (API), and in Dutch with
    what to do for the person (a page with the way back)."""

    def __init__(self, dvp, error: str, description: str | None, pending: dict) -> None:
        super().__init__(error, description, provider=pending["provider"],
                         correlation_id=pending["correlation_id"])
        noun = provider_noun(dvp, pending["provider"])
        self.message = REFUSALS.get(error, REFUSED_OTHERWISE).format(
            noun=noun, noun_lower=noun[0].lower() + noun[1:], error=error)
        self.context["message"] = self.message


def refuse_if_lists_expired(dvp, provider: str) -> None:
    """Lists older than the allowed maximum are not trusted: no collect on their endpoints
    (the provider cannot be reached now, not "unknown")."""
    if expired(dvp.lists):
        noun = provider_noun(dvp, provider)
        raise Refused("the MedMij lists are older than allowed; the PGO trusts no endpoint "
                      "until the registry answers again", http_status=503,
                      error=OAuthError.TEMPORARILY_UNAVAILABLE, provider=provider,
                      message=f"{noun} is nu niet bereikbaar vanuit deze PGO. Probeer het "
                              "later opnieuw.")


def offered(dvp, provider: str, service: str | None) -> dict[str, ServiceEndpoints]:
    """The provider's gegevensdiensten on the ZAL; 404 when it (or the service) is not there,
    503 when the lists are too old to trust."""
    refuse_if_lists_expired(dvp, provider)
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
    state = dvp.shares.start_flow(COLLECT, person_id, provider, scope, wanted, correlation_id)
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
    """The pending authorization of a callback whose owner was checked, a collect's only (a
    share's state is unknown here); the DVA's refusal is recorded and passed on, a callback
    with neither code nor error is refused."""
    pending = dvp.shares.take_flow(state, COLLECT)
    if pending is None:
        raise Refused("unknown or already used state",
                      message="Onbekend of al gebruikt antwoord van de zorgaanbieder.")
    if error:
        dvp.store.record_collection(pending["person_id"], pending["provider"],
                                    pending["correlation_id"], "refused", "authorize", error)
        raise AuthorizationRefused(dvp, error, error_description, pending)
    if not code:
        raise Refused("callback without code or error")
    return pending


async def complete_collect(dvp, pending: dict, code: str) -> dict:
    """Exchange the code (once: a code is never posted twice), collect every granted service
    (or replay an imported report), store what came in one transaction with the collection's
    record (complete / partial / failed, per search); the summary the callback answers with.
    Nothing collected earlier is removed, whatever this collect brings."""
    dvp.refuse_if_curator()
    provider, correlation_id = pending["provider"], pending["correlation_id"]
    refuse_if_lists_expired(dvp, provider)
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
        dvp.store.record_collection(pending["person_id"], provider, correlation_id, "failed",
                                    exc.step, f"{exc.status} {exc.error} {exc.description}"
                                    .strip())
        raise CollectFailed(dvp, exc, pending) from exc
    status, reason = collection_status(results)
    dvp.store.save_grant(pending["person_id"], provider, pending["scope"], available, token)
    stored = dvp.store.store_collect(pending["person_id"], provider, results, correlation_id,
                                     status, reason)
    for service in replayed:  # only once what they rebuilt is stored
        portability.mark_replayed(dvp, pending["person_id"], provider, service)
    warnings = [w for r in results for w in r.warnings]
    return {
        "status": "collected" if status == "complete" else status,
        "person_id": pending["person_id"], "provider": provider,
        "gegevensdiensten": available, "requests": len(results),
        "failed_requests": [r.request_uri for r in results if r.outcome == "failed"],
        "partial_requests": [r.request_uri for r in results if r.outcome == "partial"],
        "reason": reason, "warnings": warnings,
        "message": person_message(dvp, provider, status, warnings),
        "searches": [r.as_dict() for r in results],
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
    for r in results:  # the PGO stores a resource by its id: one without cannot be kept
        kept = [x for x in r.resources if isinstance(x.get("id"), str) and x["id"]]
        if len(kept) < len(r.resources):
            r.outcome = "partial" if kept else "failed"
            r.reason = "; ".join(filter(None, [r.reason, f"{len(r.resources) - len(kept)} "
                                               "resources without an id were not kept"]))
            r.resources = kept
    return results, replayed
