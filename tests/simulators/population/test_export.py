"""``population export`` at speed (issue 17 item 6): worker processes, byte-identical output
whatever the worker count or chunk size, and a resumable job that never counts a half chunk."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from simulators.population import ProviderRef, export
from simulators.population.export import Job

PROVIDERS = (
    ProviderRef("hapraktijkzuid@medmij", "gp", "Huisartsenpraktijk Zuid"),
    ProviderRef("umcsandbox@medmij", "hospital", "UMC Sandbox"),
    ProviderRef("apotheeksandbox@medmij", "pharmacy", "Apotheek Sandbox"),
    ProviderRef("rivm@medmij", "rivm", "RIVM"),
)
N = 150


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.ndjson"))}


def _job(chunk: int, **kw) -> Job:
    return Job(seed=11, size=100_000, providers=PROVIDERS, n=N, chunk=chunk, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """One process, one chunk: the bytes every other way of exporting must reproduce."""
    out = tmp_path_factory.mktemp("one")
    export.run(_job(N, summaries=True), out, workers=1)
    return _files(out)


def count_rendered(monkeypatch) -> list[int]:
    """The chunks rendered from now on, in order (``_write_ndjson_chunk`` watched)."""
    rendered: list[int] = []
    real = export._write_ndjson_chunk

    def counting(pop, job_, out, k, lo, hi):
        rendered.append(k)
        return real(pop, job_, out, k, lo, hi)

    monkeypatch.setattr(export, "_write_ndjson_chunk", counting)
    return rendered


def test_output_is_the_population_in_index_order(reference: dict[str, bytes]) -> None:
    pop = _job(N).population()
    expected: dict[str, list[bytes]] = {}
    for i in range(N):
        for provider in pop.holders(i):
            for service in pop.services(i, provider):
                expected.setdefault(f"{provider.split('@')[0]}-{service}.ndjson", []).extend(
                    orjson.dumps(r) + b"\n" for r in pop.resources(i, provider, service))
    assert {k: b"".join(v) for k, v in expected.items()} == {
        k: v for k, v in reference.items() if k != "summaries.ndjson"}
    assert len(reference["summaries.ndjson"].splitlines()) == N


@pytest.mark.parametrize(("workers", "chunk"), [(1, 20), (2, 20), (3, 7), (2, 150)])
def test_bytes_do_not_depend_on_workers_or_chunks(tmp_path: Path, reference: dict[str, bytes],
                                                  workers: int, chunk: int) -> None:
    manifest = export.run(_job(chunk, summaries=True), tmp_path, workers=workers)
    assert _files(tmp_path) == reference
    assert manifest["complete"] and not (tmp_path / export.PARTS).exists()
    assert not (tmp_path / export.DONE).exists()
    assert manifest["files"]["summaries"]["lines"] == N


class Killed(Exception):
    pass


def test_a_killed_run_resumes_and_skips_finished_chunks(tmp_path: Path,
                                                         reference: dict[str, bytes],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    job = _job(20, summaries=True)

    def kill_after_three(people: int, n: int) -> None:
        if people >= 60:
            raise Killed

    with pytest.raises(Killed):
        export.run(job, tmp_path, workers=1, progress=kill_after_three)
    assert len((tmp_path / export.DONE).read_bytes().splitlines()) == 3
    # What a kill can leave besides: a chunk mid-write (.tmp), a chunk renamed but not yet
    # logged, a torn last line in the log, a logged chunk whose part was damaged.
    gp = "hapraktijkzuid-48"
    export.part_path(tmp_path, gp, 3).with_suffix(".ndjson.tmp").write_bytes(b'{"half')
    export.part_path(tmp_path, gp, 4).write_bytes(b"renamed, not logged\n")
    with (tmp_path / export.DONE).open("ab") as log:
        log.write(b'{"chunk": 5, "first"')
    damaged = export.part_path(tmp_path, gp, 2)
    damaged.write_bytes(damaged.read_bytes()[:-10])

    rendered = count_rendered(monkeypatch)
    first: list[int] = []
    export.run(job, tmp_path, workers=1,
               progress=lambda people, n: first.append(people) if not first else None)
    assert first == [40]  # chunks 0 and 1 counted as done; 2 (damaged) is not
    assert sorted(rendered) == [2, 3, 4, 5, 6, 7]
    assert _files(tmp_path) == reference
    assert not list(tmp_path.rglob("*.tmp"))


def test_no_concat_lists_the_parts_in_order(tmp_path: Path, reference: dict[str, bytes]) -> None:
    manifest = export.run(_job(40), tmp_path, workers=2, concat=False)
    for stem, entry in manifest["files"].items():
        joined = b"".join((tmp_path / part).read_bytes() for part in entry["parts"])
        assert joined == reference[f"{stem}.ndjson"]
        assert entry["bytes"] == len(joined) and entry["lines"] == joined.count(b"\n")


def test_another_jobs_directory_is_refused(tmp_path: Path) -> None:
    export.run(_job(50), tmp_path, workers=1)
    with pytest.raises(export.ExportError, match="another export"):
        export.run(Job(seed=12, size=100_000, providers=PROVIDERS, n=N, chunk=50), tmp_path)
    again = export.run(_job(50), tmp_path, workers=1)  # same job: already complete
    assert again["complete"]


def test_cli_prints_an_estimate_and_plain_progress(tmp_path: Path) -> None:
    import typer

    from simulators.population.cli import register

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test root."""

    register(app)
    result = CliRunner().invoke(app, ["population", "export", "--n", "40", "--size", "1000",
                                      "--out", str(tmp_path / "o"), "--chunk", "10"])
    assert result.exit_code == 0, result.output
    assert "estimate: 40 people, about" in result.output
    assert "exported 40/40 people (100%)" in result.output
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["complete"]
    only = CliRunner().invoke(app, ["population", "export", "--n", "18000000", "--out",
                                    str(tmp_path / "big"), "--estimate-only"])
    assert only.exit_code == 0 and "18,000,000 people" in only.output
    assert not (tmp_path / "big").exists()


