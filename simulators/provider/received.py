"""What providers received through Delen (share, SPEC.md section 3): checked, stored, merged.

The population is stateless, so what a PGO writes to a provider is kept here, one SQLite file
per DVA, keyed by provider and patient. The source system (``simulators.provider.source``)
merges it into the record the DVA searches, so a later collect by any PGO sees it:
self-measurements in the BgZ (48), shared documents with their Binary in Documenten (51).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

from simulators.common.clock import Clock
from simulators.common.storage import open_db, transaction
from simulators.medmij import LOINC

SHARED_BY = "http://sandbox.test/fhir/CodeSystem/shared-by-pgo"  # tag: which PGO wrote it
# kind -> (resource type, LOINC code or None, collect gegevensdienst where it shows up)
KINDS: dict[str, tuple[str, str | None, str]] = {
    "blood-pressure": ("Observation", "85354-9", "48"),
    "body-weight": ("Observation", "29463-7", "48"),
    "document": ("DocumentReference", None, "51"),
}
DOCUMENTS_SERVICE = KINDS["document"][2]  # where a shared document's Binary shows up
# Entries per transaction: a PGO shares a handful of measurements or a document with its
# Binary; a year of daily blood pressures is 365. Each entry is a row merged into every later
# search of the patient's record, so the store refuses more (413) rather than grow without end.
MAX_ENTRIES = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS received (
    provider TEXT NOT NULL, patient_index INTEGER NOT NULL, service TEXT NOT NULL,
    resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, body BLOB NOT NULL,
    client_id TEXT NOT NULL, share_service TEXT NOT NULL, received REAL NOT NULL,
    PRIMARY KEY (provider, resource_type, resource_id));
CREATE INDEX IF NOT EXISTS received_patient ON received(provider, patient_index);
"""


