"""What MedMij Beheer has admitted: providers and OAuth clients, with per-list version numbers.

Each list's Volgnummer rises only when that list's content changes. The state is one JSON file
replaced atomically, so a kill mid-change leaves the previous or the new publication.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from simulators.common import clock
from simulators.common.config import SandboxConfig, write_atomic
from simulators.registry.lists import ListHeader, ProviderEntry, build_list

KINDS = ("zal", "ocl", "whitelist", "gnl")


def timestamp() -> str:
    return datetime.fromtimestamp(clock.now(), UTC).isoformat(timespec="seconds")


class RegistryState:
    def __init__(self, config: SandboxConfig, path: Path | None) -> None:
        self.config = config
        self.path = path
        self.providers: dict[str, ProviderEntry] = {}
        self.clients: dict[str, str] = {}
        self.headers: dict[str, dict] = {}
        if path and path.exists():
            self._load(json.loads(path.read_text("utf-8")))
        else:
            topology = config.topology
            for p in topology.providers:
                self.providers[p.name] = ProviderEntry(p.name, p.dva, p.gegevensdiensten)
            for node in (*topology.dvps, topology.inspection):
                self.clients[node.hostname] = node.name
            self.publish()
        self._cache: dict[str, bytes] = {}

    def _load(self, data: dict) -> None:
        self.providers = {
            p["name"]: ProviderEntry(p["name"], p["dva"], tuple(p["gegevensdiensten"]))
            for p in data["providers"]
        }
        self.clients = dict(data["clients"])
        self.headers = dict(data["headers"])

    @property
    def nodes(self) -> list[str]:
        """Whitelist: every DVA serving a listed provider and every listed client."""
        return sorted({p.dva for p in self.providers.values()} | set(self.clients))

    def _content(self, kind: str, config: SandboxConfig | None = None) -> bytes:
        return build_list(
            kind, config or self.config, list(self.providers.values()), self.clients, self.nodes,
            None,
        )

    def publish(self) -> list[str]:
        """Bump Volgnummer and Tijdstempel of every list whose content changed; persist."""
        changed = []
        for kind in KINDS:
            digest = hashlib.sha256(self._content(kind)).hexdigest()
            current = self.headers.get(kind)
            if current is None or current["digest"] != digest:
                number = current["volgnummer"] + 1 if current else 1
                self.headers[kind] = {
                    "volgnummer": number, "tijdstempel": timestamp(), "digest": digest,
                }
                changed.append(kind)
        if changed and self.path:
            state = {
                "providers": [asdict(p) for p in self.providers.values()],
                "clients": self.clients,
                "headers": self.headers,
            }
            write_atomic(self.path, json.dumps(state, indent=2).encode())
        self._cache = {}
        return changed

    def render(self, kind: str, config: SandboxConfig | None = None) -> bytes:
        """The published list; another config renders the same state in another profile."""
        if config is None and kind in self._cache:
            return self._cache[kind]
        h = self.headers[kind]
        body = build_list(
            kind, config or self.config, list(self.providers.values()), self.clients, self.nodes,
            ListHeader(h["tijdstempel"], h["volgnummer"]),
        )
        if config is None:
            self._cache[kind] = body
        return body

    # MedMij Beheer's edits -------------------------------------------------------------

    def add_provider(self, entry: ProviderEntry) -> list[str]:
        self.providers[entry.name] = entry
        return self.publish()

    def remove_provider(self, name: str) -> list[str]:
        if self.providers.pop(name, None) is None:
            raise KeyError(name)
        return self.publish()

    def add_client(self, hostname: str, name: str) -> list[str]:
        self.clients[hostname] = name
        return self.publish()

    def remove_client(self, hostname: str) -> list[str]:
        if self.clients.pop(hostname, None) is None:
            raise KeyError(hostname)
        return self.publish()
