"""Every person-facing page checked by axe-core in Chromium (issue 15 item 5), in Dutch and,
through the page's own visible switch, in English (item 4).

A live sandbox (the ``sandbox`` fixture) is walked as a person would: PGO login/registration,
the person page empty and with data (grouped data, consent overview with "Intrekken"), the
connect page, DigiD's login and its "Doorgaan als" (SSO) page, the DVA consent screen, the
import result at another PGO, Mijn Gezondheidsoverzicht's start and overview, the registry's
list tables, the roots of DigiD and the DVA, and the error pages a person can meet at each
role. States that would change the shared sandbox for other tests (a bankrupt vendor, its
erasure) and the Bevestigingsverklaring are rendered in process from the same templates
(``tests/simulators/common/test_i18n.PAGES``) into files and opened in the same browser.

Each page: axe-core (``npm install axe-core``, see ``.ci/browser-setup.sh``; injected from the
local file, no CDN) runs via ``execute_async_script``; its violations go to
``test-artifacts/axe/<page>.json`` with the counts by impact, and ``summary.json`` lists all
pages. The test fails on any serious or critical violation.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.simulators.common.test_i18n import PAGES, leftover_dutch

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "axe"
AXE_CANDIDATES = [Path(os.environ.get("PGO_SANDBOX_AXE", "/nonexistent")),
                  Path.home() / ".cache/pgo-sandbox/axe/node_modules/axe-core/axe.min.js",
                  ROOT / ".ci/node_modules/axe-core/axe.min.js"]
AXE = next((p for p in AXE_CANDIDATES if p.is_file()), None)
BLOCKING = ("serious", "critical")
IMPACTS = ("minor", "moderate", "serious", "critical")

if AXE is None:
    pytest.skip("no axe-core: run .ci/browser-setup.sh (npm install axe-core into "
                "~/.cache/pgo-sandbox/axe) or set PGO_SANDBOX_AXE", allow_module_level=True)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.browser.test_collect_in_chromium import (  # noqa: E402  (skips without it)
    chromium,
    click,
    gone,
    wait_for_text,
)

pytestmark = pytest.mark.slow
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']})
  .then(r => done(JSON.stringify({url: r.url, violations: r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => ({target: n.target, html: n.html.slice(0, 300)}))}))})))
  .catch(e => done(JSON.stringify({error: String(e)})));
"""


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def results():
    """Page -> counts by impact, written as ``summary.json`` when the module ends."""
    found: dict[str, dict] = {}
    yield found
    summary = ARTIFACTS / "summary.json"
    old = json.loads(summary.read_text()) if summary.exists() else {}
    summary.write_text(json.dumps(old | found, indent=1, sort_keys=True))


def audit(driver, results: dict, name: str) -> list[str]:
    """axe on the page now shown: its JSON saved, the blocking violations returned."""
    driver.execute_script(AXE.read_text("utf-8"))
    report = json.loads(driver.execute_async_script(RUN_AXE))
    assert "error" not in report, report
    counts = {impact: sum(1 for v in report["violations"] if v["impact"] == impact)
              for impact in IMPACTS}
    report |= {"page": name, "lang": driver.find_element(By.TAG_NAME, "html")
               .get_attribute("lang"), "counts": counts}
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(report, indent=1))
    results[name] = {"url": report["url"], **counts}
    return [f"{name}: {v['impact']} {v['id']} ({v['help']}) at "
            f"{[n['target'] for n in v['nodes']][:3]}"
            for v in report["violations"] if v["impact"] in BLOCKING]


def wait_lang(driver, lang: str) -> None:
    WebDriverWait(driver, 60).until(
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang,
        f"no lang={lang} at {driver.current_url}")


def both_languages(driver, results: dict, name: str, back: bool = True) -> list[str]:
    """The page in Dutch, then through its own switch link in English (no Dutch sentence of
    the catalogue left), then (``back``) through the switch again in Dutch."""
    wait_lang(driver, "nl")
    problems = audit(driver, results, name)
    driver.find_element(By.CSS_SELECTOR, ".lang-switch a[hreflang='en']").click()
    wait_lang(driver, "en")
    problems += audit(driver, results, f"{name}.en")
    problems += [f"{name}.en: Dutch left: {s!r}" for s in leftover_dutch(driver.page_source)]
    if back:
        driver.find_element(By.CSS_SELECTOR, ".lang-switch a[hreflang='nl']").click()
        wait_lang(driver, "nl")
    return problems


