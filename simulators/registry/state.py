"""What MedMij Beheer has admitted: providers and OAuth clients, with per-list version numbers.

Each list's Volgnummer rises only when that list's content changes. The state is one JSON file
replaced atomically, so a kill mid-change leaves the previous or the new publication.

A change is one step or nothing (``_commit``): it is validated against the topology, every
list is built from a copy of the state, the copy is persisted, and only then does it replace
the published state. Every list built is first read back the way the nodes read it
(``parse_list`` with the profile: the official XSD, the endpoint schemes), so the registry
never publishes a list every node would refuse. A change the lists cannot carry is refused
(``ChangeRefused``, a 4xx at the admin API) and the lists stay as they were: one bad request
must never stop the ZAL from being served or the nodes from receiving later changes.

A service: no FastAPI here. Tijdstempels come from the injected ``Clock`` (default: the
sandbox clock of ``config.state_dir``, so ``pgo-sandbox clock advance`` dates new lists).

Outside participants (issue 13 item 4): a developer's own DVP or DVA, declared in the topology
(``external = true``) or added live (a client with its ``redirect_uri``, a provider with its
DVA's own endpoint URLs). Live ones are kept in ``outside`` (hostname -> role, name, base URL,
redirect URI), persisted with the lists; their base URLs are also written to
``<state_dir>/outside.json`` so the DVAs can check a live-added client's redirect_uri in the
loopback profile (``SandboxConfig.public_base``), where the OCL's hostname alone names no port.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit

from simulators.common.clock import Clock, SandboxClock
from simulators.common.config import SandboxConfig, write_atomic
from simulators.common.lists import parse_list
from simulators.medmij import LIST_PATHS, utc_timestamp
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN
from simulators.medmij.topology import OUTSIDE_FILE, endpoint_url_problem, origin
from simulators.registry.errors import ChangeRefused
from simulators.registry.lists import ListHeader, ProviderEntry, build_list, build_zal_release3

KINDS = tuple(LIST_PATHS)  # zal, ocl, whitelist, gnl
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_key(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the port made explicit: one address however written."""
    parts = urlsplit(url)  # scheme and hostname come lowercased
    return (parts.scheme, parts.hostname or "",
            parts.port or DEFAULT_PORTS.get(parts.scheme))


def whitelist_nodes(providers: dict[str, ProviderEntry], clients: dict[str, str]) -> list[str]:
    """Whitelist: every DVA serving a listed provider and every listed client."""
    return sorted({p.dva for p in providers.values()} | set(clients))


