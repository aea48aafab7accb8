"""Long-lived consent at the PGO (SPEC.md section 3, 2.x), the service: re-collect without the
person by refresh token, and revoke the consent. No web framework; refusals are ``DvpError``s.

Refresh rotates the refresh token (the DVA refuses the old one); a consent lapses after
6 months without collecting (``CONSENT_LAPSE_SECONDS``, enforced by the DVA); revocation is
RFC 7009 at the DVA. The ZAL names no revocation endpoint, so the PGO uses the sandbox DVA's
convention: ``/oauth/revoke`` beside ``/oauth/token``. Revocations are recorded in
``consent.sqlite`` in the node directory (the curator's erasure finds it there).

Once the DVA confirms a revocation the PGO forgets the consent's tokens: the grant keeps its
scope and services, with access and refresh token cleared in one statement, before the
revocation is recorded (two databases: a stop between the two leaves a consent without tokens,
never revoked tokens kept). A grant without tokens is a revoked consent: the PGO itself
refuses a refresh or a second revoke (409 ``invalid_grant``, RFC 6749 5.2's code for a revoked
grant, with the reason in words) until the person connects again. A DVA that cannot
be reached for the revocation is a 502 (504 without an answer in time), and nothing changes.
"""

from __future__ import annotations

import sqlite3

import httpx

from simulators.common.http import medmij_headers
from simulators.common.lists import ServiceEndpoints
from simulators.common.medmij_client import (
    CollectError,
    SearchResult,
    granted_services,
    json_object,
    run_searches,
    token_request,
)
from simulators.common.storage import open_db
from simulators.dvp.errors import NotFound, Refused, UpstreamFailed
from simulators.medmij import OAuthError, utc_timestamp

SCHEMA = """
CREATE TABLE IF NOT EXISTS revocation (
    person_id TEXT NOT NULL, provider TEXT NOT NULL, revoked_at TEXT NOT NULL,
    PRIMARY KEY (person_id, provider));
"""


def revocation_endpoint(token_endpoint: str) -> str:
    return token_endpoint.rsplit("/", 1)[0] + "/revoke"


def open_revocations(dvp) -> sqlite3.Connection:
    return open_db(dvp.config.node_dir(dvp.node.id) / "consent.sqlite", SCHEMA)


def grant_of(dvp, person_id: str, provider: str) -> dict:
    dvp.person_or_404(person_id)
    for grant in dvp.store.grants(person_id):
        if grant["provider"] == provider:
            return grant
    raise NotFound(f"no consent for {provider}")


def refuse_if_revoked(grant: dict) -> None:
    """A consent the person withdrew has no tokens left: nothing to refresh or revoke."""
    if revoked(grant):
        raise Refused(f"the person revoked the consent for {grant['provider']}; connect again "
                      "to give a new one", http_status=409, error=OAuthError.INVALID_GRANT,
                      provider=grant["provider"], revoked=True,
                      message="U heeft deze toestemming ingetrokken. Wilt u weer gegevens "
                              "ophalen, geef dan opnieuw toestemming bij de zorgaanbieder.")


def endpoints_of(dvp, grant: dict) -> tuple[dict[str, ServiceEndpoints], list[str]]:
    services = dvp.lists.lists.zal.get(grant["provider"], {})
    listed = [s for s in grant["services"] if s in services]
    if not listed:
        raise Refused(f"{grant['provider']} left the Zorgaanbiederslijst", http_status=409)
    return services, listed


