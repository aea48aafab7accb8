"""The declarative topology: which MedMij nodes exist, with their names and services.

Every runtime, the registry's lists and the population's provider set derive from this one model.

Outside participants (issue 13 item 4): a developer's own DVP or DVA is declared with
``external = true``. The sandbox starts nothing for it, but lists it (OCL, Whitelist, ZAL) and
probes its health. They live in ``external_dvps`` / ``external_dvas``, not in ``dvps`` / ``dvas``
/ ``nodes``, so every runtime, DigiD and every scenario default keep meaning "the nodes the
sandbox runs"::

    [[dvp]]                      # an outside PGO: on the OCL and the Whitelist
    hostname = "pgo-mine.sandbox.test"
    name = "Mijn PGO"            # OAuthclientOrganisatienaam, shown on consent screens
    external = true
    redirect_uri = "http://127.0.0.1:9100/callback"   # loopback; medmij: https://<hostname>/...

    [[dva]]                      # an outside DVA: on the Whitelist, its providers on the ZAL
    hostname = "dva-mine.sandbox.test"
    name = "Mijn DVA"
    external = true

    [[provider]]                 # a provider of an outside DVA names its own endpoint URLs,
    name = "mijnkliniek@medmij"  # per gegevensdienst, exactly as the ZAL will publish them
    dva = "dva-mine.sandbox.test"
    gegevensdiensten = ["48"]
    [provider.endpoints.48]
    authorize = "http://127.0.0.1:9200/auth/start"
    token = "http://127.0.0.1:9200/auth/token"
    resource = "http://127.0.0.1:9200/api/fhir/mijnkliniek/48"

An outside node may set ``url`` (where the sandbox reaches it in the loopback profile: health
probe, the host a redirect_uri must be on); by default it is the origin of the DVP's
``redirect_uri`` or of the DVA's first authorize endpoint.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN

ZORGAANBIEDERNAAM = re.compile(r"^[a-z]+@medmij$")
HOSTNAME = re.compile(r"^(([a-z0-9])([a-z0-9-])*\.)+([a-z0-9])([a-z0-9-])*([a-z0-9])$")


ENDPOINT_KINDS = ("authorize", "token", "resource")
OUTSIDE_FILE = "outside.json"  # state dir: base URLs of outside participants added live


class TopologyError(ValueError):
    """The topology file breaks a MedMij naming rule or refers to a node that does not exist."""


FRONT_CHANNEL_KINDS = ("authorize", "redirect")  # URIs a person's browser is sent to


def endpoint_url_problem(url: object, profile: str | None = None,
                         kind: str = "authorize") -> str | None:
    """Why a URL cannot be published as an endpoint (``kind``: authorize, token, resource)
    or redirect URI (``redirect``); None: it can.

    Every profile: an absolute http(s) URL with a host, printable ASCII only (RFC 3986: no
    spaces, no control characters such as DEL), no user info and no fragment (RFC 6749
    section 3.1.2). The ``medmij`` profile as the ZAL's XSD has it: https on a DNS hostname,
    no query; a front-channel URI (authorize, redirect) has no port (Frontchanneluri), a
    back-channel one (token, resource) may (Backchanneluri). The ``loopback`` profile (and
    no profile: the topology file, read before one is chosen) allows http and ports."""
    if not isinstance(url, str) or not url:
        return "missing"
    if not all("!" <= c <= "~" for c in url):
        return f"{url!r} must be printable ASCII without spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        return f"{url!r} is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an absolute http(s) URL"
    if parts.username or parts.password or "@" in parts.netloc or "#" in url:
        return f"{url!r} must have no user info, fragment or spaces"
    if port == 0:  # urlsplit takes it; nothing listens there
        return f"{url!r} has port 0"
    if profile != "medmij":
        return None
    host = parts.netloc if port is None else parts.netloc.rpartition(":")[0]
    if parts.scheme != "https" or not HOSTNAME.match(host):
        return f"{url!r} must be https on a lowercase DNS hostname (medmij profile)"
    if "?" in url:
        return f"{url!r} must have no query (medmij profile)"
    if port is not None and kind in FRONT_CHANNEL_KINDS:
        return f"{url!r} must have no port: a front-channel URI (medmij profile)"
    return None


def origin(url: str) -> str:
    """scheme://host[:port] of a URL, without a trailing slash."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class ServiceUrls:
    """Where an outside DVA serves one gegevensdienst of one provider, as the ZAL lists it."""

    service: str  # GegevensdienstId
    authorize: str
    token: str
    resource: str


