// Case detail: the case's point on a vector map with its grid's outline, a guard against double posting
// of action forms, and the photos of an action checked on the phone before they are sent. No inline script (CSP): the page passes the point in data-* attributes of #case-map and the
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
      const point = L.circleMarker([lat, lng], { radius: 9, color: "#b4232a", weight: 3, fillColor: "#b4232a",
                                                 fillOpacity: 0.6, className: "case-point" })
        .bindTooltip(el.dataset.label || "", { direction: "top" }).addTo(map);
      // The tooltip would make Chromium put the path in the Tab order, inside a map that is one image.
      window.civicgrid.mapQuiet(point);
    }
    el.dataset.ready = "1";
  }

  // --- photos of an action (处置进展, 处置反馈, 核查 …): checked here before a byte is sent ---------------------
  // What the server would refuse (not a JPEG/PNG/WebP by its first bytes, over the size limit, too many) is taken
  // out of the choice at once, each file named, with what to do: a 68 MB photo is not uploaded over a weak
  // signal only to be refused at the end. The texts come translated in the input's data-* attributes.
  function isImage(file) {
    return file.slice(0, 12).arrayBuffer().then((buffer) => {
      const b = new Uint8Array(buffer);
      const at = (i, bytes) => bytes.every((x, k) => b[i + k] === x);
      return at(0, [0xff, 0xd8, 0xff]) || at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) ||
        (at(0, [0x52, 0x49, 0x46, 0x46]) && at(8, [0x57, 0x45, 0x42, 0x50]));
    }).catch(() => true); // unreadable here: the server decides
  }
  function checkPhotos(input) {
    const note = input.closest("label").nextElementSibling;
    const picked = Array.from(input.files || []);
    const limit = Number(input.dataset.maxBytes) || 10 * 1048576;
    const most = Number(input.dataset.maxCount) || 9;
    const checking = Promise.all(picked.map(isImage)).then((images) => {
      if (input.checking !== checking) return; // chosen again meanwhile
      const notes = [];
      let kept = picked.filter((file, i) => {
        if (!images[i]) {
          notes.push(input.dataset.notImage.replace("{name}", file.name));
          return false;
        }
        if (file.size <= limit) return true;
        const shown = window.civicgrid.photoSizes(file.size, limit);
        notes.push(input.dataset.tooLarge.replace("{name}", file.name).replace("{size}", shown.size)
          .replace("{limit}", shown.limit));
        return false;
      });
      if (kept.length > most) {
        notes.push(input.dataset.tooMany.replace("{max}", String(most)).replace("{extra}", String(kept.length - most)));
        kept = kept.slice(0, most);
      }
      let removed = true;
      if (kept.length !== picked.length) {
        try {
          const list = new DataTransfer();
          kept.forEach((file) => list.items.add(file));
          input.files = list.files;
        } catch (e) {
          removed = false; // no DataTransfer: the choice stays, and the form does not go until it is changed
        }
      }
      input.setCustomValidity(removed ? "" : notes.join(" "));
      if (note && note.matches("[data-photo-note]")) {
        note.textContent = notes.join(" ");
        note.hidden = !notes.length;
      }
      input.checking = null;
    });
    input.checking = checking;
  }
  document.addEventListener("change", (e) => {
    const input = e.target;
    if (input.matches && input.matches("form[data-action-form] input[type=file][data-max-bytes]")) checkPhotos(input);
  });

  // An action posted twice (a double tap on a slow phone) would be refused the second time anyway; disabling
  // the button spares the user the confusing refusal. (A form the browser itself sends again after a lost
  // answer carries the same one-time key, and the server answers it as it answered the first.)
  document.addEventListener("submit", (e) => {
    const form = e.target.closest("form[data-action-form]");
    if (!form) return;
    if (form.dataset.sent === "1") {
      e.preventDefault();
      return;
    }
    // Photos still being checked: send once the check has taken out what the server would refuse.
    const pending = Array.from(form.querySelectorAll("input[type=file]")).map((i) => i.checking).filter(Boolean);
    if (pending.length) {
      e.preventDefault();
      Promise.all(pending).then(() => { if (form.reportValidity()) form.requestSubmit(); });
      return;
    }
    form.dataset.sent = "1";
    form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
  });
  // 回访: the focus after the reveal and a refusal said beside the button are civicgrid.js's (shared with the
  // hazard page's 查看完整号码).

  // Back from the next page (bfcache): the forms are usable again.
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("form[data-action-form][data-sent]").forEach((form) => {
      delete form.dataset.sent;
      form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = false; });
    });
  });
})();
