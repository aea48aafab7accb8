"""The dashboard against real node processes (the ``sandbox`` fixture): after a collect, the
registry has gathered every node's hop events and shows the collect's journey with the hops
a collect must make, and its sequence diagram exports as valid SVG and PNG."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import httpx
from matplotlib.image import imread

from sandbox.dashboard_cli import login_link
from scenarios import collect

SVG = "{http://www.w3.org/2000/svg}"


def test_a_collect_is_a_journey_on_the_dashboard(sandbox) -> None:
    """Rule: hops of every node reach the registry's dashboard grouped by correlation id:
    browser -> PGO, browser -> DVA authorize, DigiD, the PGO's token request and searches at
    the DVA (caller named by its User-Agent), all in one journey."""
    report = collect.run(sandbox)
    assert report.ok, report.steps
    corr = report.summary["correlation_id"]
    registry = sandbox.topology.registry.id
    with httpx.Client(headers=sandbox.admin_headers, timeout=30) as http:
        journeys = http.get(sandbox.url(registry, "/dashboard/journeys.json")).json()
        mine = next(j for j in journeys["journeys"] if j["corr"] == corr)
        assert {"browser", "pgo-alpha", "dva-nexus", "digid"} <= {
            "browser" if n == "client" else n for n in mine["nodes"]}, mine
        assert mine["errors"] == 0 and mine["hops"] >= 8, mine
        svg = http.get(sandbox.url(registry, f"/dashboard/journeys/{corr}.svg"))
        png = http.get(sandbox.url(registry, f"/dashboard/journeys/{corr}.png"))
    root = ET.fromstring(svg.text)
    labels = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert any(label.startswith("POST /oauth/token → 200") for label in labels), labels
    assert any(label.startswith("GET /fhir/umcsandbox/48/") for label in labels), labels
    assert any(label.startswith("GET /oauth/authorize → 30") for label in labels), labels
    heads = [g.get("data-id") for g in root.iter(f"{SVG}g") if g.get("class") == "lifeline"]
    assert heads[:2] == ["browser", "pgo-alpha"] and "dva-nexus" in heads, heads
    image = imread(io.BytesIO(png.content), format="png")
    assert image.shape[0] > 200 and image.shape[1] > 400  # a real raster, not an empty file


def test_the_cli_login_link_logs_a_browser_in_once(sandbox) -> None:
    """Rule: the link `pgo-sandbox dashboard` prints opens the dashboard (session cookie),
    and only once."""
    link = login_link(sandbox)
    with httpx.Client(timeout=30, follow_redirects=True) as browser:
        page = browser.get(link)
        assert page.status_code == 200 and "Het stelsel" in page.text, page.text[:300]
        assert "registry_dashboard" in browser.cookies
    with httpx.Client(timeout=30) as other:
        assert other.get(link).status_code == 400


def test_cli_prints_the_dashboard_and_up_shows_it(sandbox, tmp_path) -> None:
    """Rules: `pgo-sandbox dashboard` prints the URL and a one-time login link; `up`'s
    output names the dashboard (``dashboard_line``); with nothing running it says so (1)."""
    from typer.testing import CliRunner

    from sandbox.cli import app
    from sandbox.dashboard_cli import dashboard_line

    url = sandbox.url(sandbox.topology.registry.id, "/dashboard")
    result = CliRunner().invoke(app, ["dashboard", "--state-dir", str(sandbox.state_dir)])
    assert result.exit_code == 0, result.output
    assert f"dashboard: {url}" in result.output and f"{url}/login/" in result.output
    assert url in dashboard_line(sandbox.state_dir)
    result = CliRunner().invoke(app, ["dashboard", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1 and "no sandbox is running" in result.output
