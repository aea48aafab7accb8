"""The registry's public routes: the MedMij lists at their official paths, and localisation.

Plain handlers; the registry state and the population come from ``app.state`` through the
dependencies below (``create_app`` puts them there).

``/localisation`` answers the inspection function only (``require_inspection``): where the
registry serves TLS, the caller's certificate must be the inspection function's (the serving
gate already wants one on the Whitelist); in every profile it presents its credential
(``pseudonym.localisation_credential``) as a bearer token. Anyone else gets 401 or 403 in the
registry's error shape, before the pseudonym is even read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from simulators.common import pseudonym as pseudonyms
from simulators.common.html import render
from simulators.common.lists import parse_list
from simulators.common.security import check_bearer
from simulators.common.tls import peer_hostname, uses_tls
from simulators.medmij import LIST_PATHS
from simulators.population import Population
from simulators.registry.errors import UnsupportedApi
from simulators.registry.faulting import served_list
from simulators.registry.localisation import localise
from simulators.registry.state import RegistryState

XML = "application/xml; charset=utf-8"
KIND_OF_PATH = {path: kind for kind, path in LIST_PATHS.items()}
RELEASE3_ZAL_API = "2"  # ?api=2: the ZAL in its release3 shape
SUPPORTED_API = {"1"}  # ?api=1: the release2 lists (GNL release1)

router = APIRouter()


def get_state(request: Request) -> RegistryState:
    return request.app.state.registry


def get_population(request: Request) -> Population:
    return request.app.state.population


State = Annotated[RegistryState, Depends(get_state)]
People = Annotated[Population, Depends(get_population)]


async def serve_list(request: Request, state: State, api: str = Query("1")) -> Response:
    """api=1: the release2 lists (GNL release1); api=2: the release3 ZAL."""
    path = request.url.path
    kind = KIND_OF_PATH[path]
    book = request.app.state.faults
    if api == RELEASE3_ZAL_API and kind == "zal":
        return Response(served_list(book, state, "zal3", path), media_type=XML)
    if api not in SUPPORTED_API:
        raise UnsupportedApi(api, "1, 2" if kind == "zal" else "1")
    return Response(served_list(book, state, kind, path), media_type=XML)


for _kind, _path in LIST_PATHS.items():
    router.add_api_route(_path, serve_list, methods=["GET"], name=f"list_{_kind}")


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    """The registry's root is its lists for people (not a JSON 404)."""
    return RedirectResponse("/lists", status_code=303)


@router.get("/lists", response_class=HTMLResponse)
async def lists_page(request: Request, state: State) -> str:
    """The four lists as tables for people (trainers, policy makers); the same content as
    the XML at the MedMij paths, read back through the parser every node uses."""
    parsed = {kind: parse_list(kind, state.render(kind)) for kind in LIST_PATHS}
    topology = request.app.state.config.topology
    gnl = parsed["gnl"][1]
    zal = [(name, sorted(services.items())) for name, services in
           sorted(parsed["zal"][1].items())]
    return render("registry_lists.html", title="MedMij-lijsten",
                  banner="MedMij Stelselnode (sandbox)", paths=list(LIST_PATHS.items()),
                  volgnummers={k: v[0] for k, v in parsed.items()}, zal=zal, gnl=gnl,
                  display={p.name: p.display for p in topology.providers},
                  ocl=sorted(parsed["ocl"][1].items(), key=lambda c: c[1]),
                  whitelist=sorted(parsed["whitelist"][1]), gnl_rows=sorted(gnl.items()))


def require_inspection(request: Request) -> None:
    """Only the inspection function asks the localisation index (FastAPI dependency): its
    certificate where the registry serves TLS, its bearer credential always."""
    config = request.app.state.config
    inspection = config.topology.inspection.hostname
    if uses_tls(config, config.topology.registry.hostname):
        peer = peer_hostname(request.scope)
        if peer is None:
            raise HTTPException(401, "localisation: mutual TLS with the inspection "
                                     "function's certificate required")
        if peer != inspection:
            raise HTTPException(403, f"localisation answers only the inspection function, "
                                     f"not {peer}")
    check_bearer(request, pseudonyms.localisation_credential(config.secret, inspection),
                 "localisation answers only the inspection function: send its credential as "
                 "Authorization: Bearer", "localisation")


@router.get("/localisation", dependencies=[Depends(require_inspection)])
async def localisation(request: Request, state: State, population: People,
                       pseudonym: str = Query(min_length=8)) -> dict:
    """Which listed providers hold data on the person behind a localisation pseudonym."""
    config = request.app.state.config
    return {"providers": localise(config.secret, config.topology.registry.hostname, population,
                                  state.providers, pseudonym)}
