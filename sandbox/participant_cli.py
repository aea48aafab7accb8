"""`pgo-sandbox participant`: bring your own DVP or DVA into a running sandbox (issue 13 item 4).

Every command goes through the registry's admin API (MedMij Beheer) with the sandbox's admin
token, so nothing restarts: the other nodes pick the change up on their next list refresh
(``list_refresh_seconds`` in the topology). ``add-dvp`` and ``add-dva`` then print exactly
what the outside implementation must configure: the list URLs, the CA bundle, its own
certificate and key (issued by the sandbox PKI for its hostname) and test BSNs.

``external_statuses`` is the `status` view of outside participants (declared in the topology
or added live): their ``/health`` when they answer it, else "external, not probed".
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import httpx
import typer
from rich.console import Console

from sandbox.cli_common import StateDir, running_or_exit
from sandbox.pki import Pki, PkiError
from sandbox.runtime import NodeStatus
from sandbox.state import Running
from simulators.common import tls
from simulators.common.config import SandboxConfig
from simulators.common.http import sync_client
from simulators.medmij import LIST_PATHS
from simulators.medmij.topology import read_outside

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

Hostname = Annotated[str, typer.Option(
    "--hostname", help="Your implementation's MedMij hostname, under the sandbox domain "
    "(e.g. pgo-mine.sandbox.test).", show_default=False)]
Name = Annotated[str, typer.Option(
    "--name", help="Organisation name (3-50 characters); for a DVP the OCL's "
    "OAuthclientOrganisatienaam, shown on consent screens.", show_default=False)]
PROBE_SECONDS = 2.0


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{message}[/]", highlight=False)
    return typer.Exit(1)


def _running(state_dir: Path | None) -> Running:
    """The sandbox under ``state_dir`` (``running`` makes this process trust its CA in the
    medmij profile: without it ``--state-dir`` of another sandbox than ``$PGO_SANDBOX_HOME``'s
    failed every call with a certificate error)."""
    return running_or_exit(state_dir)


def _admin(sandbox: Running, method: str, path: str, body: dict | None = None) -> dict:
    """One call to the registry's admin API; a refusal is printed with its reason."""
    with sync_client(sandbox.info.addresses, timeout=30.0) as client:
        try:
            r = client.request(method, sandbox.url("registry", path), json=body,
                               headers=sandbox.admin_headers)
        except httpx.HTTPError as exc:
            raise _fail(f"the registry did not answer: {exc}") from exc
    try:
        answer = r.json()
    except ValueError:
        answer = {}
    if r.status_code >= 400:
        raise _fail(f"refused ({r.status_code} {answer.get('error', '')}): "
                    f"{answer.get('error_description', r.text[:300])}")
    return answer


def _open_pki(sandbox: Running) -> Pki:
    """The state directory's PKI, opened before the registry is asked anything: one the
    command may not use (``sandbox.pki.ca_secret``) leaves the lists as they were."""
    try:
        return Pki(sandbox.topology.seed, sandbox.state_dir / "pki")
    except PkiError as exc:
        raise _fail(str(exc)) from exc


def _certificate(pki: Pki, hostname: str, name: str) -> None:
    """Issue the participant's server+client certificate into the state directory's pki/."""
    try:
        pki.issue(hostname, name)
    except PkiError as exc:
        raise _fail(str(exc)) from exc


def _test_persons(sandbox: Running, provider: str | None, n: int = 3) -> list[dict]:
    params: dict = {"n": n} | ({"provider": provider} if provider else {})
    with sync_client(sandbox.info.addresses, timeout=30.0) as client:
        try:
            r = client.get(sandbox.url("digid", "/api/test-persons"), params=params)
        except httpx.HTTPError:
            return []
    return r.json() if r.status_code == 200 else []


def _configuration(sandbox: Running, hostname: str, pki: Pki) -> list[str]:
    """What every outside implementation configures: lists, trust, its own certificate."""
    lines = ["Configure your implementation with:", "  MedMij lists (poll them, newest Volgnummer "
             f"wins; nodes here refresh every {sandbox.topology.list_refresh_seconds:g} s):"]
    for kind, path in LIST_PATHS.items():  # the names the lists use, not our addresses
        lines.append(f"    {kind:<9} {sandbox.public_url('registry', path)}?api=1")
    lines += [
        f"  CA bundle      {pki.bundle_path}   (or: pgo-sandbox ca export --out DIR)",
        f"  certificate    {pki.cert_path(hostname)}",
        f"  key            {pki.key_path(hostname)}",
        f"  profile        {sandbox.config.profile}"
        + ("  (plain HTTP on 127.0.0.1: the lists carry http://127.0.0.1:<port> URIs and are "
           "not ZAL-XSD-valid; TLS comes with the medmij profile)"
           if sandbox.config.profile == "loopback" else ""),
    ]
    if sandbox.config.profile == "medmij":
        lines += [
            "  TLS            verify every server against the CA bundle (hostname checked); "
            "present your certificate on every back channel (lists, token, resource)",
            "  addresses      resolve the sandbox's hostnames (/etc/hosts, or your client's "
            "own resolver), port 443:",
            *[f"    {urlsplit(base).hostname:<15} {host}"
              for host, base in sandbox.info.addresses.items()],
            f"  your endpoints https://{hostname}/... on an unused loopback address, port 443; "
            "the sandbox's nodes find it through /etc/hosts",
        ]
    return lines


