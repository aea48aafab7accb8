"""Shared fixtures: the official MedMij files from ../shared, and a running local sandbox.

Every test that runs real node processes is marked ``e2e`` here, at collection: it uses the
``sandbox`` fixture, or it (or one of its fixtures) starts a runtime itself, or it needs a
Docker engine (``container``). ``-m "not e2e"`` is then the in-process suite (roles built with
``create_app`` and injected fakes), ``-m e2e`` the end-to-end one.
"""

from __future__ import annotations

import fcntl
import inspect
import os
import random
import re
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sandbox.runtime import port_free
from sandbox.runtime.local import LocalRuntime
from sandbox.state import Running, running
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


@contextmanager
def medmij_profile_sandbox(state_dir: Path, attempts: int = 3) -> Generator[Running, None, None]:
    """A local sandbox in the ``medmij`` profile, down again afterwards, on a /24 of
    127.0.0.0/8 that no other test picks (127.77/16 is the CLI's default); ``up`` is tried
    on another /24 when an address was taken."""
    runtime = LocalRuntime(state_dir)
    for attempt in range(attempts):
        network = f"127.{random.randint(150, 250)}.{random.randint(0, 255)}.0/24"
        try:
            runtime.up(load_topology(), timeout=90, profile="medmij", network=network)
            break
        except RuntimeError as exc:
            if attempt == attempts - 1 or "in use" not in str(exc):
                raise
    try:
        yield running(state_dir)
    finally:
        runtime.down()


@pytest.fixture
def anyio_backend() -> str:
    """The in-process role tests run on asyncio (as uvicorn serves the nodes)."""
    return "asyncio"


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


# --- the e2e marker -------------------------------------------------------------------------
TESTS = ROOT / "tests"
E2E_FIXTURES = {"sandbox"}
# how a test starts a runtime of its own: the helper above, a runtime's ``up``, the CLI's ``up``
# through Typer (``invoke(app, ["up", ...])``, unless ``--runtime`` names one that starts no
# nodes: refused or a fake), or the installed command stopped with ``down`` afterwards
STARTS_A_RUNTIME = re.compile(
    r"\bup_on_free_ports\(|\bmedmij_profile_sandbox\(|\bruntime\.up\("
    r"|\.invoke\([\w.]+,\s*\[\s*\"up\"(?![^\]]*\"--runtime\",\s*\"(?!local\"|docker\"))"
    r"|\[\s*\"down\"\s*\]")


def _source(func: object) -> tuple[Path, str]:
    """Where a function is defined and its text ("" for what inspect cannot read)."""
    try:
        return Path(inspect.getsourcefile(func) or "").resolve(), inspect.getsource(func)
    except (OSError, TypeError):
        return Path(), ""


def _starts_a_runtime(item: pytest.Item) -> bool:
    """The test function, or a fixture of ours it uses, starts nodes."""
    functions = [getattr(item, "function", None)]
    for defs in item._fixtureinfo.name2fixturedefs.values():
        functions += [d.func for d in defs]
    for func in filter(None, functions):
        path, text = _source(func)
        if path.is_relative_to(TESTS) and STARTS_A_RUNTIME.search(text):
            return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: runs real node processes (set by tests/conftest.py)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if (E2E_FIXTURES & set(getattr(item, "fixturenames", ()))
                or item.get_closest_marker("container") or _starts_a_runtime(item)):
            item.add_marker(pytest.mark.e2e)
    # container tests last (in their own order): .ci/run prepares the engine and images in the
    # background while the rest runs (tests/sandbox/runtime/test_docker.py waits for it)
    items.sort(key=lambda item: item.get_closest_marker("container") is not None)
