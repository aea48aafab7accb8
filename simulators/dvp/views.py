"""What the DVP's pages show, without HTTP: providers by their display names (from the
topology, as the person knows them: "UMC Sandbox", not ``umcsandbox@medmij``), the person's
data grouped in plain words (``simulators.common.health_summary``), "opgehaald op" per
provider, and the consents with their state. The templates are in
``simulators/common/templates/dvp_*.html``."""

from __future__ import annotations

from simulators.common.health_summary import GROUPS, group_resources
from simulators.dvp import collect, grants


def provider_display(dvp, name: str) -> str:
    """The name people know a provider by; the Zorgaanbiedernaam when the topology has none
    (a provider added to the ZAL at run time)."""
    try:
        return dvp.config.topology.provider(name).display
    except KeyError:
        return name


def providers(dvp) -> list[tuple[str, str]]:
    """The ZAL's providers as (Zorgaanbiedernaam, display name), sorted as people read them."""
    return sorted(((name, provider_display(dvp, name)) for name in dvp.lists.lists.zal),
                  key=lambda p: p[1].lower())


def person_context(dvp, person_id: str, csrf_token: str) -> dict:
    """Everything ``dvp_person.html`` shows for one logged-in person."""
    items = dvp.store.resources(person_id)
    groups, other = group_resources(
        (provider_display(dvp, i["provider"]), i["resource"]) for i in items)
    collected = [row | {"display": provider_display(dvp, row["provider"])}
                 for row in dvp.store.collected(person_id)]
    consents = [c | {"display": provider_display(dvp, c["provider"])}
                for c in grants.consents(dvp, dvp.revocations, person_id)]
    return {"person_id": person_id, "csrf_token": csrf_token, "curator": dvp.curator,
            "groups": groups, "headings": GROUPS, "other": other, "collected": collected,
            "consents": consents, "providers": providers(dvp),
            "collections": collect.collections_view(dvp, person_id)}  # issue 16
