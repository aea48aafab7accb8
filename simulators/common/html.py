"""Minimal, accessible HTML pages for the screens people see (login, consent, overviews)."""

from __future__ import annotations

from html import escape

STYLE = """
body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
header{border-bottom:3px solid #154273;margin-bottom:1rem}
h1{font-size:1.4rem;color:#154273} .note{background:#fff4d6;padding:.6rem;border-radius:4px}
.error{background:#fde2e1;padding:.6rem;border-radius:4px}
button{font-size:1rem;padding:.4rem 1rem;margin:.3rem .3rem 0 0}
table{border-collapse:collapse}
td,th{border-bottom:1px solid #ddd;padding:.2rem .6rem;text-align:left}
"""


def page(title: str, body: str, banner: str = "") -> str:
    return (
        "<!doctype html><html lang='nl'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><small>{escape(banner)}</small><h1>{escape(title)}</h1></header>"
        f"{body}</body></html>"
    )


def hidden(name: str, value: str) -> str:
    return f"<input type='hidden' name='{escape(name)}' value='{escape(value)}'>"


__all__ = ["escape", "hidden", "page"]
