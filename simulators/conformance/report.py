"""Results for people and CI: a terminal table, JSON, JUnit XML and one FHIR R4 TestReport per
script. Every assert keeps its request/response evidence (method, URL, status, truncated body;
Authorization values masked)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.table import Table

from simulators.conformance.results import STATUSES, ActionResult, ScriptResult
from simulators.medmij import utc_timestamp

EVIDENCE_EXT = "https://pgo-sandbox.test/fhir/StructureDefinition/conformance-evidence"
TESTREPORT_RESULT = {"passed": "pass", "failed": "fail", "warning": "warning",
                     "not_evaluated": "skip", "skipped": "skip"}


def group_key(result: ScriptResult) -> tuple[str, str, str]:
    return (result.labels.get("standard", "-"), result.labels.get("goal", "-"),
            result.labels.get("format", result.format))


def summary(results: list[ScriptResult]) -> dict:
    """Totals overall and per standard/goal/format, plus the reasons for failed, warning and
    not evaluated asserts (grouped, most frequent first)."""
    def empty() -> dict:
        return {"scripts": 0, "scripts_ok": 0, "scripts_skipped": 0, "asserts": 0,
                "operations": 0, "operations_failed": 0,
                **dict.fromkeys(STATUSES, 0), "seconds": 0.0}
    total, groups = empty(), {}
    reasons: Counter[tuple[str, str]] = Counter()
    for r in results:
        g = groups.setdefault("/".join(group_key(r)), empty())
        c = r.counts()
        for bucket in (total, g):
            bucket["scripts"] += 1
            bucket["scripts_ok"] += int(r.ok)
            bucket["scripts_skipped"] += int(r.skipped_reason is not None)
            bucket["seconds"] = round(bucket["seconds"] + r.seconds, 3)
            for key in ("asserts", "operations", "operations_failed", *STATUSES):
                bucket[key] += c[key]
        for part in r.all_parts:
            for a in part.actions:
                if a.status in ("failed", "warning", "not_evaluated") or (
                        a.kind == "operation" and a.status not in ("passed", "skipped")):
                    reasons[(a.status, _reason(a))] += 1
    return {"total": total, "groups": groups,
            "reasons": [{"status": s, "reason": why, "count": n}
                        for (s, why), n in reasons.most_common()]}


def _reason(a: ActionResult) -> str:
    """A reason without per-request details, so equal causes group together."""
    if a.kind == "operation":
        text = re.sub(r"^\S+ \S+ -> ", "", a.message)  # the URL differs per script
        text = f"operation: {text}"
    elif a.status == "not_evaluated":
        text = a.message
    else:
        text = f"{a.description}: {a.message}"
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f-]{27,}", "<uuid>", text)[:300]


def print_table(results: list[ScriptResult], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="MedMij conformance (Nictiz TestScripts)", show_lines=False)
    console.width = max(console.width, 150)
    for col in ("script", "std", "goal", "fmt", "asserts", "passed", "failed", "warning",
                "not eval.", "skipped", "ops failed", "s"):
        table.add_column(col, no_wrap=col == "script",
                         justify="left" if col in ("script", "std", "goal", "fmt")
                         else "right")
    for r in results:
        c = r.counts()
        std, goal, fmt = group_key(r)
        style = "green" if r.ok else ("yellow" if r.skipped_reason else "red")
        table.add_row(r.id, std, goal, fmt, str(c["asserts"]), str(c["passed"]),
                      str(c["failed"]), str(c["warning"]), str(c["not_evaluated"]),
                      str(c["skipped"]), str(c["operations_failed"]), f"{r.seconds:.1f}",
                      style=style)
    s = summary(results)
    t = s["total"]
    table.add_section()
    table.add_row("TOTAL", "", "", "", str(t["asserts"]), str(t["passed"]), str(t["failed"]),
                  str(t["warning"]), str(t["not_evaluated"]), str(t["skipped"]),
                  str(t["operations_failed"]), f"{t['seconds']:.1f}", style="bold")
    console.print(table)
    for name, g in s["groups"].items():
        console.print(f"{name}: {g['scripts']} scripts ({g['scripts_ok']} ok, "
                      f"{g['scripts_skipped']} skipped), {g['asserts']} asserts: "
                      f"{g['passed']} passed, {g['failed']} failed, {g['warning']} warning, "
                      f"{g['not_evaluated']} not evaluated, {g['skipped']} skipped; "
                      f"{g['operations_failed']} of {g['operations']} operations failed")
    for item in [x for x in s["reasons"] if x["status"] != "skipped"][:15]:
        console.print(f"  {item['count']:>4} × {item['status']}: {item['reason']}",
                      markup=False, highlight=False)
    for r in results:
        if r.skipped_reason:
            console.print(f"  skipped {r.id}: {r.skipped_reason}", markup=False)


def to_json(results: list[ScriptResult]) -> dict:
    return {"summary": summary(results), "scripts": [r.to_dict() for r in results]}


def write_json(results: list[ScriptResult], path: Path) -> None:
    path.write_text(json.dumps(to_json(results), indent=1, ensure_ascii=False), "utf-8")


def junit(results: list[ScriptResult]) -> ET.Element:
    """One testsuite per script, one testcase per assert. Failed -> failure; not evaluated
    and skipped -> skipped (with the reason); warning -> passes with the message in
    system-out, as the script marks it warningOnly."""
    root = ET.Element("testsuites", name="medmij-conformance")
    tot = Counter()
    for r in results:
        c = r.counts()
        suite = ET.SubElement(root, "testsuite", name=r.id, tests=str(c["asserts"]),
                              failures=str(c["failed"]),
                              skipped=str(c["not_evaluated"] + c["skipped"]), errors="0",
                              time=f"{r.seconds:.3f}")
        tot.update(tests=c["asserts"], failures=c["failed"],
                   skipped=c["not_evaluated"] + c["skipped"])
        for part in r.all_parts:
            for a in part.actions:  # an operation the server failed is a CI failure too
                if a.kind == "operation" and a.status == "failed":
                    case = ET.SubElement(suite, "testcase", classname=f"{r.id}.{part.name}",
                                         name=f"operation {a.description}"[:250])
                    f = ET.SubElement(case, "failure", message=a.message[:500])
                    f.text = json.dumps(a.exchange.evidence(), indent=1) if a.exchange else ""
                    tot.update(tests=1, failures=1)
            for i, a in enumerate(part.asserts):
                case = ET.SubElement(suite, "testcase", classname=f"{r.id}.{part.name}",
                                     name=f"{i + 1:03d} {a.description}"[:250])
                body = json.dumps(a.exchange.evidence(), indent=1) if a.exchange else ""
                if a.status == "failed":
                    f = ET.SubElement(case, "failure", message=a.message[:500])
                    f.text = f"{a.detail}\n{body}"
                elif a.status in ("not_evaluated", "skipped"):
                    label = "not evaluated" if a.status == "not_evaluated" else "skipped"
                    ET.SubElement(case, "skipped", message=f"{label}: {a.message}"[:500])
                elif a.status == "warning":
                    out = ET.SubElement(case, "system-out")
                    out.text = f"WARNING (warningOnly): {a.message}\n{a.detail}"
    root.set("tests", str(tot["tests"]))
    root.set("failures", str(tot["failures"]))
    root.set("skipped", str(tot["skipped"]))
    return root


def write_junit(results: list[ScriptResult], path: Path) -> None:
    tree = ET.ElementTree(junit(results))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def _action(a: ActionResult) -> dict:
    key = "operation" if a.kind == "operation" else "assert"
    message = a.message if a.status != "not_evaluated" else f"not evaluated: {a.message}"
    body: dict = {"result": TESTREPORT_RESULT[a.status] if a.kind == "assert" else
                  ("pass" if a.status == "passed" else "error" if a.status == "failed"
                   else "skip"),
                  "message": f"{a.description} — {message}".strip(" —")}
    if a.detail:
        body["detail"] = a.detail
    if a.exchange is not None:
        ev = a.exchange.evidence()
        body["extension"] = [{"url": EVIDENCE_EXT, "extension": [
            {"url": k, "valueString": str(v) if not isinstance(v, dict) else json.dumps(v)}
            for k, v in ev.items() if v is not None]}]
    return {key: body}


def testreport(result: ScriptResult) -> dict:
    """A FHIR R4 TestReport for one script run."""
    c = result.counts()
    if result.skipped_reason:
        outcome = "pending"
    else:
        outcome = "fail" if c["failed"] or c["operations_failed"] else "pass"
    judged = c["passed"] + c["failed"] + c["warning"]
    report = {
        "resourceType": "TestReport",
        "id": re.sub(r"[^A-Za-z0-9\-.]", "-", result.id)[:64],
        "name": result.title or result.name,
        "status": "completed" if not result.skipped_reason else "entered-in-error",
        "testScript": {"reference": result.url or result.path,
                       "display": result.title or result.name},
        "result": outcome,
        "score": round(100.0 * (c["passed"] + c["warning"]) / judged, 2) if judged else 0.0,
        "tester": "pgo-sandbox conformance",
        "issued": utc_timestamp(result.started),
        "participant": [{"type": "test-engine", "uri": "urn:pgo-sandbox:conformance"},
                        {"type": "server", "uri": result.base_url}],
    }
    if result.skipped_reason:
        report["extension"] = [{"url": EVIDENCE_EXT + "-skipped",
                                "valueString": result.skipped_reason}]
    if result.setup.actions:
        report["setup"] = {"action": [_action(a) for a in result.setup.actions]}
    report["test"] = [{"name": t.name, **({"description": t.description} if t.description
                                          else {}),
                       "action": [_action(a) for a in t.actions]}
                      for t in result.tests if t.actions]
    if not report["test"]:
        del report["test"]
    if result.teardown.actions:
        report["teardown"] = {"action": [_action(a) for a in result.teardown.actions]}
    return report


def write_testreports(results: list[ScriptResult], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in results:
        path = folder / f"TestReport-{r.id}.json"
        path.write_text(json.dumps(testreport(r), indent=1, ensure_ascii=False), "utf-8")
        paths.append(path)
    return paths
