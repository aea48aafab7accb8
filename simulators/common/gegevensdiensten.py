"""The gegevensdiensten (data services) the sandbox serves, with their FHIR version.

Names are the GNL's Weergavenaam; system-role codes follow the MedMij pattern.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gegevensdienst:
    id: str
    weergavenaam: str
    fhir_version: str  # "3.0" (STU3) or "4.0" (R4)
    systeemrolcode: str
    searches: tuple[str, ...]  # what a PGO requests, relative to the resource endpoint


BGZ_SEARCHES: tuple[str, ...] = (
    "Patient?_include=Patient:general-practitioner",
    "Coverage?_include=Coverage:payor:Patient&_include=Coverage:payor:Organization",
    "Consent?category=http://snomed.info/sct|11291000146105",
    "Consent?category=http://snomed.info/sct|11341000146107",
    "Observation/$lastn?category=http://snomed.info/sct|118228005,http://snomed.info/sct|384821006",
    "Condition",
    "Observation/$lastn?code=http://snomed.info/sct|365508006",
    "Observation?code=http://snomed.info/sct|228366006",
    "Observation?code=http://snomed.info/sct|228273003",
    "Observation?code=http://snomed.info/sct|365980008",
    "NutritionOrder",
    "Flag",
    "AllergyIntolerance",
    "MedicationStatement?category=urn:oid:2.16.840.1.113883.2.4.3.11.60.20.77.5.3|6"
    "&_include=MedicationStatement:medication",
    "MedicationRequest?category=http://snomed.info/sct|16076005"
    "&_include=MedicationRequest:medication",
    "MedicationDispense?category=http://snomed.info/sct|422037009"
    "&_include=MedicationDispense:medication",
    "DeviceUseStatement?_include=DeviceUseStatement:device",
    "Immunization?status=completed",
    "Observation/$lastn?code=http://loinc.org|85354-9",
    "Observation/$lastn?code=http://loinc.org|29463-7",
    "Observation/$lastn?code=http://loinc.org|8302-2,http://loinc.org|8306-3,http://loinc.org|8308-9",
    "Observation/$lastn?category=http://snomed.info/sct|275711006"
    "&_include=Observation:related-target&_include=Observation:specimen",
    "Procedure?category=http://snomed.info/sct|387713003",
    "Encounter?class=http://hl7.org/fhir/v3/ActCode|IMP,http://hl7.org/fhir/v3/ActCode|ACUTE,"
    "http://hl7.org/fhir/v3/ActCode|NONAC",
    "ProcedureRequest?status=active",
    "ImmunizationRecommendation",
    "DeviceRequest?status=active&_include=DeviceRequest:device",
    "Appointment?status=booked,pending,proposed",
)

GEGEVENSDIENSTEN: dict[str, Gegevensdienst] = {
    g.id: g
    for g in (
        Gegevensdienst("48", "Basisgegevens Zorg", "3.0", "MM-3.0-BZB-FHIR", BGZ_SEARCHES),
        Gegevensdienst("49", "Huisartsgegevens", "3.0", "MM-2.0-HAB-FHIR", ()),
        Gegevensdienst("51", "Documenten", "3.0", "MM-3.0-DOB-FHIR", ()),
        Gegevensdienst("63", "Vaccinaties", "4.0", "MM-1.0-VAB-FHIR", ("Immunization",)),
    )
}
