"""The registry's live dashboard in-process (issue 15 items 1 and 2): access by the admin
token (login form with CSRF, one-time link, Bearer), the topology and list history, journeys
from the registry's own hop events, and the sequence diagram as escaped SVG and as PNG.

The registry is the app ``create_app`` builds, served through ``serving_app`` so its hops
become events as in a running node; its peers are not running here (their health says so).
Each test names the rule it guards; removing that rule alone makes it fail.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import httpx
import pytest

from simulators.common.app import serving_app
from simulators.registry import dashboard_draw as draw
from simulators.registry.app import create_app
from simulators.registry.state import RegistryState
from tests.simulators.registry.test_registry_app import Registry

pytestmark = pytest.mark.anyio
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PNG = b"\x89PNG\r\n\x1a\n"
OWN = "http://registry.test"
CLOSED = "http://127.0.0.1:1"  # tcpmux: nothing listens there


@pytest.fixture
async def registry(tmp_path):
    reg = Registry(tmp_path)
    # the peers are not running: their addresses point at a port nothing listens on (the
    # helper's 18400.. is the CLI's default range, where a developer's sandbox may run)
    registry_host = reg.config.topology.registry.hostname
    reg.config = replace(reg.config, addresses={
        host: url if host == registry_host else CLOSED for host, url in
        reg.config.addresses.items()})
    reg.state = RegistryState(reg.config, None, clock=reg.clock)
    reg.app = create_app(reg.config, "registry", state=reg.state)
    reg.http = httpx.AsyncClient(transport=httpx.ASGITransport(serving_app(reg.app, "registry")),
                                 base_url=OWN)
    async with reg.http:
        yield reg


async def login(registry: Registry) -> None:
    """Through the form, as a browser: the pre-login cookie and the form's CSRF token."""
    form = await registry.http.get("/dashboard/login")
    token = registry.admin["Authorization"].split(" ", 1)[1]
    r = await registry.http.post("/dashboard/login", data={
        "token": token, "csrf_token": CSRF.search(form.text).group(1)})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard", r.text


async def test_the_dashboard_needs_the_admin_token(registry) -> None:
    """Rule: without a dashboard session or the admin Bearer token a browser is sent to the
    login form and every data endpoint answers 401 (``viewer``)."""
    r = await registry.http.get("/dashboard")
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/login"
    for path in ("/dashboard/journeys.json", "/dashboard/state.json", "/dashboard/health.json",
                 "/dashboard/static/dashboard.js", "/dashboard/journeys", "/dashboard/stream"):
        r = await registry.http.get(path)
        assert r.status_code == 401, path
        assert r.json()["error"] == "invalid_token"
    r = await registry.http.get("/dashboard/journeys.json",
                                headers={"Authorization": "Bearer not-the-token"})
    assert r.status_code == 401
    r = await registry.http.get("/dashboard/journeys.json", headers=registry.admin)
    assert r.status_code == 200 and "journeys" in r.json()


async def test_login_form_checks_csrf_origin_and_token(registry) -> None:
    """Rules: the login form's CSRF token must be the one issued with this browser's
    pre-login cookie, a foreign Origin is refused, a wrong admin token is refused; only then
    an HttpOnly session cookie ``registry_dashboard`` (path /dashboard) is set."""
    token = registry.admin["Authorization"].split(" ", 1)[1]
    form = await registry.http.get("/dashboard/login")
    assert "registry_dashboard_login" in form.headers["set-cookie"]
    csrf = CSRF.search(form.text).group(1)
    r = await registry.http.post("/dashboard/login", data={"token": token, "csrf_token": "x"})
    assert r.status_code == 403 and "registry_dashboard=" not in r.headers.get("set-cookie", "")
    assert "verlopen" in r.text

    form = await registry.http.get("/dashboard/login")
    r = await registry.http.post("/dashboard/login", headers={"Origin": "http://127.0.0.1:1"},
                                 data={"token": token,
                                       "csrf_token": CSRF.search(form.text).group(1)})
    assert r.status_code == 403 and "registry_dashboard=" not in r.headers.get("set-cookie", "")

    form = await registry.http.get("/dashboard/login")
    r = await registry.http.post("/dashboard/login", data={
        "token": "wrong", "csrf_token": CSRF.search(form.text).group(1)})
    assert r.status_code == 401 and "niet het beheertoken" in r.text

    form = await registry.http.get("/dashboard/login")
    csrf = CSRF.search(form.text).group(1)
    own = registry.config.addresses["registry.sandbox.test"]
    r = await registry.http.post("/dashboard/login", headers={"Origin": own},
                                 data={"token": token, "csrf_token": csrf})
    assert r.status_code == 303
    cookie = next(c for c in r.headers.get_list("set-cookie")
                  if c.startswith("registry_dashboard="))
    assert "HttpOnly" in cookie and "Path=/dashboard" in cookie and "SameSite=lax" in cookie
    page = await registry.http.get("/dashboard")
    assert page.status_code == 200 and "Het stelsel" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


