"""One patient's resources at one provider for one gegevensdienst, rendered per resource type.

A DVA search asks ``record.by_type.get("Condition", [])`` and, for ``_include`` and reads,
``record.by_ref.get("Organization/org-x")`` (``simulators.provider.record.SourceRecord``).
:class:`RecordView` answers the same questions but renders only the sections of the record that
can yield the asked type, once, and keeps them (issue 17 item 4: the cold path).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from simulators.population.bgz_view import Section
from simulators.population.fhir_common import Resource


class RecordView:
    """Lazily rendered record: ``by_type`` and ``by_ref`` render on first ask.

    ``extra`` resources (shared by PGOs) follow the population's, as in ``SourceRecord.of``:
    per type after the population's, and a later resource with the same ``Type/id`` wins.
    """

    def __init__(self, sections: list[Section], extra: Iterable[Resource] = ()) -> None:
        self._sections = sections
        self._rendered: list[list[Resource] | None] = [None] * len(sections)
        self._extra = list(extra)
        self._types: dict[str, list[Resource]] = {}
        self._refs: dict[str, Resource] = {}
        self._indexed: set[str] = set()
        self.by_type = _ByType(self)
        self.by_ref = _ByRef(self)

    def of_type(self, resource_type: str) -> list[Resource]:
        """Every resource of this type, in the whole record's order ([] when none)."""
        found = self._types.get(resource_type)
        if found is None:
            found = []
            for k, (types, render) in enumerate(self._sections):
                if resource_type in types:
                    done = self._rendered[k]
                    if done is None:
                        done = self._rendered[k] = render()
                    found.extend(r for r in done if r["resourceType"] == resource_type)
            found.extend(r for r in self._extra if r["resourceType"] == resource_type)
            self._types[resource_type] = found
        return found

    def resolve(self, reference: str) -> Resource | None:
        """The resource behind ``Type/id``, or None."""
        resource_type = reference.partition("/")[0]
        if resource_type not in self._indexed:
            for r in self.of_type(resource_type):
                self._refs[f"{resource_type}/{r['id']}"] = r
            self._indexed.add(resource_type)
        return self._refs.get(reference)

    def types(self) -> list[str]:
        """The resource types present (renders everything: for iteration, not searches)."""
        names = dict.fromkeys(t for types, _ in self._sections for t in sorted(types))
        names.update(dict.fromkeys(r["resourceType"] for r in self._extra))
        return [t for t in names if self.of_type(t)]

    def patient_reference(self) -> dict | None:
        """How this record names its patient, as ``SourceRecord.patient_reference``."""
        for patient in self.of_type("Patient"):
            name = (patient.get("name") or [{}])[0].get("text")
            return {"reference": f"Patient/{patient['id']}"} | ({"display": name} if name else {})
        return None


class _ByType(Mapping[str, list[Resource]]):
    """``record.by_type``: resource type -> resources, rendered on first ask."""

    def __init__(self, view: RecordView) -> None:
        self._view = view

    def __getitem__(self, resource_type: str) -> list[Resource]:
        found = self._view.of_type(resource_type)
        if not found:
            raise KeyError(resource_type)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._view.types())

    def __len__(self) -> int:
        return len(self._view.types())


class _ByRef(Mapping[str, Resource]):
    """``record.by_ref``: ``Type/id`` -> resource, rendering that type on first ask."""

    def __init__(self, view: RecordView) -> None:
        self._view = view

    def __getitem__(self, reference: str) -> Resource:
        found = self._view.resolve(reference)
        if found is None:
            raise KeyError(reference)
        return found

    def __iter__(self) -> Iterator[str]:
        for t in self._view.types():
            for r in self._view.of_type(t):
                yield f"{t}/{r['id']}"

    def __len__(self) -> int:
        return sum(1 for _ in self)
