// Warehouse map: circle markers from the page's JSON block (id in data-points), vector only, no inline script.
// On the nearest-stock page the searched point is drawn too (data-origin-lat/lng) with lines to the results.
(function () {
  "use strict";
  const el = document.getElementById("materials-map");
  if (!el || typeof L === "undefined") return;
  const source = document.getElementById(el.dataset.points);
  const points = source ? JSON.parse(source.textContent) : [];
  const colours = { district: "#b4232a", street: "#1456b8", community: "#2e7d32" };
  const map = L.map(el, { zoomControl: true, attributionControl: true, zoomSnap: 0.25 });
  map.attributionControl.setPrefix("Leaflet");
  const layer = L.featureGroup();
  const markers = [];
  points.forEach((p) => {
    const marker = L.circleMarker([p.lat, p.lng], {
      radius: p.level === "district" ? 10 : p.level === "street" ? 8 : 6,
      color: "#ffffff", weight: 2, fillColor: colours[p.level] || "#555", fillOpacity: 0.9,
      className: "materials-warehouse",
    });
    const label = (p.rank ? p.rank + ". " : "") + p.name;
    marker.bindTooltip(label, { permanent: Boolean(p.rank), direction: "top" });
    const open = () => window.location.assign(p.url);
    marker.on("click", open);
    marker.addTo(layer);
    markers.push({ marker, p, label, open });
  });
  const lat = parseFloat(el.dataset.originLat);
  const lng = parseFloat(el.dataset.originLng);
  if (!Number.isNaN(lat) && !Number.isNaN(lng)) {
    points.forEach((p) => {
      L.polyline([[lat, lng], [p.lat, p.lng]], { color: "#888", weight: 1, dashArray: "4 4" }).addTo(layer);
    });
    L.circleMarker([lat, lng], { radius: 9, color: "#000", weight: 2, fillColor: "#ffb300", fillOpacity: 1,
      className: "materials-origin" }).addTo(layer);
  }
  // Set the view before adding: Leaflet creates the paths only on a map that has one.
  const bounds = layer.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [24, 24], maxZoom: 15 });
  else map.setView([40.09, 113.3], 11);
  layer.addTo(map);
  markers.forEach(({ marker, p, label, open }) => {
    // Named, and Enter opens the warehouse as a click does (civicgrid.js).
    window.civicgrid.mapOperable(marker, label, open);
    const node = marker.getElement && marker.getElement();
    if (node) node.setAttribute("data-code", p.code);
  });
  el.dataset.ready = "1";
})();
