"""FHIR response helpers: OperationOutcome errors and searchset Bundles, serialised once."""

from __future__ import annotations

import functools
import importlib
import itertools
import typing
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Response
from lxml import etree

from simulators.medmij import FHIR_JSON, FHIR_XML, fhir_accept
from simulators.medmij import FHIR_VERSIONS as FHIR_VERSIONS  # re-export for dva/resources.py


def fhir_response(body: dict, status: int = 200, fhir_version: str = "3.0",
                  headers: dict | None = None, fmt: str = "json") -> Response:
    """A FHIR answer in JSON (the default, the hot path: one orjson call) or XML."""
    if fmt == "xml":
        return Response(to_xml(body, fhir_version), status_code=status, headers=headers,
                        media_type=f"{fhir_accept(fhir_version, FHIR_XML)}; charset=utf-8")
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=f"{fhir_accept(fhir_version)}; charset=utf-8",
        headers=headers,
    )


def operation_outcome(status: int, code: str, diagnostics: str, fhir_version: str = "3.0",
                      headers: dict | None = None, fmt: str = "json") -> Response:
    """The FHIR way to say no: an OperationOutcome with an issue code from the FHIR value set."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }
    return fhir_response(body, status, fhir_version, headers, fmt)


JSON_TYPES = {FHIR_JSON, "application/json", "application/json+fhir", "json",
              "*/*", "application/*"}
XML_TYPES = {FHIR_XML, "application/xml", "application/xml+fhir", "text/xml",
             "xml"}


def _format_of(media_type: str) -> str | None:
    kind = media_type.split(";", 1)[0].strip().lower()
    return "json" if kind in JSON_TYPES else "xml" if kind in XML_TYPES else None


@functools.lru_cache(maxsize=512)  # clients send the same few values; bounded
def negotiate_format(accept: str | None, format_param: str | None = None) -> str | None:
    """'json' or 'xml' for a request (FHIR REST: ``_format`` overrides ``Accept``); None when
    the client accepts neither (answer 406). Without either, JSON.

    The common case (no Accept, ``*/*`` or a JSON type, no ``_format``) is decided without
    parsing, as it is on the resource server's hot path."""
    if format_param:
        return _format_of(format_param)
    if not accept or ("xml" not in accept and ("json" in accept or "*/*" in accept)):
        return "json"
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept.split(",")):
        fmt = _format_of(part)
        quality = 1.0
        for param in part.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if fmt and quality > 0 and (best is None or (quality, -position) > best[:2]):
            best = (quality, -position, fmt)
    return best[2] if best else None


@functools.lru_cache(maxsize=512)  # clients send the same few values; bounded
def accept_fhir_version(accept: str | None) -> str | None:
    """The fhirVersion parameter of an Accept header, e.g. '3.0'; None when absent."""
    if not accept:
        return None
    for part in accept.split(","):
        for param in part.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "fhirversion":
                return value.strip().strip('"')
    return None


_BUNDLE_PREFIX = uuid.uuid4().hex[:12]
_bundle_count = itertools.count(1)


def bundle_id() -> str:
    """Unique per answer without a system call (uuid4 reads os.urandom every time)."""
    return f"{_BUNDLE_PREFIX}-{next(_bundle_count)}"


def searchset(self_url: str, base: str, matches: list[dict], includes: list[dict]) -> dict:
    entries = [
        {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
         "search": {"mode": "match"}}
        for r in matches
    ] + [
        {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
         "search": {"mode": "include"}}
        for r in includes
    ]
    return {
        "resourceType": "Bundle",
        "id": bundle_id(),
        "type": "searchset",
        "total": len(matches),
        "link": [{"relation": "self", "url": self_url}],
        "entry": entries,
    }


# ---------------------------------------------------------------------------------------------
# FHIR XML (https://hl7.org/fhir/xml.html): the DVA answers application/fhir+xml when asked.

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_MODEL_PACKAGES = {"3.0": "fhir.resources.STU3", "4.0": "fhir.resources.R4B"}
# R4 has no package of its own in fhir.resources 8 (STU3, R4B, R5): R4B keeps R4's element
# order for every resource the MedMij R4 standards use (Immunization, Patient, Practitioner...).


@dataclass(frozen=True)
class _Child:
    """One element of a FHIR type, as its pydantic model in fhir.resources declares it."""

    position: int
    model: type | None  # the element's own model (complex types, backbone elements)
    resource: bool  # a Resource-typed element: wrapped (contained, Bundle.entry.resource)


def _element_model(annotation: Any) -> type | None:
    """The model class behind a field annotation (Optional[List[abc.PatientContactType]])."""
    if hasattr(annotation, "_model_klass") and hasattr(annotation, "get_model_klass"):
        return annotation.get_model_klass()
    for arg in typing.get_args(annotation):
        found = _element_model(arg)
        if found is not None:
            return found
    return None


