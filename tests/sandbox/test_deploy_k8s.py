"""`pgo-sandbox deploy k8s`: manifests valid against the Kubernetes API models (offline, the
``kubernetes`` client's), consistent among themselves, and shaped as the nodes read them.

No cluster runs here: what a cluster would do with these files is checked as far as it can be
without one (schemas, references, the config a node loads, the clock link, the TLS files).
"""

from __future__ import annotations

import copy
import json
import os
import stat

import httpx
import pytest
import yaml
from cryptography import x509
from typer.testing import CliRunner

from sandbox import deploy_k8s
from sandbox.cli import app
from sandbox.deploy_k8s import (
    ATTACH_FILE,
    CLOCK_DIR,
    KUSTOMIZATION,
    LINK_CLOCK,
    STATE,
    Manifests,
    check_manifests,
    generate,
    read_manifests,
    schema_problems,
    to_yaml,
)
from sandbox.state import running
from simulators.common import tls
from simulators.common.clock import SandboxClock, settle
from simulators.common.config import SECRET_FILE, SandboxConfig, ensure_secret
from simulators.common.lists import XSD_FILES
from simulators.medmij.topology import load_topology
from simulators.serve import build_app

runner = CliRunner()


def find(manifests: Manifests, kind: str, name: str) -> dict:
    return next(o for o in manifests.objects()
                if o["kind"] == kind and o["metadata"]["name"] == name)


def container(manifests: Manifests, name: str) -> dict:
    return find(manifests, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]


@pytest.fixture(scope="module")
def default() -> Manifests:
    return generate(load_topology(), admin_token="t0k3n")


@pytest.fixture(scope="module")
def replicated() -> Manifests:
    return generate(load_topology(), profile="medmij", admin_token="t0k3n",
                    replicas={"dva-nexus": 3}, namespace="medmij-k8s")


def test_default_manifests_are_valid_and_read_back_as_written(default, tmp_path):
    assert check_manifests(default) == []
    assert schema_problems(default.objects()) == []
    default.write(tmp_path)
    back = read_manifests(tmp_path)
    assert back.files == default.files and back.kustomization == default.kustomization
    on_disk = {p.name for p in tmp_path.glob("*.yaml")} - {KUSTOMIZATION}
    assert sorted(back.kustomization["resources"]) == sorted(on_disk)
    topology = load_topology()
    for node in topology.nodes:  # a Deployment and a Service per node, named by first label
        assert find(default, "Service", node.id)["spec"]["ports"][0]["port"] == 8000
        assert container(default, node.id)["args"][0] == node.id
    assert find(default, "Deployment", "locust-worker")["spec"]["replicas"] == 2
    assert stat.S_IMODE((tmp_path / ATTACH_FILE).stat().st_mode) == 0o600  # the admin token


