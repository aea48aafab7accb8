"""The ``e2e`` marker of tests/conftest.py: what counts as starting a runtime, and that a test
using the ``sandbox`` fixture is marked (so ``-m "not e2e"`` is the in-process suite)."""

from __future__ import annotations

import pytest

from tests.conftest import STARTS_A_RUNTIME


@pytest.mark.parametrize("source", [
    "up_on_free_ports(runtime, timeout=90)",
    "runtime.up(load_topology(), base_port=free_base_port())",
    'runner.invoke(app, ["up", "--base-port", base])',
    'CliRunner().invoke(cli.app, ["up", "--runtime", "docker"])',
    'subprocess.run(_cli() + ["down"], env=env)',
])
def test_these_start_a_runtime(source: str) -> None:
    assert STARTS_A_RUNTIME.search(source)


@pytest.mark.parametrize("source", [
    'runner.invoke(app, ["up", "--runtime", "swarm", "--state-dir", str(tmp_path)])',
    'runner.invoke(app, ["up", "--runtime", "fake"])',
    'assert FakeRuntime.calls == ["up", "status", "down"]',
    'runner.invoke(app, ["status", "--json"])',
])
def test_these_do_not(source: str) -> None:
    assert not STARTS_A_RUNTIME.search(source)


def test_a_test_using_the_sandbox_fixture_is_e2e(request: pytest.FixtureRequest) -> None:
    """Checked on the tests collected with this one (all of them in a whole-suite run)."""
    assert request.node.get_closest_marker("e2e") is None
    marked = [i for i in request.session.items if "sandbox" in i.fixturenames]
    assert all(i.get_closest_marker("e2e") for i in marked)
