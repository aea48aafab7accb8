"""Start a sandbox's nodes from one warm parent and keep them running:
``python -m simulators.launch --config sandbox.json --logs DIR node [node …]``.

The launcher forks a *supervisor* (its own session, output to ``DIR/supervisor.log``) and
waits until it reports the nodes' pids; it prints ``{"node": pid, …}`` as JSON and exits 0,
or exits 1 with the supervisor's error.

The supervisor imports every role's code and builds the population once, then forks one
process per node (before any thread or event loop exists). Each child is an ordinary node
process with its own port and log; they share the supervisor's imported code copy-on-write,
so eight nodes start in about the time of one. The supervisor stays the nodes' parent, as
Docker's restart policy would: a node that dies (a crash, a SIGKILL) is forked again from the
same warm state after a back-off that doubles while it keeps dying (``backoff``). It writes
``<state>/supervisor.json`` (its pid; per node the pid, restarts and last exit) on every
change; ``pgo-sandbox status`` reads it. SIGTERM stops the nodes and then the supervisor; a
node also gets SIGTERM when its supervisor dies (Linux ``PR_SET_PDEATHSIG``): no orphans.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from simulators.common.config import SandboxConfig, write_atomic
from simulators.common.people import population_for
from simulators.serve import ROLE_MODULES, bind_address, serve

STATUS_FILE = "supervisor.json"
SUPERVISOR_LOG = "supervisor.log"
BACKOFF_FIRST = 0.5  # seconds before the first restart of a node
BACKOFF_MAX = 10.0
STABLE_SECONDS = 30.0  # a node that ran this long has its back-off reset
STOP_SECONDS = 5.0  # SIGTERM, then SIGKILL after this long


def backoff(failures: int) -> float:
    """Seconds before restarting a node that died ``failures`` times in a row (1, 2, …)."""
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, failures - 1))


def describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.WEXITSTATUS(status)}"


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when the supervisor dies, so no node outlives it."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _child(config: SandboxConfig, node_id: str, log_path: Path, parent: int) -> None:
    os.setsid()
    _die_with_parent()
    if os.getppid() != parent:  # the supervisor died before the line above took effect
        os._exit(1)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    logging.basicConfig(level=os.environ.get("PGO_SANDBOX_LOG", "info").upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # list polling is not news
    serve(config, node_id, *bind_address(config, node_id))


def _exit_after(run: Callable[..., None], *args: object) -> NoReturn:
    """End a forked child with the exit code of ``run`` (its traceback on stderr when it
    raised), never by returning into the parent's code: ``os._exit`` skips the inherited
    atexit handlers and buffers, so both are flushed first."""
    code = 1
    try:
        run(*args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _run_child(config: SandboxConfig, node_id: str, log_path: Path, parent: int) -> NoReturn:
    """The forked node: serve, and leave with the node's own exit code and traceback (a
    failed bind is ``exit code 1`` with uvicorn's ``Errno 98`` line in the node's log)."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    _exit_after(_child, config, node_id, log_path, parent)


@dataclass
class Node:
    node_id: str
    pid: int = 0
    started: float = 0.0  # time.monotonic() of the current process's fork
    restarts: int = 0
    failures: int = 0  # deaths in a row, each within STABLE_SECONDS of its start
    last_exit: str = ""
    restart_at: float | None = None


class Supervisor:
    def __init__(self, config: SandboxConfig, node_ids: list[str], logs: Path,
                 status_path: Path) -> None:
        self.config = config
        self.logs = logs
        self.status_path = status_path
        self.nodes = {n: Node(n) for n in node_ids}
        self.stopping = False

    def spawn(self, node: Node) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            _run_child(self.config, node.node_id, self.logs / f"{node.node_id}.log", parent)
        node.pid, node.started, node.restart_at = pid, time.monotonic(), None

    def write_status(self) -> None:
        nodes = {n.node_id: {"pid": n.pid, "restarts": n.restarts, "last_exit": n.last_exit}
                 for n in self.nodes.values()}
        write_atomic(self.status_path,
                     json.dumps({"supervisor": os.getpid(), "nodes": nodes}).encode())

    def _stop(self, *_) -> None:
        self.stopping = True

    def _reap(self) -> bool:
        """Collect dead nodes and schedule their restarts; whether anything changed."""
        changed = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return changed
            if pid == 0:
                return changed
            node = next((n for n in self.nodes.values() if n.pid == pid), None)
            if node is None:
                continue
            now = time.monotonic()
            node.failures = 1 if now - node.started > STABLE_SECONDS else node.failures + 1
            node.last_exit = describe_exit(status)
            node.pid = 0
            node.restart_at = now + backoff(node.failures)
            print(f"{time.strftime('%H:%M:%S')} {node.node_id} {node.last_exit}; restart in "
                  f"{backoff(node.failures):.1f} s", flush=True)
            changed = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for node in self.nodes.values():
            self.spawn(node)
        self.write_status()
        while not self.stopping:
            changed = self._reap()
            now = time.monotonic()
            for node in self.nodes.values():
                if node.restart_at is not None and now >= node.restart_at and not self.stopping:
                    self.spawn(node)
                    node.restarts += 1
                    changed = True
            if changed:
                self.write_status()
            time.sleep(0.05)
        self.stop_nodes()

    def stop_nodes(self) -> None:
        """SIGTERM every node (its process group), SIGKILL what is left after STOP_SECONDS."""
        live = {n.pid for n in self.nodes.values() if n.pid}
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in live:
                try:
                    os.killpg(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            deadline = time.monotonic() + (STOP_SECONDS if sig == signal.SIGTERM else 2.0)
            while live and time.monotonic() < deadline:
                try:
                    pid, _ = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    live.clear()
                    break
                if pid:
                    live.discard(pid)
                else:
                    time.sleep(0.02)
            if not live:
                break
        for node in self.nodes.values():
            node.pid = 0
        self.write_status()


def _supervise(args: argparse.Namespace) -> None:
    """The supervisor process (already forked off the launcher): detach, warm up, run."""
    os.setsid()
    logs = Path(args.logs)
    fd = os.open(logs / SUPERVISOR_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    config = SandboxConfig.load(args.config)
    for role in {config.topology.node(n).role for n in args.nodes}:
        importlib.import_module(ROLE_MODULES[role])
    population_for(config)
    Supervisor(config, args.nodes, logs, Path(args.status)).run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("nodes", nargs="+")
    parser.add_argument("--config", required=True)
    parser.add_argument("--logs", required=True)
    parser.add_argument("--status", default=None,
                        help=f"where the supervisor reports (default: {STATUS_FILE} beside "
                        "the config)")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    args.status = args.status or str(Path(args.config).parent / STATUS_FILE)
    status_path = Path(args.status)
    status_path.unlink(missing_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _exit_after(_supervise, args)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            log = Path(args.logs) / SUPERVISOR_LOG
            tail = log.read_text("utf-8", errors="replace")[-3000:] if log.exists() else ""
            sys.exit(f"supervisor {describe_exit(status)} before starting the nodes:\n{tail}")
        if status_path.exists():
            report = json.loads(status_path.read_text("utf-8"))
            print(json.dumps({n: r["pid"] for n, r in report["nodes"].items()}), flush=True)
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGTERM)
    sys.exit(f"supervisor did not start the nodes within {args.timeout:.0f} s")


if __name__ == "__main__":
    main()
