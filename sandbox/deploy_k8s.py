"""Kubernetes manifests from the topology (`pgo-sandbox deploy k8s`): the same ecosystem as
compose, on a cluster, applied with ``kubectl apply -k DIR``.

What is written, and why it is shaped so:

- **Addressing.** Pods cannot rely on DNS for ``<id>.sandbox.test`` (that would need a CoreDNS
  rewrite in kube-system, outside a namespace's reach). Nodes already take an address map
  (``sandbox.json``, ``serve --config``): the ConfigMap ``sandbox-config`` maps every MedMij
  hostname to the node's Service, named after the hostname's first label (``dva-nexus``), and
  the HTTP client rewrites at the transport, as in the docker runtime. The lists keep naming
  ``https://<hostname>`` (the ``medmij`` naming of compose), so a client outside the cluster
  maps those names to its port-forwards (``deploy attach``).
- **Profiles.** ``loopback`` (default): plain HTTP on port 8000 as in compose (a cluster has no
  shared 127.0.0.1, so this is the compose addressing, not the local runtime's). ``medmij``:
  HTTPS with mutual TLS on the back channels, each node's sandbox PKI certificate and the CA
  bundle and CRL as Secrets, projected into ``/state/pki`` where ``serve`` reads them.
- **State.** One PersistentVolumeClaim per node at ``/state`` (its SQLite files): no
  ReadWriteMany storage class needed for a plain sandbox, unlike compose's one shared volume.
  A node with replicas shares its own claim among them (ReadWriteMany: the replicas of a DVA
  hold one grant store). What compose shares besides data is carried otherwise: the sandbox
  clock is the ConfigMap ``sandbox-clock`` (an init container links ``/state/clock.json`` to
  it, so every node and replica reads one offset, updated by the kubelet within about a
  minute), the admin token is the Secret ``admin-token`` mounted at ``/state/admin.token``
  and the sandbox secret (pseudonyms, the MGO's localisation credential) the Secret
  ``sandbox-secret`` at ``/state/sandbox.secret``. The official list XSDs, when this machine
  has them, are the ConfigMap ``medmij-list-xsd`` at ``/state/shared/medmij/lists/xsd``.
- **Health and lists.** Readiness, liveness and start-up probes on ``/health``, which answers
  503 until a node's MedMij lists are loaded; the nodes refresh the lists themselves every
  ``list_refresh_seconds`` of the topology, as in every runtime.
- **Load.** A Locust master (web UI 8089, workers on 5557) and a worker Deployment, reading the
  sandbox through ``PGO_LOAD_STATE`` (ConfigMap ``locust-target``). The node image leaves
  Locust out, so they run the full image (``--load-image``, built with ``HOST_ONLY=``). Only
  for ``loopback``: the Locust users speak plain HTTP (as with the local runtime).

``check_manifests`` is this module's own consistency check (selectors, ports, references,
DNS-1123 names, the kustomization); ``schema_problems`` checks every object against the
Kubernetes API models of the ``kubernetes`` client (a test dependency, imported on use).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.compose_gen import IMAGE
from sandbox.pki import BUNDLE, CRL_FILE, Pki
from sandbox.runtime.docker import XSD_IN_STATE
from simulators.common.config import SECRET_FILE, SandboxConfig
from simulators.common.lists import xsd_folder
from simulators.common.security import ADMIN_TOKEN_FILE, new_token
from simulators.medmij.topology import Node, Topology

PROFILES = ("loopback", "medmij")
DEFAULT_NAMESPACE = "pgo-sandbox"
DEFAULT_LOAD_IMAGE = "pgo-sandbox-load:latest"
HTTP_PORT = 8000  # as in compose (sandbox.runtime.docker.NETWORK_PORT)
TLS_PORT = 8443  # the container's TLS port: the image's user may not bind 443
TLS_SERVICE_PORT = 443  # the Service's, so an address https://<id> needs no port
STATE = "/state"
CONFIG_DIR = "/etc/pgo-sandbox"
CLOCK_DIR = "/etc/pgo-sandbox-clock"
LOAD_DIR = "/etc/pgo-sandbox-load"
NODE_UID = 10001  # compose/Dockerfile's user
LOCUST_WORKER = "locust-worker"
LOCUST_MASTER = "locust-master"
PART_OF = "pgo-sandbox"
ATTACH_FILE = "attach.json"  # what `deploy attach` needs on this machine; not a manifest
PORT_FORWARD_FILE = "port-forward.sh"
KUSTOMIZATION = "kustomization.yaml"
# The locustfile of the installed package, without knowing the image's Python version.
LOCUST_MAIN = ("import os, sys, loadtests; from locust.main import main; "
               "sys.argv = ['locust', '-f', os.path.join(os.path.dirname(loadtests.__file__), "
               "'locustfile.py'), *sys.argv[1:]]; sys.exit(main())")
LINK_CLOCK = (f"import os; p = '{STATE}/clock.json'; "
              "os.path.lexists(p) and os.remove(p); "
              f"os.symlink('{CLOCK_DIR}/clock.json', p)")

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# kinds whose names are DNS-1123 labels (the rest: subdomains)
LABEL_NAMED = ("Service", "Namespace")
API_VERSIONS = {"Namespace": "v1", "ConfigMap": "v1", "Secret": "v1", "Service": "v1",
                "PersistentVolumeClaim": "v1", "Deployment": "apps/v1"}


@dataclass
class Manifests:
    """What ``deploy k8s`` writes: YAML files of objects, plus files that are not objects."""

    files: dict[str, list[dict]] = field(default_factory=dict)  # file -> objects, in order
    extra: dict[str, str] = field(default_factory=dict)  # attach.json, port-forward.sh
    kustomization: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the CLI says beside the files

    def objects(self) -> list[dict]:
        return [o for docs in self.files.values() for o in docs]

    def write(self, out: Path) -> list[Path]:
        """Write every file under ``out`` (created); attach.json is the owner's only (0600):
        it holds the admin token."""
        out.mkdir(parents=True, exist_ok=True)
        written = []
        texts = {name: "---\n".join(to_yaml(o) for o in docs) for name, docs in self.files.items()}
        texts[KUSTOMIZATION] = to_yaml(self.kustomization)
        for name, text in {**texts, **self.extra}.items():
            path = out / name
            mode = 0o700 if name.endswith(".sh") else 0o600 if name == ATTACH_FILE else 0o644
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(path, mode)
            written.append(path)
        return written


# --- YAML ---------------------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z_/.][A-Za-z0-9_./-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def _scalar(value: object) -> str:
    """A YAML scalar: plain when unambiguous, else a JSON string (valid YAML)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text, ensure_ascii=False)


