"""What MedMij Beheer has admitted: providers and OAuth clients, with per-list version numbers.

Each list's Volgnummer rises only when that list's content changes. The state is one JSON file
replaced atomically, so a kill mid-change leaves the previous or the new publication.

A change is one step or nothing (``_commit``): it is validated against the topology, every
list is built from a copy of the state, the copy is persisted, and only then does it replace
the published state. A change the lists cannot carry is refused (``ChangeRefused``, a 4xx at
the admin API) and the lists stay as they were: one bad request must never stop the ZAL from
being served or the nodes from receiving later changes.

A service: no FastAPI here. Tijdstempels come from the injected ``Clock`` (default: the
sandbox clock of ``config.state_dir``, so ``pgo-sandbox clock advance`` dates new lists).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from simulators.common.clock import Clock, SandboxClock
from simulators.common.config import SandboxConfig, write_atomic
from simulators.medmij import LIST_PATHS, utc_timestamp
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN
from simulators.registry.errors import ChangeRefused
from simulators.registry.lists import ListHeader, ProviderEntry, build_list, build_zal_release3

KINDS = tuple(LIST_PATHS)  # zal, ocl, whitelist, gnl


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
        self.headers: dict[str, dict] = {}
        self._cache: dict[str, bytes] = {}  # kind -> published list; "zal3": release3 ZAL
        if path and path.exists():
            self._load(json.loads(path.read_text("utf-8")))
        else:
            topology = config.topology
            providers = {p.name: ProviderEntry(p.name, p.dva, p.gegevensdiensten)
                         for p in topology.providers}
            clients = {node.hostname: node.name for node in (*topology.dvps, topology.inspection)}
            self._commit(providers, clients)

    def _load(self, data: dict) -> None:
        self.providers = {
            p["name"]: ProviderEntry(p["name"], p["dva"], tuple(p["gegevensdiensten"]))
            for p in data["providers"]
        }
        self.clients = dict(data["clients"])
        self.headers = dict(data["headers"])

    @property
    def nodes(self) -> list[str]:
        return whitelist_nodes(self.providers, self.clients)

    # validation ------------------------------------------------------------------------

    def check_provider(self, entry: ProviderEntry) -> None:
        """Refuse a ZAL entry the sandbox cannot serve: its DVA must be a DVA of the topology
        (the ZAL points persons' PGOs at it) and every gegevensdienst must be on the GNL."""
        dvas = {d.hostname for d in self.config.topology.dvas}
        if entry.dva not in dvas:
            raise ChangeRefused(400, f"unknown DVA {entry.dva!r}: not a DVA of this sandbox "
                                f"(known: {', '.join(sorted(dvas))})")
        unknown = [g for g in entry.gegevensdiensten if g not in GEGEVENSDIENSTEN]
        if unknown:
            raise ChangeRefused(400, f"unknown gegevensdiensten {unknown}: not on the GNL")
        if len(set(entry.gegevensdiensten)) != len(entry.gegevensdiensten):
            raise ChangeRefused(400, f"gegevensdiensten listed twice: "
                                f"{list(entry.gegevensdiensten)}")

    # publication -----------------------------------------------------------------------

    def _commit(self, providers: dict[str, ProviderEntry], clients: dict[str, str]
                ) -> list[str]:
        """Publish a new state as one step: build every list from the candidate, persist it,
        then swap. On any failure the published state and lists stay as they were."""
        try:
            headers, changed = self._headers_for(providers, clients)
            cache = self._render_all(providers, clients, headers)
        except ChangeRefused:
            raise
        except Exception as exc:  # lxml, a missing address, ...: the lists cannot carry it
            raise ChangeRefused(422, f"the lists cannot be published with this change "
                                f"({type(exc).__name__}: {exc})") from exc
        if changed and self.path:
            state = {
                "providers": [asdict(p) for p in providers.values()],
                "clients": clients,
                "headers": headers,
            }
            write_atomic(self.path, json.dumps(state, indent=2).encode())
        self.providers, self.clients, self.headers, self._cache = (
            providers, clients, headers, cache)
        return changed

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

    def render(self, kind: str, config: SandboxConfig | None = None) -> bytes:
        """The published list; another config renders the same state in another profile."""
        if config is None:
            if kind not in self._cache:  # loaded from file: render once
                self._cache = self._render_all(self.providers, self.clients, self.headers)
            return self._cache[kind]
        h = self.headers[kind]
        return build_list(kind, config, list(self.providers.values()), self.clients, self.nodes,
                          ListHeader(h["tijdstempel"], h["volgnummer"]))

    def render_release3(self) -> bytes:
        """The published ZAL in the release3 shape (``?api=2``), same Volgnummer."""
        return self.render("zal3")

    # MedMij Beheer's edits -------------------------------------------------------------

    def add_provider(self, entry: ProviderEntry) -> list[str]:
        """List a provider; the same entry again is no change, another one under a listed
        name is a conflict (remove it first)."""
        self.check_provider(entry)
        current = self.providers.get(entry.name)
        if current == entry:
            return []
        if current is not None:
            raise ChangeRefused(409, f"{entry.name} is already on the ZAL with other data; "
                                "remove it first")
        return self._commit({**self.providers, entry.name: entry}, dict(self.clients))

    def remove_provider(self, name: str) -> list[str]:
        if name not in self.providers:
            raise ChangeRefused(404, f"no provider {name} on the ZAL")
        providers = {k: v for k, v in self.providers.items() if k != name}
        return self._commit(providers, dict(self.clients))

    def add_client(self, hostname: str, name: str) -> list[str]:
        """Admit an OAuth client; the same again is no change, another organisation name for
        a listed hostname is a conflict."""
        current = self.clients.get(hostname)
        if current == name:
            return []
        if current is not None:
            raise ChangeRefused(409, f"{hostname} is already on the OCL as {current!r}; "
                                "remove it first")
        return self._commit(dict(self.providers), {**self.clients, hostname: name})

    def remove_client(self, hostname: str) -> list[str]:
        if hostname not in self.clients:
            raise ChangeRefused(404, f"no client {hostname} on the OCL")
        clients = {k: v for k, v in self.clients.items() if k != hostname}
        return self._commit(dict(self.providers), clients)
