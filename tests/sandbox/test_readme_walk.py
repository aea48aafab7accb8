"""The README's walk, run as a newcomer runs it: `pgo-sandbox demo` from the set-up section,
then every command of "A short tour" in order, each a real `pgo-sandbox` process against
one sandbox. A command that exits non-zero fails the test with its output.

The commands are parsed from README.md, not copied here, so a README edit that breaks the
walk (or a code change that breaks a README command) fails this test. Only what would make
the walk slow is rewritten (``REWRITES``: shorter load, fewer users, fewer simulated years);
the sandbox gets its own state directory and free ports through the environment, and paths
to ``../shared`` are made absolute because the commands run in a scratch folder.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SHARED, free_base_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
COMMAND_TIMEOUT_S = 90.0

# (pattern, replacement): only durations and sizes; every command stays as written otherwise.
REWRITES: tuple[tuple[str, str], ...] = (
    (r"--duration \S+", "--duration 4s"),
    (r"--users 20\b", "--users 3"),
    (r"--years \d+", "--years 1"),
    (r"--n \d+", "--n 3"),
    (r"--users 5\b", "--users 2"),
)


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    nxt = re.search(r"^## ", text[start + len(heading):], re.M)
    return text[start:start + len(heading) + nxt.start()] if nxt else text[start:]


def _bash_blocks(section: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def _commands(block: str) -> list[str]:
    """The ``pgo-sandbox ...`` commands of a block (also inside ``a && b``), comments cut."""
    out = []
    for line in block.splitlines():
        line = re.split(r"\s+#\s", line.strip(), maxsplit=1)[0].strip()
        for part in line.split("&&"):
            part = part.strip()
            if part.startswith("pgo-sandbox "):
                out.append(part)
    return out


def readme_walk(text: str) -> list[str]:
    """The set-up section's `pgo-sandbox` commands (the demo), then the tour's, in order."""
    setup = [c for b in _bash_blocks(_section(text, "## Set up")) for c in _commands(b)]
    tour_blocks = _bash_blocks(_section(text, "## A short tour"))
    assert tour_blocks, "README has no bash block under 'A short tour'"
    return setup + _commands(tour_blocks[0])


def rewrite(command: str) -> str:
    for pattern, replacement in REWRITES:
        command = re.sub(pattern, replacement, command)
    return command.replace("../shared/", f"{SHARED}/")


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "pgo-sandbox"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sandbox.cli"]


def test_readme_parsing_finds_the_walk() -> None:
    walk = readme_walk(README.read_text("utf-8"))
    assert walk[0] == "pgo-sandbox demo"
    assert walk[1] == "pgo-sandbox up"
    assert walk[-1] == "pgo-sandbox down"
    assert any(c.startswith("pgo-sandbox up --reference") for c in walk)
    assert rewrite("pgo-sandbox load collect --users 20 --duration 1m --json l.json") == \
        "pgo-sandbox load collect --users 3 --duration 4s --json l.json"


@pytest.mark.skipif(not (SHARED / "medmij").is_dir(), reason="../shared/medmij missing")
def test_readme_walk_runs_in_order(tmp_path: Path) -> None:
    walk = [rewrite(c) for c in readme_walk(README.read_text("utf-8"))]
    state, work = tmp_path / "state", tmp_path / "work"
    work.mkdir()
    env = os.environ | {"PGO_SANDBOX_HOME": str(state),
                        "PGO_SANDBOX_BASE_PORT": str(free_base_port()),
                        "COLUMNS": "200", "NO_COLOR": "1"}
    outputs: dict[str, str] = {}
    timings: list[tuple[str, float]] = []
    started = time.monotonic()
    try:
        for command in walk:
            t0 = time.monotonic()
            done = subprocess.run(_cli() + shlex.split(command)[1:], cwd=work, env=env,
                                  capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                                  stdin=subprocess.DEVNULL)
            timings.append((command, time.monotonic() - t0))
            output = done.stdout + done.stderr
            assert done.returncode == 0, (
                f"README step `{command}` exited {done.returncode}:\n{output[-4000:]}")
            outputs[command] = output
    finally:
        subprocess.run(_cli() + ["down"], env=env, capture_output=True, timeout=30)
        print("\n".join(f"{s:6.1f} s  {c}" for c, s in timings))
    # no budget on the whole walk: how fast it is belongs in a benchmark, not a timed test;
    # each command is bounded (COMMAND_TIMEOUT_S) so a hang still fails
    print(f"the walk took {time.monotonic() - started:.0f} s")
    assert "demo: 5 of 5 passed" in outputs["pgo-sandbox demo"]
    assert "next: pgo-sandbox scenario run collect" not in outputs["pgo-sandbox demo"]
    assert "already running" in outputs["pgo-sandbox up"]
    reference_up = next(c for c in walk if c.startswith("pgo-sandbox up --reference"))
    assert re.search(r"reference patients at \S+: [1-9]\d* .*BSN \d{9}", outputs[reference_up])
    assert "reference patients at" in outputs["pgo-sandbox reset"]  # they survive reset
    assert list((state / "load-reports").iterdir()), "load reports not under the state dir"
    assert not (work / "load-reports").exists()


def test_up_while_running(sandbox) -> None:
    """The cheap half of the walk's `demo` -> `up` -> `up --reference` steps, in process:
    the same sandbox is shown (exit 0); other options are refused with what to do (exit 1)."""
    from typer.testing import CliRunner

    from sandbox.cli import app

    runner = CliRunner()
    state = ["--state-dir", str(sandbox.state_dir)]
    result = runner.invoke(app, ["up", *state], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "already running" in result.output and "dva-nexus" in result.output
    folder = SHARED / "medmij" / "testscripts"
    result = runner.invoke(app, ["up", "--reference", f"umcsandbox@medmij={folder}", *state],
                           env={"COLUMNS": "300"})
    said = " ".join(result.output.split())
    assert result.exit_code == 1, said
    assert "already runs" in said and "pgo-sandbox down" in said
    assert sandbox.info.processes  # still the same sandbox
