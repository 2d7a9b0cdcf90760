// The phone report page on a flaky connection: a report is never lost and never doubled.
//
// When the form opens it gets an idempotency key (crypto.randomUUID, or random bytes where the page is not a
// secure context and randomUUID is missing). Submitting sends the form with fetch; when the network fails or
// the server is unavailable, the same FormData, and so the SAME key, is sent again with growing pauses, at
// once when the phone comes back online. The server creates the case the first time the key arrives and
// answers every later attempt with that same case. Meanwhile the draft (text, category, point, key) sits in
// localStorage until the server confirms; after a reload the page first asks whether the key already became
// a case before offering the draft again.
//
// The draft's photos sit in IndexedDB (localStorage has no room for them), each under an id the draft lists,
// as the very bytes that were chosen: the server's idempotency digest covers the photos' bytes in their order,
// so a draft sent again after a reload, or from another tab, carries exactly what the first attempt carried
// and is answered with the same case, never a 409. The page keeps no photo the server would refuse (its size
// and count limits come with the form), waits for the photos to be stored before it sends, and removes them
// once the report is accepted or the draft is discarded. A photo the slot no longer lists is removed then, or
// by the next page that opens once it is a minute old (a tab may be about to list it).
//
// A key belongs to one draft. The draft is one slot shared by every tab of the user, and a page that restores
// it takes its key too: the same draft sent from two tabs is one report, and the second tab is shown the case
// the first one made (the server answers the same key and content with that case). While two tabs hold the
// same key, each takes up what the other saves (text and photos), so a photo added in one is sent from either.
// A key that might already be a case (a pending draft) stays with exactly the content that was sent: an edit
// of that content takes a fresh key. The server's 409 (this key was used for a different content: a tab whose
// copy of the draft was edited into another report) is a different report, sent again under a fresh key; it
// is never shown as the earlier report's success. A page opened with no draft to restore makes a key of its
// own: another report.
//
// A report sent leaves the form at once (emptied behind the success card; its key stays until 继续上报 makes a new
// one for an empty form). The browser does not put the fields back when the user comes Back to the page
// (autocomplete=off), and a page opened with no draft empties whatever was put back before it takes its key:
// Back after a report went through never offers that report again under a fresh key (a second case).
(function () {
  "use strict";
  const form = document.querySelector("form[data-report][data-phone]");
  if (!form) return;
  const msgEl = document.getElementById("report-messages");
  const MSG = msgEl ? JSON.parse(msgEl.textContent) : {};
  const t = (key) => MSG[key] || key;
  const STORE = `civicgrid.report.draft.${form.dataset.user || "anon"}`;
  const FIELDS = ["description", "category", "lng", "lat", "crs", "address"];
  const PHOTO_FIELDS = ["photos", "photos_before", "photos_after"];
  const MAX_PHOTO_BYTES = Number(form.dataset.maxPhotoBytes) || 10 * 1024 * 1024;
  const MAX_PHOTOS = Number(form.dataset.maxPhotos) || 9;
  const ORPHAN_AGE_MS = 60000;
  const DELAYS = [1, 2, 4, 8, 15, 30]; // seconds; then every 30 s
  const MAX_ATTEMPTS = 40;
  const TIMEOUT_MS = 90000; // photos over a weak signal are slow; a hung request must not block retrying
  const STORAGE_TIMEOUT_MS = 20000; // a stuck IndexedDB must not hold a report back for ever
  const status = document.getElementById("report-status");
  const submitButton = form.querySelector("[data-submit]");
  const retryButton = form.querySelector("[data-retry-now]");
  const discardButton = form.querySelector("[data-discard-draft]");
  const done = document.getElementById("report-done");
  const keyInput = form.elements.namedItem("idempotency_key");
  const photoInputs = PHOTO_FIELDS.map((name) => form.elements.namedItem(name)).filter(Boolean);
  let sending = null; // {data: FormData, attempt: n, timer}
  let starting = false; // a send waiting for the photos to be stored
  let applying = false; // a draft being put into the form: its events are not edits
  let restoring = 0; // the latest restore of photos (an older one finishing late changes nothing)
  // What this page sends, by field: [{id, file}], file null while it is still being read from storage.
  let photos = noPhotos();
  let photoWork = Promise.resolve(); // storing, restoring or removing photos: never rejects; a send waits for it
  const sentKeys = new Set(); // the keys this page saw become a case

  function newKey() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // The status line sits at the top of the form; on a phone the user is usually far below it, at the button.
  // An error is brought into view and focused (role=alert, read out at once); a busy line (正在提交…, 网络不稳定…)
  // is brought into view when it starts, not at each retry's new countdown.
  function say(text, kind) {
    delete status.dataset.photoNote;
    delete status.dataset.submitError;
    const wasBusy = status.classList.contains("sending");
    status.textContent = text || "";
    status.className = kind === "error" ? "error" : kind === "busy" ? "notice sending" : kind === "ok" ? "msg" : "hint";
    status.setAttribute("role", kind === "error" ? "alert" : "status");
    if (!text || form.hidden) return;
    if (kind === "error") reveal(true);
    else if (kind === "busy" && !wasBusy) reveal(false);
  }
  function reveal(focus) {
    const box = status.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) status.scrollIntoView({ block: "center" });
    if (focus) {
      status.tabIndex = -1;
      status.focus({ preventScroll: true });
    }
  }

  // --- the draft's photos in IndexedDB --------------------------------------------------------------------
  const photoStore = (function () {
    let opened = null;
    function open() {
      if (!opened) {
        opened = new Promise((resolve, reject) => {
          if (!window.indexedDB) throw new Error("no IndexedDB");
          const req = indexedDB.open("civicgrid-report-photos", 1);
          req.onupgradeneeded = () => req.result.createObjectStore("photos", { keyPath: "id" }).createIndex("owner", "owner");
          req.onsuccess = () => {
            req.result.onversionchange = () => req.result.close();
            resolve(req.result);
          };
          req.onerror = () => reject(req.error);
          req.onblocked = () => reject(new Error("blocked"));
        });
      }
      return opened;
    }
    // One transaction; resolves with what `work` returns once it has committed.
    function run(mode, work) {
      return open().then((db) => new Promise((resolve, reject) => {
        const tx = db.transaction("photos", mode);
        const timer = setTimeout(() => reject(new Error("timeout")), STORAGE_TIMEOUT_MS);
        const out = work(tx.objectStore("photos"));
        tx.oncomplete = () => { clearTimeout(timer); resolve(out); };
        tx.onerror = () => { clearTimeout(timer); reject(tx.error); };
        tx.onabort = () => { clearTimeout(timer); reject(tx.error || new Error("aborted")); };
      }));
    }
    return {
      put: (entries) => run("readwrite", (store) => {
        entries.forEach(({ id, file }) => store.put({
          id, owner: STORE, blob: file, name: file.name, type: file.type, modified: file.lastModified, added: Date.now(),
        }));
      }),
      get: (ids) => run("readonly", (store) => {
        const found = new Map();
        ids.forEach((id) => { store.get(id).onsuccess = (e) => { if (e.target.result) found.set(id, e.target.result); }; });
        return found;
      }),
      missing: (ids) => run("readonly", (store) => {
        const missing = [];
        ids.forEach((id) => { store.count(id).onsuccess = (e) => { if (!e.target.result) missing.push(id); }; });
        return missing;
      }),
      // This user's photos that neither `keep` lists nor are young, and those `drop` names, are deleted.
      sweep: (keep, drop) => run("readwrite", (store) => {
        const before = Date.now() - ORPHAN_AGE_MS;
        store.index("owner").openCursor(IDBKeyRange.only(STORE)).onsuccess = (e) => {
          const cursor = e.target.result;
          if (!cursor) return;
          const row = cursor.value;
          if (!keep.has(row.id) && (drop.has(row.id) || row.added < before)) cursor.delete();
          cursor.continue();
        };
      }),
    };
  })();

  function noPhotos() {
    const empty = {};
    PHOTO_FIELDS.forEach((name) => { empty[name] = []; });
    return empty;
  }
  const allPhotos = () => PHOTO_FIELDS.flatMap((name) => photos[name]);
  function photoIdsOf(draft) {
    const listed = (draft && draft.fields && draft.fields.photos) || {};
    return PHOTO_FIELDS.flatMap((name) => listed[name] || []);
  }
  function photoList() {
    // Only the fields with photos: a draft without any is stored as it always was.
    const listed = {};
    PHOTO_FIELDS.forEach((name) => { if (photos[name].length) listed[name] = photos[name].map((p) => p.id); });
    return Object.keys(listed).length ? listed : null;
  }
  // The photos that go with the report (before/after only while 自行处置 is ticked; `except`: one field left out).
  function photoCount(except) {
    return photoInputs.reduce((n, input) => (input.name === except || input.disabled ? n : n + photos[input.name].length), 0);
  }
  function setFiles(input, files) {
    try {
      const list = new DataTransfer();
      files.forEach((file) => list.items.add(file));
      input.files = list.files;
    } catch (e) { /* no DataTransfer: the input shows another choice, but the page sends its own list */ }
  }
  function showPhotos(name) {
    const input = form.elements.namedItem(name);
    if (!input) return;
    const files = photos[name].filter((p) => p.file).map((p) => p.file);
    setFiles(input, files);
    if (form.civicgrid) form.civicgrid.showThumbs(input, files, (index) => removePhoto(name, index));
  }
  // One photo taken out of the report (its 移除 button), the others kept; the draft forgets it.
  function removePhoto(name, index) {
    if (sending || starting) return;
    const gone = photos[name].filter((p) => p.file)[index];
    if (!gone) return;
    photos[name] = photos[name].filter((p) => p !== gone);
    showPhotos(name);
    if (status.dataset.photoNote || status.classList.contains("error")) say("", "");
    saveDraft();
  }
  function removePhotos(dropped) {
    // The slot's photos stay, and so do this page's (another tab may list what this one dropped, or the reverse).
    const keep = new Set(photoIdsOf(readDraft()).concat(allPhotos().map((p) => p.id)));
    return photoStore.sweep(keep, new Set(dropped || [])).catch(() => {});
  }
  // After the slot's photo list changed: this page's photos are stored (put back if another tab removed them),
  // then those the slot listed before and this page no longer has are removed.
  function storePhotos(listedBefore) {
    const mine = allPhotos().filter((p) => p.file);
    const ids = new Set(allPhotos().map((p) => p.id));
    const dropped = listedBefore.filter((id) => !ids.has(id));
    photoWork = photoWork
      .then(() => (mine.length ? photoStore.missing(mine.map((p) => p.id)) : []))
      .then((missing) => (missing.length ? photoStore.put(mine.filter((p) => missing.includes(p.id))) : null))
      .catch(() => say(t("photos_not_kept"), "error"))
      .then(() => removePhotos(dropped));
  }
  // Whether a file is a JPEG, PNG or WebP by its first bytes (what the server accepts, by content too): a
  // document renamed .jpg is no photo, whatever its name says. Unreadable here: the server decides.
  function isImage(file) {
    return file.slice(0, 12).arrayBuffer().then((buffer) => {
      const b = new Uint8Array(buffer);
      const at = (i, bytes) => bytes.every((x, k) => b[i + k] === x);
      return at(0, [0xff, 0xd8, 0xff]) || at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) ||
        (at(0, [0x52, 0x49, 0x46, 0x46]) && at(8, [0x57, 0x45, 0x42, 0x50]));
    }).catch(() => true);
  }
  const choosing = {}; // the latest choice of each field (an earlier one finishing late changes nothing)
  function choosePhotos(input) {
    const picked = Array.from(input.files || []);
    const ticket = (choosing[input.name] || 0) + 1;
    choosing[input.name] = ticket;
    const checked = Promise.all(picked.map(isImage));
    // A send waits for the check (it waits for photoWork).
    photoWork = photoWork.then(() => checked).then((images) => {
      if (choosing[input.name] === ticket) return takePhotos(input, picked, images);
      return undefined;
    }).catch(() => undefined);
  }
  function takePhotos(input, picked, images) {
    // A new choice replaces the field's photos, as the file input itself does. What the server would refuse
    // (not a photo, too large, too many) is left out here, each named, with a word on why and what to do.
    const notes = [];
    let files = picked.filter((file, i) => {
      if (!images[i]) {
        notes.push(t("photo_not_image").replace("{name}", file.name));
        return false;
      }
      if (file.size <= MAX_PHOTO_BYTES) return true;
      const shown = window.civicgrid.photoSizes(file.size, MAX_PHOTO_BYTES);
      notes.push(t("photo_too_large").replace("{name}", file.name).replace("{size}", shown.size)
        .replace("{limit}", shown.limit));
      return false;
    });
    const room = Math.max(0, MAX_PHOTOS - photoCount(input.name));
    if (files.length > room) {
      notes.push(t("too_many_chosen").replace("{max}", String(MAX_PHOTOS)).replace("{extra}", String(files.length - room)));
      files = files.slice(0, room);
    }
    const chosen = files.map((file) => ({ id: newKey(), file }));
    photos[input.name] = chosen;
    showPhotos(input.name);
    if (notes.length) {
      // One note per photo refused, each ending as a sentence does in the page's language.
      say(notes.join((document.documentElement.lang || "").startsWith("en") ? "; " : "；"), "error");
      status.dataset.photoNote = "1";
    } else if (status.dataset.photoNote) {
      say("", ""); // the word on an earlier choice no longer holds
    }
    if (sending) return undefined;
    // Stored first, then listed in the draft: a tab that takes the draft up finds them there.
    return photoStore.put(chosen)
      .catch(() => say(t("photos_not_kept"), "error"))
      .then(() => { if (!sending && !applying) saveDraft(); });
  }
  photoInputs.forEach((input) => input.addEventListener("change", () => { if (!applying) choosePhotos(input); }));

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
    const listed = photoList();
    if (listed) fields.photos = listed;
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
    const listedBefore = photoIdsOf(previous);
    if (JSON.stringify(listedBefore) !== JSON.stringify(photoIdsOf(draft))) storePhotos(listedBefore);
    showDiscard();
  }
  function clearDraft(key) {
    // Only the draft of the report just confirmed: another tab may have put its own draft in the slot since.
    const stored = readDraft();
    if (stored && stored.key && stored.key !== key) return;
    try { localStorage.removeItem(STORE); } catch (e) { /* nothing to clear */ }
  }
  function forgetPhotos() {
    // The photos leave this page (sent or discarded) and, unless another tab's draft lists them, the phone.
    const dropped = allPhotos().map((p) => p.id);
    photos = noPhotos();
    restoring += 1;
    photoInputs.forEach((input) => showPhotos(input.name));
    photoWork = photoWork.then(() => removePhotos(dropped));
  }
  // The form shows `draft`; its photos come from storage (the promise: how many could not be found).
  function restore(draft) {
    const point = () => ["lng", "lat", "crs"].map((name) => form.elements.namedItem(name).value).join();
    const pointBefore = point();
    applying = true;
    try {
      keyInput.value = draft.key;
      FIELDS.forEach((name) => {
        if (draft.fields && draft.fields[name] != null) form.elements.namedItem(name).value = draft.fields[name];
      });
      const self = form.elements.namedItem("self_handled");
      if (self && draft.fields && self.checked !== !!draft.fields.self_handled) {
        self.checked = !!draft.fields.self_handled;
        self.dispatchEvent(new Event("change", { bubbles: true }));
      }
    } finally {
      applying = false;
    }
    if (form.civicgrid) {
      form.civicgrid.showChoice();
      if (point() !== pointBefore) form.civicgrid.locateNow();
    }
    const listed = (draft.fields && draft.fields.photos) || {};
    const held = new Map(allPhotos().filter((p) => p.file).map((p) => [p.id, p.file]));
    PHOTO_FIELDS.forEach((name) => {
      photos[name] = (listed[name] || []).map((id) => ({ id, file: held.get(id) || null }));
    });
    const ticket = ++restoring;
    // A draft saved a moment ago may list photos its tab is still storing: they are looked for a while longer.
    const fresh = Date.now() - Date.parse(draft.saved || "") < 10000;
    const read = (ids, tries) => photoStore.get(ids).catch(() => new Map()).then((found) => {
      const rest = ids.filter((id) => !found.has(id));
      if (!rest.length || tries <= 0 || ticket !== restoring) return found;
      return new Promise((resolve) => { setTimeout(resolve, 300); })
        .then(() => read(rest, tries - 1))
        .then((more) => new Map([...found, ...more]));
    });
    const wanted = allPhotos().filter((p) => !p.file).map((p) => p.id);
    const reading = wanted.length ? read(wanted, fresh ? 30 : 0) : Promise.resolve(new Map());
    const restored = photoWork.then(() => reading).then((found) => {
      if (ticket !== restoring) return 0; // photos chosen or restored since: theirs is the word
      let missing = 0;
      PHOTO_FIELDS.forEach((name) => {
        photos[name] = photos[name].filter((p) => {
          const row = !p.file && found.get(p.id);
          if (row) p.file = new File([row.blob], row.name || "photo.jpg", { type: row.type || row.blob.type, lastModified: row.modified });
          if (!p.file) missing += 1;
          return !!p.file;
        });
        showPhotos(name);
      });
      return missing;
    });
    photoWork = restored.then(() => undefined, () => undefined);
    showDiscard();
    return restored.catch(() => 0);
  }
  const restoredText = (missing) => (missing ? t("restored_missing").replace("{count}", String(missing)) : t("restored"));
  function hasContent(fields) {
    return !!fields && !!((fields.description || "").trim() || fields.category || (fields.address || "").trim() ||
      fields.photos);
  }
  function showDiscard() {
    if (!discardButton) return;
    const stored = readDraft();
    discardButton.hidden = !!sending || starting || form.hidden || !stored || stored.key !== keyInput.value ||
      !hasContent(stored.fields);
  }

  // --- sending with retries -----------------------------------------------------------------------------
  function csrf() {
    const meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.content : "";
  }
  function formData() {
    // The photos are the page's own list (restored ones are not in the file inputs of every browser), in the
    // order the server's digest counts them; a disabled input's photos are not part of the report.
    const data = new FormData(form);
    photoInputs.forEach((input) => {
      data.delete(input.name);
      if (input.disabled) return;
      photos[input.name].forEach((p) => { if (p.file) data.append(input.name, p.file, p.file.name); });
    });
    return data;
  }
  function finish(body, key) {
    sentKeys.add(key);
    clearDraft(key);
    forgetPhotos();
    sending = null;
    say("", "");
    clearSent();
    form.hidden = true;
    done.hidden = false;
    showDiscard();
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
    showDiscard();
    say(text, "error");
    status.dataset.submitError = "1"; // the user corrects the report: their next edit takes the word away
  }
  // A 429 says how long to hold back (Retry-After) and why (its detail): the draft waits that long, so saying.
  function scheduleRetry(after, why) {
    const attempt = sending.attempt;
    if (attempt >= MAX_ATTEMPTS) {
      sending.timer = null;
      say(t("gave_up"), "error");
      retryButton.hidden = false;
      return;
    }
    const wait = after || DELAYS[Math.min(attempt - 1, DELAYS.length - 1)];
    if (why) say(t("held_back").replace("{detail}", why), "busy");
    else say(t("retrying").replace("{seconds}", String(wait)).replace("{attempt}", String(attempt)), "busy");
    retryButton.hidden = false;
    sending.timer = setTimeout(send, wait * 1000);
  }
  function retryAfter(response) {
    const seconds = parseInt(response.headers.get("Retry-After") || "", 10);
    return seconds > 0 ? Math.min(seconds, 3600) : 0;
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
          if (r.status === 429 && body.detail) return scheduleRetry(retryAfter(r), body.detail);
          if (r.status >= 500 || r.status === 408 || r.status === 429) return scheduleRetry();
          if (r.status === 409 && body.field === "idempotency_key") return sendUnderNewKey(body);
          saveDraft(false); // refused: nothing was created with this key, the user corrects and sends again
          // Outside the district: say how to give a place inside it.
          const hint = body.code === "outside_district" ? ` ${t("outside_hint")}` : "";
          return stop((body.detail || String(r.status)) + hint);
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
    // 自行处置 is closed at once: the server asks for its category and its after photo (the hint says so).
    if (self && self.checked && !category) return t("need_category");
    if (self && self.checked && form.elements.namedItem("photos_after") && !photos.photos_after.length) {
      return t("need_after");
    }
    if (photoCount() > MAX_PHOTOS) return t("too_many_photos").replace("{max}", String(MAX_PHOTOS));
    return "";
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (sending || starting) return;
    // The photos must be in storage (or restored from it) before they go: a reload meanwhile finds them.
    starting = true;
    submitButton.disabled = true;
    showDiscard();
    photoWork.then(() => {
      starting = false;
      const problem = validate();
      if (problem) {
        submitButton.disabled = false;
        showDiscard();
        say(problem, "error");
        status.dataset.submitError = "1";
        return;
      }
      saveDraft(true);
      // One FormData for every attempt: the same key and the same bytes each time.
      sending = { data: formData(), attempt: 0, timer: null };
      showDiscard();
      send();
    });
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
  function checkDraft(draft, restored) {
    const url = `${form.action}?key=${encodeURIComponent(draft.key)}`;
    const asked = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => r.json())
      .catch(() => ({ found: false }));
    return Promise.all([asked, restored]).then(([body, missing]) => {
      // Found and still this draft's key: the draft is exactly what was sent (an edit would have renewed it).
      if (body.found && !sending && keyInput.value === draft.key) {
        finish(body, draft.key);
        say(t("already_sent"), "ok");
      } else if (!sending) {
        say(restoredText(missing), missing ? "error" : "");
      }
    });
  }
  // An edit of the report: saved as the draft, and the word on a refused submit (请选择分类或填写描述, the server's
  // refusal) goes, as the user is correcting what it said (the next submit checks again). Other words (a
  // photo not kept on the phone, a draft restored without some photos) still hold and stay.
  function edited(e) {
    if (sending || applying) return;
    if (status.dataset.submitError && e.target.name) say("", "");
    if (e.target.type !== "file") saveDraft();
  }
  form.addEventListener("input", edited);
  form.addEventListener("change", edited);
  // Another tab saved the slot. While it holds this page's key it is this page's draft too: take it up (its
  // text and its photos), so that either tab sends the same report. Another key is another report: left alone.
  window.addEventListener("storage", (e) => {
    if (e.key !== STORE || sending || starting || form.hidden) return;
    let draft = null;
    try { draft = JSON.parse(e.newValue || "null"); } catch (err) { draft = null; }
    if (draft && draft.key === keyInput.value) {
      restore(draft).then((missing) => { if (missing && !sending) say(restoredText(missing), "error"); });
    }
    showDiscard();
  });
  // The form emptied of a report sent (or discarded). The key stays: the form holds nothing that could be sent
  // under it as another report, and until a new key is made (`startAgain`, once the form is empty) the same
  // report sent again is answered with its case.
  function clearSent() {
    applying = true; // an empty form is no draft to save
    try {
      form.reset();
      form.elements.namedItem("crs").value = "wgs84";
      // reset() unticks 自行处置 without a change event: hide its before/after photos with it.
      const self = form.elements.namedItem("self_handled");
      if (self) self.dispatchEvent(new Event("change", { bubbles: true }));
    } finally {
      applying = false;
    }
  }
  function startAgain() {
    clearSent();
    forgetPhotos();
    keyInput.value = newKey(); // only now: the form is empty
    submitButton.disabled = false;
    retryButton.hidden = true;
    if (form.civicgrid) {
      form.civicgrid.showChoice();
      form.civicgrid.startOver(); // the new report is somewhere else: forget the point and ask the GPS again
    }
  }
  done.querySelector("[data-report-again]").addEventListener("click", () => {
    startAgain();
    done.hidden = true;
    form.hidden = false;
    showDiscard();
    say("", "");
  });
  if (discardButton) {
    discardButton.addEventListener("click", () => {
      if (sending || starting || !window.confirm(t("discard_confirm"))) return;
      clearDraft(keyInput.value);
      startAgain();
      showDiscard();
      say(t("discarded"), "ok");
    });
  }

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
    const restored = restore(draft);
    // Sent (pending): it may be a case already, ask. Never sent (or refused): it keeps its key, so sending it
    // here and in the tab it came from makes one case; an edit in either tab is a different report (the 409).
    if (draft.pending) checkDraft(draft, restored);
    else restored.then((missing) => { if (missing && !sending) say(restoredText(missing), "error"); });
  } else {
    // No draft, on a page reached by Back or Forward: whatever the fields hold was put back by the browser (a
    // report sent, or a draft discarded), not typed here. Emptied first, then a key of its own: that text sent
    // under a new key would be a second case of a report already sent. A page opened afresh is left alone: the
    // position found while the scripts loaded (report.js) is already in its fields.
    const nav = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    if (nav && nav.type === "back_forward") clearSent();
    keyInput.value = newKey();
  }
  // Back (or Forward) to this page kept in the browser's back/forward cache: the page is as it was left, script
  // state included, the success card of a report sent (its form emptied by `finish`). A form that still holds
  // a report this page saw become a case is emptied, never offered for sending again; the draft slot may have
  // changed meanwhile in another tab, so the 放弃草稿 button is settled again.
  window.addEventListener("pageshow", (e) => {
    if (!e.persisted || sending || starting) return;
    if (sentKeys.has(keyInput.value) && hasContent(formFields())) clearSent();
    showDiscard();
  });
  // Photos nobody lists any more (a draft replaced in another tab, a page closed while storing) go now.
  photoWork = photoWork.then(() => removePhotos([]));
})();
