// Porchlight web UI: My clips and the share flow, at a home's volume
// (dozens of clips a day from each camera, 30 days kept). Loaded before
// app.js, whose helpers (h, api, get, main, me, title, msg, when, size,
// short, play, refresh, requestCard) it uses when called; app.js routes
// #clips and #share here.
//
// Clips are listed a page at a time (GET /api/v1/clips?limit=…, the next
// page by the Link header), grouped by day and camera, filtered by camera
// and day on the node. Each clip shows a preview frame that the browser
// itself decodes: a detached <video> loads the clip, seeks to half a
// second and is drawn on a <canvas>, a couple at a time, only for the
// cards on screen. Nothing is decoded on the node.
"use strict";

const CLIP_PAGE = 50;

// clipPage fetches one page of clips: { clips, next }, next being the URL
// of the following page (the Link header's rel="next") or "".
async function clipPage(path) {
  let r = null;
  try { r = await fetch(path, { credentials: "same-origin" }); } catch (e) { r = null; }
  if (!r || !r.ok) {
    // api() reports the failure as every screen does (banner, message).
    return { clips: await api("GET", path), next: "" };
  }
  nodeUp();
  const m = /<([^>]+)>;\s*rel="next"/.exec(r.headers.get("Link") || "");
  return { clips: await r.json(), next: m ? m[1] : "" };
}

// ---- preview frames ----

const previewQueue = [];
let previewsRunning = 0;
const PREVIEWS_AT_ONCE = 2;

// previewObserver starts a card's preview when it scrolls into view.
const previewObserver = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    previewObserver.unobserve(e.target);
    previewQueue.push(e.target);
    nextPreview();
  }
}, { rootMargin: "300px" });

function nextPreview() {
  while (previewsRunning < PREVIEWS_AT_ONCE && previewQueue.length) {
    const canvas = previewQueue.shift();
    if (!canvas.isConnected || canvas.dataset.preview) continue;
    previewsRunning++;
    drawPreview(canvas).finally(() => { previewsRunning--; nextPreview(); });
  }
}

// drawPreview draws a frame of the clip half a second in (or mid-way
// through a shorter one) on canvas, and lets the video go.
function drawPreview(canvas) {
  return new Promise((resolve) => {
    const v = document.createElement("video");
    v.muted = true;
    v.preload = "auto";
    let timer = 0;
    const done = (state) => {
      clearTimeout(timer);
      canvas.dataset.preview = state;
      if (state !== "shown") noPreview(canvas);
      v.removeAttribute("src");
      v.load(); // frees the decoder and the connection
      resolve();
    };
    v.addEventListener("loadedmetadata", () => {
      const d = Number.isFinite(v.duration) ? v.duration : 1;
      v.currentTime = Math.min(0.5, d / 2);
    }, { once: true });
    v.addEventListener("seeked", () => {
      try {
        canvas.getContext("2d").drawImage(v, 0, 0, canvas.width, canvas.height);
        done("shown");
      } catch (e) { done("none"); }
    }, { once: true });
    v.addEventListener("error", () => done("none"), { once: true });
    timer = setTimeout(() => done("none"), 15000);
    v.src = "/api/v1/clips/" + canvas.dataset.clip + "/video";
  });
}

function noPreview(canvas) {
  const g = canvas.getContext("2d");
  g.fillStyle = "#5a6069";
  g.font = "14px system-ui, sans-serif";
  g.textAlign = "center";
  g.fillText("No preview", canvas.width / 2, canvas.height / 2 + 5);
}

function previewCanvas(c) {
  const canvas = h("canvas", { class: "preview", width: 160, height: 90, "data-clip": c.id, role: "img",
    "aria-label": "Preview of the " + (c.camera || "camera") + " clip of " + clipWhen(c.start) });
  if (!c.media_type.startsWith("video/")) {
    canvas.dataset.preview = "none";
    noPreview(canvas);
  } else {
    previewObserver.observe(canvas);
  }
  return canvas;
}

// ---- the clip browser: filters, groups, pages ----

