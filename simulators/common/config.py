"""The configuration every node reads at start: topology, addressing profile and address map.

The runtime writes it once (``sandbox.json`` in the state directory); nodes never guess addresses.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from simulators.medmij.topology import Topology, outside_base

PROFILES = ("loopback", "medmij")


@dataclass(frozen=True)
class SandboxConfig:
    topology: Topology
    profile: str  # "loopback": lists carry http://127.0.0.1:port; "medmij": https://hostname
    addresses: dict[str, str]  # hostname -> base URL where this node reaches that node
    state_dir: Path
    # extra test patients: (provider name, folder of FHIR resources), loaded by every node
    reference_data: tuple[tuple[str, str], ...] = ()
    run_nonce: str = ""  # new per `up`; /health answers it so probes know their own nodes

    @property
    def secret(self) -> bytes:
        """Sandbox-wide key material (pseudonyms), derived from the seed so resets reproduce."""
        return hashlib.sha256(f"pgo-sandbox:{self.topology.seed}".encode()).digest()

    @property
    def admin_token(self) -> str | None:
        """The admin API token the runtime wrote before starting the nodes (see security.py)."""
        from simulators.common.security import read_admin_token
        return read_admin_token(self.state_dir)

    def public_base(self, hostname: str) -> str:
        """The base URL under which a node is known in the lists and in redirect URIs."""
        if self.profile == "medmij":
            return f"https://{hostname}"
        if hostname in self.addresses:
            return self.addresses[hostname]
        return outside_base(self.topology, self.state_dir, hostname)  # KeyError: unknown

    def public_url(self, hostname: str, path: str) -> str:
        return self.public_base(hostname) + path

    def is_on_host(self, url: str, hostname: str) -> bool:
        """Whether a URL is served by the given MedMij host (redirect_uri and return_to rule).

        In the loopback profile the host is compared with the address the runtime maps the
        hostname to; the rule itself is the same.
        """
        try:
            parts = urlsplit(url)
            base = urlsplit(self.public_base(hostname))
            # ``port`` raises ValueError for a port out of range or not a number
            where, expected = (parts.hostname, parts.port), (base.hostname, base.port)
        except (ValueError, KeyError):  # KeyError: a host the sandbox has no address for
            return False
        if parts.scheme != base.scheme or parts.username or parts.password:
            return False
        return where == expected

    def node_dir(self, node_id: str) -> Path:
        path = self.state_dir / "nodes" / node_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def to_dict(self) -> dict:
        return {
            "profile": self.profile,
            "addresses": self.addresses,
            "state_dir": str(self.state_dir),
            "topology": self.topology.to_dict(),
            "reference_data": [list(r) for r in self.reference_data],
            "run_nonce": self.run_nonce,
        }

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(self.to_dict(), indent=2).encode())

    @classmethod
    def load(cls, path: Path | str) -> SandboxConfig:
        data = json.loads(Path(path).read_text("utf-8"))
        return cls(
            topology=Topology.from_dict(data["topology"]),
            profile=data["profile"],
            addresses=dict(data["addresses"]),
            state_dir=Path(data["state_dir"]),
            reference_data=tuple((p, f) for p, f in data.get("reference_data", [])),
            run_nonce=data.get("run_nonce", ""),
        )


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that a crash leaves either the old or the new content, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