class RegistryState:
    """The admitted providers and clients, the published lists and their headers."""

    def __init__(self, config: SandboxConfig, path: Path | None, *,
                 clock: Clock | None = None) -> None:
        self.config = config
        self.path = path
        self.clock = clock if clock is not None else SandboxClock(config.state_dir)
        self.providers: dict[str, ProviderEntry] = {}
        self.clients: dict[str, str] = {}
        self.outside: dict[str, dict] = {}  # live outside participants: hostname -> record
        self.headers: dict[str, dict] = {}
        self._cache: dict[str, bytes] = {}  # kind -> published list; "zal3": release3 ZAL
        if path and path.exists():
            self._load(json.loads(path.read_text("utf-8")))
            self._write_outside(self.outside)
        else:
            topology = config.topology
            providers = {p.name: ProviderEntry(p.name, p.dva, p.gegevensdiensten, p.endpoints)
                         for p in topology.providers}
            clients = {node.hostname: node.name
                       for node in (*topology.dvps, *topology.external_dvps, topology.inspection)}
            self._commit(providers, clients, {})

    def _load(self, data: dict) -> None:
        self.providers = {p["name"]: ProviderEntry.from_dict(p) for p in data["providers"]}
        self.clients = dict(data["clients"])
        self.outside = dict(data.get("outside", {}))
        self.headers = dict(data["headers"])

    @property
    def nodes(self) -> list[str]:
        return whitelist_nodes(self.providers, self.clients)

    # validation ------------------------------------------------------------------------

    @property
    def own_hostnames(self) -> set[str]:
        """The nodes the sandbox runs: never an outside participant."""
        return {n.hostname for n in self.config.topology.nodes}

    def check_provider(self, entry: ProviderEntry) -> None:
        """Refuse a ZAL entry the sandbox cannot serve: every gegevensdienst must be on the
        GNL; a provider without endpoints must be on a DVA the sandbox runs (the ZAL points
        persons' PGOs at our paths there), one with endpoints (an outside DVA's) must name a
        URL for each of its gegevensdiensten and a DVA that is not one of ours."""
        unknown = [g for g in entry.gegevensdiensten if g not in GEGEVENSDIENSTEN]
        if unknown:
            raise ChangeRefused(400, f"unknown gegevensdiensten {unknown}: not on the GNL")
        if len(set(entry.gegevensdiensten)) != len(entry.gegevensdiensten):
            raise ChangeRefused(400, f"gegevensdiensten listed twice: "
                                f"{list(entry.gegevensdiensten)}")
        if not entry.endpoints:
            dvas = {d.hostname for d in self.config.topology.dvas}
            if entry.dva not in dvas:
                raise ChangeRefused(400, f"unknown DVA {entry.dva!r}: not a DVA of this "
                                    f"sandbox (known: {', '.join(sorted(dvas))}); an outside "
                                    "DVA names its endpoints per gegevensdienst")
            return
        if entry.dva in self.own_hostnames:
            raise ChangeRefused(400, f"{entry.dva} is a node the sandbox runs: its providers "
                                "are served on the sandbox's own paths, without endpoints")
        self.check_outside_hostname(entry.dva)
        named = [e.service for e in entry.endpoints]
        if sorted(named) != sorted(entry.gegevensdiensten):
            raise ChangeRefused(400, f"endpoints must name each gegevensdienst once: "
                                f"{list(entry.gegevensdiensten)}, got {named}")
        for urls in entry.endpoints:
            for kind in ("authorize", "token", "resource"):
                if problem := endpoint_url_problem(getattr(urls, kind), self.config.profile,
                                                   kind):
                    raise ChangeRefused(400, f"endpoints.{urls.service}.{kind}: {problem}")
                self.check_own_address(entry.dva, getattr(urls, kind),
                                       f"endpoints.{urls.service}.{kind}")

    def check_own_address(self, hostname: str, url: str, field: str) -> None:
        """A participant's URL is its own: in the medmij profile on its own hostname (the name
        its certificate carries); in every profile not on the hostname or address of a node
        the sandbox runs or of another participant (else the lists and ``outside.json`` would
        send its codes, tokens or persons to someone else)."""
        host = urlsplit(url).hostname or ""
        if self.config.profile == "medmij" and host != hostname:
            raise ChangeRefused(400, f"{field}: {url!r} must be on {hostname} itself in the "
                                "medmij profile")
        hosts, origins = self._taken_addresses(hostname)
        if host in hosts:
            raise ChangeRefused(400, f"{field}: {url!r} is on {host}, a sandbox node or "
                                f"another participant, not on {hostname}")
        if (holder := origins.get(origin_key(url))) is not None:
            raise ChangeRefused(400, f"{field}: {url!r} is at the address of {holder}, not "
                                f"of {hostname}")

    def _taken_addresses(self, hostname: str
                         ) -> tuple[set[str], dict[tuple[str, str, int | None], str]]:
        """Hostnames and origins held by anyone but ``hostname``: the sandbox's nodes (names
        and addresses), the clients on the OCL, every outside participant (declared: its
        ``url`` and ``redirect_uri``; live: its base URL) and the endpoints on the ZAL.
        Returns ({host}, {origin_key: holder})."""
        topology = self.config.topology
        hosts = {*self.own_hostnames, *self.clients, *self.outside,
                 *(n.hostname for n in topology.externals)}
        urls = list(self.config.addresses.items())  # (holder, url)
        for node in topology.externals:
            urls += [(node.hostname, u) for u in (node.url, node.redirect_uri) if u]
        urls += [(host, record["url"]) for host, record in self.outside.items()]
        urls += [(p.dva, getattr(e, kind)) for p in self.providers.values()
                 for e in p.endpoints for kind in ("authorize", "token", "resource")]
        hosts.discard(hostname)
        origins = {origin_key(url): holder for holder, url in urls if holder != hostname}
        return hosts, origins

    def check_domain(self, hostname: str) -> None:
        """Every participant lives under the sandbox's domain (the sandbox CA certifies only
        its names; every node of the topology is under it too)."""
        domain = self.config.topology.domain
        if not hostname.endswith("." + domain):
            raise ChangeRefused(400, f"{hostname!r} must be under .{domain}, like every "
                                "participant of this sandbox")

    def check_outside_hostname(self, hostname: str) -> None:
        """An outside participant lives under the sandbox's domain and is not a node the
        sandbox runs."""
        self.check_domain(hostname)
        if hostname in self.own_hostnames:
            raise ChangeRefused(409, f"{hostname} is a node the sandbox runs, not an outside "
                                "participant")

    # publication -----------------------------------------------------------------------

    def _commit(self, providers: dict[str, ProviderEntry], clients: dict[str, str],
                outside: dict[str, dict] | None = None) -> list[str]:
        """Publish a new state as one step: build every list from the candidate, persist it,
        then swap. On any failure the published state and lists stay as they were."""
        outside = dict(self.outside) if outside is None else outside
        try:
            headers, changed = self._headers_for(providers, clients)
            cache = self._render_all(providers, clients, headers)
        except ChangeRefused:
            raise
        except Exception as exc:  # lxml, a missing address, ...: the lists cannot carry it
            raise ChangeRefused(422, f"the lists cannot be published with this change "
                                f"({type(exc).__name__}: {exc})") from exc
        self._check_as_nodes_do(cache)
        if (changed or outside != self.outside) and self.path:
            state = {
                "providers": [asdict(p) for p in providers.values()],
                "clients": clients,
                "outside": outside,
                "headers": headers,
            }
            write_atomic(self.path, json.dumps(state, indent=2).encode())
        self._write_outside(outside)  # before the swap: a DVA seeing the OCL finds the URL
        self.providers, self.clients, self.outside, self.headers, self._cache = (
            providers, clients, outside, headers, cache)
        return changed

    def _check_as_nodes_do(self, cache: dict[str, bytes]) -> None:
        """Refuse (422) lists any node would refuse: each read back with ``parse_list`` in
        the sandbox's profile, as every node's list cache reads it."""
        for kind in KINDS:
            try:
                parse_list(kind, cache[kind], self.config.profile)
            except ValueError as exc:  # ListError, and a profile parse_list does not know
                raise ChangeRefused(422, f"the nodes would refuse the {kind} with this "
                                    f"change: {exc}") from exc

    def _write_outside(self, outside: dict[str, dict]) -> None:
        """``<state_dir>/outside.json``: hostname -> base URL of each live outside participant,
        for ``SandboxConfig.public_base`` in every node (only with a persisted state)."""
        if self.path is None:
            return
        addresses = {host: record["url"] for host, record in sorted(outside.items())}
        write_atomic(self.config.state_dir / OUTSIDE_FILE,
                     json.dumps(addresses, indent=2).encode())

    def _headers_for(self, providers: dict[str, ProviderEntry], clients: dict[str, str]
                     ) -> tuple[dict[str, dict], list[str]]:
        """Volgnummer and Tijdstempel per list: raised where the list's content changed."""
        nodes = whitelist_nodes(providers, clients)
        headers = {k: dict(h) for k, h in self.headers.items()}
        changed = []
        for kind in KINDS:
            content = build_list(kind, self.config, list(providers.values()), clients, nodes,
                                 None)
            digest = hashlib.sha256(content).hexdigest()
            current = headers.get(kind)
            if current is None or current["digest"] != digest:
                number = current["volgnummer"] + 1 if current else 1
                headers[kind] = {"volgnummer": number,
                                 "tijdstempel": utc_timestamp(self.clock.now()),
                                 "digest": digest}
                changed.append(kind)
        return headers, changed

    def _render_all(self, providers: dict[str, ProviderEntry], clients: dict[str, str],
                    headers: dict[str, dict]) -> dict[str, bytes]:
        nodes = whitelist_nodes(providers, clients)
        out = {}
        for kind in KINDS:
            h = headers[kind]
            out[kind] = build_list(kind, self.config, list(providers.values()), clients, nodes,
                                   ListHeader(h["tijdstempel"], h["volgnummer"]))
        h = headers["zal"]
        out["zal3"] = build_zal_release3(self.config, list(providers.values()),
                                         ListHeader(h["tijdstempel"], h["volgnummer"]))
        return out

    def publish(self) -> list[str]:
        """Re-publish the current state (Volgnummers rise only for changed content)."""
        return self._commit(dict(self.providers), dict(self.clients))

    def participants(self) -> dict[str, dict]:
        """Every outside participant, declared in the topology or added live, with what the
        lists say of it now: {hostname: {role, name, url, declared, listed, ...}}."""
        out: dict[str, dict] = {}
        topology = self.config.topology
        for node in topology.externals:
            record = {"role": node.role, "name": node.name, "url": node.url, "declared": True}
            if node.redirect_uri:
                record["redirect_uri"] = node.redirect_uri
            out[node.hostname] = record
        for hostname, record in self.outside.items():
            out[hostname] = {**record, "declared": False}
        for hostname, record in out.items():
            if record["role"] == "dvp":
                record["listed"] = hostname in self.clients
            else:
                record["providers"] = sorted(p.name for p in self.providers.values()
                                             if p.dva == hostname)
                record["listed"] = bool(record["providers"])
        return out

    def render(self, kind: str, config: SandboxConfig | None = None) -> bytes:
        """The published list; another config renders the same state in another profile."""
        if config is None:
            if kind not in self._cache:  # loaded from file: render once
                self._cache = self._render_all(self.providers, self.clients, self.headers)
            return self._cache[kind]
        h = self.headers[kind]
        return build_list(kind, config, list(self.providers.values()), self.clients, self.nodes,
                          ListHeader(h["tijdstempel"], h["volgnummer"]))

    def render_volgnummer(self, kind: str, delta: int) -> bytes:
        """The published list with its Volgnummer moved by ``delta`` (the ``lower_volgnummer``
        fault: a list older than the one last published; never below 0)."""
        h = self.headers["zal" if kind == "zal3" else kind]
        header = ListHeader(h["tijdstempel"], max(0, h["volgnummer"] + delta))
        if kind == "zal3":
            return build_zal_release3(self.config, list(self.providers.values()), header)
        return build_list(kind, self.config, list(self.providers.values()), self.clients,
                          self.nodes, header)

    def render_release3(self) -> bytes:
        """The published ZAL in the release3 shape (``?api=2``), same Volgnummer."""
        return self.render("zal3")

    # MedMij Beheer's edits -------------------------------------------------------------

    def add_provider(self, entry: ProviderEntry, dva_name: str | None = None,
                     display: str | None = None) -> list[str]:
        """List a provider; the same entry again is no change, another one under a listed
        name is a conflict (remove it first). A provider of an outside DVA (with endpoints)
        also records that DVA as a live outside participant named ``dva_name``."""
        self.check_provider(entry)
        current = self.providers.get(entry.name)
        if current == entry:
            return []
        if current is not None:
            raise ChangeRefused(409, f"{entry.name} is already on the ZAL with other data; "
                                "remove it first")
        outside = dict(self.outside)
        if entry.endpoints and self.config.topology.external(entry.dva) is None:
            record = outside.get(entry.dva)
            if record is not None and record["role"] != "dva":
                raise ChangeRefused(409, f"{entry.dva} is already an outside "
                                    f"{record['role'].upper()}; one role per hostname")
            if record is None:
                record = {"role": "dva", "name": dva_name or entry.dva,
                          "url": origin(entry.endpoints[0].authorize), "displays": {}}
            outside[entry.dva] = {**record, "displays": {**record.get("displays", {}),
                                                          entry.name: display or entry.name}}
        return self._commit({**self.providers, entry.name: entry}, dict(self.clients), outside)

    def remove_provider(self, name: str) -> list[str]:
        if name not in self.providers:
            raise ChangeRefused(404, f"no provider {name} on the ZAL")
        providers = {k: v for k, v in self.providers.items() if k != name}
        return self._commit(providers, dict(self.clients), self._still_listed(providers,
                                                                              self.clients))

    def _still_listed(self, providers: dict[str, ProviderEntry], clients: dict[str, str]
                      ) -> dict[str, dict]:
        """The live outside participants that remain on a list after a removal."""
        dvas = {p.dva for p in providers.values()}
        return {h: r for h, r in self.outside.items()
                if (h in clients if r["role"] == "dvp" else h in dvas)}

    def add_client(self, hostname: str, name: str, redirect_uri: str | None = None
                   ) -> list[str]:
        """Admit an OAuth client; the same again is no change, another organisation name for
        a listed hostname is a conflict. With ``redirect_uri`` it is an outside DVP: its
        redirect URI's origin is where the DVAs expect the person's browser to go back. The
        hostname is always one of the sandbox's domain (the OCL and the Whitelist name no
        other host)."""
        self.check_domain(hostname)
        outside = dict(self.outside)
        if redirect_uri is not None:
            self.check_outside_hostname(hostname)
            if self.config.topology.external(hostname) is not None:
                raise ChangeRefused(409, f"{hostname} is declared in the topology with its "
                                    "own redirect_uri")
            if problem := endpoint_url_problem(redirect_uri, self.config.profile, "redirect"):
                raise ChangeRefused(400, f"redirect_uri: {problem}")
            self.check_own_address(hostname, redirect_uri, "redirect_uri")
            record = {"role": "dvp", "name": name, "url": origin(redirect_uri),
                      "redirect_uri": redirect_uri}
            current_record = outside.get(hostname)
            if current_record not in (None, record):
                raise ChangeRefused(409, f"{hostname} is already an outside participant "
                                    f"({current_record['role'].upper()} at "
                                    f"{current_record['url']}); remove it first")
            outside[hostname] = record
        current = self.clients.get(hostname)
        if current == name and outside == self.outside:
            return []
        if current is not None and current != name:
            raise ChangeRefused(409, f"{hostname} is already on the OCL as {current!r}; "
                                "remove it first")
        return self._commit(dict(self.providers), {**self.clients, hostname: name}, outside)

    def remove_client(self, hostname: str) -> list[str]:
        if hostname not in self.clients:
            raise ChangeRefused(404, f"no client {hostname} on the OCL")
        clients = {k: v for k, v in self.clients.items() if k != hostname}
        return self._commit(dict(self.providers), clients,
                            self._still_listed(self.providers, clients))

    def remove_participant(self, hostname: str) -> list[str]:
        """Take an outside participant off every list in one step (a vendor's exit): its OCL
        entry and every ZAL entry its DVA serves. 404 only when nothing of it was listed."""
        if hostname in self.own_hostnames:
            raise ChangeRefused(409, f"{hostname} is a node the sandbox runs, not an outside "
                                "participant (use `pgo-sandbox vendor bankrupt` for a PGO)")
        providers = {k: v for k, v in self.providers.items() if v.dva != hostname}
        clients = {k: v for k, v in self.clients.items() if k != hostname}
        outside = {h: r for h, r in self.outside.items() if h != hostname}
        if (providers, clients, outside) == (self.providers, self.clients, self.outside):
            raise ChangeRefused(404, f"no outside participant {hostname} on the lists")
        return self._commit(providers, clients, outside)
