// Small behaviours without inline scripts (CSP): menu toggle on phones, auto-submitting selects.
document.addEventListener("click", (e) => {
  const t = e.target.closest("[data-toggle-nav]");
  if (t) {
    const nav = document.getElementById("nav");
    const open = nav.classList.toggle("open");
    t.setAttribute("aria-expanded", String(open));
  }
});
document.addEventListener("change", (e) => {
  if (e.target.matches("[data-autosubmit]")) e.target.form.submit();
});
// A long filter form folds on phones: the search stays, the other filters open with one tap (kept open when
// one of them is in use). Without scripts every filter simply shows.
document.querySelectorAll("form.filters[data-fold]").forEach((form) => {
  if (!window.matchMedia("(max-width: 700px)").matches || form.dataset.active === "1") return;
  const extra = Array.from(form.querySelectorAll("label:not(.grow)"));
  if (!extra.length) return;
  extra.forEach((label) => { label.hidden = true; });
  const more = document.createElement("button");
  more.type = "button";
  more.className = "link";
  more.dataset.unfold = "";
  more.textContent = form.dataset.fold;
  more.setAttribute("aria-expanded", "false");
  more.addEventListener("click", () => {
    extra.forEach((label) => { label.hidden = false; });
    more.remove();
  });
  form.querySelector("button[type=submit]").before(more);
});
// The audit log's action filter: a grouped list and a box for a typed code share one query parameter (the typed
// one wins on the server); choosing in one clears the other, so the query says what the reader last chose.
document.addEventListener("change", (e) => {
  if (!e.target.matches("[data-action-filter]")) return;
  const box = e.target.form.querySelector("[data-action-code]");
  if (box) box.value = "";
});
document.addEventListener("input", (e) => {
  if (!e.target.matches("[data-action-code]")) return;
  const list = e.target.form.querySelector("[data-action-filter]");
  if (list && e.target.value.trim()) list.value = "";
});
// 综合评价's period is a month or a date range (the server keeps only the chosen one): filling in one selects
// its choice and clears the other, so the form never sends a month it prefilled beside the dates typed in.
function choosePeriod(field) {
  const form = field.form;
  const kind = field.dataset.period;
  const choice = form.querySelector(`input[name=period][value="${kind}"]`);
  if (choice) choice.checked = true;
  if (!field.value) return;
  form.querySelectorAll("[data-period]").forEach((other) => {
    if (other.dataset.period !== kind) other.value = "";
  });
}
["input", "change"].forEach((type) => document.addEventListener(type, (e) => {
  if (e.target.matches("[data-period-form] [data-period]")) choosePeriod(e.target);
}));

// --- keyboard and screen readers, shared by the pages' scripts (loaded before them) ---------------------------
window.civicgrid = window.civicgrid || {};
// A reveal (回访 on a case, 查看完整号码 on a hazard): the answer replaces the focused button (htmx). The focus moves
// to what came in (a .contact-result with tabindex=-1), so it does not fall back to the page and a screen reader
// reads it. A refusal (htmx swaps nothing on an error answer) is said beside the button instead of silently: the
// server's plain-text reason, else the requesting element's data-reveal-failed.
document.body.addEventListener("htmx:afterSwap", (e) => {
  const shown = e.target && e.target.querySelector && e.target.querySelector(".contact-result[tabindex='-1']");
  if (shown) shown.focus();
});
document.body.addEventListener("htmx:responseError", (e) => {
  const host = e.detail && e.detail.elt && e.detail.elt.closest("[data-reveal-failed]");
  if (!host) return;
  let note = host.nextElementSibling;
  if (!note || !note.matches("[data-reveal-error]")) {
    note = document.createElement("span");
    note.className = "error";
    note.setAttribute("role", "alert");
    note.dataset.revealError = "";
    host.after(note);
  }
  const xhr = e.detail.xhr;
  const plain = xhr && (xhr.getResponseHeader("Content-Type") || "").startsWith("text/plain");
  note.textContent = plain ? xhr.responseText.slice(0, 300) : host.dataset.revealFailed;
});
// A photo over the size limit, and the limit, in MB as the notes show them (`core.photos.megabytes` on the server):
// the size with one decimal, or more where one would not show it over the limit (10,486,551 bytes is 10.001 MB,
// not 10.0 against 10 MB).
window.civicgrid.photoSizes = (bytes, limit) => {
  const limitMb = limit / 1048576;
  let size = "";
  for (let digits = 1; digits <= 6; digits += 1) {
    size = (bytes / 1048576).toFixed(digits);
    if (Number(size) > limitMb) break;
  }
  return { size, limit: String(Number(limitMb.toFixed(2))) };
};
// Leaflet paths: a tooltip makes Chromium put each in the Tab order, unnamed, and Enter does nothing on it. Each map
// says which of two it wants (a layer group is taken path by path):
//   mapQuiet(layer): out of the Tab order, where the map is one image or the page lists the same things;
//   mapOperable(layer, name, open, role): named, a link (or a button: it acts on the map, as a cluster zooming in),
//   and Enter or Space does what a click does, where the map is the only way to reach them.
function mapNodes(layer) {
  const nodes = [];
  const take = (lyr) => {
    if (lyr.eachLayer && !lyr.getElement) lyr.eachLayer(take);
    else if (lyr.getElement && lyr.getElement()) nodes.push(lyr.getElement());
  };
  take(layer);
  return nodes;
}
window.civicgrid.mapQuiet = (layer) => {
  mapNodes(layer).forEach((node) => node.setAttribute("tabindex", "-1"));
};
window.civicgrid.mapOperable = (layer, name, open, role = "link") => {
  mapNodes(layer).forEach((node) => {
    node.setAttribute("tabindex", "0");
    node.setAttribute("role", role);
    node.setAttribute("aria-label", name);
    node.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" && e.key !== " ") return;
      e.preventDefault();
      open();
    });
  });
};
