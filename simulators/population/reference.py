"""Official test data as extra patients: the Nictiz reference resources of the MedMij
qualification scripts (``../shared/medmij/testscripts/*/_reference/``) or any folder of FHIR
resources (XML or JSON), read at run time and never copied into the repository.

Each Patient found becomes one extra population member, also one with no other resources.
Resources belong to a patient by the FHIR Patient compartment (CompartmentDefinition/patient of
STU3 and R4: Appointment by ``actor``, Observation by ``subject`` and ``performer``, ...); the
resources they reference (Practitioner, Organization, Medication, ...) go with them, so
``_include`` targets are present, but never another patient's data. A BSN in the files is
served masked, exactly as the Nictiz reference patients carry it (MedMij: no BSN to a PGO).
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

from simulators.medmij import BSN_SYSTEM
from simulators.population.demographics import Patient
from simulators.population.fhir_common import mask_bsn

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
    bsn: str | None = None  # the clear BSN in the file, if any: for DigiD, never served


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


# FHIR Patient compartment (CompartmentDefinition/patient): per resource type, the search
# parameters that put a resource in a patient's compartment, each with the element path its
# search expression reads. STU3 is FHIR 3.0.2, R4 is FHIR 4.0.1; only the types the Nictiz
# reference sets (and the gegevensdiensten) use are listed. Types outside the table are never
# in a compartment (Practitioner, Organization, Location, Medication, Device, ...).
_COMMON: dict[str, dict[str, tuple[str, ...]]] = {
    "AllergyIntolerance": {"patient": ("patient",), "recorder": ("recorder",),
                           "asserter": ("asserter",)},
    "Appointment": {"actor": ("participant.actor",)},
    "CarePlan": {"patient": ("subject",), "performer": ("activity.detail.performer",)},
    "Composition": {"subject": ("subject",), "author": ("author",),
                    "attester": ("attester.party",)},
    "Condition": {"patient": ("subject",), "asserter": ("asserter",)},
    "Consent": {"patient": ("patient",)},
    "Coverage": {"policy-holder": ("policyHolder",), "subscriber": ("subscriber",),
                 "beneficiary": ("beneficiary",), "payor": ("payor",)},
    "DeviceUseStatement": {"subject": ("subject",)},
    "DiagnosticReport": {"subject": ("subject",)},
    "DocumentReference": {"subject": ("subject",), "author": ("author",)},
    "Encounter": {"patient": ("subject",)},
    "EpisodeOfCare": {"patient": ("patient",)},
    "FamilyMemberHistory": {"patient": ("patient",)},
    "Flag": {"patient": ("subject",)},
    "Goal": {"patient": ("subject",)},
    "Immunization": {"patient": ("patient",)},
    "ImmunizationRecommendation": {"patient": ("patient",)},
    "List": {"subject": ("subject",), "source": ("source",)},
    "MedicationDispense": {"subject": ("subject",), "patient": ("subject",),
                           "receiver": ("receiver",)},
    "MedicationRequest": {"subject": ("subject",)},
    "MedicationStatement": {"subject": ("subject",)},
    "NutritionOrder": {"patient": ("patient",)},
    "Observation": {"subject": ("subject",), "performer": ("performer",)},
    "Patient": {"link": ("link.other",)},
    "Procedure": {"patient": ("subject",), "performer": ("performer.actor",)},
    "QuestionnaireResponse": {"subject": ("subject",), "author": ("author",)},
    "RelatedPerson": {"patient": ("patient",)},
    "Specimen": {"subject": ("subject",)},
}
PATIENT_COMPARTMENT: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "STU3": _COMMON | {
        "DeviceRequest": {"subject": ("subject",), "requester": ("requester.agent",),
                          "performer": ("performer",)},
        "MedicationAdministration": {"patient": ("subject",),
                                     "performer": ("performer.actor",),
                                     "subject": ("subject",)},
        "ProcedureRequest": {"subject": ("subject",), "performer": ("performer",)},
        "ReferralRequest": {"patient": ("subject",), "requester": ("requester.agent",)},
    },
    "R4": _COMMON | {
        "DeviceRequest": {"subject": ("subject",), "performer": ("performer",)},
        "MedicationAdministration": {"patient": ("subject",),
                                     "performer": ("performer.actor",),
                                     "subject": ("subject",)},
        "ServiceRequest": {"subject": ("subject",), "performer": ("performer",)},
    },
}


def _at(node: Any, path: str) -> list[Any]:
    """The values at a dotted element path (lists flattened at every step)."""
    values = [node]
    for part in path.split("."):
        nxt: list[Any] = []
        for v in values:
            child = v.get(part) if isinstance(v, dict) else None
            if isinstance(child, list):
                nxt.extend(child)
            elif child is not None:
                nxt.append(child)
        values = nxt
    return values


def _target(reference: Any) -> str | None:
    """``Type/id`` of a literal reference (relative or absolute); None for contained/logical."""
    if not isinstance(reference, dict):
        return None
    value = reference.get("reference")
    if not isinstance(value, str) or value.startswith("#"):
        return None
    parts = value.split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


def _all_targets(node: Any) -> set[str]:
    """Every literal reference anywhere in a resource (contained resources included)."""
    found: set[str] = set()
    if isinstance(node, dict):
        target = _target(node)
        if target:
            found.add(target)
        for value in node.values():
            found |= _all_targets(value)
    elif isinstance(node, list):
        for value in node:
            found |= _all_targets(value)
    return found


def _patients_in(targets: set[str]) -> set[str]:
    return {t[len("Patient/"):] for t in targets if t.startswith("Patient/")}


def compartment_patients(resource: Resource, version: str) -> set[str] | None:
    """The Patient ids whose compartment holds ``resource`` per the FHIR CompartmentDefinition
    of ``version``; None when the resource type is never in a Patient compartment."""
    rtype = resource.get("resourceType", "")
    params = PATIENT_COMPARTMENT["R4" if version == "R4" else "STU3"].get(rtype)
    if params is None:
        return None
    targets = {t for paths in params.values() for path in paths for ref in _at(resource, path)
               if (t := _target(ref))}
    ids = _patients_in(targets)
    if rtype == "Patient" and resource.get("id"):
        ids.add(resource["id"])
    return ids


def assign(resources: list[Resource], version: str) -> dict[str, list[Resource]]:
    """Each Patient's own resources: its compartment plus what those reference, never another
    patient's.

    - A resource in one or more Patient compartments belongs to exactly those patients.
    - A resource of a type that is never in a compartment but that names patients anyway
      (Device.patient) belongs only to those patients: better unshared than leaked.
    - Every other resource (Practitioner, Organization, Medication, a Specimen whose subject is
      a Device, ...) goes with each patient whose resources reference it, directly or through
      such resources; unreferenced master data (an Organization no one points at) goes with
      every patient of the folder, as ``_include`` and plain searches may return it.
    - Compartment-type resources that name no patient and that no patient's data reference are
      served to no one: there is no way to tell whose they are.
    """
    key = {f"{r['resourceType']}/{r.get('id')}": r for r in resources}
    owners: dict[str, set[str]] = {}
    unowned_compartment: set[str] = set()
    for k, res in key.items():
        ids = compartment_patients(res, version)
        if ids is None:  # never in a compartment: owned only if it names patients itself
            owners[k] = _patients_in(_all_targets(res))
        else:
            owners[k] = ids
            if not ids:
                unowned_compartment.add(k)

    def closure(start: set[str]) -> set[str]:
        """``start`` and what it references, following only resources of no patient."""
        found, todo = set(start), list(start)
        while todo:
            for target in _all_targets(key[todo.pop()]):
                if target in key and target not in found and not owners[target]:
                    found.add(target)
                    todo.append(target)
        return found

    patients = [r for r in resources if r["resourceType"] == "Patient" and r.get("id")]
    own = {p["id"]: closure({k for k, ids in owners.items() if p["id"] in ids})
           for p in patients}
    reached = set().union(*own.values()) if own else set()
    shared = closure({k for k, ids in owners.items()
                      if not ids and k not in reached and k not in unowned_compartment})
    order = {k: n for n, k in enumerate(key)}
    return {pid: [key[k] for k in sorted(mine | shared, key=order.__getitem__)]
            for pid, mine in own.items()}


def load(folder: str | Path, as_of: date,
         gegevensdienst: str | None = None) -> list[ReferencePatient]:
    """Group the resources of ``folder`` per Patient (per directory, so test sets stay apart).

    Every Patient becomes one test patient, also one with no other data. The BSN in a file, if
    any, is kept aside (``ReferencePatient.bsn``) and masked in everything served.
    """
    by_dir: dict[Path, list[tuple[Path, Resource]]] = {}
    for path, res in read_folder(folder, as_of):
        by_dir.setdefault(path.parent, []).append((path, res))
    out: list[ReferencePatient] = []
    for directory, items in by_dir.items():
        version = _version_of(directory)
        service = gegevensdienst or ("63" if version == "R4" else "48")
        resources = [res for _, res in items]
        for pid, owned in assign(resources, version).items():
            patient = next(r for r in owned if r["resourceType"] == "Patient" and r["id"] == pid)
            served = [mask_bsn(r) if r["resourceType"] == "Patient" else r for r in owned]
            masked = next(r for r in served if r["resourceType"] == "Patient" and r["id"] == pid)
            rest = [r for r in served if r is not masked]
            out.append(ReferencePatient(masked, (masked, *rest), service, version,
                                        bsn_of(patient)))
    return out


def bsn_of(patient: Resource) -> str | None:
    """The BSN in a Patient resource, when present and not masked."""
    for identifier in patient.get("identifier", []):
        if identifier.get("system") == BSN_SYSTEM:
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