def test_replicas_and_medmij_profile_are_valid(replicated):
    assert check_manifests(replicated) == []
    assert schema_problems(replicated.objects()) == []
    nexus = find(replicated, "Deployment", "dva-nexus")
    assert nexus["spec"]["replicas"] == 3
    # the replicas share one grant store: a claim many pods may mount, and a rolling update
    assert find(replicated, "PersistentVolumeClaim", "dva-nexus-state")["spec"][
        "accessModes"] == ["ReadWriteMany"]
    assert nexus["spec"]["strategy"]["type"] == "RollingUpdate"
    assert find(replicated, "PersistentVolumeClaim", "dva-lumen-state")["spec"][
        "accessModes"] == ["ReadWriteOnce"]
    assert find(replicated, "Deployment", "dva-lumen")["spec"]["strategy"]["type"] == "Recreate"
    assert find(replicated, "Service", "dva-nexus")["spec"]["ports"][0]["port"] == 443
    assert container(replicated, "dva-nexus")["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert find(replicated, "Secret", "tls-dva-nexus")["type"] == "kubernetes.io/tls"
    assert all(o["metadata"].get("namespace", "medmij-k8s") == "medmij-k8s"
               for o in replicated.objects())
    assert "locust.yaml" not in replicated.files and replicated.notes  # said why


def _drop_image(m: Manifests) -> None:
    del container(m, "dva-nexus")["image"]


def _wrong_selector(m: Manifests) -> None:
    find(m, "Deployment", "registry")["spec"]["selector"]["matchLabels"][
        "app.kubernetes.io/name"] = "registy"


def _service_selects_nothing(m: Manifests) -> None:
    find(m, "Service", "digid")["spec"]["selector"]["app.kubernetes.io/name"] = "digi"


def _probe_port(m: Manifests) -> None:
    container(m, "mgo")["livenessProbe"]["httpGet"]["port"] = "htp"


def _target_port(m: Manifests) -> None:
    find(m, "Service", "pgo-alpha")["spec"]["ports"][0]["targetPort"] = 9000


def _missing_secret(m: Manifests) -> None:
    m.files["secrets.yaml"] = [o for o in m.files["secrets.yaml"]
                               if o["metadata"]["name"] != "tls-dva-lumen"]


def _missing_key(m: Manifests) -> None:
    del find(m, "Secret", "pki-ca")["stringData"]["crl.pem"]


def _missing_claim(m: Manifests) -> None:
    m.files["pgo-beta.yaml"] = [o for o in m.files["pgo-beta.yaml"]
                                if o["kind"] != "PersistentVolumeClaim"]


def _unknown_mount(m: Manifests) -> None:
    container(m, "registry")["volumeMounts"][0]["name"] = "stat"


def _bad_name(m: Manifests) -> None:
    find(m, "ConfigMap", "sandbox-clock")["metadata"]["name"] = "Sandbox_Clock"


def _unlisted_file(m: Manifests) -> None:
    m.kustomization["resources"].remove("mgo.yaml")


def _twice(m: Manifests) -> None:
    m.files["config.yaml"].append(copy.deepcopy(m.files["config.yaml"][0]))


def _api_version(m: Manifests) -> None:
    find(m, "Deployment", "digid")["apiVersion"] = "extensions/v1beta1"


@pytest.mark.parametrize("mutate, expected", [
    (_drop_image, "has no image"),
    (_wrong_selector, "does not match its pod labels"),
    (_service_selects_nothing, "selects no Deployment"),
    (_probe_port, "probes port 'htp'"),
    (_target_port, "targetPort 9000"),
    (_missing_secret, "Secret 'tls-dva-lumen' is referenced but not defined"),
    (_missing_key, "has no key 'crl.pem'"),
    (_missing_claim, "PersistentVolumeClaim 'pgo-beta-state' is referenced"),
    (_unknown_mount, "unknown volume 'stat'"),
    (_bad_name, "DNS-1123"),
    (_unlisted_file, "kustomization lists"),
    (_twice, "defined twice"),
    (_api_version, "apiVersion"),
])
def test_an_inconsistent_manifest_is_caught(replicated, mutate, expected):
    broken = copy.deepcopy(replicated)
    mutate(broken)
    problems = check_manifests(broken)
    assert any(expected in p for p in problems), problems


def test_the_api_schema_catches_what_the_own_checks_do_not(default):
    objects = copy.deepcopy(default.objects())
    registry = next(o for o in objects if o["kind"] == "Deployment")
    pod = registry["spec"]["template"]["spec"]
    pod["containers"][0]["imagePullPolicy"] = 3  # a type error
    pod["containers"][0]["livenessProbe"]["httpGet"]["paht"] = "/health"  # an unknown field
    del pod["initContainers"][0]["name"]  # a required field
    problems = schema_problems(objects)
    assert len(problems) == 1 and all(w in problems[0] for w in
                                      ("imagePullPolicy", "paht", "name")), problems


@pytest.mark.parametrize("value", [
    "yes", "0.0.0.0", "-c", "a: b", "", "8000", "#x", "null", "é",
    "line one\n  indented\n\nlast\n", "no newline\nat the end", "  leading\nspace\n",
    "trailing \nspace\n", "two\n\n", "tab\there\n", {"a": [], "b": {}, "c": [[1, "x"], {}]},
    [{"k": [{"x": None, "y": True}]}], 3.5,
])
def test_yaml_reads_back_exactly(value):
    doc = {"v": value, "list": [value]}
    assert yaml.safe_load(to_yaml(doc)) == doc


@pytest.mark.anyio
async def test_nodes_load_the_config_and_serve_lists_in_medmij_names(default, tmp_path):
    data = json.loads(find(default, "ConfigMap", "sandbox-config")["data"]["sandbox.json"])
    assert data["state_dir"] == STATE
    assert data["addresses"]["dva-nexus.sandbox.test"] == "http://dva-nexus:8000"
    data["state_dir"] = str(tmp_path)  # the pod's /state
    config_file = tmp_path / "sandbox.json"
    config_file.write_text(json.dumps(data))
    config = SandboxConfig.load(config_file)
    transport = httpx.ASGITransport(build_app(config, "registry"))
    async with httpx.AsyncClient(transport=transport, base_url="http://registry:8000") as client:
        assert (await client.get("/health")).status_code == 200
        zal = (await client.get("/MedMij_Zorgaanbiederslijst.xml", params={"api": "1"})).text
    assert "https://dva-nexus.sandbox.test/" in zal and "dva-nexus:8000" not in zal


def test_the_clock_link_follows_the_configmap(tmp_path):
    """The init container links /state/clock.json to the clock ConfigMap; the kubelet
    updates a ConfigMap volume by swapping its ..data link, and every node sees the move."""
    state, clock_dir = tmp_path / "state", tmp_path / "clock"
    state.mkdir()
    clock_dir.mkdir()

    def kubelet_writes(offset: float, version: int) -> None:
        data = clock_dir / f"..v{version}"
        data.mkdir()
        (data / "clock.json").write_text(json.dumps({"offset_seconds": offset}))
        (clock_dir / "..tmp").symlink_to(data.name)
        os.replace(clock_dir / "..tmp", clock_dir / "..data")
        if not (clock_dir / "clock.json").is_symlink():
            (clock_dir / "clock.json").symlink_to("..data/clock.json")

    kubelet_writes(0.0, 1)
    (state / "clock.json").write_text("{}")  # a node's own file from before: replaced
    exec(LINK_CLOCK.replace(STATE, str(state)).replace(CLOCK_DIR, str(clock_dir)))  # noqa: S102
    clock = SandboxClock(state)
    assert clock.offset() == 0.0
    kubelet_writes(200 * 86400.0, 2)
    settle()  # nodes look at the file every RECHECK_SECONDS
    assert clock.offset() == 200 * 86400.0


def test_tls_secrets_are_what_a_node_loads(replicated, tmp_path):
    """The projected pki volume holds the files serve.py reads for the node's TLS."""
    deployment = find(replicated, "Deployment", "pgo-alpha")
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "pki")
    for source in volume["projected"]["sources"]:
        secret = find(replicated, "Secret", source["secret"]["name"])
        for item in source["secret"]["items"]:
            (tmp_path / item["path"]).write_text(secret["stringData"][item["key"]])
    tls.server_ssl_context(tmp_path, "pgo-alpha.sandbox.test")  # chain, key, CA and CRL


