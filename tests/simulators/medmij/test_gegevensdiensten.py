"""The searches a DVP sends per gegevensdienst are exactly those of the official PGO query list
(../shared/medmij/testscripts/pgo-client-queries.tsv), read at test time, never copied."""

from __future__ import annotations

import csv
import re

import pytest

from scenarios import collect
from simulators.common.people import population_for
from simulators.dvp.collect import render_query
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN

# gegevensdienst -> the folder of its PHR-Client test scripts in the query list
STANDARDS = {
    "48": "STU3/BgZ-3-0/",
    "49": "STU3/GenPractData-2-0/",
    "51": "STU3/PDFA-3-0/",
    "63": "R4/Immunization-2-0/",
}


def official(medmij_dir, folder: str, op_type: str) -> set[str]:
    path = medmij_dir / "testscripts" / "pgo-client-queries.tsv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return {row["resource"] + (row["params_or_url"] or "") for row in rows
            if row["file"].startswith(folder) and "/PHR-Client/" in row["file"]
            and row["op_type"] == op_type}


def as_pattern(template: str) -> re.Pattern:
    """A query list entry as a regex: each ${...} template is a date, ids are anything."""
    parts = re.split(r"\$\{[^}]*\}", template)
    return re.compile("^" + r"[0-9A-Za-z.-]+".join(re.escape(p) for p in parts) + "$")


@pytest.mark.parametrize("service", sorted(STANDARDS))
def test_catalogue_searches_equal_the_official_list(service, medmij_dir):
    searches = GEGEVENSDIENSTEN[service].searches
    assert len(searches) == len(set(searches))
    assert set(searches) == official(medmij_dir, STANDARDS[service], "search")


def test_documents_reads_are_binary_reads_of_the_list(medmij_dir):
    reads = official(medmij_dir, STANDARDS["51"], "read")
    assert any(as_pattern(r).match("Binary/abc-1") for r in reads)
    assert GEGEVENSDIENSTEN["51"].binary_reads


def test_date_templates_are_filled_with_the_sandbox_date():
    from datetime import date

    today = date(2026, 3, 31)
    assert render_query("X?d=ge${DATE, T, D, -730}", today) == "X?d=ge2024-03-31"
    assert render_query("X?d=ge${CURRENTDATE,M,-14}", today) == "X?d=ge2025-01-31"
    assert render_query("X?periodofuse=ge${DATE, T, D, -0}", today) == \
        "X?periodofuse=ge2026-03-31"


@pytest.mark.parametrize("provider,services", [
    ("huisartsdebrug@medmij", ("48", "49", "51")),
    ("rivmvaccinaties@medmij", ("63",)),
])
def test_dvp_sends_exactly_the_official_queries(sandbox, medmij_dir, provider, services):
    """A real collect: every logged request matches one official entry, and every official
    search was sent."""
    population = population_for(sandbox.config)
    index = population.find(provider, 0, services[-1])
    from scenarios.useragent import Browser

    with Browser(sandbox.info.addresses) as http:  # keeps the person's PGO session
        report = collect.run(sandbox, dvp="pgo-gamma", provider=provider,
                             bsn=population.patient(index).bsn, browser=http)
        assert report.ok, report.to_dict()
        person = next(s for s in report.steps if s.name == "account at the PGO").detail.split()[1]
        log = http.get(sandbox.url("pgo-gamma", f"/api/persons/{person}/log")).json()
    assert log and all(e["status"] == 200 for e in log)
    p = sandbox.topology.provider(provider)
    for service in services:
        base = sandbox.public_url(p.dva, f"/fhir/{p.slug}/{service}/")
        sent = [e["request_uri"].removeprefix(base) for e in log if e["service"] == service]
        searches = official(medmij_dir, STANDARDS[service], "search")
        reads = official(medmij_dir, STANDARDS[service], "read")
        patterns = [as_pattern(q) for q in searches | {r for r in reads if "${" in r}]
        assert all(any(pat.match(uri) for pat in patterns) for uri in sent), sent
        matched = {q for q in searches if any(as_pattern(q).match(uri) for uri in sent)}
        assert matched == searches
    if "51" in services:
        binaries = [e for e in log if "/Binary/" in e["request_uri"]]
        assert binaries  # every document's PDF was downloaded
