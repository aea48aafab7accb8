"""The sandbox clock: wall time plus an offset that tests and demos can move forward.

The offset lives in ``clock.json`` in the state directory so every node agrees on it; it is
re-read when the file changes (and for two seconds after, see ``offset``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

_path: Path | None = None
_mtime: float | None = None
_offset = 0.0


def configure(state_dir: Path) -> None:
    global _path
    _path = state_dir / "clock.json"


def offset() -> float:
    global _mtime, _offset
    if _path is None:
        return 0.0
    try:
        mtime = os.stat(_path).st_mtime
    except FileNotFoundError:
        _mtime, _offset = None, 0.0
        return 0.0
    # Re-read when the file changed, and while it is fresh: a copy into a container volume
    # carries whole-second mtimes, so two changes within a second look alike by mtime alone.
    if mtime != _mtime or time.time() - mtime < 2.0:
        try:
            _offset = float(json.loads(_path.read_text("utf-8")).get("offset_seconds", 0.0))
            _mtime = mtime
        except (ValueError, OSError):
            pass  # a half-written file is re-read at the next call
    return _offset


def now() -> float:
    return time.time() + offset()
