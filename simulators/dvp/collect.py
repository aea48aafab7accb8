"""The client side of a MedMij collect, shared by every DVP and the inspection function:
exchange the code, then send every search of the gegevensdienst to the resource endpoint."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import httpx

from simulators.common import clock
from simulators.common.gegevensdiensten import GEGEVENSDIENSTEN, collect_services
from simulators.common.http import medmij_headers
from simulators.common.lists import ServiceEndpoints

PARALLEL_SEARCHES = 6
TEMPLATE = re.compile(r"\$\{([A-Z]+ *(?:, *[A-Za-z]+ *)*, *[-+]?\d+)\}")


class CollectError(Exception):
    """The DVA refused (token or resource call): carries the protocol's error."""

    def __init__(self, step: str, status: int, error: str, description: str = "") -> None:
        super().__init__(f"{step}: {status} {error} {description}".strip())
        self.step, self.status, self.error, self.description = step, status, error, description


@dataclass
class SearchResult:
    service: str
    request_uri: str
    status: int
    timestamp: str
    seconds: float
    resources: list[dict] = field(default_factory=list)


def now_iso() -> str:
    return datetime.fromtimestamp(clock.now(), UTC).isoformat(timespec="seconds")


async def token_request(client: httpx.AsyncClient, endpoints: ServiceEndpoints, form: dict,
                        correlation_id: str) -> dict:
    response = await client.post(endpoints.token, data=form,
                                 headers=medmij_headers(correlation_id))
    if response.status_code != 200:
        try:
            body = response.json()
        except ValueError:
            body = {}
        raise CollectError("token", response.status_code, body.get("error", "error"),
                           body.get("error_description", ""))
    return response.json()


def render_query(query: str, today: date | None = None) -> str:
    """Fill in the query list's date templates with the sandbox date.

    ``${DATE, T, D, -730}`` is today plus -730 days, ``${CURRENTDATE,M,-14}`` today plus -14
    months (the Touchstone variables of the MedMij PHR-Client test scripts).
    """
    today = today or datetime.fromtimestamp(clock.now(), UTC).date()

    def fill(match: re.Match) -> str:
        parts = [p.strip() for p in match.group(1).split(",")]
        unit, amount = parts[-2].upper(), int(parts[-1])
        if unit == "M":
            month = today.month - 1 + amount
            year, month = today.year + month // 12, month % 12 + 1
            return today.replace(year=year, month=month, day=min(today.day, 28)).isoformat()
        if unit == "Y":
            return today.replace(year=today.year + amount, day=min(today.day, 28)).isoformat()
        return (today + timedelta(days=amount)).isoformat()

    return TEMPLATE.sub(fill, query)


def granted_services(token: dict, provider: str, requested: list[str]) -> list[str]:
    """The services a token covers: the DVA names a narrower scope in the token response
    (RFC 6749 section 5.1) when the person's record holds less than was asked."""
    slug = provider.removesuffix("@medmij")
    granted: list[str] = []
    for item in str(token.get("scope") or slug).split():
        name, tilde, service = item.partition("~")
        if name != slug:
            continue
        granted += [service] if tilde else collect_services(requested)
    return [s for s in requested if s in granted]


async def run_searches(client: httpx.AsyncClient, endpoints: ServiceEndpoints, service: str,
                       access_token: str, correlation_id: str) -> list[SearchResult]:
    """Every search the PGO query list prescribes for this gegevensdienst, a few at a time;
    for Documenten (51) then a read of every Binary the DocumentReferences point to."""
    dienst = GEGEVENSDIENSTEN[service]
    base = next(iter(endpoints.resources.values()))
    headers = {
        "Authorization": f"Bearer {access_token}",
        "Accept": f"application/fhir+json; fhirVersion={dienst.fhir_version}",
    }
    gate = asyncio.Semaphore(PARALLEL_SEARCHES)

    async def one(query: str) -> SearchResult:
        uri = f"{base}/{query}"
        async with gate:
            start = time.perf_counter()
            response = await client.get(uri, headers={**headers, **medmij_headers(correlation_id)})
            seconds = time.perf_counter() - start
        result = SearchResult(service, uri, response.status_code, now_iso(), seconds)
        if response.status_code == 200:
            body = response.json()
            if body.get("resourceType") == "Bundle":
                result.resources = [e["resource"] for e in body.get("entry", [])]
            else:  # a read (Binary)
                result.resources = [body]
        return result

    results = list(await asyncio.gather(*(one(render_query(q)) for q in dienst.searches)))
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
