import pytest

from simulators.medmij.topology import TopologyError, load_topology, parse_topology


def test_default_topology_has_the_required_nodes():
    t = load_topology()
    kinds = {p.kind for p in t.providers}
    assert {"hospital", "gp", "rivm"} <= kinds and len(t.providers) >= 4
    assert len(t.dvas) >= 2 and len(t.dvps) >= 3
    assert {p.dva for p in t.providers} == {d.hostname for d in t.dvas}
    for node in t.nodes:
        assert node.hostname == node.hostname.lower() and node.hostname.endswith(".sandbox.test")
    for p in t.providers:
        assert p.name.endswith("@medmij") and 10 <= len(p.name) <= 57


def test_topology_round_trips_through_dict():
    t = load_topology()
    assert type(t).from_dict(t.to_dict()) == t


@pytest.mark.parametrize("bad, message", [
    ({"name": "UMC-1@medmij"}, "must match"),
    ({"dva": "dva-nowhere.sandbox.test"}, "unknown DVA"),
    ({"gegevensdiensten": ["999"]}, "gegevensdiensten"),
])
def test_bad_provider_is_refused(bad, message):
    raw = {
        "registry": {"hostname": "registry.sandbox.test"},
        "digid": {"hostname": "digid.sandbox.test"},
        "inspection": {"hostname": "mgo.sandbox.test"},
        "dva": [{"hostname": "dva-a.sandbox.test", "name": "DVA A"}],
        "provider": [{"name": "umcsandbox@medmij", "kind": "hospital",
                      "dva": "dva-a.sandbox.test", "gegevensdiensten": ["48"]} | bad],
    }
    with pytest.raises(TopologyError, match=message):
        parse_topology(raw)


def test_uppercase_hostname_is_refused():
    raw = {"registry": {"hostname": "Registry.sandbox.test"},
           "digid": {"hostname": "digid.sandbox.test"},
           "inspection": {"hostname": "mgo.sandbox.test"}}
    with pytest.raises(TopologyError, match="lowercase"):
        parse_topology(raw)
