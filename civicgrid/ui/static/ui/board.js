// Command-centre board: ECharts from the figures partial's JSON (redrawn after each htmx refresh) and a Leaflet
// map of open cases, clustered on the server by street/community/grid, reloaded on pan/zoom and every 30 s.
// No inline script (CSP): data comes from a json_script block and data-* attributes.
(function () {
  "use strict";

  // ------------------------------------------------------------------------------------------- charts
  const charts = {};

  function chart(id) {
    const el = document.getElementById(id);
    if (!el || typeof echarts === "undefined") return null;
    if (!charts[id] || charts[id].getDom() !== el) charts[id] = echarts.init(el, null, { renderer: "svg" });
    return charts[id];
  }

  function drawCharts() {
    const block = document.getElementById("board-chart-data");
    if (!block) return;
    const data = JSON.parse(block.textContent);
    const flow = chart("chart-flow");
    if (flow) {
      // Every step is named, on a phone too: ECharts drops labels that overlap ("Accepted" and "Handled" at
      // 375 px in English). When the widest label (about 12 px a Chinese character, 7 px a Latin one) is wider
      // than its column, the labels are slanted instead.
      const column = (flow.getWidth() - 56) / Math.max(data.flow.length, 1);
      const widest = Math.max(0, ...data.flow.map((f) => [...f.label].reduce((w, ch) => w + (ch > "\u2e7f" ? 12 : 7), 0)));
      const slant = widest > column - 4;
      flow.setOption({
        animation: false,
        grid: { left: 40, right: 16, top: 24, bottom: slant ? 56 : 28 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: data.flow.map((f) => f.label),
                 axisLabel: { interval: 0, hideOverlap: false, rotate: slant ? 35 : 0 } },
        yAxis: { type: "value", minInterval: 1 },
        series: [{ type: "bar", data: data.flow.map((f) => f.value), itemStyle: { color: "#1456b8" },
                   label: { show: true, position: "top" } }],
      });
    }
    const status = chart("chart-status");
    if (status) {
      const rows = data.statuses.slice().reverse();
      status.setOption({
        animation: false,
        grid: { left: 64, right: 32, top: 8, bottom: 24 },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "value", minInterval: 1 },
        yAxis: { type: "category", data: rows.map((s) => s.label) },
        series: [{ type: "bar", data: rows.map((s) => s.count), label: { show: true, position: "right" },
                   itemStyle: { color: (p) => (rows[p.dataIndex].status === "suspended" ? "#9c755f" : "#b4232a") } }],
      });
    }
  }

  document.body.addEventListener("htmx:afterSwap", (e) => {
    if (e.target && e.target.id === "board-figures") drawCharts();
  });

  // What a screen reader hears on a refresh: nothing, unless the overdue count changed (one short sentence).
  const announce = document.getElementById("board-announce");
  const overdueTotal = () => {
    const tag = document.querySelector("#board-lists [data-overdue-total]");
    return tag ? tag.dataset.overdueTotal : null;
  };
  let lastOverdue = overdueTotal();
  // The stopped-worker warning is an alert when it appears; redrawn unchanged by a refresh, it is not said again.
  let workerDown = !!document.querySelector("#board-figures [data-worker-down]");
  document.body.addEventListener("htmx:afterSwap", (e) => {
    if (!e.target || e.target.id !== "board-figures") return;
    const warning = e.target.querySelector("[data-worker-down]");
    if (warning && workerDown) warning.removeAttribute("role");
    workerDown = !!warning;
  });
  document.body.addEventListener("htmx:afterSwap", (e) => {
    if (!announce || !e.target || e.target.id !== "board-lists") return;
    const now = overdueTotal();
    if (now !== null && now !== lastOverdue) announce.textContent = announce.dataset.template.replace("{n}", now);
    lastOverdue = now;
  });
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  drawCharts();

  // A refresh that fails (the server answers an error, or cannot be reached) leaves the last figures in place:
  // the board says so, with the time they are from, until every part refreshes again.
  const staleNote = document.getElementById("board-stale");
  const failing = new Set();
  function refreshed(part, ok) {
    if (ok) failing.delete(part); else failing.add(part);
    if (!staleNote) return;
    if (!failing.size) {
      staleNote.hidden = true;
      return;
    }
    const tiles = document.querySelector("#board-figures [data-updated]");
    const updated = tiles ? tiles.dataset.updated.slice(11, 19) : "";  // the district's time, as the tiles say it
    staleNote.textContent = staleNote.dataset.template.replace("{time}", updated);
    staleNote.hidden = false;
  }
  window.civicgrid = window.civicgrid || {};
  window.civicgrid.boardRefreshed = refreshed;
  ["htmx:responseError", "htmx:sendError"].forEach((type) => document.body.addEventListener(type, (e) => {
    const target = e.detail && e.detail.target;
    if (target && (target.id === "board-figures" || target.id === "board-lists")) refreshed(target.id, false);
  }));
  document.body.addEventListener("htmx:afterSwap", (e) => {
    if (e.target && (e.target.id === "board-figures" || e.target.id === "board-lists")) refreshed(e.target.id, true);
  });

  // ------------------------------------------------------------------------------------------- map
  const el = document.getElementById("board-map");
  if (!el || typeof L === "undefined") return;
  const note = document.getElementById("board-map-note");
  const map = L.map(el, { zoomSnap: 1, attributionControl: true });
  map.attributionControl.setPrefix("Leaflet");
  map.setView([40.09, 113.3], 11);
  const outlines = L.featureGroup().addTo(map);
  const layer = L.layerGroup().addTo(map);
  let fitted = false;

  // The outline of each region the board covers (its own scoped GeoJSON), so the clusters have a place.
  (el.dataset.outlines || "").split(" ").filter(Boolean).forEach((url) => {
    fetch(url, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        if (!data) return;
        L.geoJSON(data, {
          style: (f) => (f.properties.role === "self"
            ? { color: "#b4232a", weight: 2, fill: false }
            : { color: "#8a94a6", weight: 1, fillColor: "#eef1f5", fillOpacity: 0.4 }),
          interactive: false,
        }).addTo(outlines);
        if (!fitted && outlines.getBounds().isValid()) {
          fitted = true;
          map.fitBounds(outlines.getBounds(), { padding: [8, 8] });
        }
      })
      .catch(() => {});
  });

  function cluster(c) {
    const size = Math.round(26 + Math.min(34, Math.sqrt(c.count) * 3));
    const icon = L.divIcon({ className: "", iconSize: [size, size],
      html: `<div class="board-cluster" style="width:${size}px;height:${size}px">${c.count}</div>` });
    const name = `${c.name}：${c.count}${el.dataset.labelCluster}`;
    const marker = L.marker([c.lat, c.lng], { icon, title: name });
    const zoomIn = () => map.setView([c.lat, c.lng], Math.min(map.getZoom() + 2, 18));
    marker.on("click", zoomIn);
    marker.on("add", () => {
      // Leaflet makes the icon a focusable button, which Enter did not press: it zooms in as a click does.
      window.civicgrid.mapOperable(marker, name, zoomIn, "button");
      const node = marker.getElement();
      if (node) node.setAttribute("data-code", c.code);
    });
    return marker;
  }

  function point(p) {
    const marker = L.circleMarker([p.lat, p.lng], { radius: 7, weight: 2, color: "#fff",
      fillColor: p.overdue ? "#b00020" : "#1456b8", fillOpacity: 0.9 });
    const box = document.createElement("div");
    const strong = document.createElement("strong");
    strong.textContent = p.number;
    box.append(strong, document.createElement("br"), document.createTextNode(`${p.title}（${p.status_label}）`));
    if (p.url) {
      const a = document.createElement("a");
      a.href = p.url;
      a.textContent = el.dataset.labelOpen;
      box.append(document.createElement("br"), a);
    }
    marker.bindPopup(box);
    marker.on("add", () => {
      // A case is reached by keyboard too: named, Enter opens its card (with the link to the case) as a click does.
      window.civicgrid.mapOperable(marker, `${p.number} ${p.title}（${p.status_label}）`, () => marker.openPopup(),
                                   "button");
      const node = marker.getElement();
      if (node) node.setAttribute("data-oid", p.id);
    });
    return marker;
  }

  let pending = null;
  // `timed`: the reload every 30 s, marked refresh=auto so that it does not count as the user's activity and
  // keep the session alive (IdleSessionMiddleware); a reload after the user moved the map is not marked.
  function load(timed) {
    const url = new URL(el.dataset.mapUrl, window.location.href);
    if (timed === true) url.searchParams.set("refresh", "auto");
    url.searchParams.set("zoom", String(map.getZoom()));
    url.searchParams.set("bbox", map.getBounds().toBBoxString());
    if (pending) pending.abort();
    pending = new AbortController();
    fetch(url, { credentials: "same-origin", signal: pending.signal })
      .then((r) => {
        if (!r.ok) throw new Error(String(r.status));
        return r.json();
      })
      .then((data) => {
        refreshed("map", true);
        layer.clearLayers();
        data.clusters.forEach((c) => layer.addLayer(cluster(c)));
        data.items.forEach((p) => layer.addLayer(point(p)));
        el.dataset.level = data.level;
        // The clusters and the cases not placed on the map (未定位: their region has no centre point) make the total.
        if (note) {
          note.textContent = `${el.dataset.labelTotal} ${data.total}` + (data.unlocated
            ? ` · ${(el.dataset.labelUnlocated || "").replace("{n}", data.unlocated)}` : "");
          note.dataset.unlocated = String(data.unlocated || 0);
        }
        if (!fitted && data.items.length && !outlines.getBounds().isValid()) {
          map.fitBounds(L.latLngBounds(data.items.map((p) => [p.lat, p.lng])).pad(0.2));
          fitted = true;
        }
      })
      .catch((err) => {
        if (!err || err.name !== "AbortError") refreshed("map", false);  // a newer load aborted it: not a failure
      });
  }

  let timer = null;
  map.on("moveend", () => {
    clearTimeout(timer);
    timer = setTimeout(load, 250);
  });
  setInterval(() => load(true), Number(el.dataset.refresh || 30) * 1000);
  load();
})();
