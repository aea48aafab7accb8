"""Long-lived consent at the PGO (SPEC.md section 3, 2.x): re-collect without the person by
refresh token, and let the person revoke the consent.

Refresh rotates the refresh token (the DVA refuses the old one); a consent lapses after 6 months
without collecting; revocation is RFC 7009 at the DVA. The ZAL names no revocation endpoint, so
the PGO uses the sandbox DVA's convention: ``/oauth/revoke`` beside ``/oauth/token``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.responses import JSONResponse

from simulators.common import clock
from simulators.common.http import medmij_headers
from simulators.common.storage import open_db
from simulators.dvp.collect import CollectError, granted_services, run_searches, token_request

SCHEMA = """
CREATE TABLE IF NOT EXISTS revocation (
    person_id TEXT NOT NULL, provider TEXT NOT NULL, revoked_at TEXT NOT NULL,
    PRIMARY KEY (person_id, provider));
"""


def revocation_endpoint(token_endpoint: str) -> str:
    return token_endpoint.rsplit("/", 1)[0] + "/revoke"


def build_router(dvp) -> APIRouter:  # dvp: simulators.dvp.app.DVP
    router = APIRouter(tags=["langdurige toestemming"])
    db = open_db(dvp.config.node_dir(dvp.node.id) / "consent.sqlite", SCHEMA)

    def grant_or_404(person_id: str, provider: str) -> dict:
        dvp.person_or_404(person_id)
        for grant in dvp.store.grants(person_id):
            if grant["provider"] == provider:
                return grant
        raise HTTPException(404, f"no consent for {provider}")

    def endpoints_of(grant: dict):
        services = dvp.lists.lists.zal.get(grant["provider"], {})
        listed = [s for s in grant["services"] if s in services]
        if not listed:
            raise HTTPException(409, f"{grant['provider']} left the Zorgaanbiederslijst")
        return services, listed

    person = Depends(dvp.accounts.person)  # the logged-in person only; POSTs need CSRF

    @router.post("/api/persons/{person_id}/grants/{provider}/refresh", dependencies=[person])
    async def recollect(person_id: str, provider: str,
                        x_correlation_id: str | None = Header(None)):
        """Collect again without the person, on the long-lived consent (refresh token)."""
        grant = grant_or_404(person_id, provider)
        correlation_id = x_correlation_id or str(uuid.uuid4())
        if dvp.curator.active:  # a bankrupt vendor collects nothing new
            return JSONResponse({"status": "refused", "error": "curator",
                                 "notice": dvp.curator.notice}, status_code=403)
        if not grant["refresh_token"]:
            return JSONResponse({"status": "refused", "error": "no_long_lived_consent",
                                 "provider": provider}, status_code=409)
        services, listed = endpoints_of(grant)
        try:
            token = await token_request(dvp.client, services[listed[0]], {
                "grant_type": "refresh_token", "refresh_token": grant["refresh_token"],
                "client_id": dvp.hostname}, correlation_id)
        except CollectError as exc:
            return JSONResponse({"status": "refused", "step": exc.step, "error": exc.error,
                                 "error_description": exc.description, "provider": provider,
                                 "correlation_id": correlation_id},
                                status_code=409 if exc.error == "invalid_grant" else 502)
        listed = granted_services(token, provider, listed)
        dvp.store.save_grant(person_id, provider, grant["scope"], listed, token)
        try:
            results = []
            for service in listed:
                results += await run_searches(dvp.client, services[service], service,
                                              token["access_token"], correlation_id)
        except CollectError as exc:
            return JSONResponse({"status": "failed", "step": exc.step, "error": exc.error,
                                 "correlation_id": correlation_id}, status_code=502)
        stored = dvp.store.store_collect(person_id, provider, results, correlation_id)
        failed = [r.request_uri for r in results if r.status != 200]
        return JSONResponse({
            "status": "collected" if not failed else "partial", "person_id": person_id,
            "provider": provider, "gegevensdiensten": listed, "requests": len(results),
            "failed_requests": failed, "resources": stored,
            "rotated": token.get("refresh_token") not in (None, grant["refresh_token"]),
            "correlation_id": correlation_id,
        }, status_code=200 if not failed else 502)

    @router.post("/api/persons/{person_id}/grants/{provider}/revoke", dependencies=[person])
    async def revoke(person_id: str, provider: str,
                     x_correlation_id: str | None = Header(None)):
        """The person withdraws the consent: RFC 7009 revocation of the refresh token (which
        ends the whole grant at the DVA)."""
        grant = grant_or_404(person_id, provider)
        services, listed = endpoints_of(grant)
        token = grant["refresh_token"] or grant["access_token"]
        if not token:
            raise HTTPException(409, "no token to revoke")
        response = await dvp.client.post(
            revocation_endpoint(services[listed[0]].token),
            data={"token": token, "client_id": dvp.hostname,
                  "token_type_hint": "refresh_token" if grant["refresh_token"] else
                  "access_token"},
            headers=medmij_headers(x_correlation_id))
        if response.status_code != 200:
            body = response.json() if response.content else {}
            return JSONResponse({"status": "failed", "error": body.get("error", "error"),
                                 "provider": provider}, status_code=502)
        revoked_at = datetime.fromtimestamp(clock.now(), UTC).isoformat(timespec="seconds")
        db.execute("INSERT OR REPLACE INTO revocation VALUES (?,?,?)",
                   (person_id, provider, revoked_at))
        return {"status": "revoked", "provider": provider, "revoked_at": revoked_at}

    @router.get("/api/persons/{person_id}/consents", dependencies=[person])
    async def consents(person_id: str) -> list[dict]:
        """Per provider: long-lived or not, and when the person revoked it."""
        dvp.person_or_404(person_id)
        revoked = {r["provider"]: r["revoked_at"] for r in db.execute(
            "SELECT provider, revoked_at FROM revocation WHERE person_id = ?", (person_id,))}
        return [{"provider": g["provider"], "scope": g["scope"], "services": g["services"],
                 "long_lived": g["refresh_token"] is not None,
                 "revoked_at": revoked.get(g["provider"])} for g in dvp.store.grants(person_id)]

    return router
