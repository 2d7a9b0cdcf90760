// 抢险救援 pages: incident points on a vector map (list and detail), a point picker on the raise form, and a
// guard against double posting. No inline script (CSP): data comes in JSON blocks and data-* attributes.
(function () {
  "use strict";
  const DISTRICT = [40.09, 113.3];
  const COLOURS = { reported: "#b4232a", responding: "#d98200", controlled: "#6b2fb3", closed: "#1e7b34" };

  function json(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function baseMap(el) {
    const map = L.map(el, { zoomControl: true, attributionControl: true, zoomSnap: 0.25 });
    map.attributionControl.setPrefix("Leaflet");
    if (el.dataset.tileUrl) L.tileLayer(el.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
    return map;
  }

  // Incidents: list (many points, each a link) or detail (one point with its grid outline).
  const mapEl = document.getElementById("rescue-map");
  if (mapEl && typeof L !== "undefined") {
    const points = json("rescue-points") || [];
    const geometry = json("rescue-grid");
    const map = baseMap(mapEl);
    const outline = geometry
      ? L.geoJSON(geometry, { style: { color: "#b4232a", weight: 2, dashArray: "6 4", fillOpacity: 0.05 } })
      : null;
    const bounds = outline ? outline.getBounds() : L.latLngBounds([]);
    points.forEach((p) => bounds.extend(L.latLng(p.lat, p.lng)));
    // Set the view before adding layers: Leaflet draws paths only on a map that has one.
    if (bounds.isValid()) map.fitBounds(bounds.pad(0.1), { maxZoom: 16 });
    else map.setView(DISTRICT, 11);
    if (outline) outline.addTo(map);
    points.forEach((p) => {
      const colour = COLOURS[p.status] || "#1456b8";
      const marker = L.circleMarker([p.lat, p.lng], { radius: 9, color: colour, weight: 3, fillColor: colour,
                                                       fillOpacity: 0.6, className: "incident-point" })
        .bindTooltip(`${p.code} ${p.title}`, { direction: "top" }).addTo(map);
      // A link on the list's map (named, Enter opens it as a click does); the one point of a detail page is not.
      if (p.url) {
        const open = () => window.location.assign(p.url);
        marker.on("click", open);
        window.civicgrid.mapOperable(marker, `${p.code} ${p.title}`, open);
      } else {
        window.civicgrid.mapQuiet(marker);
      }
      const node = marker.getElement && marker.getElement();
      if (node) node.setAttribute("data-incident", p.code);
    });
    mapEl.dataset.ready = "1";
  }

  // Raise form: a click on the map sets the coordinates; typed coordinates move the marker.
  const pickEl = document.getElementById("rescue-pick");
  if (pickEl && typeof L !== "undefined") {
    const lng = document.querySelector("input[name=lng]");
    const lat = document.querySelector("input[name=lat]");
    const map = baseMap(pickEl);
    const area = json("rescue-area");
    let marker = null;
    function place(la, ln) {
      if (!Number.isFinite(la) || !Number.isFinite(ln)) return;
      if (marker) marker.setLatLng([la, ln]);
      else marker = L.circleMarker([la, ln], { radius: 9, color: "#b4232a", weight: 3, fillOpacity: 0.6 }).addTo(map);
    }
    const start = [parseFloat(lat.value), parseFloat(lng.value)];
    if (Number.isFinite(start[0]) && Number.isFinite(start[1])) map.setView(start, 15);
    else if (area) {
      const layer = L.geoJSON(area);
      const b = layer.getBounds();
      if (b.isValid()) map.fitBounds(b); else map.setView(DISTRICT, 11);
    } else map.setView(DISTRICT, 11);
    place(start[0], start[1]);
    map.on("click", (e) => {
      lng.value = e.latlng.lng.toFixed(6);
      lat.value = e.latlng.lat.toFixed(6);
      place(e.latlng.lat, e.latlng.lng);
    });
    [lng, lat].forEach((input) => input.addEventListener("change", () => place(parseFloat(lat.value), parseFloat(lng.value))));
    pickEl.dataset.ready = "1";
  }

  document.addEventListener("submit", (e) => {
    const button = e.target.querySelector("button[type=submit]");
    if (button) setTimeout(() => { button.disabled = true; }, 0);
  });
})();
