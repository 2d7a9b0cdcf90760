// Hazard and campaign pages: maps (the register's points, one hazard, picking a point), the phone's GPS into a
// form, kind → category choices, and the checklist's failed items opening their hazard fields. No inline script
// (CSP): pages pass data in data-* attributes and JSON blocks.
(function () {
  "use strict";
  const DATONG = [40.09, 113.3];
  const COLOURS = { major: "#b00020", general: "#e07b00", closed: "#1e7b34", voided: "#888888" };

  function baseMap(el) {
    const map = L.map(el, { zoomControl: true, attributionControl: true, zoomSnap: 0.25 });
    map.attributionControl.setPrefix("Leaflet");
    if (el.dataset.tileUrl) L.tileLayer(el.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
    return map;
  }

  function colour(p) {
    if (p.status === "closed") return COLOURS.closed;
    if (p.status === "voided") return COLOURS.voided;
    return p.grade === "major" ? COLOURS.major : COLOURS.general;
  }

  function pointsMap(el) {
    const data = JSON.parse(document.getElementById("hazard-points").textContent || "[]");
    const map = baseMap(el);
    const latlngs = data.map((p) => [p.lat, p.lng]);
    if (latlngs.length) map.fitBounds(L.latLngBounds(latlngs), { padding: [16, 16], maxZoom: 16 });
    else map.setView(DATONG, 11);
    data.forEach((p) => {
      const c = colour(p);
      const m = L.circleMarker([p.lat, p.lng], { radius: 7, color: c, weight: 2, fillColor: c, fillOpacity: 0.65 })
        .bindTooltip(`${p.code} ${p.name}`, { direction: "top" })
        .addTo(map);
      const open = () => window.location.assign(p.url);
      m.on("click", open);
      // The list beside the map shows 50 a page, the map up to 2000: each point is reached by keyboard too.
      window.civicgrid.mapOperable(m, p.label || `${p.code} ${p.name}`, open);
      const node = m.getElement && m.getElement();
      if (node) node.setAttribute("data-hazard", p.code);
    });
    el.dataset.ready = "1";
  }

  function oneMap(el) {
    const lat = parseFloat(el.dataset.lat);
    const lng = parseFloat(el.dataset.lng);
    const map = baseMap(el);
    if (Number.isFinite(lat) && Number.isFinite(lng)) {
      map.setView([lat, lng], 16);
      const point = L.circleMarker([lat, lng], { radius: 9, color: "#b00020", weight: 3, fillColor: "#b00020",
                                                 fillOpacity: 0.6 })
        .bindTooltip(el.dataset.label || "", { direction: "top" }).addTo(map);
      window.civicgrid.mapQuiet(point); // the hazard's own page: the map is one image of it
    } else {
      map.setView(DATONG, 11);
    }
    el.dataset.ready = "1";
  }

  // A map to pick a point: a click (or the GPS) sets the form's lat/lng inputs.
  function pickMap(el, form) {
    const latInput = form.querySelector("[data-lat]");
    const lngInput = form.querySelector("[data-lng]");
    const map = baseMap(el);
    let marker = null;
    function place(lat, lng, zoom) {
      if (marker) marker.setLatLng([lat, lng]);
      else marker = L.circleMarker([lat, lng], { radius: 9, color: "#1456b8", weight: 3, fillOpacity: 0.5 }).addTo(map);
      if (zoom) map.setView([lat, lng], 16);
    }
    const lat = parseFloat(latInput.value);
    const lng = parseFloat(lngInput.value);
    if (Number.isFinite(lat) && Number.isFinite(lng)) place(lat, lng, true);
    else map.setView(DATONG, 11);
    map.on("click", (e) => {
      latInput.value = e.latlng.lat.toFixed(6);
      lngInput.value = e.latlng.lng.toFixed(6);
      place(e.latlng.lat, e.latlng.lng, false);
    });
    el.dataset.ready = "1";
    return place;
  }

  // The phone's position into every [data-lat]/[data-lng] of the form (and onto the map when there is one).
  function locate(form, place, status) {
    if (!navigator.geolocation) {
      if (status) status.textContent = status.dataset.unavailable || "";
      return;
    }
    if (status) status.dataset.state = "asking";
    navigator.geolocation.getCurrentPosition((pos) => {
      const lat = pos.coords.latitude.toFixed(6);
      const lng = pos.coords.longitude.toFixed(6);
      form.querySelectorAll("[data-lat]").forEach((i) => { if (!i.value || i.dataset.gpsFill !== "0") i.value = lat; });
      form.querySelectorAll("[data-lng]").forEach((i) => { if (!i.value || i.dataset.gpsFill !== "0") i.value = lng; });
      if (place) place(parseFloat(lat), parseFloat(lng), true);
      if (status) {
        status.dataset.state = "ok";
        status.textContent = `${lat}, ${lng}`;
      }
    }, () => {
      if (status) {
        status.dataset.state = "bad";
        status.textContent = status.dataset.failed || "";
      }
    }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  }

  // kind → the categories of that kind (both selects live in the same form).
  function kindCategories(form) {
    const kind = form.querySelector("[data-kind-select]");
    const category = form.querySelector("[data-category-select]");
    if (!kind || !category) return;
    function apply() {
      category.querySelectorAll("option[data-kind]").forEach((o) => {
        const hide = kind.value && o.dataset.kind !== kind.value;
        o.hidden = hide;
        o.disabled = hide;
        if (hide && o.selected) category.value = "";
      });
    }
    kind.addEventListener("change", apply);
    apply();
  }

  // Campaign form: the checklist builder shows the categories of the chosen kind.
  function campaignKinds(form) {
    const kind = form.querySelector("[data-campaign-kind]");
    if (!kind) return;
    function apply() {
      form.querySelectorAll("fieldset[data-kind]").forEach((f) => { f.hidden = f.dataset.kind !== kind.value; });
    }
    kind.addEventListener("change", apply);
    apply();
  }

  // A failed item's map: pre-centred on the checklist's region, a tap writes that item's lat/lng inputs. Built
  // when the item's hazard fields first open (Leaflet needs a visible box to size itself).
  function itemPickMap(el) {
    if (el.dataset.ready === "1") {
      el._map.invalidateSize();
      return;
    }
    const finding = el.closest("[data-finding]");
    const latInput = finding.querySelector("[data-item-lat]");
    const lngInput = finding.querySelector("[data-item-lng]");
    const map = baseMap(el);
    el._map = map;
    let marker = null;
    function place(lat, lng) {
      if (marker) marker.setLatLng([lat, lng]);
      else marker = L.circleMarker([lat, lng], { radius: 9, color: "#b00020", weight: 3, fillOpacity: 0.5 }).addTo(map);
    }
    const lat = parseFloat(latInput.value);
    const lng = parseFloat(lngInput.value);
    const cLat = parseFloat(el.dataset.centreLat);
    const cLng = parseFloat(el.dataset.centreLng);
    if (Number.isFinite(lat) && Number.isFinite(lng)) {
      map.setView([lat, lng], 16);
      place(lat, lng);
    } else if (Number.isFinite(cLat) && Number.isFinite(cLng)) {
      map.setView([cLat, cLng], 15);
    } else {
      map.setView(DATONG, 11);
    }
    const outline = document.getElementById("inspection-region");
    const shape = outline ? JSON.parse(outline.textContent || "null") : null;
    if (shape) {
      const layer = L.geoJSON(shape, { interactive: false, style: { color: "#1456b8", weight: 2, fillOpacity: 0.05 } })
        .addTo(map);
      // Open on the whole grid (centred on it) unless the item already has a point.
      if (!marker && layer.getBounds().isValid()) map.fitBounds(layer.getBounds(), { padding: [8, 8], maxZoom: 17 });
    }
    map.on("click", (e) => {
      latInput.value = e.latlng.lat.toFixed(6);
      lngInput.value = e.latlng.lng.toFixed(6);
      place(e.latlng.lat, e.latlng.lng);
    });
    el.dataset.ready = "1";
  }

  // Checklist: a failed item opens its hazard fields (and its map); a passed one closes them.
  function checklist(form) {
    function apply(item) {
      const failed = item.querySelector("input[data-verdict='fail']:checked");
      const finding = item.querySelector("[data-finding]");
      if (finding) finding.hidden = !failed;
      const pick = finding && !finding.hidden ? finding.querySelector("[data-item-pick]") : null;
      if (pick && typeof L !== "undefined") itemPickMap(pick);
    }
    form.querySelectorAll("[data-item]").forEach((item) => {
      apply(item);
      item.addEventListener("change", () => apply(item));
    });
  }

  document.querySelectorAll("#hazard-map").forEach((el) => {
    if (typeof L === "undefined") return;
    if (el.dataset.mode === "points") pointsMap(el);
    else if (el.dataset.mode === "one") oneMap(el);
  });
  document.querySelectorAll("form").forEach((form) => {
    kindCategories(form);
    campaignKinds(form);
    checklist(form);
    const pick = form.querySelector("[data-mode='pick']");
    const place = pick && typeof L !== "undefined" ? pickMap(pick, form) : null;
    const status = form.querySelector("[data-located]");
    form.querySelectorAll("[data-gps]").forEach((b) => b.addEventListener("click", () => locate(form, place, status)));
    if (form.hasAttribute("data-gps-auto")) locate(form, place, status);
  });

  // A form posted twice (a double tap on a slow phone) would be refused the second time anyway.
  document.addEventListener("submit", (e) => {
    const form = e.target.closest("form[data-action-form], form[data-once]");
    if (!form) return;
    if (form.dataset.sent === "1") {
      e.preventDefault();
      return;
    }
    form.dataset.sent = "1";
    form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
  });
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("form[data-sent]").forEach((form) => {
      delete form.dataset.sent;
      form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = false; });
    });
  });
})();
