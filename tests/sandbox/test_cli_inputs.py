"""Bad input at the CLI: a clear message and exit 2 (a usage error), never a traceback, and
nothing lost or half-written (the clock, `population export`, `ca`, `reset`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sandbox import runtime as runtimes
from sandbox.cli import app, restart_args
from sandbox.clock_cli import MAX_DAYS, parse_duration, read_offset, set_offset
from sandbox.runtime.local import LocalRuntime
from sandbox.state import RuntimeInfo
from simulators.common.config import SandboxConfig
from simulators.medmij.topology import load_topology

runner = CliRunner()
DAY = 86400


def cli(*args: str):
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return result


# --- finding 4: the clock --------------------------------------------------------------------
def test_parse_duration_refuses_more_than_100_years():
    assert parse_duration(f"{MAX_DAYS}d") == MAX_DAYS * DAY  # 100 years is still fine
    for text in (f"{MAX_DAYS + 1}d", "99999999999999999d", "1" + "0" * 400 + "d"):  # inf too
        with pytest.raises(ValueError, match="too long"):
            parse_duration(text)


def test_advance_refuses_an_offset_beyond_100_years_and_keeps_the_clock(tmp_path):
    state = ["--state-dir", str(tmp_path)]
    markup = cli("clock", "advance", "[bold]5d", *state)  # shown as typed, not as markup
    assert markup.exit_code == 2 and "'[bold]5d'" in markup.output
    huge = cli("clock", "advance", "99999999999999999d", *state)
    assert huge.exit_code == 2 and "at most 100 years" in huge.output
    assert not (tmp_path / "clock.json").exists()
    assert cli("clock", "advance", "20000d", *state).exit_code == 0
    twice = cli("clock", "advance", "20000d", *state)  # each fine, together past 100 years
    assert twice.exit_code == 2 and "out of range" in twice.output
    assert read_offset(tmp_path / "clock.json") == 20000 * DAY  # not written


def test_set_offset_never_writes_an_offset_the_clock_cannot_use(tmp_path):
    path = tmp_path / "clock.json"
    for bad in (8.64e21, -8.64e21, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="out of range"):
            set_offset(path, bad)
    assert not path.exists()


@pytest.mark.parametrize("content", ['{"offset_seconds": 8.64e+21}', '{"offset_seconds": NaN}',
                                     "garbage", "[1]", '{"offset_seconds": "soon"}'])
def test_show_on_an_unusable_clock_file_says_to_reset(tmp_path, content):
    path = tmp_path / "clock.json"
    path.write_text(content)
    state = ["--state-dir", str(tmp_path)]
    for command in (("show",), ("advance", "1d")):
        result = cli("clock", *command, *state)
        assert result.exit_code == 2, result.output
        assert "no usable clock offset" in result.output
        assert "pgo-sandbox clock reset" in result.output
    assert path.read_text() == content  # advance wrote nothing
    assert cli("clock", "reset", *state).exit_code == 0
    assert "+0.00 days" in cli("clock", "show", *state).output


# --- finding 5: population export / show -----------------------------------------------------
@pytest.mark.parametrize("args", [
    ["export", "--n", "0"], ["export", "--n", "-5"], ["export", "--n", "81000001"],
    ["export", "--chunk", "-1"], ["export", "--chunk", "0"], ["export", "--workers", "-1"],
    ["export", "--size", "0"], ["show", "--index", "-1"], ["show", "--index", "1", "--size", "0"],
])
def test_population_refuses_counts_and_sizes_out_of_range(tmp_path, args):
    out = tmp_path / "export"
    extra = ["--out", str(out), "--size", "10"] if args[0] == "export" else []
    result = cli("population", args[0], *extra, *args[1:])  # the option under test wins
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.output
    assert not out.exists()  # nothing written (was: only a manifest for --chunk -1)


def test_population_export_refuses_an_out_that_is_a_file(tmp_path):
    existing = tmp_path / "passwd"
    existing.write_text("root:x:0:0\n")
    result = cli("population", "export", "--n", "2", "--size", "10", "--out", str(existing))
    assert result.exit_code == 2 and "is a file" in result.output, result.output
    assert existing.read_text() == "root:x:0:0\n"
    below = cli("population", "export", "--n", "2", "--size", "10",
                "--out", str(existing / "sub"))
    assert below.exit_code == 2 and "cannot create the folder" in below.output, below.output


def test_population_refuses_a_broken_topology_file(tmp_path):
    broken = tmp_path / "t.toml"
    broken.write_text("x=\n")
    result = cli("population", "show", "--index", "1", "--topology", str(broken))
    assert result.exit_code == 2 and "TopologyError" in result.output, result.output


# --- finding 5: ca --------------------------------------------------------------------------
def test_ca_usage_errors_exit_2(tmp_path):
    state = ["--state-dir", str(tmp_path / "state")]
    out = ["--out", str(tmp_path / "o")]
    bad = cli("ca", "issue", "[bold]bad host!!", *out, *state)
    assert bad.exit_code == 2 and "unknown hostname '[bold]bad host!!'" in bad.output
    assert "known: registry.sandbox.test" in bad.output
    revoke = cli("ca", "revoke", "nosuch.test", *state)
    assert revoke.exit_code == 2 and "unknown hostname" in revoke.output
    assert "known: registry.sandbox.test" in revoke.output
    short = cli("ca", "issue", "pgo-mine.sandbox.test", "--organisation", "ab", *out, *state)
    assert short.exit_code == 2 and "3-64 characters" in short.output
    days = cli("ca", "issue", "pgo-mine.sandbox.test", "--days", "99999999", *out, *state)
    assert days.exit_code == 2 and "--days" in days.output  # was an OverflowError


def test_ca_out_that_cannot_be_a_folder_exits_2_before_issuing(tmp_path):
    state = tmp_path / "state"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    issue = cli("ca", "issue", "pgo-mine.sandbox.test", "--out", str(a_file / "tls"),
                "--state-dir", str(state))
    assert issue.exit_code == 2 and "cannot create the folder" in issue.output, issue.output
    assert not list(state.glob("pki/pgo-mine.sandbox.test.*"))  # nothing issued
    export = cli("ca", "export", "--out", str(a_file / "ca"), "--state-dir", str(state))
    assert export.exit_code == 2 and "cannot create the folder" in export.output, export.output


# --- finding 6: reset ------------------------------------------------------------------------
@pytest.mark.parametrize("network", ["127.77.0.0/16", "127.201.7.0/24"])
def test_restart_args_keep_the_medmij_profile_and_network(tmp_path, network):
    topo = load_topology()
    addresses = LocalRuntime.medmij_addresses(topo, network)
    info = RuntimeInfo("local", "medmij", addresses, {}, 0.0)
    args = restart_args(LocalRuntime(tmp_path), info, topo, ())
    assert args == {"profile": "medmij", "network": network}


def test_restart_args_keep_the_base_port_and_reference_data(tmp_path):
    topo, rt = load_topology(), LocalRuntime(tmp_path)
    info = RuntimeInfo("local", "loopback", rt.addresses(topo, 18321), {}, 0.0)
    reference = (("umcsandbox@medmij", "/data"),)
    assert restart_args(rt, info, topo, reference) == {"base_port": 18321,
                                                      "reference_data": reference}


@pytest.mark.parametrize("runtime,profile,addresses,why", [
    ("local", "medmij", {"registry.sandbox.test": "https://127.77.0.9"}, "medmij profile's"),
    ("local", "loopback", {"registry.sandbox.test": "http://127.0.0.1:18000"}, "not the ones"),
    ("docker", "medmij", {"registry.sandbox.test": "https://127.0.0.1"}, "no port"),
])
def test_restart_args_refuse_addresses_up_did_not_give(tmp_path, runtime, profile, addresses,
                                                       why):
    info = RuntimeInfo(runtime, profile, addresses, {}, 0.0)
    with pytest.raises(ValueError, match=why):
        restart_args(LocalRuntime(tmp_path), info, load_topology(), ())


class RecordingRuntime(LocalRuntime):
    """The local runtime without processes: records what `reset` asks of it."""

    calls: list = []

    def up(self, topology, base_port=0, timeout=60.0, on_progress=None, reference_data=(), *,
           profile="loopback", network="127.77.0.0/16"):
        self.calls.append(("up", {"base_port": base_port, "profile": profile,
                                  "network": network}))
        addresses = (self.medmij_addresses(topology, network) if profile == "medmij"
                     else self.addresses(topology, base_port))
        info = RuntimeInfo("local", profile, addresses, {}, 0.0, 0.1)
        info.save(self.state_dir)
        return info

    def down(self, timeout=5.0):
        self.calls.append("down")
        (self.state_dir / "runtime.json").unlink(missing_ok=True)
        return 8

    def wipe(self):
        self.calls.append("wipe")
        super().wipe()


def _sandbox_on_file(state: Path, profile: str, addresses: dict[str, str]) -> None:
    """The state files `up` leaves: sandbox.json and runtime.json (no processes)."""
    SandboxConfig(load_topology(), profile, addresses, state).save(state / "sandbox.json")
    RuntimeInfo("local", profile, addresses, {}, 0.0).save(state)
    (state / "nodes").mkdir()
    (state / "nodes" / "kept").write_text("data")


@pytest.fixture
def recording(monkeypatch):
    monkeypatch.setitem(runtimes.RUNTIMES, "local", f"{__name__}:RecordingRuntime")
    RecordingRuntime.calls = []
    return RecordingRuntime.calls


def test_reset_brings_a_medmij_sandbox_back_in_its_profile(tmp_path, recording):
    network = "127.201.9.0/24"
    _sandbox_on_file(tmp_path, "medmij", LocalRuntime.medmij_addresses(load_topology(), network))
    result = cli("reset", "--state-dir", str(tmp_path))
    assert result.exit_code == 0 and "profile medmij" in result.output, result.output
    assert recording[:2] == ["down", "wipe"]
    assert recording[2][1]["profile"] == "medmij" and recording[2][1]["network"] == network


def test_reset_on_a_state_it_cannot_restart_stops_and_wipes_nothing(tmp_path, recording):
    _sandbox_on_file(tmp_path, "loopback", {"registry.sandbox.test": "http://127.0.0.1"})
    result = cli("reset", "--state-dir", str(tmp_path))
    assert result.exit_code == 1 and "Nothing was stopped or wiped" in result.output
    assert recording == []
    assert (tmp_path / "nodes" / "kept").read_text() == "data"
    assert json.loads((tmp_path / "runtime.json").read_text())["profile"] == "loopback"
