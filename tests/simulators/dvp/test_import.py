"""Importing a portabiliteitsrapport from another PGO: bad input is a 4xx with a reason, never a
500 or a silently empty plan (issue 11, item 15), and an import plan is all or nothing (item 10).

The parser and plan are tested directly; the HTTP answers on the DVP app built in-process, with
a person logged in as the account contract says (create account -> cookie + CSRF token).
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import httpx
import orjson
import pytest

from sandbox.runtime.local import LocalRuntime
from simulators.common.config import SandboxConfig
from simulators.common.lists import ServiceEndpoints
from simulators.dvp import portability
from simulators.dvp.report import (
    MAX_REQUESTS,
    CollectAction,
    Report,
    ReportError,
    ReportTooLarge,
    build_report,
    fhir_package,
    parse_report,
    xml_from_package,
)
from simulators.medmij.topology import load_topology

BASE = "https://dva-nexus.sandbox.test/fhir/umcsandbox/48"
PROVIDER = "umcsandbox@medmij"
ZAL = {PROVIDER: {"48": ServiceEndpoints("https://dva-nexus.sandbox.test/oauth/authorize",
                                         "https://dva-nexus.sandbox.test/oauth/token",
                                         {"LZA": BASE})}}


def report_xml(uris: list[str], provider: str = PROVIDER, actions: int = 1) -> bytes:
    stamp = "2026-11-01T10:00:00+00:00"
    acts = [CollectAction(provider, "48", stamp, [(u, stamp) for u in uris])
            for _ in range(actions)]
    return build_report(Report("pgo-alpha.sandbox.test", stamp, stamp, stamp, acts))


pytestmark = pytest.mark.anyio


GOOD = report_xml([f"{BASE}/Patient", f"{BASE}/Condition"])


# The parser -------------------------------------------------------------------------------

def test_truncated_xml_is_refused_not_a_report_of_zero_actions():
    for cut in (len(GOOD) // 3, len(GOOD) // 2, len(GOOD) - 30):
        with pytest.raises(ReportError, match="well-formed"):
            parse_report(GOOD[:cut])


def test_undeclared_prefix_is_refused_but_the_published_examples_xsi_is_tolerated(medmij_dir):
    element = GOOD.replace(b"<Zorgaanbieders>", b"<foo:Zorgaanbieders>").replace(
        b"</Zorgaanbieders>", b"</foo:Zorgaanbieders>")
    with pytest.raises(ReportError):
        parse_report(element)
    attribute = GOOD.replace(b"<Deelnemer>", b"<Deelnemer bar:x='1'>")
    with pytest.raises(ReportError):
        parse_report(attribute)
    official = (medmij_dir / "portability" / "portabiliteitsrapport-example.xml").read_bytes()
    assert parse_report(official).deelnemer == "Deelnemer0"


def test_entities_are_not_expanded():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            + GOOD.split(b"?>", 1)[1].replace(b"pgo-alpha.sandbox.test", b"&e;", 1))
    with pytest.raises(ReportError):
        parse_report(bomb)


def test_more_requests_than_the_stated_maximum_is_too_large():
    uris = [f"{BASE}/Observation?code={i}" for i in range(MAX_REQUESTS + 1)]
    with pytest.raises(ReportTooLarge, match=str(MAX_REQUESTS)):
        parse_report(report_xml(uris))
    assert len(parse_report(report_xml(uris[:MAX_REQUESTS])).actions[0].requests) \
        == MAX_REQUESTS


def package_with(document_patch: dict) -> dict:
    package = fhir_package(GOOD, "2026-11-03T00:00:00+00:00")
    package["entry"][0]["resource"] |= document_patch
    return package


@pytest.mark.parametrize("patch", [
    {"type": {"coding": ["REPORT"]}},
    {"type": {"coding": [None]}},
    {"type": {"coding": None}},
    {"type": "REPORT"},
    {"content": []},
    {"content": [None]},
    {"content": [{"attachment": {"url": "Binary/nope"}}]},
])
def test_malformed_fhir_packages_are_report_errors(patch):
    with pytest.raises(ReportError):
        xml_from_package(package_with(patch))


@pytest.mark.parametrize("bundle", [[], "x", None, 3, {"entry": None}, {"entry": ["x", None]},
                                    {"entry": [{"resource": []}]}])
def test_packages_of_the_wrong_shape_are_report_errors(bundle):
    with pytest.raises(ReportError):
        xml_from_package(bundle)


def test_binary_that_is_not_base64_is_a_report_error():
    package = fhir_package(GOOD, "2026-11-03T00:00:00+00:00")
    package["entry"][1]["resource"]["content"] = "%%% not base64 %%%"
    with pytest.raises(ReportError):
        xml_from_package(package)


# Paths and the plan -------------------------------------------------------------------------

@pytest.mark.parametrize("uri", [
    f"{BASE}/../../otherprovider/48/Patient",
    f"{BASE}/./Patient",
    f"{BASE}/%2e%2e/%2E%2E/otherprovider/48/Patient",
    f"{BASE}/%252e%252e/x",
    f"{BASE}/..%2f..%2fotherprovider/Patient",
    f"{BASE}/..\\Patient",
    "https://dva-nexus.sandbox.test/fhir/umcsandbox/48x/Patient",
    "https://evil.test/fhir/umcsandbox/48/Patient",
    "https://user@dva-nexus.sandbox.test/fhir/umcsandbox/48/Patient",
])
def test_replay_prefix_check_sees_through_dot_segments(uri):
    assert not portability.under_endpoint(uri, BASE)


def test_replay_prefix_check_accepts_plain_searches():
    assert portability.under_endpoint(f"{BASE}/Patient?_include=Patient:general-practitioner",
                                      BASE)
    assert portability.under_endpoint(f"{BASE}/Observation?date=ge2024-01-01", BASE + "/")


def plan_db(tmp_path: Path) -> sqlite3.Connection:
    from simulators.dvp.store import DvpStore

    store = DvpStore(tmp_path / "dvp.sqlite")
    portability.ensure_schema(store.db)
    return store.db


def test_plan_refuses_dot_segments_with_a_reason_and_records_nothing(tmp_path):
    db = plan_db(tmp_path)
    db.execute("INSERT INTO person VALUES ('p1', 'x', 0)")
    report = parse_report(report_xml([f"{BASE}/Patient", f"{BASE}/../../other/48/Patient"]))
    with pytest.raises(portability.PlanError) as caught:
        portability.record_plan(db, "p1", report, ZAL)
    assert caught.value.status == 422 and "dot segments" in str(caught.value)
    assert db.execute("SELECT COUNT(*) FROM import_request").fetchone()[0] == 0


def test_plan_caps_distinct_uris_per_provider(tmp_path, monkeypatch):
    monkeypatch.setattr(portability, "MAX_REPLAY_PER_PROVIDER", 3)
    db = plan_db(tmp_path)
    db.execute("INSERT INTO person VALUES ('p1', 'x', 0)")
    same = parse_report(report_xml([f"{BASE}/Patient"] * 3, actions=4))  # 1 distinct URI
    assert portability.record_plan(db, "p1", same, ZAL)["requests"] == 1
    many = parse_report(report_xml([f"{BASE}/Observation?code={i}" for i in range(4)]))
    with pytest.raises(portability.PlanError) as caught:
        portability.record_plan(db, "p1", many, ZAL)
    assert caught.value.status == 413


def test_a_plan_without_its_complete_record_is_never_replayed(tmp_path):
    """Rows of an import whose plan row is missing or counts more (a partial write) are not a
    plan: replay sees nothing and the status says incomplete."""
    db = plan_db(tmp_path)
    db.execute("INSERT INTO person VALUES ('p1', 'x', 0)")
    portability.record_plan(db, "p1", parse_report(GOOD), ZAL)

    class Dvp:
        class store:  # noqa: N801 - the shape of DVP.store
            pass
    Dvp.store.db = db
    assert portability.pending_replay(Dvp, "p1", PROVIDER, "48") == [f"{BASE}/Patient",
                                                                     f"{BASE}/Condition"]
    db.execute("DELETE FROM import_request WHERE request_uri LIKE '%Condition'")
    assert portability.pending_replay(Dvp, "p1", PROVIDER, "48") == []


# Over HTTP, on the DVP app in-process ------------------------------------------------------

@pytest.fixture
def pgo(tmp_path):
    from simulators.dvp.app import create_app

    topology = load_topology()
    config = SandboxConfig(topology, "loopback", LocalRuntime(tmp_path).addresses(topology, 19000),
                           tmp_path)
    app = create_app(config, "pgo-alpha")
    app.state.dvp.lists.lists.zal = ZAL
    base = config.addresses[app.state.dvp.hostname]
    return app, base


async def logged_in(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    """Create an account (which logs in) as the account contract says: (person id, headers)."""
    r = await client.post("/api/persons", json={"name": "import test",
                                                "password": "correct horse battery"})
    assert r.status_code == 201, r.text
    body = r.json()
    return body["id"], ({"X-CSRF-Token": body["csrf_token"]} if "csrf_token" in body else {})


def bad_inputs() -> list[tuple[str, bytes, str, int]]:
    package = fhir_package(GOOD, "2026-11-03T00:00:00+00:00")
    coding_str = package_with({"type": {"coding": ["REPORT"]}})
    coding_null = package_with({"type": {"coding": [None]}})
    no_content = package_with({"content": []})
    prefixed = GOOD.replace(b"<Zorgaanbieders>", b"<foo:Zorgaanbieders>").replace(
        b"</Zorgaanbieders>", b"</foo:Zorgaanbieders>")
    return [
        ("undeclared prefix", prefixed, "application/xml", 400),
        ("coding ['REPORT']", orjson.dumps(coding_str), "application/fhir+json", 400),
        ("coding [null]", orjson.dumps(coding_null), "application/fhir+json", 400),
        ("empty content", orjson.dumps(no_content), "application/fhir+json", 400),
        ("truncated", GOOD[: len(GOOD) // 2], "application/xml", 400),
        ("not json", b"{]", "application/json", 400),
        ("dot segments", report_xml([f"{BASE}/../../other/48/Patient"]), "application/xml",
         422),
        ("encoded dot segments", report_xml([f"{BASE}/%2e%2e/%2e%2e/other/48/Patient"]),
         "application/xml", 422),
        ("too many requests", report_xml([f"{BASE}/Observation?code={i}"
                                          for i in range(MAX_REQUESTS + 1)]),
         "application/xml", 413),
        ("good package", orjson.dumps(package), "application/fhir+json", 201),
    ]


async def test_bad_import_input_is_a_4xx_with_a_reason(pgo):
    app, base = pgo
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        person, headers = await logged_in(client)
        url = f"/api/persons/{person}/portability/import"
        for name, content, kind, expected in bad_inputs():
            r = await client.post(url, content=content,
                                  headers=headers | {"Content-Type": kind})
            assert r.status_code == expected, (name, r.status_code, r.text)
            if expected >= 400:
                assert r.json().get("error_description"), name  # a reason, not a bare status


async def test_import_body_size_is_capped_while_streaming(pgo, monkeypatch):
    monkeypatch.setattr(portability, "MAX_BODY_BYTES", len(GOOD) + 10)
    app, base = pgo
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=base) as client:
        person, headers = await logged_in(client)
        url = f"/api/persons/{person}/portability/import"
        big = GOOD + b" " * 100
        r = await client.post(url, content=big, headers=headers | {"Content-Type": "text/xml"})
        assert r.status_code == 413 and "at most" in r.json()["error_description"]

        async def chunks():  # no Content-Length: the cap holds on the stream itself
            for i in range(0, len(big), 64):
                yield big[i:i + 64]

        r = await client.post(url, content=chunks(), headers=headers | {
            "Content-Type": "text/xml"})
        assert r.status_code == 413
        r = await client.post(url, content=GOOD, headers=headers | {"Content-Type": "text/xml"})
        assert r.status_code == 201, r.text
        assert r.json()["requests"] == 2


def test_export_then_import_round_trips_through_the_package():
    package = fhir_package(GOOD, "2026-11-03T00:00:00+00:00")
    xml = base64.b64decode(package["entry"][1]["resource"]["content"])
    assert parse_report(xml_from_package(package)) == parse_report(xml)
