"""The screens the person sees at the DVA: consent (collect) and the Bevestigingsverklaring
(share), with the PGO's name from the OCL and the gegevensdiensten's from the GNL (template
``dva_consent.html``), and the DVA's root page. Their link to the other language shows the
same screen again (``GET /oauth/consent``, ``simulators.dva.pages_router``): the address the
screen came from (DigiD's return with its one-time artifact) cannot be fetched twice."""

from __future__ import annotations

from urllib.parse import urlencode

from simulators.common import i18n
from simulators.common.html import render
from simulators.common.lists import Lists
from simulators.medmij.topology import Provider


def _names(lists: Lists, session: dict, services: list[str]) -> tuple[str, str]:
    """The PGO's organisation name from the OCL and the services' names from the GNL."""
    client_name = lists.ocl.get(session["client_id"], session["client_id"])
    return client_name, ", ".join(i18n._(lists.gnl.get(s, s)) for s in services)


def _switch(session: dict) -> tuple[str, str, str]:
    """The language link of a consent screen: the same screen, re-shown for this session."""
    _href, label, lang = i18n.switch_link()
    return ("/oauth/consent?" + urlencode({"session_id": session["id"], "lang": lang}),
            label, lang)


def _screen(dva_name: str, lists: Lists, session: dict, provider: Provider,
            services: list[str], *, share: bool, long_lived_allowed: bool = True) -> str:
    client_name, names = _names(lists, session, services)
    return render("dva_consent.html",
                  title="Bevestigingsverklaring" if share else "Toestemming geven",
                  banner=i18n._("{dva} namens {provider}", dva=dva_name,
                                provider=provider.display),
                  share=share, long_lived_allowed=long_lived_allowed, provider=provider.display,
                  client_name=client_name, services=names, session_id=session["id"],
                  csrf_token=session["csrf"], switch=_switch(session))


def consent_page(dva_name: str, lists: Lists, session: dict, provider: Provider,
                 services: list[str], *, long_lived_allowed: bool = True) -> str:
    """The consent screen. ``long_lived_allowed`` is False for the inspection function: it
    stores nothing and is not a PGO, so it gets one-time consent and its own wording."""
    return _screen(dva_name, lists, session, provider, services, share=False,
                   long_lived_allowed=long_lived_allowed)


def confirmation_page(dva_name: str, lists: Lists, session: dict, provider: Provider,
                      services: list[str]) -> str:
    """Delen: the Bevestigingsverklaring."""
    return _screen(dva_name, lists, session, provider, services, share=True)


def root_page(dva_name: str, providers: list[Provider]) -> str:
    """The DVA's root: a page for a person who types the address (not a JSON 404)."""
    return render("dva_root.html", title=dva_name, banner="Dienstverlener aanbieder (DVA)",
                  providers=[p.display for p in providers])
