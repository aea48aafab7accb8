"""One check for every name a user types (vendor, provider, node, scenario, flow, ...).

A mistyped name must end the command with ``unknown X 'value'; known: a, b, c`` on stderr and
exit code 2 (a usage error, as click's own), never a ``KeyError`` traceback deep in a scenario:
the list of known names is the fix the user needs.
"""

from __future__ import annotations

from collections.abc import Iterable

import typer
from rich.console import Console
from rich.markup import escape

USAGE_EXIT = 2  # click's exit code for a usage error
err = Console(stderr=True)


def unknown_message(kind: str, value: str, known: Iterable[str]) -> str:
    """The one wording of the refusal, also for code that raises instead of exiting."""
    return f"unknown {kind} {value!r}; known: {', '.join(known) or '(none)'}"


def check_name(kind: str, value: str, known: Iterable[str]) -> str:
    """Return ``value`` when it is one of ``known``; otherwise say so and exit 2."""
    names = list(known)
    if value not in names:
        err.print(f"[red]{escape(unknown_message(kind, value, names))}[/]")
        raise typer.Exit(USAGE_EXIT)
    return value


def check_names(kind: str, values: Iterable[str], known: Iterable[str]) -> list[str]:
    """``check_name`` for each of several values (e.g. flows joined by commas)."""
    names = list(known)
    return [check_name(kind, v, names) for v in values]
