"""MedMij Beheer's admin API: only with the sandbox's admin token (an anonymous DELETE of a
client would destroy every long-lived consent of that vendor). A refused change answers 4xx
``{"error", "error_description"}`` (``ChangeRefused``, see ``errors.py``) and leaves the
published lists as they were.

Outside participants (issue 13 item 4): ``POST /admin/clients`` with a ``redirect_uri`` admits
an outside DVP; ``POST /admin/providers`` with ``endpoints`` (per gegevensdienst its
authorize, token and resource URLs) and ``dva_name`` lists a provider of an outside DVA;
``GET /admin/participants`` lists them; ``DELETE /admin/participants/{hostname}`` takes one
off every list at once."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator

from simulators.common.app import require_admin
from simulators.medmij.topology import HOSTNAME, ZORGAANBIEDERNAAM, ServiceUrls
from simulators.registry.lists import ProviderEntry
from simulators.registry.routes import State

router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)])


class EndpointsIn(BaseModel):
    """An outside DVA's URLs for one gegevensdienst, published in the ZAL as they are."""

    authorize: str = Field(max_length=2000)
    token: str = Field(max_length=2000)
    resource: str = Field(max_length=2000)


def _printable(name: str) -> str:
    """The OCL is XML and shown on consent screens: printable text only."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text") from None
    if not name.isprintable() or name != name.strip():
        raise ValueError("only printable characters, no leading or trailing spaces")
    return name


class ProviderIn(BaseModel):
    name: str = Field(pattern=ZORGAANBIEDERNAAM.pattern, min_length=10, max_length=57)
    dva: str = Field(pattern=HOSTNAME.pattern, max_length=253)
    gegevensdiensten: list[str] = Field(min_length=1)
    endpoints: dict[str, EndpointsIn] | None = None  # only for an outside DVA
    dva_name: str | None = Field(default=None, min_length=3, max_length=50)
    display: str | None = Field(default=None, min_length=3, max_length=50)  # for people

    @field_validator("dva_name", "display")
    @classmethod
    def printable(cls, name: str | None) -> str | None:
        return None if name is None else _printable(name)


class ClientIn(BaseModel):
    hostname: str = Field(pattern=HOSTNAME.pattern, max_length=253)
    name: str = Field(min_length=3, max_length=50)
    redirect_uri: str | None = Field(default=None, max_length=2000)  # an outside DVP

    @field_validator("name")
    @classmethod
    def printable(cls, name: str) -> str:
        return _printable(name)


@router.get("/state")
async def admin_state(state: State) -> dict:
    return {
        "providers": sorted(state.providers),
        "clients": state.clients,
        "whitelist": state.nodes,
        "volgnummers": {k: h["volgnummer"] for k, h in state.headers.items()},
        "participants": state.participants(),
    }


@router.post("/providers", status_code=201)
async def add_provider(provider: ProviderIn, state: State) -> dict:
    endpoints = tuple(ServiceUrls(service, urls.authorize, urls.token, urls.resource)
                      for service, urls in (provider.endpoints or {}).items())
    entry = ProviderEntry(provider.name, provider.dva, tuple(provider.gegevensdiensten),
                          endpoints)
    return {"changed": state.add_provider(entry, provider.dva_name,
                                                provider.display)}


@router.delete("/providers/{name}")
async def remove_provider(name: str, state: State) -> dict:
    return {"changed": state.remove_provider(name)}


@router.post("/clients", status_code=201)
async def add_client(client: ClientIn, state: State) -> dict:
    return {"changed": state.add_client(client.hostname, client.name, client.redirect_uri)}


@router.delete("/clients/{hostname}")
async def remove_client(hostname: str, state: State) -> dict:
    return {"changed": state.remove_client(hostname)}


@router.get("/participants")
async def participants(state: State) -> dict:
    """The outside DVPs and DVAs, declared or added live, and whether they are listed."""
    return {"participants": state.participants()}


@router.delete("/participants/{hostname}")
async def remove_participant(hostname: str, state: State) -> dict:
    return {"changed": state.remove_participant(hostname)}