async def test_one_time_login_link_works_once(registry) -> None:
    """Rule: a code from ``POST /admin/dashboard/codes`` (admin only) logs a browser in once;
    the same link again is a Dutch page, not a session."""
    assert (await registry.http.post("/admin/dashboard/codes")).status_code == 401
    r = await registry.http.post("/admin/dashboard/codes", headers=registry.admin)
    assert r.status_code == 201
    url = r.json()["url"]
    assert url.startswith(registry.config.addresses["registry.sandbox.test"])
    path = url.split("127.0.0.1", 1)[1].split("/", 1)[1]
    first = await registry.http.get("/" + path)
    assert first.status_code == 303 and "registry_dashboard=" in first.headers["set-cookie"]
    registry.http.cookies.clear()
    again = await registry.http.get("/" + path)
    assert again.status_code == 400 and "al gebruikt" in again.text
    assert "registry_dashboard=" not in again.headers.get("set-cookie", "").replace(
        "registry_dashboard_login=", "")


async def test_logout_needs_the_session_csrf(registry) -> None:
    """Rule: logging out is a form post with the session's CSRF token."""
    await login(registry)
    page = await registry.http.get("/dashboard")
    csrf = CSRF.search(page.text).group(1)
    r = await registry.http.post("/dashboard/logout", data={"csrf_token": "forged"})
    assert r.status_code == 403
    assert (await registry.http.get("/dashboard")).status_code == 200
    r = await registry.http.post("/dashboard/logout", data={"csrf_token": csrf})
    assert r.status_code == 303
    registry.http.cookies.delete("registry_dashboard", path="/dashboard")
    assert (await registry.http.get("/dashboard")).status_code == 303


