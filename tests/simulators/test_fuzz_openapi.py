"""Schemathesis against every node's own OpenAPI (issue 16 item 4), in process.

Each role is built by its ``create_app`` with injected parts (a ``ManualClock``, a state
directory in ``tmp_path`` with an ``admin.token``, an ``httpx.MockTransport`` for anything it
would call out to), and schemathesis generates a fixed, derandomized number of requests per
operation of the app's ``/openapi.json``. Every answer must be the protocol's own: never a
5xx (``not_a_server_error``), and a body that matches the declared response model where the
route declares one (``response_schema_conformance``).

Bounds: ``MAX_EXAMPLES`` per operation and a fixed seed (``derandomize``), so CI runs the same
cases every time, well within a minute on a 2-core machine.

To reach past the first 401, generated requests to the DVA's FHIR paths carry a patient's
access token (and its provider's slug and gegevensdiensten), those to a PGO's ``{person_id}``
routes a logged-in person's id, session cookie and CSRF token, and ``/admin`` paths the admin
token.

What the checks cover, and what not:

* the declared response models are loose (routes return ``dict`` or ``list``), so
  ``response_schema_conformance`` checks the top-level shape; no shape needed excluding;
* FastAPI declares 422 for bad input, but every node answers 400 in the protocol's own error
  shape (``node_app``): ``status_code_conformance`` is not run, since every 4xx would be
  "undocumented";
* the DVA's FHIR searches and reads are served ahead of FastAPI (``FastRoutes``) and are not in
  its OpenAPI; ``tests/simulators/dva/test_isolation.py`` drives them with random (token,
  query) pairs instead.
"""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from sandbox.runtime.local import LocalRuntime
from simulators.common.clock import ManualClock
from simulators.common.config import SandboxConfig
from simulators.common.lists import ListCache, ServiceEndpoints
from simulators.common.security import ensure_admin_token
from simulators.digid.app import create_app as digid_app
from simulators.dva.app import create_app as dva_app
from simulators.dva.grants import GrantStore
from simulators.dvp.app import create_app as dvp_app
from simulators.inspection.app import create_app as inspection_app
from simulators.medmij import build_scope
from simulators.medmij.topology import load_topology
from simulators.registry.app import create_app as registry_app
from simulators.registry.state import RegistryState

MAX_EXAMPLES = 15
START = 1_900_000_000.0
CHECKS = [not_a_server_error, response_schema_conformance]
# derandomize: hypothesis seeds from the test itself, so CI replays the same cases every run;
# no example database, so a local run does not replay other runs' failures into CI's count
FUZZ = settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
PROVIDER, SLUG = "huisartsdebrug@medmij", "huisartsdebrug"  # collect and share, on dva-nexus
PGO = "pgo-alpha"


def peers_down(request: httpx.Request) -> httpx.Response:
    """The back channel: the registry, DigiD and every DVA answer 404, as peers that know
    nothing. A role must turn that into its own error (a 4xx or a page), never a 5xx."""
    return httpx.Response(404, json={"error": "not_found"})


class NoLifespan:
    """The app without its lifespan: the lifespans only start list refreshers against the
    (absent) registry, and schemathesis keeps a started lifespan alive until the process
    exits. Lists are set by hand instead."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan")  # before any message: "not supported" in ASGI
        await self.app(scope, receive, send)


def load(app: FastAPI):
    return schemathesis.openapi.from_asgi("/openapi.json", NoLifespan(app))


class Nodes:
    """What every role is built from: one state directory with an ``admin.token``, the
    default topology, a ``ManualClock`` and a back channel to peers that are not there."""

    def __init__(self, state_dir: Path) -> None:
        topology = load_topology()
        self.admin = {"Authorization": f"Bearer {ensure_admin_token(state_dir)}"}
        self.config = SandboxConfig(topology, "loopback",
                                    LocalRuntime(state_dir).addresses(topology, 18700),
                                    state_dir)
        self.clock = ManualClock(START)
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(peers_down))

    def lists(self) -> ListCache:
        """A list cache holding this topology's OCL and Whitelist (the ZAL is set per role)."""
        cache = ListCache("http://registry.test", self.http, 60)
        clients = {n.hostname: n.name for n in self.config.topology.nodes}
        cache.lists.ocl = clients
        cache.lists.whitelist = frozenset(clients)
        return cache


@pytest.fixture
def nodes(tmp_path):
    world = Nodes(tmp_path)
    yield world
    asyncio.run(world.http.aclose())


@pytest.fixture
def registry_schema(nodes):
    state = RegistryState(nodes.config, None, clock=nodes.clock)
    return load(registry_app(nodes.config, "registry", state=state))


@pytest.fixture
def digid_schema(nodes):
    return load(digid_app(nodes.config, "digid", clock=nodes.clock))


