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

from simulators.common import i18n

TEMPLATES = Path(__file__).with_name("templates")

ENV = Environment(loader=FileSystemLoader(TEMPLATES),
                  autoescape=select_autoescape(["html", "htm", "xml"], default=True),
                  trim_blocks=True, lstrip_blocks=True)
STYLE = (TEMPLATES / "sandbox.css").read_text("utf-8")  # kept for callers that read it


def render(template: str, **context: object) -> str:
    """A template of ``templates/`` rendered with autoescaping, in the request's language
    (``simulators.common.i18n``: ``lang`` for ``<html lang>``, ``switch`` for the link to the
    other language; a page whose own address cannot be fetched again passes ``switch``)."""
    context.setdefault("lang", i18n.language())
    context.setdefault("switch", i18n.switch_link())
    return ENV.get_template(template).render(**context)


def page(title: str, body: str, banner: str = "",
         nav: list[tuple[str, str]] | None = None) -> str:
    """``body`` (trusted markup built with ``escape``/``hidden``) inside the base layout."""
    return render("base.html", title=title, body=Markup(body), banner=banner, nav=nav or [])


def error_page(title: str, message: str, *, back: tuple[str, str], banner: str = "",
               detail: str = "", extra: str = "") -> str:
    """The page a person meets when something is refused (``error.html``): the reason in
    the page's language, an optional technical ``detail`` (an OAuth error code), trusted
    ``extra`` markup (a retry form) and always ``back``: (href, text) of the way back.
    ``title``, ``message`` and the back text are translated here when the catalogue has
    them, so the roles raise their Dutch texts once."""
    href, text = back
    return render("error.html", title=title, banner=banner, message=i18n._(message),
                  detail=detail, extra=Markup(extra), back_href=href, back_text=i18n._(text))


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
ENV.filters["strong"] = lambda value: Markup("<strong>%s</strong>") % value
ENV.filters["link"] = lambda text, href: Markup('<a href="%s">%s</a>') % (href, text)
ENV.globals["_"] = i18n.markup_

__all__ = ["ENV", "Markup", "error_page", "escape", "hidden", "nl_date", "nl_datetime", "page",
           "render"]
