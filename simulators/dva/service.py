"""The DVA as a service: its providers, source system, grants and lists, and the protocol
steps of its authorization server (SPEC.md section 3). No web framework here: the routers
(``authorize``, ``token``, ``resources``) turn HTTP into these calls and ``errors`` turns the
exceptions raised here into the protocol's answers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from simulators.common.clock import Clock
from simulators.common.config import SandboxConfig
from simulators.common.faults import DVA_KINDS, FaultBook
from simulators.common.lists import ListCache, Lists
from simulators.common.security import new_token
from simulators.common.tls import uses_tls
from simulators.dva.answers import SearchAnswers
from simulators.dva.errors import AuthorizeRedirect, TokenEndpointError, UntrustedRequest
from simulators.dva.grants import Grant, GrantStore
from simulators.dva.request_log import RequestLog
from simulators.medmij import SCOPE_GRAMMAR, OAuthError, build_scope, parse_scope_item
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN, collect_services
from simulators.medmij.topology import Provider
from simulators.provider import SourceSystem

log = logging.getLogger(__name__)

# What a redirect_uri may not contain: control characters (urlsplit drops a tab or newline
# before checking the host, the redirect would not) and spaces (a leading one makes the
# Location relative, on the DVA's own host).
URI_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f]")
# The authorization response's parameters (RFC 6749 sections 4.1.2 and 4.1.2.1): the DVA adds
# them to the redirect_uri, which must not carry them already.
RESPONSE_PARAMETERS = frozenset({"code", "state", "error", "error_description", "error_uri"})


class RepeatedParameter(ValueError):
    """A request parameter given more than once; each endpoint answers it its own way."""


def parameters_once(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Request parameters by name. RFC 6749 section 3.1 (authorize) and 3.2 (token):
    parameters must not be included more than once, so a repeated one raises
    ``RepeatedParameter`` rather than one of its values silently winning."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise RepeatedParameter(f"{name} given more than once.")
        params[name] = value
    return params


def redirect_uri_flaw(redirect_uri: str) -> str | None:
    """Why a redirect_uri on the client's host still cannot be redirected to (None: it
    can): a control character or space, a fragment (RFC 6749 section 3.1.2: must not have
    one) or a query that already carries the response's own parameters (the client would get
    two codes or two states)."""
    if URI_FORBIDDEN.search(redirect_uri):
        return "redirect_uri contains a control character or a space."
    if "#" in redirect_uri:
        return "redirect_uri must not contain a fragment (RFC 6749 section 3.1.2)."
    query = urlsplit(redirect_uri).query
    clash = sorted({name for name, _ in parse_qsl(query, keep_blank_values=True)}
                   & RESPONSE_PARAMETERS)
    if clash:
        return (f"redirect_uri must not carry the authorization response's parameters "
                f"({', '.join(clash)}).")
    return None


@dataclass(frozen=True)
class LoginOutcome:
    """What the person sees after DigiD: the consent screen (collect) or the
    Bevestigingsverklaring (share), for these services of this provider."""

    provider: Provider
    services: list[str]
    share: bool


class DVA:
    """Everything one DVA node holds; the routers reach it through ``request.app.state.dva``.

    ``source`` is the providers' source system (``simulators.provider.SourceSystem``): the DVA
    decides who may see or write what, the source system holds the data."""

    def __init__(self, config: SandboxConfig, node_id: str, *, source: SourceSystem,
                 grants: GrantStore, client: httpx.AsyncClient, clock: Clock) -> None:
        self.config = config
        self.node_id = node_id
        node = config.topology.node(node_id)
        self.hostname = node.hostname
        self.name = node.name
        self.realm = f'Bearer realm="{node.name}"'  # the resource server's WWW-Authenticate
        self.providers = {p.slug: p for p in config.topology.providers_of(node.hostname)}
        self.source = source
        self.grants = grants
        self.client = client
        self.clock = clock
        registry = config.topology.registry.hostname
        self.lists = ListCache(config.public_base(registry), client,
                               config.topology.list_refresh_seconds,
                               config.topology.list_max_age_seconds)
        self.lists.listeners.append(self.on_lists)
        self.digid_base = config.public_base(config.topology.digid.hostname)
        self.requests = RequestLog()
        self.answers = SearchAnswers()  # serialised answers of cached records
        self.authz_cookie = f"{node_id}_authz"  # binds the browser's authorizations
        self.own_origins = {config.public_base(self.hostname).rstrip("/"),
                            config.addresses[self.hostname].rstrip("/")}
        self.faults = FaultBook(node_id, kinds=())  # the app's book: see use_faults
        # the node serves TLS (the medmij profile): tokens are bound to the client's certificate
        self.serves_tls = uses_tls(config, self.hostname)
        self._fhir_bases: dict[tuple[str, str], str] = {}

    def use_faults(self, book: FaultBook) -> None:
        """Fire the authorization-side faults of issue 16 from the node's book
        (``app.state.faults``): each is answered by the step's own error below. The book learns
        the person behind a BSN and, for the resource-side kinds, the client and person behind
        a request's Bearer token."""
        book.supports(DVA_KINDS)
        book.person_index = self.source.index_of
        book.context = self.fault_context
        self.faults = book

    def fault_context(self, scope: dict) -> dict:
        """Client, provider and person of a FHIR request, from its access token (no token or
        an invalid one: nothing)."""
        auth = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"),
                    "")
        scheme, _, token = auth.partition(" ")
        grant = self.grants.access(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None:
            return {}
        return {"client": grant.client_id, "provider": grant.provider,
                "person": grant.patient_index}

    def public_url(self, path: str) -> str:
        return self.config.public_url(self.hostname, path)

    def fhir_base(self, slug: str, service: str) -> str:
        """The public URL of a resource endpoint ``/fhir/<slug>/<service>`` (kept: every search
        answer names it in its links; only endpoints this DVA serves are asked for)."""
        base = self._fhir_bases.get((slug, service))
        if base is None:
            base = self._fhir_bases[(slug, service)] = self.public_url(f"/fhir/{slug}/{service}")
        return base

    # what the DVA serves ---------------------------------------------------------------------
    def provider_for(self, slug: str, service: str) -> Provider | None:
        provider = self.providers.get(slug)
        if provider is None or service not in provider.gegevensdiensten:
            return None
        return provider

    def scope_target(self, scope: str) -> tuple[Provider, list[str]] | None:
        """2.x collect: '<provider>' covers all its collect services; 1.x collect and share:
        '<provider>~<id>'. None: the scope names nothing this DVA serves."""
        slug, service = parse_scope_item(scope)
        provider = self.providers.get(slug)
        if provider is None:
            return None
        if service is not None:
            return (provider, [service]) if service in provider.gegevensdiensten else None
        services = collect_services(provider.gegevensdiensten)
        return (provider, services) if services else None

    def held_services(self, index: int | None, provider: str) -> list[str]:
        """Services with data for this patient at this provider (availability check)."""
        return [] if index is None else self.source.held_services(index, provider)

    @staticmethod
    def is_share(services: list[str]) -> bool:
        return any(GEGEVENSDIENSTEN[s].is_share for s in services)

    @staticmethod
    def session_services(session: dict) -> list[str]:
        return json.loads(session["services"])

    # the authorization server's steps ----------------------------------------------------------
    def start_authorization(self, client_id: str | None, redirect_uri: str | None,
                            response_type: str | None, scope: str | None, state: str | None,
                            correlation_id: str | None, browser_secret: str) -> str:
        """Check an authorization request (SPEC.md section 3, in this order: client on the OCL,
        redirect_uri on its host and fit to redirect to, state, response_type, scope) and
        open its session, bound to the browser holding ``browser_secret``. Returns the session
        id (DigiD's RelayState).

        Faults (issue 16) answer as the failing check would: ``client_not_on_ocl``,
        ``unknown_provider`` (invalid_scope) and ``temporarily_unavailable`` (after every check,
        so the redirect goes to a trusted redirect_uri)."""
        if self.lists.expired():  # a page, not a redirect: no trusted OCL to check it against
            raise UntrustedRequest(OAuthError.TEMPORARILY_UNAVAILABLE,
                                   "The MedMij lists are older than allowed; try again later.",
                                   status=503)
        target = self.scope_target(scope or "")
        context = {"client": client_id, "provider": target[0].name if target else None,
                   "corr": correlation_id}
        if not client_id or client_id not in self.lists.lists.ocl or self.faults.take(
                "client_not_on_ocl", **context):
            raise UntrustedRequest(OAuthError.INVALID_REQUEST,
                                   "Unknown client: not on the OAuth Client List.")
        if not redirect_uri or not self.config.is_on_host(redirect_uri, client_id):
            raise UntrustedRequest(OAuthError.INVALID_REQUEST,
                                   "redirect_uri is not on the client's host.")
        flaw = redirect_uri_flaw(redirect_uri)  # after is_on_host: the URL splits
        if flaw is not None:
            raise UntrustedRequest(OAuthError.INVALID_REQUEST, flaw)
        if not state:
            raise AuthorizeRedirect(redirect_uri, "", OAuthError.INVALID_REQUEST,
                                    "Missing state.")
        if response_type != "code":
            raise AuthorizeRedirect(redirect_uri, state, OAuthError.UNSUPPORTED_RESPONSE_TYPE,
                                    "Only response_type=code is supported.")
        if target is None or self.faults.take("unknown_provider", **context):
            raise AuthorizeRedirect(redirect_uri, state, OAuthError.INVALID_SCOPE,
                                    f"Scope {scope!r} names no provider or service of this "
                                    f"DVA; expected {SCOPE_GRAMMAR}.")
        if self.faults.take(OAuthError.TEMPORARILY_UNAVAILABLE, **context):
            raise AuthorizeRedirect(redirect_uri, state, OAuthError.TEMPORARILY_UNAVAILABLE,
                                    "The authorization server is temporarily unavailable: "
                                    "try again later.")
        provider, services = target
        return self.grants.start_session(client_id, redirect_uri, scope, state, provider.name,
                                         services, correlation_id, browser_secret, new_token())

    def digid_login_url(self, session_id: str) -> str:
        query = urlencode({"rp": self.hostname, "return_to": self.public_url("/digid/acs"),
                           "RelayState": session_id})
        return f"{self.digid_base}/login?{query}"

    async def resolve_artifact(self, artifact: str) -> str | None:
        return (await self.resolve_login(artifact))[0]

    async def resolve_login(self, artifact: str) -> tuple[str | None, str]:
        """DigiD's answer for an artifact: (BSN, status). The status is DigiD's: ``success``,
        ``cancelled`` (the person cancelled the login) or ``failed``. An answer DigiD's
        protocol does not have (not a JSON object, a BSN that is no string) is ``failed``:
        the person sees the failed login's redirect, not a 500."""
        try:
            response = await self.client.post(
                f"{self.digid_base}/artifact", data={"artifact": artifact, "rp": self.hostname})
        except httpx.HTTPError as exc:
            log.warning("DigiD artifact resolution failed: %s", exc)
            return None, "failed"
        if response.status_code != 200:
            return None, "failed"
        try:
            answer = response.json()
        except ValueError:  # not JSON (or not UTF-8): DigiD answered nothing usable
            answer = None
        bsn = answer.get("bsn") if isinstance(answer, dict) else None
        if not isinstance(answer, dict) or not isinstance(bsn, str | None):
            log.warning("DigiD artifact resolution answered no JSON object with a BSN string")
            return None, "failed"
        return bsn, str(answer.get("status", "success" if bsn else "failed"))

    def identified(self, session: dict, bsn: str | None,
                   digid_status: str = "failed") -> LoginOutcome:
        """After DigiD: the availability check. Collect is narrowed to the services the
        provider holds data for (none: access_denied); share needs the provider to be
        receptive, i.e. the person in its care. A login the person cancelled at DigiD is
        access_denied, one that failed unauthorized_client. The ``no_data`` fault makes the
        availability check find nothing."""
        session_id = session["id"]
        if bsn is None:
            self.grants.finish_session(session_id)
            if digid_status == "cancelled":
                raise AuthorizeRedirect(session["redirect_uri"], session["state"],
                                        OAuthError.ACCESS_DENIED,
                                        "The person cancelled the DigiD login.")
            raise AuthorizeRedirect(session["redirect_uri"], session["state"],
                                    OAuthError.UNAUTHORIZED_CLIENT,
                                    "Person could not be identified.")
        index = self.source.index_of(bsn)
        provider = self.config.topology.provider(session["provider"])
        wanted = self.session_services(session)
        held = self.held_services(index, provider.name)
        if held and self.faults.take("no_data", client=session["client_id"],
                                     provider=provider.name, person=index, bsn=bsn,
                                     corr=session["correlation_id"]):
            held = []
        if self.is_share(wanted):
            if not held:
                self.grants.finish_session(session_id)
                raise AuthorizeRedirect(session["redirect_uri"], session["state"],
                                        OAuthError.ACCESS_DENIED,
                                        "Provider is not receptive for this data.")
            self.grants.identify(session_id, index)
            return LoginOutcome(provider, wanted, share=True)
        granted = [s for s in wanted if s in held]
        if not granted:
            self.grants.finish_session(session_id)
            raise AuthorizeRedirect(session["redirect_uri"], session["state"],
                                    OAuthError.ACCESS_DENIED, "No such resources.")
        narrower = " ".join(build_scope(provider.slug, s) for s in granted) \
            if len(granted) < len(wanted) else None
        self.grants.identify(session_id, index, granted, narrower)
        return LoginOutcome(provider, granted, share=False)

    def may_consent_long_lived(self, session: dict) -> bool:
        """Long-lived consent is for PGOs only: the inspection function (Mijn
        Gezondheidsoverzicht) stores nothing, so it never holds a refresh token."""
        return session["client_id"] != self.config.topology.inspection.hostname

    def answer_consent(self, session: dict, allow: bool, long_lived: bool) -> str:
        """The person's answer, once per session: the redirect back to the PGO with a code, or
        access_denied. A share never becomes a long-lived consent."""
        if not self.grants.finish_session(session["id"]):
            raise UntrustedRequest(OAuthError.INVALID_REQUEST, "This consent was already answered.")
        if allow and self.faults.take("consent_refused", client=session["client_id"],
                                      provider=session["provider"],
                                      person=session["patient_index"],
                                      corr=session["correlation_id"]):
            allow = False  # the person said no (issue 16)
        if not allow:
            raise AuthorizeRedirect(session["redirect_uri"], session["state"],
                                    OAuthError.ACCESS_DENIED, "Authorization denied.")
        share = self.is_share(self.session_services(session))
        code = self.grants.issue_code(
            session, long_lived and not share and self.may_consent_long_lived(session))
        query = urlencode({"code": code, "state": session["state"]})
        sep = "&" if "?" in session["redirect_uri"] else "?"
        return f"{session['redirect_uri']}{sep}{query}"

    def authenticate_client(self, client_id: str | None, peer: str | None) -> None:
        """Over TLS (the ``medmij`` profile) the client is who its certificate says: the
        client_id must be the hostname of the certificate presented on this connection."""
        if not uses_tls(self.config, self.hostname):
            return
        if peer is None:
            raise TokenEndpointError(OAuthError.INVALID_CLIENT, "No client certificate: the "
                                     "token endpoint requires mutual TLS.", 401)
        if client_id != peer:
            raise TokenEndpointError(OAuthError.INVALID_CLIENT, f"client_id {client_id!r} is "
                                     f"not the client certificate's hostname {peer}.", 401)

    def token(self, grant_type: str | None, code: str | None, client_id: str | None,
              redirect_uri: str | None, refresh_token: str | None,
              peer: str | None = None) -> dict:
        """The token endpoint: a client on the OCL and Whitelist, authenticated by its
        certificate over TLS (``peer``), exchanges a code or rotates a refresh token. Raises
        ``GrantError`` (the store's) or ``TokenEndpointError``."""
        self.authenticate_client(client_id, peer)
        lists = self.lists.lists
        if not client_id or client_id not in lists.ocl or client_id not in lists.whitelist \
                or self.faults.take("client_not_on_ocl", client=client_id):
            raise TokenEndpointError(OAuthError.INVALID_CLIENT,
                                     "Client not on the OCL and Whitelist.", 401)
        if grant_type == "authorization_code":
            if not code or not redirect_uri:
                raise TokenEndpointError(OAuthError.INVALID_REQUEST,
                                         "code and redirect_uri are required.")
            return self.grants.exchange_code(code, client_id, redirect_uri,
                                             refuse=self._fault_for("code_expired"))
        if grant_type == "refresh_token":
            if not refresh_token:
                raise TokenEndpointError(OAuthError.INVALID_REQUEST,
                                         "refresh_token is required.")
            return self.grants.refresh(refresh_token, client_id,
                                       refuse=self._fault_for("refresh_refused"))
        raise TokenEndpointError(OAuthError.UNSUPPORTED_GRANT_TYPE, f"grant_type {grant_type!r}.")

    def _fault_for(self, kind: str) -> Callable[[Grant], bool] | None:
        """The grant store's hook for a token-endpoint fault: asked with the grant behind the
        code or refresh token, so the fault can match its client, provider and person."""
        if not self.faults.active:
            return None
        return lambda grant: self.faults.take(kind, client=grant.client_id,
                                              provider=grant.provider,
                                              person=grant.patient_index) is not None

    def revoke(self, token: str, client_id: str, peer: str | None = None) -> None:
        """RFC 7009 token revocation: the person withdraws a (long-lived) consent via the PGO."""
        self.authenticate_client(client_id, peer)
        if client_id not in self.lists.lists.whitelist:
            raise TokenEndpointError(OAuthError.INVALID_CLIENT, "Client not on the Whitelist.",
                                     401)
        self.grants.revoke_token(token, client_id)

    def on_lists(self, lists: Lists) -> None:
        """A client that left the OCL loses every grant (a vendor cut off)."""
        revoked = self.grants.revoke_clients_not_in(set(lists.ocl))
        if revoked:
            log.warning("%s revoked %d grants of clients that left the OCL", self.node_id, revoked)
