"""Shared fixtures: the official MedMij files from ../shared, and a running local sandbox."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from sandbox.runtime import port_free
from sandbox.runtime.local import LocalRuntime
from sandbox.state import running
from simulators.medmij.topology import load_topology

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PGO_SANDBOX_SHARED", ROOT.parent / "shared"))
MEDMIJ = SHARED / "medmij"


PORT_LOCKS = Path(os.environ.get("PGO_SANDBOX_PORT_LOCKS", "/tmp/pgo-sandbox-port-locks"))
_held: list[int] = []  # lock file descriptors this test process holds until it exits


def free_base_port(count: int = 16) -> int:
    """A run of free ports that no other test process on this machine is handed out.

    Checking that ports are free and releasing them is not enough: another session can
    check the same range a moment later. Each range has a lock file under /tmp; the first
    process to ``flock`` it keeps it (the descriptor stays open) until it exits, so
    concurrent sessions get disjoint ranges; the ports are then checked free for programs
    that do not take part. (A program that grabs a port anyway is caught by ``up``: the node
    dies with ``Errno 98`` and ``up`` fails with it; the ``sandbox`` fixture then retries.)
    """
    PORT_LOCKS.mkdir(parents=True, exist_ok=True)
    for base in range(19000, 29000, 50):
        fd = os.open(PORT_LOCKS / f"{base}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        if all(port_free(port) for port in range(base, base + count)):
            _held.append(fd)
            return base
        os.close(fd)  # someone outside the scheme uses it: leave it alone
    raise RuntimeError("no free port range")


def up_on_free_ports(runtime: LocalRuntime, attempts: int = 3, **kwargs):
    """``runtime.up`` on a fresh range, again on another range when a port was taken
    between the check and the bind."""
    for attempt in range(attempts):
        try:
            return runtime.up(load_topology(), base_port=free_base_port(), **kwargs)
        except RuntimeError as exc:
            if attempt == attempts - 1 or not any(
                    s in str(exc) for s in ("ports in use", "address already in use",
                                            "another program", "another sandbox")):
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def medmij_dir() -> Path:
    if not MEDMIJ.is_dir():
        pytest.fail(f"the official MedMij files are expected at {MEDMIJ} (../shared/medmij)")
    return MEDMIJ


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """The default topology running as real local processes for the whole test session."""
    state = tmp_path_factory.mktemp("sandbox")
    runtime = LocalRuntime(state)
    up_on_free_ports(runtime, timeout=90)
    try:
        yield running(state)
    finally:
        runtime.down()
