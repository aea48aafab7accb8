"""Review findings on the registry (second outside review, findings 1, 2 and 8).

1. The localisation key is a random secret of the state directory, not derived from the
   public seed, and ``/localisation`` answers the inspection function only: its bearer
   credential in every profile, its certificate where the registry serves TLS (and the
   serving gate wants a Whitelisted certificate first).
2. The admin API never publishes a list the nodes would refuse: endpoint URLs are checked
   per profile (``endpoint_url_problem``) and every rendered list is read back as the nodes
   read it (``parse_list`` with the profile); a refused change publishes nothing.
8. An OAuth client's hostname is always one of the sandbox's domain.
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import httpx
import pytest

from sandbox.runtime.local import LocalRuntime
from simulators.common import config as config_module
from simulators.common import pseudonym
from simulators.common.clock import ManualClock
from simulators.common.config import SECRET_FILE, SandboxConfig, ensure_secret
from simulators.common.lists import parse_list
from simulators.common.people import population_for
from simulators.common.security import admin_headers, ensure_admin_token
from simulators.inspection.service import InspectionFunction
from simulators.medmij import LIST_PATHS
from simulators.medmij.topology import endpoint_url_problem, load_topology
from simulators.registry.app import create_app
from simulators.serve import tls_gate

pytestmark = pytest.mark.anyio
ZAL, OCL = LIST_PATHS["zal"], LIST_PATHS["ocl"]
TOPOLOGY = load_topology()
REGISTRY = TOPOLOGY.registry.hostname
MGO = TOPOLOGY.inspection.hostname


def make_config(tmp_path: Path, profile: str = "loopback") -> SandboxConfig:
    addresses = (LocalRuntime.medmij_addresses(TOPOLOGY) if profile == "medmij"
                 else LocalRuntime(tmp_path).addresses(TOPOLOGY, 18400))
    ensure_admin_token(tmp_path)
    return SandboxConfig(TOPOLOGY, profile, addresses, tmp_path)


def with_peer(app, peer: str | None):
    """The app as the TLS server hands it a request: with the peer certificate's hostname."""

    async def served(scope, receive, send) -> None:
        if peer is not None and scope["type"] == "http":
            scope = {**scope, "extensions": {"tls": {"client_cert_hostname": peer}}}
        await app(scope, receive, send)

    return served


def client(app, peer: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(with_peer(app, peer)),
                             base_url="http://registry.test")


def a_patient_pseudonym(config: SandboxConfig, secret: bytes | None = None) -> tuple[str, str]:
    """(provider, the registry's pseudonym of one of its patients) under ``secret``."""
    population = population_for(config)
    provider = TOPOLOGY.providers[0].name
    bsn = population.patient(population.find(provider)).bsn
    return provider, pseudonym.pseudonymise(secret or config.secret, REGISTRY, bsn)


def bearer(config: SandboxConfig, hostname: str = MGO) -> dict[str, str]:
    return {"Authorization": f"Bearer {pseudonym.localisation_credential(config.secret, hostname)}"}


