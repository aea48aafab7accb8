"""The DVA's FHIR search engine on a hand-made record."""

import pytest

from simulators.dva.search import SearchError, search
from simulators.provider import SourceRecord

SCT = "http://snomed.info/sct"


def obs(id_, code, when, system="http://loinc.org", category=None, **extra):
    r = {"resourceType": "Observation", "id": id_, "subject": {"reference": "Patient/p"},
         "code": {"coding": [{"system": system, "code": code}]}, "effectiveDateTime": when}
    if category:
        r["category"] = [{"coding": [{"system": SCT, "code": category}]}]
    return r | extra


RECORD = SourceRecord.of([
    {"resourceType": "Patient", "id": "p", "generalPractitioner": [{"reference":
                                                                    "Practitioner/gp"}]},
    {"resourceType": "Practitioner", "id": "gp"},
    obs("w1", "29463-7", "2024-01-01"),
    obs("w2", "29463-7", "2025-03-01"),
    obs("h1", "8302-2", "2020-01-01"),
    obs("lab1", "4548-4", "2025-01-01", category="275711006",
        specimen={"reference": "Specimen/s1"}),
    {"resourceType": "Specimen", "id": "s1"},
    {"resourceType": "MedicationStatement", "id": "ms", "category": {"coding": [
        {"system": "urn:oid:2.16.840.1.113883.2.4.3.11.60.20.77.5.3", "code": "6"}]},
     "medicationReference": {"reference": "Medication/m"}},
    {"resourceType": "Medication", "id": "m"},
    {"resourceType": "Encounter", "id": "e1", "class": {"system":
                                                          "http://hl7.org/fhir/v3/ActCode",
                                                          "code": "IMP"}},
    {"resourceType": "Encounter", "id": "e2", "class": {"system":
                                                          "http://hl7.org/fhir/v3/ActCode",
                                                          "code": "AMB"}},
    {"resourceType": "Appointment", "id": "a1", "status": "booked"},
    {"resourceType": "Appointment", "id": "a2", "status": "cancelled"},
])


def ids(resources):
    return sorted(r["id"] for r in resources)


def test_lastn_keeps_the_latest_per_code():
    matches, _ = search(RECORD, "Observation",
                        [("code", "http://loinc.org|29463-7,http://loinc.org|8302-2")], lastn=True)
    assert ids(matches) == ["h1", "w2"]


def test_plain_search_returns_all_matching():
    matches, _ = search(RECORD, "Observation", [("code", "http://loinc.org|29463-7")])
    assert ids(matches) == ["w1", "w2"]


def test_system_must_match_when_given():
    matches, _ = search(RECORD, "Observation", [("code", "http://snomed.info/sct|29463-7")])
    assert matches == []


def test_include_follows_references():
    matches, included = search(RECORD, "Patient",
                               [("_include", "Patient:general-practitioner")])
    assert ids(matches) == ["p"] and ids(included) == ["gp"]
    matches, included = search(RECORD, "MedicationStatement", [
        ("category", "urn:oid:2.16.840.1.113883.2.4.3.11.60.20.77.5.3|6"),
        ("_include", "MedicationStatement:medication")])
    assert ids(matches) == ["ms"] and ids(included) == ["m"]
    matches, included = search(RECORD, "Observation", [
        ("category", f"{SCT}|275711006"), ("_include", "Observation:specimen")], lastn=True)
    assert ids(matches) == ["lab1"] and ids(included) == ["s1"]


def test_coding_class_and_status_tokens():
    matches, _ = search(RECORD, "Encounter", [
        ("class", "http://hl7.org/fhir/v3/ActCode|IMP,http://hl7.org/fhir/v3/ActCode|ACUTE")])
    assert ids(matches) == ["e1"]
    matches, _ = search(RECORD, "Appointment", [("status", "booked,pending,proposed")])
    assert ids(matches) == ["a1"]


def test_unknown_parameter_is_an_error():
    with pytest.raises(SearchError):
        search(RECORD, "Observation", [("bogus", "x")])
    with pytest.raises(SearchError):
        search(RECORD, "Observation", [("_include", "Patient:general-practitioner")])
