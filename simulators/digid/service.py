"""DigiD's rules and memory, without HTTP: which relying parties may ask, the single-use
artifacts in flight, the DigiD sessions behind single sign-on, and the pre-login CSRF key.

Time is the injected ``Clock`` (the sandbox clock in a running sandbox), so
``pgo-sandbox clock advance`` ends DigiD sessions and artifacts as it ends consents.
Everything is in memory: a restarted DigiD has forgotten every session, as it should.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from simulators.common import pseudonym
from simulators.common.clock import Clock
from simulators.common.config import SandboxConfig
from simulators.common.faults import DIGID_KINDS, FaultBook
from simulators.common.security import bound_token, new_token
from simulators.common.tls import uses_tls
from simulators.digid.errors import ArtifactRefused, PeerNotRelyingParty, RelyingPartyRefused
from simulators.medmij import is_valid_bsn
from simulators.population import Population

ARTIFACT_SECONDS = 60
SESSION_SECONDS = 15 * 60
LISTED_PERSONS = 5
SCANNED_PERSONS = 100  # the login page picks its test persons from the first members


@dataclass(frozen=True)
class Artifact:
    bsn: str
    rp: str  # the relying party it was issued to: only that one may resolve it
    expires: float
    status: str = "success"  # or "cancelled" / "failed" (SAML: no assertion, a status only)


@dataclass(frozen=True)
class DigiDSession:
    bsn: str
    expires: float
    csrf_token: str  # the "Doorgaan als ..." form's token


class DigiD:
    """The DigiD simulator's state and rules for one node."""

    def __init__(self, config: SandboxConfig, node_id: str, population: Population,
                 clock: Clock) -> None:
        topology = config.topology
        self.config = config
        self.population = population
        self.clock = clock
        self.hostname = topology.node(node_id).hostname
        self.relying_parties = {n.hostname for n in (*topology.dvas, topology.inspection)}
        self.inspection = topology.inspection.hostname
        self.registry = topology.registry.hostname
        self._csrf_key = secrets.token_bytes(32)  # pre-login tokens: HMAC of the cookie
        self.artifacts: dict[str, Artifact] = {}
        self.sessions: dict[str, DigiDSession] = {}  # session cookie -> session
        self.display = {p.name: p.display for p in topology.providers}
        self.providers_of = {d.hostname: [p.name for p in topology.providers_of(d.hostname)]
                             for d in topology.dvas}
        self._listed: dict[str, list[dict]] = {}
        self.rp_names = {n.hostname: n.name for n in (*topology.dvas, topology.inspection)}
        self.faults = FaultBook(node_id, kinds=())  # the app's book: see use_faults

    def use_faults(self, book: FaultBook) -> None:
        """Fire ``digid_cancelled`` and ``digid_failed`` (issue 16) from the node's book."""
        book.supports(DIGID_KINDS)
        book.person_index = self.population.index_of
        self.faults = book

    def login_status(self, bsn: str) -> str:
        """How this login ends: ``success``, or as a fault says, ``cancelled`` (the person
        pressed Annuleren) or ``failed`` (DigiD could not authenticate). Only the person is
        known here: DigiD never learns the provider or the PGO."""
        if not self.faults.active:
            return "success"
        context = {"person": self.population.index_of(bsn), "bsn": bsn}
        if self.faults.take("digid_cancelled", **context):
            return "cancelled"
        if self.faults.take("digid_failed", **context):
            return "failed"
        return "success"

    def rp_name(self, rp: str) -> str:
        """The relying party as people know it ("Nexus DVA", "Mijn Gezondheidsoverzicht")."""
        return self.rp_names.get(rp, rp)

    # relying parties ---------------------------------------------------------------------

    def check_return(self, rp: str, return_to: str) -> None:
        """Only a relying party of the topology, and only back to its own host."""
        if rp not in self.relying_parties:
            raise RelyingPartyRefused(f"Onbekende website {rp!r}: daar kan DigiD niet "
                                      "naar terugsturen.")
        if not self.config.is_on_host(return_to, rp):
            raise RelyingPartyRefused("Het terugkeeradres hoort niet bij de website waar u "
                                      "wilde inloggen.")

    # persons -----------------------------------------------------------------------------

    def is_test_person(self, bsn: str) -> bool:
        return is_valid_bsn(bsn) and self.population.index_of(bsn) is not None

    def person_name(self, bsn: str) -> str:
        index = self.population.index_of(bsn)
        if index is None:
            return "onbekende testpersoon"
        p = self.population.patient(index)
        return f"{p.given} {p.family}"

    def test_persons(self, provider: str | None, service: str | None, n: int,
                     start: int) -> list[dict]:
        """Up to ``n`` test persons from ``start``; with ``provider``, only those it holds
        data for (and with ``service``, data of that gegevensdienst)."""
        found, index = [], start
        population = self.population
        while len(found) < n and index < population.size + population.extra_count:
            if provider:
                try:
                    index = population.find(provider, index, service)
                except (KeyError, ValueError, LookupError):
                    break
            p = population.patient(index)
            found.append({"index": index, "bsn": p.bsn, "name": f"{p.given} {p.family}"})
            index += 1
        return found

    def listed_persons(self, rp: str | None) -> list[dict]:
        """The test persons the login page offers: those with data at the relying party's
        providers (a DVA's; every provider for the inspection function or no relying party),
        most such providers first, each with the display names of every provider holding
        data on them. The population is deterministic, so the list is computed once per rp."""
        key = rp or ""
        if key not in self._listed:
            wanted = set(self.providers_of.get(key) or self.display)
            scored = []
            for index in range(min(SCANNED_PERSONS, self.population.size)):
                holders = self.population.holders(index)
                score = len(wanted.intersection(holders))
                if score:
                    scored.append((-score, index, holders))
            scored.sort(key=lambda t: t[:2])
            persons = []
            for _score, index, holders in scored[:LISTED_PERSONS]:
                p = self.population.patient(index)
                persons.append({"bsn": p.bsn, "name": f"{p.given} {p.family}",
                                "providers": [self.display.get(h, h) for h in holders]})
            self._listed[key] = persons
        return self._listed[key]

    # CSRF, sessions and artifacts --------------------------------------------------------

    def login_csrf(self, cookie: str) -> str:
        """The BSN form's CSRF token: derived from the pre-login cookie with a key only this
        node knows, so a planted cookie does not give a usable token."""
        return bound_token(self._csrf_key, cookie)

    def open_session(self, bsn: str) -> str:
        """A DigiD session for single sign-on; returns its cookie value."""
        cookie = new_token()
        self.sessions[cookie] = DigiDSession(bsn, self.clock.now() + SESSION_SECONDS,
                                             new_token())
        return cookie

    def live_session(self, cookie: str | None) -> DigiDSession | None:
        cookie = cookie or ""
        found = self.sessions.get(cookie)
        if found is None:
            return None
        if found.expires <= self.clock.now():  # over: forgotten, so the cookie is dead
            del self.sessions[cookie]
            return None
        return found

    def issue_artifact(self, bsn: str, rp: str, status: str = "success") -> str:
        artifact = secrets.token_urlsafe(24)
        self.artifacts[artifact] = Artifact(bsn, rp, self.clock.now() + ARTIFACT_SECONDS,
                                            status)
        return artifact

    def authenticate_rp(self, rp: str, peer: str | None) -> None:
        """Over TLS (the ``medmij`` profile) the relying party is who its certificate says:
        ``rp`` must be the hostname of the certificate on this connection, so one listed node
        cannot resolve (and so learn the BSN behind) an artifact issued to another. Checked
        before the artifact is looked up: a refused caller neither learns nor spends it."""
        if uses_tls(self.config, self.hostname) and peer != rp:
            raise PeerNotRelyingParty(rp, peer)

    def resolve_artifact(self, artifact: str, rp: str, peer: str | None = None) -> dict:
        """Back-channel resolution: single use, bound to the relying party (over TLS the one
        whose certificate ``peer`` names; an artifact named with another relying party stays its
        owner's, unspent). A DVA gets the BSN; the inspection function only a pseudonym the
        localisation service can open."""
        self.authenticate_rp(rp, peer)
        found = self.artifacts.get(artifact)
        if found is None or found.rp != rp:  # another relying party's: left for its owner
            raise ArtifactRefused()
        del self.artifacts[artifact]  # single use: spent by its relying party, even expired
        if found.expires < self.clock.now():
            raise ArtifactRefused()
        if found.status != "success":  # a cancelled or failed login identifies nobody
            return {"status": found.status}
        if rp == self.inspection:
            return {"localisation_pseudonym": pseudonym.pseudonymise(
                self.config.secret, self.registry, found.bsn)}
        return {"bsn": found.bsn}
