"""The loopback address plan of the `medmij` profile, and the /etc/hosts lines that go with it.

In the `medmij` profile every node is known by its MedMij hostname on port 443 (the ZAL XSD
allows no port in front-channel URLs). On Linux the whole of 127.0.0.0/8 is loopback, so each
node gets its own address, ``127.77.0.<n>``, in topology order (registry, digid, DVAs, DVPs,
inspection; outside participants after them), and can bind ``<address>:443``. A browser finds
the node through ``/etc/hosts``; the sandbox's own clients resolve the names themselves.

This module only plans addresses and edits a hosts file; serving on them comes with the
`medmij` runtime (issue 13, item 2).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from pathlib import Path

NETWORK = ipaddress.IPv4Network("127.77.0.0/16")
HOSTS_FILE = Path("/etc/hosts")
BEGIN = "# BEGIN pgo-sandbox (managed by `pgo-sandbox hosts`; remove with --remove)"
END = "# END pgo-sandbox"


class HostsFileError(RuntimeError):
    """The hosts file cannot be read or written; the message says what to do instead."""


def address_of(index: int) -> str:
    """The address of the node at position ``index`` (0-based) of the plan: 127.77.0.1 for the
    first, skipping .0 and .255 in every /24 so no address looks like a network or broadcast."""
    if index < 0:
        raise ValueError("index must be >= 0")
    block, offset = divmod(index, 254)
    if block > 255:
        raise ValueError("more than 65024 nodes do not fit in 127.77.0.0/16")
    return str(NETWORK.network_address + block * 256 + offset + 1)


def plan(hostnames: Iterable[str]) -> dict[str, str]:
    """hostname -> loopback address, stable for the same order of hostnames."""
    result: dict[str, str] = {}
    for hostname in hostnames:
        if hostname not in result:
            result[hostname] = address_of(len(result))
    return result


def topology_plan(topology) -> dict[str, str]:
    """The plan for every node of a topology, in `Topology.nodes` order."""
    return plan(node.hostname for node in topology.nodes)


def hosts_lines(addresses: dict[str, str]) -> list[str]:
    """The /etc/hosts lines, one per node: ``127.77.0.3  dva-nexus.sandbox.test``."""
    return [f"{address}\t{hostname}" for hostname, address in addresses.items()]


def _strip_block(lines: Sequence[str]) -> list[str]:
    """The lines without our marked block (and without a half block left by an editor)."""
    kept: list[str] = []
    inside = False
    for line in lines:
        stripped = line.strip()
        if stripped == BEGIN:
            inside = True
        elif stripped == END and inside:
            inside = False
        elif not inside:
            kept.append(line)
    return kept


def with_block(text: str, addresses: dict[str, str]) -> str:
    """The hosts file text with our block replaced (or added at the end): idempotent."""
    kept = _strip_block(text.splitlines())
    while kept and not kept[-1].strip():
        kept.pop()
    block = [BEGIN, *hosts_lines(addresses), END]
    return "\n".join([*kept, "", *block]) + "\n" if kept else "\n".join(block) + "\n"


def without_block(text: str) -> str:
    """The hosts file text with our block removed; other lines untouched."""
    kept = _strip_block(text.splitlines())
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept) + "\n" if kept else ""


def _rewrite(path: Path, change) -> bool:
    """Apply a text change to the hosts file in place (not by rename: in containers
    /etc/hosts is a bind mount that cannot be replaced). True when something changed."""
    try:
        text = path.read_text("utf-8") if path.exists() else ""
        new = change(text)
        if new == text:
            return False
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(new)
        return True
    except PermissionError as exc:
        raise HostsFileError(
            f"{path} is not writable by this user. Run `sudo pgo-sandbox hosts --write`, or "
            f"add the lines yourself: `pgo-sandbox hosts | sudo tee -a {path}`"
        ) from exc
    except OSError as exc:
        raise HostsFileError(f"cannot update {path}: {exc.strerror or exc}") from exc


def install(addresses: dict[str, str], path: Path = HOSTS_FILE) -> bool:
    """Install (or update) the marked block; True when the file changed."""
    return _rewrite(path, lambda text: with_block(text, addresses))


def remove(path: Path = HOSTS_FILE) -> bool:
    """Remove the marked block; True when the file changed."""
    return _rewrite(path, without_block)
