"""Dutch first, English on request (issue 15 item 4): a small catalogue for the pages people
see, not a translation framework.

- Every page is written in Dutch; ``_("Dutch text")`` gives the English of the catalogue
  ``EN`` when the request's language is English, else the Dutch itself. Placeholders are
  ``str.format`` fields (``_("Doorgaan als {name}", name=...)``), so word order may differ.
- The language is the request's: ``?lang=en`` (or ``nl``) on any page sets the cookie
  ``pgo_sandbox_lang`` for the whole sandbox (one language across PGO, DVA, DigiD and MGO:
  browsers do not separate cookies by port), and the cookie decides later requests.
  ``Language`` is the pure ASGI middleware that reads both and keeps the answer in a context
  variable, so templates and error pages need no request to know it.
- Every page carries a visible switch (``switch_link``): the same GET with the other
  ``lang``; a page that is the result of a form post switches on the node's start page.

``tests/simulators/common/test_i18n.py`` fails when a ``_()`` text of a template or a role's
page module has no English here.
"""

from __future__ import annotations

from contextvars import ContextVar
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from markupsafe import Markup, escape

LANG_COOKIE = "pgo_sandbox_lang"
LANGUAGES = ("nl", "en")
DEFAULT = "nl"
COOKIE_SECONDS = 365 * 24 * 3600

_language: ContextVar[str] = ContextVar("pgo_sandbox_language", default=DEFAULT)
# the request the page answers: (method, path, query string) for the switch link
_request: ContextVar[tuple[str, str, str]] = ContextVar("pgo_sandbox_page",
                                                        default=("GET", "/", ""))


def language() -> str:
    """The language of the page being rendered: ``nl`` or ``en``."""
    return _language.get()


def use(lang: str):
    """Render in ``lang`` from here on in this context (tests, scripts); returns the token to
    reset with ``_language.reset``."""
    return _language.set(lang if lang in LANGUAGES else DEFAULT)


def _(text: str, **values: object) -> str:
    """``text`` (Dutch) in the page's language, with ``values`` filled in."""
    out = EN.get(text, text) if _language.get() == "en" else text
    return out.format(**values) if values else out


def markup_(text: str, **values: object) -> Markup:
    """Templates' ``_``: as ``_`` but autoescaped, so a value may be ``Markup``
    (``<strong>``) while names and other values stay text."""
    out = EN.get(text, text) if _language.get() == "en" else text
    return Markup(escape(out)).format(**values) if values else Markup(escape(out))


def switch_link() -> tuple[str, str, str]:
    """(href, label, lang) of the link to the other language: this GET with ``lang``
    replaced, or the start page when the page answered a form post (it cannot be
    fetched again)."""
    other = "nl" if _language.get() == "en" else "en"
    method, path, query = _request.get()
    if method not in ("GET", "HEAD"):
        path, query = "/", ""
    # One leading slash: a path such as ``//evil.example/x`` (or ``/\\evil.example``, which
    # browsers read alike) would make the link protocol-relative, to another site.
    path = "/" + path.lstrip("/\\")
    params = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "lang"]
    href = f"{path}?{urlencode([*params, ('lang', other)])}"
    return href, ("Nederlands" if other == "nl" else "English"), other


def _chosen(scope) -> tuple[str | None, str | None]:
    """(asked, remembered): ``?lang=`` of the request and the cookie's language."""
    asked = None
    query = scope.get("query_string", b"")
    if b"lang=" in query:
        asked = dict(parse_qsl(query.decode("latin-1"))).get("lang")
    remembered = None
    for name, value in scope.get("headers", ()):
        if name == b"cookie" and LANG_COOKIE.encode() in value:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header means "not set"
                continue
            if LANG_COOKIE in jar:
                remembered = jar[LANG_COOKIE].value
    return (asked if asked in LANGUAGES else None,
            remembered if remembered in LANGUAGES else None)