async def recollect(dvp, person_id: str, provider: str, correlation_id: str) -> dict:
    """Collect again without the person, on the long-lived consent (refresh token)."""
    grant = grant_of(dvp, person_id, provider)
    dvp.refuse_if_curator()  # a bankrupt vendor collects nothing new
    refuse_if_revoked(grant)
    if not grant["refresh_token"]:
        raise Refused(f"no long-lived consent for {provider}", http_status=409,
                      error="no_long_lived_consent", provider=provider)
    services, listed = endpoints_of(dvp, grant)
    context = {"provider": provider, "correlation_id": correlation_id}
    try:
        token = await token_request(dvp.client, services[listed[0]], {
            "grant_type": "refresh_token", "refresh_token": grant["refresh_token"],
            "client_id": dvp.hostname}, correlation_id)
    except CollectError as exc:
        if exc.error == OAuthError.INVALID_GRANT:  # revoked or lapsed: the consent is gone
            raise Refused(exc.description or "the DVA refused the refresh token",
                          http_status=409, error=exc.error, step=exc.step, **context) from exc
        raise UpstreamFailed(exc.step, exc.error, exc.description, status=exc.status,
                             **context) from exc
    listed = granted_services(token, provider, listed)
    dvp.store.save_grant(person_id, provider, grant["scope"], listed, token)
    results: list[SearchResult] = []
    for service in listed:
        results += await run_searches(dvp.client, services[service], service,
                                      token["access_token"], correlation_id, clock=dvp.clock)
    stored = dvp.store.store_collect(person_id, provider, results, correlation_id)
    failed = [r.request_uri for r in results if r.status != 200]
    return {
        "status": "collected" if not failed else "partial", "person_id": person_id,
        "provider": provider, "gegevensdiensten": listed, "requests": len(results),
        "failed_requests": failed, "resources": stored,
        "rotated": token.get("refresh_token") not in (None, grant["refresh_token"]),
        "correlation_id": correlation_id,
    }


async def revoke(dvp, db: sqlite3.Connection, person_id: str, provider: str,
                 correlation_id: str | None) -> dict:
    """The person withdraws the consent: RFC 7009 revocation of the refresh token (which ends
    the whole grant at the DVA)."""
    grant = grant_of(dvp, person_id, provider)
    refuse_if_revoked(grant)
    services, listed = endpoints_of(dvp, grant)
    token = grant["refresh_token"] or grant["access_token"]
    try:
        response = await dvp.client.post(
            revocation_endpoint(services[listed[0]].token),
            data={"token": token, "client_id": dvp.hostname,
                  "token_type_hint": "refresh_token" if grant["refresh_token"]
                  else "access_token"},
            headers=medmij_headers(correlation_id))
    except httpx.TransportError as exc:  # refused, dropped, or no answer in time
        raise UpstreamFailed.unreachable("revoke", exc, provider=provider) from exc
    if response.status_code != 200:
        body = json_object(response)
        raise UpstreamFailed("revoke", str(body.get("error", "error")),
                             str(body.get("error_description", "")), provider=provider)
    dvp.store.db.execute(
        "UPDATE grant_ SET access_token = NULL, access_expires = NULL, refresh_token = NULL"
        " WHERE person_id = ? AND provider = ?", (person_id, provider))
    revoked_at = utc_timestamp(dvp.clock.now())
    db.execute("INSERT OR REPLACE INTO revocation VALUES (?,?,?)",
               (person_id, provider, revoked_at))
    return {"status": "revoked", "provider": provider, "revoked_at": revoked_at}


def revoked(grant: dict) -> bool:
    """A grant without tokens is a revoked consent; a new consent gives it tokens again."""
    return grant["access_token"] is None and grant["refresh_token"] is None


def consents(dvp, db: sqlite3.Connection, person_id: str) -> list[dict]:
    """Per provider: long-lived or not, and when the person revoked it (only while it is
    revoked: a consent given again after a revocation is active)."""
    dvp.person_or_404(person_id)
    revoked_at = {r["provider"]: r["revoked_at"] for r in db.execute(
        "SELECT provider, revoked_at FROM revocation WHERE person_id = ?", (person_id,))}
    return [{"provider": g["provider"], "scope": g["scope"], "services": g["services"],
             "long_lived": g["refresh_token"] is not None,
             "revoked_at": revoked_at.get(g["provider"]) if revoked(g) else None}
            for g in dvp.store.grants(person_id)]
