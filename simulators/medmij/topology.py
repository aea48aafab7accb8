"""The declarative topology: which MedMij nodes exist, with their names and services.

Every runtime, the registry's lists and the population's provider set derive from this one model.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN

ZORGAANBIEDERNAAM = re.compile(r"^[a-z]+@medmij$")
HOSTNAME = re.compile(r"^(([a-z0-9])([a-z0-9-])*\.)+([a-z0-9])([a-z0-9-])*([a-z0-9])$")


class TopologyError(ValueError):
    """The topology file breaks a MedMij naming rule or refers to a node that does not exist."""


@dataclass(frozen=True)
class Provider:
    name: str  # Zorgaanbiedernaam, e.g. umcsandbox@medmij
    display: str
    kind: str  # hospital, gp, rivm, ggz, pharmacy, ...
    dva: str  # hostname of the DVA that serves it
    gegevensdiensten: tuple[str, ...]

    @property
    def slug(self) -> str:
        """The name without @medmij: the 2.x collect scope and the path segment at the DVA."""
        return self.name.removesuffix("@medmij")


@dataclass(frozen=True)
class Node:
    """One process or container of the sandbox."""

    id: str  # first hostname label, e.g. dva-nexus
    role: str  # registry, digid, dva, dvp, inspection
    hostname: str
    name: str  # organisation name shown to people (OCL name for a DVP)


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

    @property
    def nodes(self) -> tuple[Node, ...]:
        return (self.registry, self.digid, *self.dvas, *self.dvps, self.inspection)

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
            providers=tuple(
                Provider(**{**p, "gegevensdiensten": tuple(p["gegevensdiensten"])})
                for p in data["providers"]
            ),
        )


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


def parse_topology(raw: dict) -> Topology:
    sandbox = raw.get("sandbox", {})
    domain = sandbox.get("domain", "sandbox.test")
    for section in ("registry", "digid", "inspection"):
        if section not in raw:
            raise TopologyError(f"topology lacks a [{section}] section")
    dvas = tuple(_node(d, "dva", domain) for d in raw.get("dva", []))
    dvps = tuple(_node(d, "dvp", domain) for d in raw.get("dvp", []))
    dva_hosts = {d.hostname for d in dvas}
    providers = []
    for p in raw.get("provider", []):
        name = str(p.get("name", ""))
        if not ZORGAANBIEDERNAAM.match(name) or not 10 <= len(name) <= 57:
            raise TopologyError(
                f"provider name {name!r} must match ([a-z])+@medmij and be 10-57 characters"
            )
        if p.get("dva") not in dva_hosts:
            raise TopologyError(f"provider {name} names unknown DVA {p.get('dva')!r}")
        services = tuple(str(s) for s in p.get("gegevensdiensten", []))
        unknown = [s for s in services if s not in GEGEVENSDIENSTEN]
        if unknown or not services:
            raise TopologyError(f"provider {name}: unknown or no gegevensdiensten {unknown}")
        providers.append(
            Provider(
                name=name,
                display=str(p.get("display", name)),
                kind=str(p.get("kind", "other")),
                dva=p["dva"],
                gegevensdiensten=services,
            )
        )
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
    )
    ids = [n.id for n in topology.nodes]
    if len(ids) != len(set(ids)):
        raise TopologyError("node hostnames must have distinct first labels")
    names = [p.name for p in topology.providers]
    if len(names) != len(set(names)):
        raise TopologyError("provider names must be unique")
    return topology