def test_every_node_holds_the_one_sandbox_secret_and_the_list_xsds(default, tmp_path):
    """Rules: each node has a claim of its own, so the sandbox secret (pseudonyms, the MGO's
    localisation credential) is one Secret every node mounts at /state/sandbox.secret, where
    ``ensure_secret`` reads it; the official list XSDs (the image does not ship them) are a
    ConfigMap mounted where the image's PGO_SANDBOX_SHARED finds them."""
    secret = find(default, "Secret", "sandbox-secret")["stringData"][SECRET_FILE]
    (tmp_path / SECRET_FILE).write_text(secret)
    assert ensure_secret(tmp_path) == bytes.fromhex(secret)
    xsds = find(default, "ConfigMap", "medmij-list-xsd")["data"]
    assert set(XSD_FILES.values()) <= set(xsds)
    for node in load_topology().nodes:
        mounts = {m["mountPath"]: m for m in container(default, node.id)["volumeMounts"]}
        assert mounts[f"/state/{SECRET_FILE}"]["subPath"] == SECRET_FILE
        assert "/state/shared/medmij/lists/xsd" in mounts


def test_cli_writes_manifests_and_refuses_unknown_names(tmp_path):
    out = tmp_path / "k8s"
    result = runner.invoke(app, ["deploy", "k8s", "--out", str(out), "--replicas",
                                 "dva-nexus=2", "--replicas", "locust-worker=4"])
    assert result.exit_code == 0, result.output
    written = read_manifests(out)
    assert check_manifests(written) == []
    assert written.files["dva-nexus.yaml"][1]["spec"]["replicas"] == 2
    assert written.files["locust.yaml"][3]["spec"]["replicas"] == 4
    for args, expected in [
        (["--replicas", "dva-nexsu=3"], "unknown node 'dva-nexsu'; known: registry"),
        (["--replicas", "dva-nexus"], "NAME=N"),
        (["--profile", "tls"], "unknown profile 'tls'"),
        (["--namespace", "Pgo_Sandbox"], "DNS-1123"),
    ]:
        result = runner.invoke(app, ["deploy", "k8s", "--out", str(tmp_path / "x"), *args])
        assert result.exit_code == 2 and expected in result.output, result.output
    assert not (tmp_path / "x").exists()


