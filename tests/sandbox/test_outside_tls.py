"""Outside participants over real TLS (issue 13 item 5, ``medmij`` profile).

Code that is not ours (``tests/outside``: httpx, lxml, uvicorn and ``ssl`` only) against a
medmij-profile sandbox (every node HTTPS on its own 127.x.y.z:443, mutual TLS on the back
channels), with real handshakes throughout:

- an outside DVP gets its certificate from ``pgo-sandbox ca issue``, is added live with
  ``pgo-sandbox participant add-dvp``, fetches the lists over HTTPS with its certificate
  (XSD-valid, all four), collects a BgZ from our DVA through DigiD and consent (its redirect
  URI is HTTPS on its own address), and is refused after ``participant remove``;
- our DVP collects from an outside DVA that serves HTTPS on its own address with other paths,
  listed in the ZAL with them, and checks our DVP's client certificate itself;
- a peer missing from the Whitelist, an expired certificate and certificates for another
  hostname (client and server side) are refused by the running nodes.

The outside apps bind 443 on addresses of the sandbox's /24 beyond its plan. Our nodes find
the outside DVA as a developer's would be found: through a line in ``/etc/hosts`` (this module
adds its own marked block for hostnames unique to the run and removes it again); the outside
code finds the sandbox's nodes with a ``curl --resolve``-like map instead.
"""

from __future__ import annotations

import os
import random
import shutil
import string
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import typer
from lxml import etree
from typer.testing import CliRunner

from sandbox.participant_cli import register as register_participant
from sandbox.pki import CA_SECRET_FILE
from sandbox.pki_cli import register as register_pki
from sandbox.runtime.local import LocalRuntime
from scenarios import collect as collect_scenario
from simulators.common import tls
from simulators.common.http import sync_client
from tests.conftest import medmij_profile_sandbox
from tests.outside.outside_dva import Serving
from tests.outside.outside_dva import create_app as outside_dva_app
from tests.outside.outside_dvp import CallbackServer, OutsideDvp
from tests.outside.outside_tls import Identity, client
from tests.sandbox.test_participant_cli import submit

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="binds <address>:443: needs root")

RUN = "".join(random.choices(string.ascii_lowercase, k=6))  # hostnames unique to this run
OUTSIDE_DVP = f"pgo-buiten-{RUN}.sandbox.test"
OUTSIDE_DVA = f"dva-buiten-{RUN}.sandbox.test"
OUTSIDE_PROVIDER = "buitenkliniek@medmij"
HOSTS_FILE = Path("/etc/hosts")
# refused in TLS: the handshake failed, or the node closed the connection right after it (a
# peer off its Whitelist) before answering a byte of HTTP
REFUSED_IN_TLS = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)


