"""Fixtures of the DVA's in-process tests: the asyncio backend, one DVA built from injected
parts (``test_dva_role.Dva``) and the DVA with DigiD and the registry (``test_security.Net``)."""

from __future__ import annotations

import pytest

from tests.simulators.dva.test_dva_role import Dva
from tests.simulators.dva.test_security import Net


@pytest.fixture
async def dva(tmp_path):
    node = Dva(tmp_path)
    yield node
    await node.close()


@pytest.fixture
async def net(tmp_path):
    network = Net(tmp_path)
    await network.refresh_lists()
    try:
        yield network
    finally:
        await network.close()
