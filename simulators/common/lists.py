"""Reading the four MedMij lists as every node does: parse, check, keep the newest.

The registry writes them (``simulators.registry.lists``); everyone else reads them here.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import httpx
from lxml import etree

from simulators.medmij import LIST_PATHS

log = logging.getLogger(__name__)

NS = {
    "zal": "xmlns://afsprakenstelsel.medmij.nl/zorgaanbiederslijst/release2/",
    "ocl": "xmlns://afsprakenstelsel.medmij.nl/oauthclientlist/release2/",
    "whitelist": "xmlns://afsprakenstelsel.medmij.nl/whitelist/release2/",
    "gnl": "xmlns://afsprakenstelsel.medmij.nl/gegevensdienstnamenlijst/release1/",
}
PATHS = LIST_PATHS  # the older name, still imported by the CLI, load tests and tests


class ListError(ValueError):
    """A list that is not well-formed, has the wrong namespace or lacks a field."""


@dataclass(frozen=True)
class ServiceEndpoints:
    authorize: str
    token: str
    resources: dict[str, str]  # Systeemrolcode -> ResourceEndpointuri


@dataclass
class Lists:
    """The latest accepted version of each list."""

    zal: dict[str, dict[str, ServiceEndpoints]] = field(default_factory=dict)
    ocl: dict[str, str] = field(default_factory=dict)  # hostname -> organisation name
    whitelist: frozenset[str] = frozenset()
    gnl: dict[str, str] = field(default_factory=dict)  # GegevensdienstId -> Weergavenaam
    volgnummers: dict[str, int] = field(default_factory=dict)


def _root(kind: str, content: bytes) -> etree._Element:
    try:
        root = etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError as exc:
        raise ListError(f"{kind}: not well-formed XML: {exc}") from exc
    if etree.QName(root).namespace != NS[kind]:
        raise ListError(f"{kind}: unexpected namespace {etree.QName(root).namespace!r}")
    return root


def _text(el: etree._Element, path: str, kind: str) -> str:
    value = el.findtext(path, namespaces={"m": NS[kind]})
    if value is None:
        raise ListError(f"{kind}: missing {path}")
    return value.strip()


def parse_list(kind: str, content: bytes) -> tuple[int, object]:
    """Parse one list into (Volgnummer, content in a plain shape)."""
    root = _root(kind, content)
    volgnummer = int(_text(root, "m:Volgnummer", kind))
    m = {"m": NS[kind]}
    if kind == "zal":
        zal: dict[str, dict[str, ServiceEndpoints]] = {}
        for za in root.iterfind("m:Zorgaanbieders/m:Zorgaanbieder", m):
            services = {}
            for gd in za.iterfind("m:Gegevensdiensten/m:Gegevensdienst", m):
                roles = {
                    _text(r, "m:Systeemrolcode", kind): _text(
                        r, "m:ResourceEndpoint/m:ResourceEndpointuri", kind
                    )
                    for r in gd.iterfind("m:Systeemrollen/m:Systeemrol", m)
                }
                services[_text(gd, "m:GegevensdienstId", kind)] = ServiceEndpoints(
                    authorize=_text(gd, "m:AuthorizationEndpoint/m:AuthorizationEndpointuri", kind),
                    token=_text(gd, "m:TokenEndpoint/m:TokenEndpointuri", kind),
                    resources=roles,
                )
            zal[_text(za, "m:Zorgaanbiedernaam", kind)] = services
        return volgnummer, zal
    if kind == "ocl":
        return volgnummer, {
            _text(c, "m:Hostname", kind): _text(c, "m:OAuthclientOrganisatienaam", kind)
            for c in root.iterfind("m:OAuthclients/m:OAuthclient", m)
        }
    if kind == "whitelist":
        return volgnummer, frozenset(
            _text(n, "m:Hostname", kind) for n in root.iterfind("m:MedMijNodes/m:MedMijNode", m)
        )
    if kind == "gnl":
        return volgnummer, {
            _text(g, "m:GegevensdienstId", kind): _text(g, "m:Weergavenaam", kind)
            for g in root.iterfind("m:Gegevensdiensten/m:Gegevensdienst", m)
        }
    raise ListError(f"unknown list {kind!r}")


class ListCache:
    """Keeps a node's view of the lists fresh by polling the registry.

    A list with a lower Volgnummer than the one held is ignored (MedMij rule); a list that does
    not parse is logged and the previous one kept.
    """

    def __init__(self, registry_base: str, client: httpx.AsyncClient, interval: float) -> None:
        self.registry_base = registry_base.rstrip("/")
        self.client = client
        self.interval = interval
        self.lists = Lists()
        self.listeners: list = []  # callables(Lists) run after each change
        self._task: asyncio.Task | None = None
        self.ready = asyncio.Event()

    async def refresh(self) -> bool:
        changed = False
        for kind, path in LIST_PATHS.items():
            response = await self.client.get(f"{self.registry_base}{path}", params={"api": "1"})
            response.raise_for_status()
            volgnummer, content = parse_list(kind, response.content)
            if volgnummer > self.lists.volgnummers.get(kind, 0):
                setattr(self.lists, kind, content)
                self.lists.volgnummers[kind] = volgnummer
                changed = True
        if changed:
            for listener in self.listeners:
                listener(self.lists)
        self.ready.set()
        return changed

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except (httpx.HTTPError, ListError) as exc:
                log.warning("list refresh failed: %s", exc)
            await asyncio.sleep(self.interval if self.ready.is_set() else 0.1)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
