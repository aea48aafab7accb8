"""How the DVA's routers reach the node's ``DVA`` service: a FastAPI dependency on the app's
state (set once by ``create_app``), so handlers are plain module-level functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from simulators.dva.service import DVA


def get_dva(request: Request) -> DVA:
    return request.app.state.dva


DvaDep = Annotated[DVA, Depends(get_dva)]
