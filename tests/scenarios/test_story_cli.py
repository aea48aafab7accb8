"""`pgo-sandbox story collect` against real processes (the ``sandbox`` fixture): every step
is printed as it happens, in Dutch and in English, with the hops the nodes saw for it;
``--pause`` waits for Enter between steps."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from sandbox import story_cli
from scenarios.story import CHAPTERS


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """pgo-sandbox (the story command only)."""

    story_cli.register(app)
    return app


def test_the_collect_chapter_is_told_in_both_languages(sandbox):
    chapter = CHAPTERS["collect"]
    for lang, pause in (("nl", True), ("en", False)):
        args = ["story", "collect", "--lang", lang, "--state-dir", str(sandbox.state_dir)]
        result = CliRunner().invoke(cli(), args + (["--pause"] if pause else []),
                                    input="\n" * len(chapter.steps), env={"COLUMNS": "200"})
        out = result.output
        assert result.exit_code == 0, out
        for i, step in enumerate(chapter.steps, 1):
            assert f"{i}/{len(chapter.steps)} {step.title[lang]} ✓" in out, (lang, out)
            assert step.narration[lang] in out
        assert "POST /oauth/token  200" in out and "GET /oauth/authorize  302" in out
        assert "→ Nexus DVA" in out  # display names in the system view
        assert (out.count(story_cli.PROMPT["nl"]) == len(chapter.steps) - 1) if pause else (
            story_cli.PROMPT["en"] not in out)
        assert ("story collect: klaar" if lang == "nl" else "story collect: done") in out
