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
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from simulators.common import clock as clock_module
from simulators.common.clock import Clock
from simulators.common.http import medmij_headers
from simulators.common.lists import ServiceEndpoints
from simulators.medmij import (
    FHIR_JSON,
    OAuthError,
    fhir_accept,
    parse_scope,
    provider_slug,
    utc_timestamp,
)
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN, collect_services

PARALLEL_SEARCHES = 6
# MedMij expects a DVA's token answer within 10 s; a search gets more (a large BgZ). Past these
# the PGO stops waiting: a clear 504 (``temporarily_unavailable``), never a 500 after 60 s.
# PGO_TOKEN_TIMEOUT_SECONDS / PGO_SEARCH_TIMEOUT_SECONDS lower them for tests and drills.
TOKEN_TIMEOUT_SECONDS = float(os.environ.get("PGO_TOKEN_TIMEOUT_SECONDS", "10"))
SEARCH_TIMEOUT_SECONDS = float(os.environ.get("PGO_SEARCH_TIMEOUT_SECONDS", "30"))
# Safe retries (issue 16): only a GET search, only on 429/502/503 or a dropped connection, at
# most SEARCH_ATTEMPTS in all, waiting Retry-After (capped) or RETRY_BASE_SECONDS doubling.
SEARCH_ATTEMPTS = int(os.environ.get("PGO_SEARCH_ATTEMPTS", "3"))
RETRY_BASE_SECONDS = float(os.environ.get("PGO_RETRY_BASE_SECONDS", "0.5"))
RETRY_AFTER_CAP_SECONDS = float(os.environ.get("PGO_RETRY_AFTER_CAP_SECONDS", "5"))
RETRY_STATUSES = frozenset({429, 502, 503})
MAX_PAGES = 20  # a paged Bundle: next links followed at most this far
FHIR_JSON_TYPES = frozenset({FHIR_JSON, "application/json", "application/json+fhir"})
_sleep = asyncio.sleep  # the backoff's wait (tests record it instead)
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
    when, how long it took, and the resources it returned; and how complete it was:
    ``outcome`` is ``complete``, ``partial`` (some data came, not all: Bundle.total says more,
    a page failed, an error in an OperationOutcome) or ``failed`` (nothing usable), with the
    ``reason`` and any ``warnings`` the DVA's OperationOutcome carried."""

    service: str
    request_uri: str
    status: int
    timestamp: str
    seconds: float
    resources: list[dict] = field(default_factory=list)
    outcome: str = "complete"
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    attempts: int = 1

    def as_dict(self) -> dict:
        """The per-search record the DVP stores and shows (no resources: only counts)."""
        return {"service": self.service, "request_uri": self.request_uri,
                "status": self.status, "outcome": self.outcome, "reason": self.reason,
                "warnings": self.warnings, "attempts": self.attempts,
                "received": len(self.resources)}


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
        body = json_object(response)
        raise CollectError("token", response.status_code, str(body.get("error", "error")),
                           str(body.get("error_description", "")))
    token = json_object(response)
    if "access_token" not in token:
        raise CollectError("token", 502, "invalid_response", "the token answer had no "
                           "access_token")
    return token


def json_object(response: httpx.Response) -> dict:
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


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def retry_delay(response: httpx.Response | None, attempt: int) -> float:
    """How long to wait before attempt ``attempt + 1``: the DVA's ``Retry-After`` (seconds or
    an HTTP date) when it sent one, else exponential backoff; never more than
    ``RETRY_AFTER_CAP_SECONDS`` (a DVA asking for an hour does not hold the person's page)."""
    wait = RETRY_BASE_SECONDS * 2 ** (attempt - 1)
    header = response.headers.get("retry-after", "").strip() if response is not None else ""
    if header:
        try:
            wait = float(header)
        except ValueError:
            try:
                when = parsedate_to_datetime(header)
                wait = when.timestamp() - time.time()
            except (TypeError, ValueError):
                pass
    return max(0.0, min(wait, RETRY_AFTER_CAP_SECONDS))