def _persons_lines(title: str, persons: list[dict]) -> list[str]:
    if not persons:
        return [f"  {title}: none found"]
    return [f"  {title}:"] + [f"    BSN {p['bsn']}  {p['name']}" for p in persons]


def register(app: typer.Typer) -> None:
    """Add the `participant` command group to the pgo-sandbox CLI."""
    participant = typer.Typer(
        help="Outside participants: list your own DVP or DVA in the running sandbox, live.\n\n"
        "Example: pgo-sandbox participant add-dvp --hostname pgo-mine.sandbox.test "
        "--name 'Mijn PGO' --redirect-uri http://127.0.0.1:9100/callback",
        no_args_is_help=True)
    app.add_typer(participant, name="participant")

    @participant.command("add-dvp")
    def add_dvp(
        hostname: Hostname, name: Name,
        redirect_uri: Annotated[str, typer.Option(
            "--redirect-uri", help="Where the DVAs send the person back with the code. "
            "Loopback profile: http://127.0.0.1:<port>/...; medmij: https://<hostname>/...",
            show_default=False)],
        state_dir: StateDir = None,
    ) -> None:
        """Put your PGO (DVP) on the OCL and Whitelist of the running sandbox.

        Example: pgo-sandbox participant add-dvp --hostname pgo-mine.sandbox.test
        --name "Mijn PGO" --redirect-uri http://127.0.0.1:9100/callback
        """
        sandbox = _running(state_dir)
        hostname = hostname.lower()
        pki = _open_pki(sandbox)
        answer = _admin(sandbox, "POST", "/admin/clients",
                        {"hostname": hostname, "name": name, "redirect_uri": redirect_uri})
        _certificate(pki, hostname, name)
        lines = [f"{hostname} ({name}) is on the OCL and Whitelist"
                 f"{'' if answer.get('changed') else ' (already was)'}; every DVA accepts it "
                 "after its next list refresh.", *_configuration(sandbox, hostname, pki),
                 f"  client_id      {hostname}", f"  redirect_uri   {redirect_uri}",
                 "  endpoints      per provider and gegevensdienst, from the ZAL",
                 "Test persons (log in at DigiD with the BSN):"]
        for provider in sandbox.topology.providers[:4]:
            lines += _persons_lines(f"with data at {provider.name}",
                                    _test_persons(sandbox, provider.name, 2))
        console.print("\n".join(lines), highlight=False)

    @participant.command("add-dva")
    def add_dva(
        hostname: Hostname, name: Name,
        provider: Annotated[str, typer.Option(
            "--provider", help="Zorgaanbiedernaam on the ZAL, e.g. mijnkliniek@medmij.",
            show_default=False)],
        service: Annotated[list[str], typer.Option(
            "--service", help="GegevensdienstId (repeat; one --authorize/--token/--resource "
            "each, in the same order).", show_default=False)],
        authorize: Annotated[list[str], typer.Option(
            "--authorize", help="Authorization endpoint URL.", show_default=False)],
        token: Annotated[list[str], typer.Option(
            "--token", help="Token endpoint URL.", show_default=False)],
        resource: Annotated[list[str], typer.Option(
            "--resource", help="Resource endpoint URL (FHIR base).", show_default=False)],
        display: Annotated[str | None, typer.Option(
            "--display", help="The provider's name as people know it.", show_default=False)
        ] = None,
        state_dir: StateDir = None,
    ) -> None:
        """Put a provider of your DVA on the ZAL (your own endpoint URLs) and your DVA on
        the Whitelist of the running sandbox. Run it again per provider.

        Example: pgo-sandbox participant add-dva --hostname dva-mine.sandbox.test
        --name "Mijn DVA" --provider mijnkliniek@medmij --display "Mijn Kliniek"
        --service 48 --authorize http://127.0.0.1:9200/auth/start
        --token http://127.0.0.1:9200/auth/token
        --resource http://127.0.0.1:9200/api/fhir/mijnkliniek/48
        """
        if not len(service) == len(authorize) == len(token) == len(resource):
            raise _fail("give one --authorize, --token and --resource per --service")
        sandbox = _running(state_dir)
        hostname = hostname.lower()
        endpoints = {s: {"authorize": a, "token": t, "resource": r}
                     for s, a, t, r in zip(service, authorize, token, resource, strict=True)}
        if len(endpoints) != len(service):
            raise _fail("each --service once")
        pki = _open_pki(sandbox)
        answer = _admin(sandbox, "POST", "/admin/providers", {
            "name": provider, "dva": hostname, "gegevensdiensten": list(service),
            "endpoints": endpoints, "dva_name": name, "display": display})
        _certificate(pki, hostname, name)
        lines = [f"{provider} is on the ZAL at {hostname} ({name}), {hostname} on the "
                 f"Whitelist{'' if answer.get('changed') else ' (already was)'}; every PGO "
                 "sees it after its next list refresh.", *_configuration(sandbox, hostname, pki),
                 "  OCL            check client_id (and the Whitelist) against it at authorize "
                 "and token",
                 f"  DigiD          {sandbox.public_url('digid', '/login')} (relying parties are "
                 "the topology's DVAs; an outside DVA identifies persons itself)"]
        lines += _persons_lines("test persons DigiD knows (serve data for one of them)",
                                _test_persons(sandbox, None, 3))
        console.print("\n".join(lines), highlight=False)

    @participant.command("list")
    def list_(state_dir: StateDir = None) -> None:
        """The outside DVPs and DVAs, declared in the topology or added live.

        Example: pgo-sandbox participant list
        """
        sandbox = _running(state_dir)
        found = _admin(sandbox, "GET", "/admin/participants")["participants"]
        if not found:
            console.print("no outside participants")
        for host, record in sorted(found.items()):  # plain lines: URLs are never cut off
            where = (f"redirect_uri {record['redirect_uri']}" if record.get("redirect_uri")
                     else f"providers {', '.join(record.get('providers', [])) or '-'}")
            console.print(f"{host}  {record['role'].upper()}  {record['name']!r}  "
                          f"{'declared in the topology' if record['declared'] else 'added live'}"
                          f"  {'listed' if record['listed'] else 'NOT listed'}  {where}  "
                          f"(at {record['url']})", highlight=False)

    @participant.command("remove")
    def remove(
        hostname: Annotated[str, typer.Argument(help="The participant's hostname.")],
        state_dir: StateDir = None,
    ) -> None:
        """Take an outside participant off every list (a vendor's exit): its OCL entry, its
        providers on the ZAL, its Whitelist entry. DVAs refuse it after their next refresh.

        Example: pgo-sandbox participant remove pgo-mine.sandbox.test
        """
        sandbox = _running(state_dir)
        answer = _admin(sandbox, "DELETE", f"/admin/participants/{hostname.lower()}")
        console.print(f"removed {hostname} from {', '.join(answer['changed']) or 'no list'}",
                      highlight=False)


