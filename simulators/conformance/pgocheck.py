"""The PGO side of qualification: were a PGO's requests what the PHR-Client TestScripts expect?

The DVAs record every FHIR request they receive (``simulators.dva.resources.RequestLog``,
served at ``/admin/requests``). This module compares the requests of one client at one
provider and gegevensdienst with:

- the searches of the PGO query list (``GEGEVENSDIENSTEN[...].searches``, verbatim from
  ``testscripts/pgo-client-queries.tsv``; each expected search is listed with the PHR-Client
  TestScripts that send it): *missing* and *extra* searches;
- the request asserts every PHR-Client script makes: ``Authorization: Bearer`` present,
  no ``patient=`` or ``subject=`` in the URL;
- the MedMij headers (SPEC section 3): ``MedMij-Request-ID`` (a new one per request) and
  ``X-Correlation-ID``;
- an ``Accept`` that names FHIR JSON or XML of the gegevensdienst's FHIR version.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from simulators.common.fhir import accept_fhir_version, negotiate_format
from simulators.medmij import CORRELATION_ID, FHIR_JSON, FHIR_XML, MEDMIJ_REQUEST_ID
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN

TEMPLATE = re.compile(r"\$\{[^}]*\}")
DATE_VALUE = r"\d{4}(-\d{2}(-\d{2}([T ][0-9:.+Z-]*)?)?)?"
BINARY_READ = re.compile(r"^Binary/[A-Za-z0-9.-]{1,64}$")
FORBIDDEN = re.compile(r"(^|[?&])(patient|subject)(:[A-Za-z]+)?=")
REQUEST_ID_KIND = MEDMIJ_REQUEST_ID.lower()  # the Problem kind named after the header


@dataclass
class Problem:
    """One thing wrong with the PGO's requests; ``kind`` is stable for machines."""

    kind: str  # missing | extra | no-authorization | token-refused | patient-subject |
    #             medmij-request-id | correlation-id | accept
    message: str
    request: str | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message, "request": self.request}


@dataclass
class CellResult:
    """The check of one client at one provider for one gegevensdienst."""

    client: str
    provider: str  # slug as in the URL
    service: str
    expected: list[str]
    requests: list[dict]
    problems: list[Problem] = field(default_factory=list)
    scripts: dict[str, list[str]] = field(default_factory=dict)  # expected -> TestScript ids

    @property
    def passed(self) -> bool:
        return bool(self.requests) and not self.problems

    def kinds(self) -> Counter:
        return Counter(p.kind for p in self.problems)

    def to_dict(self) -> dict:
        return {"client": self.client, "provider": self.provider, "service": self.service,
                "passed": self.passed, "requests": len(self.requests),
                "expected": [{"search": e, "testscripts": self.scripts.get(e, [])}
                             for e in self.expected],
                "problems": [p.to_dict() for p in self.problems]}


def tsv_scripts(root: Path | None) -> dict[str, list[str]]:
    """Search (resource + params, as in the query list) -> the PHR-Client TestScript ids that
    send it, from ``pgo-client-queries.tsv``."""
    out: dict[str, list[str]] = {}
    path = root / "pgo-client-queries.tsv" if root else None
    if path is None or not path.is_file():
        return out
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row.get("op_type") != "search" or not row.get("resource"):
                continue
            key = _key(row["resource"] + (row.get("params_or_url") or ""))
            ids = out.setdefault(key, [])
            if row["testscript_id"] not in ids:
                ids.append(row["testscript_id"])
    return out


def _key(search: str) -> str:
    """A search without template differences in spacing (``${DATE, T, D, -0}``)."""
    return TEMPLATE.sub("${}", unquote(search))


def _split(search: str) -> tuple[str, list[tuple[str, str]]]:
    path, _, query = unquote(search).partition("?")
    pairs = []
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        pairs.append((name, value))
    return path.strip("/"), pairs


def _value_pattern(value: str) -> re.Pattern:
    parts = TEMPLATE.split(value)
    return re.compile("^" + DATE_VALUE.join(re.escape(p) for p in parts) + "$")


def matches(expected: str, actual: str) -> bool:
    """Does the request ``actual`` (relative to the resource endpoint) send the search
    ``expected`` of the query list? Parameters in any order; a date template matches a date."""
    e_path, e_params = _split(expected)
    a_path, a_params = _split(actual)
    if e_path != a_path or len(e_params) != len(a_params):
        return False
    left = list(a_params)
    for name, value in e_params:
        pattern = _value_pattern(value)
        hit = next((i for i, (n, v) in enumerate(left) if n == name and pattern.match(v)), None)
        if hit is None:
            return False
        left.pop(hit)
    return True


