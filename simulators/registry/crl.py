"""The registry as the sandbox CA's CRL distribution point (issue 13: revocation in containers).

PKIoverheid publishes each CA's CRL at a public URL that every relying party fetches; here the
registry plays that part, as it already publishes the lists every node polls:

- ``GET /pki/crl.pem`` (``tls.CRL_PATH``): the newest CRL the registry holds, for anyone (a
  CRL is public, signed, and checked by whoever takes it);
- ``PUT /admin/crl`` with the admin token and a PEM CRL as the body: ``pgo-sandbox ca revoke``
  hands over the new CRL when the sandbox runs in containers, whose PKI folder is a read-only
  copy made at ``up``. It is taken only under ``revocation.check_crl``: signed by the sandbox's
  issuing CA (else 400), not older than the held one (else 409), so an old or forged CRL
  never unrevokes a certificate.

The registry keeps it in its node directory (``revocation.CrlFile``), the file its own TLS server
follows in containers; in the local runtime it also takes the PKI folder's ``crl.pem`` when
that changes (``ca revoke`` writes it there).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from simulators.common import revocation, tls
from simulators.common.app import require_admin
from simulators.registry.errors import ChangeRefused, RegistryError

router = APIRouter()
MAX_CRL_BYTES = 1 << 20  # the sandbox's CRL is a few hundred bytes per revocation
PEM_TYPE = "application/x-pem-file"


def held_crl(request: Request) -> revocation.CrlFile:
    """The registry's CRL file, made on first use; 404 for a sandbox without a PKI (plain
    HTTP containers, the loopback profile)."""
    crl = getattr(request.app.state, "crl", None)
    if crl is None:
        config = request.app.state.config
        pki_dir = config.state_dir / "pki"
        if not (pki_dir / tls.BUNDLE).exists():
            raise RegistryError(404, "this sandbox has no PKI (it serves plain HTTP), so no CRL")
        crl = revocation.CrlFile(pki_dir, config.node_dir(request.app.state.node_id) / tls.CRL_FILE)
        request.app.state.crl = crl
    return crl


HeldCrl = Annotated[revocation.CrlFile, Depends(held_crl)]


def _summary(crl: revocation.CrlFile, changed: bool) -> dict:
    held = crl.crl
    return {"changed": changed, "crl_number": crl.number,
            "this_update": held.last_update_utc.isoformat() if held is not None else None,
            "revoked": len(list(held)) if held is not None else 0}


@router.get(tls.CRL_PATH, include_in_schema=False)
async def published_crl(crl: HeldCrl) -> Response:
    """The newest CRL held (no-cache: a relying party must see a revocation at once)."""
    crl.adopt_published()
    return Response(crl.pem, media_type=PEM_TYPE, headers={"cache-control": "no-cache"})


@router.put("/admin/crl", dependencies=[Depends(require_admin)])
async def hand_over_crl(request: Request, crl: HeldCrl) -> dict:
    """Take a newer CRL signed by the sandbox CA; every node fetches it on its next list
    refresh. 400: not a CRL of the sandbox CA, or expired; 409: older than the one held."""
    body = await request.body()
    if len(body) > MAX_CRL_BYTES:
        raise ChangeRefused(400, f"a CRL of at most {MAX_CRL_BYTES} bytes, got {len(body)}")
    try:
        changed = crl.offer(body)
    except revocation.CrlStale as exc:
        raise ChangeRefused(409, f"CRL refused: {exc}") from exc
    except revocation.CrlRefused as exc:
        raise ChangeRefused(400, f"CRL refused: {exc}") from exc
    return _summary(crl, changed)
