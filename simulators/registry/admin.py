"""MedMij Beheer's admin API: only with the sandbox's admin token (an anonymous DELETE of a
client would destroy every long-lived consent of that vendor). A refused change answers 4xx
``{"error", "error_description"}`` (``ChangeRefused``, see ``errors.py``) and leaves the
published lists as they were."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator

from simulators.common.app import require_admin
from simulators.medmij.topology import HOSTNAME, ZORGAANBIEDERNAAM
from simulators.registry.lists import ProviderEntry
from simulators.registry.routes import State

router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)])


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


@router.get("/state")
async def admin_state(state: State) -> dict:
    return {
        "providers": sorted(state.providers),
        "clients": state.clients,
        "whitelist": state.nodes,
        "volgnummers": {k: h["volgnummer"] for k, h in state.headers.items()},
    }


@router.post("/providers", status_code=201)
async def add_provider(provider: ProviderIn, state: State) -> dict:
    entry = ProviderEntry(provider.name, provider.dva, tuple(provider.gegevensdiensten))
    return {"changed": state.add_provider(entry)}


@router.delete("/providers/{name}")
async def remove_provider(name: str, state: State) -> dict:
    return {"changed": state.remove_provider(name)}


@router.post("/clients", status_code=201)
async def add_client(client: ClientIn, state: State) -> dict:
    return {"changed": state.add_client(client.hostname, client.name)}


@router.delete("/clients/{hostname}")
async def remove_client(hostname: str, state: State) -> dict:
    return {"changed": state.remove_client(hostname)}
