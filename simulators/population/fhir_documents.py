"""Documenten (gegevensdienst 51, STU3): a DocumentReference per letter, its PDF as Binary.

Hospitals hold a discharge letter (ontslagbrief) per admission, GPs a referral letter
(verwijsbrief) per admission they referred for. The PDF is rendered on demand from the same
record, so ``Binary/<id>`` needs no storage either.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

from simulators.medmij import LOINC
from simulators.population import pdf
from simulators.population.clinical import Admission, ClinicalRecord
from simulators.population.demographics import Patient
from simulators.population.fhir_common import (
    NICTIZ,
    Context,
    Resource,
    concept,
    dt,
    holder_ref,
    meta,
    performer,
    subject,
)

PROFILE = NICTIZ + "IHE.MHD.Minimal.DocumentReference"


@dataclass(frozen=True, slots=True)
class Letter:
    binary_id: str
    doc_id: str
    title: str
    loinc: tuple[str, str]
    when: date
    lines: tuple[str, ...]


def letters(p: Patient, r: ClinicalRecord, ctx: Context, here: list[int]) -> list[Letter]:
    """Letters this holder wrote; ``here`` lists the admissions that concern it."""
    out: list[Letter] = []
    for n in here:
        adm = r.admissions[n]
        if ctx.kind == "gp":
            out.append(_referral(p, ctx, n, adm))
        else:
            out.append(_discharge(p, ctx, n, adm))
    return out


def _dmy(day: date) -> str:
    """``f"{day:%d-%m-%Y}"`` (years 1000-9999) without strftime, which costs ~1.4 us: a letter
    needs three or four (issue 17 item 6)."""
    return f"{day.day:02d}-{day.month:02d}-{day.year}"


def _header(p: Patient, ctx: Context) -> list[str]:
    return [ctx.display, "", f"Betreft: {p.name}, geboren {_dmy(p.birth_date)}",
            f"BSN: {p.bsn}", f"Adres: {p.street} {p.house_number}, {p.postcode} {p.city}", ""]


def _discharge(p: Patient, ctx: Context, n: int, adm: Admission) -> Letter:
    lines = _header(p, ctx) + [
        f"Opname: {_dmy(adm.start)} tot {_dmy(adm.end)}",
        f"Reden van opname: {adm.procedure.reason[1]}",
        f"Verrichting: {adm.procedure.display}",
        "Beloop: ongecompliceerd.",
        "Beleid: controle op de polikliniek over zes weken.",
        "", f"Met collegiale groet, {ctx.practitioner_display}",
    ]
    return Letter(ctx.rid("bin", n), ctx.rid("doc", n), "Ontslagbrief",
                  ("18842-5", "Discharge summary"), adm.end, tuple(lines))


def _referral(p: Patient, ctx: Context, n: int, adm: Admission) -> Letter:
    when = adm.start - timedelta(days=10)
    lines = _header(p, ctx) + [
        f"Geachte collega, graag verwijs ik bovengenoemde patiënt op {_dmy(when)}",
        f"in verband met: {adm.procedure.reason[1]}.",
        f"Vraagstelling: beoordeling en zo nodig {adm.procedure.display.lower()}.",
        "", f"Met collegiale groet, {ctx.practitioner_display}, huisarts",
    ]
    return Letter(ctx.rid("bin", n), ctx.rid("doc", n), "Verwijsbrief",
                  ("57133-1", "Referral note"), when, tuple(lines))


def pdf_bytes(letter: Letter) -> bytes:
    return pdf.render(letter.title, letter.lines)


def document_reference(ctx: Context, letter: Letter) -> Resource:
    data = pdf_bytes(letter)
    return {
        "resourceType": "DocumentReference",
        "id": letter.doc_id,
        "meta": meta(PROFILE),
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{_uuid(letter)}"},
        "status": "current",
        "type": concept(LOINC, *letter.loinc),
        "class": concept(LOINC, *letter.loinc),
        "subject": subject(ctx),
        "created": dt(letter.when, 14),
        "indexed": dt(letter.when, 15),
        "author": [performer(ctx), holder_ref(ctx)],
        "custodian": holder_ref(ctx),
        "description": letter.title,
        "content": [{"attachment": {
            "contentType": "application/pdf",
            "language": "nl",
            "url": f"Binary/{letter.binary_id}",
            "size": len(data),
            "hash": base64.b64encode(hashlib.sha1(data).digest()).decode(),
            "title": f"{letter.title} {_dmy(letter.when)}",
            "creation": dt(letter.when, 14),
        }}],
    }


def _uuid(letter: Letter) -> str:
    h = hashlib.blake2b(letter.doc_id.encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"