def cli(sandbox, *args: str, state_dir: Path | None = None) -> str:
    """A `pgo-sandbox` command (the `ca` and `participant` groups), in process."""
    app = typer.Typer()
    register_pki(app)
    register_participant(app)
    result = CliRunner().invoke(app, [*args, "--state-dir", str(state_dir or sandbox.state_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def admin_events(sandbox, hostname: str) -> list[dict]:
    """A running node's recent events (its admin API, over TLS as our CLI reaches it)."""
    with sync_client(sandbox.info.addresses, timeout=30) as http:
        r = http.get(sandbox.url(hostname, "/admin/events"), headers=sandbox.admin_headers)
    r.raise_for_status()
    return r.json()["events"]


def wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def medmij(tmp_path_factory):
    """A medmij-profile sandbox on a /24 of its own (127.77/16 is the CLI's default)."""
    with medmij_profile_sandbox(tmp_path_factory.mktemp("medmij-outside")) as sandbox:
        yield sandbox


def outside_address(sandbox, n: int) -> str:
    """An address of the sandbox's /24 beyond its plan (nodes use .1 upwards)."""
    first = urlsplit(next(iter(sandbox.info.addresses.values()))).hostname
    return f"{first.rsplit('.', 1)[0]}.{200 + n}"


def resolve_map(sandbox) -> dict[str, str]:
    """hostname -> address of every node: what the outside code dials (``curl --resolve``)."""
    return {host: urlsplit(base).hostname for host, base in sandbox.info.addresses.items()}


@pytest.fixture(scope="module")
def hosts_lines(medmij):
    """The outside participants' lines in /etc/hosts, as their developers would add them, in
    a block of this run's own; removed afterwards."""
    begin, end = f"# BEGIN pgo-sandbox test_outside_tls {RUN}", f"# END {RUN}"
    lines = [begin, f"{outside_address(medmij, 1)}\t{OUTSIDE_DVP}",
             f"{outside_address(medmij, 2)}\t{OUTSIDE_DVA}", end]
    with open(HOSTS_FILE, "a", encoding="utf-8") as fh:  # in place: may be a bind mount
        fh.write("\n".join(lines) + "\n")
    try:
        yield lines
    finally:
        text = HOSTS_FILE.read_text("utf-8")
        kept, inside = [], False
        for line in text.splitlines():
            if line == begin:
                inside = True
            elif inside and line == end:
                inside = False
            elif not inside:
                kept.append(line)
        with open(HOSTS_FILE, "w", encoding="utf-8") as fh:
            fh.write("\n".join(kept) + "\n")


def issue(sandbox, hostname: str, out: Path, *extra: str, state_dir: Path | None = None
          ) -> Identity:
    """`pgo-sandbox ca issue HOSTNAME --out DIR`: the files an outside participant uses.
    ``state_dir``: issued elsewhere, by the sandbox's CA (its CA secret copied there), so a
    drill's certificate for a node's hostname leaves the node's own files as they are."""
    if state_dir is not None and state_dir != sandbox.state_dir:
        (state_dir / "pki").mkdir(parents=True, exist_ok=True)
        shutil.copy2(sandbox.state_dir / "pki" / CA_SECRET_FILE, state_dir / "pki" / CA_SECRET_FILE)
    cli(sandbox, "ca", "issue", hostname, "--out", str(out), *extra, state_dir=state_dir)
    return Identity.in_dir(out, hostname)


def test_outside_dvp_added_live_collects_over_mutual_tls_and_is_refused_after_removal(
        medmij, medmij_dir, hosts_lines, tmp_path) -> None:
    topology = medmij.topology
    hosts = resolve_map(medmij) | {OUTSIDE_DVP: outside_address(medmij, 1)}
    cli(medmij, "ca", "export", "--out", str(tmp_path / "ca"))  # the bundle it trusts
    issued = issue(medmij, OUTSIDE_DVP, tmp_path / "tls", "--organisation", "Buiten PGO")
    mine = Identity(issued.cert, issued.key, tmp_path / "ca" / "ca-bundle.pem")
    callback = CallbackServer(mine, outside_address(medmij, 1), OUTSIDE_DVP)
    registry = f"https://{topology.registry.hostname}"
    dvp = OutsideDvp(OUTSIDE_DVP, registry, medmij_dir / "lists" / "xsd",
                     callback.redirect_uri, mine, hosts)
    browser = client(mine, hosts, present=False)  # the person's: trusts the CA, no certificate
    provider = topology.providers[0]
    try:
        # not listed yet: its certificate is good, but not on the Whitelist; the registry
        # closes the connection in TLS and says why in its events
        with pytest.raises(REFUSED_IN_TLS):
            dvp.fetch_lists()
        assert any(e["kind"] == "tls-refused" and e["peer"] == OUTSIDE_DVP
                   for e in admin_events(medmij, topology.registry.hostname))

        start = time.monotonic()
        out = cli(medmij, "participant", "add-dvp", "--hostname", OUTSIDE_DVP,
                  "--name", "Buiten PGO", "--redirect-uri", callback.redirect_uri)
        added = time.monotonic() - start
        # what it prints is what a stranger can use: the lists' names, not our addresses
        assert f"{registry}/MedMij_Zorgaanbiederslijst.xml?api=1" in out, out
        registry_address = hosts[topology.registry.hostname]
        assert f"{registry_address}" in out and "present your certificate" in out, out

        lists = dvp.fetch_lists()  # over HTTPS with its certificate: now listed
        assert lists.ocl[OUTSIDE_DVP] == "Buiten PGO" and OUTSIDE_DVP in lists.whitelist
        assert lists.xsd_errors == {"zal": [], "ocl": [], "whitelist": [], "gnl": []}
        assert lists.zal[provider.name]["48"].token == f"https://{provider.dva}/oauth/token"

        # usable at every DVA: each one's authorize sends the browser on to DigiD
        def accepted_everywhere() -> bool:
            for dva in topology.dvas:
                other = topology.providers_of(dva.hostname)[0]
                url = dvp.authorize_url(lists, other.name, other.gegevensdiensten[0])
                if browser.get(url).status_code != 302:
                    return False
            return True
        wait_for(accepted_everywhere, 3 * topology.list_refresh_seconds + 5,
                 "every DVA accepts the live-added DVP")
        usable = time.monotonic() - start
        print(f"\nadd-dvp: CLI {added:.2f} s, usable at every DVA {usable:.2f} s "
              f"(list_refresh_seconds {topology.list_refresh_seconds:g})")

        # the person logs in at DigiD and consents; the DVA sends them to our HTTPS callback
        person = browser.get(f"https://{topology.digid.hostname}/api/test-persons", params={
            "provider": provider.name, "service": "48", "n": 1}).json()[0]
        r = browser.get(dvp.authorize_url(lists, provider.name, "48"))
        assert r.status_code == 302, r.text[:300]
        page = browser.get(r.headers["location"])
        r = submit(browser, page, "/login", {"bsn": person["bsn"]})
        assert r.status_code == 303, r.text[:300]
        page = browser.get(urljoin(str(r.url), r.headers["location"]))
        assert "Toestemming" in page.text, page.text[:300]
        r = submit(browser, page, "/consent", {"decision": "allow"})
        assert r.status_code == 302 and r.headers["location"].startswith(callback.redirect_uri)
        assert browser.get(r.headers["location"]).status_code == 200  # its server, over TLS
        token = dvp.token(lists, callback.received[-1])  # mutual TLS, its own certificate
        assert token.status_code == 200, token.text
        access = token.json()["access_token"]
        resource = lists.zal[provider.name]["48"].resource
        found = dvp.search(resource, access, "Patient?_include=Patient:general-practitioner")
        assert found.status_code == 200, found.text[:300]
        assert any(e["resource"]["resourceType"] == "Patient" for e in found.json()["entry"])

        token_url = lists.zal[provider.name]["48"].token
        form = {"grant_type": "authorization_code", "code": "made-up",
                "client_id": OUTSIDE_DVP, "redirect_uri": callback.redirect_uri}
        # a certificate for another hostname (a listed PGO's) with our client_id: refused
        alpha = topology.dvps[0].hostname
        stolen = Identity(medmij.state_dir / "pki" / f"{alpha}.crt",
                          medmij.state_dir / "pki" / f"{alpha}.key", mine.ca_bundle)
        with client(stolen, hosts) as http:
            r = http.post(token_url, data=form)
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
        assert f"not the client certificate's hostname {alpha}" in r.json()["error_description"]
        # a server whose certificate names another host (the registry answering for the DVA,
        # as a DNS spoof would have it): our outside code refuses it in the handshake
        with client(mine, hosts | {provider.dva: hosts[topology.registry.hostname]}) as http:
            with pytest.raises(httpx.ConnectError, match="[Hh]ostname mismatch"):
                http.post(token_url, data=form)
        # an expired certificate (`ca issue --expired`, the same CA, issued elsewhere): the
        # DVA and the registry refuse it in the handshake
        expired = issue(medmij, OUTSIDE_DVP, tmp_path / "expired", "--expired",
                        state_dir=tmp_path / "elsewhere")
        with client(expired, hosts, tls12=True) as http:
            with pytest.raises(REFUSED_IN_TLS):
                http.post(token_url, data=form)
            with pytest.raises(REFUSED_IN_TLS):
                http.get(f"{registry}/MedMij_Whitelist.xml")
        with client(mine, hosts, tls12=True) as http:  # the control: same call, good cert
            assert http.post(token_url, data=form).json()["error"] == "invalid_grant"

        # the vendor's exit: off the lists; within one list refresh every back channel
        # refuses its (valid) certificate and its grants are gone. The connection it keeps
        # open (polled every 0.1 s, opened while it was listed) meets the protocol's error...
        start = time.monotonic()
        assert "ocl" in cli(medmij, "participant", "remove", OUTSIDE_DVP)
        gone = wait_for(lambda: (lambda r: r if r.status_code == 403 else None)(
            dvp.search(resource, access, "Patient")), 2 * topology.list_refresh_seconds + 5,
            "the DVA's resource server refuses the removed DVP")
        print(f"participant remove: refused after {time.monotonic() - start:.2f} s")
        assert "not on the Whitelist" in gone.json()["issue"][0]["diagnostics"]
        # ...and every new connection is refused in TLS, at the DVA and at the registry
        with client(mine, hosts) as http:
            with pytest.raises(REFUSED_IN_TLS):
                http.post(token_url, data=form)
        with client(mine, hosts) as http:
            with pytest.raises(REFUSED_IN_TLS):
                http.get(f"{registry}/MedMij_Whitelist.xml")
    finally:
        browser.close()
        dvp.close()
        callback.close()
        cli_quiet(medmij, "participant", "remove", OUTSIDE_DVP)


def cli_quiet(sandbox, *args: str) -> None:
    """Clean-up: the same command, whatever it answers (already removed: fine)."""
    app = typer.Typer()
    register_participant(app)
    CliRunner().invoke(app, [*args, "--state-dir", str(sandbox.state_dir)])


def volgnummer(content: bytes) -> int:
    root = etree.fromstring(content)
    return int(root.findtext("{*}Volgnummer"))


def test_our_dvp_collects_from_an_outside_dva_over_mutual_tls(
        medmij, medmij_dir, hosts_lines, tmp_path) -> None:
    topology = medmij.topology
    hosts = resolve_map(medmij) | {OUTSIDE_DVA: outside_address(medmij, 2)}
    mine = issue(medmij, OUTSIDE_DVA, tmp_path / "tls", "--organisation", "Buiten DVA")
    registry = f"https://{topology.registry.hostname}"
    app = outside_dva_app(registry, OUTSIDE_PROVIDER, mine, hosts)
    dva = Serving(app, mine, outside_address(medmij, 2), OUTSIDE_DVA)
    base = dva.base
    pgo = topology.dvps[0]
    try:
        added = cli(medmij, "participant", "add-dva", "--hostname", OUTSIDE_DVA, "--name",
                    "Buiten DVA", "--provider", OUTSIDE_PROVIDER, "--display", "Buitenkliniek",
                    "--service", "48", "--authorize", f"{base}/auth/start", "--token",
                    f"{base}/auth/token", "--resource", f"{base}/api/fhir/buitenkliniek/48")
        # every URL it prints names a MedMij hostname: a 127.x one fails any TLS client's
        # hostname check (the DigiD line did)
        assert f"https://{topology.digid.hostname}/login" in added, added
        assert "https://127." not in added, added
        with client(mine, hosts) as http:  # the live ZAL, with its other paths, is XSD-valid
            zal = http.get(f"{registry}/MedMij_Zorgaanbiederslijst.xml", params={"api": "1"})
            assert zal.status_code == 200, zal.text
            xsd = medmij_dir / "lists" / "xsd" / "MedMij_Zorgaanbiederslijst.xsd"
            schema = etree.XMLSchema(etree.parse(str(xsd)))
            assert schema.validate(etree.fromstring(zal.content)), schema.error_log
            assert f"{base}/api/fhir/buitenkliniek/48".encode() in zal.content
            published = volgnummer(zal.content)

            def pgo_has_it() -> bool:  # the PGO's next list refresh
                health = http.get(f"https://{pgo.hostname}/health").json()
                return health["lists_volgnummers"].get("zal", 0) >= published
            wait_for(pgo_has_it, 3 * topology.list_refresh_seconds + 5,
                     "the PGO reads the new ZAL")
        # a tester's call, without a certificate: DigiD (which holds a Whitelist of its own,
        # refreshed on its own clock) would refuse the outside DVA's in TLS until it has it
        with client(mine, hosts, present=False) as http:
            bsn = http.get(f"https://{topology.digid.hostname}/api/test-persons",
                           params={"n": 1}).json()[0]["bsn"]

        report = collect_scenario.run(medmij, dvp=pgo.id, provider=OUTSIDE_PROVIDER, bsn=bsn)
        assert report.ok, report.to_dict()
        assert report.summary["resources"] >= 2, report.summary
        # the outside DVA saw our PGO's certificate on every back-channel call
        callers = app.state.callers
        assert ("/auth/token", pgo.hostname) in callers, callers
        assert {p for p, _ in callers} - {"/auth/token"}, callers  # resource calls too
        assert all(peer == pgo.hostname for _, peer in callers), callers

        # and refuses, itself, what MedMij says it must
        form = {"grant_type": "authorization_code", "code": "x", "client_id": pgo.hostname,
                "redirect_uri": f"https://{pgo.hostname}/x"}
        with client(mine, hosts, present=False) as anonymous:
            r = anonymous.post(f"{base}/auth/token", data=form)
            assert r.status_code == 401 and "certificate required" in r.text
        stranger_host = f"stranger-{RUN}.sandbox.test"
        stranger = issue(medmij, stranger_host, tmp_path / "stranger",
                         state_dir=tmp_path / "elsewhere")
        with client(stranger, hosts) as http:
            r = http.post(f"{base}/auth/token", data=form | {"client_id": stranger_host})
            assert r.status_code == 401 and "not on the OCL and Whitelist" in r.text, r.text
            r = http.get(f"{base}/api/fhir/buitenkliniek/48/Patient")
            assert r.status_code == 403 and "not on the Whitelist" in r.text, r.text
        expired = issue(medmij, pgo.hostname, tmp_path / "expired", "--expired",
                        state_dir=tmp_path / "elsewhere")
        with client(expired, hosts, tls12=True) as http:
            with pytest.raises(REFUSED_IN_TLS):
                http.post(f"{base}/auth/token", data=form)

        # `pgo-sandbox status` shows it, probed over TLS with the sandbox CA
        rows = {r.hostname: r for r in LocalRuntime(medmij.state_dir).status(
            medmij.info, topology)}
        assert rows[OUTSIDE_DVA].detail == "external, /health 200", rows[OUTSIDE_DVA]
    finally:
        dva.close()
        cli_quiet(medmij, "participant", "remove", OUTSIDE_DVA)


def test_participant_commands_trust_the_ca_of_their_state_dir(medmij, monkeypatch,
                                                              tmp_path) -> None:
    """`--state-dir` of a medmij sandbox other than $PGO_SANDBOX_HOME's: the command trusts
    that sandbox's CA (before, every call failed certificate verification: "the registry
    did not answer")."""
    monkeypatch.setattr(tls, "_trusted", [])
    monkeypatch.setattr(tls, "_contexts", {})
    monkeypatch.setenv("PGO_SANDBOX_HOME", str(tmp_path))
    out = cli(medmij, "participant", "list")
    assert "no outside participants" in out or "listed" in out, out
