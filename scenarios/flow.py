"""The MedMij collect journey written once, as generators any user agent can drive.

A journey yields what the person's browser does (``Request``: method, URL, form or query, step
name), what the person takes time for (``Pause``: reads the consent screen, types the BSN) and
what a step found (``Note``); it receives each request's response and raises ``FlowError``
naming the step at the first deviation from SPEC.md section 3. It never touches the network,
like httpx's ``Auth.auth_flow``, so each step is tested with canned responses
(tests/scenarios/test_flow.py). Drivers: ``run`` (scripted ``Browser``, probes), ``run_reported``
(scenario reports, one report step per step name) and ``LocustBrowser.run`` (load users:
think times slept, each request marked failed when the journey rejects its response).

The journeys: ``consent`` (authorize -> DigiD login, BSN form or single sign-on -> consent page
-> consent, allow or deny, long-lived or not -> redirect to the client) is the core;
``authorization_code`` stops there with the code (a DVP back end's probe); ``pgo_collect`` adds
the PGO's connect page and form before and the PGO's callback (token + searches) and "data
visible" after (the collect scenario, PGO load users). Example::

    with Browser(addresses) as browser:
        code = browser.run(authorization_code(authorize_url, bsn))
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import parse_qs, urljoin, urlsplit

if TYPE_CHECKING:
    from scenarios.accounts import PgoAccount
    from scenarios.report import ScenarioReport

# The steps, as the collect scenario's report names them.
AUTHORIZE = "authorize"
DIGID = "DigiD login"
CONSENT = "availability + consent"
COLLECT = "token + searches at the DVA"
DATA = "data visible in the PGO"


class FlowError(Exception):
    """The flow did not go as a real person's browser would expect; ``step`` says where."""

    def __init__(self, message: str, step: str = "") -> None:
        super().__init__(message)
        self.step = step


