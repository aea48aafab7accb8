"""What a run produces: per assert a status with its reason and evidence, per script counts.

Statuses: ``passed``; ``failed``; ``warning`` (failed, but the script marks it warningOnly);
``not_evaluated`` (the engine cannot judge it, e.g. a profile validation without a validator:
never counted as passed); ``skipped`` (not reached: an earlier stopTestOnFail assert failed or
the setup failed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("passed", "failed", "warning", "not_evaluated", "skipped")
BODY_LIMIT = 2000


@dataclass
class Exchange:
    """One HTTP request and its answer, as evidence (Authorization values are masked)."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str | None = None
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    resource: Any = None  # parsed FHIR JSON of the answer, when it was FHIR
    parse_error: str | None = None
    error: str | None = None  # transport error: no answer at all
    seconds: float = 0.0
    real_request_headers: dict[str, str] = field(default_factory=dict, repr=False)
    request_resource: Any = None  # parsed FHIR JSON of the request body (client asserts)

    @property
    def content_type(self) -> str:
        return self.response_headers.get("content-type", "")

    def evidence(self) -> dict:
        """Method, URL, status and a truncated body, for reports."""
        body = self.body if len(self.body) <= BODY_LIMIT else (
            self.body[:BODY_LIMIT] + f"... ({len(self.body)} characters)")
        out = {"method": self.method, "url": self.url, "status": self.status,
               "request_headers": self.request_headers,
               "content_type": self.content_type, "body": body}
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class ActionResult:
    """One operation or assert of a test (or of setup/teardown)."""

    kind: str  # operation | assert
    status: str
    description: str
    message: str = ""
    detail: str = ""  # what was checked: the expression, the code, ...
    warning_only: bool = False
    exchange: Exchange | None = None

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "status": self.status, "description": self.description,
               "message": self.message, "detail": self.detail}
        if self.warning_only:
            out["warning_only"] = True
        if self.exchange is not None:
            out["evidence"] = self.exchange.evidence()
        return out


@dataclass
class TestResult:
    name: str
    description: str | None
    actions: list[ActionResult] = field(default_factory=list)

    @property
    def asserts(self) -> list[ActionResult]:
        return [a for a in self.actions if a.kind == "assert"]


@dataclass
class ScriptResult:
    path: str
    id: str
    name: str
    title: str | None
    url: str | None
    fhir_version: str
    format: str
    base_url: str
    setup: TestResult
    tests: list[TestResult]
    teardown: TestResult
    started: float = field(default_factory=time.time)
    seconds: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)  # standard, goal, ...
    skipped_reason: str | None = None

    @property
    def all_parts(self) -> list[TestResult]:
        return [self.setup, *self.tests, self.teardown]

    def counts(self) -> dict[str, int]:
        """Asserts by status (operations are evidence, not asserts)."""
        out = dict.fromkeys(STATUSES, 0)
        for part in self.all_parts:
            for a in part.asserts:
                out[a.status] += 1
        out["asserts"] = sum(out[s] for s in STATUSES)
        out["operations"] = sum(1 for p in self.all_parts for a in p.actions
                                if a.kind == "operation")
        out["operations_failed"] = sum(1 for p in self.all_parts for a in p.actions
                                       if a.kind == "operation" and a.status != "passed")
        return out

    @property
    def ok(self) -> bool:
        c = self.counts()
        return self.skipped_reason is None and c["failed"] == 0 and c["operations_failed"] == 0

    def to_dict(self) -> dict:
        def part(t: TestResult) -> dict:
            return {"name": t.name, "description": t.description,
                    "actions": [a.to_dict() for a in t.actions]}
        return {"path": self.path, "id": self.id, "name": self.name, "title": self.title,
                "url": self.url, "fhir_version": self.fhir_version, "format": self.format,
                "base_url": self.base_url, "labels": self.labels, "seconds": round(self.seconds, 3),
                "skipped_reason": self.skipped_reason, "counts": self.counts(),
                "setup": part(self.setup), "tests": [part(t) for t in self.tests],
                "teardown": part(self.teardown)}
