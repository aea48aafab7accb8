"""The container runtimes list their containers while the engine may be removing some (a
swarm's ``stack rm`` removes tasks on its own schedule; CI once saw ``down`` fail with a 404
for a task container that went between the list and its inspection). docker-py's own
``ContainerCollection`` over a fake engine API, no Docker engine needed."""

from __future__ import annotations

import pytest
from docker.errors import NotFound
from docker.models.containers import ContainerCollection

from sandbox.runtime.docker import DockerRuntime
from sandbox.runtime.swarm import SwarmRuntime


class RemovingApi:
    """The engine's API: it lists two containers and has removed the first by the time it is
    inspected."""

    def containers(self, **_filters) -> list[dict]:
        return [{"Id": "gone"}, {"Id": "here"}]

    def inspect_container(self, container_id: str) -> dict:
        if container_id == "gone":
            raise NotFound("No such container: gone")
        return {"Id": container_id, "Config": {"Labels": {}}, "State": {"Status": "running"}}


class Engine:
    """What a runtime uses of ``docker.DockerClient``: ``api`` and ``containers``."""

    def __init__(self) -> None:
        self.api = RemovingApi()
        self.containers = ContainerCollection(client=self)


@pytest.mark.parametrize("runtime_class", [DockerRuntime, SwarmRuntime])
def test_a_container_removed_while_listing_is_skipped(runtime_class, tmp_path):
    """Rule: a runtime's list of its containers leaves out one the engine removed meanwhile
    (``ignore_removed``), instead of failing ``down``, ``status`` or ``logs``."""
    runtime = runtime_class(tmp_path, client=Engine())
    assert [c.id for c in runtime._containers()] == ["here"]
