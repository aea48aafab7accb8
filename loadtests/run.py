"""Run Locust headless against the running sandbox, then the ceiling, and summarise both.

The control-plane side of ``pgo-sandbox load`` (sandbox/load_cli.py is only its CLI). Locust
runs in a child process (gevent patches everything it imports), one module per flow; the ceiling
endpoint is a child uvicorn process on a free 127.0.0.1 port. Every run is bounded: users,
duration, a request budget, and a hard deadline on each child. With ``containers`` the master,
the workers and the ceiling endpoint are containers on the sandbox's own network instead
(sandbox/runtime/load_containers.py); the reports and the summary are the same.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath

import httpx

from loadtests import soak
from loadtests.soak import Sampler
from loadtests.summary import summarise
from sandbox.state import Running

HERE = Path(__file__).resolve().parent
FLOWS: dict[str, str] = {
    "collect": "collect.py",        # authorize -> DigiD -> consent -> token -> every search
    "longlived": "longlived.py",    # long-lived consent, refresh_token, re-collect
    "inspection": "inspection.py",  # Mijn Gezondheidsoverzicht
    "registry": "registry.py",      # nodes polling the four lists
    "search": "search.py",          # one BgZ search at saturation (the ceiling comparison)
    "pgo": "pgo.py",                # collect through the sandbox's own PGO
    "share": "share.py",            # Delen: write to a provider
    "portability": "portability.py",  # mass export of portability reports (bankruptcy)
    "mixed": "locustfile.py",       # a weighted mix of the person-facing flows
}
MAX_USERS = 5000
MAX_DURATION = 4 * 3600
DEFAULT_MAX_REQUESTS = 2_000_000


class LoadError(RuntimeError):
    """The run could not be started or did not finish."""


@dataclass
class LoadOptions:
    flow: str  # one of FLOWS, or several joined by commas
    users: int = 10
    spawn_rate: float = 5.0
    duration: float = 60.0
    out_dir: Path = Path("load-reports")  # the CLI passes <state>/load-reports/<flow>-<time>
    workers: int = 0
    shape: str | None = None  # "morning"
    ceiling: bool = True
    ceiling_users: int | None = None  # default: min(users, 100)
    ceiling_duration: float | None = None  # default: min(duration, 20)
    think_scale: float = 1.0
    max_requests: int = DEFAULT_MAX_REQUESTS
    services: str = "48,63"
    window: float | None = None  # soak: per-window statistics and node samples (soak.py)
    containers: bool = False  # master and `workers` workers as containers (docker runtimes)
    extra_env: dict[str, str] = field(default_factory=dict)

    def flows(self) -> list[str]:
        names = [f.strip() for f in self.flow.split(",") if f.strip()]
        unknown = [f for f in names if f not in FLOWS]
        if not names or unknown:
            raise LoadError(f"unknown flow {','.join(unknown) or self.flow!r}; "
                            f"known: {', '.join(FLOWS)}")
        return names

    def check(self) -> None:
        if not 1 <= self.users <= MAX_USERS:
            raise LoadError(f"--users must be 1..{MAX_USERS}")
        if not 0 < self.duration <= MAX_DURATION:
            raise LoadError(f"--duration must be 1..{MAX_DURATION} s")
        if not 0 < self.spawn_rate <= 1000:
            raise LoadError("--spawn-rate must be in (0, 1000]")
        if not 0 <= self.workers <= (os.cpu_count() or 1) * 4:
            raise LoadError("--workers must be 0..4 x cores")
        if not 0 < self.max_requests <= 50_000_000:
            raise LoadError("--max-requests must be 1..50,000,000")
        if self.shape not in (None, "morning"):
            raise LoadError("--shape: only 'morning'")
        if self.window is not None and not 5 <= self.window <= self.duration:
            raise LoadError("--window must be 5 s .. --duration")
        if self.containers and self.workers < 1:
            raise LoadError("--worker-containers runs --workers N containers: give N >= 1")
        self.flows()


def serves_tls(sandbox: Running) -> bool:
    """Whether the nodes serve HTTPS, to this machine or inside their network."""
    return any(a.startswith("https://") for a in sandbox.info.addresses.values()) or any(
        a.startswith("https://") for a in sandbox.config.addresses.values())


def acting_nodes(sandbox: Running, flows: list[str]) -> list[str]:
    """The hostnames whose certificates the users present: every PGO (the flows' back-end
    picks one per visit), and the DVAs for the registry flow's list polling."""
    roles = ("dvp", "dva") if "registry" in flows or "mixed" in flows else ("dvp",)
    return [n.hostname for n in sandbox.topology.nodes if n.role in roles]


