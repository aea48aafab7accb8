"""Outside participants (issue 13 items 4 and 5, loopback profile): a developer's own DVP or
DVA, declared in the topology (``external = true``) or added live with
`pgo-sandbox participant`, is listed (OCL, Whitelist, ZAL with its own endpoint URLs), never
started, and works with the sandbox's nodes without a restart. The two end-to-end tests use
code that is not ours (``tests/outside``: httpx, lxml, FastAPI only)."""

from __future__ import annotations

import json
import shutil
import time
import tomllib
from pathlib import Path
from urllib.parse import urljoin

import httpx
import lxml.html
import pytest
import typer
from typer.testing import CliRunner

from sandbox.participant_cli import external_statuses, register
from sandbox.runtime.local import LocalRuntime
from scenarios import collect as collect_scenario
from simulators.common.config import SandboxConfig
from simulators.common.lists import parse_list
from simulators.medmij.topology import (
    OUTSIDE_FILE,
    Topology,
    TopologyError,
    default_topology_text,
    parse_topology,
)
from simulators.registry.state import RegistryState
from tests.outside.outside_dva import Serving
from tests.outside.outside_dva import create_app as outside_dva_app
from tests.outside.outside_dvp import CallbackServer, OutsideDvp
from tests.simulators.registry.test_admin import make_registry

DECLARED = """
[[dvp]]
hostname = "pgo-mine.sandbox.test"
name = "Mijn PGO"
external = true
redirect_uri = "http://127.0.0.1:9100/callback"

[[dva]]
hostname = "dva-mine.sandbox.test"
name = "Mijn DVA"
external = true

[[provider]]
name = "mijnkliniek@medmij"
display = "Mijn Kliniek"
dva = "dva-mine.sandbox.test"
gegevensdiensten = ["48"]
[provider.endpoints.48]
authorize = "http://127.0.0.1:9200/auth/start"
token = "http://127.0.0.1:9200/auth/token"
resource = "http://127.0.0.1:9200/api/fhir/mijnkliniek/48"
"""
OUTSIDE_DVP = "pgo-buiten.sandbox.test"
OUTSIDE_DVA = "dva-buiten.sandbox.test"
OUTSIDE_PROVIDER = "buitenkliniek@medmij"


def declared_topology(extra: str = DECLARED) -> Topology:
    return parse_topology(tomllib.loads(default_topology_text() + extra))


def loopback_config(topology: Topology, state_dir: Path) -> SandboxConfig:
    return SandboxConfig(topology, "loopback", LocalRuntime(state_dir).addresses(topology, 18400),
                         state_dir)


# item 4, topology ----------------------------------------------------------------------------

def test_external_nodes_are_listed_not_run() -> None:
    topology = declared_topology()
    own = {n.hostname for n in topology.nodes}
    assert "pgo-mine.sandbox.test" not in own and "dva-mine.sandbox.test" not in own
    assert [n.hostname for n in topology.externals] == ["dva-mine.sandbox.test",
                                                       "pgo-mine.sandbox.test"]
    assert topology.external("pgo-mine").url == "http://127.0.0.1:9100"
    assert topology.external("dva-mine").url == "http://127.0.0.1:9200"  # its authorize origin
    assert topology.provider("mijnkliniek@medmij").urls("48").token.endswith("/auth/token")
    assert Topology.from_dict(json.loads(json.dumps(topology.to_dict()))) == topology
    # the local runtime gives ports (processes) to its own nodes only
    assert set(LocalRuntime(Path("/nonexistent")).addresses(topology, 18400)) == own


@pytest.mark.parametrize("change, reason", [
    (('redirect_uri = "http://127.0.0.1:9100/callback"\n', ""), "redirect_uri missing"),
    (('redirect_uri = "http://127.0.0.1:9100/callback"',
      'redirect_uri = "http://u:p@127.0.0.1:9100/cb"'), "user info"),
    (('[provider.endpoints.48]\n', '[provider.endpoints.49]\n'), "exactly its"),
    (('token = "http://127.0.0.1:9200/auth/token"\n', ''), "needs exactly"),
    (('resource = "http://127.0.0.1:9200/api/fhir/mijnkliniek/48"',
      'resource = "ftp://x/48"'), r"not an absolute http\(s\) URL"),
    (('dva = "dva-mine.sandbox.test"', 'dva = "dva-nexus.sandbox.test"'),
     "only for a provider of an external DVA"),
])
def test_topology_refuses_a_bad_outside_declaration(change, reason) -> None:
    with pytest.raises(TopologyError, match=reason):
        declared_topology(DECLARED.replace(*change))


