"""Patient isolation at the DVA, as a property (issue 16 item 4): the token alone decides the
patient, so no search and no read ever answers a resource of another patient.

Both DVAs of the default topology run in process with the real synthetic population (their
production ``SourceSystem``), behind ``FastRoutes`` as the running nodes serve FHIR. Tokens come
from each DVA's own grant store (session, identify, code, exchange: as the ``Dva`` harness in
``test_dva_role.py`` does) for every (patient, provider) pair the population holds. Then
``PAIRS`` random (token, query) pairs, from a seeded ``random.Random`` so CI replays the same
ones: a search from the PGO query list of a collect gegevensdienst of the token's scope
(``collect_queries``, date templates filled in), or a read of a resource id seen in another
patient's results.

The rule, on Bundle entries (and read bodies) only:

* **ownership** comes from the source system, not from the DVA under test (a DVA that mixes
  patients up cannot then poison its own yardstick): a resource ``(provider, Type/id)`` belongs
  to every patient whose record at that provider holds it. A resource answered to patient A
  that belongs to other patients and not to A is a leak. Master data (Organization,
  Practitioner, PractitionerRole, Location, Medication) carries no patient and is shared by
  many records: ``test_only_master_data_is_shared`` proves that the records share nothing
  else, so the rule excludes exactly those types;
* **reference**: every top-level ``Patient/...`` reference of an answered resource (subject,
  patient, beneficiary, ...) and every answered Patient is A's own.

``test_the_check_catches_a_dva_that_ignores_the_token`` runs the same check against a DVA whose
record lookup ignores the token's patient, and must find leaks: the property bites.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from sandbox.runtime.local import LocalRuntime
from simulators.common.app import FastRoutes
from simulators.common.clock import ManualClock
from simulators.common.config import SandboxConfig
from simulators.common.medmij_client import collect_queries
from simulators.dva.app import create_app
from simulators.dva.grants import GrantStore
from simulators.medmij import build_scope, fhir_accept
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN
from simulators.medmij.topology import load_topology

PAIRS = 10_000
PATIENTS = 24  # at least 20, and at least MIN_PER_PROVIDER holders of every provider
MIN_PER_PROVIDER = 3
SCAN = 3_000  # population indices searched for holders of the rarer providers
SEED = 16
START = 1_900_000_000.0
READ_SHARE = 0.3  # of the pairs, reads of another patient's resource ids
MASTER_DATA = frozenset({"Organization", "Practitioner", "PractitionerRole", "Location",
                         "Medication"})
CLIENT_NODE = "pgo-alpha"



def slug_of(provider: str) -> str:
    return provider.split("@", 1)[0]


def key_of(resource: dict) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def patient_refs(resource: dict) -> set[str]:
    """The ``Patient/...`` references among a resource's top-level elements (subject,
    patient, beneficiary, ...): whom the resource is about."""
    refs: set[str] = set()
    for value in resource.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and str(item.get("reference", "")).startswith("Patient/"):
                refs.add(item["reference"])
    return refs


@dataclass
class Token:
    patient: int
    provider: str
    services: list[str]  # the collect gegevensdiensten the patient holds there
    bearer: str


@dataclass
class World:
    """Both DVAs in process, the chosen patients, their tokens and the source's ownership."""

    clients: dict[str, httpx.AsyncClient]  # provider -> a client of the DVA serving it
    apps: dict[str, object]  # node id -> DVA app
    patients: list[int]
    tokens: list[Token]
    owners: dict[tuple[str, str], set[int]]  # (provider, Type/id) -> patients whose record has it
    # (patient, provider) -> its Patient/... reference there (each source has its own ids)
    own_patient: dict[tuple[int, str], set[str]]
    queries: dict[str, list[str]] = field(default_factory=dict)  # service -> rendered searches


def choose_patients(source, providers: list[str]) -> dict[int, dict[str, list[str]]]:
    """PATIENTS indices with collect data, at least MIN_PER_PROVIDER for every provider."""
    chosen: dict[int, dict[str, list[str]]] = {}
    per_provider: dict[str, int] = defaultdict(int)
    for index in range(SCAN):
        held = {p: [s for s in source.held_services(index, p)
                    if GEGEVENSDIENSTEN[s].direction == "collect"] for p in providers}
        held = {p: s for p, s in held.items() if s}
        rare = any(per_provider[p] < MIN_PER_PROVIDER for p in held)
        if held and (len(chosen) < PATIENTS - len(providers) or rare):
            chosen[index] = held
            for p in held:
                per_provider[p] += 1
        if len(chosen) >= PATIENTS and all(per_provider[p] >= MIN_PER_PROVIDER
                                           for p in providers):
            break
    assert all(per_provider[p] >= MIN_PER_PROVIDER for p in providers), per_provider
    return chosen


