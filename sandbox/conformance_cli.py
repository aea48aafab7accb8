"""`pgo-sandbox conformance`: run the official Nictiz MedMij TestScripts against a DVA, check
a PGO's requests against the PHR-Client scripts, and the PGO x DVA x gegevensdienst matrix.

``conformance dva --provider umcsandbox@medmij`` gets a token per test person as a DVP would
(authorize -> DigiD -> consent -> token, a fresh browser per person, so no single sign-on) and
runs the XIS-Server scripts of the provider's standard against its FHIR endpoint. The scripts
expect the Nictiz reference patients: start the sandbox with ``--reference`` (see README).
``conformance dva --base URL --token TOKEN`` runs them against any FHIR base.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sandbox.cli_common import StateDir, make_out_dir, make_out_file, running_or_exit
from sandbox.names import check_name, check_names
from sandbox.state import Running
from simulators.conformance import pgocheck, report
from simulators.conformance.model import LoadError, load
from simulators.conformance.results import ScriptResult
from simulators.conformance.runner import Engine
from simulators.conformance.suites import STANDARDS, default_root, person_keys, xis_scripts
from simulators.medmij import provider_slug

console = Console()
err = Console(stderr=True)


class FlowFailed(RuntimeError):
    """The MedMij flow did not give a token for a person."""


def reference_persons(sandbox: Running, provider: str, service: str) -> list[dict]:
    """The persons after the synthetic population that ``provider`` serves in ``service``:
    the reference test patients loaded with ``up --reference``."""
    from simulators.common.http import sync_client

    with sync_client(sandbox.info.addresses) as client:
        r = client.get(sandbox.url("digid", "/api/test-persons"), params={
            "provider": provider, "service": service, "n": 100,
            "start": sandbox.topology.population})
    return r.json() if r.status_code == 200 else []


def sandbox_token(sandbox: Running, provider: str, bsn: str, dvp: str = "pgo-alpha") -> str:
    """An access token for the person, through the real flow as DVP ``dvp``."""
    from scenarios.oauth_probe import exchange, get_code
    from scenarios.useragent import FlowError
    from simulators.common.http import sync_client

    try:
        code, redirect_uri = get_code(sandbox, provider, bsn, dvp=dvp)
    except FlowError as exc:
        raise FlowFailed(f"authorize/DigiD/consent for BSN {bsn}: {exc}") from exc
    with sync_client(sandbox.info.addresses) as client:
        r = exchange(client, sandbox, provider, code, redirect_uri,
                     sandbox.topology.node(dvp).hostname)
    if r.status_code != 200 or "access_token" not in r.json():
        raise FlowFailed(f"token endpoint answered {r.status_code}: {r.text[:200]}")
    return r.json()["access_token"]


def run_sandbox_suite(sandbox: Running, provider: str, standards: list[str] | None = None,
                      goals: list[str] | None = None, formats: list[str] | None = None,
                      root: Path | None = None, dvp: str = "pgo-alpha",
                      match: str | None = None, on_script=None) -> list[ScriptResult]:
    """Run the XIS-Server scripts against ``provider``'s DVA in a running sandbox."""
    from scenarios.oauth_probe import resource_base
    from simulators.common.http import sync_client

    p = sandbox.topology.provider(provider)
    if standards is None:
        standards = [s for s, (_v, _f, service) in STANDARDS.items()
                     if service in p.gegevensdiensten]
    root = root or default_root()
    if root is None:
        raise FileNotFoundError("Nictiz testscripts not found: pass --testscripts DIR")
    results = []
    tokens: dict[str, str | Exception] = {}
    persons: dict[str, list[dict]] = {}
    with sync_client(sandbox.info.addresses) as client:
        for item in xis_scripts(root, standards, goals, formats):
            if match and match not in item.path.name:
                continue
            script = load(item.path)
            engine = Engine(resource_base(sandbox, provider, item.service), client=client)
            if item.service not in p.gegevensdiensten:
                results.append(engine.skipped(script, f"{provider} does not offer "
                                              f"gegevensdienst {item.service}", item.labels()))
                continue
            if item.service not in persons:
                persons[item.service] = reference_persons(sandbox, provider, item.service)
            variables, problem = {}, None
            for var, key in person_keys(script.variables).items():
                person = next((x for x in persons[item.service] if key in x["name"]), None)
                if person is None:
                    problem = (f"reference patient {key} is not served by {provider}: start "
                               f"the sandbox with --reference {provider}="
                               f"{item.reference_folder}")
                    break
                if person["bsn"] not in tokens:
                    try:
                        tokens[person["bsn"]] = sandbox_token(sandbox, provider, person["bsn"],
                                                              dvp)
                    except FlowFailed as exc:
                        tokens[person["bsn"]] = exc
                token = tokens[person["bsn"]]
                if isinstance(token, Exception):
                    problem = f"no token for {key}: {token}"
                    break
                variables[var] = f"Bearer {token}"
            result = (engine.skipped(script, problem, item.labels()) if problem
                      else engine.run(script, variables, item.labels()))
            results.append(result)
            if on_script:
                on_script(result)
    return results