def check_tls(sandbox: Running, flows: list[str]) -> None:
    """Against a sandbox that serves HTTPS, the users need its CA bundle and the certificate
    and key of every node they act as (``<state>/pki``, loadtests.mtls): refuse the run
    before it starts when this machine lacks one, instead of thousands of failed requests."""
    if not serves_tls(sandbox):
        return
    from loadtests.mtls import SandboxPki, TlsSetupError, check_pki

    try:
        check_pki(SandboxPki(sandbox.state_dir / "pki"), acting_nodes(sandbox, flows))
    except TlsSetupError as exc:
        raise LoadError(str(exc)) from None


def probe_client(sandbox: Running) -> httpx.Client:
    """The control plane's client for the checks before a run: over TLS it presents the
    first PGO's certificate, as the list download is a back channel the registry gates."""
    from simulators.common.http import ResolvingTransport, sync_client

    if not serves_tls(sandbox):
        return sync_client(sandbox.info.addresses, timeout=10)
    from loadtests.mtls import SandboxPki

    context = SandboxPki(sandbox.state_dir / "pki").client_context(
        sandbox.topology.dvps[0].hostname)
    return httpx.Client(transport=ResolvingTransport(sandbox.info.addresses, verify=context),
                        timeout=10)


def availability(sandbox: Running, flows: list[str]) -> dict[str, str]:
    """Flows whose server side this sandbox does not have yet, with the reason."""
    from simulators.common.lists import PATHS, parse_list
    from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN

    missing: dict[str, str] = {}
    probes = {"portability": "/api/persons/load-probe/portability",
              "share": "/persons/load-probe/share?provider=x&service=52"}
    dvp = sandbox.topology.dvps[0].id
    with probe_client(sandbox) as client:
        for flow in flows:
            if flow in probes:
                r = client.get(sandbox.url(dvp, probes[flow]))
                if r.status_code == 404 and r.json().get("detail") == "Not Found":
                    missing[flow] = f"the DVP has no {probes[flow].split('?')[0]} route"
    if "share" in flows and "share" not in missing:
        with probe_client(sandbox) as client:
            r = client.get(sandbox.url("registry", PATHS["zal"]), params={"api": "1"})
        zal = parse_list("zal", r.content)[1] if r.status_code == 200 else {}
        if not any(getattr(GEGEVENSDIENSTEN.get(s), "is_share", False)
                   for services in zal.values() for s in services):
            missing["share"] = "no provider offers a share gegevensdienst (52/53) on the ZAL"
    return missing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop a child we started (its own process group), gently first."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


