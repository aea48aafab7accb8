"""Conformance kit: run the official Nictiz MedMij TestScripts against any FHIR server (DVA).

- ``model``: load TestScripts (XML/JSON) with fixtures, variables and rules;
- ``runner``: execute them over HTTP with a Bearer token;
- ``asserts``: evaluate every assert kind (FHIRPath through fhirpathpy);
- ``report``: terminal table, JSON, JUnit XML and FHIR TestReport;
- ``suites``: find the XIS-Server scripts of a standard in the Nictiz tree.
"""

from simulators.conformance.model import LoadError, TestScript, load
from simulators.conformance.results import ScriptResult
from simulators.conformance.runner import Engine

__all__ = ["Engine", "LoadError", "ScriptResult", "TestScript", "load"]