class ShareRefused(Exception):
    """A write the provider does not accept; the DVA answers it as an OperationOutcome with
    this status and FHIR issue code."""

    def __init__(self, status: int, code: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics = status, code, diagnostics


@dataclass(frozen=True)
class Stored:
    resource_type: str
    resource_id: str
    source: str  # the entry's fullUrl in the PGO's transaction

    @property
    def location(self) -> str:
        return f"{self.resource_type}/{self.resource_id}/_history/1"


def _loinc_codes(resource: dict) -> set[str]:
    codings = (resource.get("code") or {}).get("coding") or []
    return {c.get("code") for c in codings if isinstance(c, dict) and c.get("system") == LOINC}


def kind_of(resource: dict) -> str | None:
    """The share kind of one resource (Binary belongs to the document that points to it)."""
    rtype = resource.get("resourceType")
    for kind, (kind_type, code, _) in KINDS.items():
        if rtype == kind_type and (code is None or code in _loinc_codes(resource)):
            return kind
    return None


# Elements the DVA's searches read (simulators.dva.search), checked for their FHIR shape
DATES = ("effectiveDateTime", "issued", "date", "indexed", "created")
PERIODS = ("effectivePeriod", "period")
OBJECT_LISTS = ("extension", "related", "category")


def _malformed(resource: dict) -> str | None:
    """What is wrong with the shape of an element the store reads or writes (``meta.tag``, a
    ``code``'s codings, a document's attachment URLs), None when nothing is: checked before
    anything is stored, so a transaction is refused whole, never half written."""
    meta = resource.get("meta", {})  # FHIR JSON has no nulls: null is as wrong as a string
    if not isinstance(meta, dict):
        return "meta must be an object"
    if not isinstance(meta.get("tag", []), list):
        return "meta.tag must be an array"
    code = resource.get("code", {})
    if not (isinstance(code, dict) and isinstance(code.get("coding", []), list)):
        return "code must be a CodeableConcept (an object with a coding array)"
    for name in DATES:  # what date searches and $lastn read
        if not isinstance(resource.get(name, ""), str):
            return f"{name} must be a string"
    for name in PERIODS:
        period = resource.get(name, {})
        if not (isinstance(period, dict)
                and all(isinstance(period.get(end, ""), str) for end in ("start", "end"))):
            return f"{name} must be a Period (an object with string start and end)"
    for name in OBJECT_LISTS:  # what _include and the period-of-use search walk
        items = resource.get(name, [])
        if not (isinstance(items, list) and all(isinstance(i, dict) for i in items)):
            return f"{name} must be an array of objects"
    if resource["resourceType"] == KINDS["document"][0]:
        contents = resource.get("content", [])
        if not isinstance(contents, list) or not all(isinstance(c, dict) for c in contents):
            return "content must be an array of objects"
        for content in contents:
            attachment = content.get("attachment", {})
            if not isinstance(attachment, dict):
                return "content.attachment must be an object"
            if not isinstance(attachment.get("url", ""), str):
                return "content.attachment.url must be a string"
    return None


def _entries(bundle: object) -> list[tuple[str, dict]]:
    """(fullUrl, resource) per entry of a transaction the store can take: at most
    ``MAX_ENTRIES`` entries, each a create (``POST <resourceType>``) of a resource whose
    elements have the shapes the store relies on, each fullUrl once."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" \
            or bundle.get("type") != "transaction":
        raise ShareRefused(400, "invalid", "Expected a FHIR Bundle of type transaction.")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise ShareRefused(400, "invalid", "The transaction has no entries.")
    if len(entries) > MAX_ENTRIES:
        raise ShareRefused(413, "too-long", f"A transaction may hold at most {MAX_ENTRIES}"
                           f" entries, not {len(entries)}.")
    out: list[tuple[str, dict]] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(request, dict):
            raise ShareRefused(400, "invalid", f"entry {n}: resource and request are required.")
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str) or not rtype:
            raise ShareRefused(400, "structure",
                               f"entry {n}: resource.resourceType must be a string.")
        if request.get("method") != "POST" or request.get("url") != rtype:
            raise ShareRefused(400, "not-supported",
                               f"entry {n}: only POST <resourceType> (create) is accepted.")
        full_url = entry.get("fullUrl")
        if full_url is None:
            full_url = f"urn:uuid:{uuid.uuid4()}"
        elif not isinstance(full_url, str) or not full_url:
            raise ShareRefused(400, "structure", f"entry {n}: fullUrl must be a string.")
        elif full_url in seen:
            raise ShareRefused(400, "invalid", f"entry {n}: fullUrl {full_url} is used by an"
                               " earlier entry of this transaction.")
        seen.add(full_url)
        problem = _malformed(resource)
        if problem is not None:
            raise ShareRefused(400, "structure", f"entry {n} ({full_url}): {problem}.")
        out.append((full_url, resource))
    return out


def _check_binary(resource: dict, source: str) -> None:
    if resource.get("contentType") != "application/pdf":
        raise ShareRefused(422, "not-supported", f"{source}: only application/pdf documents.")
    try:
        data = base64.b64decode(resource.get("content", ""), validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ShareRefused(400, "invalid", f"{source}: Binary.content is not base64.") from None
    if not data.startswith(b"%PDF"):
        raise ShareRefused(422, "invalid", f"{source}: Binary.content is not a PDF.")


def _accepted(source: str, resource: dict, share_service: str, accepts: tuple[str, ...]) -> str:
    """The kind of one non-Binary entry, if the provider accepts it through this service."""
    kind = kind_of(resource)
    if kind is None:
        raise ShareRefused(422, "not-supported", f"{source}: {resource['resourceType']} is not"
                           " data this provider accepts through Delen.")
    if kind not in accepts:
        raise ShareRefused(422, "not-supported", f"{source}: this provider does not accept"
                           f" {kind} through gegevensdienst {share_service}.")
    return kind


def _plan(entries: list[tuple[str, dict]], refs: dict[str, str], share_service: str,
          accepts: tuple[str, ...]) -> list[tuple[str, dict, str]]:
    """(source, body to store, collect service) per entry, or ShareRefused. A document's
    attachment URL that names a Binary of the same transaction is rewritten to its new id;
    a Binary nobody points to is refused."""
    pointed = set()
    plan: list[tuple[str, dict, str]] = []
    for source, resource in entries:
        if resource["resourceType"] == "Binary":
            continue
        kind = _accepted(source, resource, share_service, accepts)
        body = orjson.loads(orjson.dumps(resource))
        if kind == "document":
            for content in body.get("content") or []:
                attachment = content.get("attachment") or {}
                url = attachment.get("url")
                if url in refs:
                    pointed.add(url)
                    attachment["url"] = refs[url]
        plan.append((source, body, KINDS[kind][2]))
    for source, resource in entries:
        if resource["resourceType"] == "Binary":
            if source not in pointed:
                raise ShareRefused(422, "not-supported",
                                   f"{source}: a Binary must belong to a DocumentReference.")
            _check_binary(resource, source)
            plan.append((source, dict(resource), DOCUMENTS_SERVICE))
    return plan


class ReceivedStore:
    """The shared data of every provider one DVA serves; ``clock`` stamps when it arrived.

    ``holders`` is every (provider, patient) with something shared, read once at start and
    kept up to date by ``accept``: the DVA is the only writer of its file, and most patients
    never had anything shared, so a cold search for one of them asks SQLite nothing (issue 17
    item 4: that lookup ran for every new record)."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.db = open_db(path, SCHEMA)
        self.clock = clock
        self.holders: set[tuple[str, int]] = {
            (r["provider"], r["patient_index"])
            for r in self.db.execute("SELECT DISTINCT provider, patient_index FROM received")}

    def accept(self, provider: str, patient_index: int, patient_ref: dict, client_id: str,
               share_service: str, accepts: tuple[str, ...], bundle: object) -> list[Stored]:
        """Check a PGO's transaction against what the provider accepts, then store it whole.

        Ids are the server's (new UUIDs); references between entries and the subject are
        rewritten, because the PGO does not know the patient's id at the provider.
        """
        entries = _entries(bundle)
        new_ids = {source: (r["resourceType"], str(uuid.uuid4())) for source, r in entries}
        refs = {source: f"{t}/{i}" for source, (t, i) in new_ids.items()}
        plan = _plan(entries, refs, share_service, accepts)
        now = self.clock.now()
        stored = []
        with transaction(self.db) as db:
            for source, body, service in plan:
                rtype, rid = new_ids[source]
                body["id"] = rid
                if rtype != "Binary":
                    body.pop("patient", None)
                    body["subject"] = patient_ref
                    tags = body.setdefault("meta", {}).setdefault("tag", [])
                    tags.append({"system": SHARED_BY, "code": client_id})
                db.execute(
                    "INSERT INTO received (provider, patient_index, service, resource_type,"
                    " resource_id, body, client_id, share_service, received)"
                    " VALUES (?,?,?,?,?,?,?,?,?)",
                    (provider, patient_index, service, rtype, rid, orjson.dumps(body), client_id,
                     share_service, now))
                stored.append(Stored(rtype, rid, source))
        self.holders.add((provider, patient_index))
        return stored

    def resources(self, provider: str, patient_index: int, service: str) -> list[dict]:
        if (provider, patient_index) not in self.holders:
            return []
        rows = self.db.execute(
            "SELECT body FROM received WHERE provider = ? AND patient_index = ? AND service = ?"
            " ORDER BY received", (provider, patient_index, service))
        return [orjson.loads(r["body"]) for r in rows]

    def services(self, provider: str, patient_index: int) -> set[str]:
        if (provider, patient_index) not in self.holders:
            return set()
        rows = self.db.execute(
            "SELECT DISTINCT service FROM received WHERE provider = ? AND patient_index = ?",
            (provider, patient_index))
        return {r["service"] for r in rows}
