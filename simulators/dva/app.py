"""The DVA node: authorization server + resource server for the providers it serves."""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from functools import lru_cache

import httpx
from fastapi import FastAPI

from simulators.common.app import node_app
from simulators.common.config import SandboxConfig
from simulators.common.http import async_client
from simulators.common.lists import ListCache, Lists
from simulators.common.people import population_for
from simulators.dva import authorize, resources
from simulators.dva.grants import GrantStore
from simulators.dva.received import ReceivedStore
from simulators.dva.search import Record
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN, collect_services
from simulators.medmij.topology import Provider

log = logging.getLogger(__name__)


class DVA:
    """Everything one DVA node holds; the routers read it."""

    def __init__(self, config: SandboxConfig, node_id: str) -> None:
        self.config = config
        self.node_id = node_id
        node = config.topology.node(node_id)
        self.hostname = node.hostname
        self.name = node.name
        self.providers = {p.slug: p for p in config.topology.providers_of(node.hostname)}
        self.population = population_for(config)
        self.grants = GrantStore(config.node_dir(node_id) / "dva.sqlite")
        self.received = ReceivedStore(config.node_dir(node_id) / "received.sqlite")
        self.client: httpx.AsyncClient = async_client(config.addresses)
        registry = config.topology.registry.hostname
        self.lists = ListCache(config.public_base(registry), self.client,
                               config.topology.list_refresh_seconds)
        self.lists.listeners.append(self.on_lists)
        self.digid_base = config.public_base(config.topology.digid.hostname)
        self.record = lru_cache(maxsize=4096)(self._record)
        self.fast_routes: list = []  # filled by the resource router

    def public_url(self, path: str) -> str:
        return self.config.public_url(self.hostname, path)

    def _record(self, index: int, provider: str, service: str) -> Record:
        """The provider's source system for one patient: the population's record plus what
        PGOs shared with this provider (Delen)."""
        return Record.of([*self.population.resources(index, provider, service),
                          *self.received.resources(provider, index, service)])

    def held_services(self, index: int | None, provider: str) -> list[str]:
        """Collect services with data for this patient at this provider (availability check)."""
        if index is None:
            return []
        held = set(self.population.services(index, provider))
        held |= self.received.services(provider, index)
        return sorted(held)

    def patient_reference(self, index: int, provider: str) -> dict:
        """How the provider's own record names this patient: the subject of shared data."""
        for service in self.held_services(index, provider):
            for patient in self.record(index, provider, service).by_type.get("Patient", []):
                name = (patient.get("name") or [{}])[0].get("text")
                return {"reference": f"Patient/{patient['id']}"} | ({"display": name}
                                                                     if name else {})
        raise LookupError(f"{provider} has no Patient for index {index}")

    def forget_records(self) -> None:
        """After a share the cached records are stale."""
        self.record.cache_clear()

    def provider_for(self, slug: str, service: str) -> Provider | None:
        provider = self.providers.get(slug)
        if provider is None or service not in provider.gegevensdiensten:
            return None
        return provider

    def parse_scope(self, scope: str) -> tuple[Provider, list[str]] | None:
        """2.x collect: '<provider>' covers all its collect services; 1.x collect and share:
        '<provider>~<id>'."""
        slug, tilde, service = scope.partition("~")
        provider = self.providers.get(slug)
        if provider is None:
            return None
        if tilde:
            return (provider, [service]) if service in provider.gegevensdiensten else None
        services = collect_services(provider.gegevensdiensten)
        return (provider, services) if services else None

    @staticmethod
    def is_share(services: list[str]) -> bool:
        return any(GEGEVENSDIENSTEN[s].is_share for s in services)

    @staticmethod
    def session_services(session: dict) -> list[str]:
        return json.loads(session["services"])

    async def resolve_artifact(self, artifact: str) -> str | None:
        try:
            response = await self.client.post(
                f"{self.digid_base}/artifact", data={"artifact": artifact, "rp": self.hostname})
        except httpx.HTTPError as exc:
            log.warning("DigiD artifact resolution failed: %s", exc)
            return None
        if response.status_code != 200:
            return None
        return response.json().get("bsn")

    def on_lists(self, lists: Lists) -> None:
        revoked = self.grants.revoke_clients_not_in(set(lists.ocl))
        if revoked:
            log.warning("%s revoked %d grants of clients that left the OCL", self.node_id, revoked)


def create_app(config: SandboxConfig, node_id: str) -> FastAPI:
    dva = DVA(config, node_id)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        dva.lists.start()
        yield
        await dva.lists.stop()
        await dva.client.aclose()

    app = node_app(config, node_id, dva.name, lifespan)
    app.state.dva = dva

    async def ready() -> bool:
        return dva.lists.ready.is_set()

    app.state.ready = ready
    app.include_router(authorize.build_router(dva))
    app.include_router(resources.build_router(dva))
    app.state.fast_routes = dva.fast_routes
    return app
