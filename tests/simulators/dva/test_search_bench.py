"""The search benchmark's honesty (issue 17 item 7, benchmarks/search_bench.py): distinct
patients per wrk thread, a ceiling that answers the very bytes the DVA answers, a profile
summary that adds up. Pure functions and the ceiling's ASGI app, in process (no wrk)."""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

import pytest

from loadtests import ceiling_app

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("search_bench")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_wrk_threads_see_their_own_thread_id_and_counter(bench):
    """Rule: ``thread_id`` and ``counter`` are globals of each thread's Lua state, as
    ``thread:set``/``thread:get`` need; a top-level ``local`` shadowed them, every thread then
    walked the same patients and a third of the 'cold' requests were repeats."""
    for name in ("thread_id", "counter"):
        assert not re.search(rf"^local {name}\b", bench.WRK_SCRIPT, re.MULTILINE)
        assert re.search(rf"^{name} = 0$", bench.WRK_SCRIPT, re.MULTILINE)
    assert "n = thread_id * PER_THREAD + counter % PER_THREAD" in bench.WRK_SCRIPT


def test_the_wrk_script_names_its_run(bench, tmp_path):
    """Rule: each run's script carries its mode, token prefix and per-thread patients."""
    script = bench.wrk_script("cold", "cold1", tmp_path, 64, 5000, "/fhir/x/48/Condition",
                              "application/fhir+json").read_text()
    assert script.startswith('MODE = "cold"\nPREFIX = "cold1"\nCOUNT = 64\nPER_THREAD = 5000\n')


def test_the_profile_summary_counts_each_function_once_per_sample(bench):
    """Rule: inclusive shares from py-spy's collapsed stacks; a recursive function counts once
    per sample, so no share exceeds 100 %."""
    collapsed = ("main (a.py:1);f (a.py:2);f (a.py:3) 3\n"
                 "main (a.py:1);g (b.py:9) 1\n")
    assert bench.stack_summary(collapsed) == {"main (a.py)": 1.0, "f (a.py)": 0.75,
                                              "g (b.py)": 0.25}


@pytest.mark.anyio
async def test_the_ceiling_answers_each_token_with_its_own_body(tmp_path):
    """Rule: with ``--bodies`` the ceiling answers per Authorization value the bytes the DVA
    answered that token, and anything else with the first body."""
    bodies = {"Bearer a": '{"total":0}', "Bearer b": '{"total":1,"entry":["é"]}'}
    (tmp_path / "bodies.json").write_text(json.dumps(bodies), encoding="utf-8")
    ceiling_app.load_bodies(str(tmp_path / "bodies.json"))

    async def get(authorization: bytes | None) -> bytes:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        headers = [(b"authorization", authorization)] if authorization else []
        await ceiling_app.app({"type": "http", "headers": headers}, None, send)  # type: ignore[arg-type]
        assert dict(sent[0]["headers"])[b"content-length"] == str(len(sent[1]["body"])).encode()
        return sent[1]["body"]

    try:
        assert await get(b"Bearer b") == bodies["Bearer b"].encode()
        assert await get(b"Bearer a") == b'{"total":0}'
        assert await get(b"Bearer other") == await get(None) == b'{"total":0}'
    finally:
        ceiling_app.BY_AUTHORIZATION.clear()
        ceiling_app.START, ceiling_app.RESPONSE = ceiling_app.answer(ceiling_app.BODY)
