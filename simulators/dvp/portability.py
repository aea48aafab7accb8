"""Portability at a DVP: export a person's report, import one from another PGO, replay it.

Import does not copy data between vendors: it records which collect actions to replay. The
person then connects each provider again (DigiD + consent at each DVA), and the callback sends
exactly the report's request URIs instead of the default searches.

An import is all or nothing: its plan (every request to replay, and an ``import_plan`` row that
records how many there are) is written in one transaction, and replay and status read only
plans whose recorded count matches the rows held, so a kill mid-import leaves no plan at all,
never a partial one that claims to be the whole report. Limits, each a 4xx with a reason: a body
of at most ``MAX_BODY_BYTES`` (413), the report's ``MAX_ACTIONS``/``MAX_REQUESTS`` (413), at most
``MAX_REPLAY_PER_PROVIDER`` distinct request URIs per provider (413: one callback replays them,
and MedMij expects it to answer within seconds), and request URIs without dot segments (422).
A service: no web framework (routes: ``portability_router.py``).
"""

from __future__ import annotations

import posixpath
import sqlite3
from collections import Counter
from urllib.parse import unquote, urlsplit

import orjson

from simulators.common.clock import Clock, SandboxClock
from simulators.common.http import medmij_headers
from simulators.common.lists import ServiceEndpoints
from simulators.common.medmij_client import SearchResult, fetch_search
from simulators.common.storage import transaction
from simulators.dvp.errors import Refused
from simulators.dvp.report import (
    Report,
    ReportError,
    ReportTooLarge,
    actions_from_log,
    build_report,
    fhir_package,
    parse_report,
    xml_from_package,
)
from simulators.medmij import fhir_accept, utc_timestamp
from simulators.population import pdf

SCHEMA = """
CREATE TABLE IF NOT EXISTS import_request (
    person_id TEXT NOT NULL REFERENCES person(id), provider TEXT NOT NULL, service TEXT NOT NULL,
    request_uri TEXT NOT NULL, source TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (person_id, provider, service, request_uri));
CREATE TABLE IF NOT EXISTS import_plan (
    person_id TEXT NOT NULL REFERENCES person(id), source TEXT NOT NULL,
    requests INTEGER NOT NULL, created TEXT NOT NULL, PRIMARY KEY (person_id, source));
"""
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_REPLAY_PER_PROVIDER = 300

# Plans whose recorded request count matches the rows held: the only ones replayed or reported.
COMPLETE_PLANS = """
SELECT p.person_id, p.source FROM import_plan p
WHERE p.requests = (SELECT COUNT(*) FROM import_request r
                    WHERE r.person_id = p.person_id AND r.source = p.source)
"""


class PlanError(ValueError):
    """A report that cannot become an import plan; ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def ensure_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def clean_path(path: str) -> bool:
    """Whether a URL path names itself: no ``.``/``..`` segment, also not percent-encoded
    (``%2e%2e``, decoded repeatedly), and no backslash, so what the prefix check sees is where
    the request goes."""
    decoded = path
    for _ in range(3):
        decoded = unquote(decoded)
    if "\\" in decoded or any(seg in (".", "..") for seg in decoded.split("/")):
        return False
    return posixpath.normpath(decoded) == decoded.rstrip("/") or decoded == "/"


def under_endpoint(uri: str, base: str) -> bool:
    """Whether ``uri`` lies under the resource endpoint ``base``: same scheme and host, no
    userinfo or fragment, a clean path, and the endpoint's path as a whole-segment prefix."""
    try:
        u, b = urlsplit(uri), urlsplit(base)
    except ValueError:
        return False
    if (u.scheme.lower(), u.netloc.lower()) != (b.scheme.lower(), b.netloc.lower()):
        return False
    if u.username or u.password or u.fragment or not clean_path(u.path):
        return False
    return u.path.startswith(b.path.rstrip("/") + "/")


def record_plan(db: sqlite3.Connection, person_id: str, report: Report, zal: dict,
                clock: Clock | None = None) -> dict:
    """Turn a report into the person's import plan, in one transaction (all or nothing).

    Actions at providers not on the ZAL are left out (and named); a request URI with dot
    segments refuses the whole report, as does more than ``MAX_REPLAY_PER_PROVIDER`` distinct
    URIs at one provider."""
    wanted: dict[tuple[str, str, str], None] = {}
    unknown: set[str] = set()
    for action in report.actions:
        if action.service not in zal.get(action.provider, {}):
            unknown.add(action.provider)
            continue
        for uri, _ in action.requests:
            try:
                parts = urlsplit(uri)
            except ValueError:
                raise PlanError(422, f"request URI is not a URL: {uri[:200]}") from None
            if parts.scheme not in ("http", "https") or not parts.netloc \
                    or not clean_path(parts.path):
                raise PlanError(422, f"request URI is not a plain absolute URL (dot segments?): "
                                     f"{uri[:200]}")
            wanted.setdefault((action.provider, action.service, uri), None)
    per_provider = Counter(provider for provider, _, _ in wanted)
    crowded = sorted(p for p, n in per_provider.items() if n > MAX_REPLAY_PER_PROVIDER)
    if crowded:
        raise PlanError(413, f"more than {MAX_REPLAY_PER_PROVIDER} distinct request URIs at "
                             f"{', '.join(crowded)}")
    with transaction(db):
        for provider, service, uri in wanted:
            db.execute(
                "INSERT OR IGNORE INTO import_request (person_id, provider, service,"
                " request_uri, source) VALUES (?,?,?,?,?)",
                (person_id, provider, service, uri, report.deelnemer))
        held = db.execute("SELECT COUNT(*) FROM import_request WHERE person_id = ?"
                          " AND source = ?", (person_id, report.deelnemer)).fetchone()[0]
        db.execute("INSERT OR REPLACE INTO import_plan (person_id, source, requests, created)"
                   " VALUES (?,?,?,?)", (person_id, report.deelnemer, held,
                                           utc_timestamp((clock or SandboxClock(None)).now())))
    return {"source": report.deelnemer, "actions": len(report.actions),
            "providers": sorted(per_provider), "requests": len(wanted),
            "not_on_zal": sorted(unknown)}