async def _get(client: httpx.AsyncClient, uri: str, headers: dict,
               result: SearchResult) -> httpx.Response | None:
    """One GET with the retries that are safe for it (a search is idempotent): again on 429,
    502, 503 or a dropped connection, at most ``SEARCH_ATTEMPTS`` times in all. A timeout is
    not retried (it already took ``SEARCH_TIMEOUT_SECONDS``). ``None``: no answer at all;
    ``result`` gets the status, attempts and reason."""
    for attempt in range(1, SEARCH_ATTEMPTS + 1):
        result.attempts = attempt
        response = None
        try:
            async with asyncio.timeout(SEARCH_TIMEOUT_SECONDS):
                response = await client.get(uri, timeout=SEARCH_TIMEOUT_SECONDS,
                                            headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            result.status, result.reason = 504, \
                f"no answer within {SEARCH_TIMEOUT_SECONDS:g} s"
            return None
        except httpx.TransportError as exc:
            result.status, result.reason = 502, f"connection failed ({type(exc).__name__})"
        else:
            result.status = response.status_code
            if response.status_code not in RETRY_STATUSES:
                return response
            result.reason = f"HTTP {response.status_code}"
        if attempt < SEARCH_ATTEMPTS:
            await _sleep(retry_delay(response, attempt))
    if result.attempts > 1:
        result.reason += f" (after {result.attempts} attempts)"
    return response


def _under(uri: str, base: str) -> bool:
    """A ``next`` link is followed only below the resource endpoint the ZAL names: the
    access token never goes to another address."""
    a, b = urlsplit(uri), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc) and \
        (a.path.rstrip("/") + "/").startswith(b.path.rstrip("/") + "/")


def _next_link(body: dict) -> str | None:
    links = body.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next" and \
                isinstance(link.get("url"), str) and link["url"]:
            return link["url"]
    return None


def _is_resource(value: object) -> bool:
    """A FHIR resource as the PGO can keep it: an object with a ``resourceType`` text."""
    return isinstance(value, dict) and isinstance(value.get("resourceType"), str) and \
        bool(value["resourceType"])


def _read_outcome(resource: dict, result: SearchResult) -> list[str]:
    """An OperationOutcome entry: its warnings go to ``result``, its errors (and an issue
    list the PGO cannot read) are the returned problems."""
    issues = resource.get("issue")
    if issues is None:
        return []
    if not isinstance(issues, list):
        return ["an OperationOutcome without an issue list"]
    problems = []
    for issue in issues:
        if not isinstance(issue, dict):
            problems.append("an OperationOutcome issue that is not an object")
            continue
        details = issue.get("details")
        text = str(issue.get("diagnostics") or (details.get("text") if isinstance(
            details, dict) else None) or issue.get("code") or "")
        if issue.get("severity") in ("fatal", "error"):
            problems.append(f"the DVA reported an error: {text}")
        else:
            result.warnings.append(text)
    return problems


def _read_bundle(body: dict, result: SearchResult) -> tuple[int, list[str]]:
    """Take one Bundle page's data into ``result``: its matches and includes, not its
    OperationOutcome (warnings are noted, errors make the search partial), not entries
    without a resource. Every part of the DVA's answer is checked for its shape before it is
    read: an answer of the wrong shape is a problem of this search, never an exception.
    Returns (matches on this page, problems)."""
    entries = body.get("entry")
    if entries is None:
        return 0, []
    if not isinstance(entries, list):
        return 0, ["Bundle.entry is not a list"]
    matches, problems = 0, []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not _is_resource(resource):
            problems.append("an entry without a resource")
            continue
        if resource["resourceType"] == "OperationOutcome":
            problems += _read_outcome(resource, result)
            continue
        result.resources.append(resource)
        search = entry.get("search")
        if not isinstance(search, dict) or (search.get("mode") or "match") == "match":
            matches += 1
    return matches, problems


