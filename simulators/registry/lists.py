"""Writing the four MedMij lists (release2 ZAL/OCL/Whitelist, release1 GNL) from registry state,
and the newer release3 ZAL (``?api=2``: Aanbiedertype, Interfaceversies) beside it."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from simulators.common.config import SandboxConfig
from simulators.common.lists import NS
from simulators.medmij import XSI, provider_slug
from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN
from simulators.medmij.topology import ServiceUrls

ROOTS = {
    "zal": ("Zorgaanbiederslijst", "MedMij_Zorgaanbiederslijst.xsd"),
    "ocl": ("OAuthclientlist", "MedMij_OAuthclientlist.xsd"),
    "whitelist": ("Whitelist", "MedMij_Whitelist.xsd"),
    "gnl": ("Gegevensdienstnamenlijst", "MedMij_Gegevensdienstnamenlijst.xsd"),
}


@dataclass(frozen=True)
class ProviderEntry:
    name: str
    dva: str  # DVA hostname
    gegevensdiensten: tuple[str, ...]
    endpoints: tuple[ServiceUrls, ...] = ()  # an outside DVA's own URLs, per gegevensdienst

    @classmethod
    def from_dict(cls, data: dict) -> ProviderEntry:
        """The entry as ``asdict`` stored it (registry.json)."""
        return cls(data["name"], data["dva"], tuple(data["gegevensdiensten"]),
                   tuple(ServiceUrls(**e) for e in data.get("endpoints", ())))


@dataclass(frozen=True)
class ListHeader:
    tijdstempel: str  # xs:dateTime with timezone
    volgnummer: int


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, etree.QName(parent.nsmap[None], tag))
    if text is not None:
        el.text = text
    return el


def _root(kind: str, header: ListHeader | None) -> etree._Element:
    tag, xsd = ROOTS[kind]
    ns = NS[kind]
    root = etree.Element(etree.QName(ns, tag), nsmap={None: ns, "xsi": XSI})
    root.set(etree.QName(XSI, "schemaLocation"), f"{ns} {xsd}")
    if header is not None:
        _sub(root, "Tijdstempel", header.tijdstempel)
        _sub(root, "Volgnummer", str(header.volgnummer))
    return root


def dva_endpoints(config: SandboxConfig, provider: ProviderEntry, service: str) -> dict:
    """Where a provider's DVA serves one gegevensdienst: an outside DVA's declared URLs as
    they are, else the paths our DVA app mounts."""
    declared = next((e for e in provider.endpoints if e.service == service), None)
    if declared is not None:
        return {"authorize": declared.authorize, "token": declared.token,
                "resource": declared.resource}
    base = config.public_base(provider.dva)
    slug = provider_slug(provider.name)
    return {
        "authorize": f"{base}/oauth/authorize",
        "token": f"{base}/oauth/token",
        "resource": f"{base}/fhir/{slug}/{service}",
    }


def _gegevensdienst(parent: etree._Element, config: SandboxConfig, provider: ProviderEntry,
                    service: str) -> None:
    """One ``Gegevensdienst`` of a ZAL entry (release2 and release3 alike): its endpoints
    and the Systeemrol with the resource endpoint."""
    ends = dva_endpoints(config, provider, service)
    gd = _sub(parent, "Gegevensdienst")
    _sub(gd, "GegevensdienstId", service)
    _sub(_sub(gd, "AuthorizationEndpoint"), "AuthorizationEndpointuri", ends["authorize"])
    _sub(_sub(gd, "TokenEndpoint"), "TokenEndpointuri", ends["token"])
    role = _sub(_sub(gd, "Systeemrollen"), "Systeemrol")
    _sub(role, "Systeemrolcode", GEGEVENSDIENSTEN[service].systeemrolcode)
    _sub(_sub(role, "ResourceEndpoint"), "ResourceEndpointuri", ends["resource"])


@dataclass(frozen=True)
class ListContent:
    """What the lists are built from: the admitted providers and clients, and the Whitelist."""

    config: SandboxConfig
    providers: list[ProviderEntry]
    clients: dict[str, str]
    nodes: list[str]


def _zal(root: etree._Element, content: ListContent) -> None:
    parent = _sub(root, "Zorgaanbieders")
    for provider in sorted(content.providers, key=lambda p: p.name):
        za = _sub(parent, "Zorgaanbieder")
        _sub(za, "Zorgaanbiedernaam", provider.name)
        services = _sub(za, "Gegevensdiensten")
        for service in provider.gegevensdiensten:
            _gegevensdienst(services, content.config, provider, service)


def _ocl(root: etree._Element, content: ListContent) -> None:
    parent = _sub(root, "OAuthclients")
    for hostname, name in sorted(content.clients.items()):
        client = _sub(parent, "OAuthclient")
        _sub(client, "Hostname", hostname)
        _sub(client, "OAuthclientOrganisatienaam", name)


def _whitelist(root: etree._Element, content: ListContent) -> None:
    parent = _sub(root, "MedMijNodes")
    for hostname in sorted(set(content.nodes)):
        _sub(_sub(parent, "MedMijNode"), "Hostname", hostname)


def _gnl(root: etree._Element, content: ListContent) -> None:
    parent = _sub(root, "Gegevensdiensten")
    for service in GEGEVENSDIENSTEN.values():
        gd = _sub(parent, "Gegevensdienst")
        _sub(gd, "GegevensdienstId", service.id)
        _sub(gd, "Weergavenaam", service.weergavenaam)


BUILDERS = {"zal": _zal, "ocl": _ocl, "whitelist": _whitelist, "gnl": _gnl}


def build_list(
    kind: str,
    config: SandboxConfig,
    providers: list[ProviderEntry],
    clients: dict[str, str],
    nodes: list[str],
    header: ListHeader | None,
) -> bytes:
    """One list as XML bytes. Without a header it is the list's content only (for change checks)."""
    root = _root(kind, header)
    BUILDERS[kind](root, ListContent(config, providers, clients, nodes))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


