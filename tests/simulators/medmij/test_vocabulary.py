"""Every protocol word is defined once, in the MedMij vocabulary (issue 12, item 1).

``simulators/medmij`` owns the header names, FHIR media types and the ``Accept`` form, the
provider suffix and the scope grammar, OAuth error codes, code-system URIs, the consent lapse,
the timestamp format, the BSN 11-proof and the list paths. This test parses every Python file
of ``sandbox``, ``simulators``, ``scenarios``, ``loadtests`` and ``benchmarks`` (not ``tests``,
which may spell the protocol out on purpose) and fails on a second definition or a literal use
of one of them anywhere else. Docstrings and comments are prose and are not checked.

Where a literal is data, not the protocol word (a PGO query list's search string quoting a code
system, say), it goes into ``ALLOWED`` with the reason. The rules are built from the vocabulary's
own values, so a word added there is checked everywhere at once.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import simulators.medmij as vocabulary
from simulators.medmij import OAuthError
from tests.conftest import ROOT

TREES = ("sandbox", "simulators", "scenarios", "loadtests", "benchmarks")
HOME = Path("simulators/medmij")  # the vocabulary and the topology model beside it

HEADERS = {vocabulary.MEDMIJ_REQUEST_ID.lower(), vocabulary.CORRELATION_ID.lower()}
MEDIA_TYPES = {vocabulary.FHIR_JSON, vocabulary.FHIR_XML}
CODE_SYSTEMS = {vocabulary.BSN_SYSTEM, vocabulary.LOINC, vocabulary.SNOMED, vocabulary.UCUM,
                vocabulary.XSI}
OAUTH_ERRORS = {code.value for code in OAuthError}
LIST_FILES = set(vocabulary.LIST_PATHS.values())
BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)
LAPSE_DAYS = vocabulary.CONSENT_LAPSE_SECONDS // (24 * 3600)  # 183
# names the vocabulary defines: a module-level assignment or def of one elsewhere is a copy
DEFINED = {"PROVIDER_SUFFIX", "SCOPE_SEPARATOR", "SCOPE_GRAMMAR", "LIST_PATHS",
           "MEDMIJ_REQUEST_ID", "CORRELATION_ID", "FHIR_JSON", "FHIR_XML", "FHIR_VERSIONS",
           "CONSENT_LAPSE_SECONDS", "BSN_SYSTEM", "LOINC", "SNOMED", "UCUM", "XSI",
           "provider_slug", "build_scope", "parse_scope", "parse_scope_item", "fhir_accept",
           "utc_timestamp", "is_valid_bsn", "OAuthError"}

# (path, rule) -> why the literal there is data rather than the protocol word
ALLOWED: dict[tuple[str, str], str] = {
    ("sandbox/deploy_k8s.py", "scope grammar"):
        "YAML's own null '~' among the plain scalars that must be quoted, not a scope",
}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.text}"


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the Constant nodes that are docstrings (prose, not protocol use)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _string_rules(value: str) -> Iterator[str]:
    """The rules a string constant breaks (its text alone decides)."""
    low = value.lower()
    if any(h in low for h in HEADERS):
        yield "header name (MEDMIJ_REQUEST_ID, CORRELATION_ID)"
    if any(m in value for m in MEDIA_TYPES):
        yield "FHIR media type (FHIR_JSON, FHIR_XML)"
    if "fhirVersion=" in value:
        yield "FHIR Accept form (fhir_accept)"
    if value == vocabulary.PROVIDER_SUFFIX:
        yield "provider suffix (provider_slug)"
    if value == vocabulary.SCOPE_SEPARATOR:
        yield "scope grammar (build_scope, parse_scope)"
    if any(uri in value for uri in CODE_SYSTEMS):
        yield "code system (BSN_SYSTEM, LOINC, SNOMED, UCUM, XSI)"
    if value in OAUTH_ERRORS:
        yield "OAuth error code (OAuthError)"
    if value in LIST_FILES:
        yield "list path (LIST_PATHS)"


def _node_rules(node: ast.AST, docstrings: set[int]) -> Iterator[str]:
    if isinstance(node, ast.Constant) and id(node) not in docstrings:
        if isinstance(node.value, str):
            yield from _string_rules(node.value)
        elif isinstance(node.value, bytes):
            yield from _string_rules(node.value.decode("latin-1"))
        elif node.value == vocabulary.CONSENT_LAPSE_SECONDS and node.value is not True:
            yield "consent lapse (CONSENT_LAPSE_SECONDS)"
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        factors = {getattr(side, "value", None) for side in (node.left, node.right)}
        if LAPSE_DAYS in factors and (24 in factors or 86400 in factors):
            yield "consent lapse (CONSENT_LAPSE_SECONDS)"
    elif isinstance(node, ast.Tuple | ast.List):
        values = tuple(getattr(e, "value", None) if isinstance(e, ast.Constant) else
                       -e.operand.value if isinstance(e, ast.UnaryOp)
                       and isinstance(e.operand, ast.Constant) else None for e in node.elts)
        if values == BSN_WEIGHTS:
            yield "BSN 11-proof (is_valid_bsn)"
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "isoformat" and any(
                k.arg == "timespec" and getattr(k.value, "value", None) == "seconds"
                for k in node.keywords):
            yield "timestamp format (utc_timestamp)"
    elif isinstance(node, ast.JoinedStr):  # f"{slug}~{service}": the scope built by hand
        parts = node.values
        for i, part in enumerate(parts[1:-1], 1):
            if (isinstance(part, ast.Constant) and part.value == vocabulary.SCOPE_SEPARATOR
                    and isinstance(parts[i - 1], ast.FormattedValue)
                    and isinstance(parts[i + 1], ast.FormattedValue)):
                yield "scope grammar (build_scope, parse_scope)"


def _definitions(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Module- or class-level names the vocabulary owns, defined again."""
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [node.name]
        for name in names:
            if name in DEFINED:
                yield node.lineno, name


