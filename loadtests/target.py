"""The running sandbox as a Locust process sees it: addresses, topology and test persons.

Read once per process from the state directory in ``PGO_LOAD_STATE`` (what ``pgo-sandbox load``
sets), so the same user classes run against any runtime. A worker on another machine can
override the address map with ``PGO_LOAD_ADDRESSES`` (a JSON object hostname -> base URL).
A sandbox that serves HTTPS is reached under the nodes' MedMij hostnames, resolved in this
process, with the sandbox CA and the acting PGO's certificate (``loadtests.mtls``).
"""

from __future__ import annotations

import itertools
import json
import os
import random
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
from gevent.lock import Semaphore

from loadtests.mtls import SandboxPki, reachable_bases, resolve_in_process
from sandbox.state import Running, default_state_dir, running
from simulators.common.lists import PATHS, ServiceEndpoints, parse_list
from simulators.medmij.topology import Node, Provider, Topology

PERSONS_PER_PROVIDER = int(os.environ.get("PGO_LOAD_PERSONS", "50"))
# which gegevensdiensten a collect sends every search of (issue 5: the BgZ and vaccinations)
COLLECT_SERVICES = tuple(os.environ.get("PGO_LOAD_SERVICES", "48,63").split(","))


@dataclass
class Target:
    """Where every node is, and which test persons hold data at each provider."""

    sandbox: Running
    addresses: dict[str, str]
    _nodes: dict[str, Node] = field(default_factory=dict)
    _bases: dict[str, str] = field(default_factory=dict)  # netloc as named -> reachable base
    _persons: dict[str, itertools.cycle] = field(default_factory=dict)
    _zal: dict[str, dict[str, ServiceEndpoints]] = field(default_factory=dict)
    _lock: Semaphore = field(default_factory=Semaphore)
    _reachable: dict[str, str] = field(default_factory=dict)  # hostname -> base sent to
    names: dict[str, str] = field(default_factory=dict)  # hostname -> address (https only)

    def __post_init__(self) -> None:
        config, original = self.sandbox.config, self.sandbox.info.addresses
        self._reachable, self.names = reachable_bases(self.addresses)
        for node in self.topology.nodes:
            reachable = self._reachable[node.hostname]
            for base in (reachable, self.addresses[node.hostname], original[node.hostname],
                         config.public_base(node.hostname)):
                self._nodes[urlsplit(base).netloc] = node
                self._bases[urlsplit(base).netloc] = reachable

    @property
    def pki(self) -> SandboxPki | None:
        """The sandbox PKI when the nodes serve HTTPS (None: plain HTTP, no TLS at all)."""
        if any(b.startswith("https://") for b in self._reachable.values()):
            return SandboxPki(self.sandbox.state_dir / "pki")
        return None

    def verify(self) -> str | bool:
        """``verify`` for a requests session: the sandbox CA bundle, or the default."""
        pki = self.pki
        return str(pki.bundle) if pki else True

    def identity(self, node: Node) -> tuple[str, str] | None:
        """``cert`` for a requests call made as ``node`` on a back channel (None: plain)."""
        pki = self.pki
        if pki is None:
            return None
        certificate, key = pki.identity(node.hostname)
        return str(certificate), str(key)

    @property
    def topology(self) -> Topology:
        return self.sandbox.topology

    def url(self, node_id: str, path: str = "") -> str:
        """A URL on a node, reachable from this machine (under its hostname over TLS)."""
        return self._reachable[self.topology.node(node_id).hostname] + path

    def public_url(self, node_id: str, path: str = "") -> str:
        """The URL as the lists and redirect URIs name it."""
        return self.sandbox.public_url(node_id, path)

    def resolve(self, url: str) -> str:
        """Rewrite a URL as the lists name it to the address this machine reaches (DNS's job)."""
        parts = urlsplit(url)
        base = self._bases.get(parts.netloc)
        if base is None or url.startswith(base + "/"):
            return url
        target = urlsplit(base)
        return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))

    def node_of(self, url: str) -> Node | None:
        return self._nodes.get(urlsplit(url).netloc)

    def providers(self, service: str | None = None) -> list[Provider]:
        return [p for p in self.topology.providers
                if service is None or service in p.gegevensdiensten]

    def collects(self) -> list[tuple[Provider, tuple[str, ...]]]:
        """(provider, the COLLECT_SERVICES it offers) for every provider offering any."""
        found = [(p, tuple(s for s in p.gegevensdiensten if s in COLLECT_SERVICES))
                 for p in self.topology.providers]
        return [(p, services) for p, services in found if services]

    def endpoints(self, provider: str, service: str) -> ServiceEndpoints:
        """A gegevensdienst's endpoints as the ZAL names them: a PGO reads them there.

        Read once per process from the registry, outside the statistics; a list download is
        a back channel, so over TLS as the topology's first PGO.
        """
        with self._lock:
            if not self._zal:
                response = requests.get(self.url("registry", PATHS["zal"]), timeout=60,
                                        params={"api": "1"}, verify=self.verify(),
                                        cert=self.identity(self.topology.dvps[0]))
                response.raise_for_status()
                self._zal.update(parse_list("zal", response.content)[1])
        return self._zal[provider][service]

    def person(self, provider: str) -> str:
        """The next test person (BSN) with data at the provider; persons repeat in a cycle.

        Fetched once per process from DigiD's automation API, outside the statistics.
        """
        with self._lock:
            pool = self._persons.get(provider)
            if pool is None:
                response = requests.get(self.url("digid", "/api/test-persons"), timeout=120,
                                        params={"provider": provider, "n": PERSONS_PER_PROVIDER},
                                        verify=self.verify())
                response.raise_for_status()
                bsns = [p["bsn"] for p in response.json()]
                if not bsns:
                    raise LookupError(f"no test person holds data at {provider}")
                random.shuffle(bsns)
                pool = self._persons[provider] = itertools.cycle(bsns)
            return next(pool)


@cache
def target() -> Target:
    """The sandbox under test in this process."""
    state = Path(os.environ.get("PGO_LOAD_STATE") or default_state_dir())
    sandbox = running(state)
    addresses = dict(sandbox.info.addresses)
    override = os.environ.get("PGO_LOAD_ADDRESSES")
    if override:
        addresses.update(json.loads(override))
    found = Target(sandbox, addresses)
    resolve_in_process(found.names)
    return found