def run_outside_suite(base: str, token: str | None, standards: list[str],
                      goals: list[str] | None = None, formats: list[str] | None = None,
                      root: Path | None = None, variables: dict[str, str] | None = None,
                      match: str | None = None, on_script=None) -> list[ScriptResult]:
    """Run the XIS-Server scripts against any FHIR base; ``token`` fills every
    ``patient-token-*`` variable (a server with one test person per script)."""
    root = root or default_root()
    if root is None:
        raise FileNotFoundError("Nictiz testscripts not found: pass --testscripts DIR")
    results = []
    with Engine(base) as engine:
        for item in xis_scripts(root, standards, goals, formats):
            if match and match not in item.path.name:
                continue
            script = load(item.path)
            values = {var: (token if token.lower().startswith("bearer ") else f"Bearer {token}")
                      for var in person_keys(script.variables)} if token else {}
            values.update(variables or {})
            result = engine.run(script, values, item.labels())
            results.append(result)
            if on_script:
                on_script(result)
    return results


# -- conformance pgo: what a PGO sent, as the DVAs recorded it -----------------------------------

def request_marks(sandbox: Running) -> dict[str, int]:
    """Per DVA node the sequence number of its last recorded request: a window starts here."""
    from simulators.common.http import sync_client

    marks = {}
    with sync_client(sandbox.info.addresses) as client:
        for node in sandbox.topology.dvas:
            r = client.get(sandbox.url(node.id, "/admin/requests"), params={"since": 1 << 62},
                           headers=sandbox.admin_headers)
            r.raise_for_status()
            marks[node.id] = r.json()["last_seq"]
    return marks


def recorded_requests(sandbox: Running, client_id: str, since: dict[str, int] | None = None,
                      anonymous: bool = True) -> list[dict]:
    """The FHIR requests the sandbox's DVAs recorded from ``client_id`` (the client of the
    token), after ``since``; with ``anonymous`` also those without a valid token, which no
    token ties to a client (so check one PGO at a time)."""
    from simulators.common.http import sync_client

    out = []
    with sync_client(sandbox.info.addresses) as client:
        for node in sandbox.topology.dvas:
            r = client.get(sandbox.url(node.id, "/admin/requests"), headers=sandbox.admin_headers,
                           params={"since": (since or {}).get(node.id, 0),
                                   "client_id": client_id, "anonymous": anonymous})
            r.raise_for_status()
            out += [x | {"dva": node.id} for x in r.json()["requests"]]
    return out


def check_pgo(sandbox: Running, client: str, since: dict[str, int] | None = None,
              root: Path | None = None, anonymous: bool = True,
              cells: set[tuple[str, str]] | None = None) -> list[pgocheck.CellResult]:
    """Every (provider, gegevensdienst) the client sent requests to, checked against the
    PHR-Client expectations; ``cells`` (slug, service) limits the check and names cells that
    must have requests (an empty cell fails: nothing was sent)."""
    hostname = sandbox.topology.node(client).hostname
    requests = recorded_requests(sandbox, hostname, since, anonymous)
    scripts = pgocheck.tsv_scripts(root or default_root())
    grouped = pgocheck.group(requests)
    keys = sorted(cells) if cells is not None else sorted(grouped)
    return [pgocheck.check_cell(hostname, slug, service, grouped.get((slug, service), []),
                                scripts) for slug, service in keys]


