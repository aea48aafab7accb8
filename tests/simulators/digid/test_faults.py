"""DigiD's faults (issue 16): a cancelled or failed login goes back to the relying party like
a good one, but its artifact resolves to the status alone (no BSN, no pseudonym) and no DigiD
session is opened. The DVA's answer to it is in ``tests/simulators/dva/test_faults.py``."""

from __future__ import annotations

import pytest

from tests.simulators.digid.test_digid_app import DVA, World

pytestmark = pytest.mark.anyio


@pytest.fixture
async def world(tmp_path):
    w = World(tmp_path)
    async with w.browser:
        yield w


@pytest.mark.parametrize("kind,status", [("digid_cancelled", "cancelled"),
                                         ("digid_failed", "failed")])
async def test_a_cancelled_or_failed_login_resolves_to_its_status_only(world, kind, status):
    world.app.state.faults.add(kind, {"person": world.bsn}, count=1)
    artifact = await world.log_in()
    r = await world.browser.post("/artifact", data={"artifact": artifact, "rp": DVA})
    assert r.status_code == 200 and r.json() == {"status": status}
    assert not any(name.endswith("_session") for name in world.browser.cookies)
    good = await world.browser.post("/artifact", data={"artifact": await world.log_in(),
                                                       "rp": DVA})
    assert good.json() == {"bsn": world.bsn}


async def test_a_fault_for_another_person_does_not_fire(world):
    world.app.state.faults.add("digid_cancelled", {"person": "123456782"})
    artifact = await world.log_in()
    r = await world.browser.post("/artifact", data={"artifact": artifact, "rp": DVA})
    assert r.json() == {"bsn": world.bsn}
