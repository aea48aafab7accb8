"""`pgo-sandbox deploy`: the sandbox on a real orchestrator (issue 18 item 5).

    pgo-sandbox deploy k8s --out k8s/ --replicas dva-nexus=3    # manifests, then kubectl apply -k
    pgo-sandbox deploy attach k8s/                              # after k8s/port-forward.sh
    pgo-sandbox scenario run collect                            # against the cluster
    pgo-sandbox deploy detach

The manifests come from ``sandbox.deploy_k8s``; how to run them on kind, minikube or k3s is in
docs/kubernetes.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sandbox.deploy_k8s import (
    ATTACH_FILE,
    DEFAULT_LOAD_IMAGE,
    DEFAULT_NAMESPACE,
    DNS1123_LABEL,
    PORT_FORWARD_FILE,
    PROFILES,
    check_manifests,
    generate,
    in_cluster_addresses,
    replica_names,
)
from sandbox.names import USAGE_EXIT, check_name
from sandbox.pki import BUNDLE, CA_SECRET_FILE, write_private
from sandbox.state import RuntimeInfo, default_state_dir
from simulators.common.config import SandboxConfig, write_atomic
from simulators.common.security import ADMIN_TOKEN_FILE
from simulators.medmij.topology import Topology, TopologyError, load_topology

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
RUNTIME = "k8s"  # runtime.json of an attached cluster; no runtime class drives it

StateDir = Annotated[Path | None, typer.Option(
    "--state-dir", help="The state directory to attach (default $PGO_SANDBOX_HOME or "
    "~/.pgo-sandbox).", show_default=False)]


def _usage(message: str) -> typer.Exit:
    err.print(f"[red]{escape(message)}[/]", highlight=False)
    return typer.Exit(USAGE_EXIT)


def parse_replicas(values: list[str], known: list[str]) -> dict[str, int]:
    """``dva-nexus=3`` items -> {node: 3}; a bad form or count exits 2, an unknown name
    says which names there are."""
    out: dict[str, int] = {}
    for value in values:
        name, sep, count = value.partition("=")
        if not sep or not count.isdigit() or int(count) < 1:
            raise _usage(f"--replicas {value!r}: write NAME=N with N >= 1, e.g. dva-nexus=3")
        out[check_name("node", name, known)] = int(count)
    return out


def attach(manifests_dir: Path, state_dir: Path, base_port: int | None = None) -> RuntimeInfo:
    """Point this machine's commands at a cluster sandbox whose Services are port-forwarded
    to 127.0.0.1 from ``base_port`` on (``port-forward.sh``): the state files the docker
    runtime's ``attach`` writes for compose, from ``attach.json`` beside the manifests."""
    data = json.loads((manifests_dir / ATTACH_FILE).read_text("utf-8"))
    topology = Topology.from_dict(data["topology"])
    port = base_port or int(data["base_port"])
    network = in_cluster_addresses(topology, data["profile"])
    state_dir.mkdir(parents=True, exist_ok=True)
    SandboxConfig(topology, "medmij", network, state_dir).save(state_dir / "sandbox.json")
    write_private(state_dir / ADMIN_TOKEN_FILE, data["admin_token"].encode())
    for name, pem in (data.get("pki") or {}).items():  # medmij: this machine trusts the CA
        write_atomic(state_dir / "pki" / name, pem.encode())
    if data.get("ca_secret"):  # and `ca issue`/`participant add-*` here are the cluster's CA
        write_private(state_dir / "pki" / CA_SECRET_FILE, data["ca_secret"].encode())
    addresses = {n.hostname: f"{data['scheme']}://127.0.0.1:{port + i}"
                 for i, n in enumerate(topology.nodes)}
    info = RuntimeInfo(RUNTIME, "medmij", addresses, {}, time.time())
    info.save(state_dir)
    return info


def other_ca(manifests_dir: Path, state_dir: Path) -> str | None:
    """Why attaching would throw away a CA this state directory holds (a local sandbox's,
    whose outside participants hold certificates of it), or None. Files from before the
    cluster's CA secret was kept bring none: then any CA held here is in the way too."""
    data = json.loads((manifests_dir / ATTACH_FILE).read_text("utf-8"))
    held = state_dir / "pki" / CA_SECRET_FILE
    if not data.get("pki") or not held.exists():
        return None
    if held.read_text("ascii", errors="replace").strip() == data.get("ca_secret"):
        return None  # attached to this cluster before
    return (f"{state_dir} holds a CA of its own ({held}); attaching would replace it, and "
            "certificates issued by it would no longer be trusted: use another --state-dir")


