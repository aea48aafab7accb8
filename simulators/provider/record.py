"""One patient's data in a provider's source system, as the resource server searches it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class SourceRecord:
    """One patient's FHIR resources at one provider for one gegevensdienst, indexed by
    resource type (searches) and by ``Type/id`` (reads and ``_include``).

    Not ``simulators.population.clinical.ClinicalRecord``: that is the clinical history a patient's
    resources are drawn from; this is what one provider's system answers with."""

    by_type: dict[str, list[dict]] = field(default_factory=dict)
    by_ref: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def of(cls, resources: Iterable[dict]) -> SourceRecord:
        record = cls()
        for r in resources:
            record.by_type.setdefault(r["resourceType"], []).append(r)
            record.by_ref[f"{r['resourceType']}/{r['id']}"] = r
        return record

    def of_type(self, resource_type: str) -> list[dict]:
        """Every resource of this type ([] when none), as ``RecordView.of_type``: the one call
        a search makes (``by_type.get`` of a lazy view is three)."""
        return self.by_type.get(resource_type, [])

    def patient_reference(self) -> dict | None:
        """How this record names its patient (``Patient/<id>`` with the name as display):
        the subject of data a PGO shares with the provider; None without a Patient."""
        for patient in self.by_type.get("Patient", []):
            name = (patient.get("name") or [{}])[0].get("text")
            return {"reference": f"Patient/{patient['id']}"} | ({"display": name} if name else {})
        return None
