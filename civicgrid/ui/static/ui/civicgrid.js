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
