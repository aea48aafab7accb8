"""The release3 ZAL (?api=2) next to the release2 lists (?api=1): the shape of the official
example MedMij_Zorgaanbiederslijst_example.9.3.xml, the same content and Volgnummer."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from sandbox.runtime.local import LocalRuntime
from simulators.common.config import SandboxConfig
from simulators.common.http import sync_client
from simulators.common.lists import parse_list
from simulators.medmij.topology import load_topology
from simulators.registry.lists import ZAL_RELEASE3, ListHeader, build_zal_release3
from simulators.registry.state import RegistryState

EXAMPLE = "MedMij_Zorgaanbiederslijst_example.9.3.xml"
OPTIONAL = ("Abonneren",)  # subscriptions: not offered by the sandbox


def paths(root: etree._Element) -> set[str]:
    """Every element path by local name, e.g. Zorgaanbiederslijst/Zorgaanbieders/..."""
    found = set()
    for el in root.iter(etree.Element):
        names = [etree.QName(a).localname for a in (*reversed(list(el.iterancestors())), el)]
        found.add("/".join(names))
    return found


def child_order(root: etree._Element) -> dict[str, list[str]]:
    """Per element name, the order of its distinct child names (repeats collapsed)."""
    order: dict[str, list[str]] = {}
    for el in root.iter(etree.Element):
        kids = [etree.QName(c).localname for c in el if isinstance(c.tag, str)]
        order.setdefault(etree.QName(el).localname, list(dict.fromkeys(kids)))
    return order


def release3(profile: str = "medmij") -> tuple[RegistryState, etree._Element]:
    topology = load_topology()
    config = SandboxConfig(topology, profile, LocalRuntime(Path(".")).addresses(topology, 18400),
                           Path("."))
    state = RegistryState(config, None)
    h = state.headers["zal"]
    body = build_zal_release3(config, list(state.providers.values()),
                              ListHeader(h["tijdstempel"], h["volgnummer"]))
    return state, etree.fromstring(body)


def test_release3_has_the_shape_of_the_official_example(medmij_dir):
    example = etree.parse(str(medmij_dir / "lists" / "examples" / EXAMPLE)).getroot()
    _, ours = release3()
    assert etree.QName(ours).namespace == etree.QName(example).namespace == ZAL_RELEASE3
    wanted = {p for p in paths(example) if not any(o in p for o in OPTIONAL)}
    assert paths(ours) == wanted
    theirs = child_order(example)
    for name, kids in child_order(ours).items():
        assert [k for k in theirs[name] if k not in OPTIONAL] == kids, name


def test_release3_carries_the_same_providers_and_endpoints_as_release2():
    state, ours = release3()
    _, zal2 = parse_list("zal", state.render("zal"))
    ns = {"z": ZAL_RELEASE3}
    assert ours.findtext("z:Volgnummer", namespaces=ns) == str(state.headers["zal"]["volgnummer"])
    for za in ours.iterfind("z:Zorgaanbieders/z:Zorgaanbieder", ns):
        name = za.findtext("z:Zorgaanbiedernaam", namespaces=ns)
        assert za.findtext("z:Aanbiedertype", namespaces=ns) == "ZA"
        services = za.findall("z:Interfaceversies/z:Interfaceversie/z:Gegevensdiensten/"
                              "z:Gegevensdienst", ns)
        ids = [g.findtext("z:GegevensdienstId", namespaces=ns) for g in services]
        assert set(ids) == set(zal2[name])
        for g, service in zip(services, ids, strict=True):
            uri = g.findtext("z:AuthorizationEndpoint/z:AuthorizationEndpointuri", namespaces=ns)
            assert uri == zal2[name][service].authorize


def test_registry_serves_both_releases(sandbox):
    with sync_client(sandbox.info.addresses) as http:
        url = sandbox.url("registry", "/MedMij_Zorgaanbiederslijst.xml")
        r2, r3 = http.get(url, params={"api": "1"}), http.get(url, params={"api": "2"})
        assert r2.status_code == r3.status_code == 200
        assert etree.QName(etree.fromstring(r2.content)).namespace.endswith("/release2/")
        root3 = etree.fromstring(r3.content)
        assert etree.QName(root3).namespace == ZAL_RELEASE3
        assert root3.findtext(f"{{{ZAL_RELEASE3}}}Volgnummer") == str(
            parse_list("zal", r2.content)[0])
        r = http.get(sandbox.url("registry", "/MedMij_OAuthclientlist.xml"), params={"api": "2"})
        assert r.status_code == 400  # only the ZAL has a release3
