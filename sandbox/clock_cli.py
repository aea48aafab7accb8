"""`pgo-sandbox clock`: move the sandbox's time forward to show consent lapse and expiry.

Every node reads ``<state>/clock.json`` (simulators.common.clock) and adds its offset to wall
time, so `clock advance 200d` makes a 6-month consent lapse without waiting.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sandbox.cli_common import StateDir
from sandbox.runtime import runtime_for
from sandbox.state import RuntimeInfo, default_state_dir
from simulators.common.clock import settle
from simulators.common.config import write_atomic
from simulators.medmij import utc_timestamp

UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
DURATION = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
MAX_DAYS = 36525  # 100 years: a duration, and the offset, stay within it each way
MAX_SECONDS = MAX_DAYS * 86400
console = Console()
err = Console(stderr=True)


def parse_duration(text: str) -> float:
    """'200d', '6h30m', '2w' -> seconds; a ValueError for anything else."""
    compact = text.strip().lower().replace(" ", "")
    parts = DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"not a duration: {text!r} (use e.g. 200d, 6h30m, 2w)")
    seconds = sum(float(n) * UNITS[u] for n, u in parts)
    if seconds > MAX_SECONDS:  # also inf, from a string of 400 digits; no NaN from digits
        raise ValueError(f"duration too long: {text!r} (at most 100 years, {MAX_DAYS}d)")
    return seconds


class UnusableClock(ValueError):
    """clock.json holds something the nodes' clocks cannot use."""


def check_offset(seconds: float) -> float:
    """``seconds`` if a clock can use it as its offset (finite, at most 100 years either
    way), else a ValueError."""
    if not math.isfinite(seconds) or abs(seconds) > MAX_SECONDS:
        raise ValueError(f"a clock offset of {seconds / 86400:+,.2f} days is out of range "
                         f"(at most {MAX_DAYS} days, 100 years, either way)")
    return seconds


def clock_path(state_dir: Path | None) -> Path:
    return (state_dir or default_state_dir()).resolve() / "clock.json"


def read_offset(path: Path) -> float:
    """The offset in ``path`` (no file: 0); ``UnusableClock`` when it holds none a clock can
    use."""
    try:
        return check_offset(float(json.loads(path.read_text("utf-8")).get("offset_seconds",
                                                                          0.0)))
    except FileNotFoundError:
        return 0.0
    except (ValueError, TypeError, AttributeError) as exc:
        raise UnusableClock(f"{path} holds no usable clock offset ({exc}); "
                            "`pgo-sandbox clock reset` puts the clock back to wall time") \
            from exc


def set_offset(path: Path, seconds: float) -> None:
    """Write the offset atomically; every node has it when this returns (``settle``).
    Containers read it from their shared state volume, so a docker sandbox gets a copy there
    too. A ValueError, and nothing written, for an offset a clock cannot use."""
    check_offset(seconds)
    data = json.dumps({"offset_seconds": seconds}).encode() if seconds else None
    if data:
        write_atomic(path, data)
    else:
        path.unlink(missing_ok=True)
    info = RuntimeInfo.load(path.parent)
    if info is not None and info.runtime != "local":  # local nodes read path itself
        runtime_for(info, path.parent).write_state_file(path.name, data)
    settle()  # every node has looked at the clock again when this returns


def describe(offset: float) -> str:
    days = offset / 86400
    return f"sandbox time {utc_timestamp(time.time() + offset)} (offset {days:+.2f} days)"


def register(app: typer.Typer) -> None:
    """Add the `clock` command group to the pgo-sandbox CLI."""
    clock_app = typer.Typer(help="Show or move the sandbox clock (consent lapse, token expiry).\n\n"
                            "Example: pgo-sandbox clock advance 200d",
                            no_args_is_help=True)
    app.add_typer(clock_app, name="clock")

    @clock_app.command("advance")
    def advance(duration: Annotated[str, typer.Argument(help="How far: 200d, 6h30m, 2w.")],
                state_dir: StateDir = None) -> None:
        """Move the sandbox clock forward (it adds up).

        Example: pgo-sandbox clock advance 200d
        """
        path = clock_path(state_dir)
        try:
            seconds = parse_duration(duration)
            offset = check_offset(read_offset(path) + seconds)
        except ValueError as exc:  # nothing written
            err.print(f"[red]{escape(str(exc))}[/]", highlight=False)
            raise typer.Exit(2) from exc
        set_offset(path, offset)
        console.print(describe(offset))

    @clock_app.command("show")
    def show(state_dir: StateDir = None) -> None:
        """Print the sandbox time and its offset from wall time.

        Example: pgo-sandbox clock show
        """
        try:
            offset = read_offset(clock_path(state_dir))
        except UnusableClock as exc:
            err.print(f"[red]{escape(str(exc))}[/]", highlight=False)
            raise typer.Exit(2) from exc
        console.print(describe(offset))

    @clock_app.command("reset")
    def reset(state_dir: StateDir = None) -> None:
        """Back to wall time.

        Example: pgo-sandbox clock reset
        """
        set_offset(clock_path(state_dir), 0.0)
        console.print(describe(0.0))
