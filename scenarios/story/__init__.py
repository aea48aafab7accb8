"""Story mode: the MedMij system told in narrated chapters (Dutch and English), step by step
against the running sandbox; the CLI prints it (``sandbox/story_cli.py``), ``web`` serves it."""

from scenarios.story.chapters import CHAPTERS
from scenarios.story.engine import Chapter, Runner, Step, StepResult

__all__ = ["CHAPTERS", "Chapter", "Runner", "Step", "StepResult"]
