// The dashboard's live parts: hops per journey from /dashboard/stream (server-sent events),
// node health and the sandbox clock from /dashboard/health.json, Volgnummers from
// /dashboard/state.json. Served by the registry itself (no CDN). Only textContent is set,
// never HTML: paths and names come from the outside world. A "forget" event (a node's
// events dropped by the registry: a curator's erasure, a restart) removes that node's rows
// up to the given fseq from the page, as the registry removed them from its own pages.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var status = document.getElementById("live-status");
  var groups = {};
  var MAX_GROUPS = 40, MAX_ROWS = 200;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function keyOf(ev) {
    if (ev.corr && ev.corr !== "-") return ev.corr;
    if (ev.kind === "hop" && ev.caller === "browser") return "browser";
    return "achtergrond";
  }

  function titleOf(key) {
    if (key === "browser") return "Browser zonder correlatie-id";
    if (key === "achtergrond") return "Storingen en meldingen zonder reis";
    return "Reis " + key;
  }

  function group(key) {
    var g = groups[key];
    if (g) return g;
    var box = el("details", "journey");
    box.dataset.corr = key;
    box.open = key !== "achtergrond";
    var summary = el("summary");
    var title = el("span", "title", titleOf(key));
    var count = el("span", "count", "");
    summary.appendChild(title);
    summary.appendChild(document.createTextNode(" "));
    summary.appendChild(count);
    box.appendChild(summary);
    if (key !== "browser" && key !== "achtergrond") {
      var link = el("a", null, "volgordediagram");
      link.href = "/dashboard/journeys/" + encodeURIComponent(key);
      var p = el("p");
      p.appendChild(link);
      box.appendChild(p);
    }
    var list = el("ol");
    box.appendChild(list);
    g = groups[key] = {box: box, list: list, count: count, title: title, n: 0, nodes: []};
    live.insertBefore(box, live.firstChild);
    var boxes = live.querySelectorAll("details.journey");
    for (var i = MAX_GROUPS; i < boxes.length; i++) {
      delete groups[boxes[i].dataset.corr];
      boxes[i].remove();
    }
    return g;
  }

  function add(ev) {
    var key = keyOf(ev);
    var g = group(key);
    var row;
    if (ev.kind === "hop") {
      var where = ev.node_name + (ev.provider ? " (" + ev.provider + ")" : "");
      row = el("li", ev.status >= 400 ? "hop error new" : "hop new",
        ev.caller_name + " → " + where + ": " + ev.method + " " + ev.path + " → " +
        ev.status + " (" + Math.round(ev.ms) + " ms)");
      row.dataset.names = JSON.stringify([ev.caller_name, ev.node_name]);
      named(g, [ev.caller_name, ev.node_name]);
    } else {
      row = el("li", ev.kind === "fault" ? "fault new" : "event new",
        (ev.kind === "fault" ? "⚠ storing bij " : ev.kind + " bij ") + ev.node_name + ": " +
        (ev.text || ""));
    }
    row.dataset.node = ev.node;
    row.dataset.fseq = ev.fseq;
    g.list.appendChild(row);
    while (g.list.children.length > MAX_ROWS) g.list.removeChild(g.list.firstChild);
    g.n += 1;
    g.count.textContent = "(" + g.n + (g.n === 1 ? " hop)" : " hops)");
    if (key !== "achtergrond" && g.box !== live.firstChild) {
      live.insertBefore(g.box, live.firstChild);
    }
  }

  function named(g, names) {
    names.forEach(function (n) {
      if (g.nodes.indexOf(n) < 0) g.nodes.push(n);
    });
    if (g.box.dataset.corr !== "achtergrond" && g.box.dataset.corr !== "browser") {
      g.title.textContent = g.nodes.join(" → ");
    }
  }

  function forget(node, through) {
    Object.keys(groups).forEach(function (key) {
      var g = groups[key];
      var removed = 0;
      Array.prototype.slice.call(g.list.children).forEach(function (row) {
        if (row.dataset.node === node && Number(row.dataset.fseq) <= through) {
          row.remove();
          removed += 1;
        }
      });
      if (!removed) return;
      if (!g.list.children.length) {
        g.box.remove();
        delete groups[key];
        return;
      }
      g.n = Math.max(g.n - removed, g.list.children.length);
      g.count.textContent = "(" + g.n + (g.n === 1 ? " hop)" : " hops)");
      g.nodes = [];
      Array.prototype.forEach.call(g.list.children, function (row) {
        if (row.dataset.names) named(g, JSON.parse(row.dataset.names));
      });
    });
  }

  function connect() {
    var source = new EventSource("/dashboard/stream");
    source.onopen = function () { status.textContent = "Live verbonden met alle knooppunten."; };
    source.onerror = function () { status.textContent = "Verbinding weg; opnieuw verbinden…"; };
    source.onmessage = function (message) {
      try { add(JSON.parse(message.data)); } catch (e) { /* one bad event: skip it */ }
    };
    source.addEventListener("forget", function (message) {
      try {
        var dropped = JSON.parse(message.data);
        forget(dropped.node, dropped.through);
      } catch (e) { /* a bad message: keep the page */ }
    });
  }

  var WORDS = {ok: "gezond", starting: "start op", down: "niet bereikbaar"};

  function health() {
    fetch("/dashboard/health.json", {credentials: "same-origin"}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (body) {
      if (!body) return;
      Object.keys(body.nodes).forEach(function (id) {
        var h = body.nodes[id];
        var word = WORDS[h.status] || h.status;
        var dot = document.getElementById("health-" + id);
        if (dot) {
          dot.setAttribute("class", "health " + (WORDS[h.status] ? h.status : "down"));
          var t = dot.querySelector("title");
          if (t) t.textContent = word;
        }
        var cell = document.getElementById("status-" + id);
        if (cell) {
          cell.textContent = word + (h.ms !== undefined ? " (" + h.ms + " ms)" : "");
          cell.className = h.status === "ok" ? "status-ok" : "status-down";
        }
      });
      var clock = document.getElementById("clock");
      if (clock && body.clock) clock.textContent = body.clock.text;
    }).catch(function () { /* next round */ });
  }

  function lists() {
    fetch("/dashboard/state.json", {credentials: "same-origin"}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (body) {
      if (!body) return;
      var changed = false;
      Object.keys(body.lists.volgnummers).forEach(function (kind) {
        var cell = document.getElementById("vn-" + kind);
        if (cell && cell.textContent !== String(body.lists.volgnummers[kind])) changed = true;
      });
      if (changed) window.location.reload();  // the picture and the list changes are drawn there
    }).catch(function () { /* next round */ });
  }

  connect();
  health();
  window.setInterval(health, 5000);
  window.setInterval(lists, 10000);
})();