function dayKey(t) {
  const d = new Date(t);
  return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
}
// Formatters made once: a page draws hundreds of times and dates, and
// toLocaleString builds a formatter on every call.
const fmtDay = new Intl.DateTimeFormat([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
const fmtTime = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const fmtWhen = new Intl.DateTimeFormat([], { dateStyle: "medium", timeStyle: "short" });
function dayName(t) { return fmtDay.format(new Date(t)); }
function clipTime(t) { return fmtTime.format(new Date(t)); }
function clipWhen(t) { return t ? fmtWhen.format(new Date(t)) : "—"; }

// clipBrowser lists clips a page at a time under camera and day filters,
// grouped by day and camera. o: { prefix (of element IDs), owner ("self"
// or ""), label, card(c, canvas): the card's element, none: text for no
// clips, skip(c): true to leave a clip out (shown elsewhere) }. It returns { el, refresh, cardOf }: refresh picks up clips
// that arrived since, keeping the pages shown.
function clipBrowser(o) {
  const cam = h("select", { id: o.prefix + "-camera" }, h("option", { value: "" }, "All cameras"));
  const day = h("input", { type: "date", id: o.prefix + "-day" });
  const allDays = h("button", { type: "button", class: "all-days" }, "All days");
  const status = h("p", { class: "meta clip-count", "aria-live": "polite" });
  const list = h("div", { id: o.prefix === "clips" ? "clips" : o.prefix + "-clips", class: "clip-days", "aria-label": o.label });
  const more = h("button", { type: "button", class: "more", hidden: true }, "Show older clips");
  let shown = [];          // clips listed, newest first
  const cards = new Map(); // clip ID → its card, kept across redraws
  let next = "";
  let gen = 0;             // a filter change drops the answers of the previous one

  const query = (extra) => {
    const q = new URLSearchParams({ limit: String(CLIP_PAGE) });
    if (o.owner) q.set("owner", o.owner);
    if (cam.value) q.set("camera", cam.value);
    if (day.value) {
      const [y, m, d] = day.value.split("-").map(Number);
      q.set("since", new Date(y, m - 1, d).toISOString().replace(/\.\d+Z$/, "Z"));
      q.set("until", new Date(y, m - 1, d + 1).toISOString().replace(/\.\d+Z$/, "Z"));
    }
    return "/api/v1/clips?" + q + (extra || "");
  };
  const keep = (cs) => o.skip ? cs.filter(c => !o.skip(c)) : cs;
  const cardOf = (c) => {
    const old = cards.get(c.id);
    if (old && old.dataset.hold === String(c.hold)) return old;
    const canvas = old ? old.querySelector("canvas.preview") : previewCanvas(c);
    const el = o.card(c, canvas);
    el.dataset.hold = String(c.hold);
    cards.set(c.id, el);
    return el;
  };
  const draw = () => {
    const days = [];
    const byDay = new Map();
    for (const c of shown) {
      const k = dayKey(c.start);
      let d = byDay.get(k);
      if (!d) { d = { start: c.start, cams: new Map() }; byDay.set(k, d); days.push(d); }
      const cm = c.camera || "camera";
      if (!d.cams.has(cm)) d.cams.set(cm, []);
      d.cams.get(cm).push(c);
    }
    list.replaceChildren(...(days.length ? days.map(d => h("section", { class: "clip-day", "data-day": dayKey(d.start) },
      h("h3", null, dayName(d.start)),
      [...d.cams].map(([cm, cs]) => h("div", { class: "clip-camera", "data-camera": cm },
        h("h4", null, cm, h("span", { class: "meta" }, " · " + cs.length + (cs.length === 1 ? " clip" : " clips"))),
        h("ul", { class: "clip-grid" }, cs.map(cardOf)))))) : [h("p", { class: "empty" }, o.none)]));
    more.hidden = !next;
    status.textContent = shown.length ? `Showing ${shown.length} clip${shown.length === 1 ? "" : "s"}${next ? "; older ones below" : ""}.` : "";
  };
  const load = async () => {
    const g = ++gen;
    const p = await clipPage(query());
    if (g !== gen) return;
    shown = keep(p.clips);
    next = p.next;
    draw();
  };
  more.addEventListener("click", async () => {
    if (!next) return;
    more.disabled = true;
    const g = gen;
    try {
      const p = await clipPage(next);
      if (g !== gen) return;
      const have = new Set(shown.map(c => c.id));
      shown = shown.concat(keep(p.clips).filter(c => !have.has(c.id)));
      next = p.next;
      draw();
    } catch (err) { status.textContent = "Could not load more: " + err.message; }
    finally { more.disabled = false; }
  });
  const cameras = async () => {
    const cs = await get("/api/v1/clips/cameras" + (o.owner ? "?owner=" + o.owner : ""));
    const keep = cam.value;
    cam.replaceChildren(h("option", { value: "" }, "All cameras"),
      ...cs.map(c => h("option", { value: c.camera, selected: c.camera === keep }, (c.camera || "camera") + " (" + c.clips + ")")));
  };
  cam.addEventListener("change", () => load().catch(() => {}));
  day.addEventListener("change", () => load().catch(() => {}));
  allDays.addEventListener("click", () => { day.value = ""; load().catch(() => {}); });
  let first = true;
  const refresh = async () => {
    if (first) {
      first = false;
      await Promise.all([load(), cameras()]);
      return;
    }
    // Later: add what arrived, keep the pages loaded (and their previews).
    const g = gen;
    const [p] = await Promise.all([clipPage(query()), cameras()]);
    if (g !== gen) return;
    const fresh = new Map(keep(p.clips).map(c => [c.id, c]));
    const have = new Set(shown.map(c => c.id));
    const added = keep(p.clips).filter(c => !have.has(c.id));
    const changed = shown.some(c => fresh.has(c.id) && fresh.get(c.id).hold !== c.hold);
    if (!added.length && !changed) return;
    shown = shown.map(c => fresh.get(c.id) || c).concat(added);
    shown.sort((a, b) => new Date(b.start) - new Date(a.start));
    if (!next && p.next) next = p.next;
    draw();
  };
  const el = h("div", { class: "clip-browser" },
    h("div", { class: "clip-filters row" },
      h("div", null, h("label", { for: o.prefix + "-camera" }, "Camera"), cam),
      h("div", null, h("label", { for: o.prefix + "-day" }, "Day"), day),
      h("div", { class: "all-days-box" }, allDays)),
    status, list, h("p", null, more));
  return { el, refresh, shown: () => shown };
}

// ---- My clips ----

async function clipsScreen() {
  const player = h("video", { id: "player", controls: true, preload: "metadata", hidden: true });
  const now = h("p", { class: "meta", id: "now-playing", "aria-live": "polite" });
  const browser = clipBrowser({
    prefix: "clips", owner: "", label: "My clips",
    none: "No clips here. Add one from a file, or set watch_dir in config.toml to import a camera's folder.",
    card: (c, canvas) => h("li", { class: "card clip", "data-id": c.id },
      canvas,
      h("div", { class: "clip-facts" },
        h("p", null, h("b", null, clipTime(c.start)), c.end ? " to " + clipTime(c.end) : ""),
        h("p", { class: "meta" }, size(c.size), " · ",
          c.hold ? h("span", { class: "tag hot" }, "kept while shared") : "kept until " + clipWhen(c.expires)),
        me && c.owner !== me.peer_id ? h("p", { class: "meta" }, "from ", h("code", null, short(c.owner))) : null,
        h("p", { class: "meta" }, "SHA-256 ", h("code", { title: c.sha256 }, short(c.sha256))),
        h("button", { type: "button", class: "play", onclick: () => play(player, now, c.id, (c.camera || "camera") + ", " + clipWhen(c.start)) }, "Play"))),
  });
  const file = h("input", { type: "file", id: "upload-file", accept: "video/*,image/*" });
  const cam = h("input", { type: "text", id: "upload-camera", value: "front-door" });
  const start = h("input", { type: "datetime-local", id: "upload-start" });
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    const f = file.files[0];
    if (!f) { out.replaceChildren(msg("error", "Choose a video file first.")); return; }
    const st = start.value ? new Date(start.value) : new Date(f.lastModified || Date.now());
    const qs = new URLSearchParams({ camera: cam.value, start: st.toISOString().replace(/\.\d+Z$/, "Z") });
    try {
      await api("POST", "/api/v1/clips?" + qs, f.slice(0, f.size, f.type || "application/octet-stream"), { "X-Porchlight-Upload": "1" });
      out.replaceChildren(msg("notice", "Clip added. It stays on this computer."));
      file.value = "";
      await refresh();
    } catch (err) { out.replaceChildren(msg("error", "Not added: " + err.message)); }
  } }, h("fieldset", null, h("legend", null, "Add a clip from a file"),
    h("div", { class: "grid2" },
      h("div", null, h("label", { for: "upload-file" }, "Video file"), file),
      h("div", null, h("label", { for: "upload-camera" }, "Camera"), cam),
      h("div", null, h("label", { for: "upload-start" }, "Recorded at (default: the file's time)"), start)),
    h("p", null, h("button", { type: "submit" }, "Add clip")), out));
  main.replaceChildren(title("My clips"), h("p", { class: "meta" }, "Clips stay on this computer; only a grant you confirm lets anyone fetch one."),
    player, now, h("h2", null, "Clips"), browser.el, h("h2", null, "Add"), form);
  let marked = false;
  return async () => {
    await browser.refresh();
    if (!marked) {
      marked = true;
      // For the browser test: the first page is on screen.
      performance.mark("clips-first-page");
    }
  };
}

