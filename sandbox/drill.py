"""Drills: a fault or a kill during a bounded Locust load, and a report of what was lost.

``pgo-sandbox drill NAME`` (``sandbox/drill_cli.py`` is its CLI) runs the drill's load
(``loadtests/drill_collect.py`` or ``drill_import.py``, few users, seconds), fires the fault
``fault_at`` seconds after the first user started, and measures, never assumes:

- the timeline from every request the load sent (``loadtests/drill_record.py``): requests and
  failures per second, the pre-fault success rate, requests affected (sent from the fault
  until recovery), failed, and the time to recover: from the fault's start to the first second
  after the fault's end with the pre-fault success rate again;
- the restart time of a killed node (the local runtime's supervisor, ``simulators.launch``,
  forks it again: from the SIGKILL until the node answers ``/health`` as itself);
- data lost: every collect a PGO acknowledged as ``collected`` is compared, after the drill,
  with what the DVA serves for that person now (log in at the PGO with the ledger's password,
  take a fresh token at the DVA); every import a PGO acknowledged is whole, a killed one left
  nothing or the whole plan, and a retry completes it.

The drills (``DRILLS``): ``kill-dva``, ``kill-pgo-import``, ``registry-down`` (the registry
SIGSTOPped for ``fault_for`` seconds: nodes keep serving on their last lists), ``slow-dva``
(the fault API's ``slow`` on a DVA, ``simulators/common/faults.py``) and ``vendor-bankrupt``
(curator mode and off the OCL under load: its flows end cleanly, other vendors unaffected, its
export complete). The report (JSON, a PNG timeline) goes to ``out_dir``; ``ok`` is false, and
the CLI exits 1, when data was lost, the system did not recover or a drill's own rule broke.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from sandbox.state import Running

HERE = Path(__file__).resolve().parents[1] / "loadtests"
FLOW = "FLOW"
DRILLS: dict[str, str] = {
    "kill-dva": "kill -9 a DVA while persons collect through the PGOs",
    "kill-pgo-import": "kill -9 a PGO while persons import portability reports",
    "registry-down": "the registry stopped (SIGSTOP) for --fault-for seconds under load",
    "slow-dva": "fault 'slow' on a DVA for --fault-for seconds under load",
    "vendor-bankrupt": "a PGO vendor goes bankrupt (curator, off the OCL) under load",
}
RESTART_TIMEOUT = 60.0  # seconds a killed node may take to serve again before it counts as dead
MAX_USERS = 50
MAX_DURATION = 600.0
IMPORT_REQUESTS = 900  # requests in the report kill-pgo-import imports under load
Say = Callable[[str], None]


class DrillError(RuntimeError):
    """The drill could not run (not a data loss: that is a report with ``ok`` false)."""


@dataclass
class DrillOptions:
    name: str
    users: int = 4
    duration: float = 15.0  # seconds of load
    fault_at: float = 4.0  # seconds after the first user started
    fault_for: float = 4.0  # registry-down, slow-dva: how long the fault lasts
    node: str | None = None  # the DVA, PGO or vendor hit (default: the drill's choice)
    out_dir: Path = Path("drill-reports")
    think_scale: float = 0.1
    max_requests: int = 20_000
    slow_ms: float = 1500.0  # slow-dva: median latency added

    def check(self) -> None:
        if self.name not in DRILLS:
            raise DrillError(f"unknown drill {self.name!r}; known: {', '.join(DRILLS)}")
        if not 1 <= self.users <= MAX_USERS:
            raise DrillError(f"--users must be 1..{MAX_USERS}")
        if not 0 < self.duration <= MAX_DURATION:
            raise DrillError(f"--duration must be 1..{MAX_DURATION:.0f} s")
        if not 0 < self.fault_at or not 0 < self.fault_for <= MAX_DURATION:
            raise DrillError("--fault-at and --fault-for must be positive")
        window = self.fault_for if self.name in ("registry-down", "slow-dva") else 0.0
        if self.fault_at + window + 3 > self.duration:
            raise DrillError(f"--duration {self.duration:.0f} s leaves no time to recover: it "
                             f"must be at least --fault-at + {'--fault-for + ' if window else ''}"
                             f"3 s ({self.fault_at + window + 3:.0f} s)")


@dataclass
class Fault:
    """What the fault thread did and when (Unix times)."""

    kind: str
    node: str
    start: float = 0.0
    end: float = 0.0
    injected: int = 0
    restart_s: float | None = None
    notes: list[str] = field(default_factory=list)
    error: str = ""
    details: dict = field(default_factory=dict)


# --- the timeline (pure) ----------------------------------------------------------------------

def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text("utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:  # a line cut short when Locust was stopped
            continue
    return out


def p95(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def timeline(records: list[dict], start: float, end: float, window: tuple[float, float]
             ) -> dict:
    """Per second of the load (requests, not flow transactions): requests, failures, p95 ms;
    the pre-fault success rate; requests affected and failed from the fault's start until
    recovery; and recovery itself: the first second that ends after the fault's end in which
    requests were sent and the success rate was the pre-fault one again."""
    requests = [r for r in records if r.get("type") != FLOW]
    first = int(min([start] + [r["t"] for r in requests]))
    last = int(max([end] + [r["t"] for r in requests]))
    bins: dict[int, list[dict]] = defaultdict(list)
    for r in requests:
        bins[int(r["t"])].append(r)
    seconds = []
    for s in range(first, last + 1):
        rs = bins.get(s, [])
        seconds.append({"t": s, "at_s": s - first, "requests": len(rs),
                        "failures": sum(1 for r in rs if not r["ok"]),
                        "p95_ms": p95([r["ms"] for r in rs])})
    fault_start, fault_end = window
    before = [r for r in requests if r["t"] < fault_start]
    pre_rate = (sum(1 for r in before if r["ok"]) / len(before)) if before else 1.0
    recovered_at = None
    for s in seconds:
        if s["t"] + 1 <= fault_end or not s["requests"]:
            continue
        if (s["requests"] - s["failures"]) / s["requests"] >= pre_rate - 1e-9:
            recovered_at = max(float(s["t"]), fault_end)  # never before the fault ended
            break
    until = recovered_at if recovered_at is not None else float("inf")
    hit = [r for r in requests if fault_start <= r["t"] < until]
    after = [r for r in requests if recovered_at is not None and r["t"] >= recovered_at]
    return {
        "seconds": seconds, "origin": first,
        "requests": len(requests), "failures": sum(1 for r in requests if not r["ok"]),
        "pre_fault_requests": len(before), "pre_fault_success_rate": round(pre_rate, 4),
        "affected": len(hit), "failed": sum(1 for r in hit if not r["ok"]),
        "failed_after_recovery": sum(1 for r in after if not r["ok"]),
        "recovered": recovered_at is not None,
        "recovered_at": recovered_at,
        "time_to_recover_s": round(recovered_at - fault_start, 3)
        if recovered_at is not None else None,
    }


# --- talking to the sandbox -------------------------------------------------------------------

def _client(sandbox: Running, timeout: float = 30.0) -> httpx.Client:
    from simulators.common.http import sync_client

    return sync_client(sandbox.info.addresses, timeout=timeout)


def node_pid(sandbox: Running, node_id: str) -> int:
    """The node's current pid as the local runtime's supervisor reports it."""
    from sandbox.runtime.local import SUPERVISOR_FILE

    try:
        report = json.loads((sandbox.state_dir / SUPERVISOR_FILE).read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return 0
    return int((report.get("nodes", {}).get(node_id) or {}).get("pid") or 0)


def healthy(sandbox: Running, node_id: str) -> bool:
    """The node answers /health as itself (this run's nonce) and ok."""
    from sandbox.runtime import probe_all

    ok, _ = probe_all({node_id: sandbox.url(node_id)}, sandbox.config.run_nonce)[node_id]
    return ok


def kill_and_wait(sandbox: Running, node_id: str, fault: Fault,
                  timeout: float = RESTART_TIMEOUT) -> None:
    """SIGKILL the node's process and wait until the supervisor's new one serves."""
    pid = node_pid(sandbox, node_id)
    if pid <= 0:
        raise DrillError(f"the supervisor reports no pid for {node_id}")
    fault.start = time.time()
    os.kill(pid, signal.SIGKILL)
    fault.injected = 1
    fault.notes.append(f"{node_id} pid {pid} killed (SIGKILL)")
    deadline = time.monotonic() + timeout
    new = 0
    while time.monotonic() < deadline:
        new = node_pid(sandbox, node_id)
        if new not in (0, pid) and healthy(sandbox, node_id):
            break
        time.sleep(0.05)
    else:
        fault.end = time.time()
        fault.error = f"{node_id} not serving again within {timeout:.0f} s"
        return
    fault.end = time.time()
    fault.restart_s = round(fault.end - fault.start, 3)
    fault.notes.append(f"{node_id} serving again as pid {new} after {fault.restart_s} s")


def events_last(sandbox: Running, node_id: str) -> int:
    with _client(sandbox) as client:
        r = client.get(sandbox.url(node_id, "/admin/events"), params={"since": 0},
                       headers=sandbox.admin_headers)
    return int(r.json().get("last", 0)) if r.status_code == 200 else 0


def fault_events(sandbox: Running, node_id: str, since: int, fault_id: str) -> int:
    """How often the fault fired, from the node's event stream (``kind="fault"``)."""
    with _client(sandbox) as client:
        r = client.get(sandbox.url(node_id, "/admin/events"), params={"since": since},
                       headers=sandbox.admin_headers)
    if r.status_code != 200:
        return 0
    return sum(1 for e in r.json().get("events", [])
               if e.get("kind") == "fault" and str(e.get("fault")) == fault_id)


def _login(client: httpx.Client, sandbox: Running, dvp: str, person_id: str,
           password: str) -> dict[str, str]:
    """A PGO session for a person of the ledger; the CSRF header for its POSTs."""
    r = client.post(sandbox.url(dvp, "/api/login"),
                    json={"person_id": person_id, "password": password})
    if r.status_code != 200:
        raise DrillError(f"login at {dvp} as {person_id} answered {r.status_code}")
    return {"X-CSRF-Token": r.json()["csrf_token"]}


def _key(service: str, resource: dict) -> tuple[str, str, str]:
    return service, str(resource.get("resourceType")), str(resource.get("id"))


def _body(resource: dict) -> bytes:
    return orjson.dumps({k: v for k, v in resource.items() if k != "meta"},
                        option=orjson.OPT_SORT_KEYS)


def served(sandbox: Running, dvp: str, provider: str, bsn: str, services: list[str]
           ) -> dict[tuple[str, str, str], bytes]:
    """What the provider's DVA serves for the person now: a fresh consent and token (as the
    PGO ``dvp``), then every search of the PGO query list for each gegevensdienst."""
    from scenarios.oauth_probe import exchange, get_code
    from simulators.common.http import async_client
    from simulators.common.lists import PATHS, parse_list
    from simulators.common.medmij_client import granted_services, run_searches

    code, redirect_uri = get_code(sandbox, provider, bsn, dvp)
    with _client(sandbox) as client:
        token = exchange(client, sandbox, provider, code, redirect_uri,
                         sandbox.topology.node(dvp).hostname)
        if token.status_code != 200:
            raise DrillError(f"token at {provider} for the check answered {token.status_code}")
        zal = parse_list("zal", client.get(sandbox.url("registry", PATHS["zal"]),
                                           params={"api": "1"}).content)[1]
    body = token.json()
    wanted = granted_services(body, provider, list(services))

    async def fetch() -> list:
        async with async_client(sandbox.info.addresses) as http:
            found = []
            for service in wanted:
                found += await run_searches(http, zal[provider][service], service,
                                            body["access_token"], "drill-check")
            return found

    out: dict[tuple[str, str, str], bytes] = {}
    for result in asyncio.run(fetch()):
        if result.status != 200:
            raise DrillError(f"the DVA answered {result.status} to {result.request_uri} "
                             "during the check")
        for resource in result.resources:
            out[_key(result.service, resource)] = _body(resource)
    return out


def check_collects(sandbox: Running, ledger: list[dict], only_dvp: str | None = None,
                   not_as: str | None = None) -> dict:
    """Every collect a PGO acknowledged is still complete: per person and provider, the PGO
    holds every resource the DVA serves for that person, with the same content. The DVA is
    asked as the person's PGO, or as another one when that is ``not_as`` (a vendor the DVAs
    no longer accept)."""
    probe = next(d.id for d in sandbox.topology.dvps if d.id != not_as)
    groups: dict[tuple[str, str, str], dict] = {}
    for e in ledger:
        if e["kind"] != "collect" or (only_dvp and e["dvp"] != only_dvp):
            continue
        g = groups.setdefault((e["dvp"], e["person_id"], e["provider"]),
                              {"password": e["password"], "bsn": e["bsn"], "services": set(),
                               "collects": 0})
        g["services"] |= set(e["services"])
        g["collects"] += 1
    expected = missing = changed = 0
    lost: list[dict] = []
    cache: dict[tuple[str, str, tuple[str, ...]], dict] = {}
    with _client(sandbox) as client:
        for (dvp, person, provider), g in sorted(groups.items()):
            client.cookies.clear()
            _login(client, sandbox, dvp, person, g["password"])
            r = client.get(sandbox.url(dvp, f"/api/persons/{person}/resources"))
            if r.status_code != 200:
                raise DrillError(f"{dvp} answered {r.status_code} for {person}'s resources")
            held = {_key(i["gegevensdienst"], i["resource"]): _body(i["resource"])
                    for i in r.json()["items"] if i["provider"] == provider}
            services = tuple(sorted(g["services"]))
            want = (g["bsn"], provider, services)
            if want not in cache:
                cache[want] = served(sandbox, dvp if dvp != not_as else probe, provider,
                                     g["bsn"], list(services))
            truth = cache[want]
            gone = [k for k in truth if k not in held]
            differ = [k for k in truth if k in held and held[k] != truth[k]]
            expected += len(truth)
            missing += len(gone)
            changed += len(differ)
            if gone or differ:
                lost.append({"dvp": dvp, "person_id": person, "provider": provider,
                             "missing": ["/".join(k) for k in gone[:5]],
                             "changed": ["/".join(k) for k in differ[:5]]})
    return {"collects_acknowledged": sum(g["collects"] for g in groups.values()),
            "persons_checked": len(groups), "resources_expected": expected,
            "resources_missing": missing, "resources_changed": changed,
            "lost": missing + changed, "where": lost[:10]}


def check_imports(sandbox: Running, ledger: list[dict], report: bytes) -> dict:
    """Every import the PGO acknowledged is whole; a killed one left nothing or the whole plan
    (never a partial one); and a retry of each that failed completes it."""
    acked = {e["person_id"]: e for e in ledger if e["kind"] == "import"}
    failed = {e["person_id"]: e for e in ledger if e["kind"] == "import_failed"}
    partial = incomplete = retried = retry_ok = 0
    lost: list[str] = []
    expected = max((e["requests"] for e in acked.values()), default=0)
    with _client(sandbox) as client:
        for person, e in {**failed, **acked}.items():
            client.cookies.clear()
            headers = _login(client, sandbox, e["dvp"], person, e["password"])
            url = sandbox.url(e["dvp"], f"/api/persons/{person}/portability/import")
            status = client.get(url).json()
            total = sum(a["total"] for a in status["actions"])
            if any(not a["complete_plan"] for a in status["actions"]):
                partial += 1
                lost.append(f"{person}: a partial plan ({total} rows)")
            if person in acked:
                if total != e["requests"] or not all(a["complete_plan"]
                                                     for a in status["actions"]):
                    incomplete += 1
                    lost.append(f"{person}: acknowledged {e['requests']} requests, holds "
                                f"{total}")
                continue
            retried += 1  # a person whose import failed and who never got a 201: retry now
            r = client.post(url, content=report, headers=headers | {
                "Content-Type": "application/xml"})
            status = client.get(url).json()
            total = sum(a["total"] for a in status["actions"])
            if r.status_code == 201 and total == r.json()["requests"] and all(
                    a["complete_plan"] for a in status["actions"]):
                retry_ok += 1
                expected = expected or total
            else:
                lost.append(f"{person}: retry answered {r.status_code}, holds {total}")
    return {"imports_acknowledged": len(acked), "imports_failed": len(failed),
            "failed_then_completed_by_the_person": len(set(failed) & set(acked)),
            "retried_by_drill": retried, "retries_completed": retry_ok,
            "partial_plans": partial, "acknowledged_incomplete": incomplete,
            "requests_per_report": expected,
            "lost": partial + incomplete + (retried - retry_ok), "where": lost[:10]}


def check_export(sandbox: Running, ledger: list[dict], dvp: str) -> dict:
    """The bankrupt vendor's portability export holds every collect it acknowledged (per
    person, provider and gegevensdienst at least as many collect actions)."""
    from simulators.dvp.report import parse_report

    wanted: dict[str, Counter] = defaultdict(Counter)
    passwords: dict[str, str] = {}
    for e in ledger:
        if e["kind"] == "collect" and e["dvp"] == dvp:
            passwords[e["person_id"]] = e["password"]
            for service in e["services"]:
                wanted[e["person_id"]][(e["provider"], service)] += 1
    short: list[str] = []
    with _client(sandbox) as client:
        for person, password in passwords.items():
            client.cookies.clear()
            _login(client, sandbox, dvp, person, password)
            r = client.get(sandbox.url(dvp, f"/api/persons/{person}/portability"))
            if r.status_code != 200:
                short.append(f"{person}: export answered {r.status_code}")
                continue
            got = Counter((a.provider, a.service) for a in parse_report(r.content).actions)
            for key, n in wanted[person].items():
                if got[key] < n:
                    short.append(f"{person}: {key[0]} {key[1]}: {got[key]} of {n} collects")
    return {"persons_exported": len(passwords), "exports_short": len(short),
            "where": short[:10]}


# --- the drills -------------------------------------------------------------------------------

def targets(sandbox: Running, name: str) -> list[str]:
    """The nodes a drill can hit (``--node``): DVAs, PGOs, or the registry."""
    if name in ("kill-dva", "slow-dva"):
        return [d.id for d in sandbox.topology.dvas]
    if name == "registry-down":
        return ["registry"]
    return [d.id for d in sandbox.topology.dvps]


def _dva_of(sandbox: Running, providers: list[str], node: str | None) -> str:
    dvas = [d.id for d in sandbox.topology.dvas]
    if node is not None:
        if node not in dvas:
            raise DrillError(f"unknown DVA {node!r}; known: {', '.join(dvas)}")
        return node
    return sandbox.topology.node(sandbox.topology.provider(providers[0]).dva).id


def _dvp_named(sandbox: Running, node: str | None, default: int) -> str:
    dvps = [d.id for d in sandbox.topology.dvps]
    if node is not None and node not in dvps:
        raise DrillError(f"unknown PGO {node!r}; known: {', '.join(dvps)}")
    return node or dvps[default]


def export_report(sandbox: Running, dvp: str, out: Path) -> Path:
    """A real portabiliteitsrapport to import under load: a person collects at ``dvp`` from
    the hospital and the GP, and downloads the report."""
    from scenarios import collect
    from scenarios.accounts import login
    from scenarios.persons import find_persons
    from scenarios.report import ScenarioReport, StepFailed
    from scenarios.useragent import Browser

    providers = [p.name for p in sandbox.topology.providers if p.kind in ("hospital", "gp")]
    with Browser(sandbox.info.addresses) as browser:
        bsn = find_persons(browser, sandbox, providers[0], start=700)[0]["bsn"]
        account = None
        report = ScenarioReport("drill set-up")
        try:
            for provider in providers:
                if account is not None:
                    login(browser, account)
                account = collect.collect(sandbox, browser, report, dvp, provider, bsn,
                                          account=account)["account"]
        except StepFailed as exc:
            failed = next(s.detail for s in report.steps if not s.ok)
            raise DrillError(f"set-up collect at {dvp} failed: {failed}") from exc
        r = browser.get(sandbox.public_url(dvp, f"/api/persons/{account.person_id}/"
                                               "portability"))
        r.raise_for_status()
    path = out / "report.xml"
    path.write_bytes(inflate(r.content))
    return path


def inflate(xml: bytes, total: int = IMPORT_REQUESTS) -> bytes:
    """The report with each collect action's searches repeated under distinct ``_count``
    values up to about ``total`` requests (at most ``MAX_REPLAY_PER_PROVIDER`` per provider):
    a bigger import takes the PGO longer, so a kill is likelier to land in the middle of
    one. Every request stays a plain search under the provider's resource endpoint."""
    from simulators.dvp.portability import MAX_REPLAY_PER_PROVIDER
    from simulators.dvp.report import build_report, parse_report

    report = parse_report(xml)
    held = sum(len(a.requests) for a in report.actions)
    if not held:
        return xml
    per_provider = Counter()
    for a in report.actions:
        per_provider[a.provider] += len(a.requests)
    copies = max(1, min(total // held,
                        MAX_REPLAY_PER_PROVIDER // max(per_provider.values()) - 1))
    for action in report.actions:
        extra = []
        for n in range(1, copies):
            for uri, stamp in action.requests:
                extra.append((f"{uri}{'&' if '?' in uri else '?'}_count={100 + n}", stamp))
        action.requests = action.requests + extra
    return build_report(report)


class Drill:
    """One run: set-up, the fault thread, Locust, the checks, the report."""

    def __init__(self, sandbox: Running, opts: DrillOptions, say: Say = print) -> None:
        self.sandbox, self.opts, self.say = sandbox, opts, say
        self.out = opts.out_dir
        self.env: dict[str, str] = {}
        self.files = [HERE / "drill_collect.py"]
        self.fault = Fault(opts.name, "")
        self.report_xml = b""
        self.started_event = threading.Event()

    # set-up per drill: which node, which users, and the action
    def setup(self) -> Callable[[], None]:
        s, o = self.sandbox, self.opts
        hospital_gp = [p.name for p in s.topology.providers if p.kind in ("hospital", "gp")]
        if o.name in ("kill-dva", "kill-pgo-import", "registry-down") \
                and s.info.runtime != "local":
            raise DrillError(f"{o.name} kills or stops processes: it needs the local runtime "
                             f"(this sandbox runs on {s.info.runtime})")
        if o.name in ("kill-dva", "slow-dva"):
            dva = _dva_of(s, hospital_gp, o.node)
            self.fault.node = dva
            return (lambda: kill_and_wait(s, dva, self.fault)) if o.name == "kill-dva" \
                else (lambda: self._slow(dva))
        if o.name == "kill-pgo-import":
            dvp = _dvp_named(s, o.node, 1)
            source = next(d.id for d in s.topology.dvps if d.id != dvp)
            self.say(f"set-up: a portability report exported from {source}")
            path = export_report(s, source, self.out)
            self.report_xml = path.read_bytes()
            self.files = [HERE / "drill_import.py"]
            self.env |= {"PGO_DRILL_DVP": dvp, "PGO_DRILL_REPORT": str(path)}
            self.fault.node = dvp
            return lambda: kill_and_wait(s, dvp, self.fault)
        if o.name == "registry-down":
            self.fault.node = "registry"
            return self._registry_down
        dvp = _dvp_named(s, o.node, -1)  # vendor-bankrupt
        self.fault.node = dvp
        return lambda: self._bankrupt(dvp)

    def _registry_down(self) -> None:
        pid = node_pid(self.sandbox, "registry")
        if pid <= 0:
            raise DrillError("the supervisor reports no pid for the registry")
        self.fault.start = time.time()
        os.kill(pid, signal.SIGSTOP)
        self.fault.injected = 1
        self.fault.notes.append(f"registry pid {pid} stopped (SIGSTOP)")
        try:
            time.sleep(self.opts.fault_for)
        finally:
            os.kill(pid, signal.SIGCONT)
            self.fault.end = time.time()
        self.fault.notes.append(f"registry continued (SIGCONT) after "
                                f"{self.fault.end - self.fault.start:.1f} s")

    def _slow(self, dva: str) -> None:
        s, o = self.sandbox, self.opts
        since = events_last(s, dva)
        body = {"kind": "slow", "seconds": o.fault_for,
                "params": {"median_ms": o.slow_ms, "p95_ms": o.slow_ms * 2}}
        with _client(s) as client:
            self.fault.start = time.time()
            r = client.post(s.url(dva, "/admin/faults"), json=body, headers=s.admin_headers)
            if r.status_code != 201:
                self.fault.end = time.time()
                self.fault.error = (f"POST /admin/faults at {dva} answered {r.status_code}: "
                                    f"{r.text[:200]}")
                return
            fault_id = str(r.json().get("id"))
            self.fault.notes.append(f"fault {fault_id} slow (median {o.slow_ms:.0f} ms) at "
                                    f"{dva} for {o.fault_for:.0f} s")
            time.sleep(o.fault_for)
            client.delete(s.url(dva, f"/admin/faults/{fault_id}"), headers=s.admin_headers)
            self.fault.end = time.time()
        self.fault.injected = fault_events(s, dva, since, fault_id)
        self.fault.details["fault_id"] = fault_id

    def _bankrupt(self, dvp: str) -> None:
        from sandbox import vendor

        self.fault.start = time.time()
        outcome = vendor.bankrupt(self.sandbox, dvp)
        self.fault.injected = 1
        cut = vendor.wait_cut_off(self.sandbox, dvp)
        self.fault.end = time.time()
        self.fault.notes.append(f"{dvp} bankrupt: curator mode, off the OCL (Volgnummer "
                                f"{outcome['ocl_volgnummer_before']} -> "
                                f"{outcome['ocl_volgnummer_after']}); every DVA refuses it "
                                f"after {max(cut.values()):.2f} s")
        self.fault.details["cut_off_s"] = {k: round(v, 3) for k, v in cut.items()}

    def _fire(self, action: Callable[[], None], started: Path) -> None:
        """The fault thread: wait for the load's first user, then ``fault_at``, then act."""
        try:
            deadline = time.monotonic() + 120
            while not started.exists() and time.monotonic() < deadline:
                if self.started_event.wait(0.05):
                    return  # Locust ended before it started
            if not started.exists():
                self.fault.error = "the load never started"
                return
            if self.started_event.wait(self.opts.fault_at):
                return
            action()
        except Exception as exc:  # reported, never a traceback in another thread
            self.fault.error = f"{type(exc).__name__}: {exc}"
            self.fault.end = self.fault.end or time.time()

    def run(self) -> dict:
        from loadtests.run import LoadOptions, environment, locust_command, run_locust

        o, s = self.opts, self.sandbox
        o.check()
        self.out.mkdir(parents=True, exist_ok=True)
        for name in ("requests.jsonl", "ledger.jsonl", "started"):
            (self.out / name).unlink(missing_ok=True)
        action = self.setup()
        load = LoadOptions("drill", users=o.users, spawn_rate=o.users, duration=o.duration,
                           out_dir=self.out, ceiling=False, think_scale=o.think_scale,
                           max_requests=o.max_requests)
        env = environment(s, load, 1) | self.env | {
            "PGO_DRILL_DIR": str(self.out), "PGO_LOAD_PERSONS": "10"}
        thread = threading.Thread(target=self._fire, args=(action, self.out / "started"),
                                  daemon=True)
        self.say(f"drill {o.name}: {o.users} users, {o.duration:.0f} s, fault on "
                 f"{self.fault.node} at +{o.fault_at:.0f} s")
        load_start = time.time()
        thread.start()
        try:
            run_locust(locust_command(self.files, load, o.users, o.duration, self.out / "flow"),
                       env, self.out / "flow.log", o.duration + 120)
        finally:
            self.started_event.set()
            thread.join(RESTART_TIMEOUT + o.fault_for + 30)
        load_end = time.time()
        records = read_jsonl(self.out / "requests.jsonl")
        ledger = read_jsonl(self.out / "ledger.jsonl")
        if not records:
            raise DrillError(f"the load sent no request; see {self.out / 'flow.log'}")
        return self.judge(records, ledger, load_start, load_end)

    def judge(self, records: list[dict], ledger: list[dict], load_start: float,
              load_end: float) -> dict:
        """The checks after the load; the report (written to ``out_dir``)."""
        from scenarios.flow import FlowError

        o, s, f = self.opts, self.sandbox, self.fault
        problems: list[str] = []
        if f.error:
            problems.append(f"fault: {f.error}")
        window = (f.start or load_end, f.end or f.start or load_end)
        measured = records
        if o.name == "vendor-bankrupt":  # its own persons' flows are meant to end
            measured = [r for r in records if r.get("pgo") != f.node]
        line = timeline(measured, load_start, load_end, window)
        if not line["recovered"]:
            problems.append("the system did not recover (no second after the fault with the "
                            f"pre-fault success rate {line['pre_fault_success_rate']:.0%})")
        data: dict = {}
        try:
            if o.name == "kill-pgo-import":
                data["imports"] = check_imports(s, ledger, self.report_xml)
            else:
                data["collects"] = check_collects(
                    s, ledger, not_as=f.node if o.name == "vendor-bankrupt" else None)
            if o.name == "vendor-bankrupt":
                data["export"] = check_export(s, ledger, f.node)
                problems += self._vendor_rules(records, ledger, data)
        except (DrillError, FlowError, httpx.HTTPError) as exc:
            problems.append(f"check failed: {exc}")
        finally:
            if o.name == "vendor-bankrupt" and f.injected:
                from sandbox import vendor

                vendor.readmit(s, f.node)
                f.notes.append(f"{f.node} readmitted as an empty vendor (drill reset)")
        lost = sum(int(v.get("lost", 0)) for v in data.values())
        lost += sum(int(v.get("exports_short", 0)) for v in data.values())
        if lost:
            problems.append(f"data lost: {lost}")
        report = {
            "drill": o.name, "description": DRILLS[o.name], "node": f.node,
            "users": o.users, "duration_s": o.duration, "fault_at_s": o.fault_at,
            "fault": {"kind": f.kind, "injected": f.injected,
                      "start_s": round(window[0] - line["origin"], 3),
                      "end_s": round(window[1] - line["origin"], 3),
                      "window_s": round(window[1] - window[0], 3), "restart_s": f.restart_s,
                      "notes": f.notes, "error": f.error, **f.details},
            "requests": {k: line[k] for k in ("requests", "failures", "pre_fault_requests",
                                               "affected", "failed", "failed_after_recovery")},
            "pre_fault_success_rate": line["pre_fault_success_rate"],
            "recovered": line["recovered"], "time_to_recover_s": line["time_to_recover_s"],
            "data": data, "data_lost": lost, "problems": problems, "ok": not problems,
            "timeline": line["seconds"],
            "files": {"json": str(self.out / "drill.json"),
                      "png": str(self.out / "timeline.png"),
                      "requests": str(self.out / "requests.jsonl"),
                      "ledger": str(self.out / "ledger.jsonl")},
        }
        plot(report, self.out / "timeline.png")
        (self.out / "drill.json").write_text(json.dumps(report, indent=2) + "\n", "utf-8")
        return report

    def _vendor_rules(self, records: list[dict], ledger: list[dict], data: dict) -> list[str]:
        """vendor-bankrupt: the vendor's requests after the bankruptcy are answered (no dropped
        connection, no 500), and flows at the other vendors did not fail."""
        f = self.fault
        vendor_after = [r for r in records if r.get("type") != FLOW and r["t"] >= f.start
                        and (r["node"] == f.node or r.get("pgo") == f.node)]
        vendor_flows = [r for r in records if r.get("type") == FLOW
                        and r["name"] == f"collect at {f.node}"]
        unclean = [r for r in vendor_after if r["status"] in (0, 500)]
        others = [r for r in records if r.get("type") == FLOW
                  and r["name"].startswith("collect at ") and r["name"] != f"collect at {f.node}"]
        other_failed = sum(1 for r in others if not r["ok"])
        data["vendor"] = {"requests_after_bankruptcy": len(vendor_after),
                          "refused_cleanly": sum(1 for r in vendor_after
                                                 if 400 <= r["status"] < 500),
                          "unclean": len(unclean),
                          "vendor_flows_before": sum(1 for r in vendor_flows
                                                     if r["t"] < f.start and r["ok"]),
                          "vendor_flows_failed_after": sum(1 for r in vendor_flows
                                                           if r["t"] >= f.start
                                                           and not r["ok"]),
                          "other_vendor_flows": len(others),
                          "other_vendor_flows_failed": other_failed}
        problems = []
        if unclean:
            problems.append(f"{len(unclean)} requests at {f.node} ended uncleanly (dropped or "
                            "500) after the bankruptcy")
        if other_failed:
            problems.append(f"{other_failed} flows at other vendors failed")
        if not data["vendor"]["vendor_flows_before"]:
            problems.append(f"no person collected at {f.node} before the bankruptcy: nothing "
                            "shows how its flows end")
        if not others:
            problems.append("no flows at other vendors ran: nothing shows they were unaffected")
        return problems


def plot(report: dict, path: Path) -> None:
    """The PNG timeline: requests/s, failures/s and p95 latency per second, the fault window
    shaded, the restart (or recovery) marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = report["timeline"]
    xs = [s["at_s"] for s in seconds]
    fig, axes = plt.subplots(3, 1, figsize=(9, 6.5), sharex=True)
    axes[0].bar(xs, [s["requests"] - s["failures"] for s in seconds], width=0.9, align="edge",
                color="#4c9f70", label="ok")
    axes[0].bar(xs, [s["failures"] for s in seconds], width=0.9, color="#c0392b",
                bottom=[s["requests"] - s["failures"] for s in seconds], label="failed")
    axes[0].set_ylabel("requests/s")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[1].bar(xs, [s["failures"] for s in seconds], width=0.9, align="edge", color="#c0392b")
    axes[1].set_ylabel("failures/s")
    axes[2].plot(xs, [s["p95_ms"] for s in seconds], color="#2c3e50", marker=".")
    axes[2].set_ylabel("p95 ms")
    axes[2].set_xlabel("seconds since the load started")
    fault = report["fault"]
    for ax in axes:
        ax.axvspan(fault["start_s"], max(fault["end_s"], fault["start_s"] + 0.2),
                   color="#f39c12", alpha=0.25)
        if fault.get("restart_s") is not None:
            ax.axvline(fault["end_s"], color="#8e44ad", linestyle="--")
        if report["time_to_recover_s"] is not None:
            ax.axvline(fault["start_s"] + report["time_to_recover_s"], color="#27ae60",
                       linestyle=":")
    restart = (f", restart {fault['restart_s']:.2f} s" if fault.get("restart_s") is not None
               else "")
    recovery = (f"recovered after {report['time_to_recover_s']:.1f} s"
                if report["recovered"] else "NOT recovered")
    fig.suptitle(f"drill {report['drill']} on {report['node']}: fault window shaded{restart}; "
                 f"{recovery}; data lost {report['data_lost']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(sandbox: Running, opts: DrillOptions, say: Say = print) -> dict:
    """Run one drill; the report (also written to ``opts.out_dir``)."""
    return Drill(sandbox, opts, say).run()
