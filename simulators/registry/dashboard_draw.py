"""Pictures of the ecosystem for the registry's dashboard: journeys grouped from hop events,
the sequence diagram of one journey (SVG and PNG) and the topology (SVG).

No FastAPI here: plain functions over the hop events of ``simulators.common.events`` and the
topology, so each can be tested without a running sandbox. Every text that ends up in SVG is
escaped (paths and pseudonyms come from the outside world).

How hops become journeys (``group_journeys``):

- a hop with an ``X-Correlation-ID`` belongs to the journey of that id. Our nodes pass a
  flow's id on every back-channel call (token, searches, lists, localisation), and the
  scripted browser of the scenarios sends it on every front-channel request too;
- a real browser sends no correlation id, so its front-channel hops (PGO connect, DVA
  authorize, DigiD, consent, PGO callback) carry ``-``. They are cut into browser sessions
  (a pause of more than ``SESSION_GAP`` seconds starts a new one) and each hop joins the
  correlated journey that is still running or starts after it: the PGO's callback contains
  the token request and the searches it sends with the flow's id, so the collect's front
  channel lands in the collect's journey. A session with no correlated journey near it is a
  journey of its own (``web-<time>``). With several people clicking at once this can mix
  sessions up; the scenarios' journeys (correlation id on every hop) are exact;
- hops without a correlation id between our nodes (list refreshes every few seconds) and the
  dashboard's own polling (``/health``, ``/admin/events``, ``/dashboard``) are background,
  never a journey.
"""

from __future__ import annotations

import io
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape

from simulators.medmij.topology import Topology

SESSION_GAP = 60.0  # seconds of browser silence that end a browser session
NOISE_PREFIXES = ("/health", "/admin/events", "/dashboard", "/favicon.ico")
HUMAN = ("browser", "client")  # callers that are a person's browser (real or scripted)


def start_of(event: dict) -> float:
    """When a hop began: hops are published when the answer left (``t``), after ``ms``; other
    events happen at ``t``."""
    if event.get("kind") != "hop":
        return float(event["t"])
    return float(event["t"]) - float(event.get("ms") or 0) / 1000


def is_noise(event: dict) -> bool:
    """The dashboard's own polling and health probes: never shown, never a journey."""
    return event.get("kind") == "hop" and str(event.get("path", "")).startswith(NOISE_PREFIXES)


def is_shown(event: dict) -> bool:
    """Whether the live stream shows an event: every journey's hop (a correlation id, or a
    person's browser) and every other kind (faults); not the background hops between nodes
    (list refreshes every few seconds) nor the dashboard's own polling."""
    if is_noise(event):
        return False
    return (event.get("kind") != "hop" or str(event.get("corr") or "-") != "-"
            or event.get("caller") == "browser")