def assert_error(r: httpx.Response, status: int, error: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error, body
    return body["error_description"]


# Finding 1 (a): the key --------------------------------------------------------------------

def test_secret_is_random_per_state_directory_and_stable_in_it(tmp_path) -> None:
    one, two = make_config(tmp_path / "one"), make_config(tmp_path / "two")
    from_seed = hashlib.sha256(f"pgo-sandbox:{TOPOLOGY.seed}".encode()).digest()
    assert one.secret != from_seed and two.secret != from_seed
    assert one.secret != two.secret, "same seed, other state directory: another key"
    assert make_config(tmp_path / "one").secret == one.secret, "stable for the directory"
    path = tmp_path / "one" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secret_created_by_another_process_meanwhile_wins(tmp_path, monkeypatch) -> None:
    """Two nodes starting together: whoever puts the file in place first, every process
    reads that one (an overwrite would give DigiD and the registry different keys)."""
    theirs = "ab" * 32
    real_link = config_module.os.link

    def first_another_node(src, dst, *args, **kwargs):
        Path(dst).write_text(theirs)  # the other process got there between check and link
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(config_module.os, "link", first_another_node)
    assert ensure_secret(tmp_path) == bytes.fromhex(theirs)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


async def test_a_pseudonym_made_from_the_public_seed_opens_nothing(tmp_path) -> None:
    """The review's attack: the key recomputed from the seed, with the MGO's credential."""
    config = make_config(tmp_path)
    from_seed = hashlib.sha256(f"pgo-sandbox:{TOPOLOGY.seed}".encode()).digest()
    _, forged = a_patient_pseudonym(config, from_seed)
    async with client(create_app(config, "registry")) as http:
        r = await http.get("/localisation", params={"pseudonym": forged},
                           headers=bearer(config))
    assert_error(r, 400, "invalid_request")


# Finding 1 (b): who may ask ------------------------------------------------------------------

async def test_loopback_localisation_needs_the_inspection_functions_credential(tmp_path) -> None:
    config = make_config(tmp_path)
    provider, mine = a_patient_pseudonym(config)
    async with client(create_app(config, "registry")) as http:
        r = await http.get("/localisation", params={"pseudonym": mine})
        assert_error(r, 401, "invalid_token")
        assert r.headers["www-authenticate"].startswith("Bearer")
        dvp = TOPOLOGY.dvps[0].hostname  # a credential, but another node's
        r = await http.get("/localisation", params={"pseudonym": mine},
                           headers=bearer(config, dvp))
        assert_error(r, 401, "invalid_token")
        r = await http.get("/localisation", params={"pseudonym": "x" * 12})  # no oracle
        assert_error(r, 401, "invalid_token")
        r = await http.get("/localisation", params={"pseudonym": mine}, headers=bearer(config))
    assert r.status_code == 200, r.text
    assert provider in {p["provider"] for p in r.json()["providers"]}


async def test_with_the_credential_localisation_is_as_before(tmp_path) -> None:
    """The MGO's questions get the answers they got before the credential: only the
    registry's pseudonym opens, and only providers on the ZAL are named."""
    config = make_config(tmp_path)
    provider, mine = a_patient_pseudonym(config)
    population = population_for(config)
    bsn = population.patient(population.find(provider)).bsn
    theirs = pseudonym.pseudonymise(config.secret, MGO, bsn)  # made for another recipient
    async with client(create_app(config, "registry")) as http:
        r = await http.get("/localisation", params={"pseudonym": theirs}, headers=bearer(config))
        assert_error(r, 400, "invalid_request")
        r = await http.delete(f"/admin/providers/{provider}", headers=admin_headers(tmp_path))
        assert r.status_code == 200, r.text
        r = await http.get("/localisation", params={"pseudonym": mine}, headers=bearer(config))
    assert r.status_code == 200, r.text
    assert provider not in {p["provider"] for p in r.json()["providers"]}


async def test_tls_localisation_answers_only_the_inspection_functions_certificate(
        tmp_path) -> None:
    config = make_config(tmp_path, "medmij")
    provider, mine = a_patient_pseudonym(config)
    app = create_app(config, "registry")
    dvp = TOPOLOGY.dvps[0].hostname  # on the Whitelist, so past the serving gate
    async with client(app, peer=dvp) as http:
        r = await http.get("/localisation", params={"pseudonym": mine}, headers=bearer(config))
        assert_error(r, 403, "forbidden")
    async with client(app, peer=None) as http:
        r = await http.get("/localisation", params={"pseudonym": mine}, headers=bearer(config))
        assert_error(r, 401, "invalid_token")
    async with client(app, peer=MGO) as http:
        r = await http.get("/localisation", params={"pseudonym": mine}, headers=bearer(config))
    assert r.status_code == 200, r.text
    assert provider in {p["provider"] for p in r.json()["providers"]}


async def test_served_registry_gates_localisation_like_the_lists(tmp_path) -> None:
    """In TLS the registry's serving gate wants a certificate on the Whitelist before the
    route is reached (``serve.BACK_CHANNELS``)."""
    config = make_config(tmp_path, "medmij")
    app = create_app(config, "registry")

    async def behind_gate(scope, receive, send) -> None:  # what the route would answer
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    gate, _ = tls_gate(app, behind_gate, config, "registry")
    async with client(gate, peer=None) as http:
        r = await http.get("/localisation", params={"pseudonym": "x" * 12})
        assert_error(r, 401, "access_denied")
    async with client(gate, peer="stranger.sandbox.test") as http:
        r = await http.get("/localisation", params={"pseudonym": "x" * 12})
        assert_error(r, 403, "access_denied")


async def test_the_inspection_function_presents_its_credential(tmp_path) -> None:
    """The MGO's own call, against the real registry app: DigiD's answer is a real
    pseudonym, the registry answers because the call carries the credential."""
    config = make_config(tmp_path)
    provider, mine = a_patient_pseudonym(config)
    registry = httpx.ASGITransport(create_app(config, "registry"))

    async def back_channel(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/artifact":
            return httpx.Response(200, json={"localisation_pseudonym": mine})
        return await registry.handle_async_request(request)

    class BackChannel(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return await back_channel(request)

    async with httpx.AsyncClient(transport=BackChannel()) as http:
        function = InspectionFunction(config, TOPOLOGY.inspection.id, http, lists=None,
                                      clock=ManualClock(0.0))
        found = await function.localise("art", "corr-1")
    assert provider in {p["provider"] for p in found}


# Finding 2: no list the nodes refuse -------------------------------------------------------

OUTSIDE = {"name": "outsidezorg@medmij", "dva": "dva-x.sandbox.test", "gegevensdiensten": ["48"]}


def outside_provider(authorize: str = "https://dva-x.sandbox.test/auth",
                     token: str = "https://dva-x.sandbox.test/token",
                     resource: str = "https://dva-x.sandbox.test/fhir") -> dict:
    return OUTSIDE | {"endpoints": {"48": {"authorize": authorize, "token": token,
                                           "resource": resource}}}


@pytest.mark.parametrize(("url", "kind", "why"), [
    ("http://dva-x.sandbox.test/auth", "authorize", "must be https"),
    ("https://127.0.0.1/auth", "authorize", "must be https on a lowercase DNS hostname"),
    ("https://DVA-X.sandbox.test/auth", "authorize", "lowercase DNS hostname"),
    ("https://dva-x.sandbox.test/auth?q=1", "authorize", "no query"),
    ("https://dva-x.sandbox.test/token?", "token", "no query"),
    ("https://dva-x.sandbox.test:8443/auth", "authorize", "no port"),
    ("https://dva-x.sandbox.test:8443/cb", "redirect", "no port"),
    ("https://dva-x.sandbox.test/fhir\x7f", "resource", "control characters"),
])
def test_medmij_endpoint_rules(url, kind, why) -> None:
    assert why in (endpoint_url_problem(url, "medmij", kind) or "")


@pytest.mark.parametrize(("url", "kind"), [
    ("https://dva-x.sandbox.test/auth/start", "authorize"),
    ("https://dva-x.sandbox.test:8443/token", "token"),  # back channel: a port is allowed
    ("https://dva-x.sandbox.test:8443/fhir/x/48", "resource"),
    ("https://pgo-mine.sandbox.test/callback", "redirect"),
])
def test_medmij_endpoints_the_xsd_accepts(url, kind) -> None:
    assert endpoint_url_problem(url, "medmij", kind) is None


@pytest.mark.parametrize(("url", "why"), [
    ("http://127.0.0.1:9200/fhir\x7f", "control characters"),
    ("http://127.0.0.1:9200/fhir\u202e", "control characters"),
    ("http://127.0.0.1:9100/cb#", "fragment"),  # an empty fragment is a fragment
    ("http://@127.0.0.1:9100/cb", "user info"),
    ("http://127.0.0.1:0/cb", "port 0"),
])
def test_rules_of_every_profile(url, why) -> None:
    for profile in (None, "loopback", "medmij"):
        assert why in (endpoint_url_problem(url, profile, "redirect") or ""), profile


def test_loopback_keeps_http_ports_and_queries() -> None:
    assert endpoint_url_problem("http://127.0.0.1:9200/auth?x=1", "loopback", "authorize") is None


async def test_admin_refuses_endpoints_the_medmij_profile_cannot_list(tmp_path) -> None:
    config = make_config(tmp_path, "medmij")
    async with client(create_app(config, "registry")) as http:
        before = (await http.get(ZAL)).content
        for body in (outside_provider(authorize="http://dva-x.sandbox.test/auth"),
                     outside_provider(authorize="https://dva-x.sandbox.test:8443/auth?q=1"),
                     outside_provider(resource="https://dva-x.sandbox.test/fhir\x7f")):
            r = await http.post("/admin/providers", json=body, headers=admin_headers(tmp_path))
            assert_error(r, 400, "invalid_request")
        assert (await http.get(ZAL)).content == before


async def test_admin_refuses_a_redirect_uri_the_medmij_profile_cannot_use(tmp_path) -> None:
    config = make_config(tmp_path, "medmij")
    async with client(create_app(config, "registry")) as http:
        for redirect_uri in ("http://pgo-x.sandbox.test/cb", "https://pgo-x.sandbox.test:9/cb"):
            r = await http.post("/admin/clients", headers=admin_headers(tmp_path),
                                json={"hostname": "pgo-x.sandbox.test", "name": "Buiten",
                                      "redirect_uri": redirect_uri})
            assert_error(r, 400, "invalid_request")


async def test_a_list_the_nodes_would_refuse_is_not_published(tmp_path) -> None:
    """A trailing slash passes the URL rules but not the XSD (``(/[^?#/]+)*``): 422, the ZAL
    and its Volgnummer as they were."""
    config = make_config(tmp_path, "medmij")
    async with client(create_app(config, "registry")) as http:
        before = (await http.get(ZAL)).content
        r = await http.post("/admin/providers", headers=admin_headers(tmp_path),
                            json=outside_provider(authorize="https://dva-x.sandbox.test/auth/"))
        assert "nodes would refuse the zal" in assert_error(r, 422, "unprocessable")
        after = (await http.get(ZAL)).content
        state = (await http.get("/admin/state", headers=admin_headers(tmp_path))).json()
    assert after == before
    assert state["volgnummers"]["zal"] == parse_list("zal", before, "medmij")[0]
    assert "outsidezorg@medmij" not in state["providers"]


async def test_registrys_own_medmij_lists_pass_the_nodes_checks(tmp_path) -> None:
    config = make_config(tmp_path, "medmij")
    async with client(create_app(config, "registry")) as http:
        r = await http.post("/admin/providers", headers=admin_headers(tmp_path),
                            json=outside_provider(token="https://dva-x.sandbox.test:8443/t"))
        assert r.status_code == 201, r.text
        for kind, path in LIST_PATHS.items():
            parse_list(kind, (await http.get(path)).content, "medmij")


# Finding 8: clients of the sandbox's domain only ---------------------------------------------

async def test_a_client_outside_the_sandbox_domain_is_refused(tmp_path) -> None:
    config = make_config(tmp_path)
    async with client(create_app(config, "registry")) as http:
        before = (await http.get(OCL)).content
        r = await http.post("/admin/clients", headers=admin_headers(tmp_path),
                            json={"hostname": "evil.example.com", "name": "Evil"})
        assert "must be under .sandbox.test" in assert_error(r, 400, "invalid_request")
        assert (await http.get(OCL)).content == before
        state = (await http.get("/admin/state", headers=admin_headers(tmp_path))).json()
        assert "evil.example.com" not in state["whitelist"]
        r = await http.post("/admin/clients", headers=admin_headers(tmp_path),
                            json={"hostname": "pgo-new.sandbox.test", "name": "Nieuw"})
        assert r.status_code == 201, r.text
