"""The live dashboard in a real browser (issue 15 items 1 and 2): Debian's headless Chromium
logs in with the one-time link `pgo-sandbox dashboard` prints, sees the topology and node
health, and watches a collect's hops arrive live (server-sent events); then opens the
journey's sequence diagram. Screenshots go to ``test-artifacts/screenshots/``.

Same setup as ``test_collect_in_chromium.py`` (skips without chromium, chromedriver or
selenium), with a desktop-sized window: the dashboard is a trainer's screen.
"""

from __future__ import annotations

import time

import pytest

from tests.browser.test_collect_in_chromium import SCREENSHOTS, chromium

webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from sandbox.dashboard_cli import login_link  # noqa: E402
from scenarios import collect  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def desktop():
    with chromium("1400,1000") as driver:  # the dashboard is a trainer's screen
        yield driver


def test_dashboard_shows_a_collect_live(desktop, sandbox) -> None:
    """A trainer opens the dashboard, a person collects, and the journey appears live with
    display names; its sequence diagram opens from there."""
    desktop.get(login_link(sandbox))
    WebDriverWait(desktop, 60).until(lambda d: "Live verbonden" in d.page_source,
                                     "the live stream did not connect")
    WebDriverWait(desktop, 30).until(
        lambda d: d.find_element(By.ID, "status-dva-nexus").text.startswith("gezond"),
        "node health not shown")
    assert desktop.find_element(By.CSS_SELECTOR, "#health-pgo-alpha").get_attribute(
        "class") == "health ok"
    desktop.save_screenshot(str(SCREENSHOTS / "21-dashboard-start.png"))
    started = time.monotonic()
    report = collect.run(sandbox)
    assert report.ok, report.steps
    corr = report.summary["correlation_id"]
    selector = f"details.journey[data-corr='{corr}'] li.hop"
    search = "Alpha Gezond PGO → Nexus DVA (UMC Sandbox): GET /fhir/umcsandbox/48/"

    def rows(driver) -> list[str]:
        return [e.text for e in driver.find_elements(By.CSS_SELECTOR, selector)]

    WebDriverWait(desktop, 30).until(lambda d: any(search in r for r in rows(d)),
                                     "the collect's searches did not arrive live")
    seen = time.monotonic() - started
    assert any("POST /oauth/token → 200" in r for r in rows(desktop)), rows(desktop)
    desktop.save_screenshot(str(SCREENSHOTS / "22-dashboard-live-collect.png"))
    desktop.find_element(By.CSS_SELECTOR,
                         f"details.journey[data-corr='{corr}'] a").click()
    WebDriverWait(desktop, 30).until(lambda d: "Reis door het stelsel" in d.page_source)
    assert desktop.find_elements(By.CSS_SELECTOR, "figure svg g.hop")
    desktop.save_screenshot(str(SCREENSHOTS / "23-dashboard-sequence.png"))
    print(f"collect seen on the dashboard {seen:.1f} s after it started")


def test_an_open_dashboard_drops_the_events_the_registry_dropped(desktop, sandbox) -> None:
    """Rule (``dashboard.js``, ``event: forget``): when the registry drops a node's events (a
    new log: here the node's process killed and restarted, as after a curator's erasure) an
    open page removes that node's rows without a reload, and keeps the other nodes' rows."""
    from sandbox.drill import Fault, kill_and_wait

    desktop.get(login_link(sandbox))
    WebDriverWait(desktop, 60).until(lambda d: "Live verbonden" in d.page_source,
                                     "the live stream did not connect")
    report = collect.run(sandbox)
    assert report.ok, report.steps
    corr = report.summary["correlation_id"]

    def rows(node: str) -> list:
        return desktop.find_elements(
            By.CSS_SELECTOR, f"details.journey[data-corr='{corr}'] li[data-node='{node}']")

    WebDriverWait(desktop, 30).until(lambda d: rows("pgo-alpha") and rows("dva-nexus"),
                                     "the collect's hops did not arrive live")
    kept = len(rows("dva-nexus"))
    fault = Fault("kill", "pgo-alpha")
    kill_and_wait(sandbox, "pgo-alpha", fault)
    assert not fault.error, fault.error
    WebDriverWait(desktop, 30).until(lambda d: not rows("pgo-alpha"),
                                     "the restarted PGO's old hops stayed on the page")
    assert len(rows("dva-nexus")) >= kept  # late rows of the collect may still have come in
    desktop.save_screenshot(str(SCREENSHOTS / "24-dashboard-after-restart.png"))
