"""The configuration every node reads at start: topology, addressing profile and address map.

The runtime writes it once (``sandbox.json`` in the state directory); nodes never guess addresses.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from simulators.medmij.topology import Topology, outside_base

PROFILES = ("loopback", "medmij")
SECRET_FILE = "sandbox.secret"  # state dir: the key of pseudonyms and node credentials


@dataclass(frozen=True)
class SandboxConfig:
    topology: Topology
    profile: str  # "loopback": lists carry http://127.0.0.1:port; "medmij": https://hostname
    addresses: dict[str, str]  # hostname -> base URL where this node reaches that node
    state_dir: Path
    # extra test patients: (provider name, folder of FHIR resources), loaded by every node
    reference_data: tuple[tuple[str, str], ...] = ()
    run_nonce: str = ""  # new per `up`; /health answers it so probes know their own nodes

    @cached_property
    def secret(self) -> bytes:
        """Sandbox-wide key material (localisation pseudonyms, the inspection function's
        credential at the registry): random, one per state directory (``ensure_secret``), so
        nobody who knows only the public seed can make or open a pseudonym. Stable for the
        life of the state directory (``reset`` keeps it, as it keeps the admin token)."""
        return ensure_secret(self.state_dir)

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


def ensure_secret(state_dir: Path) -> bytes:
    """The state directory's secret (``sandbox.secret``, 32 random bytes in hex, mode 0600):
    read it, or create it once. Creation is atomic even when several nodes start together
    (the file is written aside, then hard-linked into place; whoever links first wins and
    every process reads the winner's), so a runtime may write it before the nodes start or
    leave it to the first node that needs it."""
    path = Path(state_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:  # another process was first: its secret is the one
                pass
        finally:
            tmp.unlink(missing_ok=True)
    try:
        secret = bytes.fromhex(path.read_text("utf-8").strip())
    except ValueError:
        secret = b""
    if len(secret) != 32:
        raise RuntimeError(f"{path} is not a sandbox secret (64 hex digits); remove it and "
                           "restart the sandbox (pseudonyms change)")
    return secret


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that a crash leaves either the old or the new content, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