class CeilingServer:
    """The bare endpoint in a child process, for the length of a ``with`` block."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> CeilingServer:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "loadtests.ceiling_app", "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.__exit__()
        raise LoadError(f"the ceiling endpoint did not start; see {self.log}")

    def __exit__(self, *_: object) -> None:
        if self.proc is not None:
            _stop(self.proc)


AUTOQUIT_SECONDS = 10  # --autostart: the web UI stays this long after the run, then exits


def locust_command(files: list[Path], opts: LoadOptions, users: int, duration: float,
                   prefix: Path | None, web_port: int | None = None,
                   autostart: bool = False) -> list[str]:
    """Locust's command line. With ``web_port`` the web UI's form is pre-filled with the
    users, spawn rate and run time (Locust reads ``-u``/``-r``/``-t`` as the form's values);
    ``autostart`` starts the run at once, stops it after the run time and writes the same
    reports as a headless run under ``prefix``."""
    return [sys.executable, "-m", "locust", "-f", ",".join(str(f) for f in files),
            *locust_args(opts, users, duration, prefix, web_port, autostart)]


def locust_args(opts: LoadOptions, users: int, duration: float, prefix: PurePath | None,
                web_port: int | None = None, autostart: bool = False) -> list[str]:
    """Locust's options after ``-f``: what a local run and a containerised master share."""
    cmd = ["-u", str(users), "-r", str(opts.spawn_rate), "--loglevel", "WARNING",
           "--exit-code-on-error", "0", "--stop-timeout", "5"]
    if web_port is not None:
        cmd += ["--web-host", "127.0.0.1", "--web-port", str(web_port),
                "-t", f"{max(1, round(duration))}s"]
        if autostart:
            cmd += ["--autostart", "--autoquit", str(AUTOQUIT_SECONDS)]
            if prefix is not None:
                cmd += ["--csv", str(prefix), "--html", f"{prefix}.html"]
    else:
        cmd += ["--headless", "--only-summary", "-t", f"{max(1, round(duration))}s",
                "--csv", str(prefix), "--html", f"{prefix}.html", "--json-file", str(prefix)]
    if opts.workers:
        cmd += ["--processes", str(opts.workers)]
    return cmd


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_locust(cmd: list[str], env: dict[str, str], log: Path, deadline: float) -> int:
    """Run one Locust child to the end (or the deadline); its output goes to ``log``.

    The child has its own process group, so a SIGTERM to this command (a CI timeout, `kill`)
    is turned into the same clean stop as Ctrl-C: no Locust is left running.
    """
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env, start_new_session=True)
            try:
                return proc.wait(deadline)
            except subprocess.TimeoutExpired:
                _stop(proc)
                raise LoadError(f"Locust did not finish within {deadline:.0f} s; see {log}") \
                    from None
            except KeyboardInterrupt:
                _stop(proc)
                raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def environment(sandbox: Running, opts: LoadOptions, processes: int) -> dict[str, str]:
    return os.environ | {
        "PGO_LOAD_STATE": str(sandbox.state_dir),
        "PGO_LOAD_THINK_SCALE": str(opts.think_scale),
        "PGO_LOAD_MAX_REQUESTS": str(max(1, opts.max_requests // max(1, processes))),
        "PGO_LOAD_USERS": str(opts.users),
        "PGO_LOAD_SPAWN_RATE": str(opts.spawn_rate),
        "PGO_LOAD_DURATION": str(opts.duration),
        "PGO_LOAD_SERVICES": opts.services,
    } | opts.extra_env


def flow_files(opts: LoadOptions) -> list[Path]:
    files = [HERE / FLOWS[f] for f in opts.flows()]
    if opts.shape == "morning":
        files.append(HERE / "shape.py")
    if opts.window:
        files.append(HERE / "windows.py")
    return files


def _fleet(sandbox: Running, opts: LoadOptions) -> AbstractContextManager:
    """The containers of a ``--worker-containers`` run (image built or found, network found),
    or a do-nothing context for a run of processes here."""
    if not opts.containers:
        return nullcontext()
    from docker.errors import DockerException

    from sandbox.runtime.load_containers import LoadContainerError, LoadContainers

    try:
        return LoadContainers(sandbox, opts.out_dir, opts.workers)
    except (LoadContainerError, DockerException, RuntimeError) as exc:
        raise LoadError(str(exc)) from exc


def _phase(fleet: object, name: str, files: list[Path], opts: LoadOptions, users: int,
           duration: float, env: dict[str, str]) -> None:
    """One Locust run writing ``<out>/<name>*``: a child process here, or (``fleet``) a master
    and workers as containers, each with a hard deadline of the duration + 2 minutes."""
    out, deadline = opts.out_dir, duration + 120
    if fleet is None:
        run_locust(locust_command(files, opts, users, duration, out / name), env,
                   out / f"{name}.log", deadline)
        return
    from sandbox.runtime.load_containers import REPORTS_IN_CONTAINER, LoadContainerError

    args = locust_args(replace(opts, workers=0), users, duration, REPORTS_IN_CONTAINER / name)
    try:
        fleet.run_phase(name, [f.name for f in files], args, env, deadline)  # type: ignore[attr-defined]
    except LoadContainerError as exc:
        raise LoadError(str(exc)) from exc


def run(sandbox: Running, opts: LoadOptions,
        say: Callable[[str], None] = print) -> dict:
    """The flow phase, then the ceiling phase (same users and workers); returns the summary."""
    opts.check()
    if opts.containers:  # before anything else: a local sandbox is refused at once
        from sandbox.runtime.load_containers import refuse_reason

        reason = refuse_reason(sandbox)
        if reason:
            raise LoadError(reason)
        opts = replace(opts, out_dir=opts.out_dir.resolve())  # bind-mounted: absolute
    check_tls(sandbox, opts.flows())
    missing = availability(sandbox, opts.flows())
    if missing:
        raise LoadError("; ".join(f"{f}: not available in this sandbox ({why})"
                                  for f, why in missing.items()))
    out = opts.out_dir
    out.mkdir(parents=True, exist_ok=True)
    env = environment(sandbox, opts, opts.workers or 1)
    sampler = None
    if opts.window:
        (out / "windows.jsonl").unlink(missing_ok=True)
        env |= {"PGO_LOAD_WINDOW_S": str(opts.window),
                "PGO_LOAD_WINDOWS_FILE": str(out / "windows.jsonl")}
        if sandbox.info.runtime == "local":  # per-process samples need the nodes' pids
            sampler = Sampler(sandbox.state_dir).start()
    where = ("worker containers on the sandbox's network" if opts.containers
             else "worker processes")
    with _fleet(sandbox, opts) as fleet:  # containers removed at the end, also on Ctrl-C
        say(f"flow {opts.flow}: {opts.users} users, {opts.spawn_rate}/s, "
            f"{opts.duration:.0f} s"
            + (f", {opts.workers} {where}" if opts.workers else "")
            + (", morning shape" if opts.shape else ""))
        try:
            _phase(fleet, "flow", flow_files(opts), opts, opts.users, opts.duration, env)
        finally:
            samples = sampler.stop() if sampler else []
        if not (out / "flow.json").exists():
            raise LoadError(f"Locust wrote no statistics; see {out / 'flow.log'}")
        ceiling_stats = None
        c_users = opts.ceiling_users or min(opts.users, 100)
        if opts.ceiling:
            c_duration = opts.ceiling_duration or min(opts.duration, 20.0)
            say(f"ceiling: bare ASGI endpoint, {c_users} users, {c_duration:.0f} s")
            with (fleet.ceiling() if fleet is not None
                  else CeilingServer(out / "ceiling-server.log")) as server:
                url = server if isinstance(server, str) else server.url
                c_opts = replace(opts, users=c_users, spawn_rate=max(opts.spawn_rate, c_users),
                                 duration=c_duration)
                _phase(fleet, "ceiling", [HERE / "ceiling.py"], c_opts, c_users, c_duration,
                       env | {"PGO_LOAD_CEILING_URL": url})
            ceiling_stats = out / "ceiling.json"
    summary = summarise(opts.flow, opts.users, out / "flow.json", ceiling_stats, c_users)
    if opts.window:
        summary["soak"] = soak_summary(out, opts.window, samples)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def soak_summary(out: Path, window: float, samples: list[dict]) -> dict:
    """The soak part of a summary: per window the load and the nodes, and what kept growing
    (the node samples go to ``samples.json`` beside it)."""
    path = out / "windows.jsonl"
    lines = path.read_text("utf-8").splitlines() if path.exists() else []
    (out / "samples.json").write_text(json.dumps(samples) + "\n", encoding="utf-8")
    return {"window_s": window, "sampled": bool(samples),
            "windows": soak.windows([json.loads(line) for line in lines if line], samples),
            "growth": soak.growth(samples)}


def readable(error: str, limit: int = 240) -> str:
    """A failure as one terminal line: an error page quoted in it reduced to its words
    (``authorize answered 400: Er ging iets mis ...``), not its markup and style sheet."""
    text = error.replace("\\n", " ")
    text = re.sub(r"<(style|script)\b.*?(</\1>|$)", " ", text, flags=re.S | re.I)
    text = re.sub(r"<!doctype[^>]*>", " ", text, flags=re.I)
    text = re.sub(r"<[^>]*>?", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


def failure_reasons(prefix: Path, limit: int = 10) -> list[dict]:
    """The most frequent failures of a run, from Locust's ``<prefix>_failures.csv``: what a
    failed ``load`` prints on the terminal (e.g. a DVA refusing a vendor that is off the OCL),
    most occurrences first."""
    path = prefix.with_name(prefix.name + "_failures.csv")
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = [{"occurrences": int(r.get("Occurrences") or 0), "method": r.get("Method", ""),
                 "name": r.get("Name", ""), "error": readable(r.get("Error") or "")}
                for r in csv.DictReader(f)]
    return sorted(rows, key=lambda r: -r["occurrences"])[:limit]


def web(sandbox: Running, opts: LoadOptions, port: int, autostart: bool = False) -> int:
    """Locust's web UI on 127.0.0.1:port with the flow loaded and the form pre-filled with
    --users, --spawn-rate and --duration; runs until Ctrl-C or the deadline (duration + 1 h),
    with ``autostart`` until the run ends. Users, spawn rate and the request budget are
    bounded as headless runs."""
    opts.check()
    if opts.containers:
        raise LoadError("the web UI runs here: --worker-containers runs headless only")
    check_tls(sandbox, opts.flows())
    env = environment(sandbox, opts, opts.workers or 1)
    cmd = locust_command(flow_files(opts), opts, opts.users, opts.duration,
                         opts.out_dir / "flow", port, autostart)
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return run_locust(cmd, env, opts.out_dir / "web.log", opts.duration + 3600)
    except KeyboardInterrupt:
        return 0
