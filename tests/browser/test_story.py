"""Story mode in a real browser (issue 15 items 3 and 6): the bankruptcy chapter end to end
on the story page, served as ``pgo-sandbox story bankruptcy --web`` serves it, against the
running sandbox; Chromium presses "Volgende stap" through every step and a screenshot of
each goes to ``test-artifacts/screenshots/story/``. Then the English switch, replay (which
readmits the vendor) and the reset button (an injected reset here: the real one restarts
every node of the session's sandbox).
"""

from __future__ import annotations

import threading
import time

import pytest

from scenarios.story import CHAPTERS
from scenarios.story.web import StoryState, create_app
from tests.browser.test_accessibility import audit
from tests.browser.test_accessibility import results as axe_results  # noqa: F401
from tests.browser.test_collect_in_chromium import SCREENSHOTS, browser, click  # noqa: F401
from tests.conftest import free_base_port

pytestmark = pytest.mark.slow
By = pytest.importorskip("selenium.webdriver.common.by").By
WebDriverWait = pytest.importorskip("selenium.webdriver.support.ui").WebDriverWait
STORY = SCREENSHOTS / "story"


@pytest.fixture
def story(sandbox):
    """The story page app on 127.0.0.1 in this process (as the CLI's --web runs it)."""
    import uvicorn

    resets: list[int] = []

    def reset():
        resets.append(1)
        return sandbox

    state = StoryState(sandbox, "bankruptcy", reset=reset)
    port = free_base_port(1)
    server = uvicorn.Server(uvicorn.Config(create_app(state), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    STORY.mkdir(parents=True, exist_ok=True)
    try:
        yield f"http://127.0.0.1:{port}", state, resets
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        state.close()


def shot(driver, name: str) -> None:
    driver.save_screenshot(str(STORY / f"{name}.png"))


def test_bankruptcy_story_in_the_browser(browser, story, axe_results):  # noqa: F811
    url, state, resets = story
    chapter = CHAPTERS["bankruptcy"]
    browser.set_window_size(1400, 1400)  # a projector, not a phone
    browser.get(f"{url}/?lang=nl")
    assert chapter.title["nl"] in browser.page_source
    shot(browser, "00-start")
    for i, step in enumerate(chapter.steps, 1):
        click(browser, "#next")
        WebDriverWait(browser, 90).until(
            lambda d, key=step.key: d.find_elements(By.CSS_SELECTOR, f"#step[data-step='{key}']"),
            f"step {step.key} not shown")
        section = browser.find_element(By.ID, "step")
        assert section.get_attribute("data-ok") == "yes", section.text
        assert step.narration["nl"] in section.text
        shot(browser, f"{i:02d}-{step.key}")
        frames = browser.find_elements(By.CSS_SELECTOR, "iframe[sandbox]")
        if step.key == "notice":  # the citizen's page: the curator's notice at the vendor
            browser.switch_to.frame(frames[0])
            assert "curator" in browser.find_element(By.TAG_NAME, "body").text.lower()
            browser.switch_to.default_content()
        if step.key in ("bankrupt", "cut-off"):  # the system's work: admin calls and probes
            assert "/oauth/authorize" in browser.page_source or "/admin/" in browser.page_source
    assert browser.find_elements(By.ID, "chapter-done")
    problems = audit(browser, axe_results, "story-page")  # the trainer's page passes axe too
    browser.find_element(By.LINK_TEXT, "English").click()
    WebDriverWait(browser, 30).until(lambda d: "Next step" in d.page_source)
    problems += audit(browser, axe_results, "story-page.en")
    assert not problems, "\n".join(problems)
    assert chapter.steps[-1].narration["en"] in browser.page_source
    shot(browser, f"{len(chapter.steps) + 1:02d}-english")
    click(browser, "#replay")  # puts the vendor back on the lists, the chapter from the start
    WebDriverWait(browser, 90).until(lambda d: not d.find_elements(By.ID, "step"))
    assert state.current().results == []
    click(browser, "#reset")
    WebDriverWait(browser, 30).until(lambda d: "The sandbox was reset" in d.page_source)
    shot(browser, f"{len(chapter.steps) + 2:02d}-reset")
    assert resets == [1]
