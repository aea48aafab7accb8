"""The DVP node's parts and the FastAPI dependencies its routers reach them through.

``DVP`` holds what one PGO node has (config, store, HTTP client, lists, clock, curator,
accounts); ``create_app`` builds it from injected parts and puts it on ``app.state.dvp``.
Routers are modules of plain handlers: they take ``Depends(get_dvp)`` for the node and
``Depends(current_person)`` / ``Depends(any_session)`` for the logged-in person.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Annotated

import httpx
from fastapi import Depends, Request

from simulators.common.clock import Clock
from simulators.common.config import SandboxConfig
from simulators.common.lists import ListCache
from simulators.dvp import grants, share
from simulators.dvp.accounts import AccountGuard, Session
from simulators.dvp.curator import Curator
from simulators.dvp.errors import CuratorActive, NotFound, Refused, SessionMismatch
from simulators.dvp.store import DvpStore
from simulators.medmij.topology import Node


@dataclass
class DVP:
    """Everything one DVP node holds; built once by ``create_app``."""

    config: SandboxConfig
    node: Node
    store: DvpStore
    client: httpx.AsyncClient
    lists: ListCache
    clock: Clock
    curator: Curator
    accounts: AccountGuard = field(init=False)
    revocations: sqlite3.Connection = field(init=False)  # consent.sqlite (grants.py)
    shares: share.ShareStore = field(init=False)  # pending shares and the share log

    def __post_init__(self) -> None:
        origins = frozenset({self.config.public_base(self.hostname).rstrip("/"),
                             self.config.addresses[self.hostname].rstrip("/")})
        self.accounts = AccountGuard(self.store.db, self.node.id, origins)
        self.revocations = grants.open_revocations(self)
        self.shares = share.ShareStore(self.store, self.clock)

    @property
    def hostname(self) -> str:
        return self.node.hostname

    @property
    def node_dir(self):
        return self.config.node_dir(self.node.id)

    @property
    def redirect_uri(self) -> str:
        """The collect callback the DVP registers (OCL) and sends in every authorize."""
        return self.config.public_url(self.hostname, "/oauth/callback")

    def person_or_404(self, person_id: str) -> dict:
        person = self.store.person(person_id)
        if person is None:
            raise NotFound("no such person", message="Dit account bestaat niet.")
        return person

    def refuse_if_curator(self) -> None:
        """A bankrupt vendor collects and shares nothing new."""
        if self.curator.active:
            raise CuratorActive(self.curator.notice)

    def check_callback_owner(self, request: Request, state: str) -> None:
        """A callback completes only for the browser session that started it (same person);
        otherwise a refusal, and the state stays unused for the person's own browser."""
        owner = self.store.pending_owner(state)
        if owner is None:
            raise Refused("unknown or already used state",
                          message="Onbekend of al gebruikt antwoord van de zorgaanbieder.")
        session = self.accounts.current(request)
        if session is None or session.person_id != owner:
            raise SessionMismatch()


def get_dvp(request: Request) -> DVP:
    """Dependency: the DVP node this request came to."""
    return request.app.state.dvp


async def current_person(request: Request) -> Session:
    """Dependency of every ``{person_id}`` route: the logged-in person's own id only; POST and
    DELETE also need the session's CSRF token and this PGO's origin."""
    return await get_dvp(request).accounts.person(request)


async def any_session(request: Request) -> Session:
    """Dependency of routes without a person id (logout): any live session, with CSRF."""
    return await get_dvp(request).accounts.session(request)


# Parameter types of the routers' handlers (``dvp: DvpDep``, ``session: PersonSession``).
DvpDep = Annotated[DVP, Depends(get_dvp)]
PersonSession = Annotated[Session, Depends(current_person)]
AnySession = Annotated[Session, Depends(any_session)]