def test_a_provider_of_an_outside_dva_must_declare_endpoints() -> None:
    without = DECLARED.split("[provider.endpoints.48]")[0]
    with pytest.raises(TopologyError, match="endpoints must be a table"):
        declared_topology(without)


def test_zal_publishes_the_declared_urls_of_an_outside_dva(tmp_path) -> None:
    topology = declared_topology()
    state = RegistryState(loopback_config(topology, tmp_path), None)
    zal = parse_list("zal", state.render("zal"))[1]
    mine = zal["mijnkliniek@medmij"]["48"]
    assert mine.authorize == "http://127.0.0.1:9200/auth/start"
    assert mine.token == "http://127.0.0.1:9200/auth/token"
    assert list(mine.resources.values()) == ["http://127.0.0.1:9200/api/fhir/mijnkliniek/48"]
    assert zal["umcsandbox@medmij"]["48"].authorize.endswith("/oauth/authorize")  # ours
    assert parse_list("ocl", state.render("ocl"))[1]["pgo-mine.sandbox.test"] == "Mijn PGO"
    assert {"pgo-mine.sandbox.test", "dva-mine.sandbox.test"} <= set(state.nodes)
    assert set(state.participants()) == {"pgo-mine.sandbox.test", "dva-mine.sandbox.test"}


def test_redirect_uri_of_an_unknown_client_is_refused_not_an_error(tmp_path) -> None:
    """The DVA's authorize asked ``is_on_host`` for a hostname it had no address for and
    answered 500 (KeyError); now: a declared outside DVP's origin, a live one's from the
    registry's outside.json, and False for anyone else."""
    config = loopback_config(declared_topology(), tmp_path)
    assert config.is_on_host("http://127.0.0.1:9100/callback", "pgo-mine.sandbox.test")
    assert not config.is_on_host("http://127.0.0.1:9101/callback", "pgo-mine.sandbox.test")
    assert not config.is_on_host("http://127.0.0.1:9300/cb", OUTSIDE_DVP)
    (tmp_path / OUTSIDE_FILE).write_text(json.dumps({OUTSIDE_DVP: "http://127.0.0.1:9300"}))
    assert config.is_on_host("http://127.0.0.1:9300/cb", OUTSIDE_DVP)


def test_status_probes_outside_participants(tmp_path) -> None:
    dva = Serving(outside_dva_app("http://127.0.0.1:1", "mijnkliniek@medmij"))
    try:
        extra = DECLARED.replace("http://127.0.0.1:9200", dva.base)
        extra = extra.replace("http://127.0.0.1:9100", "http://127.0.0.1:1")  # nobody there
        rows = {r.hostname: r for r in external_statuses(
            loopback_config(declared_topology(extra), tmp_path))}
    finally:
        dva.close()
    assert rows["dva-mine.sandbox.test"].healthy
    assert rows["dva-mine.sandbox.test"].detail == "external, /health 200"
    assert not rows["pgo-mine.sandbox.test"].healthy
    assert "not answering" in rows["pgo-mine.sandbox.test"].detail


# item 4, the admin API -------------------------------------------------------------------------

OUTSIDE_CLIENT = {"hostname": OUTSIDE_DVP, "name": "Buiten PGO",
                  "redirect_uri": "http://127.0.0.1:9300/callback"}
ENDPOINTS = {"48": {"authorize": "http://127.0.0.1:9400/auth/start",
                    "token": "http://127.0.0.1:9400/auth/token",
                    "resource": "http://127.0.0.1:9400/api/fhir/buitenkliniek/48"}}
OUTSIDE_PROVIDER_IN = {"name": OUTSIDE_PROVIDER, "dva": OUTSIDE_DVA, "gegevensdiensten": ["48"],
                       "endpoints": ENDPOINTS, "dva_name": "Buiten DVA"}


def snapshot(client, admin) -> tuple:
    lists = tuple(client.get(p, params={"api": "1"}).content for p in (
        "/MedMij_Zorgaanbiederslijst.xml", "/MedMij_OAuthclientlist.xml",
        "/MedMij_Whitelist.xml"))
    return lists, client.get("/admin/state", headers=admin).json()