@dataclass(frozen=True)
class Provider:
    name: str  # Zorgaanbiedernaam, e.g. umcsandbox@medmij
    display: str
    kind: str  # hospital, gp, rivm, ggz, pharmacy, ...
    dva: str  # hostname of the DVA that serves it
    gegevensdiensten: tuple[str, ...]
    endpoints: tuple[ServiceUrls, ...] = ()  # only for a provider of an outside DVA

    @property
    def slug(self) -> str:
        """The name without @medmij: the 2.x collect scope and the path segment at the DVA."""
        return self.name.removesuffix("@medmij")

    def urls(self, service: str) -> ServiceUrls | None:
        """The declared endpoint URLs of a gegevensdienst (None: the sandbox DVA's paths)."""
        return next((e for e in self.endpoints if e.service == service), None)


@dataclass(frozen=True)
class Node:
    """One process or container of the sandbox."""

    id: str  # first hostname label, e.g. dva-nexus
    role: str  # registry, digid, dva, dvp, inspection
    hostname: str
    name: str  # organisation name shown to people (OCL name for a DVP)
    external: bool = False  # an outside participant: listed and probed, never started
    redirect_uri: str = ""  # an outside DVP's redirect URI
    url: str = ""  # an outside node's base URL in the loopback profile


@dataclass(frozen=True)
class Topology:
    domain: str
    seed: int
    population: int
    list_refresh_seconds: float
    registry: Node
    digid: Node
    dvas: tuple[Node, ...]
    dvps: tuple[Node, ...]
    inspection: Node
    providers: tuple[Provider, ...] = field(default=())
    external_dvas: tuple[Node, ...] = ()  # outside DVAs: listed, never started
    external_dvps: tuple[Node, ...] = ()  # outside DVPs: on the OCL, never started
    # how old (seconds since the registry last confirmed them) a node's lists may get before it
    # stops trusting them; MedMij names no maximum (refresh at least every 900 s): 24 h
    list_max_age_seconds: float = 86400.0

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The nodes the sandbox runs (outside participants are not among them)."""
        return (self.registry, self.digid, *self.dvas, *self.dvps, self.inspection)

    @property
    def externals(self) -> tuple[Node, ...]:
        return (*self.external_dvas, *self.external_dvps)

    def external(self, hostname: str) -> Node | None:
        """The declared outside participant with this hostname or id, if any."""
        return next((n for n in self.externals if hostname in (n.id, n.hostname)), None)

    def node(self, node_id: str) -> Node:
        for node in self.nodes:
            if node_id in (node.id, node.hostname):
                return node
        raise KeyError(node_id)

    def provider(self, name: str) -> Provider:
        for provider in self.providers:
            if name in (provider.name, provider.slug):
                return provider
        raise KeyError(name)

    def providers_of(self, dva_hostname: str) -> tuple[Provider, ...]:
        return tuple(p for p in self.providers if p.dva == dva_hostname)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Topology:
        def node(d: dict) -> Node:
            return Node(**d)

        def provider(p: dict) -> Provider:
            return Provider(**{**p, "gegevensdiensten": tuple(p["gegevensdiensten"]),
                               "endpoints": tuple(ServiceUrls(**e)
                                                  for e in p.get("endpoints", ()))})

        return cls(
            domain=data["domain"],
            seed=int(data["seed"]),
            population=int(data["population"]),
            list_refresh_seconds=float(data["list_refresh_seconds"]),
            registry=node(data["registry"]),
            digid=node(data["digid"]),
            dvas=tuple(node(d) for d in data["dvas"]),
            dvps=tuple(node(d) for d in data["dvps"]),
            inspection=node(data["inspection"]),
            providers=tuple(provider(p) for p in data["providers"]),
            external_dvas=tuple(node(d) for d in data.get("external_dvas", ())),
            external_dvps=tuple(node(d) for d in data.get("external_dvps", ())),
            list_max_age_seconds=float(data.get("list_max_age_seconds", 86400.0)),
        )


def read_outside(state_dir: Path) -> dict[str, str]:
    """hostname -> base URL of the outside participants added live, as the registry last
    published them (``OUTSIDE_FILE``); {} when there are none or the file is unreadable."""
    try:
        data = json.loads((Path(state_dir) / OUTSIDE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def outside_base(topology: Topology, state_dir: Path, hostname: str) -> str:
    """Where the sandbox reaches an outside participant in the loopback profile: declared in
    the topology, else added live; KeyError when it is neither."""
    node = topology.external(hostname)
    if node is not None and node.url:
        return node.url.rstrip("/")
    return read_outside(state_dir)[hostname].rstrip("/")


def default_topology_text() -> str:
    return resources.files("simulators.medmij").joinpath("default_topology.toml").read_text("utf-8")


def load_topology(path: Path | str | None = None) -> Topology:
    """Read and check a topology file (the packaged default when no path is given)."""
    text = Path(path).read_text("utf-8") if path else default_topology_text()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"{path or 'default topology'}: {exc}") from exc
    return parse_topology(raw)


def _node(raw: dict, role: str, domain: str) -> Node:
    hostname = str(raw.get("hostname", ""))
    if not HOSTNAME.match(hostname) or not hostname.endswith("." + domain):
        raise TopologyError(f"{role} hostname {hostname!r} must be lowercase and under .{domain}")
    name = str(raw.get("name", hostname))
    if not 3 <= len(name) <= 50:
        raise TopologyError(f"{hostname}: organisation name must be 3-50 characters")
    return Node(id=hostname.split(".")[0], role=role, hostname=hostname, name=name)


def _external(raw: dict, role: str, domain: str) -> Node:
    """An outside DVP (needs its redirect_uri) or DVA (its URLs are on its providers)."""
    node = _node(raw, role, domain)
    url = str(raw.get("url", ""))
    if url and (problem := endpoint_url_problem(url)):
        raise TopologyError(f"{node.hostname}: url {problem}")
    redirect_uri = str(raw.get("redirect_uri", ""))
    if role == "dvp":
        if problem := endpoint_url_problem(redirect_uri):
            raise TopologyError(f"external DVP {node.hostname}: redirect_uri {problem}")
        url = url or origin(redirect_uri)
    elif redirect_uri:
        raise TopologyError(f"external DVA {node.hostname}: a DVA has no redirect_uri")
    return Node(node.id, role, node.hostname, node.name, external=True,
                redirect_uri=redirect_uri, url=url)


def _endpoints(raw: object, provider: str, services: tuple[str, ...]) -> tuple[ServiceUrls, ...]:
    """``endpoints = { "48" = { authorize, token, resource } }`` of an outside DVA's provider:
    every gegevensdienst it offers, each with all three URLs."""
    if not isinstance(raw, dict):
        raise TopologyError(f"provider {provider}: endpoints must be a table per gegevensdienst")
    extra = sorted(set(raw) - set(services))
    missing = [s for s in services if s not in raw]
    if extra or missing:
        raise TopologyError(f"provider {provider}: endpoints must name exactly its "
                            f"gegevensdiensten {list(services)} (missing {missing}, "
                            f"extra {extra})")
    out = []
    for service in services:
        urls = raw[service]
        if not isinstance(urls, dict) or set(urls) != set(ENDPOINT_KINDS):
            raise TopologyError(f"provider {provider}: endpoints.{service} needs exactly "
                                f"{', '.join(ENDPOINT_KINDS)}")
        for kind in ENDPOINT_KINDS:
            if problem := endpoint_url_problem(urls[kind]):
                raise TopologyError(f"provider {provider}: endpoints.{service}.{kind} {problem}")
        out.append(ServiceUrls(service, *(str(urls[k]) for k in ENDPOINT_KINDS)))
    return tuple(out)


def parse_topology(raw: dict) -> Topology:
    sandbox = raw.get("sandbox", {})
    domain = sandbox.get("domain", "sandbox.test")
    for section in ("registry", "digid", "inspection"):
        if section not in raw:
            raise TopologyError(f"topology lacks a [{section}] section")
    dvas = tuple(_node(d, "dva", domain) for d in raw.get("dva", []) if not d.get("external"))
    dvps = tuple(_node(d, "dvp", domain) for d in raw.get("dvp", []) if not d.get("external"))
    external_dvas = [_external(d, "dva", domain) for d in raw.get("dva", []) if d.get("external")]
    external_dvps = tuple(_external(d, "dvp", domain)
                          for d in raw.get("dvp", []) if d.get("external"))
    dva_hosts = {d.hostname for d in dvas}
    outside_hosts = {d.hostname for d in external_dvas}
    providers = []
    for p in raw.get("provider", []):
        name = str(p.get("name", ""))
        if not ZORGAANBIEDERNAAM.match(name) or not 10 <= len(name) <= 57:
            raise TopologyError(
                f"provider name {name!r} must match ([a-z])+@medmij and be 10-57 characters"
            )
        if p.get("dva") not in dva_hosts | outside_hosts:
            raise TopologyError(f"provider {name} names unknown DVA {p.get('dva')!r}")
        services = tuple(str(s) for s in p.get("gegevensdiensten", []))
        unknown = [s for s in services if s not in GEGEVENSDIENSTEN]
        if unknown or not services:
            raise TopologyError(f"provider {name}: unknown or no gegevensdiensten {unknown}")
        endpoints: tuple[ServiceUrls, ...] = ()
        if p["dva"] in outside_hosts:
            endpoints = _endpoints(p.get("endpoints"), name, services)
        elif "endpoints" in p:
            raise TopologyError(f"provider {name}: endpoints are only for a provider of an "
                                f"external DVA; {p['dva']} serves the sandbox's own paths")
        providers.append(
            Provider(
                name=name,
                display=str(p.get("display", name)),
                kind=str(p.get("kind", "other")),
                dva=p["dva"],
                gegevensdiensten=services,
                endpoints=endpoints,
            )
        )
    for i, dva in enumerate(external_dvas):  # default url: its first authorize endpoint
        first = next((p.endpoints[0].authorize for p in providers if p.dva == dva.hostname),
                     "")
        if not dva.url and first:
            external_dvas[i] = Node(dva.id, dva.role, dva.hostname, dva.name, external=True,
                                    url=origin(first))
    topology = Topology(
        domain=domain,
        seed=int(sandbox.get("seed", 1)),
        population=int(sandbox.get("population", 100_000)),
        list_refresh_seconds=float(sandbox.get("list_refresh_seconds", 5)),
        registry=_node(raw["registry"], "registry", domain),
        digid=_node(raw["digid"], "digid", domain),
        dvas=dvas,
        dvps=dvps,
        inspection=_node(raw["inspection"], "inspection", domain),
        providers=tuple(providers),
        external_dvas=tuple(external_dvas),
        external_dvps=external_dvps,
        list_max_age_seconds=float(sandbox.get("list_max_age_seconds", 86400.0)),
    )
    ids = [n.id for n in (*topology.nodes, *topology.externals)]
    if len(ids) != len(set(ids)):
        raise TopologyError("node hostnames must have distinct first labels")
    names = [p.name for p in topology.providers]
    if len(names) != len(set(names)):
        raise TopologyError("provider names must be unique")
    return topology
