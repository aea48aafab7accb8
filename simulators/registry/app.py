"""The registry node: MedMij lists at their official paths, an admin API for MedMij Beheer,
and the localisation index keyed by pseudonymised BSN.

``create_app`` wires the parts: the list state (``state.RegistryState``), the population the
localisation index is read from, the clock that dates new lists, the routers (``routes``,
``admin``) and the one error model (``errors``). Each can be injected by a test.
"""

from __future__ import annotations

from fastapi import FastAPI

from simulators.common.app import node_app
from simulators.common.clock import Clock
from simulators.common.config import SandboxConfig
from simulators.common.people import population_for
from simulators.population import Population
from simulators.registry import admin, crl, dashboard, errors, routes
from simulators.registry.faulting import use_faults
from simulators.registry.state import RegistryState


def create_app(config: SandboxConfig, node_id: str, *, state: RegistryState | None = None,
               population: Population | None = None, clock: Clock | None = None) -> FastAPI:
    """The Stelselnode. Defaults: the state persisted in the node's directory, the sandbox
    population, the sandbox clock (``clock`` is used only when ``state`` is built here)."""
    app = node_app(config, node_id, "MedMij Stelselnode (sandbox)")
    app.state.registry = state if state is not None else RegistryState(
        config, config.node_dir(node_id) / "registry.json", clock=clock)
    app.state.population = population if population is not None else population_for(config)
    use_faults(app.state.faults, app.state.registry)  # the system faults (issue 16)
    errors.install(app)
    app.include_router(routes.router)
    app.include_router(admin.router)
    app.include_router(crl.router)  # the CRL distribution point (revocation in containers)
    dashboard.install(app)  # the live ecosystem dashboard (issue 15 items 1 and 2)
    return app
