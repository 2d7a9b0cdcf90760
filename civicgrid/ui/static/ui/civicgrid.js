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
