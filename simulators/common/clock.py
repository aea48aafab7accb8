"""The sandbox clock: wall time plus an offset that tests and demos can move forward.

The offset lives in ``clock.json`` in the state directory so every node agrees on it; it is
re-read only when the file changes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

_path: Path | None = None
_mtime: tuple | None = None
_offset = 0.0


def configure(state_dir: Path) -> None:
    global _path
    _path = state_dir / "clock.json"


def offset() -> float:
    global _mtime, _offset
    if _path is None:
        return 0.0
    try:
        st = os.stat(_path)
    except FileNotFoundError:
        _mtime, _offset = None, 0.0
        return 0.0
    # A copy into a container volume carries a whole-second mtime, so two changes within one
    # second look alike by mtime; the inode change time (set by the kernel, in ns) does not.
    signature = (st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size)
    if signature != _mtime:
        try:
            _offset = float(json.loads(_path.read_text("utf-8")).get("offset_seconds", 0.0))
            _mtime = signature
        except (ValueError, OSError):
            pass  # a half-written file is re-read at the next call
    return _offset


def now() -> float:
    return time.time() + offset()