def relative(path: str, slug: str, service: str) -> str:
    """The request path after the resource endpoint ``/fhir/<slug>/<service>/``."""
    prefix = f"/fhir/{slug}/{service}/"
    return path[len(prefix):] if path.startswith(prefix) else path


def check_cell(client: str, slug: str, service: str, requests: list[dict],
               scripts: dict[str, list[str]] | None = None) -> CellResult:
    """Compare the requests one client sent to one provider's gegevensdienst with what the
    PHR-Client scripts expect."""
    dienst = GEGEVENSDIENSTEN[service]
    expected = list(dienst.searches)
    scripts = scripts or {}
    result = CellResult(client, slug, service, expected, requests,
                        scripts={e: scripts.get(_key(e), []) for e in expected})
    gets = [r for r in requests if r["method"] == "GET"]
    sent = [relative(r["path"], slug, service) for r in gets]
    for search in expected:
        if not any(matches(search, s) for s in sent):
            result.problems.append(Problem("missing", f"the search {search} was not sent"))
    for r, s in zip(gets, sent, strict=True):
        if any(matches(e, s) for e in expected):
            continue
        if dienst.binary_reads and BINARY_READ.match(s):
            continue  # reading the Binary a DocumentReference points to
        if s == "metadata":
            continue
        result.problems.append(Problem("extra", f"{s} is not a search of the query list",
                                       r["path"]))
    request_ids = Counter(r.get("medmij_request_id") for r in requests
                          if r.get("medmij_request_id"))
    for r in requests:
        result.problems += request_problems(r, dienst.fhir_version, request_ids)
    return result


def request_problems(r: dict, fhir_version: str, request_ids: Counter) -> list[Problem]:
    """What the PHR-Client request asserts and the MedMij headers say about one request."""
    out = []
    path = r["path"]
    if (r.get("authorization") or "").lower() != "bearer":
        out.append(Problem("no-authorization", "no Authorization: Bearer header", path))
    elif r.get("status") == 401:
        out.append(Problem("token-refused", "the DVA refused the Bearer token (401)", path))
    query = urlsplit(path).query
    if FORBIDDEN.search(unquote(query)):
        out.append(Problem("patient-subject", "patient= or subject= in the URL (the token "
                           "decides the patient)", path))
    request_id = r.get("medmij_request_id")
    if not request_id:
        out.append(Problem(REQUEST_ID_KIND, f"{MEDMIJ_REQUEST_ID} header missing", path))
    elif request_ids[request_id] > 1:
        out.append(Problem(REQUEST_ID_KIND, f"{MEDMIJ_REQUEST_ID} {request_id} reused "
                           f"({request_ids[request_id]} requests)", path))
    if not r.get("x_correlation_id"):
        out.append(Problem("correlation-id", f"{CORRELATION_ID} header missing", path))
    accept = r.get("accept")
    binary = "/Binary/" in path  # a document's PDF may be asked for as itself
    if not accept:
        out.append(Problem("accept", f"no Accept header ({FHIR_JSON} or {FHIR_XML} expected)",
                           path))
    elif negotiate_format(accept) is None and not binary:
        out.append(Problem("accept", f"Accept {accept!r} names no FHIR format", path))
    elif "fhir" not in accept.lower() and not binary:
        out.append(Problem("accept", f"Accept {accept!r}: not a FHIR media type "
                           f"({FHIR_JSON} or {FHIR_XML})", path))
    else:
        wanted = accept_fhir_version(accept)
        if wanted is not None and wanted != fhir_version:
            out.append(Problem("accept", f"Accept asks for FHIR version {wanted}, the"
                               f" gegevensdienst is FHIR version {fhir_version}", path))
    return out


CELL = re.compile(r"^/fhir/(?P<slug>[^/]+)/(?P<service>[^/]+)/")


def group(requests: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Requests by (provider slug, gegevensdienst)."""
    out: dict[tuple[str, str], list[dict]] = {}
    for r in requests:
        m = CELL.match(r["path"])
        if m and m.group("service") in GEGEVENSDIENSTEN:
            out.setdefault((m.group("slug"), m.group("service")), []).append(r)
    return out