def _scalar_lines(item: object, indent: int) -> tuple[str, list[str]]:
    """What follows ``key:`` or ``-`` for a scalar, and the lines of a literal block (at
    ``indent`` + 2) when it is a multi-line string."""
    if isinstance(item, str) and "\n" in item and _literal_ok(item):
        body = item.removesuffix("\n").split("\n")
        pad = " " * (indent + 2)
        return " |" + ("" if item.endswith("\n") else "-"), [
            f"{pad}{line}" if line else "" for line in body]
    return f" {_scalar(item)}", []


def _lines(value: object, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            head = f"{pad}{_scalar(key)}:"
            if isinstance(item, dict | list) and item:
                out.append(head)
                out += _lines(item, indent + 2 if isinstance(item, dict) else indent)
            elif isinstance(item, dict | list):
                out.append(f"{head} {{}}" if isinstance(item, dict) else f"{head} []")
            else:
                text, block = _scalar_lines(item, indent)
                out += [head + text, *block]
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list) and item:
                inner = _lines(item, indent + 2)
                out.append(f"{pad}- " + inner[0][indent + 2:])
                out += inner[1:]
            elif isinstance(item, dict | list):
                out.append(f"{pad}- {{}}" if isinstance(item, dict) else f"{pad}- []")
            else:
                text, block = _scalar_lines(item, indent)
                out += [f"{pad}-{text}", *block]
    return out


def _literal_ok(text: str) -> bool:
    """A multi-line string as a literal block only where YAML reads it back unchanged."""
    body = text.removesuffix("\n")
    lines = body.split("\n")
    return (not body.startswith(" ") and not body.endswith("\n") and bool(lines[0])
            and all(line == line.rstrip() and "\t" not in line for line in lines)
            and all(ch == "\n" or ch.isprintable() for ch in body))


def to_yaml(value: dict) -> str:
    """One YAML document: block style, multi-line strings (PEM, JSON) as literal blocks."""
    return "\n".join(_lines(value, 0)) + "\n"


