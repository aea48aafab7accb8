"""`pgo-sandbox story`: the MedMij system told step by step, for a trainer and an audience.

Each step of a chapter (``scenarios/story``) is printed as it happens: its title and
narration in Dutch or English, what the system did (a short detail) and the hops the nodes
saw for it. ``--pause`` waits for Enter between steps (the trainer's pace); ``--web`` serves
the story page on 127.0.0.1 instead (the citizen's page beside the system view).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sandbox.cli_common import StateDir, running_or_exit, state_of
from sandbox.names import check_name
from sandbox.state import Running, running
from simulators.medmij import CORRELATION_ID

console = Console()
err = Console(stderr=True)
LANGS = ("nl", "en")
PROMPT = {"nl": "Enter: volgende stap", "en": "Enter: next step"}
VERDICT = {"nl": ("klaar", "mislukt bij stap"), "en": ("done", "failed at step")}



def _reset(state: Path) -> Running:
    """The sandbox's own reset (`pgo-sandbox reset`: down, wipe, up on the same ports with
    the same reference patients), then the sandbox as it runs again."""
    from sandbox import cli

    cli.reset(state_dir=state)
    return running(state)


def tell(sandbox: Running, name: str, lang: str, pause: bool) -> bool:
    """Run a chapter step by step, printing each as it happens; True when every step
    passed. The chapter's changes to the sandbox are put back at the end, also on Ctrl-C."""
    from scenarios.story import CHAPTERS, Runner

    chapter = CHAPTERS[name]
    console.print(f"[bold]{escape(chapter.title[lang])}[/]")
    console.print(escape(chapter.intro[lang]))
    runner = Runner(sandbox, chapter)
    console.print(f"[dim]{CORRELATION_ID} {runner.context.browser.correlation_id}[/]")
    names = {n.id: n.name for n in sandbox.topology.nodes}
    try:
        while (result := runner.next()) is not None:
            mark = "[green]✓[/]" if result.ok else "[red]✗[/]"
            console.print(f"\n[bold]{result.index + 1}/{len(chapter.steps)} "
                          f"{escape(result.step.title[lang])}[/] {mark}")
            console.print(escape(result.step.narration[lang]))
            console.print(f"  → {escape(result.detail)}  [dim]({result.seconds:.2f} s)[/]")
            for hop in result.hops:
                caller = names.get(hop.caller, hop.caller)
                times = f" ×{hop.count}" if hop.count > 1 else ""
                console.print(escape(f"    {caller} → {names.get(hop.node, hop.node)}  "
                                     f"{hop.method} {hop.path}  {hop.status}  "
                                     f"{hop.ms:.1f} ms{times}"), highlight=False, soft_wrap=True)
            if pause and not runner.done:
                input(f"{PROMPT[lang]} ")
    finally:
        runner.finish()
    ok = not runner.failed
    done, failed = VERDICT[lang]
    console.print(f"\nstory {name}: " + (f"[green]{done}[/]" if ok else
                                         f"[red]{failed} {len(runner.results)}[/]"))
    return ok


def register(app: typer.Typer) -> None:
    """Add the `story` command to the pgo-sandbox CLI."""

    @app.command()
    def story(
        name: Annotated[str | None, typer.Argument(
            help="The chapter: collect, consent-revoke, long-lived-consent, inspection, "
            "share or bankruptcy.", show_default=False)] = None,
        lang: Annotated[str, typer.Option(help="nl (Dutch) or en (English).")] = "nl",
        pause: Annotated[bool, typer.Option("--pause", help="Wait for Enter between "
                                            "steps.")] = False,
        list_: Annotated[bool, typer.Option("--list", help="List the chapters.")] = False,
        web: Annotated[bool, typer.Option("--web", help="Serve the story page on "
                                          "127.0.0.1 instead of printing.")] = False,
        port: Annotated[int, typer.Option(min=1, max=65535,
                                          help="--web: the story page's port.")] = 8765,
        state_dir: StateDir = None,
    ) -> None:
        """Tell a chapter of the MedMij story against the running sandbox, step by step, in
        Dutch or English: the narration, what the system did and the hops it took.

        Examples: pgo-sandbox story --list; pgo-sandbox story bankruptcy --lang en --pause;
        pgo-sandbox story collect --web --port 8765
        """
        from scenarios.story import CHAPTERS

        if list_:
            for chapter in CHAPTERS.values():
                console.print(f"{chapter.name:<20} {escape(chapter.title[lang])}"
                              if lang in LANGS else chapter.name, highlight=False)
            return
        check_name("language", lang, LANGS)
        if name is None:
            err.print("name a chapter (pgo-sandbox story --list shows them)")
            raise typer.Exit(2)
        check_name("chapter", name, CHAPTERS)
        state = state_of(state_dir)
        sandbox = running_or_exit(state)
        if web:
            from scenarios.story.web import StoryState, serve

            console.print(f"story page: http://127.0.0.1:{port}/?lang={lang} (Ctrl-C ends)")
            serve(StoryState(sandbox, name, reset=lambda: _reset(state)), port)
            return
        if not tell(sandbox, name, lang, pause):
            raise typer.Exit(1)
