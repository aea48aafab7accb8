"""The portabiliteitsrapport: which collect actions a PGO performed for one person.

Written in the shape of MedMij's published example (un-namespaced elements, the release1
schemaLocation), and packaged the 2025 way as a FHIR DocumentReference (class EXPORT, type
REPORT) + Binary.

A report comes from another vendor, so it is read strictly: well-formed XML only (a truncated
file is an error, never "a report of 0 actions"), no entities, no network, and at most
``MAX_ACTIONS`` collect actions and ``MAX_REQUESTS`` request URIs. The one tolerance is the
published example's own quirk: it uses the ``xsi`` prefix on the root without declaring it, so a
document failing on exactly that is parsed again with the declaration added.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass, field
from itertools import groupby

from lxml import etree

from simulators.medmij import XSI

SCHEMA_LOCATION = "xmlns://afsprakenstelsel.medmij.nl/PortabiliteitsRapport/release1/ "
PORTABILITY_SYSTEM = "http://medmij.nl/fhir/CodeSystem/Portability"


MAX_ACTIONS = 500  # Gegevensdienst elements per report
MAX_REQUESTS = 1000  # ResourceRequest elements per report
UNDECLARED_XSI = re.compile(r"Namespace prefix xsi for \w+ on PortabiliteitsRapport is not defined")


class ReportError(ValueError):
    """Not a portabiliteitsrapport this sandbox can read."""


class ReportTooLarge(ReportError):
    """A report beyond the stated maximum of actions or requests."""


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
    if not isinstance(el.tag, str):
        return ""
    try:
        return etree.QName(el).localname
    except ValueError:
        return ""


def _child(el: etree._Element, name: str) -> etree._Element | None:
    return next((c for c in el if _local(c) == name), None)


def _children(el: etree._Element | None, name: str) -> list[etree._Element]:
    return [] if el is None else [c for c in el if _local(c) == name]


def _text(el: etree._Element, name: str) -> str:
    child = _child(el, name)
    if child is None or child.text is None or not child.text.strip():
        raise ReportError(f"{_local(el)} lacks {name}")
    return child.text.strip()


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False)


def parse_xml(content: bytes) -> etree._Element:
    """Strictly well-formed, namespace-correct XML; only the published example's undeclared
    ``xsi`` prefix on the root is declared for it (one documented repair, nothing else)."""
    if not isinstance(content, bytes | bytearray) or not content.strip():
        raise ReportError("empty document")
    try:
        return etree.fromstring(content, parser=_parser())
    except etree.XMLSyntaxError as exc:
        if not UNDECLARED_XSI.search(str(exc)):
            raise ReportError(f"not well-formed XML: {exc}") from exc
    repaired = re.sub(rb"<PortabiliteitsRapport(?=[\s>/])",
                      b'<PortabiliteitsRapport xmlns:xsi="' + XSI.encode() + b'"', content,
                      count=1)
    try:
        return etree.fromstring(repaired, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise ReportError(f"not well-formed XML: {exc}") from exc


def parse_report(content: bytes, max_actions: int = MAX_ACTIONS,
                 max_requests: int = MAX_REQUESTS) -> Report:
    root = parse_xml(content)
    if _local(root) != "PortabiliteitsRapport":
        raise ReportError("root element is not PortabiliteitsRapport")
    meta = _child(root, "PortabiliteitsRapportMeta")
    if meta is None:
        raise ReportError("no PortabiliteitsRapportMeta")
    actions: list[CollectAction] = []
    n_requests = 0
    for za in _children(_child(root, "Zorgaanbieders"), "Zorgaanbieder"):
        name = _text(za, "Zorgaanbiedernaam")
        for gd in _children(_child(za, "Gegevensdiensten"), "Gegevensdienst"):
            if len(actions) >= max_actions:
                raise ReportTooLarge(f"more than {max_actions} collect actions (Gegevensdienst)")
            elements = _children(_child(gd, "ResourceRequests"), "ResourceRequest")
            n_requests += len(elements)
            if n_requests > max_requests:
                raise ReportTooLarge(f"more than {max_requests} request URIs (ResourceRequest)")
            requests = [(_text(rr, "RequestUri"), _text(rr, "Tijdstempel")) for rr in elements]
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


def _is_report_document(resource: dict) -> bool:
    if resource.get("resourceType") != "DocumentReference":
        return False
    kind = resource.get("type")
    codings = kind.get("coding") if isinstance(kind, dict) else None
    return isinstance(codings, list) and any(
        isinstance(c, dict) and c.get("code") == "REPORT" for c in codings)


def xml_from_package(bundle: object) -> bytes:
    """The report XML inside a FHIR package, found through the DocumentReference (type
    REPORT) and its attachment's Binary reference. Every malformed shape is a ReportError."""
    if not isinstance(bundle, dict) or not isinstance(bundle.get("entry"), list):
        raise ReportError("not a portability package: not a Bundle with entries")
    resources: dict[str, dict] = {}
    for entry in bundle["entry"]:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str) \
                and isinstance(resource.get("id"), str):
            resources[f"{resource['resourceType']}/{resource['id']}"] = resource
    document = next((r for r in resources.values() if _is_report_document(r)), None)
    if document is None:
        raise ReportError("not a portability package: no DocumentReference of type REPORT")
    content = document.get("content")
    attachment = content[0].get("attachment") if isinstance(content, list) and content \
        and isinstance(content[0], dict) else None
    url = attachment.get("url") if isinstance(attachment, dict) else None
    if not isinstance(url, str):
        raise ReportError("not a portability package: the REPORT has no attachment url")
    binary = resources.get(url)
    if binary is None or binary.get("resourceType") != "Binary" \
            or not isinstance(binary.get("content"), str):
        raise ReportError(f"not a portability package: no Binary {url} with content")
    try:
        return base64.b64decode(binary["content"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ReportError(f"not a portability package: Binary content is not base64: {exc}") \
            from exc
