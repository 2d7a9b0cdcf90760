// Report forms (phone page, hotline and web forms): category search, location by phone GPS, map click or
// address, and the located grid shown before anything is sent. No inline script (CSP): the form carries its
// URLs in data-* attributes and the page its translated messages in a JSON block (#report-messages).
(function () {
  "use strict";
  const form = document.querySelector("form[data-report]");
  if (!form) return;
  const msgEl = document.getElementById("report-messages");
  const MSG = msgEl ? JSON.parse(msgEl.textContent) : {};
  const t = (key) => MSG[key] || key;
  // Punctuation is the language's too (full-width in Chinese, ": " and " (…)" in English).
  const colon = () => MSG.colon || "：";
  const inBrackets = (text) => (MSG.in_brackets || "（{text}）").replace("{text}", text);
  const el = (name) => form.elements.namedItem(name);
  const lngInput = el("lng");
  const latInput = el("lat");
  const crsInput = el("crs");
  const located = form.querySelector("[data-located]");
  const gcj = form.querySelector("[data-crs-gcj]");
  const crsNote = form.querySelector("[data-crs-note]");
  // Where the point in the fields came from: "gps", "map" or "address" (WGS-84, whatever the Chinese-map box
  // says), "typed" (by hand or pasted: the box says which system its numbers are in), "" (none, or a draft).
  form.dataset.pointSource = "";

  // --- category search: filters the <select>'s options by name, code, keywords or class -------------------
  const catSearch = form.querySelector("[data-category-search]");
  const catResults = form.querySelector("[data-category-results]");
  const catSelect = el("category");
  const options = catSelect ? Array.from(catSelect.querySelectorAll("option")).filter((o) => o.value) : [];
  const basePlaceholder = catSearch ? catSearch.placeholder : "";
  function showChoice() {
    if (!catSearch || !catSelect) return;
    const chosen = catSelect.selectedOptions[0];
    catSearch.placeholder = chosen && chosen.value ? `${t("chosen")}${colon()}${chosen.dataset.path || chosen.text}`
                                                   : basePlaceholder;
  }
  function searchCategories() {
    const q = catSearch.value.trim().toLowerCase();
    catResults.replaceChildren();
    if (!q) return;
    const found = options.filter((o) => {
      const group = o.parentElement.label || "";
      return [o.text, o.dataset.keywords || "", o.dataset.code || "", group].some((s) => s.toLowerCase().includes(q));
    }).slice(0, 12);
    if (!found.length) {
      const li = document.createElement("li");
      li.className = "hint";
      li.textContent = t("no_match");
      catResults.append(li);
      return;
    }
    for (const o of found) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.categoryId = o.value;
      b.textContent = o.text;
      const sub = document.createElement("span");
      sub.className = "sub";
      sub.textContent = o.parentElement.label || "";
      b.append(sub);
      b.addEventListener("click", () => {
        catSelect.value = o.value;
        catSelect.dispatchEvent(new Event("change", { bubbles: true }));
        catSearch.value = "";
        catResults.replaceChildren();
        showChoice();
      });
      li.append(b);
      catResults.append(li);
    }
  }
  if (catSearch && catResults && catSelect) {
    catSearch.addEventListener("input", searchCategories);
    // Enter in the search box picks the first match instead of submitting the form.
    catSearch.addEventListener("keydown", (e) => {
      if (e.key !== "Enter") return;
      e.preventDefault();
      const first = catResults.querySelector("button");
      if (first) first.click();
    });
    catSelect.addEventListener("change", showChoice);
  }

  // --- map: the user's area (the scoped GeoJSON of its outline and children, for staff of the region pages;
  // else the district's public outline of streets and communities); a click sets the point ----------------
  const mapEl = document.getElementById("report-map");
  let map = null;
  let marker = null;
  // The page's own area (`role`: scoped GeoJSON) or the district (`level`: public outline): a dashed line;
  // streets of the outline: a plain line; the areas inside (children, communities, villages): light fills.
  const OUTLINE = { color: "#b4232a", weight: 2.5, dashArray: "6 4", fill: false };
  const STREET = { color: "#33475b", weight: 2, opacity: 0.8, fill: false };
  const AREA = { color: "#ffffff", weight: 1.2, fillColor: "#4e79a7", fillOpacity: 0.25 };
  function outlineStyle(p) {
    if (p.role) return p.role === "self" ? OUTLINE : AREA;
    if (p.level === "district") return OUTLINE;
    return p.level === "street" ? STREET : AREA;
  }
  if (mapEl && typeof L !== "undefined") {
    map = L.map(mapEl, { zoomControl: true, attributionControl: true, zoomSnap: 0.25 });
    map.attributionControl.setPrefix("Leaflet");
    if (mapEl.dataset.attribution) map.attributionControl.addAttribution(mapEl.dataset.attribution);
    if (mapEl.dataset.tileUrl) L.tileLayer(mapEl.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
    map.setView([40.09, 113.3], 11);
    if (mapEl.dataset.geojsonUrl) {
      fetch(mapEl.dataset.geojsonUrl, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
        .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))))
        .then((data) => {
          let focus = null; // the user's own community or street in the public outline, where the map starts
          const layer = L.geoJSON(data, {
            style: (f) => outlineStyle(f.properties),
            onEachFeature: (f, lyr) => {
              lyr.bindTooltip(f.properties.name, { sticky: true });
              if (mapEl.dataset.focus && f.properties.code === mapEl.dataset.focus) focus = lyr;
            },
          });
          const bounds = focus ? focus.getBounds() : layer.getBounds();
          // At once, not animated: the map is ready (data-ready) when it shows where a tap will land.
          if (bounds.isValid() && !marker) map.fitBounds(bounds, { padding: [6, 6], animate: false });
          // A click on a polygon bubbles to the map (Leaflet's default), whose handler below takes the point.
          layer.addTo(map);
          // The outlines' tooltips make Chromium put each path in the Tab order, unnamed and doing nothing on
          // Enter: keep them out of it (the point is chosen by keyboard in the coordinate inputs).
          window.civicgrid.mapQuiet(layer);
          mapEl.dataset.ready = "1";
        })
        .catch(() => { mapEl.dataset.ready = "error"; });
    } else {
      mapEl.dataset.ready = "1";
    }
    map.on("click", (e) => choosePoint(e.latlng));
  }

  // `follow`: bring the point into view, zoomed in (a located point); a tap's point is where the finger is.
  function setMarker(lat, lng, follow = true) {
    if (!map) return;
    if (marker) marker.setLatLng([lat, lng]);
    else marker = L.circleMarker([lat, lng], { radius: 8, color: "#b4232a", weight: 3, fillOpacity: 0.6 }).addTo(map);
    if (follow) map.setView([lat, lng], Math.max(map.getZoom(), 15));
  }

  function setPoint(lng, lat, crs, source) {
    lngInput.value = Number(lng).toFixed(6);
    latInput.value = Number(lat).toFixed(6);
    if (crsInput) crsInput.value = crs;
    form.dataset.pointSource = source || "";
    showCrsNote();
    form.dispatchEvent(new Event("input", { bubbles: true })); // the phone page saves its draft
    locateNow();
  }

  function choosePoint(latlng) {
    // Map points are WGS-84 (the boundaries are stored so): a Chinese-map toggle does not apply to them.
    if (gcj) gcj.checked = false;
    // The marker goes where the tap was at once, before the server says which grid that is (or that it lies
    // outside the district: the line under the map says so, and the marker shows which tap it means).
    setMarker(latlng.lat, latlng.lng, false);
    setPoint(latlng.lng, latlng.lat, "wgs84", "map");
  }

  // --- the located grid, asked of the server before submitting ------------------------------------------
  let asked = 0;
  function showLocated(text, state) {
    if (!located) return;
    located.textContent = text;
    located.classList.toggle("ok", state === "ok");
    located.classList.toggle("bad", state === "bad");
    located.dataset.state = state || "";
  }
  function locateNow() {
    if (gcj && crsInput && crsInput.value === "gcj02" && !gcj.checked) {
      gcj.checked = true; // a draft brought back with typed GCJ-02 numbers
      form.dataset.pointSource = "typed";
    }
    const lng = parseFloat(lngInput.value);
    const lat = parseFloat(latInput.value);
    if (!Number.isFinite(lng) || !Number.isFinite(lat)) {
      showLocated(t("not_located"), "");
      return;
    }
    const crs = crsInput ? crsInput.value || "wgs84" : "wgs84";
    const ticket = ++asked;
    showLocated(t("checking"), "");
    const url = `${form.dataset.locateUrl}?lng=${encodeURIComponent(lng)}&lat=${encodeURIComponent(lat)}&crs=${encodeURIComponent(crs)}`;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
      .then(({ ok, body }) => {
        if (ticket !== asked) return; // a newer point was chosen meanwhile
        if (!ok) {
          // Outside the district (or not a point): say how to give a place that is in it.
          const detail = body.detail || t("not_located");
          showLocated(body.code === "outside_district" ? `${detail} ${t("outside_hint")}` : detail, "bad");
          located.dataset.grid = "";
          return;
        }
        const names = [body.street, body.community, body.grid].filter(Boolean).map((r) => r.name);
        const grid = body.grid || body.community;
        // Typed GCJ-02 numbers land elsewhere than they read: the line says they were converted.
        const converted = crs === "gcj02" ? ` ${t("gcj_converted")}` : "";
        showLocated(`${t("in_grid")}${colon()}${names.join(" › ")}${grid ? inBrackets(grid.code) : ""}${converted}`, "ok");
        located.dataset.grid = grid ? grid.code : "";
        setMarker(body.wgs84[1], body.wgs84[0]);
        form.dispatchEvent(new Event("located", { bubbles: true })); // the intake form's routing panel asks again
      })
      .catch(() => { if (ticket === asked) showLocated(t("not_located"), "bad"); });
  }
  // The Chinese-map box applies to coordinates typed by hand (or pasted from a domestic map) only: a point from
  // the phone's GPS, the map or an address is WGS-84 already, and ticking the box does not move it.
  const typed = () => form.dataset.pointSource === "typed";
  function showCrsNote() {
    if (!crsNote) return;
    crsNote.hidden = !(gcj && gcj.checked && !typed() && lngInput.value && latInput.value);
  }
  [lngInput, latInput].forEach((input) => input && input.addEventListener("change", () => {
    form.dataset.pointSource = "typed";
    if (gcj && crsInput) crsInput.value = gcj.checked ? "gcj02" : "wgs84";
    showCrsNote();
    locateNow();
  }));
  if (crsInput && crsInput.tagName === "SELECT") crsInput.addEventListener("change", locateNow);
  if (gcj && crsInput) {
    // A draft restored with typed GCJ-02 numbers shows the box ticked.
    if (crsInput.value === "gcj02") {
      gcj.checked = true;
      form.dataset.pointSource = "typed";
    }
    gcj.addEventListener("change", () => {
      if (typed()) crsInput.value = gcj.checked ? "gcj02" : "wgs84";
      else crsInput.value = "wgs84";
      showCrsNote();
      locateNow(); // the line under the map says where the point is now, changed or not
    });
  }

  // --- the phone's GPS: always WGS-84 (the browser's geolocation), whatever the Chinese-map box says -------
  const gpsButton = form.querySelector("[data-use-gps]");
  function useGps(fresh) {
    if (!navigator.geolocation) {
      showLocated(t("gps_missing"), "bad");
      return;
    }
    if (gcj) gcj.checked = false;
    showLocated(t("locating"), "");
    navigator.geolocation.getCurrentPosition(
      (pos) => setPoint(pos.coords.longitude, pos.coords.latitude, "wgs84", "gps"),
      () => showLocated(t("gps_denied"), "bad"),
      // After a report, a cached fix is where the last report was: the next one asks for a new reading.
      { enableHighAccuracy: true, timeout: 15000, maximumAge: fresh === true ? 0 : 30000 },
    );
  }
  if (gpsButton) gpsButton.addEventListener("click", () => useGps(true));

  // A new report after one was sent (the phone page's 继续上报): no point, no marker, the GPS asked again.
  function startOver() {
    ++asked; // an answer still on its way is for the old point
    lngInput.value = "";
    latInput.value = "";
    if (crsInput) crsInput.value = "wgs84";
    form.dataset.pointSource = "";
    if (gcj) gcj.checked = false;
    showCrsNote();
    if (marker) {
      marker.remove();
      marker = null;
    }
    if (located) located.dataset.grid = "";
    showLocated(t("not_located"), "");
    if (form.dataset.autoGps === "1") useGps(true);
  }

  // --- choose a building (standard address) from base data in scope ------------------------------------
  const bSearch = form.querySelector("[data-building-search]");
  const bResults = form.querySelector("[data-building-results]");
  let bTimer = null;
  function searchBuildings() {
    const q = bSearch.value.trim();
    bResults.replaceChildren();
    if (!q) return;
    fetch(`${form.dataset.buildingsUrl}?q=${encodeURIComponent(q)}`, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : { items: [] }))
      .then((body) => {
        bResults.replaceChildren();
        if (!body.items.length) {
          const li = document.createElement("li");
          li.className = "hint";
          li.textContent = t("no_building");
          bResults.append(li);
        }
        for (const b of body.items) {
          const li = document.createElement("li");
          const button = document.createElement("button");
          button.type = "button";
          button.textContent = b.address;
          const sub = document.createElement("span");
          sub.className = "sub";
          sub.textContent = [b.name, b.grid].filter(Boolean).join(" · ");
          button.append(sub);
          button.addEventListener("click", () => {
            el("address").value = b.address;
            bSearch.value = "";
            bResults.replaceChildren();
            if (b.lng != null && b.lat != null) {
              if (gcj) gcj.checked = false;
              setPoint(b.lng, b.lat, "wgs84", "address");
            }
          });
          li.append(button);
          bResults.append(li);
        }
      })
      .catch(() => {});
  }
  if (bSearch && bResults && form.dataset.buildingsUrl) {
    bSearch.addEventListener("input", () => {
      clearTimeout(bTimer);
      bTimer = setTimeout(searchBuildings, 300);
    });
    bSearch.addEventListener("keydown", (e) => { if (e.key === "Enter") e.preventDefault(); });
  }

  // --- photo previews (blob: URLs are allowed by the CSP's img-src) -------------------------------------
  // `showThumbs` is also the phone page's, for the photos its draft brings back from the phone's storage;
  // given `remove`, each photo has a 移除 button that calls it with the photo's place in the list.
  function showThumbs(input, files, remove) {
    const box = document.getElementById(input.dataset.thumbs);
    if (!box) return;
    box.querySelectorAll("img").forEach((img) => URL.revokeObjectURL(img.src));
    box.replaceChildren();
    Array.from(files || []).forEach((file, index) => {
      const img = document.createElement("img");
      img.alt = file.name;
      img.src = URL.createObjectURL(file);
      if (!remove) {
        box.append(img);
        return;
      }
      const figure = document.createElement("figure");
      figure.className = "thumb";
      figure.dataset.photoName = file.name;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "small link";
      button.dataset.removePhoto = String(index);
      button.textContent = t("remove_photo");
      button.setAttribute("aria-label", t("remove_named").replace("{name}", file.name));
      button.addEventListener("click", () => remove(index));
      // A file the browser cannot draw is marked, so it is not taken for a photo.
      img.addEventListener("error", () => figure.classList.add("broken"));
      const caption = document.createElement("figcaption");
      caption.textContent = file.name;
      figure.append(img, caption, button);
      box.append(figure);
    });
  }
  form.querySelectorAll("input[type=file][data-thumbs]").forEach((input) => {
    input.addEventListener("change", () => showThumbs(input, input.files));
  });
  const selfHandled = form.querySelector("[data-self-handled]");
  const selfPhotos = form.querySelector("[data-self-handled-photos]");
  if (selfHandled && selfPhotos) {
    // Unticked, the before/after photos are not part of the report: disabled inputs are left out of the
    // form's data (the server refuses them without 自行处置), and ticking again brings back what was chosen.
    const sync = () => {
      selfPhotos.hidden = !selfHandled.checked;
      selfPhotos.querySelectorAll("input").forEach((input) => { input.disabled = !selfHandled.checked; });
    };
    selfHandled.addEventListener("change", sync);
    sync();
  }

  // The phone page asks for the GPS as it opens (unless a restored draft already has a point).
  form.civicgrid = { locateNow, useGps, showChoice, startOver, showThumbs, map };
  if (lngInput.value && latInput.value) locateNow();
  else if (form.dataset.autoGps === "1") setTimeout(() => { if (!lngInput.value) useGps(); }, 0);
})();
