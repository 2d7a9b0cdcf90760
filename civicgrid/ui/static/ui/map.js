// Region map: draws the region's outline and its children from the scoped GeoJSON view, vector only.
// No inline script (CSP): the page passes the data URL and options in data-* attributes of #region-map.
(function () {
  "use strict";
  const el = document.getElementById("region-map");
  if (!el || typeof L === "undefined") return;

  const map = L.map(el, { zoomControl: true, attributionControl: true, zoomSnap: 0.25 });
  // The "Leaflet" credit stays, as plain text: intranet users cannot follow outside links anyway.
  map.attributionControl.setPrefix("Leaflet");
  if (el.dataset.attribution) map.attributionControl.addAttribution(el.dataset.attribution);
  if (el.dataset.tileUrl) {
    // Optional, only when the deployment names its own tile server (CIVICGRID_TILE_URL).
    L.tileLayer(el.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
  }

  const palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];

  function styleFor(feature, index) {
    if (feature.properties.role === "self") {
      return { color: "#b4232a", weight: 3, dashArray: "6 4", fill: false, className: "region-self" };
    }
    const c = palette[index % palette.length];
    return { color: "#ffffff", weight: 1.5, fillColor: c, fillOpacity: 0.45, className: "region-child" };
  }

  fetch(el.dataset.geojsonUrl, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
    .then((r) => {
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    })
    .then((data) => {
      let childIndex = 0;
      const children = [];
      const layer = L.geoJSON(data, {
        style: (f) => styleFor(f, f.properties.role === "child" ? childIndex++ : 0),
        onEachFeature: (f, lyr) => {
          const p = f.properties;
          if (p.role !== "child") return;
          children.push({ lyr, p });
          lyr.on("click", () => window.location.assign(p.url));
          lyr.on("mouseover", () => lyr.setStyle({ fillOpacity: 0.7 }));
          lyr.on("mouseout", () => lyr.setStyle({ fillOpacity: 0.45 }));
        },
      });
      // Set the view before adding: Leaflet creates the paths only on a map that has one.
      const bounds = layer.getBounds();
      if (bounds.isValid()) map.fitBounds(bounds, { padding: [8, 8] });
      else map.setView([40.09, 113.3], 11);
      layer.addTo(map);
      // Paths exist only once added: tag each with its code (tests and assistive tools find it).
      layer.eachLayer((lyr) => {
        const node = lyr.getElement && lyr.getElement();
        if (node) {
          node.setAttribute("data-code", lyr.feature.properties.code);
          if (lyr.feature.properties.role === "child") node.setAttribute("aria-label", lyr.feature.properties.name);
        }
      });
      // Names stay on the map where they do not collide (larger regions first); the others show on hover or
      // tap. Re-decided at every zoom, so zooming in on a phone brings more names back.
      function labelPoint(lyr, p) {
        return p.label_at ? L.latLng(p.label_at[1], p.label_at[0]) : lyr.getBounds().getCenter();
      }
      function area(lyr) {
        const b = lyr.getBounds();
        return (b.getEast() - b.getWest()) * (b.getNorth() - b.getSouth());
      }
      children.sort((a, b) => area(b.lyr) - area(a.lyr));
      function placeLabels() {
        const placed = [];
        children.forEach(({ lyr, p }) => {
          const at = labelPoint(lyr, p);
          const c = map.latLngToContainerPoint(at);
          const w = p.name.length * 12 + 10;
          const box = { x0: c.x - w / 2, x1: c.x + w / 2, y0: c.y - 10, y1: c.y + 10 };
          const free = !placed.some((o) => box.x0 < o.x1 && o.x0 < box.x1 && box.y0 < o.y1 && o.y0 < box.y1);
          if (free) placed.push(box);
          lyr.unbindTooltip();
          lyr.bindTooltip(p.name, { permanent: free, sticky: !free, direction: "center", className: "region-label" });
          if (free) lyr.openTooltip(at);
        });
      }
      // Each child region is a link in the 下级区域 table below the map: its path stays out of the Tab order (a
      // tooltip bound again at each zoom would put it back in, unnamed to Enter).
      function labelsOutOfTabOrder() {
        placeLabels();
        window.civicgrid.mapQuiet(layer);
      }
      labelsOutOfTabOrder();
      map.on("zoomend", labelsOutOfTabOrder);
      el.dataset.ready = "1";
    })
    .catch(() => {
      el.classList.add("map-error");
      el.textContent = el.dataset.errorText || "地图数据加载失败";
      el.dataset.ready = "error";
    });
})();