# --- objects ------------------------------------------------------------------------------

def _meta(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict:
    meta: dict = {"name": name, "namespace": namespace}
    meta["labels"] = {"app.kubernetes.io/part-of": PART_OF, **(labels or {})}
    return meta


def pod_labels(name: str) -> dict[str, str]:
    """The labels a Deployment's pods carry and its Service selects."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": PART_OF}


def in_cluster_addresses(topology: Topology, profile: str) -> dict[str, str]:
    """hostname -> the node's Service, as every pod reaches it (the nodes' address map)."""
    if profile == "medmij":  # port 443 of the Service; TLS names the MedMij hostname (SNI)
        return {n.hostname: f"https://{n.id}" for n in topology.nodes}
    return {n.hostname: f"http://{n.id}:{HTTP_PORT}" for n in topology.nodes}


def node_config(topology: Topology, profile: str, state_dir: Path = Path(STATE)
                ) -> SandboxConfig:
    """The nodes' sandbox.json: lists in MedMij names, hostnames mapped to Services."""
    return SandboxConfig(topology, "medmij", in_cluster_addresses(topology, profile), state_dir)


def _security() -> tuple[dict, dict]:
    """(pod, container) security contexts: the image's unprivileged user, nothing more."""
    pod = {"runAsNonRoot": True, "runAsUser": NODE_UID, "runAsGroup": NODE_UID,
           "fsGroup": NODE_UID, "seccompProfile": {"type": "RuntimeDefault"}}
    container = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    return pod, container


def _probe(port: str, scheme: str, period: int, failures: int) -> dict:
    return {"httpGet": {"path": "/health", "port": port, "scheme": scheme},
            "periodSeconds": period, "timeoutSeconds": 3, "failureThreshold": failures}


