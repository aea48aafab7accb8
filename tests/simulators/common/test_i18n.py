"""Dutch first, English on request (issue 15 item 4), in process: the catalogue covers every
``_()`` text of the templates and role modules, ``?lang=`` sets the sandbox-wide cookie and the
pages follow it (``<html lang>``, the switch link), and every person-facing template renders
without Dutch left over in English.

Each test names the rule it guards; removing that rule alone makes it fail.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from simulators.common import i18n
from simulators.common.health_summary import GROUPS
from simulators.common.html import error_page, render

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "simulators" / "common" / "templates"
TEMPLATE_CALL = re.compile(r"""\b_\(\s*(["'])(.*?)\1""", re.S)


def texts_to_translate() -> list[tuple[str, str]]:
    """(file, Dutch text) of every ``_("...")`` in the templates and the roles' modules."""
    found = [(f.name, m.group(2)) for f in sorted(TEMPLATES.glob("*.html"))
             for m in TEMPLATE_CALL.finditer(f.read_text("utf-8"))]
    for f in sorted((ROOT / "simulators").glob("*/*.py")):
        for node in ast.walk(ast.parse(f.read_text("utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_"
                    and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                found.append((f.name, node.args[0].value))
    return found


def test_every_dutch_text_on_a_page_has_english() -> None:
    """Rule: a ``_()`` text without an entry in ``i18n.EN`` (it would stay Dutch in English)."""
    found = texts_to_translate()
    assert len(found) > 100  # the scan itself works: templates and modules are read
    missing = sorted({f"{name}: {text!r}" for name, text in found if text not in i18n.EN})
    assert not missing, "no English in simulators/common/i18n.py EN for:\n" + "\n".join(missing)


def test_placeholders_survive_translation() -> None:
    """Rule: the English of a text with ``{fields}`` has the same fields (else format fails
    or drops a name)."""
    field = re.compile(r"\{(\w*)\}")
    wrong = [nl for nl, en in i18n.EN.items()
             if sorted(field.findall(nl)) != sorted(field.findall(en))]
    assert not wrong


# --- the middleware -------------------------------------------------------------------------
def language_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(i18n.Language)

    @app.get("/page", response_class=HTMLResponse)
    async def page_() -> str:
        return error_page("Niet gevonden", "Deze pagina bestaat niet.",
                          back=("/", "Naar de startpagina"))

    @app.post("/form", response_class=HTMLResponse)
    async def form() -> str:
        return error_page("Niet gevonden", "Deze pagina bestaat niet.",
                          back=("/", "Naar de startpagina"))

    return app


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(language_app()),
                                 base_url="http://127.0.0.1:8000") as c:
        yield c


@pytest.mark.anyio
async def test_dutch_first_with_a_visible_switch_to_english(client) -> None:
    """Rule: without a choice the page is Dutch (``lang='nl'``) and links to itself in English
    (keeping its other parameters)."""
    r = await client.get("/page?provider=umcsandbox%40medmij")
    assert "<html lang='nl'>" in r.text and "Deze pagina bestaat niet." in r.text
    assert 'href="/page?provider=umcsandbox%40medmij&amp;lang=en"' in r.text
    assert 'hreflang="en">English</a>' in r.text
    assert "set-cookie" not in r.headers


@pytest.mark.anyio
async def test_lang_en_renders_english_and_sets_the_sandbox_cookie(client) -> None:
    """Rule: ``?lang=en`` renders English, sets ``pgo_sandbox_lang`` for the whole sandbox
    (path /), and the cookie alone keeps later pages English, with a switch back."""
    r = await client.get("/page?lang=en")
    assert "<html lang='en'>" in r.text and "This page does not exist." in r.text
    assert "To the start page" in r.text and "Skip to content" in r.text
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("pgo_sandbox_lang=en;") and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http in the loopback profile
    r = await client.get("/page")  # the client kept the cookie
    assert "<html lang='en'>" in r.text and 'href="/page?lang=nl"' in r.text
    assert "set-cookie" not in r.headers
    r = await client.get("/page?lang=nl")
    assert "<html lang='nl'>" in r.text and "pgo_sandbox_lang=nl" in r.headers["set-cookie"]


@pytest.mark.anyio
async def test_an_unknown_language_or_cookie_means_dutch(client) -> None:
    """Rule: only nl and en are languages; anything else is ignored, never echoed."""
    client.cookies.set(i18n.LANG_COOKIE, "xx-script")
    r = await client.get("/page?lang=xx")
    assert "<html lang='nl'>" in r.text and "set-cookie" not in r.headers


@pytest.mark.anyio
async def test_a_page_after_a_form_post_switches_on_the_start_page(client) -> None:
    """Rule: a POST's result cannot be fetched again, so its switch goes to the start page."""
    r = await client.post("/form")
    assert 'href="/?lang=en"' in r.text


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["//evil.example/x", "/\\evil.example/x", "///evil.example/x"])
async def test_the_switch_link_stays_on_this_site_whatever_the_path(path) -> None:
    """Rule: the language switch links to this site: a path of ``//host/...`` (or ``/\\host``,
    which browsers read alike) would otherwise make it a protocol-relative link to another
    site, on every 404 page of every node."""
    pages = FastAPI()
    pages.add_middleware(i18n.Language)

    @pages.get("/{rest:path}", response_class=HTMLResponse)
    async def any_page(rest: str) -> str:
        return error_page("Niet gevonden", "Deze pagina bestaat niet.", back=("/", "Terug"))

    async def app(scope, receive, send):  # the path as sent (httpx would read a host in it)
        await pages({**scope, "path": path, "raw_path": path.encode()}, receive, send)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://127.0.0.1:8000") as c:
        r = await c.get("/x")
    assert 'href="/evil.example/' in r.text
    assert 'href="//' not in r.text and 'href="/\\' not in r.text


def test_the_language_is_per_request() -> None:
    """Rule: outside a request (and after one) pages are Dutch: the context variable is reset."""
    token = i18n.use("en")
    try:
        assert i18n._("Intrekken") == "Withdraw"
        assert i18n._("Doorgaan als {name}", name="A") == "Continue as A"
    finally:
        i18n._language.reset(token)
    assert i18n._("Intrekken") == "Intrekken" and i18n.language() == "nl"


# --- every person-facing template in English ------------------------------------------------
CURATOR = SimpleNamespace(active=False, erased=False, notice="")
BANKRUPT = SimpleNamespace(active=True, erased=False, notice=(
    "Deze PGO-leverancier is failliet. Een curator beheert uw gegevens. U kunt uw gegevens "
    "nog exporteren (portabiliteitsrapport); nieuwe gegevens ophalen kan niet meer."))
ERASED = SimpleNamespace(active=False, erased=True, notice="")
ITEM = SimpleNamespace(what="Furosemide 40mg", detail="1 maal per dag", date="2024-01-02",
                       provider="UMC Sandbox")
PERSON = dict(person_id="p1", csrf_token="t", groups={"medicatie": [ITEM]}, headings=GROUPS,
              other=3, collected=[{"display": "UMC Sandbox", "collected_at":
                                   "2024-01-02T10:00:00Z", "count": 4}],
              consents=[{"display": "UMC Sandbox", "provider": "umcsandbox@medmij",
                         "long_lived": True, "revoked_at": None},
                        {"display": "GGZ Sandbox", "provider": "ggzsandbox@medmij",
                         "long_lived": False, "revoked_at": "2024-01-03T10:00:00Z"}],
              collections=[], providers=[("umcsandbox@medmij", "UMC Sandbox")])
PAGES: dict[str, tuple[str, dict]] = {
    "dvp home": ("dvp_home.html", dict(title="PGO Alpha", banner="PGO (sandbox)", token="t",
                                       session=None, curator=CURATOR, password_min=12,
                                       providers=[("u", "UMC Sandbox")])),
    "dvp home, curator": ("dvp_home.html", dict(title="PGO Alpha", token="t", session=None,
                                                curator=BANKRUPT, password_min=12,
                                                providers=[])),
    "dvp home, erased": ("dvp_home.html", dict(title="PGO Alpha", token="t", session=None,
                                               curator=ERASED, password_min=12, providers=[])),
    "dvp person": ("dvp_person.html", dict(title="Anna", curator=CURATOR, **PERSON)),
    "dvp person, curator": ("dvp_person.html", dict(title="Anna", curator=BANKRUPT, **PERSON)),
    "dvp connect": ("dvp_connect.html", dict(title="Zorgaanbieder koppelen", display="UMC",
                                             what="alle gegevens", person_id="p1",
                                             csrf_token="t", provider="u", service=None)),
    "dvp imported": ("dvp_imported.html", dict(title="Rapport ingelezen", person_id="p1",
                                               providers=[("u", "UMC Sandbox")])),
    "digid login": ("digid_login.html", dict(
        title="DigiD", banner="DigiD simulator", rp="pgo", rp_name="PGO Alpha", return_to="/",
        relay_state="r", csrf_token="t", session=SimpleNamespace(bsn="999990019",
                                                                 csrf_token="t"),
        session_name="Anna", persons=[{"name": "Anna", "bsn": "999990019",
                                       "providers": ["UMC Sandbox"]}], error="")),
    "digid home": ("digid_login.html", dict(
        title="DigiD", rp="", rp_name="een website die om inloggen vraagt", return_to="",
        relay_state="", csrf_token="", session=None, session_name="", persons=[], error="",
        home=True)),
    "dva consent": ("dva_consent.html", dict(
        title="Toestemming geven", share=False, long_lived_allowed=True, provider="UMC",
        client_name="PGO Alpha", services="BgZ", session_id="s", csrf_token="t")),
    "dva consent, mgo": ("dva_consent.html", dict(
        title="Toestemming geven", share=False, long_lived_allowed=False, provider="UMC",
        client_name="MGO", services="BgZ", session_id="s", csrf_token="t")),
    "dva bevestigingsverklaring": ("dva_consent.html", dict(
        title="Bevestigingsverklaring", share=True, provider="UMC", client_name="PGO Alpha",
        services="Meetwaarden", session_id="s", csrf_token="t")),
    "dva root": ("dva_root.html", dict(title="DVA Nexus", banner="Dienstverlener aanbieder (DVA)",
                                       providers=["UMC Sandbox"])),
    "mgo home": ("mgo_home.html", dict(title="Mijn Gezondheidsoverzicht",
                                       banner="Publieke inzagefunctie (sandbox)")),
    "mgo overview": ("mgo_overview.html", dict(
        title="Uw gezondheidsoverzicht", headings=GROUPS, results=[
            {"status": "collected", "display": "UMC", "groups": {"medicatie": [ITEM]}},
            {"status": "collected", "display": "GGZ", "groups": {"medicatie": [ITEM]}},
            {"status": "collected", "display": "RIVM", "groups": {}},
            {"status": "refused", "display": "Huisarts", "error": "access_denied"},
            {"status": "failed", "display": "Lab"}])),
    "registry lists": ("registry_lists.html", dict(
        title="MedMij-lijsten", banner="MedMij Stelselnode (sandbox)",
        paths=[("zal", "/zal")], volgnummers={"zal": 1, "ocl": 1, "whitelist": 1, "gnl": 1},
        zal=[("u@medmij", [("48", {"authorize": "a", "token": "t"})])], gnl={"48": "BgZ"},
        display={}, ocl=[("pgo", "PGO Alpha")], whitelist=["h"], gnl_rows=[("48", "BgZ")])),
}


def leftover_dutch(html: str) -> list[str]:
    """Catalogue texts (of a few words, with an English that differs) still in ``html``."""
    plain = re.sub(r"\s+", " ", html)
    found = []
    for nl, en in i18n.EN.items():
        if nl == en or len(nl.split()) < 3:
            continue
        for piece in re.split(r"\{\w*\}", nl):
            if len(piece.split()) >= 3 and piece.strip() in plain:
                found.append(piece.strip())
    return found


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_page_renders_in_english(name: str) -> None:
    """Rule: with English chosen a page has ``lang='en'``, a switch back to Dutch, and none of
    the catalogue's Dutch sentences (a text not wrapped in ``_()`` shows up here)."""
    template, context = PAGES[name]
    dutch = render(template, **context)
    assert "<html lang='nl'>" in dutch and ">English</a>" in dutch
    token = i18n.use("en")
    try:
        english = render(template, **context)
    finally:
        i18n._language.reset(token)
    assert "<html lang='en'>" in english and ">Nederlands</a>" in english
    assert not leftover_dutch(english), leftover_dutch(english)
    assert english != dutch


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_page_has_the_accessible_skeleton(name: str) -> None:
    """Rules (issue 15 item 5, what axe alone does not demand): the viewport meta (readable on
    a phone), header/main/footer landmarks with a skip link to main, the language switch in
    the header, every id once (the MGO overview repeats the groups per provider), every
    scrolling table reachable by keyboard, and a decision (a form with more than one submit
    choice) inside a fieldset with its legend."""
    template, context = PAGES[name]
    page = render(template, **context)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert all(tag in page for tag in ("<header>", '<main id="inhoud"', "<footer>"))
    assert 'href="#inhoud"' in page and 'class="lang-switch"' in page
    ids = re.findall(r"""\bid=["']([^"']+)["']""", page)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert page.count('class="table-scroll"') == page.count('class="table-scroll" tabindex="0"')\
        + page.count('class="table-scroll" id="ophalen" tabindex="0"')
    for form in re.findall(r"<form.*?</form>", page, re.S):
        if form.count('name="decision"') > 1:
            assert "<fieldset><legend>" in form


# --- the DVA's pages: its root, its error pages, the consent screen shown again ---------------
HTML = {"Accept": "text/html"}


@pytest.fixture
async def dva(tmp_path):
    from tests.simulators.dva.test_dva_role import Dva

    node = Dva(tmp_path)
    yield node
    await node.close()


@pytest.mark.anyio
async def test_dva_root_and_unknown_pages_are_pages_json_stays_for_api_clients(dva) -> None:
    """Rules: the DVA's root is a page naming its providers (not a JSON 404); an unknown
    address is a Dutch (or English) page with a way back for a browser, FastAPI's JSON for an
    API client."""
    async with dva.client() as client:
        r = await client.get("/", headers=HTML)
        assert r.status_code == 200 and "UMC Sandbox" in r.text and "<main" in r.text
        r = await client.get("/bestaat-niet", headers=HTML)
        assert r.status_code == 404 and "Deze pagina bestaat niet." in r.text
        assert "href='/'" in r.text and "<html lang='nl'>" in r.text
        r = await client.get("/bestaat-niet?lang=en", headers=HTML)
        assert "This page does not exist." in r.text and "<html lang='en'>" in r.text
        r = await client.get("/bestaat-niet", headers={"Accept": "application/json"})
        assert r.status_code == 404 and r.json() == {"detail": "Not Found"}


@pytest.mark.anyio
async def test_dva_consent_screen_again_in_english_for_its_own_browser_only(dva) -> None:
    """Rules: the consent screen's language switch shows the same open screen again
    (``GET /oauth/consent``) in the chosen language; only the browser bound to the session
    sees it (another gets the refusal page), and showing it answers nothing."""
    from simulators.medmij import build_scope
    from tests.simulators.dva.test_dva_role import CLIENT, PROVIDER, SLUG

    session_id = dva.grants.start_session(CLIENT, dva.redirect_uri, build_scope(SLUG, "48"),
                                          "st", PROVIDER, ["48"], None, "browser", "csrf")
    dva.grants.identify(session_id, 7)
    async with dva.client() as client:
        r = await client.get(f"/oauth/consent?session_id={session_id}&lang=en", headers=HTML)
        assert r.status_code == 403 and "not started in this browser" in r.text
        client.cookies.set(dva.dva.authz_cookie, "browser")
        r = await client.get(f"/oauth/consent?session_id={session_id}&lang=en", headers=HTML)
        assert r.status_code == 200 and "<html lang='en'>" in r.text
        assert "May <strong>UMC Sandbox</strong> share your data" in r.text
        assert f'href="/oauth/consent?session_id={session_id}&amp;lang=nl"' in r.text
        assert "name='long_lived'" in r.text and "<fieldset><legend>Your choice" in r.text
    assert dva.grants.session(session_id) is not None  # still open: nothing was answered


@pytest.mark.anyio
async def test_dva_consent_screen_switches_through_the_screen_shown_again(dva) -> None:
    """Rule: the consent screen came from DigiD's return (a single-use artifact), so its
    language link is ``/oauth/consent?session_id=...``, not the return address again."""
    from simulators.dva.pages import consent_page

    session = {"id": "s1", "client_id": "pgo-alpha.sandbox.test", "csrf": "c"}
    provider = dva.config.topology.provider("umcsandbox@medmij")
    token = i18n._request.set(("GET", "/digid/acs", "SAMLart=once&RelayState=s1"))
    try:
        page = consent_page("Nexus DVA", dva.dva.lists.lists, session, provider, ["48"])
    finally:
        i18n._request.reset(token)
    assert 'href="/oauth/consent?session_id=s1&amp;lang=en"' in page and "SAMLart" not in page
