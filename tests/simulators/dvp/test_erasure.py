"""The curator's erasure (issue 11, item 9): every store of the vendor is erased, and the check
is independent of the erasure, so a store the erasure misses is reported, not certified.

In-process tests build a DVP's storage as the node has it (dvp.sqlite with every router's
tables plus an extra table the curator has never heard of, consent.sqlite, an export file, the
node's log) and scan every file with this test's own scanner. The sandbox test runs the whole
drill: collect + share + long-lived consent + revoke, bankrupt, settle, scan.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from simulators.common.clock import ManualClock
from simulators.common.events import EventLog
from simulators.common.storage import open_db
from simulators.dvp import curator, curator_router, errors, grants, portability, share
from simulators.dvp.collect import SearchResult
from simulators.dvp.curator import Curator
from simulators.dvp.store import DvpStore

NODE = "pgo-x"
ADMIN = {"Authorization": "Bearer admin-secret"}


def own_scan(root: Path, needles: set[str]) -> list[tuple[str, str]]:
    """This test's scanner: every file under root, raw bytes, every needle."""
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits += [(str(path.relative_to(root)), n) for n in needles if n.encode() in data]
    return hits


class Vendor:
    """A DVP's storage with one person in every store, and the curator's admin API."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.node_dir = state / "nodes" / NODE
        self.node_dir.mkdir(parents=True)
        self.store = DvpStore(self.node_dir / "dvp.sqlite")
        portability.ensure_schema(self.store.db)
        self.store.db.executescript(share.SCHEMA)
        self.store.db.executescript(  # a table added later by someone else: still erased
            "CREATE TABLE login_token (person_id TEXT, secret TEXT, nickname TEXT)")
        self.person = self.store.add_person("Jantje Jansen-Erase")
        patient = {"resourceType": "Patient", "id": "pat-7f3a91",
                   "name": [{"family": "Jansen-Erase", "given": ["Jantje"]}]}
        condition = {"resourceType": "Condition", "id": "cond-88d2c4",
                     "subject": {"reference": "Patient/pat-7f3a91"}}
        base = "https://dva.test/fhir/umc/48"
        self.store.store_collect(self.person, "umc@medmij", [
            SearchResult("48", f"{base}/Patient", 200, "2026-11-01T10:00:00+00:00", 0.0,
                         [patient]),
            SearchResult("48", f"{base}/Condition", 200, "2026-11-01T10:00:00+00:00", 0.0,
                         [condition])], "corr-5be0e1d2")
        self.store.save_grant(self.person, "umc@medmij", "umc", ["48"],
                              {"access_token": "access-tok-c0ffee", "expires_in": 900,
                               "refresh_token": "refresh-tok-decaf"})
        self.state_value = self.store.start_authorization(self.person, "umc@medmij", "umc",
                                                          ["48"], "corr-aa77")
        self.store.db.execute(
            "INSERT INTO share_log (person_id, provider, service, status, locations, timestamp,"
            " correlation_id) VALUES (?,?,?,?,?,?,?)",
            (self.person, "umc@medmij", "52", "shared", '["Observation/shared-obs-41"]',
             "2026-11-01T10:00:00+00:00", "corr-share-9"))
        self.store.db.execute("INSERT INTO login_token VALUES (?,?,?)",
                              (self.person, "sess-secret-4242", "jantje-nick"))
        revocations = open_db(self.node_dir / "consent.sqlite", grants.SCHEMA)
        revocations.execute("INSERT INTO revocation VALUES (?,?,?)",
                            (self.person, "umc@medmij", "2026-11-02T10:00:00+00:00"))
        revocations.close()
        exports = self.node_dir / "exports"
        exports.mkdir()
        (exports / "report.xml").write_text(f"<Deelnemer>{self.person}</Deelnemer>")
        (state / "logs").mkdir()
        self.log = state / "logs" / f"{NODE}.log"
        self.log.write_text(f"INFO hop {NODE} GET /api/persons/{self.person}/resources 200\n")
        self.needles = {self.person, "Jantje Jansen-Erase", "Jansen-Erase", "pat-7f3a91",
                        "cond-88d2c4", "access-tok-c0ffee", "refresh-tok-decaf",
                        self.state_value, "corr-5be0e1d2", "shared-obs-41", "sess-secret-4242",
                        "jantje-nick"}
        self.dvp = SimpleNamespace(
            node_dir=self.node_dir, store=self.store, node=SimpleNamespace(id=NODE),
            curator=Curator(self.node_dir / "curator.json"),
            config=SimpleNamespace(state_dir=state), clock=ManualClock())
        app = FastAPI()
        app.state.config = SimpleNamespace(admin_token="admin-secret")
        app.state.dvp = self.dvp
        app.state.events = EventLog(NODE)  # as node_app gives every node
        self.app = app
        errors.install(app, NODE)
        app.include_router(curator_router.router)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                        base_url="http://testserver")

    def scan(self) -> list[tuple[str, str]]:
        return own_scan(self.state, self.needles)

    def erasure_log(self) -> list[dict]:
        lines = (self.node_dir / "erasure.log").read_text().splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture
def vendor(tmp_path) -> Vendor:
    return Vendor(tmp_path)


def test_the_fixture_really_holds_every_identifier_somewhere(vendor):
    found = {n for _, n in vendor.scan()}
    assert found == vendor.needles


@pytest.mark.anyio
async def test_admin_routes_need_the_admin_token(vendor):
    for method, path in (("POST", "/admin/curator"), ("GET", "/admin/curator"),
                         ("POST", "/admin/erase"), ("POST", "/admin/reopen")):
        assert (await vendor.client.request(method, path)).status_code == 401, path
        wrong = await vendor.client.request(method, path,
                                            headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401, path
    not_bankrupt = await vendor.client.post("/admin/erase", headers=ADMIN)
    assert not_bankrupt.status_code == 409
    assert vendor.store.persons()  # nothing erased


@pytest.mark.anyio
async def test_settlement_erases_every_store_and_the_scan_finds_nothing(vendor):
    person = vendor.store.persons()[0]
    vendor.app.state.events.publish("hop", method="GET", path=f"/persons/{person}", status=200)
    assert (await vendor.client.post("/admin/curator", headers=ADMIN)).status_code == 200
    r = await vendor.client.post("/admin/erase", headers=ADMIN)
    assert r.status_code == 200, r.text
    entry = r.json()
    assert entry["ok"] and entry["hit_count"] == 0 and entry["identifiers_checked"] >= 10
    assert entry["rows_before"]["person"] == 1 and entry["rows_before"]["login_token"] == 1
    assert entry["rows_before"]["consent.sqlite:revocation"] == 1
    assert not any(entry["rows_after"].values())
    assert vendor.scan() == []
    assert not (vendor.node_dir / "exports" / "report.xml").exists()
    log = vendor.erasure_log()[-1]
    assert log["ok"] and log["by"] == "curator"
    assert (await vendor.client.get("/admin/curator", headers=ADMIN)).json()["erased"] is True
    # the node's recent events (served at /admin/events) named the person in their paths
    assert vendor.app.state.events.since(0) == []


@pytest.mark.anyio
async def test_a_table_the_erasure_skips_is_reported_not_certified(vendor, monkeypatch):
    everything = curator.personal_tables
    monkeypatch.setattr(curator, "personal_tables",
                        lambda db: [t for t in everything(db) if t != "grant_"])
    await vendor.client.post("/admin/curator", headers=ADMIN)
    r = await vendor.client.post("/admin/erase", headers=ADMIN)
    assert r.status_code == 409, r.text
    answer = r.json()
    assert answer["error"] == "erasure_incomplete" and not answer["ok"]
    held = {(h["file"], h["held_in"]) for h in answer["hits"]}
    assert ("nodes/pgo-x/dvp.sqlite", "dvp.sqlite:grant_.access_token") in held
    # the skipped table's own row count says 0 (it is not listed): the scan still finds it
    assert "grant_" not in answer["rows_after"]
    log = vendor.erasure_log()[-1]
    assert log["ok"] is False and log["hit_count"] >= 2
    assert "access-tok-c0ffee" not in (vendor.node_dir / "erasure.log").read_text()
    assert (await vendor.client.get("/admin/curator", headers=ADMIN)).json()["erased"] is False


@pytest.mark.anyio
async def test_a_log_left_behind_is_reported(vendor, monkeypatch):
    monkeypatch.setattr(curator, "erase_log", lambda path: None)
    await vendor.client.post("/admin/curator", headers=ADMIN)
    r = await vendor.client.post("/admin/erase", headers=ADMIN)
    assert r.status_code == 409
    assert {h["file"] for h in r.json()["hits"]} == {f"logs/{NODE}.log"}


@pytest.mark.anyio
async def test_consent_database_left_behind_is_reported(vendor, monkeypatch):
    real = curator.erase_database

    def skip_consent(db):
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'revocation'").fetchone():
            real(db)

    monkeypatch.setattr(curator, "erase_database", skip_consent)
    await vendor.client.post("/admin/curator", headers=ADMIN)
    r = await vendor.client.post("/admin/erase", headers=ADMIN)
    assert r.status_code == 409, r.text
    assert {h["file"] for h in r.json()["hits"]} == {"nodes/pgo-x/consent.sqlite"}


@pytest.mark.anyio
async def test_an_export_left_behind_is_reported(vendor, monkeypatch):
    monkeypatch.setattr(curator, "CURATOR_FILES", curator.CURATOR_FILES | {"report.xml"})
    await vendor.client.post("/admin/curator", headers=ADMIN)
    r = await vendor.client.post("/admin/erase", headers=ADMIN)
    assert r.status_code == 409, r.text
    assert {h["file"] for h in r.json()["hits"]} == {"nodes/pgo-x/exports/report.xml"}


@pytest.mark.anyio
async def test_erasure_is_one_transaction(vendor, monkeypatch):
    """A failure midway leaves every row in place (then reported), never half a vendor."""
    real = curator.personal_tables

    def tables_then_fail(db):  # in dvp.sqlite, after every real table was deleted
        names = real(db)
        return names + ["no_such_table"] if "person" in names else names

    monkeypatch.setattr(curator, "personal_tables", tables_then_fail)
    monkeypatch.setattr(curator, "storage_check", lambda db: {})
    await vendor.client.post("/admin/curator", headers=ADMIN)
    r = await vendor.client.post("/admin/erase", headers=ADMIN)
    assert r.status_code == 409 and "OperationalError" in r.json()["error_description"]
    db = sqlite3.connect(vendor.node_dir / "dvp.sqlite")
    assert db.execute("SELECT COUNT(*) FROM person").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM resource").fetchone()[0] == 2


# The whole drill in the sandbox ----------------------------------------------------------

def held_values(node_dir: Path, minimum: int = 8) -> set[str]:
    """This test's own harvest: every text value of every table of every SQLite file of the
    vendor (schema words aside), read directly from the files."""
    values, schema = set(), ""
    for path in node_dir.iterdir():
        if not path.is_file() or path.read_bytes()[:16] != b"SQLite format 3\x00":
            continue
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"
                                ).fetchall()
            schema += " ".join(sql or "" for _, sql in tables)
            for table, _ in tables:
                for row in db.execute(f'SELECT * FROM "{table}"'):
                    values |= {v for v in row if isinstance(v, str) and len(v) >= minimum}
        finally:
            db.close()
    return {v for v in values if v not in schema}


def test_settlement_leaves_no_identifier_in_any_file_of_the_vendor(sandbox):
    """Collect (long-lived) + share + revoke for a person at a vendor, bankrupt + settle: no
    identifier the vendor held is in any of its files afterwards (databases with -wal/-shm,
    consent store, exports, the node's log)."""
    from sandbox import vendor
    from scenarios import collect
    from scenarios.persons import find_persons
    from scenarios.report import ScenarioReport
    from scenarios.share import SELF_MEASUREMENTS, share
    from scenarios.useragent import Browser

    dvp = sandbox.topology.dvps[-1].id
    provider = next(p.name for p in sandbox.topology.providers
                    if SELF_MEASUREMENTS in p.gegevensdiensten)
    node_dir = sandbox.state_dir / "nodes" / dvp
    browser = Browser(sandbox.info.addresses)
    bankrupt = False
    try:
        bsn = find_persons(browser, sandbox, provider, start=80)[0]["bsn"]
        report = ScenarioReport("setup")
        done = collect.collect(sandbox, browser, report, dvp, provider, bsn, long_lived=True)
        account = done["account"]
        answer = share(sandbox, browser, account, provider, SELF_MEASUREMENTS, bsn)
        assert answer.get("status") == "shared", answer
        person = account.person_id
        r = browser.request("POST", account.url(
            f"/api/persons/{person}/grants/{provider}/revoke"))
        assert r.status_code == 200, r.text
        consents = browser.get(account.url(f"/api/persons/{person}/consents")).json()
        assert any(c["revoked_at"] for c in consents)
        held = browser.get(account.url(f"/api/persons/{person}/resources")).json()["items"]
        log = browser.get(account.url(f"/api/persons/{person}/log")).json()
        needles = {person, f"persoon {bsn}"} | {i["resource"]["id"] for i in held} | {
            e["correlation_id"] for e in log} | held_values(node_dir)
        node_log = sandbox.state_dir / "logs" / f"{dvp}.log"
        deadline = time.monotonic() + 5  # hop lines reach the file every 0.2 s
        while person.encode() not in node_log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert person.encode() in node_log.read_bytes()  # the log did hold the person
        assert len(needles) > 20

        vendor.bankrupt(sandbox, dvp)
        bankrupt = True
        entry = vendor.settle(sandbox, dvp)
        assert entry["ok"] and entry["hit_count"] == 0, entry

        files = [p for p in node_dir.rglob("*") if p.is_file()] + [node_log]
        hits = [(str(p), n) for p in files for n in needles if n.encode() in p.read_bytes()]
        assert hits == [], hits[:10]
    finally:
        browser.close()
        if bankrupt:
            vendor.readmit(sandbox, dvp)


def test_erasure_writes_held_hop_lines_before_it_truncates_the_log(tmp_path, monkeypatch):
    """The node keeps its hop lines for up to 0.2 s before writing them; the erasure must
    write them first, or a person's id-bearing paths land in the log after it was emptied."""
    import sys

    from simulators.common.app import HopLog
    from simulators.dvp.curator import erase_log

    log = tmp_path / "pgo-x.log"
    with open(log, "a", encoding="utf-8") as stdout:  # as the runtime: stdout appends to it
        monkeypatch.setattr(sys, "stdout", stdout)
        hop = HopLog(None, "pgo-x")
        hop._lines.append((1.8e9, "GET", "/api/persons/p-secret", 200, 1.0, b"-", b"-"))
        erase_log(log)
        hop._flush()  # the timer fires after the erasure
        stdout.flush()
    assert b"p-secret" not in log.read_bytes()


def test_the_checks_reader_cannot_write(tmp_path):
    """The erasure's independent check reads the stores through connections that refuse
    every write (query_only), not mode=ro, whose open races a WAL checkpoint."""
    import sqlite3

    from simulators.dvp.curator import _reader

    path = tmp_path / "x.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (v TEXT)")
    reader = _reader(path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.execute("INSERT INTO t VALUES ('x')")
    finally:
        reader.close()


def test_the_check_leaves_the_nodes_sqlite_locks_alone(tmp_path):
    """The settlement's check reads the vendor's files raw (headers, leftover bytes). Done in
    the node process, each close() of such a file drops SQLite's POSIX locks there; another
    process's connection then takes the WAL for its own when it closes, and the node's next
    connection fails with "disk I/O error" (a 500 at settlement, seen in CI). The raw reads
    happen in a child process (simulators/dvp/file_scan.py), so this sequence stays healthy."""
    import subprocess
    import sys

    from simulators.dvp import curator

    node_dir = tmp_path / "pgo-x"
    node_dir.mkdir()
    path = node_dir / "dvp.sqlite"
    node = sqlite3.connect(path, isolation_level=None)  # the node's own, kept open
    node.execute("PRAGMA journal_mode = WAL")
    node.execute("CREATE TABLE person (id TEXT, display_name TEXT)")
    node.executemany("INSERT INTO person VALUES (?, ?)",
                     [(f"person-{i:04d}-identifier", f"Naam Nummer {i}") for i in range(200)])
    try:
        identifiers = curator.held_identifiers(node_dir)
        assert "person-0007-identifier" in identifiers
        assert curator.databases(node_dir) == [path]
        files = curator.vendor_files(node_dir, None)
        assert curator.scan(files, identifiers, tmp_path)  # the rows are still there
        other = "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); " \
                "db.execute('SELECT COUNT(*) FROM person').fetchone(); db.close()"
        subprocess.run([sys.executable, "-c", other, str(path)], check=True, timeout=60)
        node.executemany("INSERT INTO person VALUES (?, ?)", [("later-identifier", "Later")])
        fresh = sqlite3.connect(path)
        try:
            assert fresh.execute("SELECT COUNT(*) FROM person").fetchone()[0] == 201
        finally:
            fresh.close()
    finally:
        node.close()
