"""``pgo-sandbox vendor bankrupt|settle|readmit``: a PGO vendor's exit, step by step."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sandbox.cli_common import StateDir, running_or_exit
from sandbox.names import check_name

console = Console()
err = Console(stderr=True)


vendor_app = typer.Typer(help="A PGO vendor's exit: bankruptcy, settlement, readmission.\n\n"
                         "Example: pgo-sandbox vendor bankrupt pgo-gamma",
                         no_args_is_help=True)


def _vendor_or_exit(sandbox, dvp: str) -> None:
    """Refuse a DVP name the topology does not have, with the names it does have."""
    check_name("DVP", dvp, [n.id for n in sandbox.topology.dvps])


@vendor_app.command("bankrupt")
def vendor_bankrupt(dvp: Annotated[str, typer.Argument(help="DVP node id, e.g. pgo-gamma.")],
                    state_dir: StateDir = None) -> None:
    """Declare a vendor bankrupt: curator mode at the DVP, removal from OCL and Whitelist.

    DVAs refuse it after their next list refresh. Example: pgo-sandbox vendor bankrupt pgo-gamma
    """
    from sandbox import vendor

    sandbox = running_or_exit(state_dir)
    _vendor_or_exit(sandbox, dvp)
    outcome = vendor.bankrupt(sandbox, dvp)
    console.print(f"{outcome['dvp']} is in curator mode; OCL Volgnummer "
                  f"{outcome['ocl_volgnummer_before']} -> {outcome['ocl_volgnummer_after']}")
    seconds = vendor.wait_cut_off(sandbox, dvp)
    for dva, t in sorted(seconds.items()):
        console.print(f"  {dva} refuses it after {t:.2f} s")


@vendor_app.command("settle")
def vendor_settle(dvp: Annotated[str, typer.Argument(help="DVP node id.")],
                  state_dir: StateDir = None) -> None:
    """Settle the bankruptcy: the curator erases all personal data and logs it.

    Example: pgo-sandbox vendor settle pgo-gamma
    """
    from sandbox import vendor

    sandbox = running_or_exit(state_dir)
    _vendor_or_exit(sandbox, dvp)
    try:
        entry = vendor.settle(sandbox, dvp)
    except (vendor.ErasureFailed, vendor.SettleRefused) as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from exc
    console.print_json(data=entry)


@vendor_app.command("readmit")
def vendor_readmit(dvp: Annotated[str, typer.Argument(help="DVP node id.")],
                   state_dir: StateDir = None) -> None:
    """Admit the vendor again (an empty vendor under the same name): resets the drill.

    Example: pgo-sandbox vendor readmit pgo-gamma
    """
    from sandbox import vendor

    sandbox = running_or_exit(state_dir)
    _vendor_or_exit(sandbox, dvp)
    vendor.readmit(sandbox, dvp)
    console.print(f"{dvp} is on the OCL and Whitelist again")


def register(app: typer.Typer) -> None:
    """Add the ``vendor`` commands to the pgo-sandbox CLI."""
    app.add_typer(vendor_app, name="vendor")