class DvaAuth:
    """A DVA with the real synthetic population as its source system, and an access token of
    one patient for every gegevensdienst of ``PROVIDER``: so generated FHIR requests reach the
    resource server's rules instead of stopping at 401."""

    def __init__(self, nodes: Nodes) -> None:
        self.grants = GrantStore(nodes.config.state_dir / "grants.sqlite", nodes.clock)
        self.app = dva_app(nodes.config, "dva-nexus", http=nodes.http, grants=self.grants,
                           clock=nodes.clock)
        dva = self.app.state.dva
        dva.lists.lists.ocl = {f"{PGO}.sandbox.test": "PGO Alpha"}
        dva.lists.lists.whitelist = frozenset(dva.lists.lists.ocl)
        self.services = list(nodes.config.topology.provider(PROVIDER).gegevensdiensten)
        client = f"{PGO}.sandbox.test"
        redirect = nodes.config.public_url(client, "/oauth/callback")
        scope = " ".join(build_scope(SLUG, s) for s in self.services)
        session = self.grants.start_session(client, redirect, scope, "st", PROVIDER,
                                            self.services, None, "browser", "csrf")
        self.grants.identify(session, 3)
        code = self.grants.issue_code(self.grants.session(session), False)
        token = self.grants.exchange_code(code, client, redirect)["access_token"]
        self.bearer = {"Authorization": f"Bearer {token}"}

    def aim(self, case) -> dict[str, str]:
        """FHIR paths: the provider's slug, and the generated service mapped onto one of its
        gegevensdiensten (crc32: the same every run), with the patient's token."""
        params = case.path_parameters or {}
        if "slug" not in params:
            return {}
        params["slug"] = SLUG
        service = str(params.get("service", ""))
        if service not in self.services:
            params["service"] = self.services[zlib.crc32(service.encode()) % len(self.services)]
        return self.bearer


@pytest.fixture
def dva_auth(nodes) -> DvaAuth:
    return DvaAuth(nodes)


@pytest.fixture
def dva_schema(dva_auth):
    return load(dva_auth.app)


class DvpPerson:
    """A PGO with one account; each generated request to a ``{person_id}`` route gets that
    person's id, a fresh session cookie and its CSRF token (a generated logout or erasure
    must not turn every later case into a 401)."""

    def __init__(self, nodes: Nodes) -> None:
        lists = nodes.lists()
        lists.lists.zal = {PROVIDER: {s: ServiceEndpoints(
            "http://dva.test/oauth/authorize", "http://dva.test/oauth/token",
            {"x": f"http://dva.test/fhir/{SLUG}/{s}"}) for s in ("48", "52")}}
        self.app = dvp_app(nodes.config, PGO, http=nodes.http, clock=nodes.clock, lists=lists)
        self.dvp = self.app.state.dvp
        self.person_id = self.dvp.store.add_person("Fuzz")

    def aim(self, case) -> dict[str, str]:
        if self.dvp.store.person(self.person_id) is None:  # a generated /admin/erase took it
            self.person_id = self.dvp.store.add_person("Fuzz")
        params = case.path_parameters or {}
        if "person_id" in params:
            params["person_id"] = self.person_id
        session_id, session = self.dvp.accounts.store.open_session(self.person_id)
        return {"Cookie": f"{self.dvp.accounts.cookie}={session_id}",
                "X-CSRF-Token": session.csrf_token}


@pytest.fixture
def dvp_person(nodes) -> DvpPerson:
    return DvpPerson(nodes)


@pytest.fixture
def dvp_schema(dvp_person):
    return load(dvp_person.app)


@pytest.fixture
def inspection_schema(nodes):
    return load(inspection_app(nodes.config, "mgo", http=nodes.http, clock=nodes.clock,
                               lists=nodes.lists()))


def call(case, nodes: Nodes, headers: dict[str, str] | None = None) -> None:
    """One generated request; admin paths get the admin token (else all they test is 401)."""
    headers = dict(headers or {})
    if case.path.startswith("/admin"):
        headers |= nodes.admin
    case.call_and_validate(headers=headers or None, checks=CHECKS)


registry = schemathesis.pytest.from_fixture("registry_schema")
digid = schemathesis.pytest.from_fixture("digid_schema")
dva = schemathesis.pytest.from_fixture("dva_schema")
dvp = schemathesis.pytest.from_fixture("dvp_schema")
inspection = schemathesis.pytest.from_fixture("inspection_schema")


@registry.parametrize()
@FUZZ
def test_registry(case, nodes) -> None:
    call(case, nodes)


@digid.parametrize()
@FUZZ
def test_digid(case, nodes) -> None:
    call(case, nodes)


@dva.parametrize()
@FUZZ
def test_dva(case, nodes, dva_auth) -> None:
    call(case, nodes, dva_auth.aim(case))


@dvp.parametrize()
@FUZZ
def test_dvp(case, nodes, dvp_person) -> None:
    call(case, nodes, dvp_person.aim(case))


@inspection.parametrize()
@FUZZ
def test_inspection(case, nodes) -> None:
    call(case, nodes)