@functools.lru_cache(maxsize=2048)
def _layout(model: type) -> dict[str, _Child]:
    """Element name -> its place in the FHIR definition order (``elements_sequence``)."""
    by_alias = {(f.alias or name): f for name, f in model.model_fields.items()}
    out: dict[str, _Child] = {}
    for position, name in enumerate(model.elements_sequence()):
        field = by_alias.get(name)
        child = _element_model(field.annotation) if field is not None else None
        is_resource = child is not None and child.__name__ == "Resource"
        out[name] = _Child(position, None if is_resource else child, is_resource)
    return out


@functools.lru_cache(maxsize=512)
def _resource_model(fhir_version: str, resource_type: str) -> type | None:
    package = importlib.import_module(_MODEL_PACKAGES.get(fhir_version, _MODEL_PACKAGES["3.0"]))
    try:
        return package.get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None


def _xml_value(value: Any) -> str:
    """A JSON primitive as the value attribute: true/false, numbers as JSON writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return orjson.dumps(value).decode()
    return str(value)


def _xhtml(parent: etree._Element, div: str) -> None:
    """Narrative.div: the XHTML itself, in the XHTML namespace (not escaped text)."""
    try:
        node = etree.fromstring(div.encode())
    except etree.XMLSyntaxError:
        node = etree.Element(f"{{{XHTML_NS}}}div", nsmap={None: XHTML_NS})
        node.text = div
    if etree.QName(node).namespace != XHTML_NS:  # a div written without its xmlns
        for el in node.iter():
            if isinstance(el.tag, str) and etree.QName(el).namespace is None:
                el.tag = f"{{{XHTML_NS}}}{etree.QName(el).localname}"
        node = etree.fromstring(etree.tostring(node))
    parent.append(node)


def _ordered(data: dict, layout: dict[str, _Child]) -> list[str]:
    """Element names of a JSON object in FHIR order; ``_x`` siblings fold into ``x``; names the
    model does not know (an error in the data) follow in their JSON order."""
    names: list[str] = []
    for key in data:
        name = key[1:] if key.startswith("_") else key
        if name != "resourceType" and name != "fhir_comments" and name not in names:
            names.append(name)
    unknown = len(layout)
    return sorted(names, key=lambda n: layout[n].position if n in layout else unknown)


def _fill(el: etree._Element, data: dict, model: type | None, fhir_version: str,
          in_resource: bool, is_extension: bool) -> None:
    """Write the elements of one JSON object into ``el``."""
    layout = _layout(model) if model is not None else {}
    if not in_resource and isinstance(data.get("id"), str):
        el.set("id", data["id"])
    if is_extension and isinstance(data.get("url"), str):
        el.set("url", data["url"])
    for name in _ordered(data, layout):
        if (name == "id" and not in_resource) or (name == "url" and is_extension):
            continue
        child = layout.get(name)
        values, extras = data.get(name), data.get(f"_{name}")
        items = values if isinstance(values, list) else [values]
        extra_items = extras if isinstance(extras, list) else [extras]
        if values is None:
            items = [None] * len(extra_items)
        for i, value in enumerate(items):
            extra = extra_items[i] if i < len(extra_items) else None
            if name == "div" and isinstance(value, str):
                _xhtml(el, value)
                continue
            sub = etree.SubElement(el, f"{{{FHIR_NS}}}{name}")
            if isinstance(value, dict) and (value.get("resourceType") and
                                            (child is None or child.resource)):
                sub.append(resource_element(value, fhir_version))
            elif isinstance(value, dict):
                is_ext = name in ("extension", "modifierExtension")
                model_of = child.model if child else (
                    _resource_model(fhir_version, "Extension") if is_ext else None)
                _fill(sub, value, model_of, fhir_version, False, is_ext)
            else:
                if value is not None:
                    sub.set("value", _xml_value(value))
                if isinstance(extra, dict):
                    _fill(sub, extra, None, fhir_version, False, False)


def resource_element(resource: dict, fhir_version: str = "3.0") -> etree._Element:
    """A FHIR resource (JSON form) as its XML element, in the FHIR namespace."""
    rtype = str(resource.get("resourceType", "Resource"))
    el = etree.Element(f"{{{FHIR_NS}}}{rtype}", nsmap={None: FHIR_NS})
    _fill(el, resource, _resource_model(fhir_version, rtype), fhir_version, True, False)
    return el


def to_xml(resource: dict, fhir_version: str = "3.0") -> bytes:
    """FHIR JSON -> FHIR XML: ``value`` attributes, ``_x`` merged, wrapped resources, XHTML
    ``div``, element order of the FHIR definition (from fhir.resources' models)."""
    return etree.tostring(resource_element(resource, fhir_version), xml_declaration=True,
                          encoding="UTF-8")