def test_the_pgo_journey_pages_are_accessible_in_both_languages(browser, sandbox,
                                                                 results) -> None:
    """PGO start, person page (empty, with data and consents), connect, DigiD login and SSO,
    DVA consent, import at another PGO, and the PGO's error pages."""
    b, problems = browser, []
    b.get(sandbox.url("pgo-alpha", "/"))
    problems += both_languages(b, results, "pgo-login-register")
    b.find_element(By.ID, "new-name").send_keys("Toegankelijk Getest")
    b.find_element(By.ID, "new-pw").send_keys("een-lang-wachtwoord")
    click(b, "form[action='/persons'] button[type='submit']")
    wait_for_text(b, "Uw gegevens")
    person_url = b.current_url
    problems += both_languages(b, results, "pgo-person-empty")
    b.find_element(By.LINK_TEXT, "UMC Sandbox").click()
    problems += both_languages(b, results, "pgo-connect")
    click(b, "form[action$='/connect'] button[type='submit']")
    wait_for_text(b, "Testpersonen")
    problems += both_languages(b, results, "digid-login")
    click(b, "form[action='/login'] button[aria-label^='Inloggen als']")
    wait_for_text(b, "decision")
    problems += both_languages(b, results, "dva-consent")
    click(b, "button[name='decision'][value='allow']")
    wait_for_text(b, "Opgehaald op")
    problems += both_languages(b, results, "pgo-person-with-data-and-consents")
    # a second provider: DigiD offers "Doorgaan als" (single sign-on, confirmed by the person)
    b.get(person_url)
    b.find_element(By.LINK_TEXT, "Huisartsenpraktijk De Brug").click() \
        if "Huisartsenpraktijk De Brug" in b.page_source else \
        b.find_elements(By.CSS_SELECTOR, "#koppelen ~ ul a")[1].click()
    click(b, "form[action$='/connect'] button[type='submit']")
    wait_for_text(b, "name=\"continue\"")
    problems += both_languages(b, results, "digid-sso-continue")
    # the portability report, read in at another PGO (the move)
    cookies = {c["name"]: c["value"] for c in b.get_cookies()}
    report = httpx.get(person_url + "/portability", cookies=cookies, timeout=60)
    assert report.status_code == 200, report.text
    path = Path(tempfile.mkdtemp(prefix="axe-report-")) / "portabiliteitsrapport.xml"
    path.write_bytes(report.content)
    b.get(sandbox.url("pgo-beta", "/"))
    b.find_element(By.ID, "new-name").send_keys("Toegankelijk Verhuisd")
    b.find_element(By.ID, "new-pw").send_keys("een-lang-wachtwoord")
    click(b, "form[action='/persons'] button[type='submit']")
    wait_for_text(b, "Uw gegevens")
    b.find_element(By.ID, "rapport").send_keys(str(path))
    click(b, "form[action$='/portability/import'] button[type='submit']")
    wait_for_text(b, "ingelezen")
    problems += audit(b, results, "pgo-import-result")
    # errors a person meets at a PGO: a wrong password, an unknown page
    b.get(sandbox.url("pgo-alpha", "/"))
    b.find_element(By.ID, "login-id").send_keys("niemand")
    b.find_element(By.ID, "login-pw").send_keys("fout")
    click(b, "form[action='/login'] button[type='submit']")
    wait_for_text(b, "Naar de startpagina")
    problems += audit(b, results, "pgo-error-login")
    b.get(sandbox.url("pgo-alpha", "/bestaat-niet"))
    problems += both_languages(b, results, "pgo-error-404")
    assert not problems, "\n".join(problems)


