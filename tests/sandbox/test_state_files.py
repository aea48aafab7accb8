"""What every container runtime puts into the nodes' state volume before any node starts."""

from __future__ import annotations

import io
import tarfile

from sandbox.runtime.docker import NODE_UID, state_files
from simulators.common.config import SECRET_FILE, ensure_secret
from simulators.common.security import ADMIN_TOKEN_FILE, ensure_admin_token


def test_the_volume_gets_this_machines_admin_token_and_secret(tmp_path) -> None:
    """Rule: the nodes share the host's admin token and sandbox secret (pseudonyms, the
    MGO's localisation credential), mode 0600 for the node user: nodes that start together,
    or on other machines, would each make their own."""
    tar = tarfile.open(fileobj=io.BytesIO(state_files(tmp_path)))
    members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {ADMIN_TOKEN_FILE, SECRET_FILE}
    assert all(m.mode == 0o600 and m.uid == NODE_UID for m in members.values())
    read = {name: tar.extractfile(m).read() for name, m in members.items()}
    assert read[ADMIN_TOKEN_FILE].decode() == ensure_admin_token(tmp_path)
    assert bytes.fromhex(read[SECRET_FILE].decode()) == ensure_secret(tmp_path)