async def fetch_search(client: httpx.AsyncClient, uri: str, headers: dict, service: str,
                       base: str, clock: Clock) -> SearchResult:
    """One search (or read) with its safe retries, its ``next`` pages (at most
    ``MAX_PAGES``, only below ``base``), and its verdict: complete, partial or failed."""
    start = time.perf_counter()
    result = SearchResult(service, uri, 0, "", 0.0)
    problems: list[str] = []
    total, matches, page_uri, pages = None, 0, uri, 0
    while page_uri is not None:
        pages += 1
        response = await _get(client, page_uri, headers, result)
        if response is None or response.status_code != 200:
            if response is not None and not result.reason:
                result.reason = f"HTTP {response.status_code}"
            problems.append(result.reason if pages == 1 else f"page {pages}: {result.reason}")
            break
        body = json_object(response) if _media_type(response) in FHIR_JSON_TYPES else None
        if body is None:
            problems.append(f"wrong Content-Type {_media_type(response) or '(none)'}")
            break
        if not _is_resource(body):
            problems.append("the answer is not a FHIR resource")
            break
        if body["resourceType"] != "Bundle":  # a read (Binary)
            result.resources.append(body)
            break
        found, page_problems = _read_bundle(body, result)
        matches += found
        problems += page_problems
        if pages == 1 and isinstance(body.get("total"), int):
            total = body["total"]
        page_uri = _next_link(body)
        if page_uri is not None and not _under(page_uri, base):
            problems.append("a next link outside the resource endpoint was not followed")
            page_uri = None
        if page_uri is not None and pages >= MAX_PAGES:
            problems.append(f"more than {MAX_PAGES} pages: the rest was not fetched")
            page_uri = None
    if total is not None and total > matches and not problems:
        problems.append(f"Bundle.total is {total}, {matches} received")
    if problems:
        # ``status`` stays the HTTP status as answered; the outcome says what it was worth
        result.outcome = "partial" if result.resources else "failed"
        result.reason = "; ".join(dict.fromkeys(problems))
    else:
        result.reason = ""
    result.seconds = time.perf_counter() - start
    result.timestamp = utc_timestamp(clock.now())
    return result


async def run_searches(client: httpx.AsyncClient, endpoints: ServiceEndpoints, service: str,
                       access_token: str, correlation_id: str, *,
                       clock: Clock | None = None) -> list[SearchResult]:
    """Every search the PGO query list prescribes for this gegevensdienst, a few at a time;
    for Documenten (51) then a read of every Binary the DocumentReferences point to. Each
    search is retried only where that is safe and judged complete / partial / failed
    (``fetch_search``); a failed one never stops the others."""
    dienst = GEGEVENSDIENSTEN[service]
    clock = _clock(clock)
    base = next(iter(endpoints.resources.values()))
    headers = {"Authorization": f"Bearer {access_token}",
               "Accept": fhir_accept(dienst.fhir_version)}
    gate = asyncio.Semaphore(PARALLEL_SEARCHES)

    async def one(query: str) -> SearchResult:
        async with gate:
            return await fetch_search(client, f"{base}/{query}",
                                      {**headers, **medmij_headers(correlation_id)},
                                      service, base, clock)

    queries = collect_queries(service, clock=clock)
    results = list(await asyncio.gather(*(one(q) for q in queries)))
    if dienst.binary_reads:
        results += await asyncio.gather(*(one(b) for b in binary_refs(results)))
    return results


def binary_refs(results: list[SearchResult]) -> list[str]:
    """Relative Binary references of the DocumentReferences found, once each, in order
    (content, attachment and url of the DVA's answer are checked for their shape first)."""
    seen: dict[str, None] = {}
    for result in results:
        for resource in result.resources:
            if resource.get("resourceType") != "DocumentReference":
                continue
            contents = resource.get("content")
            for content in contents if isinstance(contents, list) else []:
                attachment = content.get("attachment") if isinstance(content, dict) else None
                url = attachment.get("url") if isinstance(attachment, dict) else None
                if isinstance(url, str) and url.startswith("Binary/"):
                    seen.setdefault(url, None)
    return list(seen)
