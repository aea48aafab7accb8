"""`pgo-sandbox ca` and `pgo-sandbox hosts`: the sandbox PKI and the loopback address plan for
developers who bring their own DVP or DVA (issue 13).

Both read the topology (and so the seed) of the sandbox running under the state directory, or
the packaged default topology (or ``--topology FILE``) when none runs. Certificates live in the
state directory's ``pki/`` folder, so `ca revoke` finds what `ca issue` made.

Revocation reaches a running sandbox as PKIoverheid's does, through a published CRL: the local
runtime's nodes follow ``pki/crl.pem`` itself; containers (docker, compose, swarm) hold a copy
made at ``up``, so `ca revoke` hands the new CRL to the running registry (``PUT /admin/crl``
with the admin token) and every node fetches it from there with its list refresh.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Annotated

import httpx
import typer
from cryptography.hazmat.primitives import serialization
from rich.console import Console
from rich.markup import escape

from sandbox import addressing
from sandbox.cli_common import StateDir, make_out_dir
from sandbox.deploy_cli import RUNTIME as K8S_RUNTIME
from sandbox.pki import Pki, PkiError, valid_hostname
from sandbox.state import NotRunning, Running, default_state_dir, running
from simulators.common import tls
from simulators.common.http import sync_client
from simulators.medmij.topology import Topology, TopologyError, load_topology

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
USAGE_EXIT = 2  # bad input, as Click's UsageError; 1 is for what did not work
MAX_DAYS = 36500  # --days: 100 years (the issuing CA ends sooner; the certificate with it)

TopologyOpt = Annotated[Path | None, typer.Option(
    "--topology", help="Topology TOML to use when no sandbox runs (default: the packaged one).",
    exists=True, dir_okay=False, show_default=False)]
Out = Annotated[Path, typer.Option("--out", help="Folder to write into (created if missing).",
                                   file_okay=False)]


def sandbox_topology(state_dir: Path | None, topology: Path | None = None
                     ) -> tuple[Path, Topology]:
    """The state directory and the topology of the sandbox running there, else the given or
    packaged topology."""
    state = (state_dir or default_state_dir()).resolve()
    try:
        return state, running(state).topology
    except NotRunning:
        pass
    try:
        return state, load_topology(topology)
    except TopologyError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc


def open_pki(state: Path, topology: Topology) -> Pki:
    """The state directory's PKI; one the commands may not open (made before its CA secret,
    a damaged secret) is exit 1 with what to do."""
    try:
        return Pki(topology.seed, state / "pki")
    except PkiError as exc:
        raise _fail(str(exc)) from exc


def _fail(message: str, code: int = 1) -> typer.Exit:
    """Say why on stderr; the exit to raise (1: it did not work; 2: a usage error)."""
    err.print(f"[red]{escape(message)}[/]", highlight=False)
    return typer.Exit(code)


def _usage(message: str) -> typer.Exit:
    """Bad input (an unknown name, a folder that cannot be one): exit 2."""
    return _fail(message, USAGE_EXIT)


def _known(topology: Topology, pki: Pki) -> str:
    names = [n.hostname for n in topology.nodes]
    names += [h for h in pki.issued_hostnames() if h not in names]
    return ", ".join(names)


def _resolve(topology: Topology, name: str) -> str | None:
    """A topology node's hostname for its hostname or id, else None."""
    try:
        return topology.node(name.lower()).hostname
    except KeyError:
        return None


