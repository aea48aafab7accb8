"""The PGO side of a MedMij collect, shared by every DVP and the inspection function (MGO):
exchange the code at the DVA's token endpoint, then send every search of the gegevensdienst
to its resource endpoint.

It lives in ``simulators/common`` because two roles use it (no role imports another role).
Nothing here imports FastAPI: it is a service, called by the roles' routers. Time comes from
the caller's injected ``Clock``; only a caller outside a role (the Locust PGO, which
configures the process clock itself) falls back to ``simulators.common.clock.default()``.
"""

from __future__ import annotations

import asyncio
import calendar
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import httpx

from simulators.common import clock as clock_module
from simulators.common.clock import Clock
from simulators.common.http import medmij_headers
from simulators.common.lists import ServiceEndpoints
from simulators.medmij import OAuthError, fhir_accept, parse_scope, provider_slug, utc_timestamp
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN, collect_services

PARALLEL_SEARCHES = 6
# MedMij expects a DVA's token answer within 10 s; a search gets more (a large BgZ). Past these
# the PGO stops waiting: a clear 504 (``temporarily_unavailable``), never a 500 after 60 s.
# PGO_TOKEN_TIMEOUT_SECONDS / PGO_SEARCH_TIMEOUT_SECONDS lower them for tests and drills.
TOKEN_TIMEOUT_SECONDS = float(os.environ.get("PGO_TOKEN_TIMEOUT_SECONDS", "10"))
SEARCH_TIMEOUT_SECONDS = float(os.environ.get("PGO_SEARCH_TIMEOUT_SECONDS", "30"))
TEMPLATE = re.compile(r"\$\{([A-Z]+ *(?:, *[A-Za-z]+ *)*, *[-+]?\d+)\}")


class CollectError(Exception):
    """The DVA refused or did not answer (token or resource call): carries the protocol's
    error (an ``OAuthError`` code, or the DVA's own word) and the HTTP status to pass on."""

    def __init__(self, step: str, status: int, error: str, description: str = "") -> None:
        super().__init__(f"{step}: {status} {error} {description}".strip())
        self.step, self.status, self.error, self.description = step, status, error, description


@dataclass
class SearchResult:
    """One search (or Binary read) as the PGO logs it: what was asked, the answer's status,
    when, how long it took, and the resources it returned."""

    service: str
    request_uri: str
    status: int
    timestamp: str
    seconds: float
    resources: list[dict] = field(default_factory=list)


def _clock(clock: Clock | None) -> Clock:
    """The caller's clock, or the process clock for callers outside a role (Locust)."""
    return clock if clock is not None else clock_module.default()


async def token_request(client: httpx.AsyncClient, endpoints: ServiceEndpoints, form: dict,
                        correlation_id: str) -> dict:
    """The token request; no answer within ``TOKEN_TIMEOUT_SECONDS`` (in all, so a DVA that
    answers byte by byte counts too) or no connection is ``temporarily_unavailable``."""
    try:
        async with asyncio.timeout(TOKEN_TIMEOUT_SECONDS):
            response = await client.post(endpoints.token, data=form,
                                         headers=medmij_headers(correlation_id),
                                         timeout=TOKEN_TIMEOUT_SECONDS)
    except (TimeoutError, httpx.TimeoutException):
        raise CollectError("token", 504, OAuthError.TEMPORARILY_UNAVAILABLE,
                           f"the DVA gave no token answer within {TOKEN_TIMEOUT_SECONDS:g} s"
                           ) from None
    except httpx.TransportError as exc:
        raise CollectError("token", 502, OAuthError.TEMPORARILY_UNAVAILABLE,
                           f"the DVA could not be reached ({type(exc).__name__})") from None
    if response.status_code != 200:
        body = _json_object(response)
        raise CollectError("token", response.status_code, str(body.get("error", "error")),
                           str(body.get("error_description", "")))
    token = _json_object(response)
    if "access_token" not in token:
        raise CollectError("token", 502, "invalid_response", "the token answer had no "
                           "access_token")
    return token


