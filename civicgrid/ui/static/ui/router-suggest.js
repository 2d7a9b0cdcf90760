// Hotline and web intake forms: the router's live suggestion (an htmx fragment in #router-suggestion) and the
// places the text names, drawn on the report map in blue for the operator to confirm with a click (or to click
// elsewhere on the map). Needs report.js first (it exposes the map as form.civicgrid.map). No inline script.
(function () {
  "use strict";
  const form = document.querySelector("form[data-report]");
  const box = document.getElementById("router-suggestion");
  if (!form || !box) return;
  const el = (name) => form.elements.namedItem(name);
  let layer = null;

  function usePlace(lng, lat) {
    const lngInput = el("lng");
    const latInput = el("lat");
    if (!lngInput || !latInput) return;
    lngInput.value = Number(lng).toFixed(6);
    latInput.value = Number(lat).toFixed(6);
    const crs = el("crs");
    if (crs) crs.value = "wgs84";
    lngInput.dispatchEvent(new Event("change", { bubbles: true })); // report.js locates the point
  }

  function drawPlaces() {
    const map = form.civicgrid && form.civicgrid.map;
    const buttons = Array.from(box.querySelectorAll("[data-place]"));
    if (map && typeof L !== "undefined") {
      if (layer) layer.remove();
      layer = L.layerGroup().addTo(map);
      buttons.forEach((b) => {
        const lat = parseFloat(b.dataset.lat);
        const lng = parseFloat(b.dataset.lng);
        if (!Number.isFinite(lat) || !Number.isFinite(lng)) return;
        const spot = L.circleMarker([lat, lng], { radius: 9, color: "#1f5fa8", weight: 2, dashArray: "4 3", fillOpacity: 0.25 })
          .bindTooltip(b.dataset.name || "", { permanent: false })
          .on("click", (e) => { L.DomEvent.stopPropagation(e); usePlace(lng, lat); })
          .addTo(layer);
        // Its tooltip would put the unnamed path in the Tab order; the place's button is the keyboard's way.
        window.civicgrid.mapQuiet(spot);
      });
      const first = buttons[0];
      const chosen = el("lng") && el("lng").value;
      if (first && !chosen) map.setView([parseFloat(first.dataset.lat), parseFloat(first.dataset.lng)], 15);
    }
    form.dataset.placesShown = String(buttons.length);
  }

  box.addEventListener("click", (e) => {
    const place = e.target.closest("[data-place]");
    if (place) {
      e.preventDefault();
      usePlace(place.dataset.lng, place.dataset.lat);
      return;
    }
    const cat = e.target.closest("[data-use-suggested-category]");
    if (cat) {
      e.preventDefault();
      const select = el("category");
      if (select) {
        select.value = cat.dataset.useSuggestedCategory;
        select.dispatchEvent(new Event("change", { bubbles: true }));
      }
    }
  });
  document.body.addEventListener("htmx:afterSwap", (e) => {
    if (e.detail && e.detail.target === box) drawPlaces();
  });
})();