ZAL_RELEASE3 = "xmlns://afsprakenstelsel.medmij.nl/zorgaanbiederslijst/release3/"
AANBIEDERTYPE = "ZA"  # zorgaanbieder; BAZB and APD (a PGO as source) are not in the topology
INTERFACEVERSIE = "2.0.0"  # the Afsprakenstelsel version the sandbox's DVAs speak


def build_zal_release3(config: SandboxConfig, providers: list[ProviderEntry],
                       header: ListHeader) -> bytes:
    """The ZAL in the release3 shape of MedMij_Zorgaanbiederslijst_example.9.3.xml: per
    provider its Aanbiedertype and, per interface version, its gegevensdiensten.
    (Abonneren is left out: the sandbox has no subscriptions.)"""
    root = etree.Element(etree.QName(ZAL_RELEASE3, "Zorgaanbiederslijst"),
                         nsmap={None: ZAL_RELEASE3, "xsi": XSI})
    root.set(etree.QName(XSI, "schemaLocation"), f"{ZAL_RELEASE3} {ROOTS['zal'][1]}")
    _sub(root, "Tijdstempel", header.tijdstempel)
    _sub(root, "Volgnummer", str(header.volgnummer))
    parent = _sub(root, "Zorgaanbieders")
    for provider in sorted(providers, key=lambda p: p.name):
        za = _sub(parent, "Zorgaanbieder")
        _sub(za, "Zorgaanbiedernaam", provider.name)
        _sub(za, "Aanbiedertype", AANBIEDERTYPE)
        version = _sub(_sub(za, "Interfaceversies"), "Interfaceversie")
        _sub(version, "InterfaceversieId", INTERFACEVERSIE)
        services = _sub(version, "Gegevensdiensten")
        for service in provider.gegevensdiensten:
            _gegevensdienst(services, config, provider, service)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
