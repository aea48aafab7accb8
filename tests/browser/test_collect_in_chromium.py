"""A real browser through the pages (issue 15 item 6): Debian's headless Chromium driven by
Selenium against a running sandbox (the ``sandbox`` fixture): create a PGO account, connect
"UMC Sandbox" by its display name, log in at DigiD with the first listed test person, consent
at the DVA, and read the grouped data back on the PGO; then Mijn Gezondheidsoverzicht's
consent text and overview. Screenshots of every step go to ``test-artifacts/screenshots/``.

Needs ``/usr/bin/chromium``, ``/usr/bin/chromedriver`` (apt: chromium chromium-driver) and
the ``selenium`` package; skips with the reason when one is missing. Selenium never
downloads a driver here: the Service names Debian's chromedriver.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-component-update", "--disable-sync",
         "--window-size=412,915")  # a phone's viewport: the pages are mobile first

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("no /usr/bin/chromium or /usr/bin/chromedriver "
                "(apt-get install -y chromium chromium-driver)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow


@contextmanager
def chromium(window: str = "412,915") -> Iterator:
    """Debian's headless Chromium with a fresh profile, quit and removed afterwards: every
    browser test starts it here (``window``: a phone's viewport, or a trainer's screen)."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    flags = [f for f in FLAGS if not f.startswith("--window-size")]
    for flag in (*flags, f"--window-size={window}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


def shot(driver, name: str) -> None:
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def click(driver, css: str) -> None:
    """Click a form's button and wait until its page is gone: every click here submits a form,
    and a check of the next page made before the browser left this one would read this one
    (the MedMij overview's loop once saw a "Doorgaan als" page that was already being left,
    then waited in vain for its button on the consent page that followed)."""
    button = WebDriverWait(driver, 30).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, css)))
    button.click()
    WebDriverWait(driver, 30).until(lambda _d: gone(button),
                                    f"still on {driver.current_url} after clicking {css}")


def gone(element) -> bool:
    """The element left the page: Selenium says stale, Chromium sometimes that the node no
    longer belongs to the document (a WebDriverException of its own, which Selenium's
    ``staleness_of`` lets through as an error)."""
    try:
        element.is_enabled()
    except WebDriverException:  # StaleElementReferenceException is one
        return True
    return False


def wait_for_text(driver, text: str) -> None:
    WebDriverWait(driver, 60).until(lambda d: text in d.page_source,
                                    f"{text!r} not on {driver.current_url}")


def digid_first_person(driver, step: str) -> None:
    wait_for_text(driver, "Testpersonen")
    shot(driver, f"{step}-digid")
    click(driver, "form[action='/login'] button[aria-label^='Inloggen als']")


def test_full_collect_through_the_pages(browser, sandbox) -> None:
    """A person collects from UMC Sandbox with only the pages and sees their data grouped."""
    browser.get(sandbox.url("pgo-alpha", "/"))
    shot(browser, "01-pgo-start")
    browser.find_element(By.ID, "new-name").send_keys("Test Browser")
    browser.find_element(By.ID, "new-pw").send_keys("een-lang-wachtwoord")
    click(browser, "form[action='/persons'] button[type='submit']")
    wait_for_text(browser, "Uw gegevens")
    shot(browser, "02-pgo-person-empty")
    browser.find_element(By.LINK_TEXT, "UMC Sandbox").click()
    wait_for_text(browser, "UMC Sandbox")
    shot(browser, "03-pgo-connect")
    click(browser, "form[action$='/connect'] button[type='submit']")
    digid_first_person(browser, "04")
    wait_for_text(browser, "Toestemming")
    shot(browser, "05-dva-consent")
    click(browser, "button[name='decision'][value='allow']")
    wait_for_text(browser, "Opgehaald op")
    shot(browser, "06-pgo-person-collected")
    page = browser.page_source
    assert "UMC Sandbox" in page and "Toestemmingen" in page and "Intrekken" in page
    assert any(f">{h} <small>" in page for h in ("Medicatie", "Problemen", "Uitslagen")), page
    assert "MedicationRequest" not in page


def test_mgo_overview_in_the_browser(browser, sandbox) -> None:
    """Mijn Gezondheidsoverzicht: its own consent text, DigiD, each provider's consent, and
    the readable overview; a reload is a Dutch page, not JSON."""
    browser.get(sandbox.url("mgo", "/"))
    wait_for_text(browser, "niets bewaard")
    shot(browser, "11-mgo-start")
    click(browser, "form[action='/start'] button")
    digid_first_person(browser, "12")
    for n in range(12):  # per provider: DigiD again at its DVA ("Doorgaan als"), consent
        WebDriverWait(browser, 60).until(
            lambda d: "/overview" in d.current_url or "decision" in d.page_source
            or "name=\"continue\"" in d.page_source,
            f"no DigiD, consent screen nor overview at {browser.current_url}")
        if "/overview" in browser.current_url:
            break
        shot(browser, f"13-mgo-step-{n}")
        if "decision" in browser.page_source:
            click(browser, "button[name='decision'][value='allow']")
        else:
            click(browser, "button[name='continue']")
    wait_for_text(browser, "Uw gezondheidsoverzicht")
    shot(browser, "14-mgo-overview")
    assert "niet bewaard" in browser.page_source and "UMC Sandbox" in browser.page_source
    browser.refresh()
    wait_for_text(browser, "Opnieuw beginnen")
    shot(browser, "15-mgo-reload")
    assert not browser.find_element(By.TAG_NAME, "body").text.lstrip().startswith("{")