def build_world(tmp_path: Path) -> World:
    topology = load_topology()
    config = SandboxConfig(topology, "loopback",
                           LocalRuntime(tmp_path).addresses(topology, 18800), tmp_path)
    clock = ManualClock(START)
    client_host = topology.node(CLIENT_NODE).hostname
    redirect = config.public_url(client_host, "/oauth/callback")
    providers = [p.name for p in topology.providers]
    clients: dict[str, httpx.AsyncClient] = {}
    apps: dict[str, object] = {}
    stores: dict[str, GrantStore] = {}
    sources: dict[str, object] = {}
    for node in topology.nodes:
        if not node.id.startswith("dva-"):
            continue
        grants = GrantStore(tmp_path / f"{node.id}-grants.sqlite", clock)
        app = create_app(config, node.id, http=httpx.AsyncClient(
            transport=httpx.MockTransport(lambda r: httpx.Response(404))),
            grants=grants, clock=clock)
        dva = app.state.dva
        dva.lists.lists.ocl = {client_host: "PGO Alpha"}
        dva.lists.lists.whitelist = frozenset({client_host})
        apps[node.id] = app
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=FastRoutes(app, app.state.fast_routes)),
            base_url=config.public_base(dva.hostname))
        for provider in topology.providers:
            if provider.dva == node.hostname:
                clients[provider.name], stores[provider.name] = client, grants
                sources[provider.name] = dva.source
    chosen = choose_patients(next(iter(sources.values())), providers)

    tokens: list[Token] = []
    owners: dict[tuple[str, str], set[int]] = defaultdict(set)
    own_patient: dict[tuple[int, str], set[str]] = defaultdict(set)
    for index, held in chosen.items():
        for provider, services in held.items():
            grants = stores[provider]
            scope = " ".join(build_scope(slug_of(provider), s) for s in services)
            session = grants.start_session(client_host, redirect, scope, "st", provider,
                                           services, None, "browser", "csrf")
            grants.identify(session, index)
            code = grants.issue_code(grants.session(session), False)
            bearer = grants.exchange_code(code, client_host, redirect)["access_token"]
            tokens.append(Token(index, provider, services, bearer))
            for service in services:
                record = sources[provider].record(index, provider, service)
                for ref, resource in record.by_ref.items():
                    owners[(provider, ref)].add(index)
                    if resource["resourceType"] == "Patient":
                        own_patient[(index, provider)].add(ref)
    services = {s for t in tokens for s in t.services}
    queries = {s: collect_queries(s, clock=clock) for s in services}
    return World(clients, apps, list(chosen), tokens, owners, own_patient, queries)


@pytest.fixture
async def world(tmp_path):
    w = build_world(tmp_path)
    yield w
    for client in set(w.clients.values()):
        await client.aclose()
    for app in w.apps.values():
        await app.state.dva.client.aclose()
        app.state.dva.grants.db.close()


def leaks(world: World, token: Token, resources: list[dict]) -> list[str]:
    """What of ``resources`` (answered to ``token``'s patient) is another patient's."""
    found = []
    me = token.patient
    mine = world.own_patient[(me, token.provider)]
    for resource in resources:
        key = key_of(resource)
        owners = world.owners.get((token.provider, key), set())
        if resource["resourceType"] not in MASTER_DATA and owners and me not in owners:
            found.append(f"{key} of patient(s) {sorted(owners)}")
        if resource["resourceType"] == "Patient" and key not in mine:
            found.append(f"{key} is not patient {me}'s Patient")
        for ref in patient_refs(resource) - mine:
            found.append(f"{key} refers to {ref}")
    return found


