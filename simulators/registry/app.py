"""The registry node: MedMij lists at their official paths, an admin API for MedMij Beheer,
and the localisation index keyed by pseudonymised BSN."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field, field_validator

from simulators.common import pseudonym
from simulators.common.app import node_app, require_admin
from simulators.common.config import SandboxConfig
from simulators.common.lists import PATHS
from simulators.common.people import population_for
from simulators.medmij.topology import HOSTNAME, ZORGAANBIEDERNAAM
from simulators.registry.lists import ProviderEntry
from simulators.registry.state import ChangeRefused, RegistryState

XML = "application/xml; charset=utf-8"
SUPPORTED_API = {"1"}


class ProviderIn(BaseModel):
    name: str = Field(pattern=ZORGAANBIEDERNAAM.pattern, min_length=10, max_length=57)
    dva: str = Field(pattern=HOSTNAME.pattern)
    gegevensdiensten: list[str] = Field(min_length=1)


class ClientIn(BaseModel):
    hostname: str = Field(pattern=HOSTNAME.pattern)
    name: str = Field(min_length=3, max_length=50)

    @field_validator("name")
    @classmethod
    def printable(cls, name: str) -> str:
        """The OCL is XML and shown on consent screens: printable text only."""
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("not valid Unicode text") from None
        if not name.isprintable() or name != name.strip():
            raise ValueError("only printable characters, no leading or trailing spaces")
        return name


def create_app(config: SandboxConfig, node_id: str) -> object:
    app = node_app(config, node_id, "MedMij Stelselnode (sandbox)")
    state = RegistryState(config, config.node_dir(node_id) / "registry.json")
    population = population_for(config)
    app.state.registry = state

    def list_route(kind: str):
        async def serve(api: str = Query("1")) -> Response:
            """api=1: the release2 lists (GNL release1); api=2: the release3 ZAL."""
            if api == "2" and kind == "zal":
                return Response(state.render_release3(), media_type=XML)
            if api not in SUPPORTED_API:
                supported = "1, 2" if kind == "zal" else "1"
                raise HTTPException(400, f"unsupported api version {api!r}; supported: "
                                    f"{supported}")
            return Response(state.render(kind), media_type=XML)

        return serve

    for kind, path in PATHS.items():
        app.add_api_route(path, list_route(kind), methods=["GET"], name=f"list_{kind}")

    app.include_router(admin_router(state))

    @app.get("/localisation")
    async def localise(pseudonym_: str = Query(alias="pseudonym", min_length=8)) -> dict:
        """Which listed providers hold data on the person behind a localisation pseudonym."""
        bsn = pseudonym.reveal(config.secret, config.topology.registry.hostname, pseudonym_)
        if bsn is None:
            raise HTTPException(400, "not a localisation pseudonym")
        index = population.index_of(bsn)
        holders = [] if index is None else population.holders(index)
        found = []
        for name in holders:
            entry = state.providers.get(name)
            if entry is None:
                continue
            services = [s for s in population.services(index, name) if s in entry.gegevensdiensten]
            if services:
                found.append({"provider": name, "gegevensdiensten": services})
        return {"providers": found}

    return app


def admin_router(state: RegistryState) -> APIRouter:
    """MedMij Beheer's admin API: only with the sandbox's admin token (an anonymous DELETE of
    a client would destroy every long-lived consent of that vendor). A refused change answers
    4xx with the reason and leaves the published lists as they were."""
    router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)])

    def apply(change, *args) -> dict:
        try:
            return {"changed": change(*args)}
        except ChangeRefused as exc:
            raise HTTPException(exc.status, exc.reason) from None

    @router.get("/state")
    async def admin_state() -> dict:
        return {
            "providers": sorted(state.providers),
            "clients": state.clients,
            "whitelist": state.nodes,
            "volgnummers": {k: h["volgnummer"] for k, h in state.headers.items()},
        }

    @router.post("/providers", status_code=201)
    async def add_provider(provider: ProviderIn) -> dict:
        entry = ProviderEntry(provider.name, provider.dva, tuple(provider.gegevensdiensten))
        return apply(state.add_provider, entry)

    @router.delete("/providers/{name}")
    async def remove_provider(name: str) -> dict:
        if name not in state.providers:
            raise HTTPException(404, f"no provider {name} on the ZAL")
        return apply(state.remove_provider, name)

    @router.post("/clients", status_code=201)
    async def add_client(client: ClientIn) -> dict:
        return apply(state.add_client, client.hostname, client.name)

    @router.delete("/clients/{hostname}")
    async def remove_client(hostname: str) -> dict:
        if hostname not in state.clients:
            raise HTTPException(404, f"no client {hostname} on the OCL")
        return apply(state.remove_client, hostname)

    return router
