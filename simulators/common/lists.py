"""Reading the four MedMij lists as every node does: parse, check, keep the newest.

The registry writes them (``simulators.registry.lists``); everyone else reads them here.
``CrlFollower`` fetches the sandbox CRL from the registry at the same pace, in containers.

Checks before a node accepts a list (``ListCache`` calls ``parse_list`` with the node's
addressing profile; measured on the official example ZAL, 4 kB: 0.16 ms without the XSD,
0.34 ms with it; compiling one XSD once: about 10 ms):

- the official XSD (SPEC section 2: nodes must validate every list), compiled once per
  process (``list_schema``). The XSDs are not part of the project: they are read from
  ``$PGO_SANDBOX_SHARED/medmij/lists/xsd``, else ``../shared/medmij/lists/xsd`` beside the
  working directory or beside the checkout, as the conformance suites find the testscripts
  (``simulators.conformance.suites.default_root``). Where none is found (an installed package,
  a container image: neither ships ``../shared``) the node says so once in its log and keeps
  the checks below. In the ``loopback`` profile the ZAL's endpoint URIs are
  ``http://127.0.0.1:<port>``, which the XSD's ``Frontchanneluri``/``Backchanneluri`` patterns
  refuse (README, "Addressing profiles"): there, and only there, pattern errors on those
  three URI elements are let through; every other XSD error refuses the list.
- every endpoint URI in the ZAL has the scheme the profile allows (``medmij``: https only;
  ``loopback``: http or https) and a host, with or without an XSD: a node sends browsers and
  tokens wherever the ZAL says.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from lxml import etree

from simulators.common import revocation
from simulators.medmij import LIST_PATHS

log = logging.getLogger(__name__)

NS = {
    "zal": "xmlns://afsprakenstelsel.medmij.nl/zorgaanbiederslijst/release2/",
    "ocl": "xmlns://afsprakenstelsel.medmij.nl/oauthclientlist/release2/",
    "whitelist": "xmlns://afsprakenstelsel.medmij.nl/whitelist/release2/",
    "gnl": "xmlns://afsprakenstelsel.medmij.nl/gegevensdienstnamenlijst/release1/",
}
PATHS = LIST_PATHS  # the older name, still imported by the CLI, load tests and tests
XSD_FILES = {  # the official schemas (../shared/medmij/SOURCES.md)
    "zal": "MedMij_Zorgaanbiederslijst.xsd",
    "ocl": "MedMij_OAuthclientlist.xsd",
    "whitelist": "MedMij_Whitelist.xsd",
    "gnl": "MedMij_Gegevensdienstnamenlijst.xsd",
}
URI_ELEMENTS = ("AuthorizationEndpointuri", "TokenEndpointuri", "ResourceEndpointuri")
SCHEMES = {"medmij": frozenset({"https"}), "loopback": frozenset({"http", "https"})}


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


def xsd_folder() -> Path | None:
    """Where the official list XSDs are (see the module docstring), or None."""
    shared = os.environ.get("PGO_SANDBOX_SHARED")
    candidates = [Path(shared)] if shared else []
    candidates += [Path.cwd().parent / "shared", Path(__file__).resolve().parents[3] / "shared"]
    return next((c / "medmij" / "lists" / "xsd" for c in candidates
                 if (c / "medmij" / "lists" / "xsd" / XSD_FILES["zal"]).is_file()), None)


@functools.cache
def list_schema(kind: str) -> etree.XMLSchema | None:
    """The compiled XSD of one list (once per process), or None when the XSDs are absent."""
    folder = xsd_folder()
    if folder is None:
        log.warning("no MedMij list XSDs found (set PGO_SANDBOX_SHARED): %s is accepted "
                    "without XSD validation", kind)
        return None
    return etree.XMLSchema(etree.parse(str(folder / XSD_FILES[kind]),
                                       etree.XMLParser(resolve_entities=False)))


def _loopback_uri_error(error: etree._LogEntry, kind: str) -> bool:
    """A pattern error on a ZAL endpoint URI: what the loopback profile's ZAL always has."""
    return kind == "zal" and error.type == etree.ErrorTypes.SCHEMAV_CVC_PATTERN_VALID and any(
        error.message.startswith(f"Element '{{{NS[kind]}}}{name}'") for name in URI_ELEMENTS)


def _check_schema(kind: str, root: etree._Element, profile: str) -> None:
    schema = list_schema(kind)
    if schema is None or schema.validate(root):
        return
    errors = [e for e in schema.error_log
              if not (profile == "loopback" and _loopback_uri_error(e, kind))]
    if errors:
        raise ListError(f"{kind}: not valid against {XSD_FILES[kind]}: line {errors[0].line}: "
                        f"{errors[0].message}")


