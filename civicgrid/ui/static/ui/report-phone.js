// The phone report page on a flaky connection: a report is never lost and never doubled.
//
// When the form opens it gets an idempotency key (crypto.randomUUID, or random bytes where the page is not a
// secure context and randomUUID is missing). Submitting sends the form with fetch; when the network fails or
// the server is unavailable, the same FormData, and so the SAME key, is sent again with growing pauses, at
// once when the phone comes back online. The server creates the case the first time the key arrives and
// answers every later attempt with that same case. Meanwhile the draft (text, category, point, key) sits in
// localStorage until the server confirms; after a reload the page first asks whether the key already became
// a case before offering the draft again. Photos cannot be kept in localStorage (quota), so a restored draft
// asks for them again.
//
// A key belongs to one draft. The draft is one slot shared by every tab of the user, and a page that restores
// it takes its key too: the same draft sent from two tabs is one report, and the second tab is shown the case
// the first one made (the server answers the same key and content with that case). A key that might already
// be a case (a pending draft) stays with exactly the content that was sent: an edit of that content takes a
// fresh key. The server's 409 (this key was used for a different content: a tab whose copy of the draft was
// edited into another report) is a different report, sent again under a fresh key; it is never shown as the
// earlier report's success. A page opened with no draft to restore makes a key of its own: another report.
(function () {
  "use strict";
  const form = document.querySelector("form[data-report][data-phone]");
  if (!form) return;
  const msgEl = document.getElementById("report-messages");
  const MSG = msgEl ? JSON.parse(msgEl.textContent) : {};
  const t = (key) => MSG[key] || key;
  const STORE = `civicgrid.report.draft.${form.dataset.user || "anon"}`;
  const FIELDS = ["description", "category", "lng", "lat", "crs", "address"];
  const DELAYS = [1, 2, 4, 8, 15, 30]; // seconds; then every 30 s
  const MAX_ATTEMPTS = 40;
  const TIMEOUT_MS = 90000; // photos over a weak signal are slow; a hung request must not block retrying
  const status = document.getElementById("report-status");
  const submitButton = form.querySelector("[data-submit]");
  const retryButton = form.querySelector("[data-retry-now]");
  const done = document.getElementById("report-done");
  const keyInput = form.elements.namedItem("idempotency_key");
  let sending = null; // {data: FormData, attempt: n, timer}

  function newKey() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function say(text, kind) {
    status.textContent = text || "";
    status.className = kind === "error" ? "error" : kind === "busy" ? "notice sending" : kind === "ok" ? "msg" : "hint";
  }

  // --- the draft ----------------------------------------------------------------------------------------
  function readDraft() {
    try {
      return JSON.parse(localStorage.getItem(STORE) || "null");
    } catch (e) {
      return null;
    }
  }
  function formFields() {
    const fields = {};
    FIELDS.forEach((name) => { fields[name] = form.elements.namedItem(name).value; });
    const self = form.elements.namedItem("self_handled");
    fields.self_handled = !!(self && self.checked);
    return fields;
  }
  const sameFields = (a, b) => !!a && !!b && JSON.stringify(a) === JSON.stringify(b);
  function saveDraft(pending) {
    const fields = formFields();
    const previous = readDraft();
    // "sent": the content that went out under this key. Only that content may keep the key.
    let sent = pending === true ? fields : null;
    if (pending === undefined && previous && previous.pending && previous.key === keyInput.value) {
      const before = previous.sent || previous.fields; // drafts saved before "sent" was kept: their fields
      if (sameFields(before, fields)) {
        sent = before;
      } else {
        keyInput.value = newKey(); // the sent report may be a case already; this edited one is another report
      }
    }
    const draft = { key: keyInput.value, fields, pending: !!sent, sent, saved: new Date().toISOString() };
    try {
      localStorage.setItem(STORE, JSON.stringify(draft));
    } catch (e) { /* storage full or disabled: the report still goes, only the reload safety net is lost */ }
  }
  function clearDraft(key) {
    // Only the draft of the report just confirmed: another tab may have put its own draft in the slot since.
    const stored = readDraft();
    if (stored && stored.key && stored.key !== key) return;
    try { localStorage.removeItem(STORE); } catch (e) { /* nothing to clear */ }
  }
  function restore(draft) {
    keyInput.value = draft.key;
    FIELDS.forEach((name) => {
      if (draft.fields && draft.fields[name] != null) form.elements.namedItem(name).value = draft.fields[name];
    });
    const self = form.elements.namedItem("self_handled");
    if (self && draft.fields) {
      self.checked = !!draft.fields.self_handled;
      self.dispatchEvent(new Event("change", { bubbles: true }));
    }
    if (form.civicgrid) {
      form.civicgrid.showChoice();
      form.civicgrid.locateNow();
    }
  }

  // --- sending with retries -----------------------------------------------------------------------------
  function csrf() {
    const meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.content : "";
  }
  function finish(body, key) {
    clearDraft(key);
    sending = null;
    say("", "");
    form.hidden = true;
    done.hidden = false;
    done.querySelector("[data-done-title]").textContent = body.created === false ? t("replayed") : t("created");
    done.querySelector("[data-done-number]").textContent = body.number;
    done.querySelector("[data-done-status]").textContent = body.status_label || "";
    done.querySelector("[data-done-grid]").textContent = body.grid || "";
    const follow = done.querySelector("[data-done-follow]");
    follow.textContent = body.follow_url || "";
    follow.href = body.follow_url || "#";
    done.querySelector("[data-follow-box]").hidden = !body.follow_url;
    done.querySelector("[data-copy-status]").textContent = "";
    const link = done.querySelector("[data-done-url]");
    if (link) {
      link.href = body.url || "#";
      link.hidden = !body.url;
    }
    done.dataset.number = body.number;
    window.scrollTo(0, 0);
  }
  function stop(text) {
    if (sending && sending.timer) clearTimeout(sending.timer);
    sending = null;
    submitButton.disabled = false;
    retryButton.hidden = true;
    say(text, "error");
  }
  function scheduleRetry() {
    const attempt = sending.attempt;
    if (attempt >= MAX_ATTEMPTS) {
      sending.timer = null;
      say(t("gave_up"), "error");
      retryButton.hidden = false;
      return;
    }
    const wait = DELAYS[Math.min(attempt - 1, DELAYS.length - 1)];
    say(t("retrying").replace("{seconds}", String(wait)).replace("{attempt}", String(attempt)), "busy");
    retryButton.hidden = false;
    sending.timer = setTimeout(send, wait * 1000);
  }
  function send() {
    if (!sending) return;
    if (sending.timer) clearTimeout(sending.timer);
    sending.timer = null;
    sending.attempt += 1;
    if (sending.attempt === 1) say(t("sending"), "busy");
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(), TIMEOUT_MS);
    fetch(form.action, {
      method: "POST",
      body: sending.data,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), Accept: "application/json" },
      signal: controller.signal,
    })
      .then((r) => {
        clearTimeout(timeout);
        const json = (r.headers.get("Content-Type") || "").includes("application/json");
        if (r.redirected || !json) {
          // Signed out (the sign-in page answered) or the CSRF check failed after a new sign-in: the server
          // did nothing. Keep the draft and say so; retrying cannot help until the user signs in.
          if (r.status >= 500 || r.status === 408 || r.status === 429) return scheduleRetry();
          return stop(t("signed_out"));
        }
        return r.json().then((body) => {
          if (r.ok) return finish(body, sending.data.get("idempotency_key"));
          if (r.status >= 500 || r.status === 408 || r.status === 429) return scheduleRetry();
          if (r.status === 409 && body.field === "idempotency_key") return sendUnderNewKey(body);
          saveDraft(false); // refused: nothing was created with this key, the user corrects and sends again
          return stop(body.detail || String(r.status));
        });
      })
      .catch(() => {
        clearTimeout(timeout);
        if (sending) scheduleRetry();
      });
  }
  // The key was used for a different content (another tab, or a draft edited after it was sent): this content
  // has never reached the server, so it goes again under a key of its own. Once: a second conflict on a brand
  // new key would be a fault, not a race, and is reported as not sent.
  function sendUnderNewKey(body) {
    if (sending.renewed) {
      saveDraft(false);
      return stop(t("not_sent").replace("{detail}", body.detail || "409"));
    }
    const key = newKey();
    keyInput.value = key;
    sending.data.set("idempotency_key", key);
    sending.renewed = true;
    sending.attempt = 0;
    saveDraft(true);
    return send();
  }
  function validate() {
    const category = form.elements.namedItem("category").value;
    const description = form.elements.namedItem("description").value.trim();
    if (!category && !description) return t("need_what");
    const self = form.elements.namedItem("self_handled");
    const after = form.elements.namedItem("photos_after");
    if (self && self.checked && after && !after.files.length) return t("need_after");
    return "";
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (sending) return;
    const problem = validate();
    if (problem) {
      say(problem, "error");
      return;
    }
    saveDraft(true);
    // One FormData for every attempt: the same key and the same bytes each time.
    sending = { data: new FormData(form), attempt: 0, timer: null };
    submitButton.disabled = true;
    send();
  });
  retryButton.addEventListener("click", () => {
    if (sending) {
      sending.attempt = Math.min(sending.attempt, MAX_ATTEMPTS - 1);
      send();
    } else {
      form.requestSubmit();
    }
  });
  window.addEventListener("online", () => { if (sending && sending.timer) send(); });

  // --- opening the page: a fresh key, or the draft left by an earlier visit --------------------------------
  function checkDraft(draft) {
    const url = `${form.action}?key=${encodeURIComponent(draft.key)}`;
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => r.json())
      .then((body) => {
        // Found and still this draft's key: the draft is exactly what was sent (an edit would have renewed it).
        if (body.found && !sending && keyInput.value === draft.key) {
          finish(body, draft.key);
          say(t("already_sent"), "ok");
        } else if (!sending) {
          say(t("restored"), "");
        }
      })
      .catch(() => { if (!sending) say(t("restored"), ""); });
  }
  form.addEventListener("input", (e) => { if (!sending && e.target.type !== "file") saveDraft(); });
  form.addEventListener("change", (e) => { if (!sending && e.target.type !== "file") saveDraft(); });
  done.querySelector("[data-report-again]").addEventListener("click", () => {
    form.reset();
    form.querySelectorAll(".thumbs").forEach((box) => box.replaceChildren());
    keyInput.value = newKey();
    form.elements.namedItem("crs").value = "wgs84";
    // reset() unticks 自行处置 without a change event: hide its before/after photos with it.
    const self = form.elements.namedItem("self_handled");
    if (self) self.dispatchEvent(new Event("change", { bubbles: true }));
    submitButton.disabled = false;
    retryButton.hidden = true;
    done.hidden = true;
    form.hidden = false;
    say("", "");
    if (form.civicgrid) {
      form.civicgrid.showChoice();
      form.civicgrid.startOver(); // the new report is somewhere else: forget the point and ask the GPS again
    }
  });

  // --- the follow link: shown as a link, with a copy button ----------------------------------------------
  const copyButton = done.querySelector("[data-copy-follow]");
  const copyStatus = done.querySelector("[data-copy-status]");
  function copyByCommand(text) {
    // Plain-HTTP intranets have no navigator.clipboard: a selected, off-screen textarea and execCommand.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.left = "-9999px";
    document.body.append(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok;
  }
  copyButton.addEventListener("click", () => {
    const text = done.querySelector("[data-done-follow]").href;
    const said = (ok) => {
      copyStatus.textContent = ok ? t("copied") : t("copy_failed");
      copyStatus.className = ok ? "msg" : "error";
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(() => said(true), () => said(copyByCommand(text)));
    } else {
      said(copyByCommand(text));
    }
  });

  const draft = readDraft();
  if (draft && draft.key) {
    restore(draft);
    // Sent (pending): it may be a case already, ask. Never sent (or refused): it keeps its key, so sending it
    // here and in the tab it came from makes one case; an edit in either tab is a different report (the 409).
    if (draft.pending) checkDraft(draft);
  } else {
    keyInput.value = newKey();
  }
})();
