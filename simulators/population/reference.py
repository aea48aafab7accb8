"""Official test data as extra patients: the Nictiz reference resources of the MedMij
qualification scripts (``../shared/medmij/testscripts/*/_reference/``) or any folder of FHIR
resources (XML or JSON), read at run time and never copied into the repository.

Each Patient found becomes one extra population member. Resources pointing at it (subject,
patient, beneficiary) belong to it; the folder's other resources (Practitioner, Organization,
Medication, ...) go with every patient of that folder, so ``_include`` targets are present.
STU3 folders are served as BgZ (48), R4 folders as Vaccinaties (63) unless told otherwise.
XML is parsed with ``fhir.resources`` (the test extra), which must then be installed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from simulators.population.demographics import Patient

Resource = dict[str, Any]

_PLACEHOLDER = re.compile(r"\$\{DATE, T, ([YMD]), ([+-]\d+)\}")
_FHIR_NS = "{http://hl7.org/fhir}"
_SKIP_TYPES = frozenset({"TestScript", "Bundle", "OperationOutcome"})


@dataclass(frozen=True, slots=True)
class ReferencePatient:
    """One loaded test patient with everything served for it."""

    patient: Resource
    resources: tuple[Resource, ...]
    gegevensdienst: str
    fhir_version: str  # "STU3" | "R4"


def _resolve_dates(text: str, as_of: date) -> str:
    """Touchstone date placeholders (``${DATE, T, Y, -2}``) relative to the population's date."""

    def sub(m: re.Match[str]) -> str:
        unit, amount = m.group(1), int(m.group(2))
        if unit == "Y":
            return date(as_of.year + amount, as_of.month, min(as_of.day, 28)).isoformat()
        if unit == "M":
            y, mo = divmod(as_of.month - 1 + amount, 12)
            return date(as_of.year + y, mo + 1, min(as_of.day, 28)).isoformat()
        return (as_of + timedelta(days=amount)).isoformat()

    return _PLACEHOLDER.sub(sub, text)


def _version_of(path: Path) -> str:
    return "R4" if "R4" in path.parts else "STU3"


def _parse_xml(text: str, version: str) -> Resource | None:
    import importlib
    from xml.etree import ElementTree

    root = ElementTree.fromstring(text.encode())
    if not root.tag.startswith(_FHIR_NS):
        return None
    rtype = root.tag[len(_FHIR_NS):]
    if rtype in _SKIP_TYPES:
        return None
    package = "fhir.resources.R4B" if version == "R4" else "fhir.resources.STU3"
    model = getattr(importlib.import_module(f"{package}.{rtype.lower()}"), rtype)
    obj = model.model_validate_xml(text.encode())
    data: Resource = obj.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def read_folder(folder: str | Path, as_of: date) -> list[tuple[Path, Resource]]:
    """Every FHIR resource under ``folder`` (recursively), with the file it came from."""
    out: list[tuple[Path, Resource]] = []
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix not in (".xml", ".json") or not path.is_file():
            continue
        text = _resolve_dates(path.read_text(encoding="utf-8"), as_of)
        if path.suffix == ".json":
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("resourceType") in (None, *_SKIP_TYPES):
                continue
        else:
            if "http://hl7.org/fhir" not in text[:400]:
                continue
            parsed = _parse_xml(text, _version_of(path))
            if parsed is None:
                continue
            data = parsed
        out.append((path, data))
    return out


def _patient_refs(resource: Resource) -> set[str]:
    found: set[str] = set()
    for key in ("subject", "patient", "beneficiary"):
        value = resource.get(key)
        if isinstance(value, dict):
            reference = value.get("reference", "")
            if reference.startswith("Patient/"):
                found.add(reference[len("Patient/"):])
    return found


def load(folder: str | Path, as_of: date,
         gegevensdienst: str | None = None) -> list[ReferencePatient]:
    """Group the resources of ``folder`` per Patient (per directory, so test sets stay apart)."""
    by_dir: dict[Path, list[tuple[Path, Resource]]] = {}
    for path, res in read_folder(folder, as_of):
        by_dir.setdefault(path.parent, []).append((path, res))
    out: list[ReferencePatient] = []
    for directory, items in by_dir.items():
        version = _version_of(directory)
        service = gegevensdienst or ("63" if version == "R4" else "48")
        patients = [res for _, res in items if res["resourceType"] == "Patient"]
        shared = [res for _, res in items
                  if res["resourceType"] != "Patient" and not _patient_refs(res)]
        for patient in patients:
            own = [res for _, res in items if patient.get("id") in _patient_refs(res)]
            if not own and len(patients) > 1:
                continue  # e.g. a related person's Patient record with no data of its own
            out.append(ReferencePatient(patient, (patient, *own, *shared), service, version))
    return out


def bsn_of(patient: Resource) -> str | None:
    """The BSN in a Patient resource, when present and not masked."""
    for identifier in patient.get("identifier", []):
        if identifier.get("system") == "http://fhir.nl/fhir/NamingSystem/bsn":
            value = identifier.get("value")
            if isinstance(value, str) and value.isdigit():
                return value
    return None


def to_patient(resource: Resource, index: int, bsn: str, as_of: date) -> Patient:
    """Demographics of a loaded test patient, in the population's own shape."""
    name = (resource.get("name") or [{}])[0]
    given = next((g for g in name.get("given", []) if not g.endswith(".")), "Onbekend")
    family = name.get("family", "Onbekend")
    address = (resource.get("address") or [{}])[0]
    birth = date.fromisoformat(resource.get("birthDate", "1970-01-01")[:10])
    age = as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))
    street, _, house = (address.get("line") or [""])[0].partition(" ")
    return Patient(
        index=index, bsn=bsn, given=given, initials=given[:1] + ".", family=family,
        birth_date=birth, age=age,
        sex="male" if resource.get("gender") == "male" else "female",
        street=street, house_number=house, postcode=address.get("postalCode", ""),
        city=address.get("city", ""), municipality=address.get("district", address.get("city", "")),
        phone="", gp=None, gp_practice="", insurer="", uzovi="", policy_number="",
    )
