"""Long-lived consent: refresh rotation, lapse after 6 months of sandbox time, revocation, the
scenario, and the `pgo-sandbox clock` commands."""

from __future__ import annotations

import time

import pytest
import typer
from typer.testing import CliRunner

from sandbox.clock_cli import parse_duration, read_offset, register
from scenarios import long_lived_consent
from simulators.common.http import sync_client
from tests.flowhelpers import get_code, pick_person, resource_base, set_clock, token_endpoint

HOSPITAL = "umcsandbox@medmij"
CLIENT = "pgo-alpha.sandbox.test"
DAY = 86400
FHIR3 = {"Accept": "application/fhir+json; fhirVersion=3.0"}


@pytest.fixture(scope="module")
def http(sandbox):
    with sync_client(sandbox.info.addresses) as client:
        yield client


@pytest.fixture
def clock(sandbox):
    """Move the sandbox clock inside a test; always back to wall time afterwards."""

    def move(days: float) -> None:
        set_clock(sandbox, days * DAY)
        time.sleep(0.02)  # a new mtime for the nodes to notice

    yield move
    set_clock(sandbox, 0)


def long_lived_tokens(sandbox, http, start: int) -> dict:
    bsn = pick_person(sandbox, HOSPITAL, start=start)
    code, redirect_uri = get_code(sandbox, HOSPITAL, bsn, long_lived=True)
    r = http.post(token_endpoint(sandbox, HOSPITAL), data={
        "grant_type": "authorization_code", "code": code, "client_id": CLIENT,
        "redirect_uri": redirect_uri})
    assert r.status_code == 200 and "refresh_token" in r.json()
    return r.json()


def refresh(sandbox, http, refresh_token: str, client: str = CLIENT):
    return http.post(token_endpoint(sandbox, HOSPITAL), data={
        "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client})


def read_patient(sandbox, http, access_token: str) -> int:
    return http.get(f"{resource_base(sandbox, HOSPITAL)}/Patient",
                    headers=FHIR3 | {"Authorization": f"Bearer {access_token}"}).status_code


def test_refresh_rotates_and_the_old_refresh_token_is_refused(sandbox, http):
    first = long_lived_tokens(sandbox, http, start=300)
    r = refresh(sandbox, http, first["refresh_token"])
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert read_patient(sandbox, http, second["access_token"]) == 200
    again = refresh(sandbox, http, first["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert refresh(sandbox, http, second["refresh_token"], "pgo-beta.sandbox.test").json()[
        "error"] == "invalid_grant"  # bound to its client


def test_without_opt_in_there_is_no_refresh_token(sandbox, http):
    bsn = pick_person(sandbox, HOSPITAL, start=320)
    code, redirect_uri = get_code(sandbox, HOSPITAL, bsn)
    r = http.post(token_endpoint(sandbox, HOSPITAL), data={
        "grant_type": "authorization_code", "code": code, "client_id": CLIENT,
        "redirect_uri": redirect_uri})
    assert "refresh_token" not in r.json()


def test_consent_lapses_after_six_months_without_collecting(sandbox, http, clock):
    tokens = long_lived_tokens(sandbox, http, start=340)
    clock(150)  # within 6 months: the access token expired, the consent did not
    assert read_patient(sandbox, http, tokens["access_token"]) == 401
    r = refresh(sandbox, http, tokens["refresh_token"])
    assert r.status_code == 200
    assert read_patient(sandbox, http, r.json()["access_token"]) == 200  # collecting: alive
    clock(150 + 184)  # 6 months after that collect
    lapsed = refresh(sandbox, http, r.json()["refresh_token"])
    assert lapsed.status_code == 400 and lapsed.json() == {
        "error": "invalid_grant",
        "error_description": "Consent lapsed after 6 months without use."}


def test_revocation_ends_the_consent(sandbox, http):
    tokens = long_lived_tokens(sandbox, http, start=360)
    revoke = sandbox.public_url(sandbox.topology.provider(HOSPITAL).dva, "/oauth/revoke")
    r = http.post(revoke, data={"token": tokens["refresh_token"], "client_id": CLIENT,
                                "token_type_hint": "refresh_token"})
    assert r.status_code == 200
    assert refresh(sandbox, http, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert read_patient(sandbox, http, tokens["access_token"]) == 401
    # RFC 7009 2.2: an unknown token is answered 200 as well
    assert http.post(revoke, data={"token": "unknown", "client_id": CLIENT}).status_code == 200


def test_pgo_recollects_by_refresh_then_revokes(sandbox):
    """The scenario drives the PGO's own endpoints: refresh, revoke, refused, lapsed."""
    report = long_lived_consent.run(sandbox)
    assert report.ok, report.to_dict()
    names = [s.name for s in report.steps]
    assert "re-collect by refresh token" in names and "refresh refused: consent lapsed" in names
    assert read_offset(sandbox.state_dir / "clock.json") == 0  # the scenario put the clock back


def test_recollect_without_long_lived_consent_is_refused_by_the_pgo(sandbox, http):
    from scenarios.collect import run as collect_run
    from scenarios.useragent import Browser

    with Browser(sandbox.info.addresses) as browser:
        report = collect_run(sandbox, dvp="pgo-beta", provider=HOSPITAL, browser=browser)
        person = next(s for s in report.steps if s.name == "account at the PGO").detail.split()[1]
        url = sandbox.url("pgo-beta", f"/api/persons/{person}/grants/{HOSPITAL}/refresh")
        assert http.post(url).status_code == 401  # not without the person's session
        r = browser.request("POST", url)
        assert r.status_code == 409 and r.json()["error"] == "no_long_lived_consent"
        consents = browser.get(sandbox.url("pgo-beta", f"/api/persons/{person}/consents")).json()
        assert consents[0]["long_lived"] is False


@pytest.mark.parametrize("text,seconds", [("200d", 200 * DAY), ("6h30m", 6.5 * 3600),
                                          ("2w", 14 * DAY), ("90s", 90)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "200", "d", "5x", "1d-2h"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_clock_commands(tmp_path):
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    state = ["--state-dir", str(tmp_path)]
    assert runner.invoke(app, ["clock", "advance", "200d", *state]).exit_code == 0
    assert runner.invoke(app, ["clock", "advance", "1d", *state]).exit_code == 0
    assert read_offset(tmp_path / "clock.json") == 201 * DAY
    shown = runner.invoke(app, ["clock", "show", *state])
    assert shown.exit_code == 0 and "+201.00 days" in shown.output
    assert runner.invoke(app, ["clock", "advance", "soon", *state]).exit_code == 2
    assert runner.invoke(app, ["clock", "reset", *state]).exit_code == 0
    assert not (tmp_path / "clock.json").exists()
