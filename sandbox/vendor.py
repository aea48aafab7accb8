"""A PGO vendor's exit, as MedMij Beheer and the curator carry it out over the nodes' APIs.

Every call to an admin API (the DVP's curator routes, the registry's) carries the sandbox's
admin token (``Running.admin_headers``).
"""

from __future__ import annotations

import time

import httpx

from sandbox.state import Running
from simulators.common.http import sync_client
from simulators.common.lists import parse_list
from simulators.medmij import LIST_PATHS, OAuthError, build_scope


def _ocl_volgnummer(client: httpx.Client, sandbox: Running) -> int:
    r = client.get(sandbox.url("registry", LIST_PATHS["ocl"]), params={"api": "1"})
    r.raise_for_status()
    return parse_list("ocl", r.content)[0]


def bankrupt(sandbox: Running, dvp: str, notice: str | None = None) -> dict:
    """Curator mode at the vendor, then removal from OCL and Whitelist at the registry."""
    node = sandbox.topology.node(dvp)
    with sync_client(sandbox.info.addresses) as client:
        r = client.post(sandbox.url(node.id, "/admin/curator"),
                        json={"notice": notice} if notice else None,
                        headers=sandbox.admin_headers)
        r.raise_for_status()
        before = _ocl_volgnummer(client, sandbox)
        r = client.delete(sandbox.url("registry", f"/admin/clients/{node.hostname}"),
                          headers=sandbox.admin_headers)
        if r.status_code not in (200, 404):
            r.raise_for_status()
        published = time.time()
        after = _ocl_volgnummer(client, sandbox)
    return {"dvp": node.hostname, "ocl_volgnummer_before": before,
            "ocl_volgnummer_after": after, "published_at": published,
            "already_removed": r.status_code == 404}


class ErasureFailed(RuntimeError):
    """The curator's check found personal data left after erasure."""

    def __init__(self, answer: dict) -> None:
        hits = ", ".join(f"{h['file']} ({h['held_in']})" for h in answer.get("hits", [])[:10])
        super().__init__(f"erasure incomplete: {answer.get('error_description')}; {hits}")
        self.answer = answer


class SettleRefused(RuntimeError):
    """The DVP refused the settlement (409): e.g. the vendor is not bankrupt."""


def settle(sandbox: Running, dvp: str) -> dict:
    """The bankruptcy is settled: the curator erases all personal data and checks every file
    of the vendor for it; raises ErasureFailed when anything is found, SettleRefused when the
    DVP refuses (not bankrupt)."""
    with sync_client(sandbox.info.addresses) as client:
        r = client.post(sandbox.url(dvp, "/admin/erase"), headers=sandbox.admin_headers)
        if r.status_code == 409:
            try:
                answer = r.json()
            except ValueError:
                answer = {}
            if answer.get("error") == "erasure_incomplete":
                raise ErasureFailed(answer)
            reason = answer.get("error_description") or answer.get("detail") or r.text[:300]
            raise SettleRefused(f"{dvp} refused the settlement: {reason}")
        r.raise_for_status()
        return r.json()


def readmit(sandbox: Running, dvp: str) -> None:
    """Put the vendor back (a fresh, empty vendor under the same name): resets the drill."""
    node = sandbox.topology.node(dvp)
    with sync_client(sandbox.info.addresses) as client:
        client.post(sandbox.url(node.id, "/admin/reopen"),
                    headers=sandbox.admin_headers).raise_for_status()
        client.post(sandbox.url("registry", "/admin/clients"),
                    json={"hostname": node.hostname, "name": node.name},
                    headers=sandbox.admin_headers).raise_for_status()
    wait_admitted(sandbox, dvp)


def wait_cut_off(sandbox: Running, dvp: str, timeout: float = 60.0) -> dict[str, float]:
    """Seconds until each DVA refuses the vendor at its authorize endpoint (its list refresh)."""
    return _wait_dvas(sandbox, dvp, accepted=False, timeout=timeout)


def wait_admitted(sandbox: Running, dvp: str, timeout: float = 60.0) -> dict[str, float]:
    """Seconds until each DVA accepts the vendor again."""
    return _wait_dvas(sandbox, dvp, accepted=True, timeout=timeout)


def _wait_dvas(sandbox: Running, dvp: str, accepted: bool, timeout: float) -> dict[str, float]:
    node = sandbox.topology.node(dvp)
    redirect_uri = sandbox.public_url(node.id, "/oauth/callback")
    start = time.time()
    done: dict[str, float] = {}
    with sync_client(sandbox.info.addresses) as client:
        while len(done) < len(sandbox.topology.dvas):
            for dva in sandbox.topology.dvas:
                if dva.id in done:
                    continue
                provider = next(p for p in sandbox.topology.providers if p.dva == dva.hostname)
                r = client.get(sandbox.public_url(dva.id, "/oauth/authorize"), params={
                    "response_type": "code", "client_id": node.hostname, "state": "probe",
                    "redirect_uri": redirect_uri, "scope": build_scope(provider.name)})
                refused = r.status_code == 400 and OAuthError.INVALID_REQUEST in r.text
                if refused != accepted:
                    done[dva.id] = time.time() - start
            if time.time() - start > timeout:
                waiting = [d.id for d in sandbox.topology.dvas if d.id not in done]
                state = "accept" if accepted else "refuse"
                raise TimeoutError(f"DVAs do not {state} {node.hostname} yet: {waiting}")
            time.sleep(0.05)
    return done
