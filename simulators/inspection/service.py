"""What the inspection function does, without HTTP routing: resolve the DigiD artifact to a
localisation pseudonym, ask the registry which providers to visit, send the person to each
provider's DVA in turn, collect live, and count what came back.

It needs the person only to find providers: from DigiD's answer it reads the localisation
pseudonym and nothing else (never a BSN), and keeps nothing of the pseudonym afterwards.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlencode

import httpx

from simulators.common.clock import Clock
from simulators.common.config import SandboxConfig
from simulators.common.health_summary import GROUPS, can_show, group_resources
from simulators.common.html import render
from simulators.common.http import medmij_headers
from simulators.common.lists import ListCache, ServiceEndpoints, expired
from simulators.common.medmij_client import CollectError, run_searches, token_request
from simulators.common.pseudonym import localisation_credential
from simulators.inspection.errors import LocalisationFailed, LoginNotConfirmed
from simulators.inspection.sessions import ViewSession
from simulators.medmij import build_scope

LISTS_TOO_OLD = "the MedMij lists are older than allowed: no provider is trusted now"


class InspectionFunction:
    """One inspection node's addresses, back channel, lists and clock."""

    def __init__(self, config: SandboxConfig, node_id: str, http: httpx.AsyncClient,
                 lists: ListCache, clock: Clock) -> None:
        node = config.topology.node(node_id)
        self.config = config
        self.hostname = node.hostname  # also its OAuth client_id and DigiD relying party
        self.name = node.name
        self.http = http
        self.lists = lists
        self.clock = clock
        self.digid_base = config.public_base(config.topology.digid.hostname)
        self.registry_base = config.public_base(config.topology.registry.hostname)
        self.redirect_uri = config.public_url(node.hostname, "/oauth/callback")

    def digid_login_url(self, relay_state: str) -> str:
        query = urlencode({"rp": self.hostname, "return_to": self.config.public_url(
            self.hostname, "/digid/acs"), "RelayState": relay_state})
        return f"{self.digid_base}/login?{query}"

    async def localise(self, artifact: str, correlation_id: str) -> list[dict]:
        """The providers to visit for the person DigiD identified by ``artifact``."""
        try:
            answer = await self.http.post(f"{self.digid_base}/artifact",
                                          data={"artifact": artifact, "rp": self.hostname})
            # the pseudonym only: whatever else DigiD's answer carries is neither read nor kept
            pseudonym = answer.json().get("localisation_pseudonym") \
                if answer.status_code == 200 else None
            if not isinstance(pseudonym, str) or not pseudonym:
                raise LoginNotConfirmed("Uw DigiD-login kon niet worden bevestigd.")
            # the registry answers the inspection function only: its certificate on the
            # back channel (medmij profile) and its credential, derived from the sandbox secret
            credential = localisation_credential(self.config.secret, self.hostname)
            found = await self.http.get(f"{self.registry_base}/localisation",
                                        params={"pseudonym": pseudonym},
                                        headers={**medmij_headers(correlation_id),
                                                 "Authorization": f"Bearer {credential}"})
            found.raise_for_status()
            return [{"provider": e["provider"], "gegevensdiensten": e["gegevensdiensten"]}
                    for e in found.json()["providers"]]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            raise LocalisationFailed() from None

    def display(self, provider: str) -> str:
        """The provider as people know it ("UMC Sandbox"), from the topology."""
        try:
            return self.config.topology.provider(provider).display
        except KeyError:
            return provider

    def _services(self, provider: str) -> dict[str, ServiceEndpoints]:
        return self.lists.lists.zal.get(provider, {})

    def next_authorization(self, session: ViewSession, state: str) -> str | None:
        """The authorize URL of the next provider still on the ZAL (remembering ``state``
        for it), or None when every provider was visited. With lists older than allowed no
        provider is visited: each is an overview line "could not be reached now"."""
        while session.queue:
            entry = session.queue.pop(0)
            if expired(self.lists):
                session.results.append(self.unreachable(entry, LISTS_TOO_OLD))
                continue
            services = self._services(entry["provider"])
            wanted = [s for s in entry["gegevensdiensten"] if s in services]
            if not wanted:
                continue
            session.pending[state] = {**entry, "gegevensdiensten": wanted}
            query = urlencode({"response_type": "code", "client_id": self.hostname,
                               "redirect_uri": self.redirect_uri, "state": state,
                               "scope": build_scope(entry["provider"])})
            return f"{services[wanted[0]].authorize}?{query}"
        return None

    def unreachable(self, entry: dict, reason: str) -> dict:
        """The overview line of a provider that could not answer."""
        return {"provider": entry["provider"], "display": self.display(entry["provider"]),
                "gegevensdiensten": entry["gegevensdiensten"], "status": "failed",
                "reason": reason, "error": reason}

    async def collect(self, entry: dict, code: str | None, correlation_id: str) -> dict:
        """Exchange the code and run every search of the provider's gegevensdiensten; the
        result counts resources per type and holds them in plain words, grouped, for the one
        overview (the FHIR resources themselves are not kept; the session is in memory and
        forgotten once the overview is shown). A provider that fails (token, searches, an
        answer that is no FHIR) is one line ``failed`` with its reason, some searches short
        make it ``partial``: the overview never fails whole for one provider."""
        display = self.display(entry["provider"])
        result = {"provider": entry["provider"], "display": display,
                  "gegevensdiensten": entry["gegevensdiensten"]}
        services = self._services(entry["provider"])
        searches: list = []
        try:
            first = services[entry["gegevensdiensten"][0]]
            token = await token_request(self.http, first, {
                "grant_type": "authorization_code", "code": code,
                "client_id": self.hostname, "redirect_uri": self.redirect_uri},
                correlation_id)
            for service in entry["gegevensdiensten"]:
                searches += await run_searches(self.http, services[service], service,
                                               token["access_token"], correlation_id,
                                               clock=self.clock)
        except CollectError as exc:
            return result | {"status": "failed", "error": str(exc),
                             "reason": f"{exc.step}: {exc.status} {exc.error}"}
        except (KeyError, httpx.HTTPError, ValueError) as exc:  # a peer's answer we cannot use
            return result | {"status": "failed", "error": str(exc),
                             "reason": f"unusable answer ({type(exc).__name__})"}
        found = [x for r in searches for x in r.resources]
        shown = [x for x in found if can_show(x)]
        counts = Counter(x["resourceType"] for x in shown)
        short = [r for r in searches if r.outcome != "complete"]
        status = "collected" if not short else (
            "failed" if all(r.outcome == "failed" for r in searches) else "partial")
        reason = "; ".join(dict.fromkeys(
            f"{r.request_uri.rsplit('/', 1)[-1]}: {r.reason}" for r in short))
        if len(shown) < len(found):  # the DVA's resources of a shape no overview can show
            status = "partial" if shown else "failed"
            reason = "; ".join(filter(None, [reason, f"{len(found) - len(shown)} resources "
                                             "of an unexpected shape were not shown"]))
        groups, other = group_resources((display, r) for r in shown)
        return result | {"status": status, "reason": reason, "resources": sum(counts.values()),
                         "by_type": dict(sorted(counts.items())),
                         "groups": {k: [i.as_dict() for i in v] for k, v in groups.items()
                                    if v}, "other": other}


def refused_by_provider(entry: dict, error: str, description: str | None,
                        display: str = "") -> dict:
    """The overview line of a provider whose DVA answered the authorize with an error."""
    return {"provider": entry["provider"], "display": display or entry["provider"],
            "gegevensdiensten": entry["gegevensdiensten"],
            "status": "refused", "error": error, "error_description": description}


def overview(session: ViewSession) -> dict:
    return {"providers": session.results,
            "total": sum(r.get("resources", 0) for r in session.results),
            "correlation_id": session.correlation_id}


def overview_html(session: ViewSession, name: str) -> str:
    """The person's overview page: per provider, the data grouped as in a PGO."""
    return render("mgo_overview.html", title="Uw gezondheidsoverzicht", banner=name,
                  results=session.results, headings=GROUPS)