// ---- sharing with an agency ----

// inlinePlayer swaps a candidate's preview for a player of the clip, so
// the owner can watch what would leave the house before choosing it.
function inlinePlayer(c, box) {
  const v = h("video", { controls: true, preload: "metadata", class: "inline-player", "aria-label": "The " + (c.camera || "camera") + " clip of " + clipWhen(c.start) });
  v.src = "/api/v1/clips/" + c.id + "/video";
  box.replaceChildren(v);
  v.play().catch(() => { /* autoplay may be refused; the controls work */ });
  return v;
}

// shareScreen: choose clips (those in the request's window preselected,
// any other through the same browser as My clips), watch each, see
// exactly what goes to whom until when, confirm.
async function shareScreen(reqID) {
  const reqs = await get("/api/v1/requests");
  const q = reqs.find(r => r.id === reqID);
  if (!q) { main.replaceChildren(title("Share clips"), msg("error", "This request is not known to your node.")); return null; }
  const from = new Date(q.from), to = new Date(q.to);
  const inWindow = c => { const st = new Date(c.start), en = c.end ? new Date(c.end) : st; return st <= to && en >= from; };
  const chosen = new Map(); // clip ID → clip

  // A clip overlapping the window started at most 12 hours (the longest
  // recording a camera makes) before it.
  const wq = new URLSearchParams({ owner: "self", limit: "500",
    since: new Date(from.getTime() - 12 * 3600e3).toISOString().replace(/\.\d+Z$/, "Z"),
    until: new Date(to.getTime() + 1000).toISOString().replace(/\.\d+Z$/, "Z") });
  const win = (await clipPage("/api/v1/clips?" + wq)).clips.filter(inWindow);
  for (const c of win) chosen.set(c.id, c);

  const out = h("div", { "aria-live": "polite" });
  const count = h("p", { class: "meta", id: "share-count", "aria-live": "polite" });
  const counted = () => { count.textContent = chosen.size + (chosen.size === 1 ? " clip chosen." : " clips chosen."); };
  const boxes = new Map(); // clip ID → its checkboxes (a clip may show twice)
  const candidate = (c, canvas) => {
    const box = h("input", { type: "checkbox", name: "clip", value: c.id, checked: chosen.has(c.id),
      "aria-label": "Share the " + (c.camera || "camera") + " clip of " + clipWhen(c.start) });
    box.addEventListener("change", () => {
      if (box.checked) chosen.set(c.id, c); else chosen.delete(c.id);
      for (const b of boxes.get(c.id) || []) b.checked = box.checked;
      counted();
      out.replaceChildren(); // a confirmation shown is no longer what is chosen
    });
    if (!boxes.has(c.id)) boxes.set(c.id, new Set());
    boxes.get(c.id).add(box);
    const view = h("div", { class: "clip-view" }, canvas || previewCanvas(c));
    return h("li", { class: "card clip candidate", "data-id": c.id },
      view,
      h("div", { class: "clip-facts" },
        h("label", { class: "inline" }, box, h("span", null, h("b", null, c.camera || "camera"), ", ", clipWhen(c.start))),
        h("p", { class: "meta" }, size(c.size), inWindow(c) ? h("span", { class: "tag hot" }, "in the window") : null),
        h("button", { type: "button", class: "play-inline", onclick: () => inlinePlayer(c, view) }, "Watch it here")));
  };
  const inWin = new Set(win.map(c => c.id));
  const browser = clipBrowser({ prefix: "share", owner: "self", label: "Your other clips", card: candidate,
    none: "No other clips.", skip: c => inWin.has(c.id) });

  const days = h("select", { id: "share-days" }, [1, 3, 7, 14, 30].map(d => h("option", { value: d, selected: d === 7 }, d + (d === 1 ? " day" : " days"))));
  const review = h("button", { id: "share-review", class: "primary", type: "button" }, "Review what will be shared");
  review.addEventListener("click", () => {
    const list = [...chosen.values()].sort((a, b) => new Date(a.start) - new Date(b.start));
    if (!list.length) { out.replaceChildren(msg("error", "Choose at least one clip, or leave: nothing is shared.")); return; }
    const until = new Date(Date.now() + Number(days.value) * 864e5);
    const confirm = h("button", { id: "share-confirm", class: "primary", type: "button" }, `Share ${list.length} clip(s) with ${q.agency_name}`);
    const back = h("button", { type: "button", onclick: () => { out.replaceChildren(); review.focus(); } }, "Cancel");
    const box = h("section", { class: "confirm", "aria-labelledby": "confirm-title" },
      h("h2", { id: "confirm-title" }, "Please confirm"),
      h("p", null, "You are giving ", h("b", null, q.agency_name), " (", h("code", null, q.agency), ") access to exactly these clips, for case ", q.case, ". Each plays here: this is what leaves your home."),
      h("ul", { id: "share-list", class: "share-list" }, list.map(c => h("li", { "data-id": c.id },
        h("p", null, c.camera || "camera", ", ", clipWhen(c.start), " (", size(c.size), ") ", h("code", null, short(c.id))),
        h("video", { controls: true, preload: "metadata", src: "/api/v1/clips/" + c.id + "/video", "aria-label": "The " + (c.camera || "camera") + " clip of " + clipWhen(c.start) })))),
      h("p", null, "Until ", h("b", { id: "share-until" }, clipWhen(until)), ". They can download copies before then; you can revoke the grant, but not copies already made. Every download is in your access log."),
      h("div", { class: "row" }, confirm, back));
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      try {
        const g = await api("POST", "/api/v1/grants", { request: q.id, clips: list.map(c => c.id), expires: days.value + "d" });
        out.replaceChildren(msg("notice", g.delivered
          ? `Shared with ${q.agency_name} until ${clipWhen(g.expires)}. See Grants to revoke.`
          : `Grant made; ${q.agency_name} is not reachable now, so your node will deliver it while it is valid.`),
          h("a", { href: "#grants" }, "See your grants"));
      } catch (err) { confirm.disabled = false; box.append(msg("error", "Not shared: " + err.message)); }
    });
    out.replaceChildren(box);
    confirm.focus();
  });
  counted();
  main.replaceChildren(title("Share clips with " + q.agency_name),
    h("ul", { class: "cards" }, requestCard(q, false)),
    h("fieldset", null, h("legend", null, "Which clips"),
      h("h3", null, "In the request's window"),
      win.length ? h("ul", { id: "share-window", class: "clip-grid" }, win.map(c => candidate(c)))
        : h("p", { class: "empty" }, "None of your clips falls in this window."),
      h("h3", null, "Your other clips"),
      browser.el,
      count,
      h("label", { for: "share-days" }, "For how long"), days,
      h("p", null, review)),
    out);
  return browser.refresh;
}