def test_the_other_roles_pages_are_accessible_in_both_languages(browser, sandbox,
                                                                  results) -> None:
    """Roots, lists, Mijn Gezondheidsoverzicht, and the error pages of DVA, DigiD, MGO and
    the registry."""
    b, problems = browser, []
    for name, node, path in (
            ("registry-lists", "registry", "/lists"),
            ("registry-error-404", "registry", "/bestaat-niet"),
            ("dva-root", "dva-nexus", "/"),
            ("dva-error-untrusted", "dva-nexus", "/oauth/authorize?client_id=onbekend"),
            ("dva-error-session", "dva-nexus", "/digid/acs?SAMLart=x&RelayState=y"),
            ("dva-error-404", "dva-nexus", "/bestaat-niet"),
            ("digid-home", "digid", "/"),
            ("digid-error", "digid",
             "/login?rp=evil.example&return_to=http://evil.example/acs"),
            ("mgo-error-not-logged-in", "mgo", "/overview")):
        b.get(sandbox.url(node, path))
        problems += both_languages(b, results, name)
    b.get(sandbox.url("mgo", "/"))
    problems += both_languages(b, results, "mgo-home")
    click(b, "form[action='/start'] button")
    wait_for_text(b, "Testpersonen")
    click(b, "form[action='/login'] button[aria-label^='Inloggen als']")
    buttons = "button[name='decision'][value='allow'], button[name='continue']"
    for _step in range(12):  # per provider: DigiD again ("Doorgaan als"), consent
        WebDriverWait(b, 60).until(
            lambda d: "/overview" in d.current_url
            or d.find_elements(By.CSS_SELECTOR, buttons), f"stuck at {b.current_url}")
        if "/overview" in b.current_url:
            break
        button = b.find_element(By.CSS_SELECTOR, buttons)
        button.click()
        # the next page, not the one just answered (its buttons are still in the DOM briefly)
        WebDriverWait(b, 60).until(lambda _d, old=button: gone(old),
                                   f"no answer at {b.current_url}")
    wait_for_text(b, "Opnieuw beginnen")
    problems += audit(b, results, "mgo-overview")
    assert not problems, "\n".join(problems)


def test_pages_in_states_the_shared_sandbox_must_not_enter(browser, results) -> None:
    """A bankrupt vendor (curator notice, disabled connecting), after its erasure, the
    Bevestigingsverklaring and the overview's refusals: the templates rendered in process,
    opened from files in the same browser, in both languages."""
    from simulators.common import i18n
    from simulators.common.html import render

    folder = ARTIFACTS / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    problems = []
    for name, (template, context) in sorted(PAGES.items()):
        slug = "file-" + name.replace(", ", "-").replace(" ", "-")
        for lang in ("nl", "en"):
            token = i18n.use(lang)
            try:
                page = render(template, **context)
            finally:
                i18n._language.reset(token)
            target = folder / f"{slug}.{lang}.html"
            target.write_text(page, "utf-8")
            browser.get(target.as_uri())
            wait_lang(browser, lang)
            problems += audit(browser, results, slug if lang == "nl" else f"{slug}.en")
    assert not problems, "\n".join(problems)


def test_the_dashboard_pages_are_accessible(browser, sandbox, results) -> None:
    """The trainer's dashboard (Dutch only): its login form, the live page, the journeys and
    one journey's sequence diagram, with a collect in it."""
    from sandbox.dashboard_cli import login_link
    from scenarios import collect

    b, problems = browser, []
    b.delete_all_cookies()
    b.get(sandbox.url("registry", "/dashboard"))
    wait_lang(b, "nl")
    problems += audit(b, results, "dashboard-login")
    report = collect.run(sandbox)
    assert report.ok, report.steps
    b.get(login_link(sandbox))
    wait_for_text(b, "Live verbonden")
    problems += audit(b, results, "dashboard")
    b.get(sandbox.url("registry", "/dashboard/journeys"))
    wait_lang(b, "nl")
    problems += audit(b, results, "dashboard-journeys")
    b.get(sandbox.url("registry", f"/dashboard/journeys/{report.summary['correlation_id']}"))
    wait_lang(b, "nl")
    problems += audit(b, results, "dashboard-journey")
    assert not problems, "\n".join(problems)