def _json_object(response: httpx.Response) -> dict:
    """The response body as a JSON object, or ``{}`` when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def render_query(query: str, today: date | None = None, *, clock: Clock | None = None) -> str:
    """Fill in the query list's date templates with the sandbox date.

    ``${DATE, T, D, -730}`` is today plus -730 days, ``${CURRENTDATE,M,-14}`` today plus -14
    months (the Touchstone variables of the MedMij PHR-Client test scripts). A month or year
    step keeps the day of the month, or the month's last day where it has fewer days
    (31 March - 1 month = 28 February), as calendar arithmetic does: clamping every day to 28
    would start the window up to three days early.
    """
    today = today or datetime.fromtimestamp(_clock(clock).now(), UTC).date()

    def shifted(months: int) -> date:
        month = today.month - 1 + months
        year, month = today.year + month // 12, month % 12 + 1
        return today.replace(year=year, month=month,
                             day=min(today.day, calendar.monthrange(year, month)[1]))

    def fill(match: re.Match) -> str:
        parts = [p.strip() for p in match.group(1).split(",")]
        unit, amount = parts[-2].upper(), int(parts[-1])
        if unit == "M":
            return shifted(amount).isoformat()
        if unit == "Y":
            return shifted(12 * amount).isoformat()
        return (today + timedelta(days=amount)).isoformat()

    return TEMPLATE.sub(fill, query)


def collect_queries(service: str, *, clock: Clock | None = None) -> list[str]:
    """The searches of a gegevensdienst as a PGO sends them: the query list's date templates
    filled in with the sandbox date. The DVP and the Locust PGO both send exactly these."""
    today = datetime.fromtimestamp(_clock(clock).now(), UTC).date()
    return [render_query(q, today) for q in GEGEVENSDIENSTEN[service].searches]


def granted_services(token: dict, provider: str, requested: list[str]) -> list[str]:
    """The services a token covers: the DVA names a narrower scope in the token response
    (RFC 6749 section 5.1) when the person's record holds less than was asked."""
    slug = provider_slug(provider)
    granted: list[str] = []
    for name, service in parse_scope(str(token.get("scope") or slug)):
        if name != slug:
            continue
        granted += [service] if service is not None else collect_services(requested)
    return [s for s in requested if s in granted]


async def run_searches(client: httpx.AsyncClient, endpoints: ServiceEndpoints, service: str,
                       access_token: str, correlation_id: str, *,
                       clock: Clock | None = None) -> list[SearchResult]:
    """Every search the PGO query list prescribes for this gegevensdienst, a few at a time;
    for Documenten (51) then a read of every Binary the DocumentReferences point to."""
    dienst = GEGEVENSDIENSTEN[service]
    clock = _clock(clock)
    base = next(iter(endpoints.resources.values()))
    headers = {"Authorization": f"Bearer {access_token}",
               "Accept": fhir_accept(dienst.fhir_version)}
    gate = asyncio.Semaphore(PARALLEL_SEARCHES)

    async def one(query: str) -> SearchResult:
        uri = f"{base}/{query}"
        async with gate:
            start = time.perf_counter()
            try:
                async with asyncio.timeout(SEARCH_TIMEOUT_SECONDS):
                    response = await client.get(uri, timeout=SEARCH_TIMEOUT_SECONDS, headers={
                        **headers, **medmij_headers(correlation_id)})
            except (TimeoutError, httpx.TimeoutException):
                response = None
                status = 504  # logged as a failed request: the collect is "partial"
            except httpx.TransportError:
                response = None
                status = 502
            seconds = time.perf_counter() - start
        stamp = utc_timestamp(clock.now())
        if response is None:
            return SearchResult(service, uri, status, stamp, seconds)
        result = SearchResult(service, uri, response.status_code, stamp, seconds)
        if response.status_code == 200:
            body = response.json()
            if body.get("resourceType") == "Bundle":
                result.resources = [e["resource"] for e in body.get("entry", [])]
            else:  # a read (Binary)
                result.resources = [body]
        return result

    queries = collect_queries(service, clock=clock)
    results = list(await asyncio.gather(*(one(q) for q in queries)))
    if dienst.binary_reads:
        results += await asyncio.gather(*(one(b) for b in binary_refs(results)))
    return results


def binary_refs(results: list[SearchResult]) -> list[str]:
    """Relative Binary references of the DocumentReferences found, once each, in order."""
    seen: dict[str, None] = {}
    for result in results:
        for resource in result.resources:
            if resource.get("resourceType") != "DocumentReference":
                continue
            for content in resource.get("content") or []:
                url = (content.get("attachment") or {}).get("url") or ""
                if url.startswith("Binary/"):
                    seen.setdefault(url, None)
    return list(seen)
