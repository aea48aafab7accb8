"""The sandbox clock of a running node (``SandboxClock``): the offset in ``clock.json``, looked
at no more than every ``RECHECK_SECONDS`` (a ``stat`` per token check was the largest cost of a
warm search that is the node's own, issue 17), yet a move is everyone's time once its maker
returns. One test per rule."""

from __future__ import annotations

import json
import os

from simulators.common import clock
from simulators.common.clock import RECHECK_SECONDS, SandboxClock, jump, settle


def write_offset(state_dir, seconds: float) -> None:
    """What another process (the CLI, a kubelet, a container copy) does to ``clock.json``."""
    (state_dir / "clock.json").write_text(json.dumps({"offset_seconds": seconds}))


def test_a_node_looks_at_the_file_at_most_every_recheck_interval(tmp_path, monkeypatch):
    """Rule: clock reads within ``RECHECK_SECONDS`` of a look cost no system call."""
    write_offset(tmp_path, 60)
    looks: list[str] = []
    real_stat = os.stat
    monkeypatch.setattr(clock.os, "stat", lambda path: looks.append(path) or real_stat(path))
    sandbox_clock = SandboxClock(tmp_path)
    for _ in range(1000):
        assert sandbox_clock.offset() == 60
    assert len(looks) <= 2  # 1000 reads take far less than RECHECK_SECONDS here


def test_after_settle_every_clock_has_the_move_made_elsewhere(tmp_path):
    """Rule: a clock looks at the file again once ``RECHECK_SECONDS`` have passed, so whoever
    moves the clock and then ``settle``s may say it moved for every node."""
    sandbox_clock = SandboxClock(tmp_path)
    assert sandbox_clock.offset() == 0
    write_offset(tmp_path, 3600)
    settle()
    assert sandbox_clock.offset() == 3600
    (tmp_path / "clock.json").unlink()
    settle()
    assert sandbox_clock.offset() == 0


def test_a_jump_is_seen_at_once_by_the_clocks_of_its_own_process(tmp_path):
    """Rule: ``jump`` (the clock_jump fault, run in a node) is this process's time at once,
    without waiting for the next look."""
    sandbox_clock = SandboxClock(tmp_path)
    assert sandbox_clock.offset() == 0
    jump(tmp_path, 86400)
    assert sandbox_clock.offset() == 86400
    jump(tmp_path, -86400)
    assert sandbox_clock.offset() == 0


def test_settle_waits_longer_than_one_recheck_interval():
    """Rule: ``settle`` outlasts a whole interval (a clock that looked just before the move
    looks again before it returns)."""
    assert clock.SETTLE_SECONDS > RECHECK_SECONDS
