"""Raw reads of the vendor's files for the curator, done in a child process.

Why a child: POSIX drops every ``fcntl`` lock a process holds on a file as soon as that
process closes *any* descriptor of the file. SQLite's locks on a database and on its ``-shm``
live in the node process; a raw ``open()``/``close()`` there (to sniff a file's header, or to
search its bytes for identifiers left behind) silently drops them. The next connection from
another process (a test, a CLI, a drill's check) then finds no lock, takes the WAL index for
its own and rebuilds it under the node, whose next read fails with "disk I/O error" (SQLite,
"How To Corrupt An SQLite Database File", section 2.2). This is what made the settlement answer
500 in CI now and then. A child process's descriptors are its own: closing them leaves the
node's locks alone.

Two operations, both given and answered as JSON on stdin/stdout:
``{"op": "sqlite", "paths": [...]}`` -> the paths whose first 16 bytes are SQLite's magic;
``{"op": "find", "files": [...], "needles": [[value, kind], ...], "root": dir}`` -> every
(file, identifier) hit, in the raw bytes or URL-encoded (as log paths carry them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

SQLITE_MAGIC = b"SQLite format 3\x00"
TIMEOUT_SECONDS = 300


def _sqlite(paths: list[str]) -> list[str]:
    found = []
    for name in paths:
        try:
            with open(name, "rb") as fh:
                if fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
                    found.append(name)
        except OSError:  # a directory, or gone
            continue
    return found


def _find(files: list[str], needles: list[list[str]], root: str) -> list[dict]:
    forms = [(value, kind, {value.encode(), quote(value, safe="").encode()})
             for value, kind in needles]
    base = Path(root)
    hits = []
    for name in files:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if not data:
            continue
        shown = str(path.relative_to(base)) if path.is_relative_to(base) else path.name
        hits += [{"file": shown, "held_in": kind, "value": value}
                 for value, kind, encoded in forms if any(f in data for f in encoded)]
    return hits


def _in_child(request: dict) -> object:
    """Run one operation in a fresh interpreter (this module's ``main``)."""
    done = subprocess.run([sys.executable, "-m", __name__], input=json.dumps(request),
                          capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    if done.returncode != 0:
        raise OSError(f"file scan failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def sqlite_files(paths: list[Path]) -> list[Path]:
    """The SQLite databases among ``paths``, by their header, read outside this process."""
    if not paths:
        return []
    return [Path(p) for p in _in_child({"op": "sqlite", "paths": [str(p) for p in paths]})]


def find(files: list[Path], identifiers: dict[str, str], root: Path) -> list[dict]:
    """Every (file, identifier) hit in the files' raw bytes, read outside this process."""
    if not files or not identifiers:
        return []
    return _in_child({"op": "find", "files": [str(p) for p in files],
                      "needles": [[v, k] for v, k in identifiers.items()], "root": str(root)})


def main() -> None:
    request = json.load(sys.stdin)
    if request["op"] == "sqlite":
        answer: object = _sqlite(request["paths"])
    else:
        answer = _find(request["files"], request["needles"], request["root"])
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