def hand_over_crl(sandbox: Running, pem: bytes) -> str | None:
    """Give the running registry the new CRL when the sandbox runs in containers (their PKI
    folder is a copy made at ``up``); what it answered, or None where nodes read the file
    itself (local runtime) or serve no TLS. ``typer.Exit(1)`` when the registry refused it
    or did not answer: the revocation is on file but the nodes do not know it yet."""
    registry = sandbox.topology.registry.hostname
    if sandbox.info.runtime == "local" or not tls.uses_tls(sandbox.config, registry):
        return None
    if sandbox.info.runtime == K8S_RUNTIME:  # the pods follow the Secret's crl.pem, not the
        return ("the cluster's nodes follow the crl.pem of the pki-ca Secret, not the "  # registry
                "registry: generate the files again (`pgo-sandbox deploy k8s`) and apply them")
    headers = {**sandbox.admin_headers, "Content-Type": "application/x-pem-file"}
    try:
        with sync_client(sandbox.info.addresses, timeout=30.0) as client:
            r = client.put(sandbox.url(registry, "/admin/crl"), content=pem, headers=headers)
    except httpx.HTTPError as exc:
        raise _fail(f"revoked on file, but the running registry did not answer ({exc}); "
                    "run `pgo-sandbox ca revoke` again once it does") from exc
    if r.status_code != 200:
        try:
            why = r.json().get("error_description", r.text[:300])
        except ValueError:
            why = r.text[:300]
        raise _fail(f"revoked on file, but the running registry refused the CRL "
                    f"({r.status_code}): {why}")
    answer = r.json()
    return (f"the registry publishes CRL number {answer['crl_number']}; every node refuses "
            f"the certificate within {sandbox.topology.list_refresh_seconds:g} s "
            "(its list refresh)")


