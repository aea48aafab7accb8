"""The registry's lists as tables for people (issue 15 item 4), while the MedMij XML paths
stay as they are.

Each test names the rule it guards; removing that rule alone makes it fail.
"""

from __future__ import annotations

import pytest

from simulators.medmij import LIST_PATHS
from tests.simulators.registry.test_registry_app import Registry

pytestmark = pytest.mark.anyio
VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'


@pytest.fixture
async def registry(tmp_path):
    reg = Registry(tmp_path)
    async with reg.http:
        yield reg


async def test_lists_are_tables_with_display_names_and_volgnummers(registry) -> None:
    """Rule: /lists shows the ZAL (display name, Zorgaanbiedernaam, gegevensdiensten with
    their GNL names), the OCL, the Whitelist and the GNL as tables with header cells."""
    r = await registry.http.get("/lists")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert ">UMC Sandbox</th>" in page and "<code>umcsandbox@medmij</code>" in page
    assert ">Alpha Gezond PGO</th>" in page and "pgo-alpha.sandbox.test" in page
    assert "Zorgaanbiederslijst (Volgnummer" in page and "Gegevensdienstnamenlijst" in page
    assert "<th>" not in page and 'scope="col"' in page and VIEWPORT in page
    for path in LIST_PATHS.values():
        assert f'href="{path}?api=1"' in page


async def test_the_xml_paths_stay_xml_and_the_root_is_not_a_json_404(registry) -> None:
    """Rule: the MedMij paths still answer XML; the root leads to the tables."""
    for path in LIST_PATHS.values():
        r = await registry.http.get(path, params={"api": "1"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    root = await registry.http.get("/")
    assert root.status_code == 303 and root.headers["location"] == "/lists"


async def test_no_swagger_page_from_a_cdn_but_the_openapi_document(registry) -> None:
    """Rule: /docs (Swagger UI, whose assets come from a CDN and is blank offline) is off on
    every node (``node_app``); the OpenAPI document is still served."""
    assert (await registry.http.get("/docs")).status_code == 404
    r = await registry.http.get("/openapi.json")
    assert r.status_code == 200 and r.json()["openapi"]
