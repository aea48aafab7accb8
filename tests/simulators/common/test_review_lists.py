"""Review finding 7: a node checks every list it downloads against the official XSD (SPEC
section 2) and refuses a ZAL endpoint whose scheme its addressing profile does not allow.
The XSDs and the example ZAL are read from ../shared (tests/conftest.py), never copied. Each
test names the rule it guards."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from simulators.common import lists
from simulators.common.lists import LIST_PATHS, ListCache, ListError, parse_list
from simulators.registry.state import RegistryState
from tests.conftest import MEDMIJ
from tests.simulators.common.test_lists_faults import loopback_config

XSD = MEDMIJ / "lists" / "xsd"
EXAMPLE_ZAL = MEDMIJ / "lists" / "examples" / "MedMij_Zorgaanbiederslijst_example.xml"
pytestmark = pytest.mark.skipif(not XSD.is_dir() or not EXAMPLE_ZAL.is_file(),
                                reason="../shared/medmij/lists missing")


def example() -> bytes:
    return EXAMPLE_ZAL.read_bytes()


def loopback_lists(tmp_path: Path) -> dict[str, bytes]:
    state = RegistryState(loopback_config(tmp_path), None)
    return {kind: state.render(kind) for kind in LIST_PATHS}


def first_authorize(zal: bytes, replacement: str) -> bytes:
    tag = b"<AuthorizationEndpointuri>"
    start = zal.index(tag) + len(tag)
    end = zal.index(b"</AuthorizationEndpointuri>")
    return zal[:start] + replacement.encode() + zal[end:]


def test_the_official_example_zal_is_accepted_in_the_medmij_profile() -> None:
    volgnummer, zal = parse_list("zal", example(), "medmij")
    assert volgnummer >= 1 and zal


def test_xsd_refuses_a_front_channel_uri_with_a_port_in_the_medmij_profile() -> None:
    """Rule: the XSD is checked (an https URI with a port passes the scheme check, but the
    XSD's Frontchanneluri allows no port)."""
    tampered = first_authorize(example(), "https://dva.example.nl:8443/oauth/authorize")
    with pytest.raises(ListError, match="not valid against MedMij_Zorgaanbiederslijst.xsd"):
        parse_list("zal", tampered, "medmij")


def test_the_review_javascript_uri_is_refused_in_the_medmij_profile() -> None:
    """The review's reproduction (t4.py): the example's first https:// made javascript://."""
    tampered = example().replace(b"https://", b"javascript://", 1)
    with pytest.raises(ListError):
        parse_list("zal", tampered, "medmij")


def test_loopback_profile_lets_through_only_the_uri_pattern_errors(tmp_path) -> None:
    """Rule: in the loopback profile the ZAL's http://127.0.0.1:port URIs (XSD pattern errors
    on the three endpoint elements) are accepted; any other XSD error is not; the medmij
    profile accepts neither."""
    served = loopback_lists(tmp_path)
    for kind, content in served.items():
        assert parse_list(kind, content, "loopback")[1], kind
    with pytest.raises(ListError, match="not valid against"):
        parse_list("zal", served["zal"], "medmij")
    broken = served["zal"].replace(b"@medmij</Zorgaanbiedernaam>", b"@MEDMIJ</Zorgaanbiedernaam>",
                                   1)
    with pytest.raises(ListError, match="Zorgaanbiedernaam"):
        parse_list("zal", broken, "loopback")


def test_loopback_profile_refuses_an_endpoint_that_is_not_http(tmp_path) -> None:
    """Rule: whatever the XSD lets through in loopback, an endpoint must be http or https
    (also without a profile: the registry's own reading)."""
    zal = first_authorize(loopback_lists(tmp_path)["zal"], "javascript://127.0.0.1:1/x")
    for profile in ("loopback", None):
        with pytest.raises(ListError, match="javascript"):
            parse_list("zal", zal, profile)


def test_an_endpoint_without_a_host_is_refused(tmp_path) -> None:
    """Rule: an endpoint URI must name a host."""
    zal = first_authorize(loopback_lists(tmp_path)["zal"], "http:///oauth/authorize")
    with pytest.raises(ListError, match="with a host"):
        parse_list("zal", zal, "loopback")


def test_medmij_profile_wants_https_even_without_the_xsd(monkeypatch) -> None:
    """Rule: the scheme check does not depend on the XSDs being found (a container image
    does not ship ../shared): medmij allows https only, loopback http too."""
    monkeypatch.setattr(lists, "list_schema", lambda kind: None)
    zal = example().replace(b"https://", b"http://", 1)
    with pytest.raises(ListError, match="not https with a host"):
        parse_list("zal", zal, "medmij")
    assert parse_list("zal", zal, "loopback")[1]


def test_each_schema_is_compiled_once() -> None:
    """Rule: the XSD is compiled once per process, not on every refresh."""
    assert lists.list_schema("zal") is lists.list_schema("zal") is not None


@pytest.mark.anyio
async def test_list_cache_checks_the_profile_its_registry_address_shows(tmp_path) -> None:
    """Rule: a node whose registry is https:// (the medmij profile) refuses the loopback ZAL
    on the XSD; a node on an http:// registry (loopback) takes it."""
    served = loopback_lists(tmp_path)
    by_path = {path: kind for kind, path in LIST_PATHS.items()}
    client = httpx.AsyncClient(transport=httpx.MockTransport(
        lambda request: httpx.Response(200, content=served[by_path[request.url.path]])))
    async with client:
        medmij = ListCache("https://registry.test", client, 60)
        await medmij.refresh()
        assert medmij.profile == "medmij" and not medmij.ready.is_set()
        assert [r["list"] for r in medmij.refusals] == ["zal"]
        assert "not valid against" in medmij.refusals[0]["reason"]
        loopback = ListCache("http://registry.test", client, 60)
        await loopback.refresh()
        assert loopback.profile == "loopback" and loopback.ready.is_set()
