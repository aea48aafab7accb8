"""``population export`` at speed: worker processes over index ranges, resumable (issue 17 item 6).

The people 0..n-1 are cut into chunks of ``chunk`` consecutive indices. A worker renders one
chunk with orjson into its own part files, ``parts/<stem>/<chunk>.ndjson`` (``stem`` is
``<provider>-<gegevensdienst>``), written to a ``.tmp`` name, fsynced and then renamed; only then
does the parent append the chunk to ``done.ndjson`` (fsynced). So a killed run never counts a
half chunk, and a rerun with the same parameters skips the chunks listed there. While later
chunks render, the parent joins each stem's parts, in chunk order, into ``<stem>.ndjson.tmp``
(see ``_Joiner``), which becomes ``<stem>.ndjson`` when all are in (or, with ``concat=False``,
the parts are left as they are: ``manifest.json`` lists them in order).

Every person's lines depend only on (seed, size, providers, index), and parts are joined in index
order, so the output is byte-identical whatever the worker count or chunk size.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from simulators.population.holders import ProviderRef
from simulators.population.population import Population
from simulators.population.summary import summarize

MANIFEST = "manifest.json"
DONE = "done.ndjson"
JOINED = "joined.ndjson"  # chunks whose parts are in the fsynced <stem>.ndjson.tmp files
PARTS = "parts"
FORMAT_VERSION = 3  # bump when the bytes of an export change: a rerun must not mix versions
SUMMARIES = "summaries"
_PEOPLE_CACHED = 4  # a person is rendered (and summarised) in one go: more is never asked
_NL = orjson.OPT_APPEND_NEWLINE


class ExportError(RuntimeError):
    """An export that cannot go on (another job's directory, bad parameters)."""


@dataclass(frozen=True)
class Job:
    """What to export: these parameters are the manifest's key; a rerun must repeat them."""

    seed: int
    size: int
    providers: tuple[ProviderRef, ...]
    n: int
    fmt: str = "ndjson"  # "ndjson" | "bundle" (one JSON Bundle file per person and stem)
    chunk: int = 1000
    summaries: bool = False

    def key(self) -> dict:
        return {"version": FORMAT_VERSION, "seed": self.seed, "size": self.size,
                "providers": [asdict(p) for p in self.providers], "n": self.n,
                "format": self.fmt, "chunk": self.chunk, "summaries": self.summaries}

    def chunks(self) -> list[tuple[int, int, int]]:
        """(chunk number, first index, end index) of every chunk."""
        return [(k, lo, min(lo + self.chunk, self.n))
                for k, lo in enumerate(range(0, self.n, self.chunk))]

    def population(self) -> Population:
        """The population a worker renders from: caches for a few people, as it visits each
        person once (see ``Population``; ~4 % less CPU per person than the DVA's 2,048)."""
        return Population(self.seed, self.size, self.providers, cache=_PEOPLE_CACHED)


def default_chunk(n: int) -> int:
    """Chunks small enough to spread over workers (at most one chunk's time is left with one
    worker busy at the end) and show progress, big enough that 18 M people make a few
    thousand part files per stem, not millions."""
    return max(100, min(2000, n // 64 or 1))


@dataclass
class Done:
    """One finished chunk: the part files it wrote, with bytes and lines (resources)."""

    chunk: int
    first: int
    end: int
    files: dict[str, list[int]] = field(default_factory=dict)  # stem -> [bytes, lines]


# -- rendering ----------------------------------------------------------------------------------
def stem_of(provider: str, service: str) -> str:
    """The name of a provider's gegevensdienst in the output: ``huisartsdebrug-48``."""
    return f"{provider.split('@')[0]}-{service}"


def render_person(pop: Population, index: int, summaries: bool) -> dict[str, list[bytes]]:
    """NDJSON lines of one person, by stem, in the order the old export wrote them."""
    lines: dict[str, list[bytes]] = {}
    dumps = orjson.dumps
    for provider, service, resources in pop.records(index):
        lines[stem_of(provider, service)] = [dumps(r, option=_NL) for r in resources]
    if summaries:
        lines[SUMMARIES] = [dumps(summarize(pop, index), option=_NL)]
    return lines


def _write_ndjson_chunk(pop: Population, job: Job, out: Path, k: int, lo: int, hi: int) -> Done:
    """Render people lo..hi-1 into the chunk's ``.tmp`` parts, streaming: each stem's lines go
    out with one writev per ``_BATCH`` lines, so a chunk is never held whole in memory (holding
    ~40 MB of fresh lines cost page faults and cache misses: ~25 % more CPU per person)."""
    parts: dict[str, _Part] = {}
    try:
        for index in range(lo, hi):
            for stem, lines in render_person(pop, index, job.summaries).items():
                part = parts.get(stem)
                if part is None:
                    part = parts[stem] = _Part(part_path(out, stem, k))
                part.add(lines)
        for part in parts.values():
            part.close()
    except BaseException:
        for part in parts.values():
            part.abort()
        raise
    done = Done(k, lo, hi)
    for stem, part in parts.items():  # all parts durable before any gets the final name
        done.files[stem] = [part.size, part.lines]
    for part in parts.values():
        part.tmp.replace(part.final)
    for folder in {part.final.parent for part in parts.values()}:
        _fsync_dir(folder)
    return done


_BATCH = 256  # lines per writev: well under IOV_MAX (1024), a few hundred kB


class _Part:
    """One stem's part file of a chunk while it is written: ``<chunk>.ndjson.tmp``."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.tmp = final.with_name(final.name + ".tmp")
        final.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.pending: list[bytes] = []
        self.size = 0
        self.lines = 0

    def add(self, lines: list[bytes]) -> None:
        self.pending += lines
        if len(self.pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        self.size += _write_all(self.fd, self.pending)
        self.lines += len(self.pending)
        self.pending = []

    def close(self) -> None:
        """Write the rest, fsync, close (the rename is the caller's, once all are durable)."""
        self._flush()
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1

    def abort(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _write_bundle_chunk(pop: Population, job: Job, out: Path, k: int, lo: int, hi: int) -> Done:
    done = Done(k, lo, hi)
    summary_lines: list[bytes] = []
    for index in range(lo, hi):
        for provider, service, resources in pop.records(index):
            stem = stem_of(provider, service)
            bundle = {"resourceType": "Bundle", "type": "collection",
                      "entry": [{"resource": r} for r in resources]}
            folder = out / stem
            folder.mkdir(exist_ok=True)
            data = orjson.dumps(bundle)
            (folder / f"{index}.json").write_bytes(data)
            stats = done.files.setdefault(stem, [0, 0])
            stats[0] += len(data)
            stats[1] += 1
        if job.summaries:
            line = orjson.dumps(summarize(pop, index), option=_NL)
            stats = done.files.setdefault(SUMMARIES, [0, 0])
            stats[0] += len(line)
            stats[1] += 1
            summary_lines.append(line)
    if summary_lines:
        (out / f"{SUMMARIES}-{k:07d}.part").write_bytes(b"".join(summary_lines))
    return done


def _write_all(fd: int, lines: list[bytes]) -> int:
    """Write the lines with writev, in batches under IOV_MAX: no joined copy of a chunk."""
    total = 0
    for start in range(0, len(lines), 512):
        batch = lines[start:start + 512]
        want = sum(len(line) for line in batch)
        wrote = os.writev(fd, batch)
        if wrote < want:  # a short write (rare on regular files): finish it plainly
            rest = b"".join(batch)[wrote:]
            while rest:
                rest = rest[os.write(fd, rest):]
        total += want
    return total


def part_path(out: Path, stem: str, k: int) -> Path:
    return out / PARTS / stem / f"{k:07d}.ndjson"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- worker processes ---------------------------------------------------------------------------
_WORKER: tuple[Population, Job, Path] | None = None


def _init_worker(job: Job, out: Path) -> None:
    """Each worker builds its own population (spawn) or inherits the parent's (fork)."""
    global _WORKER
    _WORKER = (job.population(), job, out)
    # Rendering makes millions of short-lived acyclic dicts: the cyclic GC only costs time.
    gc.freeze()
    gc.disable()


def _run_chunk(spec: tuple[int, int, int]) -> Done:
    assert _WORKER is not None
    pop, job, out = _WORKER
    k, lo, hi = spec
    write = _write_bundle_chunk if job.fmt == "bundle" else _write_ndjson_chunk
    try:
        return write(pop, job, out, k, lo, hi)
    finally:
        gc.collect()


# -- the job ------------------------------------------------------------------------------------
@dataclass
class Estimate:
    people_sampled: int
    bytes_per_person: float
    seconds_per_person: float  # CPU seconds of one worker, rendering and serialising

    def total_bytes(self, n: int) -> float:
        return self.bytes_per_person * n

    def seconds(self, n: int, workers: int) -> float:
        return self.seconds_per_person * n / max(1, min(workers, os.cpu_count() or 1))


def estimate(job: Job, sample: int = 300) -> Estimate:
    """Render ``sample`` people spread over 0..n-1 in this process: bytes and time per person,
    to extrapolate before a long job starts."""
    pop = job.population()
    m = min(sample, job.n)
    indices = sorted({(k * job.n) // m for k in range(m)})
    render_person(pop, job.n - 1, job.summaries)  # one-off costs (name pools) are no rate
    total = 0
    enabled = gc.isenabled()
    gc.disable()  # as in the workers
    try:
        started = time.process_time()
        with tempfile.TemporaryFile() as sink:  # writing costs CPU too (page cache copies)
            for index in indices:
                for lines in render_person(pop, index, job.summaries).values():
                    total += _write_all(sink.fileno(), lines)
        spent = time.process_time() - started
    finally:
        if enabled:
            gc.enable()
    return Estimate(len(indices), total / len(indices), spent / len(indices))


def _read_lines(path: Path) -> Iterator[dict]:
    """The JSON lines of a log appended with ``_append_line``; a torn last line, from a kill
    while appending, is skipped."""
    if not path.exists():
        return
    for line in path.read_bytes().splitlines():
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            yield value


def _read_done(out: Path, job: Job, joined: int) -> dict[int, Done]:
    """Chunks a previous run finished: listed in done.ndjson and with their files in place, or
    (the first ``joined`` chunks) already joined, their parts deleted."""
    found: dict[int, Done] = {}
    for value in _read_lines(out / DONE):
        try:
            done = Done(**value)
        except TypeError:
            continue
        if job.fmt == "ndjson" and done.chunk >= joined and any(
                not part_path(out, stem, done.chunk).is_file()
                or part_path(out, stem, done.chunk).stat().st_size != size
                for stem, (size, _lines) in done.files.items()):
            continue
        found[done.chunk] = done
    return found


def _read_joined(out: Path) -> int:
    """How many chunks, from chunk 0 on, a previous run joined into the ``.tmp`` files."""
    joined = 0
    for value in _read_lines(out / JOINED):
        if value.get("joined") == joined:
            joined += 1
    return joined


def _prepare(out: Path, job: Job, concat: bool) -> tuple[dict[int, Done], int]:
    """Create or reopen the job directory; refuse another job's directory. Returns the chunks
    done and how many of them are joined already."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    if manifest.exists():
        previous = json.loads(manifest.read_text())
        if previous.get("job") != job.key():
            raise ExportError(f"{out} holds another export ({previous.get('job')}); "
                              "use another --out or the same parameters to resume")
        if previous.get("complete"):
            return {k: Done(k, lo, hi) for k, lo, hi in job.chunks()}, len(job.chunks())
    else:
        _write_json(manifest, {"job": job.key(), "complete": False})
    # A chunk killed mid-write left .tmp parts and is not in done.ndjson: it runs again and
    # overwrites them (same names, same bytes).
    joined = _read_joined(out) if concat and job.fmt == "ndjson" else 0
    done = _read_done(out, job, joined)
    if not joined and (out / JOINED).exists():
        # --no-concat after a joining run was killed: its joined chunks render again as parts
        for stem in {stem for value in _read_lines(out / DONE) for stem in value.get("files", ())}:
            (out / f"{stem}.ndjson.tmp").unlink(missing_ok=True)
            (out / f"{stem}.ndjson").unlink(missing_ok=True)
        (out / JOINED).unlink()
    return done, joined


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2))
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    tmp.replace(path)


def _append_line(path: Path, value: dict) -> None:
    with path.open("ab") as handle:
        handle.write(orjson.dumps(value, option=_NL))
        handle.flush()
        os.fsync(handle.fileno())


def run(job: Job, out: Path, workers: int = 0, concat: bool = True,
        progress: Callable[[int, int], None] | None = None) -> dict:
    """Export ``job`` into ``out``; returns the final manifest. ``progress(people_done, n)``
    is called after every chunk. ``workers=0``: one per CPU."""
    workers = workers or os.cpu_count() or 1
    done, joined = _prepare(out, job, concat)
    joiner = _Joiner(out, done, joined) if concat and job.fmt == "ndjson" else None
    try:
        todo = [c for c in job.chunks() if c[0] not in done]
        people = sum(d.end - d.first for d in done.values())
        if progress:
            progress(people, job.n)
        if joiner:
            joiner.join_ready()  # chunks a killed run rendered but had not joined yet
        for finished in _chunks_done(job, out, todo, workers):
            _append_line(out / DONE, asdict(finished))
            done[finished.chunk] = finished
            people += finished.end - finished.first
            if progress:
                progress(people, job.n)
            if joiner:
                joiner.join_ready()
        return finish(job, out, done, concat, joiner)
    finally:
        if joiner:
            joiner.close()


def _chunks_done(job: Job, out: Path, todo: list[tuple[int, int, int]],
                 workers: int) -> Iterator[Done]:
    if workers <= 1 or len(todo) <= 1:
        global _WORKER
        _WORKER = (job.population(), job, out)  # in this process: no GC games here
        try:
            for spec in todo:
                k, lo, hi = spec
                write = _write_bundle_chunk if job.fmt == "bundle" else _write_ndjson_chunk
                yield write(_WORKER[0], job, out, k, lo, hi)
        finally:
            _WORKER = None
        return
    methods = multiprocessing.get_all_start_methods()
    fork = "fork" in methods
    if fork:  # build the seed's name pools (~0.3 s of Faker) once here, not once per worker
        job.population().patient(0)
    ctx = multiprocessing.get_context("fork" if fork else "spawn")
    with ctx.Pool(min(workers, len(todo)), _init_worker, (job, out)) as pool:
        yield from pool.imap_unordered(_run_chunk, todo, chunksize=1)


def finish(job: Job, out: Path, done: dict[int, Done], concat: bool,
           joiner: _Joiner | None = None) -> dict:
    """Write the manifest; with ``concat``, join what the joiner has not yet and give the
    joined files their names."""
    previous = json.loads((out / MANIFEST).read_text())
    if previous.get("complete"):
        (out / DONE).unlink(missing_ok=True)  # a kill right after the manifest left them
        (out / JOINED).unlink(missing_ok=True)
        return previous
    order = sorted(done)
    stems = sorted({stem for d in done.values() for stem in d.files})
    totals = {stem: [sum(done[k].files.get(stem, [0, 0])[0] for k in order),
                     sum(done[k].files.get(stem, [0, 0])[1] for k in order)] for stem in stems}
    manifest: dict = {"job": job.key(), "complete": len(done) == len(job.chunks()), "files": {}}
    if job.fmt == "ndjson":
        if concat:
            if not manifest["complete"]:
                raise ExportError(f"{out}: chunks missing, nothing to join")
            if joiner is None:
                joiner = _Joiner(out, done, _read_joined(out))
            joiner.join_ready()
            joiner.rename()
            for folder in sorted((out / PARTS).glob("*")) if (out / PARTS).exists() else ():
                folder.rmdir()
            if (out / PARTS).exists():
                (out / PARTS).rmdir()
        for stem in stems:
            if concat:
                manifest["files"][stem] = {"path": f"{stem}.ndjson", "bytes": totals[stem][0],
                                           "lines": totals[stem][1]}
            else:
                parts = [part_path(out, stem, k) for k in order if stem in done[k].files]
                manifest["files"][stem] = {"parts": [str(p.relative_to(out)) for p in parts],
                                           "bytes": totals[stem][0], "lines": totals[stem][1]}
    else:
        if job.summaries:
            _concat([out / f"{SUMMARIES}-{k:07d}.part" for k in order
                     if (out / f"{SUMMARIES}-{k:07d}.part").exists()],
                    out / f"{SUMMARIES}.ndjson")
        manifest["files"] = {stem: {"folder": stem, "bytes": b, "files": c}
                             for stem, (b, c) in totals.items()}
    _write_json(out / MANIFEST, manifest)
    if manifest["complete"]:
        (out / DONE).unlink(missing_ok=True)
        (out / JOINED).unlink(missing_ok=True)
    return manifest


class _Joiner:
    """Joins each stem's parts, in chunk order, into ``<stem>.ndjson.tmp`` while later chunks
    still render: the parent process sat idle during rendering, and joining ~3.7 GB at the end
    added ~5.5 s to 16.5 s at 100,000 people.

    Chunks finish out of order (``imap_unordered``): a chunk is joined once every chunk before
    it is, the ones ahead wait as parts. Joining chunk k appends its parts to the stems'
    ``.tmp`` files, fsyncs them, appends ``{"joined": k}`` to ``joined.ndjson`` (fsynced), and
    only then deletes its parts: at any kill, the chunks logged there are durable in the
    ``.tmp`` files, and the ``.tmp`` sizes they imply come from done.ndjson. A rerun cuts each
    ``.tmp`` back to that size (bytes of a half-joined chunk are not counted) and goes on from
    the next chunk, whose parts are still there. A rerun with ``concat=False`` renders the
    joined chunks again as parts (``_prepare``). Disk: the joined bytes plus the parts not yet
    joined (100,000 people: a peak of 3.8 GB for 3.76 GB written; joining at the end, all
    parts plus a joined file: 5.4 GB).
    """

    def __init__(self, out: Path, done: dict[int, Done], joined: int) -> None:
        self.out = out
        self.done = done  # the caller's: chunks are added to it as they finish
        self.next = joined
        self.fds: dict[str, int] = {}
        sizes: dict[str, int] = {}
        for k in range(joined):
            if k not in done:
                raise ExportError(f"{out}: chunk {k} is logged as joined but not as done; "
                                  "remove the directory and export again")
            for stem, (size, _lines) in done[k].files.items():
                sizes[stem] = sizes.get(stem, 0) + size
                part_path(out, stem, k).unlink(missing_ok=True)  # a kill before the unlink
        for stem, size in sizes.items():
            tmp, final = self._tmp(stem), out / f"{stem}.ndjson"
            if not tmp.exists() and final.exists():
                final.replace(tmp)  # killed while the joined files were renamed at the end
            if not tmp.exists() or tmp.stat().st_size < size:
                raise ExportError(f"{tmp} is shorter than its joined chunks; remove the "
                                  "directory and export again")
            self.fds[stem] = fd = os.open(tmp, os.O_WRONLY)  # no O_APPEND: sendfile refuses it
            os.ftruncate(fd, size)
            os.lseek(fd, size, os.SEEK_SET)

    def _tmp(self, stem: str) -> Path:
        return self.out / f"{stem}.ndjson.tmp"

    def join_ready(self) -> None:
        """Join every finished chunk that is next in order."""
        while self.next in self.done:
            self._join(self.done[self.next])

    def _join(self, done: Done) -> None:
        new = False
        for stem in done.files:
            if stem not in self.fds:  # a .tmp left by a kill holds no logged chunk: cut it
                self.fds[stem] = os.open(self._tmp(stem),
                                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                new = True
            _append_file(self.fds[stem], part_path(self.out, stem, done.chunk))
        for stem in done.files:
            os.fsync(self.fds[stem])
        if new:
            _fsync_dir(self.out)  # the new .tmp names are durable before the log counts on them
        _append_line(self.out / JOINED, {"joined": done.chunk})
        if new:
            _fsync_dir(self.out)  # and so is joined.ndjson's (made by the first join)
        for stem in done.files:
            part_path(self.out, stem, done.chunk).unlink()
        self.next += 1

    def rename(self) -> None:
        """All chunks joined: the ``.tmp`` files take their final names."""
        self.close()
        for stem in sorted(self.fds):
            self._tmp(stem).replace(self.out / f"{stem}.ndjson")
        _fsync_dir(self.out)

    def close(self) -> None:
        for fd in self.fds.values():
            if fd >= 0:
                os.close(fd)
        self.fds = dict.fromkeys(self.fds, -1)


def _append_file(sink: int, path: Path) -> None:
    """Append the file at ``path`` to the open ``sink`` with sendfile (no copy in Python)."""
    with path.open("rb") as source:
        size, offset = os.fstat(source.fileno()).st_size, 0
        while offset < size:
            offset += os.sendfile(sink, source.fileno(), offset, size - offset)


def _concat(parts: list[Path], target: Path) -> None:
    """Append the parts to ``target`` in order, deleting each once copied (one part, as for a
    job of one chunk, is renamed: no copy). The bundle format's summaries only."""
    if len(parts) == 1:
        parts[0].replace(target)
        return
    tmp = target.with_name(target.name + ".tmp")
    with tmp.open("wb") as sink:
        for part in parts:
            _append_file(sink.fileno(), part)
        sink.flush()
        os.fsync(sink.fileno())
    tmp.replace(target)
    for part in parts:
        part.unlink()


def human_seconds(s: float) -> str:
    if s < 120:
        return f"{s:,.0f} s"
    return f"{s / 60:,.0f} min" if s < 7200 else f"{s / 3600:,.1f} h"


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def plain_progress(stream=sys.stderr, every: float = 2.0) -> Callable[[int, int], None]:
    """Progress as plain lines (no TTY): at most one per ``every`` seconds, and the last."""
    started = time.monotonic()
    last, first = [0.0], [-1]

    def report(people: int, n: int) -> None:
        now = time.monotonic()
        if first[0] < 0:
            first[0] = people  # chunks a previous run finished do not count in the rate
        if people < n and now - last[0] < every:
            return
        last[0] = now
        rate = (people - first[0]) / max(now - started, 1e-9)
        eta = (n - people) / rate if rate else 0.0
        print(f"exported {people:,}/{n:,} people ({100 * people / max(n, 1):.0f}%), "
              f"{rate:,.0f}/s, about {eta:,.0f} s left", file=stream, flush=True)

    return report
