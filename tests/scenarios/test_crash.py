"""A kill in the middle of work leaves stored data consistent (SQLite transactions, atomic
file replacement): a writer is SIGKILLed mid-stream and the storage is checked after."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from simulators.dvp.collect import SearchResult
    from simulators.dvp.store import DvpStore

    store = DvpStore(Path(sys.argv[1]))
    person = store.add_person("crash test")
    print(person, flush=True)
    n = 0
    while True:  # collects of 20 requests x 10 resources, each one transaction, until killed
        n += 1
        results = [SearchResult("48", f"https://dva.test/fhir/x/48/R{n}-{i}", 200, "t", 0.0,
                                [{"resourceType": "Observation", "id": f"{n}-{i}-{k}"}
                                 for k in range(10)]) for i in range(20)]
        store.store_collect(person, "umcsandbox@medmij", results, f"corr-{n}")
""")

IMPORT_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from simulators.dvp import portability
    from simulators.dvp.report import CollectAction, Report
    from simulators.dvp.store import DvpStore

    store = DvpStore(Path(sys.argv[1]))
    portability.ensure_schema(store.db)
    person = store.add_person("crash test")
    providers = [f"za{i}@medmij" for i in range(50)]
    zal = {p: {"48": None} for p in providers}
    print(person, flush=True)
    n = 0
    while True:  # imports of 50 x 100 = 5,000 requests, each from another PGO, until killed
        n += 1
        actions = [CollectAction(p, "48", "t", [(f"https://dva.test/fhir/{p}/48/R{n}-{k}", "t")
                                                for k in range(100)]) for p in providers]
        portability.record_plan(store.db, person, Report(f"pgo-{n}", "t", "t", "t", actions),
                                zal)
""")

REGISTRY_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from sandbox.runtime.local import LocalRuntime
    from simulators.medmij.topology import load_topology
    from simulators.common.config import SandboxConfig
    from simulators.registry.state import RegistryState

    topology = load_topology()
    config = SandboxConfig(topology, "loopback", LocalRuntime(Path(".")).addresses(topology, 1),
                           Path(sys.argv[1]))
    state = RegistryState(config, Path(sys.argv[1]) / "registry.json")
    print("ready", flush=True)
    while True:
        state.remove_client("pgo-beta.sandbox.test")
        state.add_client("pgo-beta.sandbox.test", "Beta Health PGO")
""")


def run_and_kill(code: str, arg: str, seconds: float = 1.0) -> str:
    proc = subprocess.Popen([sys.executable, "-c", code, arg], stdout=subprocess.PIPE,
                            text=True)
    first = proc.stdout.readline().strip()
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()  # the pipe, or filterwarnings=error fails on its ResourceWarning
    return first


def test_dvp_store_killed_mid_collect_keeps_whole_collects_only(tmp_path):
    db_path = tmp_path / "dvp.sqlite"
    person = run_and_kill(WRITER, str(db_path))
    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    per_collect = db.execute(
        "SELECT correlation_id, COUNT(*) FROM request_log WHERE person_id = ?"
        " GROUP BY correlation_id", (person,)).fetchall()
    assert len(per_collect) > 1, "the writer did not get far enough to test anything"
    assert {n for _, n in per_collect} == {20}  # never a half-logged collect
    resources = db.execute("SELECT COUNT(*) FROM resource WHERE person_id = ?",
                           (person,)).fetchone()[0]
    assert resources == len(per_collect) * 20 * 10  # and never half of its resources


def test_import_killed_midway_leaves_whole_plans_only(tmp_path):
    """Issue 11 item 10: a kill during a portability import leaves either the whole plan
    (its rows and the plan row that counts them) or nothing of it, never a partial set."""
    db_path = tmp_path / "dvp.sqlite"
    person = run_and_kill(IMPORT_WRITER, str(db_path), seconds=1.5)
    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    plans = dict(db.execute("SELECT source, requests FROM import_plan WHERE person_id = ?",
                            (person,)).fetchall())
    rows = dict(db.execute("SELECT source, COUNT(*) FROM import_request WHERE person_id = ?"
                           " GROUP BY source", (person,)).fetchall())
    assert len(plans) > 1, "the writer did not get far enough to test anything"
    assert rows == plans  # no rows of an unrecorded import, none missing from a recorded one
    assert set(plans.values()) == {5000}


def test_registry_killed_mid_publication_keeps_a_whole_state(tmp_path):
    import json

    run_and_kill(REGISTRY_WRITER, str(tmp_path))
    state = json.loads((tmp_path / "registry.json").read_text())
    assert set(state) == {"providers", "clients", "headers", "outside"}
    assert state["headers"]["ocl"]["volgnummer"] > 2
    from pathlib import Path

    from sandbox.runtime.local import LocalRuntime
    from simulators.common.config import SandboxConfig
    from simulators.common.lists import parse_list
    from simulators.medmij.topology import load_topology
    from simulators.registry.state import RegistryState

    topology = load_topology()
    config = SandboxConfig(topology, "loopback", LocalRuntime(Path(".")).addresses(topology, 1),
                           tmp_path)
    reloaded = RegistryState(config, tmp_path / "registry.json")  # a restarted registry
    volgnummer, ocl = parse_list("ocl", reloaded.render("ocl"))
    assert volgnummer == state["headers"]["ocl"]["volgnummer"]
    assert ("pgo-beta.sandbox.test" in ocl) == ("pgo-beta.sandbox.test" in state["clients"])
