"""Fixtures of the DVA's in-process tests: the asyncio backend and one DVA built from
injected parts (``test_dva_role.Dva``)."""

from __future__ import annotations

import pytest

from tests.simulators.dva.test_dva_role import Dva


@pytest.fixture
async def dva(tmp_path):
    node = Dva(tmp_path)
    yield node
    await node.close()