def _node_objects(node: Node, namespace: str, image: str, profile: str, replicas: int,
                  xsds: bool = False) -> list:
    """PVC, Deployment and Service of one node (``xsds``: mount the ConfigMap of the list
    XSDs)."""
    tls = profile == "medmij"
    port_name, port, scheme = ("https", TLS_PORT, "HTTPS") if tls else ("http", HTTP_PORT, "HTTP")
    labels = {**pod_labels(node.id), "app.kubernetes.io/component": node.role}
    claim = f"{node.id}-state"
    pod_security, container_security = _security()
    mounts = [{"name": "state", "mountPath": STATE},
              {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
              {"name": "clock", "mountPath": CLOCK_DIR, "readOnly": True},
              {"name": "admin-token", "mountPath": f"{STATE}/{ADMIN_TOKEN_FILE}",
               "subPath": ADMIN_TOKEN_FILE, "readOnly": True},
              {"name": "sandbox-secret", "mountPath": f"{STATE}/{SECRET_FILE}",
               "subPath": SECRET_FILE, "readOnly": True}]
    volumes = [{"name": "state", "persistentVolumeClaim": {"claimName": claim}},
               {"name": "config", "configMap": {"name": "sandbox-config"}},
               {"name": "clock", "configMap": {"name": "sandbox-clock"}},
               {"name": "admin-token", "secret": {"secretName": "admin-token",
                                                  "defaultMode": 0o440}},
               {"name": "sandbox-secret", "secret": {"secretName": "sandbox-secret",
                                                     "defaultMode": 0o440}}]
    if xsds:  # the official list XSDs, where the image's PGO_SANDBOX_SHARED points
        mounts.append({"name": "list-xsd", "mountPath": f"{STATE}/{XSD_IN_STATE}",
                       "readOnly": True})
        volumes.append({"name": "list-xsd", "configMap": {"name": "medmij-list-xsd"}})
    if tls:
        mounts.append({"name": "pki", "mountPath": f"{STATE}/pki", "readOnly": True})
        volumes.append({"name": "pki", "projected": {"defaultMode": 0o440, "sources": [
            {"secret": {"name": "pki-ca", "items": [{"key": BUNDLE, "path": BUNDLE},
                                                    {"key": CRL_FILE, "path": CRL_FILE}]}},
            {"secret": {"name": f"tls-{node.id}", "items": [
                {"key": "tls.crt", "path": f"{node.hostname}.crt"},
                {"key": "tls.key", "path": f"{node.hostname}.key"}]}}]}})
    container = {
        "name": "node", "image": image, "imagePullPolicy": "IfNotPresent",
        "args": [node.id, "--config", f"{CONFIG_DIR}/sandbox.json", "--host", "0.0.0.0",
                 "--port", str(port)],
        "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}],
        "startupProbe": _probe(port_name, scheme, 2, 60),  # first lists: up to 2 minutes
        "readinessProbe": _probe(port_name, scheme, 5, 3),
        "livenessProbe": _probe(port_name, scheme, 10, 6),
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
        "volumeMounts": mounts, "securityContext": container_security,
    }
    init = {"name": "link-clock", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": ["python", "-c", LINK_CLOCK],
            "volumeMounts": [{"name": "state", "mountPath": STATE}],
            "securityContext": container_security}
    shared = replicas > 1  # the replicas share the node's data (one DVA grant store)
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": _meta(claim, namespace, {"app.kubernetes.io/name": node.id}),
           "spec": {"accessModes": ["ReadWriteMany" if shared else "ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}}}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": _meta(node.id, namespace, labels),
        "spec": {
            "replicas": replicas,
            # a ReadWriteOnce claim cannot be attached to a new pod on another machine
            # while the old one holds it: replace, don't roll
            "strategy": {"type": "RollingUpdate" if shared else "Recreate"},
            "selector": {"matchLabels": pod_labels(node.id)},
            "template": {
                "metadata": {"labels": labels,
                             "annotations": {"pgo-sandbox/hostname": node.hostname}},
                "spec": {"securityContext": pod_security, "initContainers": [init],
                         "containers": [container], "volumes": volumes,
                         "terminationGracePeriodSeconds": 10}}}}
    service_port = TLS_SERVICE_PORT if tls else HTTP_PORT
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {**_meta(node.id, namespace, labels),
                     "annotations": {"pgo-sandbox/hostname": node.hostname}},
        "spec": {"type": "ClusterIP", "selector": pod_labels(node.id),
                 "ports": [{"name": port_name, "port": service_port, "targetPort": port_name,
                            "protocol": "TCP"}]}}
    return [pvc, deployment, service]


def _secrets(topology: Topology, namespace: str, profile: str, token: str,
             ca: bytes) -> list[dict]:
    """The admin token and the sandbox secret (the pseudonyms' key and the MGO's localisation
    credential: every node must hold the same, and each has a claim of its own); with
    ``medmij`` the CA bundle, CRL and one TLS Secret per node, from a CA of these files
    alone (``ca``: its CA secret, kept only in ``attach.json``)."""
    out = [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta("admin-token", namespace),
            "stringData": {ADMIN_TOKEN_FILE: token}},
           {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta("sandbox-secret", namespace),
            "stringData": {SECRET_FILE: secrets.token_hex(32)}}]
    if profile != "medmij":
        return out
    pki = Pki(topology.seed, secret=ca)
    out.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": _meta("pki-ca", namespace),
                "stringData": {BUNDLE: pki.bundle_pem().decode(),
                               CRL_FILE: pki.crl_pem().decode()}})
    for hostname, issued in pki.issue_nodes(topology.nodes).items():
        node = topology.node(hostname)
        out.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                    "metadata": _meta(f"tls-{node.id}", namespace,
                                      {"app.kubernetes.io/name": node.id}),
                    "stringData": {"tls.crt": (issued.cert_pem + pki.issuing.cert_pem).decode(),
                                   "tls.key": issued.key_pem.decode()}})
    return out


