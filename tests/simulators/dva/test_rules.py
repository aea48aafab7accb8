"""Rules that only another layer used to test (issue 11 item 18): each has its own test here,
which fails when that rule alone is removed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from simulators.common.config import SandboxConfig
from simulators.common.lists import PATHS, ListCache
from simulators.medmij.topology import load_topology
from simulators.registry.state import RegistryState
from tests.simulators.dva.test_security import CLIENT, Net, read_patient, refresh, tokens


def loopback_config(state_dir: Path = Path(".")) -> SandboxConfig:
    topology = load_topology()
    addresses = {n.hostname: f"http://127.0.0.1:{18400 + i}" for i, n in enumerate(topology.nodes)}
    return SandboxConfig(topology, "loopback", addresses, state_dir)


# (a) redirect_uri: same scheme, no userinfo ----------------------------------------------------

def test_is_on_host_accepts_the_clients_own_address():
    config = loopback_config()
    base = config.addresses[CLIENT]
    assert config.is_on_host(f"{base}/oauth/callback", CLIENT)


def test_is_on_host_refuses_another_scheme():
    config = loopback_config()
    base = config.addresses[CLIENT]  # http://127.0.0.1:<port>
    assert not config.is_on_host(base.replace("http://", "https://") + "/oauth/callback", CLIENT)
    medmij = SandboxConfig(config.topology, "medmij", config.addresses, Path("."))
    assert medmij.is_on_host(f"https://{CLIENT}/oauth/callback", CLIENT)
    assert not medmij.is_on_host(f"http://{CLIENT}/oauth/callback", CLIENT)


@pytest.mark.parametrize("userinfo", ["evil@", "evil:secret@", ":secret@"])
def test_is_on_host_refuses_userinfo(userinfo):
    config = loopback_config()
    base = config.addresses[CLIENT]
    url = base.replace("http://", f"http://{userinfo}") + "/oauth/callback"
    assert not config.is_on_host(url, CLIENT)
    medmij = SandboxConfig(config.topology, "medmij", config.addresses, Path("."))
    assert not medmij.is_on_host(f"https://{userinfo}{CLIENT}/oauth/callback", CLIENT)


@pytest.mark.anyio
@pytest.mark.parametrize("variant", ["https", "userinfo"])
async def test_authorize_refuses_redirect_uri_with_other_scheme_or_userinfo(net, variant):
    """The DVA shows an error page and redirects nowhere (the redirect_uri is not trusted)."""
    base = net.config.addresses[CLIENT]
    prefix = "https://" if variant == "https" else "http://evil@"
    redirect_uri = base.replace("http://", prefix) + "/oauth/callback"
    r = await net.browser().get(net.authorize_url(redirect_uri=redirect_uri))
    assert r.status_code == 400 and "location" not in r.headers
    assert "invalid_request" in r.text and "redirect_uri" in r.text


# (b) a list with a lower Volgnummer is ignored -------------------------------------------------

def _with_volgnummer(content: bytes, number: int) -> bytes:
    start = content.index(b"<Volgnummer>") + len(b"<Volgnummer>")
    end = content.index(b"</Volgnummer>")
    return content[:start] + str(number).encode() + content[end:]


@pytest.mark.anyio
async def test_list_cache_ignores_a_list_with_a_lower_volgnummer(tmp_path):
    registry = RegistryState(loopback_config(tmp_path), None)
    served = {kind: _with_volgnummer(registry.render(kind), 7) for kind in PATHS}
    by_path = {path: kind for kind, path in PATHS.items()}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=served[by_path[request.url.path]])

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        cache = ListCache("http://registry.test", client, 60)
        seen: list[frozenset[str]] = []
        cache.listeners.append(lambda lists: seen.append(frozenset(lists.ocl)))
        assert await cache.refresh()
        assert CLIENT in cache.lists.ocl and cache.lists.volgnummers["ocl"] == 7

        registry.remove_client(CLIENT)  # an older list without the client turns up
        served["ocl"] = _with_volgnummer(registry.render("ocl"), 6)
        served["whitelist"] = _with_volgnummer(registry.render("whitelist"), 6)
        assert not await cache.refresh()
        assert CLIENT in cache.lists.ocl and CLIENT in cache.lists.whitelist
        assert cache.lists.volgnummers["ocl"] == 7 and len(seen) == 1

        served["ocl"] = _with_volgnummer(registry.render("ocl"), 8)  # a newer one is taken
        assert await cache.refresh()
        assert CLIENT not in cache.lists.ocl and cache.lists.volgnummers["ocl"] == 8


# (c) the resource server's Whitelist check -------------------------------------------------------

@pytest.mark.anyio
async def test_resource_server_refuses_a_token_whose_client_left_the_whitelist(net):
    """The grant stays (the client is still on the OCL); only the Whitelist changed."""
    body = await tokens(net, long_lived=False)
    assert (await read_patient(net, body["access_token"])).status_code == 200
    lists = net.dva.lists.lists
    lists.whitelist = lists.whitelist - {CLIENT}
    r = await read_patient(net, body["access_token"])
    assert r.status_code == 401
    assert r.json()["issue"][0]["code"] == "login"
    assert "Whitelist" in r.json()["issue"][0]["diagnostics"]
    assert net.dva.grants.access(body["access_token"]) is not None  # not revoked: whitelist


# (d) a vendor leaving the OCL loses every grant -------------------------------------------------

@pytest.mark.anyio
async def test_client_leaving_the_ocl_loses_its_grants_for_good(net: Net):
    body = await tokens(net, long_lived=True)
    name = net.registry.clients[CLIENT]
    net.registry.remove_client(CLIENT)
    await net.refresh_lists()
    assert CLIENT not in net.dva.lists.lists.ocl
    assert net.dva.grants.access(body["access_token"]) is None
    # back on the lists (a new contract): the old consent does not come back with it
    net.registry.add_client(CLIENT, name)
    await net.refresh_lists()
    assert CLIENT in net.dva.lists.lists.ocl and CLIENT in net.dva.lists.lists.whitelist
    assert (await read_patient(net, body["access_token"])).status_code == 401
    r = await refresh(net, body["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


# (e) patient= and subject= are refused as such ---------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("query", ["?patient=Patient/1", "?subject=Patient/1",
                                   "?subject:Patient=1", "?patient:Patient=1"])
async def test_patient_and_subject_parameters_are_forbidden(net, query):
    """The token alone decides the patient: the refusal says so (``forbidden``), distinct from
    the ``not-supported`` of an unknown parameter."""
    body = await tokens(net, long_lived=False)
    r = await read_patient(net, body["access_token"], query)
    assert r.status_code == 400
    issue = r.json()["issue"][0]
    assert issue["code"] == "forbidden", issue
    assert "token determines the patient" in issue["diagnostics"]


@pytest.mark.anyio
async def test_unknown_search_parameter_has_another_issue_code(net):
    body = await tokens(net, long_lived=False)
    r = await read_patient(net, body["access_token"], "?foo=1")
    assert r.status_code == 400 and r.json()["issue"][0]["code"] == "not-supported"
