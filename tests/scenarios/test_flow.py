"""The collect journey of ``scenarios.flow`` driven with canned responses, no network.

Each step's deviation from the MedMij flow raises one ``FlowError`` naming that step; the
happy paths send what a person's browser sends (BSN form or single sign-on, long-lived box,
allow or deny); the scenario report gets one step per step name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest

from scenarios import flow as journeys
from scenarios.accounts import PgoAccount
from scenarios.flow import AUTHORIZE, COLLECT, CONSENT, DATA, DIGID, FlowError, Note, Pause, Request
from scenarios.report import ScenarioReport, StepFailed

PGO, DVA, DIGID_URL = "http://pgo.test", "http://dva.test", "http://digid.test"
CALLBACK = f"{PGO}/oauth/callback"
AUTHORIZE_URL = f"{DVA}/oauth/authorize?" + urlencode({
    "response_type": "code", "client_id": "pgo.test", "redirect_uri": CALLBACK,
    "scope": "umc", "state": "s1"})
BSN = "999990019"
ACCOUNT = PgoAccount(PGO, "p1", "secret")


@dataclass
class Canned:
    """An answer as a journey reads it (the attributes httpx and requests share)."""

    status_code: int
    text: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    url: str = ""

    def json(self):
        return json.loads(self.text)


def redirect(status: int, to: str) -> Canned:
    return Canned(status, headers={"location": to})


def answer(status: int, body: dict) -> Canned:
    return Canned(status, json.dumps(body), {"content-type": "application/json"})


CONNECT_PAGE = Canned(200, """<form method="post" action="/persons/p1/connect">
    <input type="hidden" name="csrf_token" value="t1">
    <input type="hidden" name="provider" value="umc"></form>""", url=f"{PGO}/persons/p1/connect")
LOGIN_PAGE = Canned(200, """<form method="post" action="/login">
    <input type="hidden" name="session" value="d1"><input name="bsn"></form>""",
    url=f"{DIGID_URL}/login?rp=dva")
SSO_PAGE = Canned(200, f"""<p>Ingelogd als BSN {BSN}</p>
    <form method="post" action="/login/continue"><input type="hidden" name="session" value="d1">
    <button name="continue" value="yes">Doorgaan</button></form>
    <form method="post" action="/login"><input name="bsn"></form>""", url=f"{DIGID_URL}/login")
CONSENT_PAGE = Canned(200, """<h1>Toestemming geven</h1><form method="post" action="/oauth/consent">
    <input type="hidden" name="session" value="c1"><input type="checkbox" name="long_lived">
    <button name="decision" value="allow">Ja</button>
    <button name="decision" value="deny">Nee</button></form>""", url=f"{DVA}/digid/acs?x=1")

# What the sandbox answers, request by request, in the order of a PGO collect.
HAPPY = [
    CONNECT_PAGE,                                               # 0 connect page
    redirect(302, AUTHORIZE_URL),                               # 1 connect form
    redirect(302, f"{DIGID_URL}/login?rp=dva"),                 # 2 authorize
    LOGIN_PAGE,                                                 # 3 DigiD login page
    redirect(303, f"{DVA}/digid/acs?x=1"),                      # 4 DigiD login
    CONSENT_PAGE,                                               # 5 consent page
    redirect(302, f"{CALLBACK}?code=c0de&state=s1"),            # 6 consent
    answer(200, {"status": "collected", "requests": 28, "resources": 90}),  # 7 callback
    answer(200, {"total": 90, "by_type": {"Condition": 4}}),   # 8 data
]


def drive(flow, answers: list[Canned]) -> tuple[object, list]:
    """Run a journey on canned answers; the value it returns and every event it yielded."""
    answers, events, reply = list(answers), [], None
    while True:
        try:
            event = flow.send(reply)
        except StopIteration as done:
            return done.value, events
        events.append(event)
        reply = answers.pop(0) if isinstance(event, Request) else None


def requests_of(events: list) -> list[Request]:
    return [e for e in events if isinstance(e, Request)]


def test_pgo_collect_sends_what_a_browser_sends() -> None:
    summary, events = drive(journeys.pgo_collect(ACCOUNT, "umc@medmij", BSN, "48"), HAPPY)
    assert summary["resources_held"] == 90 and summary["requests"] == 28
    sent = requests_of(events)
    assert [(r.step, r.method, r.url.split("?")[0]) for r in sent] == [
        (AUTHORIZE, "GET", f"{PGO}/persons/p1/connect"),
        (AUTHORIZE, "POST", f"{PGO}/persons/p1/connect"),
        (AUTHORIZE, "GET", f"{DVA}/oauth/authorize"),
        (DIGID, "GET", f"{DIGID_URL}/login"),
        (DIGID, "POST", f"{DIGID_URL}/login"),
        (CONSENT, "GET", f"{DVA}/digid/acs"),
        (CONSENT, "POST", f"{DVA}/oauth/consent"),
        (COLLECT, "GET", CALLBACK),
        (DATA, "GET", f"{PGO}/api/persons/p1/resources")]
    assert sent[0].params == {"provider": "umc@medmij", "service": "48"}
    assert sent[1].data == {"csrf_token": "t1", "provider": "umc"}  # hidden fields as given
    assert sent[4].data == {"session": "d1", "bsn": BSN}
    assert sent[6].data == {"session": "c1", "decision": "allow"}  # no long-lived box
    assert sent[7].headers == {"Accept": "application/json"}
    assert [(p.step, p.low, p.high) for p in events if isinstance(p, Pause)] == [
        (DIGID, 3, 8), (CONSENT, 2, 6)]  # the load users' think times


def test_single_sign_on_and_long_lived_consent() -> None:
    answers = HAPPY[2:7]
    answers[1] = SSO_PAGE
    code, events = drive(journeys.authorization_code(AUTHORIZE_URL, BSN, long_lived=True),
                         answers)
    assert code == "c0de"
    sent = requests_of(events)
    assert sent[2].url == f"{DIGID_URL}/login/continue"
    assert sent[2].data == {"session": "d1", "continue": "yes"}
    assert sent[4].data == {"session": "c1", "long_lived": "on", "decision": "allow"}


def test_deny_returns_the_error_redirect() -> None:
    answers = HAPPY[2:7]
    answers[4] = redirect(302, f"{CALLBACK}?error=access_denied&state=s1")
    callback, events = drive(journeys.consent(AUTHORIZE_URL, BSN, decision="deny"), answers)
    assert "error=access_denied" in callback
    assert requests_of(events)[-1].data["decision"] == "deny"


NO_FORM = Canned(200, "<p>Er ging iets mis</p>")


@pytest.mark.parametrize("index,deviation,step,message", [
    (0, Canned(404, "not found"), AUTHORIZE, "connect answered 404"),
    (0, NO_FORM, AUTHORIZE, "no form to /connect"),
    (1, Canned(403, "csrf"), AUTHORIZE, "connect answered 403"),
    (1, Canned(302), AUTHORIZE, "without Location"),
    (2, Canned(400, "invalid_request"), AUTHORIZE, "authorize answered 400"),
    (3, Canned(500), DIGID, "DigiD login page answered 500"),
    (3, NO_FORM, DIGID, "no form to /login"),
    (4, Canned(200, "onbekend BSN"), DIGID, "DigiD login answered 200"),
    (5, redirect(302, f"{CALLBACK}?error=access_denied&state=s1"), CONSENT, "DVA refused"),
    (5, Canned(200, "<h1>Bevestigingsverklaring</h1>"), CONSENT, "no consent screen (200)"),
    (5, Canned(200, "<h1>Toestemming</h1><form action='/oauth/consent'></form>"), CONSENT,
     "no button"),
    (6, Canned(400, "bad session"), CONSENT, "consent answered 400"),
    (6, redirect(302, "http://evil.test/cb?code=c0de&state=s1"), CONSENT, "redirect_uri"),
    (6, redirect(302, f"{CALLBACK}?code=c0de&state=other"), CONSENT, "with its state"),
    (6, redirect(302, f"{CALLBACK}?error=server_error&state=s1"), CONSENT, "no code"),
    (7, answer(502, {"status": "failed", "error": "token"}), COLLECT, "collect 502"),
    (7, Canned(200, "<html>"), COLLECT, "collect 200"),
    (8, Canned(401, "no session"), DATA, "data answered 401"),
    (8, answer(200, {"total": 0, "by_type": {}}), DATA, "the PGO shows no data"),
])
def test_a_deviation_raises_flow_error_naming_its_step(index, deviation, step, message) -> None:
    answers = list(HAPPY)
    answers[index] = deviation
    with pytest.raises(FlowError, match=re.escape(message)) as caught:
        drive(journeys.pgo_collect(ACCOUNT, "umc@medmij", BSN), answers)
    assert caught.value.step == step


def test_probe_consent_without_the_screen_title_fails_at_consent() -> None:
    """A probe (authorization_code) checks the consent screen as the scenario does."""
    answers = HAPPY[2:7]
    answers[3] = Canned(200, CONSENT_PAGE.text.replace("Toestemming", "Iets"))
    with pytest.raises(FlowError) as caught:
        drive(journeys.authorization_code(AUTHORIZE_URL, BSN), answers)
    assert caught.value.step == CONSENT


def test_report_has_one_step_per_step_name() -> None:
    answers = list(HAPPY)
    report = ScenarioReport("collect")
    summary = journeys.run_reported(journeys.pgo_collect(ACCOUNT, "umc", BSN),
                                    lambda _request: answers.pop(0), report, "corr-1")
    assert summary["status"] == "collected" and not answers
    assert [(s.name, s.ok, s.detail) for s in report.steps] == [
        (AUTHORIZE, True, f"{DVA}/oauth/authorize"),
        (DIGID, True, f"BSN {BSN}"),
        (CONSENT, True, "consent given"),
        (COLLECT, True, "28 requests, 90 resources"),
        (DATA, True, "Condition 4")]
    assert {s.correlation_id for s in report.steps} == {"corr-1"}


def test_report_marks_the_failing_step() -> None:
    answers = list(HAPPY)
    answers[4] = Canned(200, "onbekend BSN")
    report = ScenarioReport("collect")
    with pytest.raises(StepFailed):
        journeys.run_reported(journeys.pgo_collect(ACCOUNT, "umc", BSN),
                              lambda _request: answers.pop(0), report)
    assert [(s.name, s.ok) for s in report.steps] == [(AUTHORIZE, True), (DIGID, False)]
    assert report.steps[-1].detail.startswith("FlowError: DigiD login answered 200")


def test_notes_and_pauses_do_not_reach_the_user_agent() -> None:
    """``run`` sends only requests: pauses are for load users, notes for reports."""
    answers, sent = HAPPY[2:7], []

    def send(request: Request) -> Canned:
        sent.append(request)
        return answers.pop(0)

    assert journeys.run(journeys.authorization_code(AUTHORIZE_URL, BSN), send) == "c0de"
    assert len(sent) == 5 and not any(isinstance(r, Note | Pause) for r in sent)


LOCUST_DRIVER = '''
from loadtests.browser import LocustBrowser
from scenarios import flow as journeys
from tests.scenarios.test_flow import AUTHORIZE_URL, BSN, HAPPY, Canned

class Marked(Canned):  # Locust's ResponseContextManager, as far as the driver uses it
    result = None
    def __enter__(self): return self
    def __exit__(self, *exc): return False
    def success(self): self.result = "ok"
    def failure(self, why): self.result = "failed: " + why

class Session:
    cookies = {}
    def __init__(self, answers): self.answers = answers
    def request(self, method, url, **kw):
        assert kw["catch_response"] is True
        return self.answers.pop(0)

class Target:
    def resolve(self, url): return url
    def node_of(self, url): return None
    def verify(self): return True  # loopback: nothing to trust but the system's CAs

answers = [Marked(**vars(a)) for a in HAPPY[2:7]]
answers[2] = Marked(200, "onbekend BSN")
thought = []
try:
    LocustBrowser(Session(list(answers)), Target()).run(
        journeys.authorization_code(AUTHORIZE_URL, BSN), lambda low, high: thought.append(low))
except journeys.FlowError as exc:
    print(exc.step, [a.result for a in answers], thought)
'''


def test_locust_driver_fails_the_rejected_request_and_thinks() -> None:
    """``LocustBrowser.run`` marks the request whose answer the journey rejects as failed in
    Locust's statistics, the ones before as passed, and sleeps the pauses. In a subprocess:
    importing Locust monkey-patches the process."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT as root

    env = os.environ | {"PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", LOCUST_DRIVER], cwd=root, check=True,
                         capture_output=True, text=True, env=env).stdout
    assert out.strip() == ("DigiD login ['ok', 'ok', 'failed: DigiD login answered 200: "
                           "onbekend BSN', None, None] [3]")