def test_live_outside_participants_through_the_admin_api(tmp_path) -> None:
    client, admin = make_registry(tmp_path)
    r = client.post("/admin/clients", json=OUTSIDE_CLIENT, headers=admin)
    assert r.status_code == 201 and r.json()["changed"] == ["ocl", "whitelist"], r.text
    assert json.loads((tmp_path / OUTSIDE_FILE).read_text()) == {
        OUTSIDE_DVP: "http://127.0.0.1:9300"}
    r = client.post("/admin/providers", json=OUTSIDE_PROVIDER_IN, headers=admin)
    assert r.status_code == 201, r.text
    zal = parse_list("zal", client.get("/MedMij_Zorgaanbiederslijst.xml").content)[1]
    assert zal[OUTSIDE_PROVIDER]["48"].authorize == ENDPOINTS["48"]["authorize"]
    found = client.get("/admin/participants", headers=admin).json()["participants"]
    assert found[OUTSIDE_DVP]["listed"] and found[OUTSIDE_DVA]["providers"] == [OUTSIDE_PROVIDER]
    assert found[OUTSIDE_DVA]["name"] == "Buiten DVA"
    # the same again changes nothing
    assert client.post("/admin/clients", json=OUTSIDE_CLIENT,
                       headers=admin).json()["changed"] == []
    # removal: one step off every list, then nothing left to remove (404)
    r = client.delete(f"/admin/participants/{OUTSIDE_DVA}", headers=admin)
    assert r.status_code == 200 and "zal" in r.json()["changed"], r.text
    assert client.delete(f"/admin/participants/{OUTSIDE_DVA}", headers=admin).status_code == 404
    r = client.delete(f"/admin/participants/{OUTSIDE_DVP}", headers=admin)
    assert r.status_code == 200 and "ocl" in r.json()["changed"]
    assert json.loads((tmp_path / OUTSIDE_FILE).read_text()) == {}
    assert client.get("/admin/participants", headers=admin).json()["participants"] == {}


@pytest.mark.parametrize("path, body, status, reason", [
    ("/admin/clients", OUTSIDE_CLIENT | {"redirect_uri": "not a url"}, 400, "redirect_uri"),
    ("/admin/clients", OUTSIDE_CLIENT | {"redirect_uri": "http://127.0.0.1:9/cb#x"}, 400,
     "fragment"),
    ("/admin/clients", OUTSIDE_CLIENT | {"hostname": "pgo-x.example.org"}, 400, "under"),
    ("/admin/clients", OUTSIDE_CLIENT | {"hostname": "dva-nexus.sandbox.test"}, 409,
     "node the sandbox runs"),
    ("/admin/providers", OUTSIDE_PROVIDER_IN | {"endpoints": {}}, 400, "unknown DVA"),
    ("/admin/providers", OUTSIDE_PROVIDER_IN | {"gegevensdiensten": ["48", "49"]}, 400,
     "each gegevensdienst"),
    ("/admin/providers", OUTSIDE_PROVIDER_IN | {"dva": "dva-nexus.sandbox.test"}, 400,
     "served on the sandbox's own paths"),
    ("/admin/providers", OUTSIDE_PROVIDER_IN | {"endpoints": {"48": {
        **ENDPOINTS["48"], "token": "javascript:alert(1)"}}}, 400, "endpoints.48.token"),
    ("/admin/providers", OUTSIDE_PROVIDER_IN | {"endpoints": {"48": {"authorize": "x"}}}, 400,
     "missing or invalid"),
])
def test_a_bad_outside_participant_changes_nothing(tmp_path, path, body, status, reason
                                                   ) -> None:
    client, admin = make_registry(tmp_path)
    before = snapshot(client, admin)
    r = client.post(path, json=body, headers=admin)
    assert r.status_code == status, r.text
    assert reason in r.json()["error_description"]
    assert snapshot(client, admin) == before
    assert not (tmp_path / OUTSIDE_FILE).exists() or json.loads(
        (tmp_path / OUTSIDE_FILE).read_text()) == {}


def test_participant_remove_refuses_our_own_nodes_and_404s_on_nothing(tmp_path) -> None:
    client, admin = make_registry(tmp_path)
    before = snapshot(client, admin)
    r = client.delete("/admin/participants/pgo-alpha.sandbox.test", headers=admin)
    assert r.status_code == 409 and "vendor bankrupt" in r.json()["error_description"]
    r = client.delete(f"/admin/participants/{OUTSIDE_DVP}", headers=admin)
    assert r.status_code == 404
    assert snapshot(client, admin) == before


def test_one_hostname_is_one_outside_role(tmp_path) -> None:
    client, admin = make_registry(tmp_path)
    assert client.post("/admin/clients", json=OUTSIDE_CLIENT | {"hostname": OUTSIDE_DVA},
                       headers=admin).status_code == 201
    before = snapshot(client, admin)
    r = client.post("/admin/providers", json=OUTSIDE_PROVIDER_IN, headers=admin)
    assert r.status_code == 409 and "one role per hostname" in r.json()["error_description"]
    assert snapshot(client, admin) == before


