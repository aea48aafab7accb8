"""What every container runtime puts into the nodes' state volume before any node starts."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from sandbox.runtime.docker import NODE_UID, XSD_IN_STATE, state_files
from simulators.common.config import SECRET_FILE, ensure_secret
from simulators.common.lists import XSD_FILES, xsd_folder
from simulators.common.security import ADMIN_TOKEN_FILE, ensure_admin_token


def test_the_volume_gets_this_machines_admin_token_and_secret(tmp_path) -> None:
    """Rule: the nodes share the host's admin token and sandbox secret (pseudonyms, the
    MGO's localisation credential), mode 0600 for the node user: nodes that start together,
    or on other machines, would each make their own."""
    tar = tarfile.open(fileobj=io.BytesIO(state_files(tmp_path)))
    members = {m.name: m for m in tar.getmembers()}
    secret_files = {ADMIN_TOKEN_FILE, SECRET_FILE}
    assert secret_files <= set(members)
    assert all(members[n].mode == 0o600 and members[n].uid == NODE_UID for n in secret_files)
    read = {name: tar.extractfile(m).read() for name, m in members.items()}
    assert read[ADMIN_TOKEN_FILE].decode() == ensure_admin_token(tmp_path)
    assert bytes.fromhex(read[SECRET_FILE].decode()) == ensure_secret(tmp_path)


def test_the_volume_gets_the_official_list_xsds_this_machine_has(tmp_path) -> None:
    """Rule: the image does not ship the XSDs (they are not the project's); the runtime puts
    this machine's into the volume where the image's PGO_SANDBOX_SHARED points, so nodes in
    containers validate the lists as they do outside (the tests run beside ../shared)."""
    assert xsd_folder() is not None
    tar = tarfile.open(fileobj=io.BytesIO(state_files(tmp_path)))
    names = {m.name for m in tar.getmembers()}
    assert {f"{XSD_IN_STATE}/{name}" for name in XSD_FILES.values()} <= names
    dockerfile = (Path(__file__).resolve().parents[2] / "compose" / "Dockerfile").read_text()
    assert "PGO_SANDBOX_SHARED=/state/shared" in dockerfile and XSD_IN_STATE.startswith("shared/")
