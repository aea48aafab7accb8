"""The pages people see (login, consent, overviews, errors): Jinja2 templates with
autoescaping, in ``simulators/common/templates``.

Every page extends ``base.html``: the viewport meta (readable on a phone), landmarks
(``header``/``nav``/``main``/``footer``), a skip link, a visible focus style and the one
stylesheet inlined from ``sandbox.css`` (no CDN: the sandbox works offline).

Two ways in:
- ``render(template, **context)``: a template of its own (autoescaped: a provider's or a
  person's name can never become markup);
- ``page(title, body, banner)``: a page around an HTML fragment the caller built with
  ``escape``/``hidden`` (the older roles' fragments; ``body`` is trusted markup).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

TEMPLATES = Path(__file__).with_name("templates")

ENV = Environment(loader=FileSystemLoader(TEMPLATES),
                  autoescape=select_autoescape(["html", "htm", "xml"], default=True),
                  trim_blocks=True, lstrip_blocks=True)
STYLE = (TEMPLATES / "sandbox.css").read_text("utf-8")  # kept for callers that read it


def render(template: str, **context: object) -> str:
    """A template of ``templates/`` rendered with autoescaping."""
    return ENV.get_template(template).render(**context)


def page(title: str, body: str, banner: str = "",
         nav: list[tuple[str, str]] | None = None) -> str:
    """``body`` (trusted markup built with ``escape``/``hidden``) inside the base layout."""
    return render("base.html", title=title, body=Markup(body), banner=banner, nav=nav or [])


def hidden(name: str, value: str) -> str:
    return f"<input type='hidden' name='{escape(name)}' value='{escape(value)}'>"


def nl_date(value: str | None) -> str:
    """A FHIR date or dateTime as people in the Netherlands write it (dd-mm-jjjj)."""
    if not value or len(value) < 10 or value[4] != "-":
        return value or ""
    return f"{value[8:10]}-{value[5:7]}-{value[0:4]}"


def nl_datetime(value: str | None) -> str:
    """An ISO instant (``utc_timestamp``) as ``dd-mm-jjjj uu:mm UTC``."""
    if not value or len(value) < 16 or value[10] != "T":
        return nl_date(value)
    return f"{nl_date(value)} {value[11:16]} UTC"


ENV.filters["nl_date"] = nl_date
ENV.filters["nl_datetime"] = nl_datetime

__all__ = ["ENV", "Markup", "escape", "hidden", "nl_date", "nl_datetime", "page", "render"]