def register(app: typer.Typer) -> None:
    """Add the `ca` command group and the `hosts` command to the pgo-sandbox CLI."""
    ca_app = typer.Typer(
        help="The sandbox PKI (root and issuing CA shaped like PKIoverheid Private Services): "
        "export the CA bundle, issue and revoke certificates.\n\n"
        "Example: pgo-sandbox ca export --out ./sandbox-ca",
        no_args_is_help=True)
    app.add_typer(ca_app, name="ca")

    @ca_app.command("export")
    def export(out: Out, state_dir: StateDir = None, topology: TopologyOpt = None) -> None:
        """Write the CA bundle (root + issuing CA) and the CRL for your DVP or DVA to trust.

        Example: pgo-sandbox ca export --out ./sandbox-ca
        """
        state, topo = sandbox_topology(state_dir, topology)
        pki = open_pki(state, topo)
        make_out_dir(out)
        for path in pki.export(out):
            console.print(f"wrote {path}", highlight=False)
        der = pki.root.certificate.public_bytes(serialization.Encoding.DER)
        console.print(f"root {pki.root.certificate.subject.rfc4514_string()}\n"
                      f"  SHA-256 fingerprint {hashlib.sha256(der).hexdigest()}", highlight=False)
        console.print("Trust ca-bundle.pem in your implementation's TLS settings only, not in "
                      "the system store: it is a sandbox CA, valid for .test names only.")

    @ca_app.command("issue")
    def issue(
        hostname: Annotated[str, typer.Argument(
            help="MedMij hostname (under .test), or a node id of the topology.")],
        out: Out,
        organisation: Annotated[str | None, typer.Option(
            "--organisation", help="O= in the subject (default: the node's name, or the "
            "hostname's first label).", show_default=False)] = None,
        expired: Annotated[bool, typer.Option(
            "--expired", help="Drill: a certificate that ended on 2024-01-02.")] = False,
        days: Annotated[int | None, typer.Option(
            "--days", min=1, max=MAX_DAYS, help="Valid for N more days, up to 36500 (default: "
            "to 1 January two years after this year's).", show_default=False)] = None,
        state_dir: StateDir = None, topology: TopologyOpt = None,
    ) -> None:
        """Issue a server+client certificate for a node or an outside DVP/DVA.

        Writes HOSTNAME.crt (certificate + issuing CA), HOSTNAME.key (0600), ca-bundle.pem.

        A copy stays in the state directory, so `ca revoke` can find it.

        Example: pgo-sandbox ca issue pgo-mine.sandbox.test --organisation "Mijn PGO" --out ./tls
        """
        state, topo = sandbox_topology(state_dir, topology)
        pki = open_pki(state, topo)
        node_hostname = _resolve(topo, hostname)
        if node_hostname is not None:
            hostname = node_hostname
            organisation = organisation or topo.node(hostname).name
        elif valid_hostname(hostname.lower()):
            hostname = hostname.lower()
            organisation = organisation or hostname.split(".")[0]
        else:
            raise _usage(f"unknown hostname {hostname!r}: not a node of the topology and not "
                         f"a DNS name under .test; known: {_known(topo, pki)}")
        make_out_dir(out)  # before issuing: a bad --out leaves the PKI as it was
        try:
            issued = pki.issue(hostname, organisation, expired=expired, days=days)
        except PkiError as exc:  # e.g. an --organisation too short or too long
            raise _usage(str(exc)) from exc
        for source in (pki.cert_path(hostname), pki.key_path(hostname), pki.bundle_path):
            shutil.copy2(source, out / source.name)  # copy2 keeps the key's 0600
        cert = issued.certificate
        console.print(
            f"issued {hostname} (O={organisation}) serial {cert.serial_number:x}\n"
            f"  valid {cert.not_valid_before_utc:%Y-%m-%d} .. {cert.not_valid_after_utc:%Y-%m-%d}"
            f"\n  certificate {out / pki.cert_path(hostname).name}"
            f"\n  key         {out / pki.key_path(hostname).name}"
            f"\n  CA bundle   {out / pki.bundle_path.name}", highlight=False)

    @ca_app.command("revoke")
    def revoke(
        hostname: Annotated[str, typer.Argument(
            help="Hostname (or node id) whose current certificate goes on the CRL.")],
        state_dir: StateDir = None, topology: TopologyOpt = None,
    ) -> None:
        """Put a hostname's current certificate on the issuing CA's CRL (a revocation drill).

        A running sandbox refuses it from the next handshake: local nodes follow the CRL
        file; in containers the registry is handed the new CRL and every node fetches it
        with its list refresh. A later `ca issue` for the same hostname makes a fresh key
        and serial.

        Example: pgo-sandbox ca revoke pgo-beta.sandbox.test
        """
        state, topo = sandbox_topology(state_dir, topology)
        pki = open_pki(state, topo)
        name = _resolve(topo, hostname) or hostname.lower()
        if pki.current(name) is None:
            if _resolve(topo, name) is None:
                raise _usage(f"unknown hostname {hostname!r}: no certificate issued for it; "
                             f"known: {_known(topo, pki)}")
            pki.issue(name, topo.node(name).name)  # the node's deterministic certificate
        serial = pki.revoke(name)
        console.print(f"revoked {name} serial {serial:x}; CRL {pki.crl_path}", highlight=False)
        try:
            sandbox = running(state)
        except NotRunning:
            return  # the next `up` takes the CRL from the PKI folder
        handed = hand_over_crl(sandbox, pki.crl_path.read_bytes())
        if handed:
            console.print(handed, highlight=False)

    @app.command("hosts")
    def hosts(
        write: Annotated[bool, typer.Option(
            "--write", help="Install the lines between marker comments (idempotent).")] = False,
        remove: Annotated[bool, typer.Option(
            "--remove", help="Remove the marked lines again.")] = False,
        hosts_file: Annotated[Path, typer.Option(
            "--hosts-file", help="The hosts file to edit.", dir_okay=False)
        ] = addressing.HOSTS_FILE,
        state_dir: StateDir = None, topology: TopologyOpt = None,
    ) -> None:
        """Print the /etc/hosts lines of the medmij profile: each node on its own loopback
        address (127.77.0.N), so browsers reach https://<hostname> on port 443.

        Editing /etc/hosts needs root.

        Example: sudo pgo-sandbox hosts --write
        """
        if write and remove:
            raise _usage("choose --write or --remove, not both")
        _, topo = sandbox_topology(state_dir, topology)
        plan = addressing.topology_plan(topo)
        try:
            if remove:
                changed = addressing.remove(hosts_file)
                what = "removed the sandbox lines from" if changed else "no sandbox lines in"
                console.print(f"{what} {hosts_file}", highlight=False)
                return
            if write:
                changed = addressing.install(plan, hosts_file)
                console.print(f"{'updated' if changed else 'already up to date:'} {hosts_file}",
                              highlight=False)
                return
        except addressing.HostsFileError as exc:
            raise _fail(str(exc)) from exc
        for line in addressing.hosts_lines(plan):
            typer.echo(line)