# item 5, with real processes: outside code against the sandbox ----------------------------------

def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def run_cli(sandbox, *args: str) -> str:
    result = CliRunner().invoke(cli(), [*args, "--state-dir", str(sandbox.state_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def submit(client: httpx.Client, page: httpx.Response, action: str, values: dict,
           ) -> httpx.Response:
    """Submit the page's form whose action ends with ``action``, hidden fields included,
    as a person's browser does."""
    doc = lxml.html.fromstring(page.text)
    form = next(f for f in doc.forms if (f.action or "").endswith(action))
    data = {i.name: i.value or "" for i in form.inputs
            if i.name and getattr(i, "type", "") not in ("submit", "checkbox")}
    return client.post(urljoin(str(page.url), form.action), data=data | values)


def wait_until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        time.sleep(0.5)


def test_outside_dvp_added_live_collects_a_bgz_and_is_refused_after_removal(
        sandbox, medmij_dir) -> None:
    callback = CallbackServer()
    registry = sandbox.url("registry")
    dvp = OutsideDvp(OUTSIDE_DVP, registry, medmij_dir / "lists" / "xsd", callback.redirect_uri)
    refresh = sandbox.topology.list_refresh_seconds
    try:
        out = run_cli(sandbox, "participant", "add-dvp", "--hostname", OUTSIDE_DVP,
                      "--name", "Buiten PGO", "--redirect-uri", callback.redirect_uri)
        for expected in ("/MedMij_Zorgaanbiederslijst.xml?api=1", "ca-bundle.pem",
                         f"{OUTSIDE_DVP}.crt", f"{OUTSIDE_DVP}.key", "BSN "):
            assert expected in out, out
        assert Path(sandbox.state_dir / "pki" / f"{OUTSIDE_DVP}.key").exists()
        assert OUTSIDE_DVP in run_cli(sandbox, "participant", "list")

        lists = dvp.fetch_lists()
        assert lists.ocl[OUTSIDE_DVP] == "Buiten PGO" and OUTSIDE_DVP in lists.whitelist
        # OCL, Whitelist and GNL are XSD-valid in the loopback profile; the ZAL is not, and
        # only because its endpoint URIs are http://127.0.0.1:<port> (the XSD wants https
        # and no port): the medmij profile's lists are valid
        # (tests/simulators/registry/test_lists.py)
        assert lists.xsd_errors["ocl"] == lists.xsd_errors["whitelist"] == []
        assert lists.xsd_errors["gnl"] == []
        assert lists.xsd_errors["zal"] and all(
            "uri" in e.lower() or "pattern" in e.lower() for e in lists.xsd_errors["zal"])

        provider = "umcsandbox@medmij"
        with httpx.Client(timeout=30.0) as admin:
            person = admin.get(sandbox.url("digid", "/api/test-persons"),
                               params={"provider": provider, "service": "48", "n": 1}).json()[0]

        def authorize(browser: httpx.Client) -> httpx.Response:
            return browser.get(dvp.authorize_url(lists, provider, "48"))

        with httpx.Client(timeout=30.0) as browser:  # the person's browser
            # the DVA accepts the new client after its next list refresh
            r = wait_until(lambda: (lambda r: r if r.status_code == 302 else None)(
                authorize(browser)), 3 * refresh + 5, "the DVA accepts the live-added DVP")
            page = browser.get(r.headers["location"])  # DigiD's login page
            assert page.status_code == 200, page.text[:300]
            r = submit(browser, page, "/login", {"bsn": person["bsn"]})
            assert r.status_code == 303, r.text[:300]
            page = browser.get(urljoin(str(r.url), r.headers["location"]))
            assert page.status_code == 200 and "Toestemming" in page.text, page.text[:300]
            r = submit(browser, page, "/consent", {"decision": "allow"})
            assert r.status_code == 302, r.text[:300]
            assert r.headers["location"].startswith(callback.redirect_uri)
            assert browser.get(r.headers["location"]).status_code == 200
        answer = callback.received[-1]
        assert "code" in answer, answer
        token = dvp.token(lists, answer)
        assert token.status_code == 200, token.text
        access = token.json()["access_token"]
        resource = lists.zal[provider]["48"].resource
        found = dvp.search(resource, access, "Patient?_include=Patient:general-practitioner")
        assert found.status_code == 200, found.text[:300]
        assert any(e["resource"]["resourceType"] == "Patient" for e in found.json()["entry"])

        # the vendor leaves the lists: the DVA refuses it within a list refresh
        assert "ocl" in run_cli(sandbox, "participant", "remove", OUTSIDE_DVP)
        with httpx.Client(timeout=30.0) as browser:
            # at once its redirect_uri is on no known host; after the DVA's next list refresh
            # the reason is the OCL itself
            r = wait_until(lambda: (lambda r: r if "OAuth Client List" in r.text else None)(
                authorize(browser)), 3 * refresh + 5, "the DVA refuses the removed DVP")
            assert r.status_code == 400 and "invalid_request" in r.text
        r = dvp.search(resource, access, "Patient")
        assert r.status_code == 401, r.text[:300]  # its grants were revoked with it
    finally:
        dvp.close()
        callback.close()
        with httpx.Client(timeout=30.0) as admin:  # leave the shared sandbox as it was
            admin.delete(sandbox.url("registry", f"/admin/participants/{OUTSIDE_DVP}"),
                         headers=sandbox.admin_headers)


def test_our_dvp_collects_from_an_outside_dva_on_its_own_paths(sandbox) -> None:
    registry = sandbox.url("registry")
    app = outside_dva_app(registry, OUTSIDE_PROVIDER)
    dva = Serving(app)
    refresh = sandbox.topology.list_refresh_seconds
    try:
        out = run_cli(sandbox, "participant", "add-dva", "--hostname", OUTSIDE_DVA,
                      "--name", "Buiten DVA", "--provider", OUTSIDE_PROVIDER,
                      "--display", "Buitenkliniek", "--service", "48",
                      "--authorize", f"{dva.base}/auth/start",
                      "--token", f"{dva.base}/auth/token",
                      "--resource", f"{dva.base}/api/fhir/buitenkliniek/48")
        assert f"{OUTSIDE_DVA}.crt" in out and "BSN " in out, out
        with httpx.Client(timeout=30.0) as client:
            bsn = client.get(sandbox.url("digid", "/api/test-persons"),
                             params={"n": 1}).json()[0]["bsn"]
        time.sleep(2 * refresh + 1)  # the PGO's next list refresh
        report = collect_scenario.run(sandbox, dvp="pgo-alpha", provider=OUTSIDE_PROVIDER,
                                      bsn=bsn)
        assert report.ok, report.to_dict()
        assert report.summary["resources"] >= 2, report.summary
        # the documented command (bring-your-own.md step 7): the CLI knows the outside provider
        from sandbox.cli import app as main_cli

        result = CliRunner().invoke(main_cli, [
            "scenario", "run", "collect", "--dvp", "pgo-alpha", "--provider", OUTSIDE_PROVIDER,
            "--state-dir", str(sandbox.state_dir)])
        assert result.exit_code == 0 and "scenario collect passed" in result.output, \
            result.output
        paths = {p for _m, p in app.state.requests}
        assert paths and all(p.startswith("/api/fhir/buitenkliniek/48/") for p in paths)
        rows = LocalRuntime(sandbox.state_dir).status(sandbox.info, sandbox.topology)
        statuses = {r.hostname: r for r in rows}  # `pgo-sandbox status`: ours and outside
        assert statuses[OUTSIDE_DVA].detail == "external, /health 200"
        assert statuses["dva-nexus.sandbox.test"].healthy
    finally:
        dva.close()
        with httpx.Client(timeout=30.0) as admin:
            admin.delete(sandbox.url("registry", f"/admin/participants/{OUTSIDE_DVA}"),
                         headers=sandbox.admin_headers)



def test_a_refused_pki_leaves_the_lists_as_they_were(sandbox, tmp_path) -> None:
    """Rule (``participant_cli._open_pki``): the state directory's PKI is opened before the
    registry is asked; a folder the command may not use (a CA without its secret, from an
    earlier version) is exit 1 with what to do, and the participant is not listed without
    a certificate."""
    from sandbox.pki import Pki

    pki, aside = sandbox.state_dir / "pki", tmp_path / "pki-aside"
    if pki.exists():
        shutil.move(pki, aside)
    try:
        Pki(sandbox.topology.seed, pki, secret=b"")  # as an earlier version left it
        result = CliRunner().invoke(cli(), [
            "participant", "add-dvp", "--hostname", "pgo-halfway.sandbox.test", "--name",
            "Halverwege PGO", "--redirect-uri", "http://127.0.0.1:9/callback",
            "--state-dir", str(sandbox.state_dir)])
        assert result.exit_code == 1 and "without its CA secret" in result.output, result.output
        assert "pgo-halfway" not in run_cli(sandbox, "participant", "list")
    finally:
        shutil.rmtree(pki, ignore_errors=True)
        if aside.exists():
            shutil.move(aside, pki)
