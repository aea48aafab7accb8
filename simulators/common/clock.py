"""The sandbox clock: wall time plus an offset that tests and demos can move forward.

Every role takes a ``Clock`` from its factory (``create_app(..., clock=...)``), so a test can
hand it a ``ManualClock`` and move time without touching files. In a running sandbox each node
gets a ``SandboxClock``: the offset lives in ``clock.json`` in the state directory so every node
agrees on it (``pgo-sandbox clock advance 200d``); it is re-read only when the file changes.

A node looks at the file (one ``stat``) at most every ``RECHECK_SECONDS``, not on every clock
read: a search checks its token against the clock, and the ``stat`` was the largest single cost
of a warm search that is the node's own (~4 µs of ~50 over HTTP, issue 17). So whoever moves the
clock waits ``RECHECK_SECONDS`` before saying it moved (``settle``), and a move made in a
process (``jump``) is seen by that process's clocks at once (``reread``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Protocol

from simulators.common.config import write_atomic


class Clock(Protocol):
    """What a role asks of time: seconds since the epoch, sandbox offset included."""

    def now(self) -> float: ...


RECHECK_SECONDS = 0.05  # a node looks at clock.json at most this often
SETTLE_SECONDS = RECHECK_SECONDS * 1.2  # after a move, every node has looked again
_generation = 0  # moved by reread(): every clock of this process looks again at its next read


def reread() -> None:
    """Make every ``SandboxClock`` of this process look at its file at its next read (a move
    made here, or a test that writes ``clock.json`` itself)."""
    global _generation
    _generation += 1


def settle() -> None:
    """Wait until every node sharing the state directory has looked at ``clock.json`` again:
    after it, the move is everyone's time."""
    time.sleep(SETTLE_SECONDS)


class SandboxClock:
    """Wall time plus the offset in ``<state_dir>/clock.json`` (no file: no offset), looked at
    at most every ``RECHECK_SECONDS`` (see the module's docstring)."""

    def __init__(self, state_dir: Path | None) -> None:
        self.path = Path(state_dir) / "clock.json" if state_dir is not None else None
        self._signature: tuple | None = None
        self._offset = 0.0
        self._next_look = 0.0  # time.monotonic() of the next stat
        self._generation = _generation

    def offset(self) -> float:
        if self.path is None:
            return 0.0
        now = time.monotonic()
        if now < self._next_look and self._generation == _generation:
            return self._offset
        self._next_look, self._generation = now + RECHECK_SECONDS, _generation
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._signature, self._offset = None, 0.0
            return 0.0
        # A copy into a container volume carries a whole-second mtime, so two changes within
        # one second look alike by mtime; the inode change time (set by the kernel, in ns)
        # does not.
        signature = (st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size)
        if signature != self._signature:
            try:
                data = json.loads(self.path.read_text("utf-8"))
                self._offset = float(data.get("offset_seconds", 0.0))
                self._signature = signature
            except (ValueError, OSError):
                self._next_look = 0.0  # a half-written file is read again at the next call
        return self._offset

    def now(self) -> float:
        return time.time() + self.offset()


def jump(state_dir: Path, seconds: float) -> float:
    """Move the sandbox clock of every node sharing ``state_dir`` by ``seconds`` (the
    ``clock_jump`` fault; ``pgo-sandbox clock advance`` does the same from the CLI). Returns
    the new offset; an offset of 0 removes the file. This process's clocks see it at once;
    the caller waits (``settle``) before telling anyone else it moved."""
    path = Path(state_dir) / "clock.json"
    try:
        current = float(json.loads(path.read_text("utf-8")).get("offset_seconds", 0.0))
    except (FileNotFoundError, ValueError):
        current = 0.0
    offset = current + seconds
    if offset:
        write_atomic(path, json.dumps({"offset_seconds": offset}).encode())
    else:
        path.unlink(missing_ok=True)
    reread()
    return offset


class ManualClock:
    """A clock a test moves by hand: ``clock.advance(3600)``."""

    def __init__(self, start: float | None = None) -> None:
        self.t = time.time() if start is None else start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


# The process-wide clock of a node that has not been given one yet. Roles move to the
# injected clock (create_app(..., clock=...)); serve.py configures this one for the rest.
_default = SandboxClock(None)


def configure(state_dir: Path) -> None:
    global _default
    _default = SandboxClock(state_dir)


def default() -> SandboxClock:
    return _default


def offset() -> float:
    return _default.offset()


def now() -> float:
    return _default.now()
