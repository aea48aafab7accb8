"""The story page (``pgo-sandbox story NAME --web``): a small app in the CLI's process.

A trainer puts it on the projector: a chapter picker, the step's narration, buttons for next,
play/pause and replay, the citizen's page (the HTML the scripted browser got, shown in a
sandboxed ``iframe srcdoc``: no script, no form, no navigation of ours) beside the system view
(the step's hops), a language switch (nl/en) and one-click reset for the next audience.

It listens on 127.0.0.1 only, accepts only a loopback ``Host`` (no DNS rebinding), and every
button is a POST form with a CSRF token bound to a cookie and checked with ``Origin``, as on
the sandbox's own nodes: a page on another site must not be able to bankrupt a vendor or
reset the sandbox. Templates are Jinja2 with autoescaping; nothing comes from a CDN and the
page has no script (autoplay refreshes with ``<meta http-equiv=refresh>``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.middleware.trustedhost import TrustedHostMiddleware

from sandbox.state import Running
from scenarios.story.chapters import CHAPTERS
from scenarios.story.engine import LANGS, Runner
from simulators.common.html import TEMPLATES as COMMON_TEMPLATES
from simulators.common.security import SecurityHeaders, csrf_ok, new_token, same_origin

TEMPLATES = Path(__file__).with_name("templates")
ENV = Environment(loader=ChoiceLoader([FileSystemLoader(TEMPLATES),
                                       FileSystemLoader(COMMON_TEMPLATES)]),
                  autoescape=select_autoescape(["html", "htm", "xml"], default=True),
                  trim_blocks=True, lstrip_blocks=True)
CSRF_COOKIE = "story_csrf"  # unique among the sandbox's cookies on 127.0.0.1
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
PLAY_PAUSE_SECONDS = 4.0  # between steps when playing: time to read the narration

LABELS = {
    "nl": {"story": "Verhaalmodus", "chapter": "Hoofdstuk", "start": "Kiezen",
           "next": "Volgende stap", "play": "Afspelen", "pause": "Pauze",
           "replay": "Opnieuw afspelen", "reset": "Sandbox terugzetten voor het volgende "
           "publiek", "citizen": "Wat de burger ziet", "system": "Wat het systeem doet",
           "no_page": "Bij deze stap ziet de burger geen nieuwe pagina.",
           "no_hops": "Geen verzoeken bij deze stap.", "steps": "Stappen",
           "from": "van", "to": "naar", "request": "verzoek", "status": "status",
           "ms": "ms", "not_started": "Nog niet begonnen: druk op 'Volgende stap'.",
           "failed": "Deze stap ging mis", "done": "Einde van het hoofdstuk.",
           "language": "Taal", "playing": "Speelt af…", "reset_done": "De sandbox is "
           "teruggezet.", "browser": "browser van de burger", "sandbox": "beheer (curator, "
           "MedMij Beheer, klok)", "page_of": "Pagina van de burger"},
    "en": {"story": "Story mode", "chapter": "Chapter", "start": "Choose",
           "next": "Next step", "play": "Play", "pause": "Pause", "replay": "Replay",
           "reset": "Reset the sandbox for the next audience",
           "citizen": "What the citizen sees", "system": "What the system does",
           "no_page": "At this step the citizen sees no new page.",
           "no_hops": "No requests at this step.", "steps": "Steps", "from": "from",
           "to": "to", "request": "request", "status": "status", "ms": "ms",
           "not_started": "Not started yet: press 'Next step'.",
           "failed": "This step failed", "done": "End of the chapter.", "language": "Language",
           "playing": "Playing…", "reset_done": "The sandbox was reset.",
           "browser": "citizen's browser", "sandbox": "operations (curator, MedMij Beheer, "
           "clock)", "page_of": "The citizen's page"},
}


class StoryState:
    """The one story being told by this process (one trainer, one projector)."""

    def __init__(self, running: Running, chapter: str,
                 reset: Callable[[], Running] | None = None,
                 runner_factory: Callable[[Running, str], Runner] | None = None) -> None:
        self.running = running
        self.reset_sandbox = reset
        self.make_runner = runner_factory or (lambda r, name: Runner(r, CHAPTERS[name]))
        self.chapter = chapter
        self.runner: Runner | None = None
        self.lock = threading.Lock()
        self.playing = False
        self.message = ""

    def current(self) -> Runner:
        if self.runner is None:
            self.runner = self.make_runner(self.running, self.chapter)
        return self.runner

    def step(self) -> None:
        with self.lock:
            self.current().next()

    def restart(self, chapter: str | None = None) -> None:
        """Put back what the chapter changed and begin it (or another) again."""
        self.playing = False
        with self.lock:
            if self.runner is not None:
                self.runner.finish()
            self.runner = None
            self.chapter = chapter or self.chapter

    def reset(self) -> None:
        """The sandbox back to its seeded state (as `pgo-sandbox reset`), chapter from the
        start."""
        self.restart()
        if self.reset_sandbox is not None:
            with self.lock:
                self.running = self.reset_sandbox()

    def play(self) -> None:
        if self.playing:
            return
        self.playing = True
        threading.Thread(target=self._play, daemon=True).start()

    def _play(self) -> None:
        while self.playing and not self.current().done:
            self.step()
            deadline = time.monotonic() + PLAY_PAUSE_SECONDS
            while self.playing and time.monotonic() < deadline:
                time.sleep(0.1)
        self.playing = False

    def close(self) -> None:
        self.playing = False
        with self.lock:
            if self.runner is not None:
                self.runner.finish()


def create_app(state: StoryState) -> FastAPI:
    """The story page app around one ``StoryState``."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        state.close()  # Ctrl-C: readmit a bankrupt vendor, put the clock back

    app = FastAPI(title="pgo-sandbox story", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])
    app.state.story = state

    def lang_of(value: str | None) -> str:
        return value if value in LANGS else "nl"

    def refuse(lang: str, why: str, status: int = 403) -> HTMLResponse:
        body = ENV.get_template("story_refused.html").render(lang=lang, why=why)
        return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": CSP})

    def checked(request: Request, csrf: str, lang: str) -> HTMLResponse | None:
        """A button's POST: from our own page (Origin) with the cookie's CSRF token."""
        own = {str(request.base_url).rstrip("/")}
        if not same_origin(request, own) or not csrf_ok(request.cookies.get(CSRF_COOKIE),
                                                          csrf):
            return refuse(lang, "CSRF token" if same_origin(request, own) else "foreign Origin")
        return None

    def back(lang: str, step: int | None = None) -> RedirectResponse:
        shown = f"&step={step}" if step is not None else ""
        return RedirectResponse(f"/?lang={lang}{shown}", status_code=303)

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request, lang: str = "nl", step: int | None = None) -> Response:
        lang = lang_of(lang)
        runner = state.current()
        results = runner.results
        shown = results[step] if step is not None and 0 <= step < len(results) else (
            results[-1] if results else None)
        token = request.cookies.get(CSRF_COOKIE) or new_token()
        names = {n.id: n.name for n in state.running.topology.nodes}
        body = ENV.get_template("story.html").render(
            lang=lang, t=LABELS[lang], chapters=CHAPTERS.values(), chapter=runner.chapter,
            results=results, shown=shown, runner=runner, csrf=token, playing=state.playing,
            message=state.message, names=names)
        response = HTMLResponse(body, headers={"Content-Security-Policy": CSP})
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    @app.post("/chapter")
    def chapter(request: Request, csrf: str = Form(""), lang: str = Form("nl"),
                name: str = Form("")) -> Response:
        lang = lang_of(lang)
        if (refused := checked(request, csrf, lang)) is not None:
            return refused
        if name not in CHAPTERS:
            return refuse(lang, f"unknown chapter {name[:40]!r}", 400)
        state.message = ""
        state.restart(name)
        return back(lang)

    def button(path: str, action: Callable[[], object]) -> None:
        """A POST button of the page: checked like every form, then ``action``, then back."""

        def pressed(request: Request, csrf: str = Form(""), lang: str = Form("nl")) -> Response:
            lang = lang_of(lang)
            if (refused := checked(request, csrf, lang)) is not None:
                return refused
            action()
            return back(lang)

        app.post(path, name=path.strip("/"))(pressed)

    def next_step() -> None:
        state.message = ""
        state.step()

    def pause() -> None:
        state.playing = False

    def replay() -> None:
        state.message = ""
        state.restart()

    def reset() -> None:
        state.reset()
        state.message = "reset_done"

    button("/next", next_step)
    button("/play", state.play)
    button("/pause", pause)
    button("/replay", replay)
    button("/reset", reset)

    return app


def serve(state: StoryState, port: int) -> None:
    """Serve the story page on 127.0.0.1:``port`` until Ctrl-C."""
    import uvicorn

    uvicorn.run(create_app(state), host="127.0.0.1", port=port, log_level="warning")
