"""The portabiliteitsrapport: which collect actions a PGO performed for one person.

Written in the shape of MedMij's published example (un-namespaced elements, the release1
schemaLocation), read leniently (the published example itself leaves the xsi prefix undeclared),
and packaged the 2025 way as a FHIR DocumentReference (class EXPORT, type REPORT) + Binary.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from itertools import groupby

from lxml import etree

SCHEMA_LOCATION = "xmlns://afsprakenstelsel.medmij.nl/PortabiliteitsRapport/release1/ "
XSI = "http://www.w3.org/2001/XMLSchema-instance"
PORTABILITY_SYSTEM = "http://medmij.nl/fhir/CodeSystem/Portability"


class ReportError(ValueError):
    """Not a portabiliteitsrapport this sandbox can read."""


@dataclass
class CollectAction:
    """One Gegevensdienst element: one collect of one gegevensdienst at one provider."""

    provider: str
    service: str
    timestamp: str
    requests: list[tuple[str, str]] = field(default_factory=list)  # (RequestUri, Tijdstempel)


@dataclass
class Report:
    deelnemer: str
    van: str
    tot: str
    tijdstempel: str
    actions: list[CollectAction]

    def providers(self) -> list[str]:
        return sorted({a.provider for a in self.actions})


def actions_from_log(log: list[dict]) -> list[CollectAction]:
    """Group a DVP's request log (ordered) into collect actions: one per correlation id,
    provider and gegevensdienst. Only answered requests count: they are what can be replayed."""
    actions = []
    ok = [e for e in log if e["status"] == 200]
    key = lambda e: (e["correlation_id"], e["provider"], e["service"])  # noqa: E731
    for (_, provider, service), entries in groupby(ok, key=key):
        entries = list(entries)
        actions.append(CollectAction(provider, service, entries[0]["timestamp"],
                                     [(e["request_uri"], e["timestamp"]) for e in entries]))
    return actions


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def build_report(report: Report) -> bytes:
    root = etree.Element("PortabiliteitsRapport", nsmap={"xsi": XSI})
    root.set(etree.QName(XSI, "schemaLocation"), SCHEMA_LOCATION)
    meta = _sub(root, "PortabiliteitsRapportMeta")
    for tag, value in (("Deelnemer", report.deelnemer), ("Van", report.van),
                       ("Tot", report.tot), ("Tijdstempel", report.tijdstempel)):
        _sub(meta, tag, value)
    providers = _sub(root, "Zorgaanbieders")
    by_provider: dict[str, list[CollectAction]] = {}
    for action in report.actions:
        by_provider.setdefault(action.provider, []).append(action)
    for name, actions in by_provider.items():
        za = _sub(providers, "Zorgaanbieder")
        _sub(za, "Zorgaanbiedernaam", name)
        services = _sub(za, "Gegevensdiensten")
        for action in actions:
            gd = _sub(services, "Gegevensdienst")
            _sub(gd, "GegevensdienstId", action.service)
            _sub(gd, "Tijdstempel", action.timestamp)
            requests = _sub(gd, "ResourceRequests")
            for uri, stamp in action.requests:
                rr = _sub(requests, "ResourceRequest")
                _sub(rr, "RequestUri", uri)
                _sub(rr, "Tijdstempel", stamp)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _child(el: etree._Element, name: str) -> etree._Element | None:
    return next((c for c in el if _local(c) == name), None)


def _children(el: etree._Element | None, name: str) -> list[etree._Element]:
    return [] if el is None else [c for c in el if _local(c) == name]


def _text(el: etree._Element, name: str) -> str:
    child = _child(el, name)
    if child is None or child.text is None or not child.text.strip():
        raise ReportError(f"{_local(el)} lacks {name}")
    return child.text.strip()


def parse_report(content: bytes) -> Report:
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(content, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ReportError(f"not XML: {exc}") from exc
    if root is None or _local(root) != "PortabiliteitsRapport":
        raise ReportError("root element is not PortabiliteitsRapport")
    meta = _child(root, "PortabiliteitsRapportMeta")
    if meta is None:
        raise ReportError("no PortabiliteitsRapportMeta")
    actions = []
    for za in _children(_child(root, "Zorgaanbieders"), "Zorgaanbieder"):
        name = _text(za, "Zorgaanbiedernaam")
        for gd in _children(_child(za, "Gegevensdiensten"), "Gegevensdienst"):
            requests = [(_text(rr, "RequestUri"), _text(rr, "Tijdstempel"))
                        for rr in _children(_child(gd, "ResourceRequests"), "ResourceRequest")]
            actions.append(CollectAction(name, _text(gd, "GegevensdienstId"),
                                         _text(gd, "Tijdstempel"), requests))
    return Report(_text(meta, "Deelnemer"), _text(meta, "Van"), _text(meta, "Tot"),
                  _text(meta, "Tijdstempel"), actions)


def _document(kind: str, display: str, binary: dict, tijdstempel: str, size: int) -> dict:
    return {
        "resourceType": "DocumentReference",
        "id": str(uuid.uuid4()),
        "status": "current",
        "class": {"coding": [{"system": PORTABILITY_SYSTEM, "code": "EXPORT",
                              "display": "Export"}]},
        "type": {"coding": [{"system": PORTABILITY_SYSTEM, "code": kind, "display": display}]},
        "indexed": tijdstempel,
        "content": [{"attachment": {"contentType": binary["contentType"],
                                    "url": f"Binary/{binary['id']}", "size": size}}],
    }


def _binary(content_type: str, data: bytes) -> dict:
    return {"resourceType": "Binary", "id": str(uuid.uuid4()), "contentType": content_type,
            "content": base64.b64encode(data).decode()}


def fhir_package(xml: bytes, tijdstempel: str, dossier_pdf: bytes | None = None) -> dict:
    """The 2025 packaging: DocumentReference (EXPORT/REPORT) pointing at the XML Binary, and
    with a PDF, a second one (EXPORT/DOSSIER) for the person to read."""
    parts = [("REPORT", "Portabiliteitsrapport", _binary("application/xml", xml), len(xml))]
    if dossier_pdf is not None:
        parts.append(("DOSSIER", "Dossier", _binary("application/pdf", dossier_pdf),
                      len(dossier_pdf)))
    entries = []
    for kind, display, binary, size in parts:
        document = _document(kind, display, binary, tijdstempel, size)
        entries += [{"fullUrl": f"urn:uuid:{document['id']}", "resource": document},
                    {"fullUrl": f"urn:uuid:{binary['id']}", "resource": binary}]
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "collection",
            "entry": entries}


def xml_from_package(bundle: dict) -> bytes:
    """The report XML inside a FHIR package, found through the DocumentReference."""
    try:
        resources = {f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
                     for e in bundle["entry"]}
        document = next(r for r in resources.values()
                        if r["resourceType"] == "DocumentReference"
                        and any(c.get("code") == "REPORT" for c in r["type"]["coding"]))
        binary = resources[document["content"][0]["attachment"]["url"]]
        return base64.b64decode(binary["content"])
    except (KeyError, StopIteration, TypeError, ValueError) as exc:
        raise ReportError(f"not a portability package: {exc}") from exc
