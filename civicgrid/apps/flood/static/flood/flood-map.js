// Flood overview map: the stations from the page's JSON (no inline script: CSP), coloured by their latest signal.
(function () {
  "use strict";
  const el = document.getElementById("flood-map");
  const data = document.getElementById("flood-stations");
  if (!el || !data || typeof L === "undefined") return;
  const stations = JSON.parse(data.textContent || "[]");
  const map = L.map(el, { zoomControl: true, attributionControl: true });
  map.attributionControl.setPrefix("Leaflet");
  if (el.dataset.attribution) map.attributionControl.addAttribution(el.dataset.attribution);
  const points = [];
  stations.forEach((s) => {
    const marker = L.circleMarker([s.lat, s.lng], {
      radius: 8, color: "#ffffff", weight: 2, fillColor: s.colour || "#6b7280", fillOpacity: 0.9,
      className: "flood-station flood-" + s.signal,
    }).addTo(map);
    const tip = document.createElement("div");
    tip.textContent = s.name + " (" + s.code + ")";
    if (s.last) {
      const line = document.createElement("div");
      line.textContent = s.last;
      tip.appendChild(line);
    }
    marker.bindTooltip(tip);
    points.push([s.lat, s.lng]);
  });
  if (points.length) {
    map.fitBounds(L.latLngBounds(points).pad(0.2));
  } else {
    map.setView([40.08, 113.3], 11);
  }
})();