def external_statuses(config: SandboxConfig) -> list[NodeStatus]:
    """Outside participants for `status`: declared in the topology and added live. The
    sandbox did not start them, so it only asks: ``/health`` 200 is healthy, another answer
    "external, not probed" (they need not have one), no answer unhealthy."""
    nodes = {n.hostname: (n.id, n.role, n.url) for n in config.topology.externals}
    for hostname, url in read_outside(config.state_dir).items():
        nodes.setdefault(hostname, (hostname.split(".")[0], "outside", url))

    async def probe(client: httpx.AsyncClient, url: str) -> tuple[bool, str]:
        try:
            r = await client.get(f"{url.rstrip('/')}/health", timeout=PROBE_SECONDS)
        except httpx.HTTPError as exc:
            return False, f"external, not answering ({type(exc).__name__})"
        if r.status_code == 200:
            return True, "external, /health 200"
        return True, f"external, not probed (/health {r.status_code})"

    # medmij: an outside participant serves a sandbox-issued certificate (the CA of this
    # sandbox, see LocalRuntime.status); a default client would call it "not answering"
    verify = tls.client_ssl_context() if config.profile == "medmij" else True

    async def run() -> list[tuple[bool, str]]:
        async with httpx.AsyncClient(verify=verify) as client:
            return list(await asyncio.gather(*(probe(client, u) for _, _, u in nodes.values())))

    results = asyncio.run(run()) if nodes else []
    return [NodeStatus(node_id, role, host, url, ok, detail)
            for (host, (node_id, role, url)), (ok, detail) in zip(nodes.items(), results,
                                                                   strict=True)]