class Language:
    """Pure ASGI middleware: the request's language (``?lang=``, else the cookie, else Dutch)
    for everything rendered while it is answered; ``?lang=`` also sets the cookie."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        asked, remembered = _chosen(scope)
        lang_token = _language.set(asked or remembered or DEFAULT)
        page_token = _request.set((scope["method"], scope["path"],
                                   scope.get("query_string", b"").decode("latin-1")))

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start" and asked and asked != remembered:
                secure = "; Secure" if scope.get("scheme") == "https" else ""
                cookie = (f"{LANG_COOKIE}={asked}; Path=/; Max-Age={COOKIE_SECONDS}; "
                          f"SameSite=Lax{secure}")
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", cookie.encode("latin-1"))]}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            _request.reset(page_token)
            _language.reset(lang_token)


# The catalogue: Dutch as written on the pages -> English. Keep the Dutch exactly as in the
# template or module (a test compares them).
EN: dict[str, str] = {
    # base.html, error.html and the titles and banners the roles pass
    "Naar de inhoud": "Skip to content",
    "Hoofdmenu": "Main menu",
    "PGO-sandbox: een oefenomgeving met verzonnen testpersonen, geen echte gegevens.":
        "PGO sandbox: a practice environment with made-up test persons, no real data.",
    "PGO (sandbox)": "PGO (sandbox)",
    "DigiD simulator": "DigiD simulator",
    "Publieke inzagefunctie (sandbox)": "Public inspection function (sandbox)",
    "MedMij Stelselnode (sandbox)": "MedMij system node (sandbox)",
    "Dienstverlener aanbieder (DVA)": "Provider's service (DVA)",
    "{dva} namens {provider}": "{dva} on behalf of {provider}",
    "MedMij-lijsten": "MedMij lists",
    "Mijn Gezondheidsoverzicht": "My Health Overview",
    "Uw gezondheidsoverzicht": "Your health overview",
    "Toestemming geven": "Give consent",
    "Bevestigingsverklaring": "Confirmation statement",
    "Zorgaanbieder koppelen": "Connect a care provider",
    "Rapport ingelezen": "Report read",
    "Gegevens delen": "Share data",
    "Er ging iets mis": "Something went wrong",
    "Niet toegestaan": "Not allowed",
    "Niet gevonden": "Not found",
    "Dat lukt niet": "That did not work",
    "Inloggen mislukt": "Login failed",
    "Geen toegang": "No access",
    "Koppeling niet voltooid": "Connection not completed",
    "Niet mogelijk": "Not possible",
    "Ophalen niet mogelijk": "Collecting not possible",
    "Niet gelukt bij de zorgaanbieder": "Not successful at the care provider",
    "Ophalen mislukt": "Collecting failed",
    "DigiD: niet toegestaan": "DigiD: not allowed",
    # navigation of the person page (simulators.dvp.accounts_router.PERSON_NAV)
    "Uw gegevens": "Your data",
    "Ophalen": "Collect",
    "Toestemmingen": "Consents",
    "Verhuizen": "Move",
    # the groups of health data (simulators.common.health_summary.GROUPS)
    "Medicatie": "Medication",
    "Problemen": "Problems",
    "Allergieën": "Allergies",
    "Vaccinaties": "Vaccinations",
    "Uitslagen": "Results",
    "Afspraken": "Appointments",
    "Documenten": "Documents",
    "Behandelingen en opnames": "Treatments and admissions",
    # _health.html
    "Nog geen gegevens opgehaald.": "No data collected yet.",
    "Deze zorgaanbieder gaf geen gegevens.": "This care provider gave no data.",
    "Wat": "What",
    "Details": "Details",
    "Datum": "Date",
    "Zorgaanbieder": "Care provider",
    "Daarnaast {n} gegevens over uzelf, zorgverleners en organisaties (niet apart getoond).":
        "Also {n} items about yourself, care professionals and organisations (not shown "
        "separately).",
    # digid_login.html
    "Inloggen met DigiD (simulator) voor {rp}.": "Log in with DigiD (simulator) for {rp}.",
    "een website die om inloggen vraagt": "a website that asks you to log in",
    "U bent ingelogd als {name} (BSN {bsn}).": "You are logged in as {name} (BSN {bsn}).",
    "Doorgaan als {name}": "Continue as {name}",
    "Inloggen als iemand anders": "Log in as someone else",
    "Deze simulator opent u via een website die om inloggen vraagt (een PGO stuurt u via de "
    "zorgaanbieder hierheen). Hieronder staan testpersonen die u daar kunt kiezen.":
        "You open this simulator through a website that asks you to log in (a PGO sends you "
        "here through the care provider). Below are test persons you can choose there.",
    "BSN testpersoon": "BSN of the test person",
    "Inloggen": "Log in",
    "Testpersonen": "Test persons",
    "Verzonnen personen uit de sandbox. Kies iemand met gegevens bij de zorgaanbieder waar u "
    "wilt ophalen.":
        "Made-up persons of the sandbox. Choose someone with data at the care provider you "
        "want to collect from.",
    "Testpersonen en waar zij gegevens hebben": "Test persons and where they have data",
    "Naam": "Name",
    "Gegevens bij": "Data at",
    "Inloggen als {name}": "Log in as {name}",
    "Kies": "Choose",
    # dva_consent.html, dva_root.html
    "U staat op het punt gegevens ({services}) vanuit {pgo} te delen met {provider}.":
        "You are about to share data ({services}) from {pgo} with {provider}.",
    "Bevestigt u dat deze gegevens van u zijn en dat {provider} ze in uw dossier mag "
    "opnemen?":
        "Do you confirm that this data is yours and that {provider} may add it to your "
        "record?",
    "Mag {provider} uw gegevens ({services}) delen met {pgo}?":
        "May {provider} share your data ({services}) with {pgo}?",
    "Uw keuze": "Your choice",
    "Ja, ik bevestig": "Yes, I confirm",
    "Nee, niet delen": "No, do not share",
    "Ook later automatisch ophalen (langdurige toestemming, tot u die intrekt of 6 maanden "
    "niet ophaalt)":
        "Also collect automatically later (long-lived consent, until you withdraw it or do "
        "not collect for 6 months)",
    "Ja, ik geef toestemming": "Yes, I give consent",
    "Nee": "No",
    "U kunt uw toestemming altijd intrekken in uw PGO.":
        "You can always withdraw your consent in your PGO.",
    "Deze toestemming geldt alleen voor dit overzicht. {client} bewaart uw gegevens niet en "
    "is geen PGO.":
        "This consent is for this overview only. {client} does not store your data and is "
        "not a PGO.",
    "Dit is de dienstverlener (DVA) van deze zorgaanbieders. Hier geeft u toestemming om uw "
    "gegevens op te halen; u komt hier vanuit uw PGO of Mijn Gezondheidsoverzicht, niet "
    "rechtstreeks.":
        "This is the service provider (DVA) of these care providers. Here you give consent "
        "to collect your data; you come here from your PGO or My Health Overview, not "
        "directly.",
    "Wilt u uw gegevens ophalen? Start in uw PGO.":
        "Do you want to collect your data? Start in your PGO.",
    # dvp_connect.html, dvp_imported.html, dvp_home.html, dvp_person.html
    "Gegevens ophalen bij {provider} ({what}).": "Collect data from {provider} ({what}).",
    "alle gegevens": "all data",
    "U logt in met DigiD en geeft toestemming bij de zorgaanbieder.":
        "You log in with DigiD and give consent at the care provider.",
    "Terug naar uw gegevens": "Back to your data",
    "Uw portabiliteitsrapport is ingelezen.": "Your portability report has been read.",
    "Haal nu uw gegevens opnieuw op bij elke zorgaanbieder uit het rapport (met DigiD en uw "
    "toestemming): deze PGO vraagt dan precies op wat uw vorige PGO had opgehaald.":
        "Now collect your data again from every care provider in the report (with DigiD and "
        "your consent): this PGO then asks for exactly what your previous PGO had collected.",
    "De curator heeft alle persoonsgegevens bij deze PGO gewist. Hier is niets meer te doen: "
    "u kunt geen account meer aanmaken of inloggen. Uw gegevens haalt u op met een andere "
    "PGO.":
        "The receiver has erased all personal data at this PGO. There is nothing left to do "
        "here: you can no longer create an account or log in. Collect your data with another "
        "PGO.",
    "Deze PGO-leverancier is failliet. Een curator beheert uw gegevens. U kunt uw gegevens "
    "nog exporteren (portabiliteitsrapport); nieuwe gegevens ophalen kan niet meer.":
        "This PGO vendor is bankrupt. A receiver manages your data. You can still export "
        "your data (portability report); collecting new data is no longer possible.",
    "U bent ingelogd:": "You are logged in:",
    "naar uw gegevens": "to your data",
    "Accountnummer": "Account number",
    "Wachtwoord": "Password",
    "Account aanmaken": "Create an account",
    "Wachtwoord (minstens {n} tekens)": "Password (at least {n} characters)",
    "Nieuwe accounts kunnen niet meer worden aangemaakt. Met uw bestaande account kunt u nog "
    "inloggen en uw portabiliteitsrapport downloaden.":
        "New accounts can no longer be created. With your existing account you can still "
        "log in and download your portability report.",
    "Zorgaanbieders waarbij u gegevens kunt ophalen": "Care providers you can collect data from",
    "De Zorgaanbiederslijst is nog niet geladen.": "The care provider list is not loaded yet.",
    "Wat u nog kunt doen: uw portabiliteitsrapport downloaden (hieronder), een account maken "
    "bij een andere PGO en het rapport daar inlezen. Daarna haalt u uw gegevens opnieuw op "
    "bij elke zorgaanbieder, met DigiD en uw toestemming.":
        "What you can still do: download your portability report (below), create an account "
        "at another PGO and read the report there. Then collect your data again from every "
        "care provider, with DigiD and your consent.",
    "Accountnummer (om in te loggen):": "Account number (to log in):",
    "Opgehaald bij": "Collected from",
    "Opgehaald op": "Collected on",
    "Aantal gegevens": "Number of items",
    "Laatste keer ophalen": "Last collect",
    "Wanneer": "When",
    "Resultaat": "Result",
    "Wat nu": "What now",
    "Opnieuw ophalen": "Collect again",
    "Compleet": "Complete",
    "Gedeeltelijk": "Partial",
    "Mislukt": "Failed",
    "Niet gelukt": "Not successful",
    "Gegevens ophalen bij een zorgaanbieder": "Collect data from a care provider",
    "Ophalen kan niet meer bij deze PGO.": "Collecting is no longer possible at this PGO.",
    "Soort": "Kind",
    "Status": "Status",
    "Actie": "Action",
    "Langdurig (ook later automatisch ophalen)": "Long-lived (also collect automatically later)",
    "Eenmalig": "Once",
    "Ingetrokken op {when}": "Withdrawn on {when}",
    "Actief": "Active",
    "Toestemming voor {provider} intrekken": "Withdraw consent for {provider}",
    "Intrekken": "Withdraw",
    "U heeft nog geen toestemming gegeven.": "You have not given consent yet.",
    "Naar een andere PGO verhuizen": "Move to another PGO",
    "Portabiliteitsrapport downloaden": "Download portability report",
    "Portabiliteitsrapport van een andere PGO inlezen":
        "Read a portability report from another PGO",
    "Rapport (XML of FHIR-JSON)": "Report (XML or FHIR JSON)",
    "Rapport inlezen": "Read report",
    "Uitloggen": "Log out",
    # mgo_home.html, mgo_overview.html
    "Met Mijn Gezondheidsoverzicht ziet u eenmalig welke gegevens uw zorgaanbieders over u "
    "hebben, zonder een PGO te kiezen.":
        "With My Health Overview you see once which data your care providers hold about you, "
        "without choosing a PGO.",
    "U logt in met DigiD. Daarna zoeken wij op bij welke zorgaanbieders u gegevens heeft.":
        "You log in with DigiD. Then we look up which care providers hold data about you.",
    "Bij elke zorgaanbieder geeft u toestemming om uw gegevens {once} op te halen en hier te "
    "tonen.":
        "At each care provider you give consent to collect your data {once} and show it here.",
    "één keer": "once",
    "Er wordt {nothing}: zodra u het overzicht heeft gezien, is alles weer vergeten. Mijn "
    "Gezondheidsoverzicht is geen PGO en haalt later nooit automatisch gegevens op; er is dus "
    "geen langdurige toestemming en niets om in te trekken.":
        "{nothing}: as soon as you have seen the overview, everything is forgotten. My Health "
        "Overview is not a PGO and never collects data automatically later; so there is no "
        "long-lived consent and nothing to withdraw.",
    "niets bewaard": "Nothing is stored",
    "Wilt u uw gegevens bewaren of later opnieuw ophalen? Kies dan een PGO.":
        "Do you want to keep your data or collect it again later? Then choose a PGO.",
    "Wilt u uw gegevens nu eenmalig bekijken?": "Do you want to view your data once now?",
    "Ja, inloggen met DigiD": "Yes, log in with DigiD",
    "Deze gegevens worden niet bewaard. Na het sluiten of verversen van deze pagina zijn ze "
    "weg; u kunt altijd {again}.":
        "This data is not stored. After closing or reloading this page it is gone; you can "
        "always {again}.",
    "opnieuw beginnen": "start again",
    "Geen gegevens: u gaf geen toestemming, of de zorgaanbieder kon uw gegevens niet geven "
    "({error}).":
        "No data: you did not give consent, or the care provider could not give your data "
        "({error}).",
    "Ophalen is mislukt bij deze zorgaanbieder. U kunt het later opnieuw proberen.":
        "Collecting failed at this care provider. You can try again later.",
    "Er zijn geen zorgaanbieders gevonden die gegevens over u hebben.":
        "No care providers were found that hold data about you.",
    "Opnieuw beginnen": "Start again",
    "Deze zorgaanbieder kon nu niet alle gegevens leveren. Probeer het later opnieuw.":
        "This care provider could not deliver all data now. Try again later.",
    "Waarom": "Why",
    "Wat ontbreekt": "What is missing",
    # registry_lists.html
    "De vier MedMij-lijsten zoals de Stelselnode ze nu publiceert, als tabellen. Systemen "
    "lezen ze als XML op de officiële paden:":
        "The four MedMij lists as the system node publishes them now, as tables. Systems "
        "read them as XML at the official paths:",
    "Zorgaanbiederslijst": "Care provider list",
    "Organisatie (PGO)": "Organisation (PGO)",
    "Gegevensdienstnamenlijst": "Data service name list",
    "Weergavenaam": "Display name",
    # error pages: the ways back and the refusals the roles raise in Dutch
    "Naar de startpagina": "To the start page",
    "Naar de MedMij-lijsten": "To the MedMij lists",
    "Opnieuw proberen": "Try again",
    "Deze pagina bestaat niet.": "This page does not exist.",
    "Deze pagina kan niet op deze manier worden geopend.":
        "This page cannot be opened this way.",
    "Het formulier of de link is niet compleet of klopt niet.":
        "The form or the link is incomplete or wrong.",
    "Het bestand is te groot.": "The file is too large.",
    "Dit verzoek kan niet worden uitgevoerd.": "This request cannot be carried out.",
    "Uw PGO vroeg om toestemming op een manier die wij niet kunnen volgen.":
        "Your PGO asked for consent in a way we cannot follow.",
    "Ga terug naar uw PGO en start daar opnieuw.": "Go back to your PGO and start again there.",
    "Start opnieuw vanuit uw PGO. Klik nooit op een inloglink die iemand anders u stuurt.":
        "Start again from your PGO. Never click a login link someone else sends you.",
    "Deze toestemmingsaanvraag is niet in deze browser gestart. Om uw gegevens te beschermen "
    "gaan we niet verder.":
        "This consent request was not started in this browser. To protect your data we do "
        "not continue.",
    "Het formulier is verlopen of niet van deze pagina. Start opnieuw vanuit uw PGO.":
        "The form has expired or is not from this page. Start again from your PGO.",
    "Ga terug naar de website waar u wilde inloggen en probeer het opnieuw.":
        "Go back to the website where you wanted to log in and try again.",
    "Dit inlogformulier komt niet van DigiD.": "This login form does not come from DigiD.",
    "Dit formulier komt niet van DigiD.": "This form does not come from DigiD.",
    "Het inlogformulier is verlopen of komt niet van deze pagina.":
        "The login form has expired or does not come from this page.",
    "Het formulier is verlopen of komt niet van deze pagina.":
        "The form has expired or does not come from this page.",
    "U bent niet (meer) ingelogd bij DigiD. Log opnieuw in.":
        "You are not (or no longer) logged in at DigiD. Log in again.",
    "Onbekend BSN voor een testpersoon.": "Unknown BSN for a test person.",
    "Het terugkeeradres hoort niet bij de website waar u wilde inloggen.":
        "The return address does not belong to the website where you wanted to log in.",
    "Accountnummer of wachtwoord klopt niet.": "Account number or password is wrong.",
    "Dit account bestaat niet.": "This account does not exist.",
    "Onbekend of al gebruikt antwoord van de zorgaanbieder.":
        "Unknown or already used answer from the care provider.",
    "Deze koppeling is gestart vanuit een andere sessie. Log in op uw eigen account in de "
    "browser waarin u de koppeling startte.":
        "This connection was started from another session. Log in to your own account in "
        "the browser where you started the connection.",
    "Dit kan niet vanuit deze pagina of met dit account ({reason}). Log opnieuw in en probeer "
    "het nog eens.":
        "This is not possible from this page or with this account ({reason}). Log in again "
        "and try once more.",
    "De zorgaanbieder weigerde: {error}.": "The care provider refused: {error}.",
    "Ophalen mislukt bij stap {step}: {error}.": "Collecting failed at step {step}: {error}.",
    "De zorgaanbieder antwoordde niet op tijd. Uw gegevens zijn niet opgehaald; u kunt het "
    "opnieuw proberen.":
        "The care provider did not answer in time. Your data was not collected; you can try "
        "again.",
    "Dit portabiliteitsrapport is te groot om in te lezen.":
        "This portability report is too large to read.",
    "Kies eerst een bestand om in te lezen.": "First choose a file to read.",
    "Dit bestand is geen portabiliteitsrapport (XML of FHIR-JSON) dat deze PGO kan lezen.":
        "This file is not a portability report (XML or FHIR JSON) this PGO can read.",
    "Deze DigiD-login is niet in deze browser begonnen. Start opnieuw bij Mijn "
    "Gezondheidsoverzicht.":
        "This DigiD login was not started in this browser. Start again at My Health "
        "Overview.",
    "U bent niet ingelogd, of uw bezoek is al afgerond: een getoond overzicht wordt niet "
    "bewaard, dus verversen of terug kan niet. Start bij Mijn Gezondheidsoverzicht.":
        "You are not logged in, or your visit has ended: an overview that was shown is not "
        "stored, so reloading or going back is not possible. Start at My Health Overview.",
    "DigiD gaf geen bevestiging van uw login.": "DigiD did not confirm your login.",
    "Uw DigiD-login kon niet worden bevestigd.": "Your DigiD login could not be confirmed.",
    "De zorgaanbieders konden nu niet worden opgezocht. Probeer het later opnieuw.":
        "The care providers could not be looked up now. Try again later.",
}