def person_report(dvp, person_id: str) -> Report:
    """The person's portabiliteitsrapport: every collect action of the request log."""
    now = utc_timestamp(dvp.clock.now())
    log = dvp.store.request_log(person_id)
    stamps = [e["timestamp"] for e in log] or [now]
    return Report(dvp.hostname, min(stamps), max(stamps), now, actions_from_log(log))


def dossier(dvp, person: dict, report: Report) -> bytes:
    """A one-page PDF of what the PGO holds, for the person (the report is for the next PGO)."""
    held = Counter((i["provider"], i["gegevensdienst"], i["resource"]["resourceType"])
                   for i in dvp.store.resources(person["id"]))
    lines = [f"Deelnemer: {report.deelnemer}", f"Periode: {report.van} tot {report.tot}",
             f"Ophaalacties: {len(report.actions)}", ""]
    lines += [f"{provider} ({service}): {kind} x {n}"
              for (provider, service, kind), n in sorted(held.items())]
    return pdf.render(f"Dossier van {person['name']}", lines or ["Geen gegevens."])


def pending_replay(dvp, person_id: str, provider: str, service: str) -> list[str]:
    rows = dvp.store.db.execute(
        "SELECT request_uri FROM import_request WHERE person_id = ? AND provider = ?"
        " AND service = ? AND done = 0 AND (person_id, source) IN (" + COMPLETE_PLANS + ")"
        " ORDER BY rowid", (person_id, provider, service))
    return [r["request_uri"] for r in rows]


def mark_replayed(dvp, person_id: str, provider: str, service: str) -> None:
    dvp.store.db.execute(
        "UPDATE import_request SET done = 1 WHERE person_id = ? AND provider = ? AND service = ?",
        (person_id, provider, service))


async def replay(dvp, endpoints: ServiceEndpoints, service: str, access_token: str,
                 uris: list[str], correlation_id: str, fhir_version: str) -> list[SearchResult]:
    """Send the imported request URIs, but only those under the provider's listed resource
    endpoint: a token never goes to an address the ZAL does not name. Each goes through the
    normal searches' ``fetch_search`` (retries, shape checks, transport errors), so an odd DVA
    answer is a ``failed`` or ``partial`` result, never an exception."""
    bases = list(endpoints.resources.values())
    headers = {"Authorization": f"Bearer {access_token}", "Accept": fhir_accept(fhir_version),
               **medmij_headers(correlation_id)}
    results = []
    for uri in dict.fromkeys(uris):
        base = next((b for b in bases if under_endpoint(uri, b)), None)
        if base is None:
            results.append(SearchResult(
                service, uri, 0, utc_timestamp(dvp.clock.now()), 0.0, outcome="failed",
                reason="not under the provider's resource endpoint: not sent"))
            continue
        results.append(await fetch_search(dvp.client, uri, headers, service, base, dvp.clock))
    return results


def export_fhir(dvp, person: dict) -> dict:
    """The report as the FHIR package (with the person's dossier PDF)."""
    report = person_report(dvp, person["id"])
    return fhir_package(build_report(report), report.tijdstempel, dossier(dvp, person, report))


def import_report(dvp, person_id: str, body: bytes, content_type: str) -> dict:
    """Accept a report (XML, or the FHIR package as JSON) from another PGO: the import plan,
    and where the person goes next (connect each provider again)."""
    dvp.refuse_if_curator()
    try:
        if content_type.split(";")[0].endswith("json"):
            body = xml_from_package(orjson.loads(body))
        plan = record_plan(dvp.store.db, person_id, parse_report(body), dvp.lists.lists.zal,
                           dvp.clock)
    except ReportTooLarge as exc:
        raise Refused(f"portabiliteitsrapport too large: {exc}", http_status=413,
                      message="Dit portabiliteitsrapport is te groot om in te lezen.") from exc
    except (ReportError, orjson.JSONDecodeError) as exc:
        raise Refused(f"not a portabiliteitsrapport: {exc}",
                      message="Dit bestand is geen portabiliteitsrapport (XML of FHIR-JSON) "
                              "dat deze PGO kan lezen.") from exc
    except PlanError as exc:
        raise Refused(str(exc), http_status=exc.status,
                      message=f"Dit portabiliteitsrapport kan niet worden ingelezen: {exc}"
                      ) from exc
    return plan | {"next": [f"/persons/{person_id}/connect?provider={p}"
                            for p in plan["providers"]]}


def import_status(dvp, person_id: str) -> dict:
    """What an import rebuilt so far: per provider, requests replayed and resources held."""
    rows = dvp.store.db.execute(
        "SELECT provider, service, source, SUM(done) AS done, COUNT(*) AS total,"
        " (person_id, source) IN (" + COMPLETE_PLANS + ") AS planned"
        " FROM import_request WHERE person_id = ? GROUP BY provider, service, source",
        (person_id,)).fetchall()
    held = Counter(i["provider"] for i in dvp.store.resources(person_id))
    actions = [{k: r[k] for k in ("provider", "service", "source", "done", "total")}
               | {"resources_held": held[r["provider"]], "complete_plan": bool(r["planned"])}
               for r in rows]
    return {"actions": actions,
            "complete": all(a["done"] == a["total"] and a["complete_plan"] for a in actions)}