def _endpoint(uri: str, profile: str) -> str:
    """An endpoint URI of the ZAL, if its scheme is one the profile allows and it has a host."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError as exc:
        raise ListError(f"zal: endpoint {uri!r} is no URI") from exc
    if parts.scheme not in SCHEMES[profile] or not host:
        raise ListError(f"zal: endpoint {uri!r} is not {' or '.join(sorted(SCHEMES[profile]))} "
                        f"with a host ({profile} profile)")
    return uri


def _text(el: etree._Element, path: str, kind: str) -> str:
    value = el.findtext(path, namespaces={"m": NS[kind]})
    if value is None:
        raise ListError(f"{kind}: missing {path}")
    return value.strip()


def parse_list(kind: str, content: bytes, profile: str | None = None) -> tuple[int, object]:
    """Parse one list into (Volgnummer, content in a plain shape), after the checks of the
    module docstring for ``profile`` ("medmij" or "loopback": what a node does, through its
    ``ListCache``). Without a profile (the registry reading back its own lists, the CLI, tests
    of the registry's faults) the XSD is skipped and endpoints may be http or https."""
    if profile is not None and profile not in SCHEMES:
        raise ValueError(f"unknown addressing profile {profile!r}")
    if kind not in NS:
        raise ListError(f"unknown list {kind!r}")
    root = _root(kind, content)
    if profile is not None:
        _check_schema(kind, root, profile)
    schemes = profile or "loopback"
    volgnummer = int(_text(root, "m:Volgnummer", kind))
    m = {"m": NS[kind]}
    if kind == "zal":
        zal: dict[str, dict[str, ServiceEndpoints]] = {}
        for za in root.iterfind("m:Zorgaanbieders/m:Zorgaanbieder", m):
            services = {}
            for gd in za.iterfind("m:Gegevensdiensten/m:Gegevensdienst", m):
                roles = {
                    _text(r, "m:Systeemrolcode", kind): _endpoint(_text(
                        r, "m:ResourceEndpoint/m:ResourceEndpointuri", kind), schemes)
                    for r in gd.iterfind("m:Systeemrollen/m:Systeemrol", m)
                }
                services[_text(gd, "m:GegevensdienstId", kind)] = ServiceEndpoints(
                    authorize=_endpoint(_text(
                        gd, "m:AuthorizationEndpoint/m:AuthorizationEndpointuri", kind), schemes),
                    token=_endpoint(_text(gd, "m:TokenEndpoint/m:TokenEndpointuri", kind),
                                    schemes),
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


DEFAULT_MAX_AGE_SECONDS = 24 * 3600.0  # topology ``list_max_age_seconds``: see ListCache
REFUSALS_KEPT = 20


async def poll(refresh: Callable[[], Awaitable[object]], interval: Callable[[], float],
               what: str) -> None:
    """Call ``refresh`` for ever, ``interval()`` seconds apart (the list cache, the CRL
    follower): a poller must outlive any one bad answer, so a failure is logged and the next
    refresh comes as usual."""
    while True:
        try:
            await refresh()
        except Exception:  # noqa: BLE001 - see above
            log.exception("%s failed", what)
        await asyncio.sleep(interval())


class ListCache:
    """Keeps a node's view of the lists fresh by polling the registry, and says how far to
    trust it.

    Each list is taken on its own: one that does not answer, does not parse, or has a LOWER
    Volgnummer than the one held (MedMij: Volgnummers only rise) is refused and logged, and
    the node keeps serving on the last valid one. A list counts as confirmed each time the
    registry serves a valid one at least as new as ours; the lists' age is the time since the
    oldest confirmation. MedMij has nodes refresh at least every 15 minutes (SPEC section 2)
    and names no maximum age; past ``max_age`` seconds (topology ``list_max_age_seconds``,
    default 24 h) the node stops trusting them (``expired``): a DVA gives no new
    authorizations, a PGO reaches no provider, until the registry answers again.

    Age runs on ``now`` (default: the monotonic clock), not the sandbox clock: the sandbox
    clock jumps (``clock advance 200d``) while the lists were confirmed seconds ago.

    Lists are checked for the addressing ``profile`` (``parse_list``); by default the one the
    registry's address shows: ``https://`` only in the ``medmij`` profile
    (``SandboxConfig.public_base``), so nodes need no new argument.
    """

    def __init__(self, registry_base: str, client: httpx.AsyncClient, interval: float,
                 max_age: float = DEFAULT_MAX_AGE_SECONDS,
                 now: Callable[[], float] = time.monotonic, profile: str | None = None) -> None:
        self.registry_base = registry_base.rstrip("/")
        self.profile = profile or ("medmij" if urlsplit(self.registry_base).scheme == "https"
                                   else "loopback")
        self.client = client
        self.interval = interval
        self.max_age = max_age
        self.now = now
        self.lists = Lists()
        self.listeners: list = []  # callables(Lists) run after each change
        self.confirmed: dict[str, float] = {}  # list kind -> when last confirmed current
        self.refusals: deque[dict] = deque(maxlen=REFUSALS_KEPT)  # the latest refused lists
        self._task: asyncio.Task | None = None
        self.ready = asyncio.Event()

    def _refuse(self, kind: str, reason: str) -> None:
        log.warning("list %s refused, keeping Volgnummer %s: %s", kind,
                    self.lists.volgnummers.get(kind, "none"), reason)
        self.refusals.append({"list": kind, "reason": reason, "at": time.time()})

    async def _fetch(self, kind: str, path: str) -> tuple[int, object] | None:
        """One list from the registry, parsed; None (refused, logged) when it cannot be."""
        try:
            response = await self.client.get(f"{self.registry_base}{path}",
                                             params={"api": "1"})
            response.raise_for_status()
            return parse_list(kind, response.content, self.profile)
        except httpx.HTTPStatusError as exc:
            self._refuse(kind, f"the registry answered {exc.response.status_code}")
        except httpx.HTTPError as exc:
            self._refuse(kind, f"the registry could not be reached ({type(exc).__name__})")
        except (ListError, ValueError) as exc:
            self._refuse(kind, f"invalid list: {exc}")
        return None

    async def refresh(self) -> bool:
        """Fetch every list once; True when one changed. Ready once each was accepted."""
        changed = False
        for kind, path in LIST_PATHS.items():
            fetched = await self._fetch(kind, path)
            if fetched is None:
                continue
            volgnummer, content = fetched
            held = self.lists.volgnummers.get(kind, 0)
            if volgnummer < held:
                self._refuse(kind, f"Volgnummer {volgnummer} is lower than {held} held")
                continue
            if volgnummer > held:
                setattr(self.lists, kind, content)
                self.lists.volgnummers[kind] = volgnummer
                changed = True
            self.confirmed[kind] = self.now()
        if changed:
            for listener in self.listeners:
                listener(self.lists)
        if set(self.confirmed) >= set(LIST_PATHS):
            self.ready.set()
        return changed

    def age_seconds(self) -> float | None:
        """Seconds since the oldest list was last confirmed; None before all were loaded."""
        if set(self.confirmed) < set(LIST_PATHS):
            return None
        return max(0.0, self.now() - min(self.confirmed.values()))

    def expired(self) -> bool:
        """The lists are older than allowed: trust no endpoint, client or node on them."""
        age = self.age_seconds()
        return age is not None and age > self.max_age

    def health(self) -> dict:
        """What ``/health`` adds for a node with lists (its status stays "ok": the node runs,
        it only refuses what needs fresh lists)."""
        age = self.age_seconds()
        return {"lists_age_s": None if age is None else round(age, 1),
                "lists_max_age_s": self.max_age, "lists_trusted": not self.expired(),
                "lists_volgnummers": dict(self.lists.volgnummers),
                "lists_refused": list(self.refusals)[-3:]}

    async def _run(self) -> None:
        await poll(self.refresh, lambda: self.interval if self.ready.is_set() else 0.1,
                   "list refresh")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()


def expired(cache: object) -> bool:
    """Whether a node's list cache is too old to trust (False for a cache without an age,
    such as a test's fixed lists)."""
    check = getattr(cache, "expired", None)
    return bool(check()) if callable(check) else False


class CrlFollower:
    """A container node's copy of the sandbox CRL, refreshed from the registry's distribution
    point (``tls.CRL_PATH``) every ``interval`` seconds: the topology's list refresh, so a
    certificate revoked while the sandbox runs is refused within one list refresh.

    Why not the PKI folder: in containers it is a read-only copy made at ``up`` (and under
    Swarm the nodes may run on other machines), so each node keeps its own file
    (``revocation.CrlFile``), which takes a fetched CRL only when ``revocation.check_crl``
    allows it (the sandbox CA signed it, nothing goes backwards). ``on_change`` runs after a
    new CRL was written (the node's ``LiveServerContext.refresh``: the next handshake uses it
    at once).

        follower = CrlFollower(registry_base + tls.CRL_PATH, client, 5.0, crl_file)
        follower.start()  # in the node's event loop
    """

    def __init__(self, url: str, client: httpx.AsyncClient, interval: float,
                 crl: revocation.CrlFile, on_change: Callable[[], object] = lambda: None) -> None:
        self.url = url
        self.client = client
        self.interval = interval
        self.crl = crl
        self.on_change = on_change
        self.refusals: deque[dict] = deque(maxlen=REFUSALS_KEPT)
        self._task: asyncio.Task | None = None

    def _refuse(self, reason: str) -> None:
        log.warning("CRL from %s refused, keeping number %s: %s", self.url, self.crl.number,
                    reason)
        self.refusals.append({"reason": reason, "at": time.time()})

    async def refresh(self) -> bool:
        """Fetch the registry's CRL once; True when it replaced the one held."""
        try:
            response = await self.client.get(self.url)
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            self._refuse(f"the registry answered {exc.response.status_code}")
            return False
        except httpx.HTTPError as exc:
            self._refuse(f"the registry could not be reached ({type(exc).__name__})")
            return False
        try:
            changed = self.crl.offer(response.content)
        except revocation.CrlRefused as exc:
            self._refuse(str(exc))
            return False
        if changed:
            log.warning("took CRL number %s from the registry", self.crl.number)
            self.on_change()
        return changed

    async def _run(self) -> None:
        await poll(self.refresh, lambda: self.interval, "CRL refresh")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