class Response(Protocol):
    """What a journey reads of an answer: httpx's and requests' responses both fit."""

    status_code: int
    text: str

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def url(self) -> Any: ...  # httpx.URL or str

    def json(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Request:
    """One request of the browser; ``data`` is a form body, ``params`` a query."""

    step: str
    method: str
    url: str
    data: dict[str, str] | None = None
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    """The person reads or types for ``low`` to ``high`` seconds (load users sleep it)."""

    step: str
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Note:
    """What a step found, for the scenario report's detail column."""

    step: str
    text: str


Event = Request | Pause | Note
T = TypeVar("T")
Flow = Generator[Event, Any, T]  # sent a Response after a Request, None after the others


# --- reading pages (pure) ---------------------------------------------------------------------

class Form:
    def __init__(self, action: str, method: str) -> None:
        self.action = action
        self.method = method.lower() or "get"
        self.fields: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []
        self.checkboxes: list[str] = []


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get")))
        elif self.forms and tag == "input" and a.get("name"):
            if a.get("type") == "checkbox":
                self.forms[-1].checkboxes.append(a["name"])
            elif a.get("type") in ("submit",):
                self.forms[-1].buttons.append((a["name"], a.get("value", "")))
            else:
                self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif self.forms and tag == "button" and a.get("name"):
            self.forms[-1].buttons.append((a["name"], a.get("value", "")))


def forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def location(response: Response, step: str = "") -> str:
    """The absolute URL a redirect points to."""
    target = response.headers.get("location")
    if not target:
        raise FlowError(f"{response.status_code} without Location from {response.url}", step)
    return urljoin(str(response.url), target)


def form_request(page: Response, values: dict[str, str] | None = None,
                 button: tuple[str, str] | None = None, checked: tuple[str, ...] = (),
                 action: str | None = None, step: str = "") -> Request:
    """Submitting a form of the page (the first, or the first whose action ends with
    ``action``) with the given values, button and checkboxes. Hidden fields (CSRF tokens,
    session ids) go as the page gave them, as a browser sends them."""
    found = [f for f in forms(page.text) if action is None or f.action.endswith(action)]
    if not found:
        raise FlowError(f"no form{f' to {action}' if action else ''} on {page.url} "
                        f"({page.status_code})", step)
    form = found[0]
    data = dict(form.fields) | (values or {})
    for name in checked:
        if name not in form.checkboxes:
            raise FlowError(f"no checkbox {name!r} on {page.url}", step)
        data[name] = "on"
    if button is not None:
        if button not in form.buttons:
            raise FlowError(f"no button {button} on {page.url}", step)
        data[button[0]] = button[1]
    url = urljoin(str(page.url), form.action)
    if form.method == "post":
        return Request(step, "POST", url, data=data)
    return Request(step, "GET", url, params=data)


def digid_submission(page: Response, bsn: str) -> Request | None:
    """DigiD's login page: with a live DigiD session for this BSN it shows who is logged in and
    a form to continue (single sign-on); otherwise the BSN form. None when DigiD passed
    through at once (a 303 back to the relying party)."""
    if page.status_code == 303:
        return None
    if page.status_code != 200:
        raise FlowError(f"DigiD login page answered {page.status_code}", DIGID)
    continues = [f for f in forms(page.text) if f.action.endswith("/login/continue")]
    if continues and f"BSN {bsn}" in page.text:
        return form_request(page, button=("continue", "yes"), action="/login/continue",
                            step=DIGID)
    return form_request(page, {"bsn": bsn}, action="/login", step=DIGID)


def _json(response: Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# --- the journeys -----------------------------------------------------------------------------

def consent(authorize: str, bsn: str, *, long_lived: bool = False, decision: str = "allow",
            screen: str = "Toestemming") -> Flow[str]:
    """The person's consent: authorize -> DigiD -> the DVA's ``screen`` -> ``decision``.

    Returns the redirect to the client's ``redirect_uri`` (with the code, or the error the
    person chose by denying), checked against the authorize request's redirect_uri and state.
    """
    r = yield Request(AUTHORIZE, "GET", authorize)
    if r.status_code != 302:
        raise FlowError(f"authorize answered {r.status_code}: {r.text[:200]}", AUTHORIZE)
    yield Note(AUTHORIZE, authorize.split("?")[0])
    page = yield Request(DIGID, "GET", location(r, AUTHORIZE))
    submission = digid_submission(page, bsn)
    if submission is not None:
        yield Pause(DIGID, 3, 8)  # types the BSN (in real life: DigiD app), or reads who it is
        page = yield submission
    if page.status_code != 303:
        raise FlowError(f"DigiD login answered {page.status_code}: {page.text[:200]}", DIGID)
    yield Note(DIGID, f"BSN {bsn}")
    page = yield Request(CONSENT, "GET", location(page, DIGID))
    if page.status_code == 302:
        raise FlowError(f"DVA refused: {location(page, CONSENT)}", CONSENT)
    if page.status_code != 200 or screen not in page.text:
        raise FlowError(f"no consent screen ({page.status_code})", CONSENT)
    yield Pause(CONSENT, 2, 6)  # reads the consent screen
    r = yield form_request(page, button=("decision", decision),
                           checked=("long_lived",) if long_lived else (), step=CONSENT)
    if r.status_code != 302:
        raise FlowError(f"consent answered {r.status_code}", CONSENT)
    callback = location(r, CONSENT)
    asked = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    answer = parse_qs(urlsplit(callback).query)
    if not callback.startswith(asked.get("redirect_uri", "")) or \
            answer.get("state", [""])[0] != asked.get("state", ""):
        raise FlowError(f"consent sent the browser to {callback[:160]}, not to the client's "
                        "redirect_uri with its state", CONSENT)
    if decision == "allow" and "code" not in answer:
        raise FlowError(f"no code in redirect: {callback}", CONSENT)
    yield Note(CONSENT, ("consent given" if decision == "allow" else f"decision {decision}")
               + (" (long-lived)" if long_lived else ""))
    return callback


def authorization_code(authorize: str, bsn: str, *, long_lived: bool = False) -> Flow[str]:
    """The consent, stopping at the code: a DVP back end's view (probes, load users)."""
    callback = yield from consent(authorize, bsn, long_lived=long_lived)
    return parse_qs(urlsplit(callback).query)["code"][0]


def connect(account: PgoAccount, provider: str, bsn: str, service: str | None = None,
            long_lived: bool = False) -> Flow[str]:
    """The PGO's connect page and form (the person logged in to ``account``), then the
    consent at the DVA; returns the redirect to the PGO's callback."""
    params = {"provider": provider} | ({"service": service} if service else {})
    page = yield Request(AUTHORIZE, "GET", account.url(f"/persons/{account.person_id}/connect"),
                         params=params)
    if page.status_code != 200:
        raise FlowError(f"connect answered {page.status_code}: {page.text[:200]}", AUTHORIZE)
    r = yield form_request(page, action="/connect", step=AUTHORIZE)
    if r.status_code != 302:
        raise FlowError(f"connect answered {r.status_code}: {r.text[:200]}", AUTHORIZE)
    return (yield from consent(location(r, AUTHORIZE), bsn, long_lived=long_lived))


def pgo_callback(callback: str) -> Flow[dict]:
    """The browser back at the PGO: its callback takes the token and sends every search."""
    r = yield Request(COLLECT, "GET", callback, headers={"Accept": "application/json"})
    summary = _json(r)
    if r.status_code != 200 or summary.get("status") != "collected":
        raise FlowError(f"collect {r.status_code}: {summary or r.text[:200]}", COLLECT)
    yield Note(COLLECT, f"{summary['requests']} requests, {summary['resources']} resources")
    return summary


def data_visible(account: PgoAccount) -> Flow[dict]:
    """The person's data page at the PGO shows something."""
    r = yield Request(DATA, "GET", account.url(f"/api/persons/{account.person_id}/resources"))
    held = _json(r)
    if r.status_code != 200:
        raise FlowError(f"the PGO's data answered {r.status_code}: {r.text[:200]}", DATA)
    if not held.get("total"):
        raise FlowError("the PGO shows no data", DATA)
    yield Note(DATA, ", ".join(f"{t} {n}" for t, n in held.get("by_type", {}).items()))
    return held


def pgo_collect(account: PgoAccount, provider: str, bsn: str, service: str | None = None,
                long_lived: bool = False, see_data: bool = True) -> Flow[dict]:
    """connect -> consent -> the PGO's callback (token + searches) [-> data visible]; the
    PGO's collect summary, with ``resources_held`` when the person looked."""
    callback = yield from connect(account, provider, bsn, service, long_lived)
    summary = yield from pgo_callback(callback)
    if see_data:
        held = yield from data_visible(account)
        summary = summary | {"resources_held": held["total"]}
    return summary


# --- drivers ----------------------------------------------------------------------------------

def run(flow: Flow[T], send: Callable[[Request], Any]) -> T:
    """Drive a journey: each request through ``send``; pauses and notes pass at once."""
    answer = None
    while True:
        try:
            event = flow.send(answer)
        except StopIteration as done:
            return done.value
        answer = send(event) if isinstance(event, Request) else None


def run_reported(flow: Flow[T], send: Callable[[Request], Any], report: ScenarioReport,
                 correlation_id: str = "") -> T:
    """Drive a journey into a scenario report: each run of events with one step name is one
    timed report step (its ``Note`` the detail); a deviation fails that step
    (``StepFailed``)."""
    answer = None
    event = flow.send(answer)
    while True:
        name = event.step
        with report.step(name, correlation_id) as holder:
            while event.step == name:
                answer = send(event) if isinstance(event, Request) else None
                if isinstance(event, Note):
                    holder["detail"] = event.text
                try:
                    event = flow.send(answer)
                except StopIteration as done:
                    return done.value