def print_pgo_results(results: list[pgocheck.CellResult]) -> None:
    from rich.table import Table

    table = Table(title="PGO requests against the PHR-Client expectations")
    for column in ("client", "provider", "dienst", "requests", "result", "problems"):
        table.add_column(column)
    for r in results:
        kinds = ", ".join(f"{k} ×{n}" for k, n in sorted(r.kinds().items()))
        table.add_row(r.client.split(".")[0], r.provider, r.service, str(len(r.requests)),
                      "pass" if r.passed else "FAIL", kinds or ("" if r.requests
                                                               else "no requests"))
    console.print(table)
    for r in results:
        for p in r.problems[:12]:
            console.print(f"  {r.provider}/{r.service} {p.kind}: {p.message}"
                          + (f" [{p.request}]" if p.request else ""), markup=False,
                          highlight=False)
        if len(r.problems) > 12:
            console.print(f"  ... {len(r.problems) - 12} more", markup=False)


# -- conformance matrix: every PGO x DVA x gegevensdienst -------------------------------------

def run_matrix(sandbox: Running, root: Path | None = None, dvps: list[str] | None = None,
               providers: list[str] | None = None, on_cell=None) -> dict:
    """A collect through each PGO for each provider's collect services, then the PGO check
    of that cell; share services are listed as not collected. One cell at a time, so the
    requests of a cell are exactly those after its mark."""
    from scenarios import collect
    from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN

    topology = sandbox.topology
    started = time.perf_counter()
    cells = []
    for dvp in dvps or [d.id for d in topology.dvps]:
        for p in topology.providers:
            if providers and p.name not in providers and p.slug not in providers:
                continue
            for service in p.gegevensdiensten:
                cell = {"pgo": dvp, "dva": topology.node(p.dva).id, "provider": p.name,
                        "service": service}
                if GEGEVENSDIENSTEN[service].is_share:
                    cells.append(cell | {"status": "n/a", "reason": "share (Delen) service"})
                    continue
                t0 = time.perf_counter()
                mark = request_marks(sandbox)
                scenario = collect.run(sandbox, dvp=dvp, provider=p.name, service=service)
                if not scenario.ok:
                    cell |= {"status": "collect-failed", "reason": scenario.failure()}
                else:
                    checked = check_pgo(sandbox, dvp, mark, root, cells={(p.slug, service)})[0]
                    cell |= {"status": "pass" if checked.passed else "fail",
                             "requests": len(checked.requests),
                             "problems": [x.to_dict() for x in checked.problems]}
                cell["seconds"] = round(time.perf_counter() - t0, 2)
                cells.append(cell)
                if on_cell:
                    on_cell(cell)
    return {"cells": cells, "seconds": round(time.perf_counter() - started, 1),
            "summary": dict(sorted(_count(c["status"] for c in cells).items()))}


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


STATUS_SCORE = {"pass": 1.0, "fail": 0.0, "collect-failed": -1.0}


