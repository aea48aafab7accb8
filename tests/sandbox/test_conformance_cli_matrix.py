"""`pgo-sandbox conformance matrix` (issue 14 item 5): per PGO x DVA x gegevensdienst a collect
and the PGO check of that cell, written as JSON and a PNG heatmap."""

from __future__ import annotations

import json

from sandbox.conformance_cli import run_matrix, write_heatmap


def test_heatmap_of_every_status(tmp_path) -> None:
    matrix = {"cells": [
        {"pgo": "pgo-a", "dva": "dva-x", "provider": "p@medmij", "service": "48",
         "status": "pass"},
        {"pgo": "pgo-a", "dva": "dva-x", "provider": "p@medmij", "service": "52",
         "status": "n/a"},
        {"pgo": "pgo-b", "dva": "dva-x", "provider": "p@medmij", "service": "48",
         "status": "fail", "problems": [{"kind": "missing"}]},
        {"pgo": "pgo-b", "dva": "dva-x", "provider": "p@medmij", "service": "52",
         "status": "collect-failed"}]}
    write_heatmap(matrix, tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_matrix_cells_collect_and_check(sandbox, tmp_path) -> None:
    """Two PGOs x the RIVM (R4, dva-lumen) and the hospital (STU3 collect + share services)."""
    result = run_matrix(sandbox, dvps=["pgo-alpha", "pgo-gamma"],
                        providers=["rivmvaccinaties@medmij", "umcsandbox@medmij"])
    cells = {(c["pgo"], c["provider"], c["service"]): c for c in result["cells"]}
    assert set(cells) == {(d, p, s) for d in ("pgo-alpha", "pgo-gamma")
                          for p, s in (("rivmvaccinaties@medmij", "63"),
                                       ("umcsandbox@medmij", "48"),
                                       ("umcsandbox@medmij", "51"),
                                       ("umcsandbox@medmij", "53"))}
    for key, cell in cells.items():
        if key[2] == "53":
            assert cell["status"] == "n/a"  # a share service: nothing to collect
        else:
            assert cell["status"] == "pass", cell
            assert cell["requests"] >= 1 and cell["problems"] == []
    assert cells[("pgo-alpha", "rivmvaccinaties@medmij", "63")]["dva"] == "dva-lumen"
    assert result["summary"] == {"n/a": 2, "pass": 6}
    write_heatmap(result, tmp_path / "matrix.png")
    json.dumps(result)
