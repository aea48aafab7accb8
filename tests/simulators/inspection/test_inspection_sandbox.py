"""The inspection function against the real DigiD, registry and DVAs (issue 11 items 2, 4):
a lured DigiD login binds nobody's session, and a full overview leaves no BSN behind."""

from __future__ import annotations

import httpx

from scenarios import inspection
from scenarios.persons import find_persons
from scenarios.useragent import Browser


def test_login_csrf_via_a_lured_digid_link_fails(sandbox) -> None:
    provider = sandbox.topology.providers[0].name
    with Browser(sandbox.info.addresses) as attacker, Browser(sandbox.info.addresses) as victim:
        victim_bsn = find_persons(victim, sandbox, provider)[0]["bsn"]
        lure = attacker.location(attacker.get(sandbox.public_url("mgo", "/start")))
        page = victim.get(lure)  # the victim follows the attacker's DigiD link and logs in
        assert page.status_code == 200
        landed = victim.follow(victim.submit(page, {"bsn": victim_bsn}, action="/login"))
        assert landed.status_code == 403 and "niet in deze browser" in landed.text
        for who in (attacker, victim):
            r = who.follow(who.get(sandbox.public_url("mgo", "/next")))
            assert r.status_code == 403 and provider not in r.text
    state = httpx.get(sandbox.url("mgo", "/admin/state"), headers=sandbox.admin_headers)
    assert state.status_code == 200
    # neither browser's visit is logged in (other tests' visitors may hold sessions of their own)
    ours = {attacker.correlation_id, victim.correlation_id}
    assert not any(s["logged_in"] for s in state.json()["held"] if s["correlation_id"] in ours)
    assert victim_bsn not in state.text


def test_full_overview_leaves_no_bsn_and_admin_state_needs_the_token(sandbox) -> None:
    report = inspection.run(sandbox)
    assert report.ok, report.to_dict()
    bsn = report.summary["bsn"]
    state = httpx.get(sandbox.url("mgo", "/admin/state"), headers=sandbox.admin_headers)
    assert state.status_code == 200 and bsn not in state.text
    corr = report.summary["correlation_id"]
    assert not [h for h in state.json()["held"] if h["correlation_id"] == corr]
    assert httpx.get(sandbox.url("mgo", "/admin/state")).status_code == 401
