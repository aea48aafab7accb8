"""The screens the person sees at the DVA: consent (collect) and the Bevestigingsverklaring
(share), with the PGO's name from the OCL and the gegevensdiensten's from the GNL."""

from __future__ import annotations

from simulators.common.html import escape, hidden, page
from simulators.common.lists import Lists
from simulators.medmij.topology import Provider


def _names(lists: Lists, session: dict, services: list[str]) -> tuple[str, str]:
    """The PGO's organisation name from the OCL and the services' names from the GNL."""
    client_name = lists.ocl.get(session["client_id"], session["client_id"])
    return client_name, ", ".join(escape(lists.gnl.get(s, s)) for s in services)


def _form(session: dict) -> str:
    """The consent form's opening: the session and its CSRF token travel back with it."""
    return ("<form method='post' action='/oauth/consent'>" + hidden("session_id", session["id"])
            + hidden("csrf_token", session["csrf"]))


def consent_page(dva_name: str, lists: Lists, session: dict, provider: Provider,
                 services: list[str], *, long_lived_allowed: bool = True) -> str:
    """The consent screen. ``long_lived_allowed`` is False for the inspection function: it
    stores nothing and is not a PGO, so it gets one-time consent and its own wording."""
    client_name, names = _names(lists, session, services)
    if long_lived_allowed:
        duration = ("<p><label><input type='checkbox' name='long_lived'> Ook later automatisch "
                    "ophalen (langdurige toestemming, tot u die intrekt of 6 maanden niet "
                    "ophaalt)</label></p>")
        note = "U kunt uw toestemming altijd intrekken in uw PGO."
    else:
        duration = ""
        note = (f"Deze toestemming geldt alleen voor dit overzicht. {escape(client_name)} "
                "bewaart uw gegevens niet en is geen PGO.")
    body = (
        f"<p>Mag <strong>{escape(provider.display)}</strong> uw gegevens "
        f"(<em>{names}</em>) delen met <strong>{escape(client_name)}</strong>?</p>"
        + _form(session)
        + "<fieldset><legend>Uw keuze</legend>" + duration
        + "<button type='submit' name='decision' value='allow'>Ja, ik geef toestemming</button>"
        "<button type='submit' name='decision' value='deny'>Nee</button></fieldset></form>"
        f"<p class='note'>{note}</p>"
    )
    return page("Toestemming geven", body, f"{dva_name} namens {provider.display}")


def confirmation_page(dva_name: str, lists: Lists, session: dict, provider: Provider,
                      services: list[str]) -> str:
    """Delen: the Bevestigingsverklaring."""
    client_name, names = _names(lists, session, services)
    body = (
        f"<p>U staat op het punt gegevens (<em>{names}</em>) vanuit "
        f"<strong>{escape(client_name)}</strong> te delen met "
        f"<strong>{escape(provider.display)}</strong>.</p>"
        "<p>Bevestigt u dat deze gegevens van u zijn en dat "
        f"{escape(provider.display)} ze in uw dossier mag opnemen?</p>"
        + _form(session)
        + "<fieldset><legend>Uw keuze</legend>"
        "<button type='submit' name='decision' value='allow'>Ja, ik bevestig</button>"
        "<button type='submit' name='decision' value='deny'>Nee, niet delen</button>"
        "</fieldset></form>"
    )
    return page("Bevestigingsverklaring", body, f"{dva_name} namens {provider.display}")
