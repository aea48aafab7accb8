"""The client side of a MedMij collect, shared by every DVP and the inspection function:
exchange the code, then send every search of the gegevensdienst to the resource endpoint."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from simulators.common import clock
from simulators.common.gegevensdiensten import GEGEVENSDIENSTEN
from simulators.common.http import medmij_headers
from simulators.common.lists import ServiceEndpoints

PARALLEL_SEARCHES = 6


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


async def run_searches(client: httpx.AsyncClient, endpoints: ServiceEndpoints, service: str,
                       access_token: str, correlation_id: str) -> list[SearchResult]:
    """Every search the PGO query list prescribes for this gegevensdienst, a few at a time."""
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
            bundle = response.json()
            result.resources = [e["resource"] for e in bundle.get("entry", [])]
        return result

    return list(await asyncio.gather(*(one(q) for q in dienst.searches)))
