"""The `medmij` profile of the local runtime (issue 13, items 2 and 3), with real TLS handshakes.

One sandbox for the module, started with ``LocalRuntime.up(profile="medmij")`` on its own
127.x.y.0/24 block (so it cannot collide with another test's sandbox) and port 443. Every node
serves HTTPS under its MedMij hostname with its certificate from the sandbox PKI; the back
channels (token, resource server, list download, DigiD artifact resolution) require a client
certificate whose hostname is on the latest Whitelist.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from lxml import etree

from sandbox.pki import Pki, ca_secret
from sandbox.runtime.local import check_can_bind_tls
from scenarios import collect
from scenarios.accounts import create_account
from scenarios.flow import authorization_code
from scenarios.oauth_probe import authorize_url, exchange, get_code, refresh, resource_base
from scenarios.useragent import Browser
from simulators.common.http import ResolvingTransport
from simulators.medmij import LIST_PATHS
from tests.conftest import medmij_profile_sandbox
from tests.simulators.common.test_tls import raw_get

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="binds <address>:443: needs root")

XSDS = {
    "zal": "MedMij_Zorgaanbiederslijst.xsd",
    "ocl": "MedMij_OAuthclientlist.xsd",
    "whitelist": "MedMij_Whitelist.xsd",
    "gnl": "MedMij_Gegevensdienstnamenlijst.xsd",
}
STRANGER = "stranger.sandbox.test"


@pytest.fixture(scope="module")
def medmij(tmp_path_factory):
    with medmij_profile_sandbox(tmp_path_factory.mktemp("medmij")) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def certs(medmij, tmp_path_factory) -> Path:
    """Certificates for drills: a stranger's (right CA, not on the lists), an expired one,
    one from another CA and one from the CA the public seed alone gives (what anyone could
    mint without the state directory's CA secret), the last three for a listed PGO's
    hostname."""
    out = tmp_path_factory.mktemp("certs")
    pgo = medmij.topology.dvps[0]
    secret = ca_secret(medmij.state_dir / "pki")  # the sandbox's own CA, in other folders
    Pki(medmij.topology.seed, out, secret=secret).issue(STRANGER, "Vreemde PGO")
    expired = Pki(medmij.topology.seed, out / "expired", secret=secret)
    expired.issue(pgo.hostname, pgo.name, expired=True)
    other = Pki(medmij.topology.seed + 1, out / "other-ca")
    other.issue(pgo.hostname, pgo.name)
    minted = Pki(medmij.topology.seed, out / "seed-only", secret=b"")
    minted.issue(pgo.hostname, pgo.name)
    return out


def client(medmij, pki_dir: Path | None = None, hostname: str | None = None,
           tls12: bool = False) -> httpx.Client:
    """A client that trusts the sandbox CA, resolves hostnames through the runtime's map and
    presents ``hostname``'s certificate from ``pki_dir`` (none: no client certificate).
    ``tls12``: TLS 1.2, where the server's verdict on the client certificate arrives inside
    the handshake (in TLS 1.3 it comes after, as a closed connection)."""
    context = ssl.create_default_context(cafile=medmij.state_dir / "pki" / "ca-bundle.pem")
    if tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    if hostname is not None:
        pki_dir = pki_dir or medmij.state_dir / "pki"
        context.load_cert_chain(pki_dir / f"{hostname}.crt", pki_dir / f"{hostname}.key")
    transport = ResolvingTransport(medmij.info.addresses, verify=context)
    return httpx.Client(transport=transport, timeout=10)


def token_call(medmij, cert_host: str | None, client_id: str, pki_dir: Path | None = None,
               tls12: bool = False) -> httpx.Response:
    dva_host = medmij.topology.dvas[0].hostname
    with client(medmij, pki_dir, cert_host, tls12) as http:
        return http.post(f"https://{dva_host}/oauth/token", data={
            "grant_type": "authorization_code", "code": "not-a-code", "client_id": client_id,
            "redirect_uri": f"https://{client_id}/callback"})


def test_collect_over_tls_and_lists_validate_against_official_xsd(medmij, medmij_dir):
    """The collect scenario end to end over HTTPS (DVP, DVA, DigiD and registry presenting
    their certificates), and the live lists fetched over HTTPS are XSD-valid."""
    assert all(a.startswith("https://127.") for a in medmij.info.addresses.values())
    report = collect.run(medmij)
    assert report.ok, report.steps
    assert report.summary["requests"] > 0
    registry = medmij.topology.registry.hostname
    pgo = medmij.topology.dvps[0].hostname
    with client(medmij, hostname=pgo) as http:
        for kind, path in LIST_PATHS.items():
            response = http.get(f"https://{registry}{path}", params={"api": "1"})
            assert response.status_code == 200, response.text
            assert response.url.scheme == "https"
            schema = etree.XMLSchema(etree.parse(str(medmij_dir / "lists" / "xsd" / XSDS[kind])))
            document = etree.fromstring(response.content)
            assert schema.validate(document), (kind, schema.error_log)
            if kind == "zal":
                assert b"https://dva-" in response.content and b":443" not in response.content


def test_token_endpoint_authenticates_the_client_by_its_certificate(medmij):
    pgo, other = medmij.topology.dvps[0].hostname, medmij.topology.dvps[1].hostname
    no_cert = token_call(medmij, None, pgo)
    assert no_cert.status_code == 401 and no_cert.json()["error"] == "invalid_client"
    mismatch = token_call(medmij, pgo, other)  # pgo-alpha's certificate, pgo-beta's client_id
    assert mismatch.status_code == 401, mismatch.text
    assert mismatch.json()["error"] == "invalid_client"
    assert "certificate" in mismatch.json()["error_description"]
    own = token_call(medmij, pgo, pgo)  # authenticated: on to the code, which is made up
    assert own.status_code == 400 and own.json()["error"] == "invalid_grant", own.text


def test_peer_not_on_the_whitelist_is_refused_on_every_back_channel(medmij, certs):
    topology = medmij.topology
    provider = topology.providers[0]
    fhir = (f"https://{provider.dva}/fhir/{provider.slug}/"
            f"{provider.gegevensdiensten[0]}/Patient")
    registry, digid = topology.registry.hostname, topology.digid.hostname
    list_url = f"https://{registry}{LIST_PATHS['whitelist']}"
    # a certificate off the Whitelist: every node that holds one closes the connection in
    # TLS, before any HTTP (SPEC section 2), whatever the path
    calls = [("GET", fhir), ("POST", fhir.rsplit("/", 2)[0] + "/x"), ("GET", list_url),
             ("POST", f"https://{digid}/artifact"), ("POST", f"https://{provider.dva}/oauth/token"),
             ("GET", f"https://{registry}/health"), ("GET", f"https://{provider.dva}/health")]
    for method, url in calls:
        with client(medmij, certs, STRANGER) as stranger:
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
                stranger.request(method, url, data={"client_id": STRANGER})
    # the front channel stays open to anyone without a certificate (a browser)
    with client(medmij) as anonymous:
        assert anonymous.get(list_url).status_code == 401
        assert anonymous.get(fhir).status_code == 401
    dva = topology.dvas[0].hostname
    with client(medmij, hostname=dva) as listed:  # the same calls from a listed node pass
        assert listed.get(list_url).status_code == 200
        assert listed.get(fhir, headers={"Authorization": "Bearer x"}).status_code == 401
        artifact = listed.post(f"https://{digid}/artifact", data={"artifact": "x", "rp": dva})
        assert artifact.status_code == 400


def test_bad_certificates_fail_the_handshake(medmij, certs):
    pgo = medmij.topology.dvps[0].hostname
    # TLS 1.2: refused inside the handshake (uvloop closes without naming the reason)
    assert token_call(medmij, pgo, pgo, tls12=True).status_code == 400  # the control
    with pytest.raises(httpx.ConnectError):
        token_call(medmij, pgo, pgo, pki_dir=certs / "expired", tls12=True)
    with pytest.raises(httpx.ConnectError):
        token_call(medmij, pgo, pgo, pki_dir=certs / "other-ca", tls12=True)
    for drill in ("expired", "other-ca"):  # TLS 1.3: the server closes, no HTTP answer
        with pytest.raises(httpx.TransportError):
            token_call(medmij, pgo, pgo, pki_dir=certs / drill)
    # Rule (``sandbox.pki.ca_secret``): the seed is public, the CA is not: a certificate
    # derived from the seed alone is another CA's, in TLS 1.2 and 1.3
    with pytest.raises(httpx.ConnectError):
        token_call(medmij, pgo, pgo, pki_dir=certs / "seed-only", tls12=True)
    with pytest.raises(httpx.TransportError):
        token_call(medmij, pgo, pgo, pki_dir=certs / "seed-only")
    # a server whose certificate names another host: the registry's address asked for the
    # DVA's name (as a DNS spoof would send it there)
    registry_address = medmij.info.addresses[medmij.topology.registry.hostname]
    dva = medmij.topology.dvas[0].hostname
    spoofed = {**medmij.info.addresses, dva: registry_address}
    context = ssl.create_default_context(cafile=medmij.state_dir / "pki" / "ca-bundle.pem")
    with httpx.Client(transport=ResolvingTransport(spoofed, verify=context)) as http:
        with pytest.raises(httpx.ConnectError, match="[Hh]ostname mismatch"):
            http.get(f"https://{dva}/health")


def test_bind_without_privilege_says_what_to_do(monkeypatch, tmp_path):
    """Not root: a clear message naming CAP_NET_BIND_SERVICE, not a traceback."""
    import socket

    def refuse(self, address):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(socket.socket, "bind", refuse)
    with pytest.raises(RuntimeError, match="cap_net_bind_service") as caught:
        check_can_bind_tls(tmp_path, {"registry.sandbox.test": "https://127.77.0.1"})
    assert "443" in str(caught.value) and "loopback profile" in str(caught.value)


def person_with_data(medmij, provider: str) -> str:
    """A BSN with data at ``provider`` (DigiD's automation API: not a back channel)."""
    digid = medmij.topology.digid.hostname
    with client(medmij) as http:
        persons = http.get(f"https://{digid}/api/test-persons",
                           params={"provider": provider, "service": "48", "n": 1})
    assert persons.status_code == 200, persons.text
    return persons.json()[0]["bsn"]


def digid_artifact(medmij, rp: str, bsn: str) -> str:
    """A person logs in at DigiD for relying party ``rp``: the artifact DigiD sends back."""
    digid = medmij.topology.digid.hostname
    query = urlencode({"rp": rp, "return_to": f"https://{rp}/digid/acs", "RelayState": "r1"})
    with Browser(medmij.info.addresses) as browser:
        back = browser.digid_login(browser.get(f"https://{digid}/login?{query}"), bsn)
    assert back.status_code == 303, back.text[:300]
    return parse_qs(urlsplit(back.headers["location"]).query)["SAMLart"][0]


def test_digid_artifact_is_resolved_only_by_its_relying_party(medmij):
    """Over TLS the artifact's relying party ``rp`` must be the caller's certificate hostname:
    another listed DVA (or a listed PGO) naming the real relying party is refused, and the
    refusal neither reveals nor spends the artifact."""
    topology = medmij.topology
    nexus, lumen = topology.dvas[0].hostname, topology.dvas[1].hostname
    bsn = person_with_data(medmij, topology.providers_of(nexus)[0].name)
    artifact = digid_artifact(medmij, nexus, bsn)
    url = f"https://{topology.digid.hostname}/artifact"
    for intruder in (lumen, topology.dvps[0].hostname):
        with client(medmij, hostname=intruder) as http:
            stolen = http.post(url, data={"artifact": artifact, "rp": nexus})
        assert stolen.status_code == 403, stolen.text
        assert stolen.json()["error"] == "access_denied"
        assert f"certificate hostname {intruder} is not the relying party" in stolen.text
    # a listed relying party naming itself: authenticated, but not the artifact's; refused
    # without spending it (it was popped first: another DVA could burn a person's login)
    with client(medmij, hostname=lumen) as http:
        burnt = http.post(url, data={"artifact": artifact, "rp": lumen})
    assert burnt.status_code == 400 and burnt.json()["error"] == "invalid_grant", burnt.text
    with client(medmij, hostname=nexus) as http:
        own = http.post(url, data={"artifact": artifact, "rp": nexus})
    assert own.status_code == 200 and own.json() == {"bsn": bsn}, own.text


def test_tokens_are_bound_to_the_client_certificate_they_were_issued_to(medmij):
    """RFC 8705-style binding by client identity: pgo-alpha's access token presented by
    pgo-beta (its own valid, listed certificate) is ``invalid_token``; its refresh token is
    refused to pgo-beta at the token endpoint, whichever client_id pgo-beta sends."""
    topology = medmij.topology
    alpha, beta = topology.dvps[0].hostname, topology.dvps[1].hostname
    provider = topology.providers[0].name
    code, redirect_uri = get_code(medmij, provider, person_with_data(medmij, provider), alpha,
                                  long_lived=True)
    with client(medmij, hostname=alpha) as http:
        issued = exchange(http, medmij, provider, code, redirect_uri, alpha)
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    assert tokens.get("refresh_token"), tokens
    patients = resource_base(medmij, provider) + "/Patient"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    with client(medmij, hostname=beta) as http:
        leaked = http.get(patients, headers=bearer)
        assert leaked.status_code == 401, leaked.text
        assert 'error="invalid_token"' in leaked.headers["www-authenticate"]
        assert "another client" in leaked.json()["issue"][0]["diagnostics"]
        as_beta = refresh(http, medmij, provider, tokens["refresh_token"], beta)
        assert as_beta.status_code == 400, as_beta.text
        assert as_beta.json()["error"] == "invalid_grant"
        as_alpha = refresh(http, medmij, provider, tokens["refresh_token"], alpha)
        assert as_alpha.status_code == 401, as_alpha.text
        assert as_alpha.json()["error"] == "invalid_client"
    with client(medmij, hostname=alpha) as http:  # the owner: both still work
        assert http.get(patients, headers=bearer).status_code == 200
        rotated = refresh(http, medmij, provider, tokens["refresh_token"], alpha)
        assert rotated.status_code == 200, rotated.text


def test_live_added_dvp_collects_over_mutual_tls(medmij):
    """An outside DVP added live (admin API, its certificate issued by the sandbox PKI, as
    ``participant add-dvp`` does) is usable over mutual TLS once the DVAs refresh their lists:
    authorize, the token endpoint and the resource server accept its certificate."""
    topology = medmij.topology
    mine = f"pgo-mine.{topology.domain}"
    redirect_uri = f"https://{mine}/callback"
    Pki(topology.seed, medmij.state_dir / "pki").issue(mine, "Mijn PGO")
    admin = f"https://{topology.registry.hostname}/admin"
    provider = topology.providers[0].name
    bsn = person_with_data(medmij, provider)
    with client(medmij) as http:
        added = http.post(f"{admin}/clients", headers=medmij.admin_headers, json={
            "hostname": mine, "name": "Mijn PGO", "redirect_uri": redirect_uri})
    assert added.status_code < 300, added.text
    try:
        url = authorize_url(medmij, provider, mine, redirect_uri)
        deadline = time.monotonic() + 3 * topology.list_refresh_seconds + 5
        with Browser(medmij.info.addresses) as browser:
            while "OAuth Client List" in browser.get(url).text and time.monotonic() < deadline:
                time.sleep(0.2)
            code = browser.run(authorization_code(url, bsn))
        with client(medmij, hostname=mine) as http:
            token = exchange(http, medmij, provider, code, redirect_uri, mine)
            assert token.status_code == 200, token.text
            found = http.get(resource_base(medmij, provider) + "/Patient", headers={
                "Authorization": f"Bearer {token.json()['access_token']}"})
        assert found.status_code == 200 and found.json()["entry"], found.text[:300]
    finally:
        with client(medmij) as http:
            http.delete(f"{admin}/participants/{mine}", headers=medmij.admin_headers)


def test_the_dashboard_link_names_the_registry_not_its_address(medmij):
    """``pgo-sandbox dashboard`` in the medmij profile printed ``https://127.x.y.1/dashboard/
    login/<code>``: the registry's certificate names only registry.sandbox.test, so every
    browser stopped at a certificate warning, and a click-through sent the login code to a
    server it had not verified. The link names the MedMij hostname (``hosts --write`` maps
    it) and logs a browser in over a verified connection."""
    from sandbox.dashboard_cli import dashboard_url, login_link

    registry = medmij.topology.registry.hostname
    link = login_link(medmij)
    assert dashboard_url(medmij) == f"https://{registry}/dashboard"
    assert link.startswith(f"https://{registry}/dashboard/login/"), link
    with Browser(medmij.info.addresses) as browser:  # resolves the name, verifies the certificate
        logged_in = browser.get(link)
        assert logged_in.status_code == 303, logged_in.text[:300]
        assert browser.get(dashboard_url(medmij)).status_code == 200


def resumed_get(medmij, context: ssl.SSLContext, hostname: str, path: str,
                session: ssl.SSLSession | None = None) -> tuple[bytes, ssl.SSLSession | None]:
    """GET ``path`` from ``hostname`` on a new connection, resuming ``session`` if given:
    (the answer's status line or b"" when the server closed without one, the session to
    resume next time)."""
    address = urlsplit(medmij.info.addresses[hostname]).hostname
    answer, session = raw_get(context, address, 443, hostname, path, session)
    return answer.split(b"\r\n", 1)[0], session


@contextlib.contextmanager
def listed_vendor(medmij, hostname: str, name: str) -> Iterator[Pki]:
    """A PGO vendor with a certificate of the sandbox CA, on the OCL and Whitelist (the admin
    API, as ``participant add-dvp`` does) while the block runs; taken off afterwards."""
    pki = Pki(medmij.topology.seed, medmij.state_dir / "pki")
    pki.issue(hostname, name)
    admin = f"https://{medmij.topology.registry.hostname}/admin"
    with client(medmij) as http:
        added = http.post(f"{admin}/clients", headers=medmij.admin_headers, json={
            "hostname": hostname, "name": name, "redirect_uri": f"https://{hostname}/callback"})
    assert added.status_code < 300, added.text
    try:
        yield pki
    finally:
        with client(medmij) as http:
            http.delete(f"{admin}/participants/{hostname}", headers=medmij.admin_headers)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_a_revoked_peer_cannot_resume_its_tls_session(medmij, version):
    """Rule (``tls.rechecking``): OpenSSL checks a client certificate only in a full handshake;
    a resumed session (a TLS 1.3 ticket, a TLS 1.2 ticket or session id) keeps the identity of
    the first one. A vendor revoked with ``ca revoke`` kept passing every back channel by
    resuming a session from before the revocation, on new connections, for the session's
    life. Now the resumed connection is closed before any HTTP, as a fresh handshake fails."""
    topology = medmij.topology
    revoked = f"pgo-revoked-{version.name[-1]}.{topology.domain}"
    with listed_vendor(medmij, revoked, "Ingetrokken PGO") as pki:
        context = ssl.create_default_context(cafile=medmij.state_dir / "pki" / "ca-bundle.pem")
        context.maximum_version = version
        context.load_cert_chain(pki.cert_path(revoked), pki.key_path(revoked))
        registry, whitelist = topology.registry.hostname, LIST_PATHS["whitelist"]
        status, session = resumed_get(medmij, context, registry, whitelist)
        assert status.endswith(b"200 OK"), status  # on the Whitelist, the registry's own
        status, session = resumed_get(medmij, context, registry, whitelist, session)
        assert status.endswith(b"200 OK"), status  # the control: a resumed session passes
        pki.revoke(revoked)
        time.sleep(1.5)  # the nodes look at the CRL file at most once a second
        try:  # a full handshake: refused in it (TLS 1.2) or closed right after (TLS 1.3)
            status, _ = resumed_get(medmij, context, registry, whitelist)
        except (ssl.SSLError, ConnectionError):
            status = b""
        assert status == b"", status
        status, _ = resumed_get(medmij, context, registry, whitelist, session)
        assert status == b"", status


def test_a_revoked_peer_is_refused_on_the_connection_it_kept_open(medmij):
    """Rule (``BackChannelGate``, ``LiveServerContext.revoked_now``): a handshake checks the
    CRL once, so a vendor revoked with ``ca revoke`` while it holds a keep-alive connection
    kept passing every back channel on it for as long as it stayed open. Each back-channel
    request is now checked against the CRL of now and refused with the protocol's error, as
    a vendor taken off the Whitelist is; the control certificate on the same kind of
    connection still passes."""
    topology = medmij.topology
    revoked = f"pgo-kept-open.{topology.domain}"
    whitelist = f"https://{topology.registry.hostname}{LIST_PATHS['whitelist']}"
    with listed_vendor(medmij, revoked, "Open Gehouden PGO") as pki:
        with client(medmij, hostname=revoked) as kept, \
                client(medmij, hostname=topology.dvps[0].hostname) as control:
            first = kept.get(whitelist)
            assert first.status_code == 200, first.text
            stream = first.extensions["network_stream"]
            assert control.get(whitelist).status_code == 200
            pki.revoke(revoked)
            time.sleep(1.5)  # the nodes look at the CRL file at most once a second
            again = kept.get(whitelist)
            assert again.extensions["network_stream"] is stream  # the same connection
            assert again.status_code == 403, again.text
            assert f"the certificate of {revoked} was revoked" in again.text
            assert control.get(whitelist).status_code == 200


def test_vendor_removed_from_the_lists_is_refused_within_one_refresh(medmij):
    """Last in the module: it changes the lists. A PGO taken off the OCL and Whitelist is
    refused by the DVA from the DVA's next list refresh on: on the connection it kept open,
    with the protocol's errors; on every new connection, in TLS."""
    topology = medmij.topology
    gone = topology.dvps[-1].hostname
    provider = topology.providers[0]
    fhir = (f"https://{provider.dva}/fhir/{provider.slug}/"
            f"{provider.gegevensdiensten[0]}/Patient")
    dva_token = f"https://{topology.dvas[0].hostname}/oauth/token"
    form = {"grant_type": "authorization_code", "code": "not-a-code", "client_id": gone,
            "redirect_uri": f"https://{gone}/callback"}
    with client(medmij, hostname=gone) as kept:  # one connection, used every 0.2 s
        before = kept.post(dva_token, data=form)
        assert before.status_code == 400, before.text  # through the gate, to the made-up code
        registry = topology.registry.hostname
        with client(medmij) as http:
            removed = http.delete(f"https://{registry}/admin/clients/{gone}",
                                  headers=medmij.admin_headers)
        assert removed.status_code == 200, removed.text
        start = time.monotonic()
        deadline = start + topology.list_refresh_seconds + 3
        # the OCL and the Whitelist are two lists the DVA fetches one after the other: the
        # token endpoint refuses a client missing from either, the gate by the Whitelist
        while True:
            after = kept.post(dva_token, data=form)
            refused = kept.get(fhir, headers={"Authorization": "Bearer x"})
            if (after.status_code == 401 and refused.status_code == 403) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert after.status_code == 401 and after.json()["error"] == "invalid_client", after.text
        assert "Whitelist" in after.json()["error_description"]
        assert refused.status_code == 403, refused.text  # the gate's Whitelist is the latest
        assert time.monotonic() - start <= topology.list_refresh_seconds + 3
        assert "not on the Whitelist" in refused.json()["issue"][0]["diagnostics"]
    for url in (dva_token, fhir):  # a new connection does not get as far as HTTP
        with client(medmij, hostname=gone) as fresh:
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
                fresh.post(url, data=form)


LANGUAGE_COOKIE = "pgo_sandbox_lang"  # a preference, binds nothing


def test_browser_cookies_are_host_only_over_https(medmij):
    """Rule (``security.cookie_name``): over https every cookie that binds a login, a session
    or an authorization to a browser is ``__Host-``: Secure, ``Path=/``, no ``Domain``. A
    browser then keeps it only from the host that set it, so no other ``*.sandbox.test``
    host can plant one. Cookies from all five kinds of node: the PGO (pre-session and
    session), DigiD (login form and session), the DVA (authorization), the inspection
    function (pending login) and the registry's dashboard (login form)."""
    topology = medmij.topology
    with Browser(medmij.info.addresses) as browser:
        report = collect.run(medmij, browser=browser)
        assert report.ok, report.steps
        assert browser.get(medmij.public_url(topology.dvps[0].id, "/")).status_code == 200
        assert browser.get(medmij.public_url(topology.inspection.id, "/start")).status_code == 302
        assert browser.get(medmij.public_url(topology.registry.id,
                                             "/dashboard/login")).status_code == 200
        cookies = [c for c in browser.client.cookies.jar if c.name != LANGUAGE_COOKIE]
    expected = {topology.dvps[0].hostname, topology.digid.hostname,
                topology.provider(topology.providers[0].name).dva, topology.inspection.hostname,
                topology.registry.hostname}
    assert {c.domain for c in cookies} == expected, [(c.name, c.domain) for c in cookies]
    assert len(cookies) >= 7, [c.name for c in cookies]
    for cookie in cookies:
        assert cookie.name.startswith("__Host-"), cookie.name
        assert cookie.secure and cookie.path == "/", cookie
        assert not cookie.domain_specified and not cookie.domain.startswith("."), cookie


def held(browser: Browser, name: str) -> str:
    """The value of the browser's cookie ``name``, whatever prefix it has."""
    values = [c.value for c in browser.client.cookies.jar if c.name.endswith(name) and c.value]
    assert len(values) == 1, list(browser.client.cookies.jar)
    return values[0]


def test_a_cookie_planted_for_the_sandbox_domain_binds_nothing(medmij):
    """Rule (``security.cookie_name``): over https a node reads only its ``__Host-`` cookie.
    Another host of the sandbox domain can set ``<node>_authz`` or ``<node>_session`` with
    ``Domain=.sandbox.test`` in a victim's browser; read, it would let the victim finish the
    attacker's authorization (a consent given into the attacker's hands) or use the
    attacker's PGO account (what they upload lands with the attacker)."""
    topology = medmij.topology
    provider = topology.providers[0].name
    dva = topology.node(topology.provider(provider).dva)
    pgo = topology.dvps[0]
    bsn = person_with_data(medmij, provider)
    redirect_uri = medmij.public_url(pgo.id, "/oauth/callback")
    url = authorize_url(medmij, provider, pgo.hostname, redirect_uri)
    with Browser(medmij.info.addresses) as attacker, Browser(medmij.info.addresses) as victim:
        login_url = attacker.location(attacker.get(url))
        secret = held(attacker, f"{dva.id}_authz")
        victim.client.cookies.set(f"{dva.id}_authz", secret, domain=".sandbox.test", path="/")
        back = victim.digid_login(victim.get(login_url), bsn)
        assert back.status_code == 303, back.text[:300]
        refused = victim.get(victim.location(back))
        assert refused.status_code == 403, refused.text[:300]

        account = create_account(attacker, medmij.public_url(pgo.id), "aanvaller")
        session = held(attacker, f"{pgo.id}_session")
        own = attacker.get(account.url(f"/persons/{account.person_id}"))
        assert own.status_code == 200, own.text[:300]
        victim.client.cookies.set(f"{pgo.id}_session", session, domain=".sandbox.test",
                                  path="/")
        planted = victim.get(account.url(f"/persons/{account.person_id}"))
        assert planted.status_code != 200 and "aanvaller" not in planted.text, planted.text[:300]


def test_pages_over_https_carry_hsts(medmij):
    """Rule (``security.HSTS``): every https answer tells the browser to use https only for
    that hostname (not its subdomains: other parties), so a person's later visit typed as
    http cannot be taken over on the way; the pages' other headers stay."""
    topology = medmij.topology
    with Browser(medmij.info.addresses) as browser:
        for node in (topology.dvps[0], topology.digid, topology.registry, topology.inspection):
            page = browser.get(medmij.public_url(node.id, "/health"))
            assert page.headers.get("strict-transport-security") == "max-age=31536000", node.id
            assert page.headers["x-frame-options"] == "DENY"