def _locust(topology: Topology, namespace: str, image: str, workers: int) -> list[dict]:
    """Locust master (Deployment + Service) and workers, against the in-cluster Services."""
    config = node_config(topology, "loopback", Path(LOAD_DIR))
    runtime = {"runtime": "k8s", "profile": "medmij", "addresses": config.addresses,
               "processes": {}, "started": 0.0, "healthy_seconds": None}
    target = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("locust-target",
                                                                         namespace),
              "data": {"sandbox.json": json.dumps(config.to_dict(), indent=2) + "\n",
                       "runtime.json": json.dumps(runtime, indent=2) + "\n"}}
    pod_security, container_security = _security()
    env = [{"name": "PGO_LOAD_STATE", "value": LOAD_DIR},
           {"name": "PGO_LOAD_THINK_SCALE", "value": "1"}]
    mounts = [{"name": "target", "mountPath": LOAD_DIR, "readOnly": True}]
    volumes = [{"name": "target", "configMap": {"name": "locust-target"}}]

    def deployment(name: str, args: list[str], replicas: int, ports: list[dict]) -> dict:
        container: dict = {"name": "locust", "image": image, "imagePullPolicy": "IfNotPresent",
                           "command": ["python", "-c", LOCUST_MAIN], "args": args, "env": env,
                           "volumeMounts": mounts, "securityContext": container_security,
                           "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}
        if ports:
            container["ports"] = ports
            container["readinessProbe"] = {"tcpSocket": {"port": "web"}, "periodSeconds": 5}
        labels = {**pod_labels(name), "app.kubernetes.io/component": "load"}
        return {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": _meta(name, namespace, labels),
                "spec": {"replicas": replicas, "selector": {"matchLabels": pod_labels(name)},
                         "template": {"metadata": {"labels": labels},
                                      "spec": {"securityContext": pod_security,
                                               "containers": [container],
                                               "volumes": volumes}}}}

    ports = [{"name": "web", "containerPort": 8089, "protocol": "TCP"},
             {"name": "master", "containerPort": 5557, "protocol": "TCP"}]
    master = deployment(LOCUST_MASTER, ["--master", "--web-port", "8089"], 1, ports)
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": _meta(LOCUST_MASTER, namespace, pod_labels(LOCUST_MASTER)),
               "spec": {"type": "ClusterIP", "selector": pod_labels(LOCUST_MASTER),
                        "ports": [{"name": p["name"], "port": p["containerPort"],
                                   "targetPort": p["name"], "protocol": "TCP"}
                                  for p in ports]}}
    worker = deployment(LOCUST_WORKER, ["--worker", "--master-host", LOCUST_MASTER], workers,
                        [])
    return [target, master, service, worker]


def replica_names(topology: Topology) -> list[str]:
    """What ``--replicas NAME=N`` may name: every node the sandbox runs, and the Locust
    workers."""
    return [n.id for n in topology.nodes] + [LOCUST_WORKER]