def write_heatmap(matrix: dict, path: Path) -> None:
    """PNG heatmap: rows PGOs, columns provider/gegevensdienst; green pass, red fail, dark
    red collect failed, grey not applicable (share services)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    cells = matrix["cells"]
    rows = list(dict.fromkeys(c["pgo"] for c in cells))
    def column(c: dict) -> str:
        return f"{provider_slug(c['provider'])}\n{c['service']} ({c['dva']})"

    cols = list(dict.fromkeys(column(c) for c in cells))
    grid = [[float("nan")] * len(cols) for _ in rows]
    labels = [[""] * len(cols) for _ in rows]
    for c in cells:
        i = rows.index(c["pgo"])
        j = cols.index(column(c))
        grid[i][j] = STATUS_SCORE.get(c["status"], float("nan"))
        labels[i][j] = c["status"] if c["status"] != "fail" else f"fail ({len(c['problems'])})"
    fig, ax = plt.subplots(figsize=(1.6 * len(cols) + 2, 0.8 * len(rows) + 2))
    cmap = ListedColormap(["#8b0000", "#d9534f", "#5cb85c"]).with_extremes(bad="#dddddd")
    import numpy as np

    ax.imshow(np.ma.masked_invalid(np.array(grid)), cmap=cmap, vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows)
    for i in range(len(rows)):
        for j in range(len(cols)):
            ax.text(j, i, labels[i][j] or "n/a", ha="center", va="center", fontsize=7)
    ax.set_title("PGO x DVA x gegevensdienst: collect + PHR-Client request check")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _choices(value: str | None, allowed: tuple[str, ...], what: str) -> list[str] | None:
    if value in (None, "all"):
        return None
    check_name(what.lstrip("-"), value, (*allowed, "all"))
    return [value]


def register(app: typer.Typer) -> None:
    """Add the ``conformance`` sub-app to the main CLI."""
    conformance = typer.Typer(help="Run the official Nictiz MedMij TestScripts.\n\n"
                              "Example: pgo-sandbox conformance dva --provider "
                              "umcsandbox@medmij", no_args_is_help=True)
    app.add_typer(conformance, name="conformance")

    @conformance.command("dva")
    def dva(
        provider: Annotated[str | None, typer.Option(
            help="A provider of the running sandbox, e.g. umcsandbox@medmij.")] = None,
        base: Annotated[str | None, typer.Option(
            help="Any FHIR base URL instead of a sandbox provider.")] = None,
        token: Annotated[str | None, typer.Option(
            help="Bearer token for --base (fills every patient-token-* variable).")] = None,
        var: Annotated[list[str] | None, typer.Option(
            help="Script variable NAME=VALUE (repeatable).")] = None,
        standard: Annotated[str | None, typer.Option(
            help="bgz | immunization | all (default: what the provider offers; all "
                 "with --base).")] = None,
        goal: Annotated[str, typer.Option(help="Test | Cert | all.")] = "all",
        fmt: Annotated[str, typer.Option("--format", help="json | xml | all.")] = "all",
        match: Annotated[str | None, typer.Option(
            help="Only scripts whose file name contains this.")] = None,
        testscripts: Annotated[Path | None, typer.Option(
            help="The Nictiz testscripts folder (default ../shared/medmij/testscripts).")
        ] = None,
        dvp: Annotated[str, typer.Option(help="The DVP whose client gets the tokens.")
                       ] = "pgo-alpha",
        json_out: Annotated[Path | None, typer.Option("--json", help="Write JSON here.")
                            ] = None,
        junit_out: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML.")
                             ] = None,
        testreports: Annotated[Path | None, typer.Option(
            help="Write one FHIR TestReport (R4 JSON) per script into this folder.")] = None,
        state_dir: StateDir = None,
    ) -> None:
        """Run the XIS-Server scripts (what a DVA must answer) against a DVA.

        Example: pgo-sandbox conformance dva --provider umcsandbox@medmij --format json
        --junit out.xml. Exit code 1 when an assert failed, 2 when nothing could run.
        """
        if (provider is None) == (base is None):
            raise typer.BadParameter("give either --provider or --base")
        standards = _choices(standard, tuple(STANDARDS), "--standard")
        goals = _choices(goal if goal == "all" else goal.capitalize(), ("Test", "Cert"),
                         "--goal")
        formats = _choices(fmt, ("json", "xml"), "--format")
        variables = {}
        for item in var or []:
            name, eq, value = item.partition("=")
            if not eq:
                raise typer.BadParameter(f"--var {item!r}: use NAME=VALUE")
            variables[name] = value
        for path, option in ((json_out, "--json"), (junit_out, "--junit")):
            if path is not None:  # before the suite runs
                make_out_file(path, option)
        if testreports is not None:
            make_out_dir(testreports, "--testreports")
        started = time.perf_counter()

        def progress(result: ScriptResult) -> None:
            c = result.counts()
            err.print(f"{result.id}: {c['passed']}/{c['asserts']} passed, {c['failed']} failed"
                      f", {c['not_evaluated']} not evaluated ({result.seconds:.1f}s)",
                      markup=False, highlight=False)
        try:
            if provider is not None:
                sandbox = running_or_exit(state_dir)
                topo = sandbox.topology
                check_name("provider", provider, [p.name for p in topo.providers]
                           + [p.slug for p in topo.providers])
                check_name("DVP", dvp, [n.id for n in topo.dvps])
                results = run_sandbox_suite(sandbox, provider, standards, goals, formats,
                                            testscripts, dvp, match, progress)
            else:
                results = run_outside_suite(base or "", token, standards or list(STANDARDS),
                                            goals, formats, testscripts, variables, match,
                                            progress)
        except (FileNotFoundError, LoadError) as exc:
            err.print(str(exc))
            raise typer.Exit(2) from exc
        report.print_table(results, console)
        console.print(f"suite time: {time.perf_counter() - started:.1f} s")
        if json_out:
            report.write_json(results, json_out)
        if junit_out:
            report.write_junit(results, junit_out)
        if testreports:
            report.write_testreports(results, testreports)
        if not results:
            raise typer.Exit(2)
        if any(r.counts()["failed"] or r.counts()["operations_failed"] for r in results):
            raise typer.Exit(1)

    @conformance.command("pgo")
    def pgo(
        client: Annotated[str, typer.Option(
            help="The PGO (DVP) to check: node id or hostname, e.g. pgo-alpha.")],
        since: Annotated[int, typer.Option(
            help="Only requests after this sequence number (per DVA).")] = 0,
        anonymous: Annotated[bool, typer.Option(
            help="Count requests without a valid token as this client's (no token ties "
                 "them to a client: check one PGO at a time).")] = True,
        testscripts: Annotated[Path | None, typer.Option(
            help="The Nictiz testscripts folder (default ../shared/medmij/testscripts).")
        ] = None,
        json_out: Annotated[Path | None, typer.Option("--json", help="Write JSON here.")
                            ] = None,
        state_dir: StateDir = None,
    ) -> None:
        """Check what a PGO sent to the sandbox's DVAs against the PHR-Client TestScripts:
        missing and extra searches, Authorization, patient=/subject=, MedMij headers, Accept.

        Run a collect first (pgo-sandbox scenario run collect). Exit code 1 when a check
        failed, 2 when the PGO sent nothing.

        Example: pgo-sandbox scenario run collect --dvp pgo-beta && pgo-sandbox conformance
        pgo --client pgo-beta
        """
        sandbox = running_or_exit(state_dir)
        check_name("DVP", client, [n.id for n in sandbox.topology.dvps]
                   + [n.hostname for n in sandbox.topology.dvps])
        if json_out is not None:
            make_out_file(json_out, "--json")
        marks = {node.id: since for node in sandbox.topology.dvas}
        results = check_pgo(sandbox, client, marks, testscripts, anonymous)
        print_pgo_results(results)
        if json_out:
            import json

            json_out.write_text(json.dumps([r.to_dict() for r in results], indent=1))
        if not results:
            err.print(f"no requests of {client} recorded: run a collect first")
            raise typer.Exit(2)
        if not all(r.passed for r in results):
            raise typer.Exit(1)

    @conformance.command("matrix")
    def matrix(
        out: Annotated[Path, typer.Option(help="Folder for matrix.json and matrix.png.")
                       ] = Path("conformance-matrix"),
        pgo_: Annotated[list[str] | None, typer.Option(
            "--pgo", help="Only these PGOs (repeatable).")] = None,
        provider: Annotated[list[str] | None, typer.Option(
            help="Only these providers (repeatable).")] = None,
        testscripts: Annotated[Path | None, typer.Option(
            help="The Nictiz testscripts folder (default ../shared/medmij/testscripts).")
        ] = None,
        state_dir: StateDir = None,
    ) -> None:
        """Every PGO x DVA x gegevensdienst: a collect through the PGO, then the PGO check
        of that cell. Writes matrix.json and matrix.png (heatmap). Exit code 1 when a cell
        failed.

        Example: pgo-sandbox conformance matrix --out matrix/ --pgo pgo-alpha
        """
        import json

        sandbox = running_or_exit(state_dir)
        topo = sandbox.topology
        check_names("DVP", pgo_ or [], [n.id for n in topo.dvps])
        check_names("provider", provider or [], [p.name for p in topo.providers]
                    + [p.slug for p in topo.providers])
        make_out_dir(out)  # before the matrix runs for minutes

        def progress(cell: dict) -> None:
            err.print(f"{cell['pgo']} x {cell['provider']} {cell['service']}: {cell['status']}"
                      f" ({cell['seconds']} s)", markup=False, highlight=False)
        result = run_matrix(sandbox, testscripts, pgo_, provider, progress)
        (out / "matrix.json").write_text(json.dumps(result, indent=1))
        write_heatmap(result, out / "matrix.png")
        console.print(f"{result['summary']} in {result['seconds']} s; wrote {out}/matrix.json "
                      f"and {out}/matrix.png")
        if any(c["status"] in ("fail", "collect-failed") for c in result["cells"]):
            raise typer.Exit(1)