def group_journeys(events: Iterable[dict], gap: float = SESSION_GAP) -> dict[str, list[dict]]:
    """Journey key -> its events in time order (see the module docstring for the rule)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    web: list[dict] = []
    notes: list[dict] = []
    for event in events:
        if is_noise(event):
            continue
        corr = str(event.get("corr") or "-")
        if event.get("kind") != "hop":
            if corr != "-":
                notes.append(event)
            continue
        if corr != "-":
            groups[corr].append(event)
        elif event.get("caller") == "browser":
            web.append(event)
    spans = {corr: (min(map(start_of, hops)), max(float(h["t"]) for h in hops))
             for corr, hops in groups.items()}
    for session in _sessions(web, gap):
        first, last = start_of(session[0]), max(float(h["t"]) for h in session)
        anchors = sorted((span for span in spans.items()
                          if span[1][0] <= last and span[1][1] >= first),
                         key=lambda item: item[1][0])
        if not anchors:
            groups[f"web-{first:.3f}"].extend(session)
            continue
        for hop in session:
            began = start_of(hop)
            corr = next((c for c, (_s, end) in anchors if end >= began), anchors[-1][0])
            groups[corr].append(hop)
    for note in notes:  # faults and other kinds that name a flow join it
        groups[str(note["corr"])].append(note)
    return {key: sorted(hops, key=start_of) for key, hops in groups.items()}


def _sessions(hops: list[dict], gap: float) -> list[list[dict]]:
    sessions: list[list[dict]] = []
    end = float("-inf")
    for hop in sorted(hops, key=start_of):
        if start_of(hop) - end > gap or not sessions:
            sessions.append([])
        sessions[-1].append(hop)
        end = max(end, float(hop["t"]))
    return sessions


def journey_summary(key: str, events: list[dict], names: dict[str, str]) -> dict:
    """One line of the journeys list: when, how long, which nodes, how many hops failed."""
    hops = [e for e in events if e.get("kind") == "hop"]
    nodes: list[str] = []
    for hop in hops:
        for who in (hop.get("caller", ""), hop["node"]):
            if who and who not in nodes:
                nodes.append(who)
    first = min((start_of(e) for e in events), default=0.0)
    last = max((float(e["t"]) for e in events), default=0.0)
    return {"corr": key, "start": round(first, 3), "seconds": round(last - first, 3),
            "hops": len(hops), "errors": sum(1 for h in hops if int(h.get("status", 0)) >= 400),
            "faults": sum(1 for e in events if e.get("kind") == "fault"),
            "nodes": nodes, "title": " → ".join(names.get(n, n) for n in nodes)}


# --- sequence diagram ------------------------------------------------------------------------

COLUMN = 150  # px between lifelines
TOP = 70  # px above the first arrow (lifeline heads)
ROW = 34  # px per arrow
LEFT = 70  # px for the time column
CHAR = 7  # px per character of a 12 px label (generous: DejaVu Sans is about 6.6)
LABEL = 90  # characters of a label at most


@dataclass
class Row:
    """One arrow (a hop) or one note (a fault or another event) of the diagram."""

    offset: float  # seconds since the journey began
    source: str
    target: str
    label: str
    failed: bool
    note: bool = False


@dataclass
class Sequence:
    """The laid-out diagram, drawn the same way as SVG and as PNG."""

    title: str
    lifelines: list[tuple[str, str]]  # (id, display name) in drawing order
    rows: list[Row] = field(default_factory=list)

    def x(self, lifeline: str) -> float:
        ids = [i for i, _ in self.lifelines]
        return LEFT + COLUMN / 2 + COLUMN * ids.index(lifeline)

    @property
    def width(self) -> int:
        """Wide enough for every lifeline and every label (labels start at the arrow's left
        end and may run past the next lifeline: they are never cut to the arrow's length)."""
        widest = LEFT + COLUMN * max(len(self.lifelines), 1) + 10
        for row in self.rows:
            left = min(self.x(row.source), self.x(row.target)) - (70 if row.note else -6)
            widest = max(widest, int(left + CHAR * len(_short(row.label, LABEL)) + 16))
        return widest

    @property
    def height(self) -> int:
        return TOP + ROW * (len(self.rows) + 1)

    def y(self, index: int) -> float:
        return TOP + ROW * (index + 0.7)


def lifeline_order(topology: Topology) -> list[str]:
    """Browser first, then the PGOs, the inspection function, DVAs, DigiD and the registry:
    the order in which a collect travels."""
    return ["browser", *(n.id for n in topology.dvps), *(n.id for n in topology.external_dvps),
            topology.inspection.id, *(n.id for n in topology.dvas),
            *(n.id for n in topology.external_dvas), topology.digid.id, topology.registry.id]


def lifeline_of(who: str) -> str:
    """A scripted browser (``client``) plays the person's browser in the scenarios."""
    return "browser" if who in HUMAN else who


def sequence(key: str, events: list[dict], topology: Topology,
             names: dict[str, str]) -> Sequence:
    """The diagram of one journey: an arrow per hop (caller -> node) in the order the hops
    began, labelled ``METHOD path status ms``; other events (faults) as notes on their node."""
    order = lifeline_order(topology)
    present: list[str] = []
    for event in events:
        for who in (event.get("caller"), event.get("node")):
            if who and lifeline_of(who) not in present:
                present.append(lifeline_of(who))
    present.sort(key=lambda who: order.index(who) if who in order else len(order))
    labels = [(who, "Browser" if who == "browser" else names.get(who, who)) for who in present]
    diagram = Sequence(f"Journey {key}", labels)
    first = min((start_of(e) for e in events), default=0.0)
    for event in events:
        offset = start_of(event) - first
        node = lifeline_of(str(event.get("node", "")))
        if event.get("kind") == "hop":
            label = (f"{event['method']} {event['path']} → {event['status']} "
                     f"({float(event.get('ms') or 0):.0f} ms)")
            diagram.rows.append(Row(offset, lifeline_of(str(event.get("caller"))), node, label,
                                    int(event.get("status", 0)) >= 400))
        else:
            diagram.rows.append(Row(offset, node, node, event_text(event), True, note=True))
    return diagram


def event_text(event: dict) -> str:
    """Any event kind in words: its kind and its own fields (faults are shown generically)."""
    skip = {"seq", "t", "node", "kind", "corr", "req", "key", "fseq"}
    fields = ", ".join(f"{k}={v}" for k, v in event.items() if k not in skip)
    return f"{event.get('kind', 'event')}: {fields}" if fields else str(event.get("kind"))


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sequence_svg(diagram: Sequence) -> str:
    """The diagram as a standalone SVG document (every text escaped)."""
    w, h = diagram.width, diagram.height
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'viewBox="0 0 {w} {h}" role="img" aria-labelledby="seq-title" '
           'font-family="sans-serif" font-size="12">',
           f'<title id="seq-title">{escape(diagram.title)}</title>',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
           'fill="#1b1b1b"/></marker></defs>',
           f'<rect width="{w}" height="{h}" fill="#ffffff"/>']
    for who, label in diagram.lifelines:
        x = diagram.x(who)
        out.append(f'<g class="lifeline" data-id="{escape(who)}">'
                   f'<rect x="{x - 68:.0f}" y="8" width="136" height="40" rx="4" '
                   'fill="#f2f5f9" stroke="#154273"/>'
                   f'<text x="{x:.0f}" y="26" text-anchor="middle" font-weight="bold">'
                   f'{escape(_short(label, 20))}</text>'
                   f'<text x="{x:.0f}" y="41" text-anchor="middle" fill="#444">'
                   f'{escape(_short(who, 22))}</text>'
                   f'<line x1="{x:.0f}" y1="48" x2="{x:.0f}" y2="{h - 8}" stroke="#999" '
                   'stroke-dasharray="4 4"/></g>')
    for index, row in enumerate(diagram.rows):
        y = diagram.y(index)
        colour = "#b00020" if row.failed else "#1b1b1b"
        out.append(f'<text x="6" y="{y + 4:.0f}" fill="#444">+{row.offset:.3f} s</text>')
        x1, x2 = diagram.x(row.source), diagram.x(row.target)
        if row.note or x1 == x2:
            text = _short(row.label, LABEL)
            out.append(f'<g class="note"><rect x="{x1 - 70:.0f}" y="{y - 12:.0f}" width="'
                       f'{CHAR * len(text) + 8}" height="18" fill="#fff4d6" '
                       f'stroke="#b00020"/><text x="{x1 - 66:.0f}" y="{y + 1:.0f}" '
                       f'fill="{colour}">{escape(text)}</text></g>')
            continue
        out.append(f'<g class="hop"><line x1="{x1:.0f}" y1="{y:.0f}" x2="{x2:.0f}" '
                   f'y2="{y:.0f}" stroke="{colour}" marker-end="url(#arrow)"/>'
                   f'<text x="{min(x1, x2) + 6:.0f}" y="{y - 5:.0f}" fill="{colour}">'
                   f'{escape(_short(row.label, LABEL))}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


def sequence_png(diagram: Sequence) -> bytes:
    """The same diagram rasterised with matplotlib (Agg, no pyplot state): a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    w, h = diagram.width, diagram.height
    figure = Figure(figsize=(w / dpi, h / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, w)
    axes.set_ylim(h, 0)
    axes.axis("off")
    for who, label in diagram.lifelines:
        x = diagram.x(who)
        axes.add_patch(_rectangle(x - 68, 8, 136, 40))
        axes.text(x, 24, _short(label, 20), ha="center", va="center", fontsize=9,
                  fontweight="bold")
        axes.text(x, 39, _short(who, 22), ha="center", va="center", fontsize=8, color="#444")
        axes.plot([x, x], [48, h - 8], color="#999", linestyle="--", linewidth=0.8)
    for index, row in enumerate(diagram.rows):
        y = diagram.y(index)
        colour = "#b00020" if row.failed else "#1b1b1b"
        axes.text(6, y, f"+{row.offset:.3f} s", va="center", fontsize=8, color="#444")
        x1, x2 = diagram.x(row.source), diagram.x(row.target)
        if row.note or x1 == x2:
            axes.text(x1 - 66, y, _short(row.label, LABEL), va="center", fontsize=8, color=colour,
                      bbox={"facecolor": "#fff4d6", "edgecolor": colour})
            continue
        axes.annotate("", xy=(x2, y), xytext=(x1, y),
                      arrowprops={"arrowstyle": "-|>", "color": colour, "linewidth": 1})
        axes.text(min(x1, x2) + 6, y - 6, _short(row.label, LABEL), ha="left", va="bottom",
                  fontsize=8, color=colour)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _rectangle(x: float, y: float, w: float, h: float):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor="#f2f5f9", edgecolor="#154273")


# --- topology --------------------------------------------------------------------------------

BOX_W, BOX_H, GAP = 180, 64, 24


def topology_svg(topology: Topology, listed: dict[str, set[str]],
                 zal: dict[str, tuple[str, list[str]]], displays: dict[str, str],
                 volgnummers: dict[str, int]) -> str:
    """The ecosystem as a picture: the registry with its lists' Volgnummers and DigiD on top,
    the PGOs and the inspection function in the middle (their OCL and Whitelist membership),
    the DVAs below with the providers the ZAL lists at each. ``listed`` is list kind -> the
    hostnames on it; ``zal`` is provider name -> (DVA hostname, gegevensdiensten). Health dots
    (``id="health-<node>"``) are coloured by the dashboard's script."""
    clients = [*topology.dvps, *topology.external_dvps, topology.inspection]
    dvas = [*topology.dvas, *topology.external_dvas]
    by_dva: dict[str, list[str]] = defaultdict(list)
    for name, (dva, _services) in sorted(zal.items()):
        by_dva[dva].append(name)
    tallest = max((len(by_dva[d.hostname]) for d in dvas), default=0)
    columns = max(len(clients), len(dvas), 2)
    width = columns * (BOX_W + GAP) + GAP
    dva_h = BOX_H + 22 * tallest
    height = 3 * GAP + 2 * BOX_H + 2 * 60 + dva_h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="topo-title" '
           'font-family="sans-serif" font-size="12" class="topology">',
           '<title id="topo-title">Het MedMij-stelsel in deze sandbox: Stelselnode, DigiD, '
           "PGO's, Mijn Gezondheidsoverzicht, DVA's en zorgaanbieders</title>"]
    centres: dict[str, tuple[float, float]] = {}

    def box(node, x: float, y: float, h: float, badges: list[tuple[str, bool]],
            extra: list[str] = ()) -> None:
        centres[node.id] = (x + BOX_W / 2, y + h / 2)
        dash = ' stroke-dasharray="5 3"' if node.external else ""
        out.append(f'<g class="node" data-node="{escape(node.id)}">'
                   f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{h}" rx="6" fill="#f2f5f9" '
                   f'stroke="#154273"{dash}/>'
                   f'<circle id="health-{escape(node.id)}" class="health unknown" '
                   f'cx="{x + 12}" cy="{y + 14}" r="6"><title>gezondheid onbekend</title>'
                   '</circle>'
                   f'<text x="{x + 24}" y="{y + 18}" font-weight="bold">'
                   f'{escape(_short(node.name, 22))}</text>'
                   f'<text x="{x + 8}" y="{y + 34}" fill="#444">'
                   f'{escape(_short(node.id, 26))}{" (extern)" if node.external else ""}</text>')
        bx = x + 8
        for label, on in badges:
            fill, text = ("#e3f4e1", label) if on else ("#fde2e1", f"niet op {label}")
            wide = 7 * len(text) + 8
            out.append(f'<g class="badge {"on" if on else "off"}"><rect x="{bx}" y="{y + 42}" '
                       f'width="{wide}" height="16" rx="3" fill="{fill}"/><text x="{bx + 4}" '
                       f'y="{y + 54}" font-size="11">{escape(text)}</text></g>')
            bx += wide + 4
        for index, line in enumerate(extra):
            out.append(f'<text x="{x + 8}" y="{y + 78 + 22 * index}" font-size="11">'
                       f'{escape(line)}</text>')
        out.append("</g>")

    registry_x = GAP
    listed_text = " · ".join(f"{k.upper()} v{v}" for k, v in volgnummers.items())
    box(topology.registry, registry_x, GAP, BOX_H, [])
    out.append(f'<text x="{registry_x + BOX_W + 10}" y="{GAP + 38}" font-size="11">'
               f'{escape(listed_text)}</text>')
    box(topology.digid, width - GAP - BOX_W, GAP, BOX_H, [])
    y_clients = GAP + BOX_H + 60
    for index, node in enumerate(clients):
        box(node, GAP + index * (BOX_W + GAP), y_clients, BOX_H,
            [("OCL", node.hostname in listed.get("ocl", set())),
             ("Whitelist", node.hostname in listed.get("whitelist", set()))])
    y_dvas = y_clients + BOX_H + 60
    for index, node in enumerate(dvas):
        providers = by_dva.get(node.hostname, [])
        lines = [f"{displays.get(p, p)}: {' '.join(zal[p][1])}" for p in providers]
        box(node, GAP + index * (BOX_W + GAP), y_dvas, BOX_H + 22 * len(providers),
            [("Whitelist", node.hostname in listed.get("whitelist", set())),
             (f"ZAL ({len(providers)})", bool(providers))], [_short(t, 28) for t in lines])
    edges = [(c.id, d.id) for c in clients for d in dvas]
    edges += [(d.id, topology.digid.id) for d in dvas]
    lines_out = []  # centre to centre, drawn first: the boxes cover their ends
    for a, b in edges:
        (x1, y1), (x2, y2) = centres[a], centres[b]
        lines_out.append(f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" '
                         'stroke="#c9d3e0"/>')
    out[2:2] = lines_out  # under the boxes
    out.append("</svg>")
    return "\n".join(out)


def clock_text(now: float, offset: float) -> str:
    """The sandbox clock as people read it: UTC time and the offset from wall time."""
    stamp = time.strftime("%d-%m-%Y %H:%M:%S UTC", time.gmtime(now))
    return f"{stamp} (verschoven met {offset / 86400:+.2f} dagen)" if abs(offset) >= 1 \
        else f"{stamp} (gelijk aan de echte tijd)"
