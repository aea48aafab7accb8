"""Where the official scripts live and which ones a standard's XIS-Server suite holds.

The Nictiz tree (``Nictiz-testscripts/output``, copied to ``../shared/medmij/testscripts``):
``<FHIR version>/<standard>/MedMij/<Test|Cert>/XIS-Server/*-<json|xml>.xml``. The scripts
name the person whose data they expect in their token variable
(``patient-token-XXX_Rijn``); that person is one of the Nictiz reference patients in the
sibling ``_reference`` folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

STANDARDS = {
    "bgz": ("STU3", "BgZ-3-0", "48"),
    "immunization": ("R4", "Immunization-2-0", "63"),
}
GOALS = ("Test", "Cert")
TOKEN_VARIABLE = re.compile(r"^patient-token-(.+)$")


def default_root() -> Path | None:
    """``$PGO_SANDBOX_TESTSCRIPTS``, else ``../shared/medmij/testscripts`` beside the
    working directory or beside the checkout."""
    env = os.environ.get("PGO_SANDBOX_TESTSCRIPTS")
    candidates = [Path(env)] if env else []
    shared = os.environ.get("PGO_SANDBOX_SHARED")
    if shared:
        candidates.append(Path(shared) / "medmij" / "testscripts")
    candidates += [Path.cwd().parent / "shared" / "medmij" / "testscripts",
                   Path(__file__).resolve().parents[3] / "shared" / "medmij" / "testscripts"]
    return next((c.resolve() for c in candidates if c.is_dir()), None)


@dataclass(frozen=True)
class SuiteScript:
    path: Path
    standard: str  # bgz | immunization
    goal: str  # Test | Cert
    format: str  # json | xml
    service: str  # gegevensdienst id, e.g. 48

    @property
    def reference_folder(self) -> Path:
        return self.path.parent.parent / "_reference"

    def labels(self) -> dict[str, str]:
        return {"standard": self.standard, "goal": self.goal, "format": self.format,
                "gegevensdienst": self.service}


def xis_scripts(root: Path, standards: list[str], goals: list[str] | None = None,
                formats: list[str] | None = None, role: str = "XIS-Server") -> list[SuiteScript]:
    """The XIS-Server scripts of the standards, in a stable order."""
    out = []
    for standard in standards:
        version, folder, service = STANDARDS[standard]
        for goal in goals or GOALS:
            directory = root / version / folder / "MedMij" / goal / role
            for path in sorted(directory.glob("*.xml")) + sorted(directory.glob("*.json")):
                if path.name == "properties.json":
                    continue
                fmt = "xml" if path.stem.endswith("-xml") else "json"
                if formats and fmt not in formats:
                    continue
                out.append(SuiteScript(path, standard, goal, fmt, service))
    return out


def person_keys(variables: list) -> dict[str, str]:
    """Token variable name -> the person's name key (``XXX_Rijn``)."""
    out = {}
    for var in variables:
        m = TOKEN_VARIABLE.match(var.name)
        if m:
            out[var.name] = m.group(1)
    return out