async def test_page_shows_topology_lists_clock_and_local_assets(registry) -> None:
    """Rule: the page draws every node and provider with display names and list badges, the
    Volgnummers and the sandbox clock; its script and style come from the node (no CDN)."""
    await login(registry)
    page = (await registry.http.get("/dashboard")).text
    for text in ("MedMij Stelselnode", "DigiD", "Alpha Gezond PGO", "Nexus DVA",
                 "UMC Sandbox: 48 51 53", 'id="health-dva-nexus"', 'id="vn-ocl"',
                 "Klok van de sandbox", "/dashboard/static/dashboard.js"):
        assert text in page, text
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from elsewhere
    js = await registry.http.get("/dashboard/static/dashboard.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "EventSource" in js.text and "innerHTML" not in js.text
    css = await registry.http.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200
    assert (await registry.http.get("/dashboard/static/evil.js")).status_code == 404
    registry.clock.advance(200 * 86400)
    health = (await registry.http.get("/dashboard/health.json")).json()
    assert health["clock"]["text"].startswith("01-06-2024")  # START + 200 days
    assert health["nodes"]["dva-nexus"]["status"] == "down"  # not running in this test


async def test_list_changes_show_what_left(registry) -> None:
    """Rules: each Volgnummer step says what changed, also when several changes come between
    two looks (``ObserveLists`` after each state-changing request), and the picture marks a
    PGO that is not on the OCL."""
    await login(registry)
    gamma = "pgo-gamma.sandbox.test"
    r = await registry.http.delete(f"/admin/clients/{gamma}", headers=registry.admin)
    assert r.status_code == 200, r.text
    svg = (await registry.http.get("/dashboard/topology.svg")).text
    ET.fromstring(svg)  # well-formed
    box = svg.split('data-node="pgo-gamma"', 1)[1].split("</g>\n", 1)[0]
    assert "niet op OCL" in box
    r = await registry.http.post("/admin/clients", headers=registry.admin,
                                 json={"hostname": gamma, "name": "Gamma Mijn Dossier"})
    assert r.status_code == 201, r.text
    await registry.http.delete("/admin/providers/ggzdeoever@medmij", headers=registry.admin)
    lists = (await registry.http.get("/dashboard/state.json")).json()["lists"]
    steps = [(c["list"], c["from"], c["to"], c["added"], c["removed"])
             for c in reversed(lists["changes"])]
    left, back = [s for s in steps if s[0] == "ocl"]
    assert left == ("ocl", 1, 2, [], ["pgo-gamma.sandbox.test (Gamma Mijn Dossier)"])
    assert back == ("ocl", 2, 3, ["pgo-gamma.sandbox.test (Gamma Mijn Dossier)"], [])
    assert ("zal", 1, 2, [], ["ggzdeoever@medmij bij dva-lumen.sandbox.test: 48"]) in steps


async def test_journey_from_hop_events_as_escaped_svg_and_png(registry) -> None:
    """Rules: hops with one X-Correlation-ID form a journey with display names; the sequence
    diagram escapes what the outside world wrote (a path) and exports SVG and PNG."""
    corr = "test-journey-1"
    headers = {"X-Correlation-ID": corr, "User-Agent": "pgo-sandbox-node/pgo-alpha"}
    await registry.http.get("/MedMij_OAuthclientlist.xml", params={"api": "1"},
                            headers=headers)
    await registry.http.get("/lists/<script>alert(1)</script>", headers=headers)
    await registry.http.get("/MedMij_Whitelist.xml", params={"api": "1"})  # background
    journeys = (await registry.http.get("/dashboard/journeys.json",
                                        headers=registry.admin)).json()["journeys"]
    assert [j["corr"] for j in journeys] == [corr]
    assert journeys[0]["hops"] == 2 and journeys[0]["errors"] == 1
    assert journeys[0]["title"] == "Alpha Gezond PGO → MedMij Stelselnode (sandbox)"
    svg = await registry.http.get(f"/dashboard/journeys/{corr}.svg", headers=registry.admin)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(svg.text)  # well-formed: the path was escaped
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "GET /MedMij_OAuthclientlist.xml → 200" in texts and "<script>" in texts
    png = await registry.http.get(f"/dashboard/journeys/{corr}.png", headers=registry.admin)
    assert png.headers["content-type"] == "image/png" and png.content.startswith(PNG)
    page = await registry.http.get(f"/dashboard/journeys/{corr}", headers=registry.admin)
    assert "&lt;script&gt;" in page.text and "<script>alert" not in page.text
    missing = await registry.http.get("/dashboard/journeys/nope.svg", headers=registry.admin)
    assert missing.status_code == 404


async def test_stream_pushes_hops_with_display_names(registry) -> None:
    """Rule: ``/dashboard/stream`` sends each journey's hop as a server-sent event with the
    caller's and node's display names, and leaves out background hops."""
    await registry.http.get("/MedMij_Zorgaanbiederslijst.xml", params={"api": "1"},
                            headers={"X-Correlation-ID": "stream-1",
                                     "User-Agent": "pgo-sandbox-node/dva-nexus"})
    await registry.http.get("/MedMij_Whitelist.xml", params={"api": "1"},
                            headers={"User-Agent": "pgo-sandbox-node/dva-nexus"})
    r = await registry.http.get("/dashboard/stream", params={"seconds": 0.3},
                                headers=registry.admin)
    assert r.headers["content-type"].startswith("text/event-stream")
    data = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
    assert len(data) == 1 and '"corr": "stream-1"' in data[0]
    assert '"caller_name": "Nexus DVA"' in data[0]
    assert '"node_name": "MedMij Stelselnode (sandbox)"' in data[0]


def hop(t: float, node: str, path: str, corr: str = "-", caller: str = "browser",
        ms: float = 10.0, status: int = 200, method: str = "GET") -> dict:
    return {"seq": 0, "t": t, "node": node, "kind": "hop", "method": method, "path": path,
            "status": status, "ms": ms, "corr": corr, "req": "-", "caller": caller}


def test_browser_front_channel_joins_the_collect_it_started() -> None:
    """Rule (``group_journeys``): a real browser's uncorrelated hops join the correlated
    journey running during or after them (the PGO callback holds the token and searches);
    background hops and health probes are no journey; a lone browser session is its own."""
    events = [
        hop(100.01, "pgo-alpha", "/persons/p1/connect", method="POST"),
        hop(100.05, "dva-nexus", "/oauth/authorize"),
        hop(101.0, "digid", "/login", method="POST"),
        hop(102.0, "dva-nexus", "/oauth/consent", method="POST"),
        hop(103.2, "dva-nexus", "/oauth/token", "c1", "pgo-alpha", method="POST"),
        hop(103.5, "dva-nexus", "/fhir/umcsandbox/48/Patient", "c1", "pgo-alpha"),
        hop(104.0, "pgo-alpha", "/oauth/callback", ms=1500),
        hop(104.1, "pgo-alpha", "/persons/p1"),
        hop(103.0, "registry", "/MedMij_Whitelist.xml", caller="dva-nexus"),
        hop(103.0, "dva-nexus", "/health", caller="registry"),
        hop(400.0, "mgo", "/"),
        {"seq": 0, "t": 103.4, "node": "dva-nexus", "kind": "fault", "corr": "c1",
         "fault": "slow", "ms": 200},
    ]
    journeys = draw.group_journeys(events)
    assert set(journeys) == {"c1", "web-399.990"}
    paths = [e.get("path", e["kind"]) for e in journeys["c1"]]
    assert paths == ["/persons/p1/connect", "/oauth/authorize", "/login", "/oauth/consent",
                     "/oauth/callback", "/oauth/token", "fault", "/fhir/umcsandbox/48/Patient",
                     "/persons/p1"]
    diagram = draw.sequence("c1", journeys["c1"], _topology(), {"pgo-alpha": "Alpha"})
    assert [w for w, _ in diagram.lifelines] == ["browser", "pgo-alpha", "dva-nexus", "digid"]
    assert diagram.rows[6].note and "fault: fault=slow, ms=200" in diagram.rows[6].label


def _topology():
    from simulators.medmij.topology import load_topology

    return load_topology()
