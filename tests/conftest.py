"""Shared fixtures: the official MedMij files from ../shared, and a running local sandbox."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from sandbox.runtime.local import LocalRuntime
from sandbox.state import running
from sandbox.topology import load_topology

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PGO_SANDBOX_SHARED", ROOT.parent / "shared"))
MEDMIJ = SHARED / "medmij"


def free_base_port(count: int = 16) -> int:
    """A run of free ports, so parallel test sessions do not collide."""
    for base in range(19000, 29000, 50):
        ok = True
        for port in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


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
    runtime.up(load_topology(), base_port=free_base_port(), timeout=90)
    try:
        yield running(state)
    finally:
        runtime.down()