def test_attach_points_this_machine_at_the_port_forwards(replicated, tmp_path):
    out, state = tmp_path / "k8s", tmp_path / "state"
    replicated.write(out)
    result = runner.invoke(app, ["deploy", "attach", str(out), "--state-dir", str(state),
                                 "--base-port", "19500"])
    assert result.exit_code == 0, result.output
    sandbox = running(state)
    assert sandbox.url("registry") == "https://127.0.0.1:19500"
    assert sandbox.public_url("dva-nexus", "/x") == "https://dva-nexus.sandbox.test/x"
    assert sandbox.admin_headers == {"Authorization": "Bearer t0k3n"}
    assert stat.S_IMODE((state / "admin.token").stat().st_mode) == 0o600
    bundle = (state / "pki" / "ca-bundle.pem").read_bytes()
    assert bundle.startswith(b"-----BEGIN CERTIFICATE")
    # the CA commands here are the cluster's CA (its CA secret came with attach.json): a
    # participant's certificate is one the cluster's nodes accept, the bundle stays theirs
    secret = state / "pki" / "ca.secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    issued = runner.invoke(app, ["ca", "issue", "pgo-mine.sandbox.test", "--out",
                                 str(tmp_path / "mine"), "--state-dir", str(state)])
    assert issued.exit_code == 0, issued.output
    assert (state / "pki" / "ca-bundle.pem").read_bytes() == bundle
    cluster_ca = x509.load_pem_x509_certificates(bundle)[1]
    mine = x509.load_pem_x509_certificates(
        (tmp_path / "mine" / "pgo-mine.sandbox.test.crt").read_bytes())[0]
    mine.verify_directly_issued_by(cluster_ca)
    assert runner.invoke(app, ["deploy", "detach", "--state-dir", str(state)]).exit_code == 0
    assert not (state / "runtime.json").exists()
    assert runner.invoke(app, ["deploy", "detach", "--state-dir", str(state)]).exit_code == 1
    missing = runner.invoke(app, ["deploy", "attach", str(tmp_path), "--state-dir", str(state)])
    assert missing.exit_code == 2 and ATTACH_FILE in missing.output


def test_attach_refuses_over_another_runtime(default, tmp_path):
    out, state = tmp_path / "k8s", tmp_path / "state"
    default.write(out)
    state.mkdir()
    (state / "runtime.json").write_text(json.dumps(
        {"runtime": "local", "profile": "loopback", "addresses": {}, "processes": {},
         "started": 0.0}))
    result = runner.invoke(app, ["deploy", "attach", str(out), "--state-dir", str(state)])
    assert result.exit_code == 1 and "down" in result.output
    assert json.loads((state / "runtime.json").read_text())["runtime"] == "local"


def test_generate_refuses_an_unknown_profile():
    with pytest.raises(ValueError, match="profile"):
        deploy_k8s.generate(load_topology(), profile="tls")


def test_attach_keeps_a_local_ca_and_revoke_names_the_way_to_the_cluster(replicated,
                                                                         tmp_path):
    """Rules: attaching over a state directory that holds a CA of its own (a local sandbox's,
    whose outside participants hold its certificates) is refused, nothing written; and in an
    attached state `ca revoke` says the pods follow the Secret's CRL (regenerate and apply)
    instead of claiming the registry's CRL reaches them."""
    out, local, state = tmp_path / "k8s", tmp_path / "local", tmp_path / "state"
    replicated.write(out)
    from sandbox.pki import Pki

    Pki(load_topology().seed, local / "pki")
    held = (local / "pki" / "ca.secret").read_bytes()
    result = runner.invoke(app, ["deploy", "attach", str(out), "--state-dir", str(local)])
    assert result.exit_code == 1 and "holds a CA of its own" in result.output, result.output
    assert (local / "pki" / "ca.secret").read_bytes() == held
    assert not (local / "runtime.json").exists()

    assert runner.invoke(app, ["deploy", "attach", str(out), "--state-dir",
                               str(state)]).exit_code == 0
    again = runner.invoke(app, ["deploy", "attach", str(out), "--state-dir", str(state)])
    assert again.exit_code == 0, again.output  # the same cluster's CA: no conflict
    assert runner.invoke(app, ["ca", "issue", "pgo-mine.sandbox.test", "--out",
                               str(tmp_path / "mine"), "--state-dir", str(state)]).exit_code == 0
    revoked = runner.invoke(app, ["ca", "revoke", "pgo-mine.sandbox.test", "--state-dir",
                                  str(state)], env={"COLUMNS": "200"})
    assert revoked.exit_code == 0 and "deploy k8s" in revoked.output, revoked.output