def generate(topology: Topology, *, namespace: str = DEFAULT_NAMESPACE, image: str = IMAGE,
             load_image: str = DEFAULT_LOAD_IMAGE, replicas: dict[str, int] | None = None,
             profile: str = "loopback", admin_token: str | None = None,
             base_port: int = 18400) -> Manifests:
    """Every manifest of one sandbox. ``replicas``: node id (or locust-worker) -> count."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    replicas = dict(replicas or {})
    token = admin_token or new_token()
    config = node_config(topology, profile)
    manifests = Manifests()
    manifests.files["namespace.yaml"] = [{"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": namespace,
                                                       "labels": {"app.kubernetes.io/part-of":
                                                                  PART_OF}}}]
    manifests.files["config.yaml"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("sandbox-config", namespace),
         "data": {"sandbox.json": json.dumps(config.to_dict(), indent=2) + "\n"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("sandbox-clock", namespace),
         "data": {"clock.json": json.dumps({"offset_seconds": 0.0}) + "\n"}},
    ]
    ca = secrets.token_bytes(32)  # this set of files' CA secret (sandbox.pki)
    manifests.files["secrets.yaml"] = _secrets(topology, namespace, profile, token, ca)
    folder = xsd_folder()
    if folder is not None:  # this machine's copy: the image does not ship them
        manifests.files["config.yaml"].append(
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": _meta("medmij-list-xsd", namespace),
             "data": {xsd.name: xsd.read_text("utf-8") for xsd in sorted(folder.glob("*.xsd"))}})
    else:
        manifests.notes.append("no MedMij list XSDs on this machine (../shared/medmij/lists/xsd "
                               "or $PGO_SANDBOX_SHARED): the nodes accept the lists without "
                               "XSD validation")
    for node in topology.nodes:
        manifests.files[f"{node.id}.yaml"] = _node_objects(node, namespace, image, profile,
                                                           replicas.get(node.id, 1),
                                                           xsds=folder is not None)
    if profile == "loopback":
        manifests.files["locust.yaml"] = _locust(topology, namespace, load_image,
                                                 replicas.get(LOCUST_WORKER, 2))
    else:
        manifests.notes.append("no Locust manifests: the Locust users speak plain HTTP only; "
                               "load-test the loopback profile")
    manifests.kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1",
                               "kind": "Kustomization", "namespace": namespace,
                               "resources": list(manifests.files)}
    scheme, port = ("https", TLS_SERVICE_PORT) if profile == "medmij" else ("http", HTTP_PORT)
    forwards = [f"kubectl -n {namespace} port-forward svc/{n.id} {base_port + i}:{port} &"
                for i, n in enumerate(topology.nodes)]
    if profile == "loopback":
        forwards.append(f"kubectl -n {namespace} port-forward svc/{LOCUST_MASTER} 8089:8089 &")
    manifests.extra[PORT_FORWARD_FILE] = "\n".join([
        "#!/bin/sh", "# Every node on 127.0.0.1 of this machine, as `pgo-sandbox deploy attach` "
        "expects (Ctrl-C ends them).", "set -e", *forwards, "wait", ""])
    manifests.extra[ATTACH_FILE] = json.dumps({
        "namespace": namespace, "profile": profile, "scheme": scheme, "base_port": base_port,
        "topology": topology.to_dict(), "admin_token": token,
        **({"pki": {BUNDLE: _secret_data(manifests, "pki-ca", BUNDLE),
                    CRL_FILE: _secret_data(manifests, "pki-ca", CRL_FILE)},
            # `deploy attach` puts it into <state>/pki: `ca issue` there is the cluster's CA
            "ca_secret": ca.hex()}
           if profile == "medmij" else {}),
    }, indent=2) + "\n"
    return manifests


def _secret_data(manifests: Manifests, name: str, key: str) -> str:
    secret = next(o for o in manifests.objects() if o["kind"] == "Secret"
                  and o["metadata"]["name"] == name)
    return secret["stringData"][key]


# --- checks -------------------------------------------------------------------------------

def _name_problem(obj: dict) -> str | None:
    kind, name = obj.get("kind"), (obj.get("metadata") or {}).get("name", "")
    rule = DNS1123_LABEL if kind in LABEL_NAMED else DNS1123_SUBDOMAIN
    if not isinstance(name, str) or not rule.match(name):
        what = "a DNS-1123 label" if kind in LABEL_NAMED else "a DNS-1123 subdomain"
        return f"{kind} {name!r}: the name must be {what}"
    return None


def _pod_problems(where: str, spec: dict, have: dict[str, set[str]],
                  keys: dict[tuple[str, str], set[str]]) -> list[str]:
    """A pod template: images, probe ports, mounts and the objects its volumes name."""
    problems = []
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}

    def source(kind: str, name: str, items: list[dict] | None) -> None:
        if name not in have.get(kind, set()):
            problems.append(f"{where}: {kind} {name!r} is referenced but not defined")
            return
        for item in items or []:
            if item.get("key") not in keys.get((kind, name), set()):
                problems.append(f"{where}: {kind} {name!r} has no key {item.get('key')!r}")

    for volume in volumes.values():
        if "persistentVolumeClaim" in volume:
            source("PersistentVolumeClaim", volume["persistentVolumeClaim"].get("claimName"),
                   None)
        if "configMap" in volume:
            source("ConfigMap", volume["configMap"].get("name"), volume["configMap"].get("items"))
        if "secret" in volume:
            source("Secret", volume["secret"].get("secretName"), volume["secret"].get("items"))
        for part in (volume.get("projected") or {}).get("sources") or []:
            if "secret" in part:
                source("Secret", part["secret"].get("name"), part["secret"].get("items"))
            if "configMap" in part:
                source("ConfigMap", part["configMap"].get("name"), part["configMap"].get("items"))
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    if not spec.get("containers"):
        problems.append(f"{where}: no containers")
    for c in containers:
        name = c.get("name")
        if not c.get("image"):
            problems.append(f"{where}: container {name!r} has no image")
        ports = c.get("ports") or []
        named = {p.get("name") for p in ports}
        numbers = {p.get("containerPort") for p in ports}
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = c.get(kind)
            if not probe:
                continue
            action = probe.get("httpGet") or probe.get("tcpSocket") or {}
            port = action.get("port")
            if port not in (named if isinstance(port, str) else numbers):
                problems.append(f"{where}: {kind} of {name!r} probes port {port!r}, "
                                "which the container does not declare")
        for mount in c.get("volumeMounts") or []:
            if mount.get("name") not in volumes:
                problems.append(f"{where}: container {name!r} mounts unknown volume "
                                f"{mount.get('name')!r}")
    return problems


def check_manifests(manifests: Manifests) -> list[str]:
    """Consistency the API server does not check: names, unique objects, every Service
    selecting a Deployment's pods on a declared port, probes on declared ports, every
    referenced claim, Secret, ConfigMap and key defined, and the kustomization listing
    exactly the manifest files. An empty list: nothing found."""
    problems: list[str] = []
    objects = manifests.objects()
    have: dict[str, set[str]] = {}
    keys: dict[tuple[str, str], set[str]] = {}
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        kind, meta = obj.get("kind", "?"), obj.get("metadata") or {}
        name = meta.get("name", "")
        if API_VERSIONS.get(kind) != obj.get("apiVersion"):
            problems.append(f"{kind} {name!r}: apiVersion {obj.get('apiVersion')!r}, "
                            f"expected {API_VERSIONS.get(kind)!r}")
        if problem := _name_problem(obj):
            problems.append(problem)
        if (kind, name) in seen:
            problems.append(f"{kind} {name!r} is defined twice")
        seen.add((kind, name))
        have.setdefault(kind, set()).add(name)
        keys[(kind, name)] = set(obj.get("data") or {}) | set(obj.get("stringData") or {})
    deployments = [o for o in objects if o.get("kind") == "Deployment"]
    for d in deployments:
        where = f"Deployment {d['metadata'].get('name')!r}"
        spec = d.get("spec") or {}
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            problems.append(f"{where}: selector {selector} does not match its pod labels")
        problems += _pod_problems(where, template.get("spec") or {}, have, keys)
    for s in (o for o in objects if o.get("kind") == "Service"):
        where = f"Service {s['metadata'].get('name')!r}"
        selector = (s.get("spec") or {}).get("selector") or {}
        pods = [d for d in deployments if selector and all(
            ((d["spec"].get("template") or {}).get("metadata") or {}).get("labels", {}).get(k)
            == v for k, v in selector.items())]
        if not pods:
            problems.append(f"{where}: selector {selector} selects no Deployment's pods")
            continue
        containers = pods[0]["spec"]["template"]["spec"].get("containers") or []
        declared = {p.get(f) for c in containers for p in c.get("ports") or []
                    for f in ("name", "containerPort")}
        for port in (s.get("spec") or {}).get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            if target not in declared:
                problems.append(f"{where}: targetPort {target!r} is not a port of the pods")
    listed = list((manifests.kustomization or {}).get("resources") or [])
    if sorted(listed) != sorted(manifests.files) or len(set(listed)) != len(listed):
        problems.append(f"kustomization lists {sorted(listed)}, the manifest files are "
                        f"{sorted(manifests.files)}")
    return problems


def read_manifests(out: Path) -> Manifests:
    """The manifests as written under ``out`` (YAML read back; needs PyYAML)."""
    import yaml

    kustomization = yaml.safe_load((out / KUSTOMIZATION).read_text("utf-8"))
    files = {p.name: [d for d in yaml.safe_load_all(p.read_text("utf-8")) if d]
             for p in sorted(out.glob("*.yaml")) if p.name != KUSTOMIZATION}
    return Manifests(files, {}, kustomization)


def schema_problems(objects: list[dict]) -> list[str]:
    """Each object against its Kubernetes API model (the ``kubernetes`` client's, offline):
    deserialised as a response of the API would be, then validated strictly (required
    fields, types, no unknown field)."""
    from kubernetes import client
    from pydantic import ValidationError

    api = client.ApiClient()
    problems = []
    for obj in objects:
        kind = obj.get("kind", "")
        name = (obj.get("metadata") or {}).get("name")
        version = str(obj.get("apiVersion", "")).rsplit("/", 1)[-1]
        model = f"{version.capitalize()}{kind}"
        cls = getattr(client, model, None)
        if cls is None:
            problems.append(f"{kind} {name!r}: no API model {model}")
            continue
        try:
            cls.model_validate(obj)  # strict: every error, unknown fields too
            api.deserialize(json.dumps(obj), model, "application/json")  # as kubectl gets it
        except (ValidationError, ValueError, TypeError) as exc:
            problems.append(f"{kind} {name!r}: {exc}")
    return problems
