"""The registry's lists: official XSD validity (medmij profile), Volgnummer, parsing."""

from pathlib import Path

import pytest
from lxml import etree

from sandbox.runtime.local import LocalRuntime
from simulators.common.config import SandboxConfig
from simulators.common.lists import PATHS, ListError, parse_list
from simulators.medmij.topology import load_topology
from simulators.registry.lists import ProviderEntry
from simulators.registry.state import RegistryState

XSDS = {
    "zal": "MedMij_Zorgaanbiederslijst.xsd",
    "ocl": "MedMij_OAuthclientlist.xsd",
    "whitelist": "MedMij_Whitelist.xsd",
    "gnl": "MedMij_Gegevensdienstnamenlijst.xsd",
}


def state_for(profile: str, tmp_path: Path | None = None) -> RegistryState:
    topology = load_topology()
    config = SandboxConfig(topology, profile, LocalRuntime(Path(".")).addresses(topology, 18400),
                           tmp_path or Path("."))
    return RegistryState(config, tmp_path / "registry.json" if tmp_path else None)


@pytest.mark.parametrize("kind", sorted(XSDS))
def test_medmij_profile_lists_validate_against_official_xsd(kind, medmij_dir):
    schema = etree.XMLSchema(etree.parse(str(medmij_dir / "lists" / "xsd" / XSDS[kind])))
    document = etree.fromstring(state_for("medmij").render(kind))
    assert schema.validate(document), schema.error_log


def test_official_xsd_rejects_loopback_addresses(medmij_dir):
    """The loopback profile is XSD-shaped but not valid: http URIs with ports. Proves the
    validation above is real."""
    schema = etree.XMLSchema(etree.parse(str(medmij_dir / "lists" / "xsd" / XSDS["zal"])))
    assert not schema.validate(etree.fromstring(state_for("loopback").render("zal")))


def test_lists_parse_back_to_the_topology():
    state = state_for("medmij")
    topology = state.config.topology
    _, zal = parse_list("zal", state.render("zal"))
    assert set(zal) == {p.name for p in topology.providers}
    umc = zal["umcsandbox@medmij"]["48"]
    assert umc.authorize == "https://dva-nexus.sandbox.test/oauth/authorize"
    assert umc.resources["MM-3.0-BZB-FHIR"] == "https://dva-nexus.sandbox.test/fhir/umcsandbox/48"
    _, ocl = parse_list("ocl", state.render("ocl"))
    assert ocl["pgo-alpha.sandbox.test"] == "Alpha Gezond PGO"
    _, whitelist = parse_list("whitelist", state.render("whitelist"))
    assert {d.hostname for d in topology.dvas} <= whitelist
    _, gnl = parse_list("gnl", state.render("gnl"))
    assert gnl["48"] == "Basisgegevens Zorg"


def test_volgnummer_rises_only_for_changed_lists_and_survives_restart(tmp_path):
    state = state_for("loopback", tmp_path)
    before = {k: h["volgnummer"] for k, h in state.headers.items()}
    changed = state.remove_client("pgo-beta.sandbox.test")
    assert sorted(changed) == ["ocl", "whitelist"]
    after = {k: h["volgnummer"] for k, h in state.headers.items()}
    assert after["ocl"] == before["ocl"] + 1 and after["whitelist"] == before["whitelist"] + 1
    assert after["zal"] == before["zal"] and after["gnl"] == before["gnl"]
    state.add_provider(ProviderEntry("nieuwezorg@medmij", "dva-lumen.sandbox.test", ("48",)))
    reloaded = state_for("loopback", tmp_path)
    assert reloaded.headers["zal"]["volgnummer"] == before["zal"] + 1
    assert "pgo-beta.sandbox.test" not in reloaded.clients
    assert b"nieuwezorg@medmij" in reloaded.render("zal")


def test_wrong_namespace_is_refused():
    content = state_for("medmij").render("ocl").replace(b"oauthclientlist", b"otherlist")
    with pytest.raises(ListError, match="namespace"):
        parse_list("ocl", content)


def test_lists_command_writes_four_valid_files(tmp_path, medmij_dir):
    from typer.testing import CliRunner

    from sandbox.cli import app

    result = CliRunner().invoke(app, ["lists", "--profile", "medmij", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for kind, path in PATHS.items():
        schema = etree.XMLSchema(etree.parse(str(medmij_dir / "lists" / "xsd" / XSDS[kind])))
        assert schema.validate(etree.parse(str(tmp_path / path.lstrip("/")))), kind
