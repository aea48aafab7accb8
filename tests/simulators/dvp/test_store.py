"""The PGO stores what it collected (issue 11, item 11), resource by resource, in one
transaction with the request log."""

from __future__ import annotations

import pytest

from simulators.dvp.collect import SearchResult
from simulators.dvp.store import DvpStore

BASE = "https://dva.test/fhir/umc/48"
SERVED = {
    "Patient": [{"resourceType": "Patient", "id": "p1", "gender": "female"}],
    "Condition": [{"resourceType": "Condition", "id": f"c{i}", "code": {"text": f"ziekte {i}"}}
                  for i in range(3)],
    "AllergyIntolerance": [{"resourceType": "AllergyIntolerance", "id": "a1"}],
    "Binary": [{"resourceType": "Binary", "id": "b1", "contentType": "application/pdf",
                "content": "JVBERi0="}],
}


def served_results() -> list[SearchResult]:
    return [SearchResult("48", f"{BASE}/{kind}", 200, "2026-11-01T10:00:00+00:00", 0.0,
                         resources) for kind, resources in SERVED.items()] + [
        SearchResult("48", f"{BASE}/Flag", 401, "2026-11-01T10:00:00+00:00", 0.0)]


def test_store_collect_holds_every_served_resource_as_served(tmp_path):
    store = DvpStore(tmp_path / "dvp.sqlite")
    person = store.add_person("x")
    stored = store.store_collect(person, "umc@medmij", served_results(), "corr-1")
    served = {(r["resourceType"], r["id"]): r for rs in SERVED.values() for r in rs}
    held = {(i["resource"]["resourceType"], i["resource"]["id"]): i["resource"]
            for i in store.resources(person)}
    assert stored == len(served)
    assert held == served  # same set, same bodies: no type dropped, nothing altered
    assert {i["provider"] for i in store.resources(person)} == {"umc@medmij"}
    assert [e["request_uri"] for e in store.request_log(person)] == [
        r.request_uri for r in served_results()]


def test_a_failing_collect_stores_nothing_of_itself(tmp_path):
    store = DvpStore(tmp_path / "dvp.sqlite")
    person = store.add_person("x")
    store.store_collect(person, "umc@medmij", served_results()[:1], "corr-1")
    broken = served_results()
    broken[2].resources.append({"resourceType": "Condition"})  # no id: the insert fails
    with pytest.raises(KeyError):
        store.store_collect(person, "umc@medmij", broken, "corr-2")
    assert len(store.resources(person)) == 1
    assert {e["correlation_id"] for e in store.request_log(person)} == {"corr-1"}