async def run_pairs(world: World, pairs: int, seed: int) -> tuple[dict[str, int], list[str]]:
    """``pairs`` random (token, query) pairs; returns (counts by kind, leaks found)."""
    rng = random.Random(seed)
    counts: dict[str, int] = defaultdict(int)
    found: list[str] = []
    # resource ids seen in search results: (provider, service) -> patient -> Type/id
    seen: dict[tuple[str, str], dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    # first each token's own searches once (the pool of ids for reads), then random pairs
    plan = [(t, s, q) for t in world.tokens for s in t.services for q in world.queries[s]]
    for n in range(pairs):
        if n < len(plan):
            token, service, query = plan[n]
        else:
            token = rng.choice(world.tokens)
            service = rng.choice(token.services)
            query = rng.choice(world.queries[service])
            others = {p: ids for p, ids in seen[(token.provider, service)].items()
                      if p != token.patient and ids}
            if others and rng.random() < READ_SHARE:
                query = rng.choice(others[rng.choice(sorted(others))])
        version = GEGEVENSDIENSTEN[service].fhir_version
        headers = {"Authorization": f"Bearer {token.bearer}", "Accept": fhir_accept(version)}
        path = f"/fhir/{slug_of(token.provider)}/{service}/{query}"
        r = await world.clients[token.provider].get(path, headers=headers)
        is_read = "?" not in query and query.count("/") == 1 and not query.endswith("$lastn")
        counts["read" if is_read else "search"] += 1
        if is_read:
            # a read of another patient's id: not found, or a resource that is A's too
            assert r.status_code in (200, 404), (path, r.status_code, r.text[:300])
            if r.status_code == 200:
                counts["read-200"] += 1
                found += [f"read {path} by {token.patient}: {x}"
                          for x in leaks(world, token, [r.json()])]
            continue
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        entries = [e["resource"] for e in r.json().get("entry", [])]
        counts["entries"] += len(entries)
        found += [f"search {path} by {token.patient}: {x}"
                  for x in leaks(world, token, entries)]
        bucket = seen[(token.provider, service)][token.patient]
        for resource in entries:
            if resource["resourceType"] not in MASTER_DATA and resource["resourceType"] != "Binary":
                bucket.append(key_of(resource))
    return counts, found


def test_only_master_data_is_shared(tmp_path) -> None:
    """The rule's premise: records of different patients share only master data, and each
    patient's record at a provider holds exactly one Patient (a source system's own id, so
    one person has another Patient id at each provider), never another patient's."""
    world = build_world(tmp_path)
    shared = {ref.split("/")[0] for (_, ref), owners in world.owners.items() if len(owners) > 1}
    assert shared and shared <= MASTER_DATA, shared
    assert len(world.patients) >= 20
    assert {t.provider for t in world.tokens} == {p.name for p in load_topology().providers}
    refs = {(t.patient, t.provider): world.own_patient[(t.patient, t.provider)]
            for t in world.tokens}
    assert all(len(one) == 1 for one in refs.values()), refs
    assert len(set().union(*refs.values())) == len(refs), "a Patient is in two records"


@pytest.mark.anyio
async def test_no_token_ever_answers_another_patients_resource(world) -> None:
    """Issue 16 item 4: PAIRS random (token, query) pairs over >= 20 patients and every
    provider and collect gegevensdienst; no entry and no read of another patient."""
    started = time.perf_counter()
    counts, found = await run_pairs(world, PAIRS, SEED)
    elapsed = time.perf_counter() - started
    assert not found, f"{len(found)} leaks, e.g. {found[:5]}"
    assert counts["search"] + counts["read"] == PAIRS
    assert counts["read"] > PAIRS // 5 and counts["entries"] > PAIRS, counts
    services = {s for t in world.tokens for s in t.services}
    assert services == {s for s, d in GEGEVENSDIENSTEN.items() if d.direction == "collect"
                        and any(s in p.gegevensdiensten for p in load_topology().providers)}
    print(f"isolation: {PAIRS} pairs, {dict(counts)}, {elapsed:.1f} s")


@pytest.mark.anyio
async def test_the_check_catches_a_dva_that_ignores_the_token(world, monkeypatch) -> None:
    """The property bites: a DVA whose record lookup ignores the token's patient (always
    the first chosen patient's record) is caught within a few hundred pairs."""
    victim = world.patients[0]
    for app in world.apps.values():
        source = app.state.dva.source
        real = source.record
        monkeypatch.setattr(source, "record",
                            lambda index, provider, service, real=real:
                            real(victim, provider, service))
    _, found = await run_pairs(world, 300, SEED)
    assert found, "a DVA that ignores the token's patient went unnoticed"