def scan(source: str, path: str = "<source>") -> list[Finding]:
    """Every use of a vocabulary literal or second definition in one module's source."""
    tree = ast.parse(source, path)
    docstrings = _docstrings(tree)
    lines = source.splitlines()
    found = [Finding(path, line, f"second definition of {name}", lines[line - 1].strip())
             for line, name in _definitions(tree)]
    defined = {f.line for f in found}  # its value is the same copy: reported once
    for node in ast.walk(tree):
        for rule in _node_rules(node, docstrings):
            line = getattr(node, "lineno", 0)
            if line not in defined:
                found.append(Finding(path, line, rule, lines[line - 1].strip()[:120]))
    return sorted(set(found), key=lambda f: (f.path, f.line, f.rule))


def tree_findings() -> list[Finding]:
    found = []
    for top in TREES:
        for file in sorted((ROOT / top).rglob("*.py")):
            rel = file.relative_to(ROOT)
            if rel.is_relative_to(HOME):
                continue
            found += scan(file.read_text("utf-8"), rel.as_posix())
    return [f for f in found if (f.path, _kind(f)) not in ALLOWED]


def _kind(finding: Finding) -> str:
    """The rule without its hint, e.g. 'code system': what ALLOWED is keyed by."""
    return finding.rule.split(" (")[0]


# --- the scanner finds what it must, and no more ------------------------------------------

@pytest.mark.parametrize("source, rule", [
    ('h = {"MedMij-Request-ID": "1"}', "header name"),
    ('if name == b"x-correlation-id": pass', "header name"),
    ('a = "application/fhir+json; fhirVersion=3.0"', "FHIR media type"),
    ('a = f"{kind}; fhirVersion={v}"', "FHIR Accept form"),
    ('slug = name.removesuffix("@medmij")', "provider suffix"),
    ('slug, _, service = item.partition("~")', "scope grammar"),
    ('scope = f"{slug}~{service}"', "scope grammar"),
    ('LOINC = "http://loinc.org"', "second definition of LOINC"),
    ('coding = {"system": "http://unitsofmeasure.org"}', "code system"),
    ('t = "{http://www.w3.org/2001/XMLSchema-instance}type"', "code system"),
    ('s = "http://fhir.nl/fhir/NamingSystem/bsn"', "code system"),
    ("LAPSE = 183 * 24 * 3600", "consent lapse"),
    ('if body["error"] == "invalid_grant": pass', "OAuth error code"),
    ('raise Refused("access_denied")', "OAuth error code"),
    ('s = datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")', "timestamp format"),
    ("W = (9, 8, 7, 6, 5, 4, 3, 2, -1)", "BSN 11-proof"),
    ('PATHS = {"zal": "/MedMij_Zorgaanbiederslijst.xml"}', "list path"),
    ("def provider_slug(name): return name", "second definition of provider_slug"),
])
def test_the_scanner_finds_each_kind_of_literal(source, rule):
    assert any(f.rule.startswith(rule) for f in scan(source)), scan(source)


@pytest.mark.parametrize("source", [
    'from simulators.medmij import LOINC, OAuthError, fhir_accept',
    'def f():\n    """Sends the MedMij-Request-ID and asks for application/fhir+json."""',
    '# scope "umcsandbox~48", error "invalid_grant"',
    'provider = "umcsandbox@medmij"',  # a name is data; only the suffix alone is the word
    'home = Path("~/x").expanduser(); n = f"{a}-{b}"',
    'ok = body["error"] == OAuthError.INVALID_GRANT',
])
def test_the_scanner_leaves_prose_names_and_vocabulary_use_alone(source):
    assert scan(source) == []


# --- the tree -------------------------------------------------------------------------------

def test_no_protocol_literal_outside_the_vocabulary():
    found = tree_findings()
    by_file: dict[str, int] = {}
    for f in found:
        by_file[f.path] = by_file.get(f.path, 0) + 1
    summary = ", ".join(f"{p} ({n})" for p, n in sorted(by_file.items(), key=lambda kv: -kv[1]))
    assert not found, (f"{len(found)} protocol literal(s) outside simulators/medmij in "
                       f"{summary}; import them from simulators.medmij:\n"
                       + "\n".join(map(str, found)))


def test_every_allowance_still_matches_something():
    """A stale allowance would hide the next real copy in that file."""
    raw = []
    for top in TREES:
        for file in sorted((ROOT / top).rglob("*.py")):
            rel = file.relative_to(ROOT)
            if not rel.is_relative_to(HOME):
                raw += scan(file.read_text("utf-8"), rel.as_posix())
    used = {(f.path, _kind(f)) for f in raw}
    assert set(ALLOWED) <= used, set(ALLOWED) - used
