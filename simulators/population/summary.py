"""A readable, JSON-able summary of one population member, for the CLI and for exports."""

from __future__ import annotations

from typing import Any

from simulators.population.population import Population


def summarize(pop: Population, index: int) -> dict[str, Any]:
    """Demographics, conditions, medication, vaccinations and where the data lives."""
    p = pop.patient(index)
    out: dict[str, Any] = {
        "index": index,
        "bsn": p.bsn,
        "name": p.name,
        "sex": p.sex,
        "birth_date": p.birth_date.isoformat(),
        "age": p.age,
        "address": f"{p.street} {p.house_number}, {p.postcode} {p.city}",
        "gp_practice": p.gp_practice,
        "insurer": p.insurer,
        "holders": {name: pop.services(index, name) for name in pop.holders(index)},
    }
    if index < pop.size:
        r = pop.record(index)
        rvp, flu = pop.vaccinations(index)
        out |= {
            "conditions": [d.condition.display for d in r.diagnoses],
            "medication": [u.medication.display for u in r.medications],
            "allergies": [a.allergen.display for a in r.allergies],
            "admissions": [f"{a.start.isoformat()} {a.procedure.display}" for a in r.admissions],
            "vaccinations": [f"{d.when.isoformat()} {d.vaccine.display}" for d in [*rvp, *flu]],
        }
    return out
