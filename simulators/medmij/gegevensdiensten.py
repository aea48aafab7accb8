"""The gegevensdiensten (data services) the sandbox serves, with their FHIR version.

Names are the GNL's Weergavenaam; system-role codes follow the MedMij pattern. A collect
service lists the searches a PGO sends (SPEC.md section 4), verbatim from the PGO query list
(``testscripts/pgo-client-queries.tsv``) including its date templates such as
``${DATE, T, D, -730}``, which the DVP fills in with the sandbox date when it sends them. A
share (Delen) service lists the kinds of resources a provider accepts through it.
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
    direction: str = "collect"  # "collect" (Verzamelen) or "share" (Delen)
    accepts: tuple[str, ...] = ()  # share only: accepted kinds, see simulators.dva.received
    binary_reads: bool = False  # collect: read each Binary a DocumentReference points to

    @property
    def is_share(self) -> bool:
        return self.direction == "share"


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

# Huisartsgegevens 2.0 (GenPractData-2-0 PHR-Client scripts), in the order of the query list.
GP_SEARCHES: tuple[str, ...] = (
    "AllergyIntolerance?category=medication",
    "Composition?type=http://loinc.org|67781-5",
    "Encounter",
    "EpisodeOfCare",
    "Observation?code=https://referentiemodel.nhg.org/tabellen/"
    "nhg-tabel-45-diagnostische-bepalingen|&_include=Observation:related-target"
    "&_include=Observation:specimen&date=ge${CURRENTDATE,M,-14}",
    "MedicationRequest?periodofuse=ge${DATE, T, D, -0}&category=http://snomed.info/sct|16076005"
    "&_include=MedicationRequest:medication",
    "Patient?_include=Patient:general-practitioner",
)

# Documenten 3.0 (PDFA-3-0 PHR-Client scripts): the searches; each Binary is then read.
DOCUMENT_SEARCHES: tuple[str, ...] = (
    "DocumentReference?status=current",
    "DocumentReference?status=current&indexed=ge${DATE, T, D, -730}&indexed=le${DATE, T, D, -365}",
    "DocumentManifest?status=current",
)

GEGEVENSDIENSTEN: dict[str, Gegevensdienst] = {
    g.id: g
    for g in (
        Gegevensdienst("48", "Basisgegevens Zorg", "3.0", "MM-3.0-BZB-FHIR", BGZ_SEARCHES),
        Gegevensdienst("49", "Huisartsgegevens", "3.0", "MM-2.0-HAB-FHIR", GP_SEARCHES),
        Gegevensdienst("51", "Documenten", "3.0", "MM-3.0-DOB-FHIR", DOCUMENT_SEARCHES,
                       binary_reads=True),
        # Delen: ids and system-role codes are the sandbox's own (no public GNL entry found)
        Gegevensdienst("52", "Zelfmetingen delen", "3.0", "MM-3.0-ZMD-FHIR", (),
                       direction="share", accepts=("blood-pressure", "body-weight")),
        Gegevensdienst("53", "Documenten delen", "3.0", "MM-3.0-DOD-FHIR", (),
                       direction="share", accepts=("document",)),
        Gegevensdienst("63", "Vaccinaties", "4.0", "MM-1.0-VAB-FHIR", ("Immunization",)),
    )
}


def collect_services(ids: list[str] | tuple[str, ...]) -> list[str]:
    """The collect (Verzamelen) services among ``ids``, in order: what a 2.x scope covers."""
    return [i for i in ids if i in GEGEVENSDIENSTEN and not GEGEVENSDIENSTEN[i].is_share]
