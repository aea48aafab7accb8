"""FHIR XML -> FHIR JSON (as Python dicts), for TestScripts, fixtures and XML responses.

FHIRPath (fhirpathpy) works on the JSON form, so an XML answer must be converted first. The
converter follows the FHIR XML rules (https://hl7.org/fhir/xml.html): ``value`` attributes are
primitives, a primitive's ``id``/``extension`` go to ``_name``, ``resource``/``contained``
wrap a resource, ``div`` is XHTML kept as a string, ``url`` of an Extension is an attribute.

Element types come from the FHIRPath model that fhirpathpy ships for the FHIR version
(``path2Type``, ``choiceTypePaths``, ``type2Parent``), so numbers and booleans become JSON
numbers and booleans as in the JSON format. The model does not carry cardinality: an element
that occurs once is a scalar, more than once a list. FHIRPath treats both alike (everything is
a collection), so expressions give the same answer as on the server's JSON.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fhirpathpy.models import models
from lxml import etree

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_INTEGER = {"integer", "unsignedInt", "positiveInt", "System.Integer", "integer64"}
_DECIMAL = {"decimal", "System.Decimal"}
_BOOLEAN = {"boolean", "System.Boolean"}
_PRIMITIVE = _INTEGER | _DECIMAL | _BOOLEAN | {
    "base64Binary", "canonical", "code", "date", "dateTime", "id", "instant", "markdown",
    "oid", "string", "time", "uri", "url", "uuid", "xhtml"}


class FhirXmlError(ValueError):
    """The text is not FHIR XML (not XML, or not in the FHIR namespace)."""


def model_for(fhir_version: str) -> dict:
    """The fhirpathpy model for 'STU3' or 'R4' (anything with a 4 in it is R4)."""
    return models["r4" if "4" in fhir_version else "stu3"]


def _is_primitive(type_name: str | None) -> bool:
    return type_name is not None and (type_name in _PRIMITIVE or type_name.startswith("System."))


def _lookup(model: dict, key: str, name: str) -> tuple[str | None, str]:
    """(type, key for the element's children) of element ``name`` under type/path ``key``."""
    path2type, parents = model["path2Type"], model["type2Parent"]
    elsewhere, choices = model["pathsDefinedElsewhere"], model["choiceTypePaths"]
    owner: str | None = key
    while owner:
        path = f"{owner}.{name}"
        if path in elsewhere:
            return None, elsewhere[path]
        found = path2type.get(path)
        if found is not None:
            return found, (path if found in ("BackboneElement", "Element") else found)
        for cut in range(len(name) - 1, 0, -1):
            options = choices.get(f"{owner}.{name[:cut]}")
            if options and name[cut:] in options:
                suffix = name[cut:]
                lower = suffix[0].lower() + suffix[1:]
                return (lower, lower) if lower in _PRIMITIVE else (suffix, suffix)
        if any(p.startswith(path + ".") for p in _children_index(model).get(owner, ())):
            return None, path  # a backbone element: its children are listed under its path
        owner = parents.get(owner) if "." not in owner else None
    return None, f"{key}.{name}"


_CHILDREN: dict[int, dict[str, set[str]]] = {}


def _children_index(model: dict) -> dict[str, set[str]]:
    """Paths grouped by their first segment, to tell a backbone element from an unknown one."""
    index = _CHILDREN.get(id(model))
    if index is None:
        index = {}
        for path in model["path2Type"]:
            index.setdefault(path.split(".", 1)[0], set()).add(path)
        _CHILDREN[id(model)] = index
    return index


def _typed(text: str, type_name: str | None) -> Any:
    try:
        if type_name in _BOOLEAN:
            return text == "true" if text in ("true", "false") else text
        if type_name in _INTEGER:
            return int(text)
        if type_name in _DECIMAL:
            number = Decimal(text)
            return int(number) if number == number.to_integral_value() and "." not in text \
                else float(text)
    except (ValueError, ArithmeticError):
        return text
    return text


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _resource(el: etree._Element, model: dict) -> dict:
    rtype = _local(el)
    out: dict[str, Any] = {"resourceType": rtype}
    out.update(_complex(el, rtype, model))
    return out


def _complex(el: etree._Element, key: str, model: dict) -> dict:
    out: dict[str, Any] = {}
    if el.get("id") is not None:
        out["id"] = el.get("id")
    if el.get("url") is not None:
        out["url"] = el.get("url")
    if el.get("value") is not None:  # Touchstone writes TestScript.profile as <profile value=>
        out["value"] = el.get("value")
    values: dict[str, list[Any]] = {}
    extras: dict[str, list[Any]] = {}
    for child in el:
        if not isinstance(child.tag, str):
            continue  # comments, processing instructions
        ns = etree.QName(child).namespace
        name = _local(child)
        if ns == XHTML_NS and name == "div":
            values.setdefault("div", []).append(etree.tostring(child, encoding="unicode",
                                                               with_tail=False))
            extras.setdefault("div", []).append(None)
            continue
        if ns != FHIR_NS:
            continue  # foreign elements (e.g. nts: build instructions) are not FHIR content
        ctype, ckey = _lookup(model, key, name)
        if ctype == "Resource" or (ctype is None and name in ("resource", "contained")
                                   and len(child) and child.get("value") is None):
            inner = [c for c in child if isinstance(c.tag, str)]
            value: Any = _resource(inner[0], model) if inner else {}
            extra = None
        elif _is_primitive(ctype) or (ctype is None and child.get("value") is not None):
            value = _typed(child.get("value"), ctype) if child.get("value") is not None else None
            sub = _complex(child, "Element", model)
            sub.pop("url", None)
            sub.pop("value", None)
            extra = sub or None
        else:
            value, extra = _complex(child, ckey, model), None
        values.setdefault(name, []).append(value)
        extras.setdefault(name, []).append(extra)
    for name, items in values.items():
        ext = extras[name]
        if any(e is not None for e in ext):
            out[f"_{name}"] = ext[0] if len(ext) == 1 else ext
        if any(v is not None for v in items):
            out[name] = items[0] if len(items) == 1 else items
    return out


def parse_xml(text: str | bytes, fhir_version: str = "STU3") -> dict:
    """A FHIR resource in XML as its JSON form; FhirXmlError if it is not FHIR XML."""
    data = text.encode() if isinstance(text, str) else text
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True,
                                                      remove_comments=True))
    except etree.XMLSyntaxError as exc:
        raise FhirXmlError(f"not XML: {exc}") from exc
    if etree.QName(root).namespace != FHIR_NS:
        raise FhirXmlError(f"root element {root.tag} is not in the FHIR namespace")
    return _resource(root, model_for(fhir_version))
