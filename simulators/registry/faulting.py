"""The registry's system faults (issue 16): what MedMij's Stelselnode can do wrong.

- ``lists_stale``: the lists are served frozen as they were when the fault was set (a change
  by MedMij Beheer is published but not served);
- ``lists_unreachable`` and ``registry_down``: list paths, or every path but the admin API,
  answer 503 (``simulators.common.faults.FaultMiddleware``);
- ``lower_volgnummer``: a list is served with a Volgnummer below the one last published (a
  node must keep its newer list, SPEC: a Volgnummer never goes down);
- ``vendor_removed``: a DVP is taken off the OCL (and so the Whitelist) at once, as MedMij
  Beheer would; ``pgo-sandbox vendor readmit`` puts it back.
"""

from __future__ import annotations

from simulators.common.faults import REGISTRY_KINDS, Fault, FaultBook, FaultError
from simulators.medmij import LIST_PATHS
from simulators.registry.errors import ChangeRefused
from simulators.registry.state import RegistryState


def use_faults(book: FaultBook, state: RegistryState) -> None:
    """Teach the node's book the registry kinds and their actions."""
    book.supports(REGISTRY_KINDS)

    def freeze(fault: Fault) -> None:
        fault.state["lists"] = {kind: state.render(kind) for kind in (*LIST_PATHS, "zal3")}

    def remove_vendor(fault: Fault) -> None:
        name = fault.params["hostname"]
        try:
            hostname = state.config.topology.node(name).hostname
        except KeyError:
            hostname = name
        try:
            fault.state["changed"] = state.remove_client(hostname)
        except ChangeRefused as exc:
            raise FaultError(f"vendor_removed: {exc.description}") from None

    book.actions["lists_stale"] = freeze
    book.actions["vendor_removed"] = remove_vendor


def served_list(book: FaultBook, state: RegistryState, kind: str, path: str) -> bytes:
    """The list ``kind`` (``zal3``: the release3 ZAL) as the faults have it served."""
    if book.active:
        stale = book.take("lists_stale", path=path)
        if stale is not None:
            return stale.state["lists"][kind]
        lower = book.take("lower_volgnummer", path=path)
        if lower is not None:
            return state.render_volgnummer(kind, -lower.params["by"])
    return state.render(kind)
