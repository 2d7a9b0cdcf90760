// Case detail: the case's point on a vector map with its grid's outline, and a guard against double posting
// of action forms. No inline script (CSP): the page passes the point in data-* attributes of #case-map and the
// grid's boundary (GeoJSON geometry) in a JSON block (#case-grid).
(function () {
  "use strict";
  const el = document.getElementById("case-map");
  if (el && typeof L !== "undefined") {
    const lat = parseFloat(el.dataset.lat);
    const lng = parseFloat(el.dataset.lng);
    const map = L.map(el, { zoomControl: true, attributionControl: true, zoomSnap: 0.25 });
    map.attributionControl.setPrefix("Leaflet");
    if (el.dataset.tileUrl) L.tileLayer(el.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
    const gridEl = document.getElementById("case-grid");
    const geometry = gridEl ? JSON.parse(gridEl.textContent) : null;
    const outline = geometry
      ? L.geoJSON(geometry, { style: { color: "#b4232a", weight: 2, dashArray: "6 4", fillOpacity: 0.05 } })
      : null;
    const hasPoint = Number.isFinite(lat) && Number.isFinite(lng);
    // Set the view before adding layers: Leaflet draws paths only on a map that has one.
    const bounds = outline ? outline.getBounds() : null;
    if (bounds && bounds.isValid()) {
      if (hasPoint) bounds.extend(L.latLng(lat, lng));
      map.fitBounds(bounds, { padding: [12, 12], maxZoom: 17 });
    } else if (hasPoint) {
      map.setView([lat, lng], 16);
    } else {
      map.setView([40.09, 113.3], 11);
    }
    if (outline) outline.addTo(map);
    if (hasPoint) {
      L.circleMarker([lat, lng], { radius: 9, color: "#b4232a", weight: 3, fillColor: "#b4232a", fillOpacity: 0.6,
                                   className: "case-point" })
        .bindTooltip(el.dataset.label || "", { direction: "top" }).addTo(map);
    }
    el.dataset.ready = "1";
  }

  // An action posted twice (a double tap on a slow phone) would be refused the second time anyway; disabling
  // the button spares the user the confusing refusal.
  document.addEventListener("submit", (e) => {
    const form = e.target.closest("form[data-action-form]");
    if (!form) return;
    if (form.dataset.sent === "1") {
      e.preventDefault();
      return;
    }
    form.dataset.sent = "1";
    form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
  });
  // Back from the next page (bfcache): the forms are usable again.
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("form[data-action-form][data-sent]").forEach((form) => {
      delete form.dataset.sent;
      form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = false; });
    });
  });
})();