def test_a_chunk_killed_mid_write_leaves_no_part_under_its_final_name(
        tmp_path: Path, reference: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts are written to .tmp, fsynced, then renamed: a kill between two parts of a chunk
    leaves no final-named file of that chunk and no line in the log."""
    import os

    calls = [0]
    real_fsync = os.fsync

    def dies_on_second(fd: int) -> None:
        calls[0] += 1
        if calls[0] == 2:
            raise Killed
        real_fsync(fd)

    monkeypatch.setattr(export.os, "fsync", dies_on_second)
    with pytest.raises(Killed):
        export.run(_job(N, summaries=True), tmp_path, workers=1)
    assert not list((tmp_path / export.PARTS).rglob("*.ndjson"))
    assert not (tmp_path / export.DONE).exists()
    monkeypatch.setattr(export.os, "fsync", real_fsync)
    export.run(_job(N, summaries=True), tmp_path, workers=1)
    assert _files(tmp_path) == reference


def test_ids_do_not_depend_on_the_process(tmp_path: Path) -> None:
    """Without a GP provider in the topology a person gets a synthetic practice, whose id must be
    the same in every process (hash() of a str is not): workers, DVA restarts, reruns agree."""
    import subprocess
    import sys

    from simulators.population import Population

    providers = PROVIDERS[1:]  # no GP
    pop = Population(11, 100_000, providers)
    provider, service = providers[0].name, "48"  # the hospital's BgZ names the GP practice
    index = next(i for i in range(5000) if service in pop.services(i, provider))
    code = ("import orjson, sys; from simulators.population import Population, ProviderRef;"
            f"pop = Population(11, 100_000, {providers!r});"
            f"sys.stdout.buffer.write(orjson.dumps(pop.resources({index}, {provider!r}, "
            f"{service!r})))")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                           env={**__import__("os").environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")}
    assert runs == {orjson.dumps(pop.resources(index, provider, service))}


@pytest.mark.parametrize("watch", [export.DONE, export.JOINED])
def test_the_cli_killed_with_sigkill_resumes_to_the_same_bytes(tmp_path: Path,
                                                               watch: str) -> None:
    """The documented 18 M job in small: kill -9 the command and its workers mid-run (once 3
    chunks are done, or once 3 are joined: the parent joins while workers render), start it
    again with the same options, and get what one uninterrupted run writes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "sandbox.cli", "population", "export", "--n", "1200",
                "--size", "100000", "--chunk", "50", "--workers", "2", "--out", str(out)]

    env = {**os.environ, "PGO_SANDBOX_HOME": str(tmp_path / "home")}
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    subprocess.run(command(clean), env=env, check=True, capture_output=True)
    run = subprocess.Popen(command(killed), env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log, watched = killed / export.DONE, killed / watch
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and run.poll() is None and not (
            watched.exists() and len(watched.read_bytes().splitlines()) >= 3):
        time.sleep(0.002)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    finished = len(log.read_bytes().splitlines()) if log.exists() else 0
    if watch == export.JOINED:  # killed with the join under way: its .tmp files are there
        assert list(killed.glob("*.ndjson.tmp"))
    assert 3 <= finished < 24, "the run was not killed mid-way"
    again = subprocess.run(command(killed), env=env, check=True, capture_output=True, text=True)
    first = next(line for line in again.stderr.splitlines() if line.startswith("exported"))
    # chunks logged before the kill are skipped (the last line may be torn: not counted)
    assert int(first.split()[1].split("/")[0].replace(",", "")) >= 50 * (finished - 1)
    assert _files(killed) == _files(clean)
    assert json.loads((killed / "manifest.json").read_text())["complete"]


def test_a_chunk_is_streamed_in_batches_and_a_failed_render_closes_its_parts(
        tmp_path: Path, reference: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines leave in writev batches while the chunk renders (holding a whole chunk cost page
    faults and cache misses); a render that fails mid-chunk closes every part it opened and
    leaves none under a final name."""
    import os

    writes: list[int] = []
    real_write_all = export._write_all

    def counting(fd: int, lines: list[bytes]) -> int:
        writes.append(len(lines))
        return real_write_all(fd, lines)

    monkeypatch.setattr(export, "_write_all", counting)
    manifest = export.run(_job(N, summaries=True), tmp_path / "one", workers=1)
    assert _files(tmp_path / "one") == reference
    assert max(writes) < 2 * export._BATCH  # never a whole chunk (the GP's has ~10,000 lines)
    assert len(writes) > 2 * len(manifest["files"])

    real_render = export.render_person

    def fails_at_100(pop, index: int, summaries: bool):
        if index == 100:
            raise Killed
        return real_render(pop, index, summaries)

    monkeypatch.setattr(export, "render_person", fails_at_100)
    open_before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(Killed):
        export.run(_job(N, summaries=True), tmp_path / "two", workers=1)
    assert len(os.listdir("/proc/self/fd")) == open_before
    assert list((tmp_path / "two" / export.PARTS).rglob("*.tmp"))
    assert not list((tmp_path / "two" / export.PARTS).rglob("*.ndjson"))


# -- the join overlapped with rendering ---------------------------------------------------------
GP = "hapraktijkzuid-48"  # the biggest stem: in every chunk


def test_the_join_runs_while_chunks_render_and_frees_joined_parts(
        tmp_path: Path, reference: dict[str, bytes]) -> None:
    """By the time the last chunk is done, the chunks before it are already in the ``.tmp``
    files (joined in order) and their parts are gone: no join of everything at the end, and
    the disk holds the joined bytes plus the parts not yet joined."""
    seen: list[tuple[bytes, bool]] = []

    def at_last_chunk(people: int, n: int) -> None:
        if people == n:
            seen.append(((tmp_path / f"{GP}.ndjson.tmp").read_bytes(),
                         export.part_path(tmp_path, GP, 0).exists()))

    export.run(_job(20, summaries=True), tmp_path, workers=1, progress=at_last_chunk)
    [(joined, first_part_left)] = seen
    whole = reference[f"{GP}.ndjson"]
    assert 0 < len(joined) < len(whole) and whole.startswith(joined)
    assert not first_part_left
    assert _files(tmp_path) == reference


def test_chunks_finishing_out_of_order_are_joined_in_order(
        tmp_path: Path, reference: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers deliver chunks in any order (imap_unordered): the ones ahead wait as parts until
    the chunks before them are joined. Here the chunks arrive as 1, 0, 3, 2, ...; and the bytes
    equal a one-worker run's and the --no-concat parts joined by hand."""
    real = export._chunks_done

    def swapped(job, out, todo, workers):
        finished = list(real(job, out, todo, workers))
        for i in range(0, len(finished) - 1, 2):
            finished[i], finished[i + 1] = finished[i + 1], finished[i]
        assert [d.chunk for d in finished][:4] == [1, 0, 3, 2]
        yield from finished

    monkeypatch.setattr(export, "_chunks_done", swapped)
    export.run(_job(20, summaries=True), tmp_path / "swapped", workers=1)
    assert _files(tmp_path / "swapped") == reference
    monkeypatch.setattr(export, "_chunks_done", real)
    export.run(_job(7, summaries=True), tmp_path / "two", workers=2)
    assert _files(tmp_path / "two") == reference
    manifest = export.run(_job(7, summaries=True), tmp_path / "parts", workers=2, concat=False)
    by_hand = {f"{stem}.ndjson": b"".join((tmp_path / "parts" / p).read_bytes()
                                          for p in entry["parts"])
               for stem, entry in manifest["files"].items()}
    assert by_hand == reference


def test_a_chunk_is_logged_as_joined_only_once_durable_and_its_parts_go_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The order that makes a kill at any moment safe: append the chunk's parts to the
    ``.tmp`` files, fsync them, log the chunk in joined.ndjson (fsynced), then delete its
    parts."""
    import os

    events: list[tuple[str, str]] = []
    real_fsync, real_append_line, real_unlink = os.fsync, export._append_line, Path.unlink

    def fsync(fd: int) -> None:
        events.append(("fsync", os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))
        real_fsync(fd)

    def append_line(path: Path, value: dict) -> None:
        real_append_line(path, value)
        if path.name == export.JOINED:
            events.append(("joined", str(value["joined"])))

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if export.PARTS in self.parts:
            events.append(("unlink", f"{self.parent.name}/{self.name}"))
        real_unlink(self, missing_ok)

    monkeypatch.setattr(export.os, "fsync", fsync)
    monkeypatch.setattr(export, "_append_line", append_line)
    monkeypatch.setattr(Path, "unlink", unlink)
    export.run(_job(50), tmp_path, workers=1)
    monkeypatch.undo()
    done = [e for e in events if e[0] == "joined"]
    assert [k for _, k in done] == ["0", "1", "2"]
    for k in range(3):
        at = events.index(("joined", str(k)))
        since = events[events.index(("joined", str(k - 1))) + 1 if k else 0:at]
        assert ("fsync", f"{GP}.ndjson.tmp") in since
        assert (("unlink", f"{GP}/{k:07d}.ndjson")) in events[at:]
        assert (("unlink", f"{GP}/{k:07d}.ndjson")) not in events[:at]


def _kill_at(monkeypatch: pytest.MonkeyPatch, where: str, out: Path) -> None:
    """Make the join raise ``Killed`` at one moment: mid-chunk (after 5 parts of chunk 1 are
    appended), right after chunk 1 is logged as joined (its parts not yet deleted), or while
    the joined files get their names at the end (after the first)."""
    calls = [0]
    if where == "mid-chunk":
        real = export._append_file

        def append_file(sink: int, path: Path) -> None:
            real(sink, path)
            calls[0] += path.name == f"{1:07d}.ndjson"
            if calls[0] == 5:
                raise Killed

        monkeypatch.setattr(export, "_append_file", append_file)
    elif where == "after-log":
        real_line = export._append_line

        def append_line(path: Path, value: dict) -> None:
            real_line(path, value)
            if value.get("joined") == 1:
                raise Killed

        monkeypatch.setattr(export, "_append_line", append_line)
    else:
        real_replace = Path.replace

        def replace(self: Path, target):
            if self.parent == out and self.name.endswith(".ndjson.tmp"):
                calls[0] += 1
                if calls[0] == 2:
                    raise Killed
            return real_replace(self, target)

        monkeypatch.setattr(Path, "replace", replace)


@pytest.mark.parametrize("where", ["mid-chunk", "after-log", "renaming"])
def test_a_run_killed_while_joining_resumes_to_the_same_bytes(
        tmp_path: Path, reference: dict[str, bytes], monkeypatch: pytest.MonkeyPatch,
        where: str) -> None:
    """A kill mid-join leaves bytes of a half-joined chunk in a ``.tmp`` (cut back on rerun),
    parts of a chunk already logged as joined (deleted on rerun), or some joined files renamed
    and others not (taken back): the rerun finishes with the bytes of one uninterrupted run and
    leaves nothing behind."""
    job = _job(20, summaries=True)
    _kill_at(monkeypatch, where, tmp_path)
    with pytest.raises(Killed):
        export.run(job, tmp_path, workers=1)
    monkeypatch.undo()
    assert list(tmp_path.glob("*.ndjson.tmp"))
    assert not json.loads((tmp_path / export.MANIFEST).read_text())["complete"]
    rendered = count_rendered(monkeypatch)
    manifest = export.run(job, tmp_path, workers=1)
    assert rendered == ([] if where == "renaming" else [2, 3, 4, 5, 6, 7])
    assert _files(tmp_path) == reference
    assert manifest["complete"] and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [export.MANIFEST, *reference])


@pytest.mark.parametrize("where", ["mid-chunk", "renaming"])
def test_no_concat_after_a_killed_join_lists_whole_parts(
        tmp_path: Path, reference: dict[str, bytes], monkeypatch: pytest.MonkeyPatch,
        where: str) -> None:
    """Rerun with --no-concat after a joining run was killed: the chunks already joined (their
    parts deleted) render again as parts, and no joined file, whole or half, is left beside
    them."""
    _kill_at(monkeypatch, where, tmp_path)
    with pytest.raises(Killed):
        export.run(_job(20, summaries=True), tmp_path, workers=1)
    monkeypatch.undo()
    manifest = export.run(_job(20, summaries=True), tmp_path, workers=2, concat=False)
    by_hand = {f"{stem}.ndjson": b"".join((tmp_path / p).read_bytes() for p in entry["parts"])
               for stem, entry in manifest["files"].items()}
    assert by_hand == reference
    assert sorted(p.name for p in tmp_path.iterdir()) == [export.MANIFEST, export.PARTS]