def register(app: typer.Typer) -> None:
    """Add the `deploy` command group to the pgo-sandbox CLI."""
    deploy_app = typer.Typer(
        help="The sandbox on an orchestrator: Kubernetes manifests from the topology.\n\n"
        "Example: pgo-sandbox deploy k8s --out k8s/ && kubectl apply -k k8s/",
        no_args_is_help=True)
    app.add_typer(deploy_app, name="deploy")

    @deploy_app.command("k8s")
    def k8s(
        out: Annotated[Path, typer.Option("--out", help="Folder for the manifests (created).",
                                          file_okay=False)],
        topology_file: Annotated[Path | None, typer.Option(
            "--topology", help="Topology TOML (default: the packaged one).", exists=True,
            dir_okay=False, show_default=False)] = None,
        namespace: Annotated[str, typer.Option("--namespace", help="Kubernetes namespace.")
                             ] = DEFAULT_NAMESPACE,
        image: Annotated[str, typer.Option("--image", help="Node image, as the cluster "
                                           "pulls or has loaded it.")] = "pgo-sandbox-node:latest",
        load_image: Annotated[str, typer.Option(
            "--load-image", help="Image with Locust (compose/Dockerfile built with "
            "--build-arg HOST_ONLY=).")] = DEFAULT_LOAD_IMAGE,
        replicas: Annotated[list[str] | None, typer.Option(
            "--replicas", help="NAME=N, repeatable: replicas of a node (or locust-worker).",
            show_default=False)] = None,
        profile: Annotated[str, typer.Option(
            "--profile", help="loopback: plain HTTP as in compose; medmij: HTTPS and mutual "
            "TLS with the sandbox PKI as Secrets.")] = "loopback",
        base_port: Annotated[int, typer.Option(
            "--base-port", help="First 127.0.0.1 port of port-forward.sh.")] = 18400,
    ) -> None:
        """Write Kubernetes manifests (and a kustomization) for the topology.

        Example: pgo-sandbox deploy k8s --out k8s/ --replicas dva-nexus=3 --profile medmij
        """
        check_name("profile", profile, PROFILES)
        if not DNS1123_LABEL.match(namespace):
            raise _usage(f"--namespace {namespace!r}: a namespace is a DNS-1123 label "
                         "(lowercase letters, digits, '-', at most 63)")
        if not image.strip() or not load_image.strip():
            raise _usage("--image and --load-image must name an image")
        try:
            topology = load_topology(topology_file)
        except TopologyError as exc:
            err.print(f"[red]{escape(str(exc))}[/]")
            raise typer.Exit(1) from exc
        counts = parse_replicas(replicas or [], replica_names(topology))
        manifests = generate(topology, namespace=namespace, image=image,
                             load_image=load_image, replicas=counts, profile=profile,
                             base_port=base_port)
        problems = check_manifests(manifests)
        if problems:  # a topology the generator cannot express: say so, write nothing
            for problem in problems:
                err.print(f"[red]{escape(problem)}[/]")
            raise typer.Exit(1)
        written = manifests.write(out)
        console.print(f"wrote {len(written)} files to {out}/ ({profile} profile, namespace "
                      f"{namespace}): kubectl apply -k {out}")
        for note in manifests.notes:
            console.print(f"note: {note}")
        console.print(f"then: sh {out / PORT_FORWARD_FILE} & pgo-sandbox deploy attach {out}")

    @deploy_app.command("attach")
    def attach_cmd(
        manifests_dir: Annotated[Path, typer.Argument(
            help="The folder `deploy k8s --out` wrote.", exists=True, file_okay=False)],
        base_port: Annotated[int | None, typer.Option(
            "--base-port", help="First forwarded port (default: the one port-forward.sh "
            "uses).", show_default=False)] = None,
        state_dir: StateDir = None,
    ) -> None:
        """Let scenarios on this machine reach a cluster sandbox through port-forward.sh.

        Example: sh k8s/port-forward.sh & pgo-sandbox deploy attach k8s/
        """
        state = (state_dir or default_state_dir()).resolve()
        if not (manifests_dir / ATTACH_FILE).is_file():
            raise _usage(f"{manifests_dir} has no {ATTACH_FILE}: give the folder "
                         "`pgo-sandbox deploy k8s --out` wrote")
        current = RuntimeInfo.load(state)
        if current is not None and current.runtime != RUNTIME:
            err.print(f"[red]a {current.runtime} sandbox runs under {state}: "
                      "`pgo-sandbox down` first, or use --state-dir[/]")
            raise typer.Exit(1)
        problem = other_ca(manifests_dir, state)
        if problem is not None:
            err.print(f"[red]{problem}[/]")
            raise typer.Exit(1)
        info = attach(manifests_dir, state, base_port)
        first = next(iter(info.addresses.values()))
        console.print(f"attached {state} to the cluster sandbox (registry at {first}); "
                      "`pgo-sandbox deploy detach` when done")
        if (state / "pki" / BUNDLE).exists():
            console.print(f"this machine's clients trust the sandbox CA in {state / 'pki'}")

    @deploy_app.command("detach")
    def detach(state_dir: StateDir = None) -> None:
        """Forget an attached cluster sandbox (the cluster keeps running: kubectl delete -k).

        Example: pgo-sandbox deploy detach
        """
        state = (state_dir or default_state_dir()).resolve()
        info = RuntimeInfo.load(state)
        if info is None or info.runtime != RUNTIME:
            err.print(f"no cluster sandbox is attached under {state}")
            raise typer.Exit(1)
        (state / "runtime.json").unlink()
        console.print(f"detached {state}")
