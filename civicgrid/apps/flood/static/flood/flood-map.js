// Flood overview map: street outlines coloured by their active signal and the stations coloured by their latest
// reading's signal, from the page's JSON (no inline script: CSP). Labels are text, never HTML.
(function () {
  "use strict";
  const el = document.getElementById("flood-map");
  const data = document.getElementById("flood-stations");
  if (!el || !data || typeof L === "undefined") return;
  const parsed = JSON.parse(data.textContent || "{}");
  const map = L.map(el, { zoomControl: true, attributionControl: true });
  map.attributionControl.setPrefix("Leaflet");
  if (el.dataset.attribution) map.attributionControl.addAttribution(el.dataset.attribution);

  function textTip(lines) {
    const tip = document.createElement("div");
    lines.filter(Boolean).forEach((line) => {
      const row = document.createElement("div");
      row.textContent = line;
      tip.appendChild(row);
    });
    return tip;
  }

  const layers = [];
  let bounds = null;
  (parsed.streets || []).forEach((st) => {
    const shape = L.geoJSON(st.geometry, {
      style: { color: "#ffffff", weight: 1, fillColor: st.colour || "#6b7280", fillOpacity: 0.25,
               className: "flood-street" },
    });
    shape.bindTooltip(textTip([st.name]), { sticky: true });
    layers.push(shape);
    const b = shape.getBounds();
    if (b.isValid()) bounds = bounds ? bounds.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast());
  });
  (parsed.stations || []).forEach((s) => {
    const marker = L.circleMarker([s.lat, s.lng], {
      radius: 8, color: "#ffffff", weight: 2, fillColor: s.colour || "#6b7280", fillOpacity: 0.9,
      className: "flood-station flood-" + s.signal,
    });
    marker.bindTooltip(textTip([s.name + " (" + s.code + ")", s.last]));
    layers.push(marker);
    const p = L.latLng(s.lat, s.lng);
    bounds = bounds ? bounds.extend(p) : L.latLngBounds(p, p);
  });
  if (bounds && bounds.isValid()) {
    map.fitBounds(bounds.pad(0.1));
  } else {
    map.setView([40.08, 113.3], 11);
  }
  layers.forEach((layer) => layer.addTo(map));
  // Tooltips only, nothing to open, in a map that is one image: the paths stay out of the Tab order.
  layers.forEach((layer) => window.civicgrid.mapQuiet(layer));
})();
