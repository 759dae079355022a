// Porchlight web UI. Plain JavaScript, no build step: each screen is a
// function that draws its static parts once and returns a refresh function
// that redraws the lists; server-sent events call the current refresh.
"use strict";

const main = document.getElementById("main");
const banner = document.getElementById("banner");
let me = null;       // GET /api/v1/status
let current = null;  // refresh function of the screen shown
let offline = false;

// ---- talking to the node ----

class APIError extends Error {
  constructor(status, code, msg) { super(msg); this.status = status; this.code = code; }
}

function showBanner(text) {
  banner.textContent = text;
  banner.hidden = false;
}
function nodeDown() {
  offline = true;
  showBanner("Your Porchlight node is not answering. It may have stopped: start it again (porchlight run), and this page reconnects by itself. Nothing you typed here has been lost.");
}
// The node reports a failed disk in its status (and as 503 storage_failed
// to a write): it refuses writes and still serves what it has.
let diskFailed = false;
function storageState(st) {
  if (st && !st.ok) {
    diskFailed = true;
    showBanner("Your node's disk has failed: " + st.error + ". Posts, clips and shares are refused until it is fixed; everything already here can still be read.");
  } else if (diskFailed) {
    diskFailed = false;
    banner.hidden = true;
    banner.textContent = "";
  }
}
function nodeUp() {
  if (offline) {
    offline = false;
    banner.hidden = true;
    banner.textContent = "";
    refresh();
  }
}

async function api(method, path, body, headers) {
  let r;
  const opts = { method, credentials: "same-origin", headers: Object.assign({}, headers) };
  if (body !== undefined) {
    if (body instanceof Blob) {
      opts.body = body;
    } else {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
  }
  try {
    r = await fetch(path, opts);
  } catch (e) {
    nodeDown();
    throw new APIError(0, "offline", "Your node is not answering.");
  }
  nodeUp();
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!r.ok) {
    if (r.status === 503 && data && data.code === "storage_failed") {
      storageState({ ok: false, error: data.error });
    }
    if (r.status === 401) {
      showBanner("This browser is no longer signed in to your node. Run `porchlight ui` for a new login link (on another device: `porchlight pair`).");
    }
    throw new APIError(r.status, data && data.code, (data && data.error) || ("HTTP " + r.status));
  }
  return data;
}
const get = (path) => api("GET", path);

// ---- small DOM helpers (textContent only: nothing from the network is parsed as HTML) ----

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
  return el;
}
const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const k of kids) el.append(k instanceof Node ? k : String(k));
  return el;
}
function when(t) { return t ? new Date(t).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "—"; }
function short(id) { return id ? id.slice(0, 12) + "…" : ""; }
function size(n) {
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MB";
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(0) + " kB";
  return n + " bytes";
}
function duration(secs) {
  if (secs % 3600 === 0) return (secs / 3600) + " h";
  if (secs >= 3600) return (secs / 3600).toFixed(1) + " h";
  return Math.round(secs / 60) + " min";
}
function msg(kind, text) { return h("p", { class: kind, role: kind === "error" ? "alert" : "status" }, text); }
function empty(text) { return h("li", { class: "empty" }, text); }
function title(text) {
  document.title = text + " · Porchlight";
  return h("h1", null, text);
}
// list replaces a container's children, keeping focus reachable.
function fill(el, items, none) {
  const next = items.length ? items : [empty(none)];
  // Unchanged: keep the nodes, so that focus and a click in progress
  // survive the refreshes that events and the heartbeat trigger.
  if (el.children.length === next.length && next.every((n, i) => n.isEqualNode(el.children[i]))) return;
  el.replaceChildren(...next);
}

// ---- the area map ----

// parseArea reads "circle:LAT,LON,M" or "polygon:LAT,LON;LAT,LON;...".
function parseArea(a) {
  const [kind, rest] = a.split(":");
  if (kind === "circle") {
    const [lat, lon, r] = rest.split(",").map(Number);
    return { circle: { lat, lon, r } };
  }
  return { polygon: rest.split(";").map(p => { const [lat, lon] = p.split(",").map(Number); return { lat, lon }; }) };
}

// areaMap draws the area on a small map-like square centred on the home
// (or on the area when the home is unknown), in meters.
function areaMap(area, home, label) {
  const A = parseArea(area);
  const pts = A.circle ? [A.circle] : A.polygon;
  const c0 = home || (A.circle ? A.circle : {
    lat: pts.reduce((s, p) => s + p.lat, 0) / pts.length, lon: pts.reduce((s, p) => s + p.lon, 0) / pts.length });
  const mLat = 111320, mLon = 111320 * Math.cos(c0.lat * Math.PI / 180);
  const xy = p => ({ x: (p.lon - c0.lon) * mLon, y: -(p.lat - c0.lat) * mLat });
  // The view spans the area and the home with a margin.
  let span = 150;
  if (A.circle) { const c = xy(A.circle); span = Math.max(span, Math.abs(c.x) + A.circle.r, Math.abs(c.y) + A.circle.r); }
  else for (const p of pts) { const q = xy(p); span = Math.max(span, Math.abs(q.x), Math.abs(q.y)); }
  span *= 1.2;
  const W = 240, k = (W / 2) / span, P = q => ({ x: W / 2 + q.x * k, y: W / 2 + q.y * k });
  const svg = s("svg", { class: "area-map", viewBox: `0 0 ${W} ${W}`, role: "img", "aria-label": label });
  svg.append(s("title", {}, label));
  // A street grid, about every 100 m, for a sense of scale.
  const step = Math.max(1, Math.round(span / 300)) * 100 * k;
  for (let v = (W / 2) % step; v < W; v += step) {
    svg.append(s("line", { class: "map-street", x1: v, y1: 0, x2: v, y2: W }));
    svg.append(s("line", { class: "map-street", x1: 0, y1: v, x2: W, y2: v }));
  }
  if (A.circle) {
    const c = P(xy(A.circle));
    svg.append(s("circle", { class: "map-area", cx: c.x.toFixed(1), cy: c.y.toFixed(1), r: (A.circle.r * k).toFixed(1) }));
  } else {
    svg.append(s("polygon", { class: "map-area", points: pts.map(p => { const q = P(xy(p)); return q.x.toFixed(1) + "," + q.y.toFixed(1); }).join(" ") }));
  }
  if (home) {
    svg.append(s("circle", { class: "map-home", cx: W / 2, cy: W / 2, r: 6 }));
    svg.append(s("text", { class: "map-label", x: W / 2 + 9, y: W / 2 - 8 }, "your home"));
  }
  // Scale bar: 100 m (or more on big views).
  const bar = Math.max(1, Math.round(span / 300)) * 100;
  svg.append(s("line", { x1: 10, y1: W - 12, x2: 10 + bar * k, y2: W - 12, stroke: "#333", "stroke-width": 3 }));
  svg.append(s("text", { class: "map-label", x: 10, y: W - 18 }, bar + " m"));
  return svg;
}

// ---- screens ----

const KINDS = ["general", "safety", "lost-found", "event"];

async function feedScreen() {
  const text = h("textarea", { id: "post-text", name: "text", required: true, maxlength: 2000 });
  const kind = h("select", { id: "post-kind", name: "kind" }, KINDS.map(k => h("option", { value: k }, k)));
  const status = h("div", { "aria-live": "polite" });
  const list = h("ul", { id: "feed", class: "cards", "aria-label": "Neighborhood posts" });
  const form = h("form", {
    onsubmit: async (e) => {
      e.preventDefault();
      status.replaceChildren();
      if (!(await describeBeforePost(kind.value, text, status))) return; // notify.js: the anti-profiling prompt
      try {
        await api("POST", "/api/v1/posts", { kind: kind.value, text: text.value });
        text.value = "";
        status.replaceChildren(msg("notice", "Posted to your neighborhood."));
        await refresh();
      } catch (err) { status.replaceChildren(msg("error", "Could not post: " + err.message)); }
    }
  }, h("fieldset", null, h("legend", null, "Tell your neighbors"),
    h("label", { for: "post-text" }, "Message"), text,
    h("div", { class: "row" }, h("div", { class: "grow" }, h("label", { for: "post-kind" }, "Kind"), kind),
      h("div", null, h("label", { "aria-hidden": "true" }, "\u00a0"), h("button", { id: "post-submit", class: "primary", type: "submit" }, "Post"))),
    status));
  // Older posts a page at a time, by the Link header of the last page
  // (the node's before cursor); a refresh reloads as many as are shown.
  let shown = [], next = "";
  const more = h("button", { type: "button", id: "feed-more", hidden: true }, "Older posts");
  const show = (page) => {
    next = page.next;
    threadItems(list, shown, postParts); // replies.js: replies under their post
    more.hidden = !next;
  };
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const page = await feedPage(next);
      shown = shown.concat(page.posts);
      show(page);
    } catch (err) { more.after(msg("error", "Could not load older posts: " + err.message)); }
    finally { more.disabled = false; }
  });
  main.replaceChildren(title("Neighborhood feed"), form, h("h2", null, "Latest"), list, more);
  return async () => {
    const page = await feedPage("/api/v1/feed?limit=" + Math.min(1000, Math.max(50, shown.length)));
    shown = page.posts;
    show(page);
  };
}

// feedPage fetches one page of the feed: { posts, next }, next being the
// URL of the older posts (the Link header's rel="next") or "".
async function feedPage(path) {
  const page = await clipPage(path); // clips.js: a JSON list and its Link header
  return { posts: page.clips, next: page.next };
}

// postParts draws one post of the feed (or a reply): its text, byline,
// clips and, on the author's own node, Retract.
function postParts(p) {
  return [
      h("p", null, p.text),
      h("p", { class: "meta" }, h("span", { class: "tag" + (p.kind === "safety" ? " hot" : "") }, p.kind),
        (p.author_name || short(p.author)), " · ", when(p.created),
        p.author_equivocated ? h("span", { class: "tag bad" }, " signed conflicting histories") : null,
        p.author_removed ? h("span", { class: "tag bad" }, "removed from the neighborhood") : null),
      p.clips && p.clips.length ? h("p", { class: "meta" }, p.clips.length + " clip(s) attached, shared with the neighborhood") : null,
      p.clips && p.clips.length && !(me && p.author === me.peer_id)
        ? h("div", { class: "clip-fetches" }, p.clips.map((c, i) => clipFetch(p.author, c, p.clips.length > 1 ? "Fetch clip " + (i + 1) : "Fetch the clip"))) : null,
      me && p.author === me.peer_id ? h("button", { class: "danger", type: "button", onclick: async (e) => {
        e.target.disabled = true;
        try { await api("DELETE", "/api/v1/posts/" + p.id); await refresh(); }
        catch (err) { e.target.disabled = false; e.target.after(msg("error", "Could not retract: " + err.message)); }
      } }, "Retract") : null];
}

async function requestsScreen() {
  // A home sees what covers it; a node without a location (an agency) sees all.
  const only = h("input", { type: "checkbox", id: "only-home", checked: !!(me && me.location) });
  const list = h("ul", { id: "requests", class: "cards", "aria-label": "Requests" });
  only.addEventListener("change", () => refresh());
  main.replaceChildren(title("Requests for assistance"),
    h("p", { class: "meta" }, "Agencies ask for footage of an area and a time window. Nothing is shared unless you choose to."),
    h("label", { class: "inline" }, only, "Only requests that cover my home"), list);
  return async () => {
    const reqs = await get("/api/v1/requests");
    const shown = reqs.filter(q => !only.checked || q.covers_home);
    fill(list, shown.map(q => requestCard(q, true)), only.checked ? "No request covers your home." : "No requests.");
  };
}

function requestCard(q, shareButton) {
  const home = me && me.location ? me.location : null;
  const hours = (new Date(q.to) - new Date(q.from)) / 3600e3;
  return h("li", { class: "card request", "data-id": q.id },
    h("div", { class: "row" },
      areaMap(q.area, q.covers_home ? home : null, `Requested area, ${q.area_sq_mi} square miles` + (q.covers_home ? ", covering your home" : "")),
      h("div", { class: "grow" },
        h("p", null, h("b", null, q.incident), " — ", h("a", { href: "#agency/" + q.agency }, q.agency_name || short(q.agency))),
        h("p", null, h("span", { class: "tag" + (q.status === "open" ? " hot" : "") }, q.status),
          q.covers_home ? h("span", { class: "tag hot" }, "covers your home") : null,
          q.credential_revoked ? h("span", { class: "tag bad" }, "credential revoked") : null,
          q.after_revocation ? h("span", { class: "tag bad" }, "made after revocation") : null),
        h("p", { class: "meta" }, "Case ", q.case, " · area ", q.area_sq_mi, " sq mi"),
        yieldLine(q),
        h("p", null, "Time window: ", when(q.from), " to ", when(q.to), " (", hours.toFixed(1), " h)"),
        q.description ? h("p", null, q.description) : null,
        q.contact ? h("p", { class: "meta" }, "Contact: ", q.contact) : null,
        q.covers_home ? h("p", { class: "matching" }, h("b", null, String(q.matching_clips)), " of your clips fall in this window") : null,
        q.notes.map(n => h("p", { class: "meta" }, "Note ", when(n.time), ": ", n.text)),
        me && q.agency !== me.peer_id ? omissionAudit(q) : null,
        shareButton && q.covers_home && q.status === "open"
          ? h("a", { class: "button primary", href: "#share/" + q.id }, "Review and share clips…") : null,
        me && q.agency === me.peer_id && q.status === "open" ? closeForm(q) : null,
        me && q.agency !== me.peer_id ? auditYield(q) : null)));
}

// yieldLine shows what the agency's signed Yield records say it received.
function yieldLine(q) {
  const mb = (q.yield_bytes || 0) / 1e6, secs = q.video_seconds || 0;
  return h("p", { class: "meta yield" }, "Received by the agency: ",
    h("b", null, String(q.clips_received || 0)), " clip(s) from ", h("b", null, String(q.homes_shared || 0)), " home(s)",
    q.clips_received ? ` · ${mb.toFixed(1)} MB · ${Math.round(secs)} s of video` : "");
}

// auditYield checks on this node alone that the agency's public yield
// counts each clip this home shared for the request; nothing is sent.
function auditYield(q) {
  const out = h("div", { "aria-live": "polite" });
  const btn = h("button", { type: "button", class: "audit-yield" }, "Check that my shared clips are counted");
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    try {
      const a = await get("/api/v1/requests/" + q.id + "/audit-yield");
      if (!a.clips.length) { out.replaceChildren(msg("status", "You shared no clip for this request.")); return; }
      out.replaceChildren(h("ul", { class: "yield-audit" }, a.clips.map(c => h("li", null,
        h("span", { class: "tag" + (c.state === "missing" ? " bad" : "") }, c.state.replace("_", " ")), " clip ", h("code", null, short(c.clip)),
        c.yield_seq ? ` — counted at position ${c.yield_seq} of the agency's public log` : ""))),
        a.missing ? msg("error", "The agency received a clip of yours and its public yield does not count it.") : null);
    } catch (err) { out.replaceChildren(msg("error", "Not checked: " + err.message)); }
    finally { btn.disabled = false; }
  });
  return h("div", { class: "audit" }, btn, out);
}

// closeForm lets the agency that made a request close it, with a public note.
function closeForm(q) {
  const id = "close-note-" + q.id.slice(0, 12);
  const note = h("input", { type: "text", id, placeholder: "e.g. suspect identified; thank you" });
  const out = h("div", { "aria-live": "polite" });
  const btn = h("button", { type: "submit", class: "danger" }, "Close request");
  return h("form", { class: "close-request", onsubmit: async (e) => {
    e.preventDefault();
    btn.disabled = true;
    try { await api("POST", "/api/v1/requests/" + q.id + "/close", { note: note.value }); await refresh(); }
    catch (err) { btn.disabled = false; out.replaceChildren(msg("error", "Not closed: " + err.message)); }
  } }, h("label", { for: id }, "Closing note (public)"), h("div", { class: "row" }, h("div", { class: "grow" }, note), btn), out);
}

// omissionAudit checks this home's shares for a request against the
// agency's yield and offers to publish proof of the clips left out, saying
// first what that reveals (the text of api.OmissionReveals).
const omissionReveals = "Publishing an omission proof writes it to this home's public log, which every node of the neighborhood keeps for good. " +
  "It reveals that this home shared the missing clip(s) with the agency for this request, the clip IDs, when the agency received them, " +
  "and this home's grant: every clip ID it names and the grant's ID, with which anyone can tell which entries of the request's yield are this home's. " +
  "It reveals no video and nothing about clips this home did not share.";
function omissionAudit(q) {
  const out = h("div", { class: "omission-audit", "aria-live": "polite" });
  const check = h("button", { type: "button", class: "omission-check" }, "Check my shares against the yield");
  check.addEventListener("click", async () => {
    check.disabled = true;
    try {
      const cs = await get("/api/v1/requests/" + q.id + "/omissions");
      const proven = cs.filter(c => c.state === "proven" && !c.published);
      const line = c => h("li", null, h("code", null, short(c.clip)), " ",
        c.published ? "omission published" : !c.receipt ? "no receipt from the agency" : c.state === "proven" ? h("b", null, "missing from the yield") : c.state.replace("_", " "),
        c.why ? h("span", { class: "meta" }, " — ", c.why) : null);
      const kids = [cs.length ? h("ul", { class: "omissions" }, cs.map(line)) : msg("status", "You shared no clips for this request.")];
      if (proven.length) {
        const publish = h("button", { type: "button", class: "danger omission-publish" }, `Publish proof for ${proven.length} clip(s)`);
        publish.addEventListener("click", async () => {
          publish.disabled = true;
          try {
            const r = await api("POST", "/api/v1/requests/" + q.id + "/omissions", { confirm: true });
            out.replaceChildren(msg("status", `Published ${r.records.length} omission proof(s).` + (r.error ? " Then: " + r.error : "")));
          } catch (err) { publish.disabled = false; out.append(msg("error", "Not published: " + err.message)); }
        });
        kids.push(h("section", { class: "confirm" }, h("p", { class: "warning" }, omissionReveals), publish));
      }
      out.replaceChildren(...kids);
    } catch (err) { out.replaceChildren(msg("error", "Not checked: " + err.message)); }
    check.disabled = false;
  });
  return h("div", null, check, out);
}

// shareScreen and clipsScreen are in clips.js.

// fetches holds the state of each clip fetch started on this page, by
// clip ID, so that the redraws events and the heartbeat cause keep it.
const fetches = new Map();

// clipFetch is a button that fetches a clip granted to this home (by a
// post's attachment or a grant) from its owner, and what came of it. A
// failure shows the node's error as it is: it says why (refused, revoked,
// no direct path and the clip too big for the anchor's relay) and what to do.
function clipFetch(owner, clip, label) {
  const st = fetches.get(clip) || {};
  const out = st.busy ? msg("meta", "Fetching from the owner's home and checking every chunk…")
    : st.done ? h("p", { class: "notice", role: "status" }, "Fetched and verified. ", h("a", { href: "#clips" }, "See it in My clips"))
    : st.error !== undefined ? msg("error", st.error) : null;
  return h("div", { class: "clip-fetch", "data-clip": clip },
    h("button", { type: "button", class: "fetch", disabled: st.busy || st.done, "aria-describedby": "fetch-" + clip.slice(0, 16),
      onclick: async () => {
        fetches.set(clip, { busy: true });
        await refresh();
        try {
          await api("POST", "/api/v1/clips/fetch", { from: owner, clip });
          fetches.set(clip, { done: true });
        } catch (err) { fetches.set(clip, { error: err.message }); }
        await refresh();
      } }, label, " ", h("code", null, short(clip))),
    h("div", { id: "fetch-" + clip.slice(0, 16), class: "fetch-result", "aria-live": "polite" }, out));
}

function play(player, label, id, what) {
  player.hidden = false;
  player.src = "/api/v1/clips/" + id + "/video";
  label.textContent = "In the player: " + what;
  player.play().catch(() => { /* autoplay may be refused; the controls work */ });
  player.focus();
}

async function grantsScreen() {
  const list = h("ul", { id: "grants", class: "cards", "aria-label": "Grants" });
  main.replaceChildren(title("Grants"), h("p", { class: "meta" }, "Who may fetch which of your clips, until when. Revoking stops new downloads at once."), list);
  return async () => {
    const [gs, ags] = await Promise.all([get("/api/v1/grants"), get("/api/v1/agencies")]);
    const names = Object.fromEntries(ags.map(a => [a.peer_id, a.name]));
    fill(list, gs.map(g => {
      const mine = me && g.owner === me.peer_id;
      const expired = new Date(g.expires) < new Date();
      const who = g.grantee ? (names[g.grantee] || short(g.grantee)) : "the whole neighborhood";
      return h("li", { class: "card grant", "data-id": g.id },
        h("p", null, mine ? "You gave " : "You received from " + short(g.owner) + ": ", h("b", null, g.clips.length + " clip(s)"),
          mine ? [" to ", h("b", null, who)] : null),
        h("p", null, "Until ", when(g.expires), " ",
          g.revoked ? h("span", { class: "tag bad" }, "revoked") : expired ? h("span", { class: "tag" }, "expired") : h("span", { class: "tag good" }, "active"),
          g.request ? h("span", { class: "tag" }, "answers a request") : null),
        h("p", { class: "meta" }, "Clips: ", g.clips.map(short).join(", ")),
        !mine && !g.revoked && !expired
          ? h("div", { class: "clip-fetches" }, g.clips.map((c, i) => clipFetch(g.owner, c, g.clips.length > 1 ? "Fetch clip " + (i + 1) : "Fetch the clip"))) : null,
        mine && !g.revoked && !expired ? h("button", { class: "danger revoke", type: "button", onclick: async (e) => {
          e.target.disabled = true;
          try { await api("POST", "/api/v1/grants/" + g.id + "/revoke", {}); await refresh(); }
          catch (err) { e.target.disabled = false; e.target.after(msg("error", "Not revoked: " + err.message)); }
        } }, "Revoke") : null);
    }), "No grants. Nothing of yours is shared.");
  };
}

async function accessScreen() {
  const body = h("tbody", { id: "access" });
  main.replaceChildren(title("Access log"),
    h("p", { class: "meta" }, "Every time another node asked for one of your clips, and what your node answered."),
    h("div", { class: "scroll" }, h("table", null, h("thead", null, h("tr", null,
      h("th", { scope: "col" }, "When"), h("th", { scope: "col" }, "Who"), h("th", { scope: "col" }, "Clip"),
      h("th", { scope: "col" }, "Answer"), h("th", { scope: "col" }, "Bytes"))), body)));
  return async () => {
    const es = await get("/api/v1/audit?limit=500");
    body.replaceChildren(...(es.length ? es.map(e => h("tr", null, h("td", null, when(e.time)), h("td", null, h("code", null, short(e.peer))),
      h("td", null, h("code", null, short(e.clip))),
      h("td", null, e.served ? h("span", { class: "tag good" }, "served") : h("span", { class: "tag bad" }, "refused"), " ", e.reason),
      h("td", null, size(e.bytes)))) : [h("tr", null, h("td", { colspan: 5, class: "empty" }, "Nobody has asked for your clips."))]));
  };
}

function credentialTag(a) {
  const good = a.credential_status === "valid";
  return h("span", { class: "tag " + (good ? "good" : "bad") }, "credential " + a.credential_status);
}

async function agenciesScreen() {
  const list = h("ul", { id: "agencies", class: "cards" });
  main.replaceChildren(title("Agencies"), h("p", { class: "meta" }, "Every agency that has made requests in your neighborhood, with its public record."), list);
  return async () => {
    const ags = await get("/api/v1/agencies");
    fill(list, ags.map(a => h("li", { class: "card" },
      h("p", null, h("a", { href: "#agency/" + a.peer_id }, h("b", null, a.name)), " ", credentialTag(a),
        a.equivocation ? h("span", { class: "tag bad" }, "equivocation") : null,
        (a.yield_omissions || []).length ? h("span", { class: "tag bad yield-omission" }, "yield omission") : null),
      h("p", { class: "meta" }, a.requests, " requests · ", a.open, " open · ", a.area_hours.toFixed(2), " sq mi·h requested"))),
    "No agency has made a request here.");
  };
}

async function agencyScreen(id) {
  const head = h("div");
  const list = h("ul", { id: "agency-requests", class: "cards" });
  main.replaceChildren(title("Agency"), head, h("h2", null, "All requests"), list);
  return async () => {
    const [ags, reqs] = await Promise.all([get("/api/v1/agencies"), get("/api/v1/requests?limit=10000&agency=" + encodeURIComponent(id))]);
    const a = ags.find(x => x.peer_id === id);
    if (!a) { head.replaceChildren(msg("error", "This agency is not known to your node.")); list.replaceChildren(); return; }
    main.querySelector("h1").textContent = a.name;
    document.title = a.name + " · Porchlight";
    head.replaceChildren(...[
      a.equivocation ? h("p", { class: "error", id: "equivocation" }, "Warning: this agency signed two different histories (equivocation). Its requests cannot be trusted to be the same for everyone; the proof is kept by your node.") : null,
      (a.yield_omissions || []).length ? h("p", { class: "error", id: "yield-omissions" }, `Warning: ${a.yield_omissions.length} clip(s) this agency received were left out of its published yield; the homes' signed proofs are kept by your node.`) : null,
      h("p", null, credentialTag(a), " issued by ", h("code", null, short(a.issuer)), ", valid until ", when(a.valid_until)),
      h("p", { class: "meta" }, "Agency ID ", h("code", null, a.peer_id)),
      h("div", { class: "figures" },
        h("div", { class: "figure" }, h("b", null, String(a.requests)), "requests"),
        h("div", { class: "figure" }, h("b", null, String(a.open)), "open"),
        h("div", { class: "figure" }, h("b", null, String(a.closed)), "closed"),
        h("div", { class: "figure" }, h("b", null, a.area_hours.toFixed(2)), "sq mi × hours asked"))].filter(Boolean));
    const sum = k => reqs.reduce((n, q) => n + (q[k] || 0), 0);
    head.querySelector(".figures").append(
      h("div", { class: "figure" }, h("b", null, String(sum("clips_received"))), "clips received"),
      h("div", { class: "figure" }, h("b", null, String(sum("homes_shared"))), "homes shared (summed per request)"));
    fill(list, reqs.map(q => requestCard(q, true)), "No requests.");
  };
}

function localInput(d) {
  const p = n => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

async function newRequestScreen() {
  const L = await get("/api/v1/limits");
  const home = me && me.location;
  const f = {
    caseNo: h("input", { type: "text", id: "rq-case", required: true }),
    incident: h("input", { type: "text", id: "rq-incident", required: true }),
    description: h("textarea", { id: "rq-description" }),
    contact: h("input", { type: "text", id: "rq-contact" }),
    lat: h("input", { type: "number", id: "rq-lat", step: "any", value: home ? home.lat : "" }),
    lon: h("input", { type: "number", id: "rq-lon", step: "any", value: home ? home.lon : "" }),
    radius: h("input", { type: "number", id: "rq-radius", min: 1, step: 1, value: 200 }),
    from: h("input", { type: "datetime-local", id: "rq-from", value: localInput(new Date(Date.now() - 3 * 3600e3)) }),
    to: h("input", { type: "datetime-local", id: "rq-to", value: localInput(new Date(Date.now() - 3600e3)) }),
  };
  const check = h("div", { id: "rq-check", "aria-live": "polite" });
  const preview = h("div");
  const submit = h("button", { id: "rq-submit", class: "primary", type: "submit" }, "Sign and publish request");
  const out = h("div", { id: "rq-result", "aria-live": "polite" });
  const sqmi = 2589988.110336;
  function problems() {
    const p = [];
    const lat = Number(f.lat.value), lon = Number(f.lon.value), r = Number(f.radius.value);
    if (!f.caseNo.value.trim()) p.push("Enter a case number.");
    if (!f.incident.value.trim()) p.push("Describe the incident in a few words.");
    if (f.lat.value === "" || f.lon.value === "" || !(Math.abs(lat) <= 90) || !(Math.abs(lon) <= 180)) p.push("Enter the area's centre as latitude and longitude.");
    const area = Math.PI * r * r / sqmi;
    if (!(r > 0) || area < L.min_area_sq_mi || area > L.max_area_sq_mi) {
      const rmin = Math.sqrt(L.min_area_sq_mi * sqmi / Math.PI), rmax = Math.sqrt(L.max_area_sq_mi * sqmi / Math.PI);
      p.push(`The area is ${area.toFixed(3)} sq mi; it must be ${L.min_area_sq_mi} to ${L.max_area_sq_mi} sq mi (a radius of ${Math.ceil(rmin)} to ${Math.floor(rmax)} m).`);
    }
    const from = new Date(f.from.value), to = new Date(f.to.value), w = (to - from) / 1000;
    if (isNaN(w)) p.push("Enter the start and end of the time window.");
    else {
      if (w < L.min_window_seconds || w > L.max_window_seconds) p.push(`The window is ${duration(Math.max(0, w))}; it must be ${duration(L.min_window_seconds)} to ${duration(L.max_window_seconds)}.`);
      if ((to - Date.now()) / 1000 > L.max_future_seconds) p.push(`The window may end at most ${duration(L.max_future_seconds)} from now.`);
    }
    return { p, area, lat, lon, r, from, to };
  }
  function update() {
    const { p, area, lat, lon, r } = problems();
    check.replaceChildren(p.length ? h("ul", { class: "error", id: "rq-problems" }, p.map(x => h("li", null, x)))
      : h("p", { class: "notice" }, `Within the rules: ${area.toFixed(3)} sq mi.`));
    submit.disabled = p.length > 0;
    if (!isNaN(lat) && !isNaN(lon) && r > 0 && f.lat.value !== "" && f.lon.value !== "") {
      preview.replaceChildren(areaMap(`circle:${lat},${lon},${r}`, home, "Preview of the requested area"));
    }
  }
  Object.values(f).forEach(el => el.addEventListener("input", update));
  const form = h("form", { novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    const { p, lat, lon, r, from, to } = problems();
    if (p.length) { update(); return; }
    submit.disabled = true;
    try {
      const res = await api("POST", "/api/v1/requests", { case: f.caseNo.value.trim(), incident: f.incident.value.trim(),
        description: f.description.value, contact: f.contact.value, area: `circle:${lat},${lon},${r}`,
        from: from.toISOString(), to: to.toISOString() });
      out.replaceChildren(msg("notice", "Request published (" + short(res.id) + "). Homes in the area see it now."));
    } catch (err) { out.replaceChildren(msg("error", "Not published: " + err.message)); }
    submit.disabled = false;
  } },
  h("fieldset", null, h("legend", null, "The rules in this neighborhood"),
    h("ul", { id: "rq-limits" },
      h("li", null, `Area: ${L.min_area_sq_mi} to ${L.max_area_sq_mi} square miles, inside your jurisdiction`),
      h("li", null, `Time window: ${duration(L.min_window_seconds)} to ${duration(L.max_window_seconds)}, ending at most ${duration(L.max_future_seconds)} from now`),
      h("li", null, `At most ${L.max_open} open requests at a time`),
      h("li", null, "Every request is public, signed, and kept in your agency's history"))),
  h("fieldset", null, h("legend", null, "Request"),
    h("div", { class: "grid2" },
      h("div", null, h("label", { for: "rq-case" }, "Case number"), f.caseNo),
      h("div", null, h("label", { for: "rq-incident" }, "Incident"), f.incident)),
    h("label", { for: "rq-description" }, "Description (public)"), f.description,
    h("label", { for: "rq-contact" }, "Contact"), f.contact,
    h("div", { class: "row" }, h("div", { class: "grow" },
      h("div", { class: "grid2" },
        h("div", null, h("label", { for: "rq-lat" }, "Centre latitude"), f.lat),
        h("div", null, h("label", { for: "rq-lon" }, "Centre longitude"), f.lon),
        h("div", null, h("label", { for: "rq-radius" }, "Radius (meters)"), f.radius)),
      h("div", { class: "grid2" },
        h("div", null, h("label", { for: "rq-from" }, "From"), f.from),
        h("div", null, h("label", { for: "rq-to" }, "To"), f.to))), preview),
    check, h("p", null, submit), out));
  main.replaceChildren(title("New request for assistance"), form);
  update();
  return null;
}

async function evidenceScreen() {
  const player = h("video", { id: "player", controls: true, preload: "metadata", hidden: true });
  const now = h("p", { class: "meta", "aria-live": "polite" });
  const list = h("ul", { id: "evidence", class: "cards", "aria-label": "Evidence received" });
  main.replaceChildren(title("Evidence received"),
    h("p", { class: "meta" }, "Clips homes shared with you. Verified: every chunk matched the owner's signed manifest on receipt. Export a bundle to verify offline with porchlight verify."),
    player, now, list);
  return async () => {
    const es = await get("/api/v1/evidence");
    fill(list, es.map(e => h("li", { class: "card evidence", "data-id": e.id },
      h("p", null, h("b", null, e.camera || "camera"), " · recorded ", when(e.start), " · received ", when(e.received)),
      h("p", null, e.verified ? h("span", { class: "tag good verified" }, "verified") : h("span", { class: "tag bad" }, "not verified"),
        " ", size(e.size), e.request ? [" · request ", h("code", null, short(e.request))] : null),
      h("p", { class: "meta" }, "From ", h("code", null, short(e.owner)), " · SHA-256 ", h("code", null, e.sha256)),
      h("div", { class: "row" },
        h("button", { type: "button", class: "play", onclick: () => play(player, now, e.clip, (e.camera || "camera") + ", " + when(e.start)) }, "Play"),
        h("a", { class: "button", href: "/api/v1/evidence/" + e.id + "/bundle", download: "evidence-" + e.id.slice(0, 12) + ".tar" }, "Export bundle")))),
    "No evidence yet. When a home shares clips for one of your requests, they are fetched and verified here.");
  };
}

// ---- membership (invite-only neighborhoods) ----

// needsJoin: the node is in an invite-only neighborhood and not (or no
// longer) a member: only the join screen makes sense.
function needsJoin() { return !!(me && me.policy === "invite" && !me.member); }
function nameOf(roster, id) {
  const m = roster.find(x => x.peer_id === id);
  return m ? m.name : short(id);
}
function svgImage(svg, alt) {
  // As an image, the SVG cannot run anything; the CSP allows data: images.
  const data = "data:image/svg+xml;base64," + btoa(unescape(encodeURIComponent(svg)));
  return h("img", { id: "invite-qr", class: "qr", src: data, alt });
}
async function copyText(input, out) {
  try { await navigator.clipboard.writeText(input.value); }
  catch (e) { input.select(); document.execCommand("copy"); }
  out.replaceChildren(msg("notice", "Copied. Send it privately: whoever holds it can join."));
}

// keepRows replaces a table body's rows unless they are unchanged, so
// that focus and a click in progress survive the heartbeat's redraws.
function keepRows(tbody, rows) {
  if (tbody.children.length === rows.length && rows.every((n, i) => n.isEqualNode(tbody.children[i]))) return;
  tbody.replaceChildren(...rows);
}

function inviteForm(refreshInvites) {
  const uses = h("select", { id: "invite-uses" }, [1, 2, 5, 10].map(n => h("option", { value: n }, n === 1 ? "1 home" : n + " homes")));
  const days = h("select", { id: "invite-expires" }, [["24h", "1 day"], ["72h", "3 days"], ["168h", "7 days"], ["720h", "30 days"]]
    .map(([v, t]) => h("option", { value: v, selected: v === "72h" }, t)));
  const out = h("div", { id: "invite-result", "aria-live": "polite" });
  const btn = h("button", { id: "invite-create", class: "primary", type: "submit" }, "Invite a home");
  return h("form", { onsubmit: async (e) => {
    e.preventDefault();
    btn.disabled = true;
    out.replaceChildren();
    try {
      const inv = await api("POST", "/api/v1/invites", { expires: days.value, uses: Number(uses.value) });
      const text = h("textarea", { id: "invite-string", readonly: true, rows: 3, spellcheck: "false" });
      text.value = inv.invite;
      const said = h("div", { "aria-live": "polite" });
      out.replaceChildren(h("section", { class: "confirm invite-box", "aria-labelledby": "invite-title" },
        h("h2", { id: "invite-title" }, "Your invite"),
        h("p", null, `Admits ${inv.uses === 1 ? "one home" : inv.uses + " homes"} until `, h("b", null, when(inv.expires)),
          ". Give it privately, in person or in a private chat: whoever holds it can join. Revoke it below if it leaks."),
        h("div", { class: "row" },
          inv.qr_svg ? svgImage(inv.qr_svg, "QR code of the invite, to scan with the new home's phone") : null,
          h("div", { class: "grow" },
            h("label", { for: "invite-string" }, "Invite (paste it on the new home's join screen, or run: porchlight join INVITE)"), text,
            h("p", null, h("button", { id: "invite-copy", type: "button", onclick: () => copyText(text, said) }, "Copy invite")), said))));
      await refreshInvites();
    } catch (err) { out.replaceChildren(msg("error", "No invite made: " + err.message)); }
    btn.disabled = false;
  } }, h("fieldset", null, h("legend", null, "Invite a neighbor"),
    h("div", { class: "grid2" },
      h("div", null, h("label", { for: "invite-uses" }, "Who may join with it"), uses),
      h("div", null, h("label", { for: "invite-expires" }, "Valid for"), days)),
    h("p", null, btn), out));
}

function removeForm(m, done) {
  const id = "remove-reason-" + m.peer_id.slice(-8);
  const reason = h("input", { type: "text", id, maxlength: 280, required: true, placeholder: "e.g. moved away" });
  const out = h("div", { "aria-live": "polite" });
  const go = h("button", { type: "submit", class: "danger" }, "Remove " + m.name);
  const form = h("form", { class: "remove-form", onsubmit: async (e) => {
    e.preventDefault();
    if (!reason.value.trim()) { out.replaceChildren(msg("error", "Give a reason: every member sees it.")); return; }
    go.disabled = true;
    try { await api("POST", "/api/v1/members/" + m.peer_id + "/remove", { reason: reason.value.trim() }); form.remove(); await done(); }
    catch (err) { go.disabled = false; out.replaceChildren(msg("error", "Not removed: " + err.message)); }
  } }, h("label", { for: id }, "Why (every member sees it)"), h("div", { class: "row" }, h("div", { class: "grow" }, reason), go,
    h("button", { type: "button", onclick: () => form.remove() }, "Cancel")), out);
  return form;
}

async function membersScreen() {
  if (!me || me.policy !== "invite") {
    main.replaceChildren(title("Members"), msg("warn", "This is an open neighborhood: anyone on your local network who knows its name takes part, and there is no member list. To make it invite-only, adopt a charter (porchlight neighborhood charter)."));
    return null;
  }
  const body = h("tbody", { id: "members" });
  const invBody = h("tbody", { id: "invites" });
  const refreshInvites = async () => {
    const invs = await get("/api/v1/invites");
    const now = new Date();
    keepRows(invBody, (invs.length ? invs.map(i => {
      const state = i.revoked ? "revoked" : new Date(i.expires) <= now ? "expired" : i.used >= i.uses ? "used up" : "active";
      return h("tr", { "data-id": i.id }, h("td", null, h("code", null, i.id.slice(0, 12))), h("td", null, when(i.created)), h("td", null, when(i.expires)),
        h("td", null, `${i.used} of ${i.uses}`),
        h("td", null, h("span", { class: "tag" + (state === "active" ? " good" : "") }, state), " ",
          state === "active" ? h("button", { type: "button", class: "danger", onclick: async (e) => {
            e.target.disabled = true;
            try { await api("POST", "/api/v1/invites/" + i.id + "/revoke", {}); await refreshInvites(); }
            catch (err) { e.target.disabled = false; e.target.after(msg("error", "Not revoked: " + err.message)); }
          } }, "Revoke") : null));
    }) : [h("tr", null, h("td", { colspan: 5, class: "empty" }, "You have made no invites."))]));
  };
  main.replaceChildren(title("Members of " + (me.neighborhood_name || me.neighborhood)),
    h("p", { class: "meta" }, "Every home here was let in by a member. Stewards can remove members and name other stewards; anyone can mute a neighbor on this home only."),
    h("div", { class: "scroll" }, h("table", { class: "roster" }, h("thead", null, h("tr", null,
      h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Peer"), h("th", { scope: "col" }, "Invited by"),
      h("th", { scope: "col" }, "Joined"), h("th", { scope: "col" }, "Role"), h("th", { scope: "col" }, "Actions"))), body)),
    h("h2", null, "Invite"), inviteForm(refreshInvites),
    h("h2", null, "Your invites"),
    h("div", { class: "scroll" }, h("table", null, h("thead", null, h("tr", null,
      h("th", { scope: "col" }, "Invite"), h("th", { scope: "col" }, "Made"), h("th", { scope: "col" }, "Expires"),
      h("th", { scope: "col" }, "Used"), h("th", { scope: "col" }, "State"))), invBody)));
  const refreshRoster = async () => {
    const roster = await get("/api/v1/members");
    const rows = roster.map(m => {
      const self = me && m.peer_id === me.peer_id;
      const actions = [];
      if (!self && !m.removed && me.steward && !m.founder) {
        actions.push(h("button", { type: "button", class: "danger remove", onclick: (e) => {
          const cell = e.target.closest("td");
          if (!cell.querySelector("form")) { const f = removeForm(m, refresh); cell.append(f); f.querySelector("input").focus(); }
        } }, "Remove"));
      }
      if (!self) {
        actions.push(h("button", { type: "button", class: m.muted ? "unmute" : "mute", onclick: async (e) => {
          e.target.disabled = true;
          try { await api(m.muted ? "DELETE" : "POST", "/api/v1/mutes/" + m.peer_id, m.muted ? undefined : {}); await refresh(); }
          catch (err) { e.target.disabled = false; e.target.after(msg("error", err.message)); }
        } }, m.muted ? "Unmute" : "Mute"));
      }
      return h("tr", { "data-peer": m.peer_id, class: m.removed ? "removed" : null },
        h("td", null, h("span", { class: "member-name" }, m.name), self ? h("span", { class: "tag" }, "you") : null,
          m.muted ? h("span", { class: "tag" }, "muted") : null),
        h("td", null, h("code", { title: m.peer_id }, short(m.peer_id))),
        h("td", null, m.founder ? "founded the neighborhood" : m.invited_by ? nameOf(roster, m.invited_by) : "named in the charter"),
        h("td", null, when(m.joined)),
        h("td", null, m.founder ? h("span", { class: "tag good steward" }, "founder") : null,
          m.steward ? h("span", { class: "tag good steward" }, "steward") : null,
          m.removed ? [h("span", { class: "tag bad" }, "removed " + when(m.removed_at)), h("span", { class: "meta" }, " by ", nameOf(roster, m.removed_by), ": ", m.reason)] : null,
          !m.steward && !m.removed ? "member" : null),
        h("td", null, actions));
    });
    // Not while a steward types a reason; keep unchanged rows (and focus).
    if (body.querySelector("form")) return;
    keepRows(body, rows.length ? rows : [h("tr", null, h("td", { colspan: 6, class: "empty" }, "No members known yet."))]);
  };
  return async () => { await Promise.all([refreshRoster(), refreshInvites()]); };
}

async function joinScreen() {
  const text = h("textarea", { id: "join-invite", name: "invite", rows: 4, required: true, spellcheck: "false", placeholder: "porchlight:…" });
  const out = h("div", { id: "join-result", "aria-live": "polite" });
  const btn = h("button", { id: "join-submit", class: "primary", type: "submit" }, "Join");
  const state = h("p", { id: "join-state", class: "meta" });
  main.replaceChildren(title("Join " + (me.neighborhood_name || "your neighborhood")),
    h("p", null, "This home is not a member yet. A neighbor who is a member can make you an invite: paste it here. You become a member as soon as your node reaches any member who is online."),
    state,
    h("form", { onsubmit: async (e) => {
      e.preventDefault();
      if (!text.value.trim()) { out.replaceChildren(msg("error", "Paste the invite first: it starts with porchlight:")); return; }
      btn.disabled = true;
      out.replaceChildren();
      try {
        const st = await api("POST", "/api/v1/join", { invite: text.value.trim() });
        me = st;
        if (st.member) {
          const was = location.hash;
          location.hash = "#members"; // shows the members screen, now that me says member
          if (was === "#members") await show();
          loadStatus();
          return;
        }
        else out.replaceChildren(msg("notice", "Invite accepted. Waiting to reach a member (" + st.membership + "); this page moves on by itself."));
      } catch (err) { out.replaceChildren(msg("error", "Not joined: " + err.message)); }
      btn.disabled = false;
    } }, h("fieldset", null, h("legend", null, "Your invite"),
      h("label", { for: "join-invite" }, "Invite"), text, h("p", null, btn), out)));
  return async () => { state.textContent = "Membership: " + (me.membership || "not a member"); };
}

// ---- network: how this home is reached (status and peers) ----

const REACH_WORDS = {
  public: "Reachable from the internet",
  private: "Not reachable from the internet: behind a router (NAT) or a firewall",
  unknown: "Not known yet whether this home is reachable from the internet",
};
const NAT_WORDS = {
  "endpoint-independent": "Behind a NAT that allows direct connections (hole punching works)",
  "endpoint-dependent": "Behind a symmetric NAT: only relayed paths, through an anchor",
  unknown: "Kind of NAT not known yet",
};
const PATH_WORDS = { lan: "LAN", direct: "direct", relayed: "relayed" };
const PATH_HINTS = {
  lan: "on this home's own network",
  direct: "straight across the internet",
  relayed: "through an anchor; posts arrive by sync, large clips may not fit its limits",
};

// networkWords puts a status in plain words: what the node found, and what
// to do about it (the advice porchlight doctor gives).
function networkWords(st) {
  const reach = REACH_WORDS[st.reachability] ? st.reachability : "unknown";
  const nat = NAT_WORDS[st.nat] ? st.nat : "unknown";
  const anchors = st.anchors || [];
  const answering = anchors.filter(a => a.connected);
  const natText = reach === "public" && nat === "unknown" ? "No NAT seen in the way of incoming connections" : NAT_WORDS[nat];
  const todo = [];
  if (st.anchor) {
    todo.push({ text: "This home is an anchor: neighbors behind NATs reach each other through it. Keep TCP and UDP port 7781 open to it." });
  } else if (reach === "public") {
    todo.push({ text: "Nothing to do: neighbors can connect to this home directly." });
  } else {
    if (nat === "endpoint-dependent") {
      todo.push({ text: "Your router gives every connection a new port, so neighbors outside your network reach this home only through an anchor. If you can, forward TCP and UDP port 7781 on the router to this computer. Behind carrier-grade NAT (your provider shares one address among many customers) no forwarding is possible: keep at least one anchor." });
    } else if (reach === "private") {
      todo.push({ text: "To let neighbors connect directly, forward TCP and UDP port 7781 on your router to this computer, or turn on UPnP or NAT-PMP on the router. Behind carrier-grade NAT that is not possible; hole punching and anchors still connect you." });
    } else {
      todo.push({ text: "Reachability is checked by neighbors and anchors a minute or so after the node starts; look again then." });
    }
    if (!anchors.length) {
      todo.push({ text: "Homes on your own network connect without help. To reach neighbors on other networks, add an anchor (a member's node reachable from the internet): ", cmd: "porchlight anchor add /ip4/ADDRESS/tcp/7781/p2p/PEER_ID" });
    } else if (!answering.length) {
      todo.push({ text: "None of your anchors answers. Check that they are running, or add another: ", cmd: "porchlight anchor add MULTIADDR" });
    }
  }
  return {
    reachability: reach, reachText: REACH_WORDS[reach], nat, natText,
    anchorText: st.anchor ? "This home is an anchor for its neighborhood" : "This home is not an anchor",
    todo,
  };
}

function rtt(ms) { return ms > 0 ? (ms < 10 ? ms.toFixed(1) : Math.round(ms)) + " ms" : "not measured yet"; }
function addrList(id, addrs, none) {
  return h("ul", { id, class: "addrs" }, (addrs || []).length ? addrs.map(a => h("li", null, h("code", null, a))) : [empty(none)]);
}

async function networkScreen() {
  const summary = h("dl", { id: "net-summary", class: "facts" });
  const todo = h("ul", { id: "net-todo" });
  const addrs = h("div", { id: "net-addresses" });
  const peerBody = h("tbody", { id: "net-peers" });
  const anchorBody = h("tbody", { id: "net-anchors" });
  const col = (text) => h("th", { scope: "col" }, text);
  main.replaceChildren(title("Network"),
    h("p", { class: "meta" }, "How this home reaches its neighbors: directly, or through an anchor (a member's node reachable from the internet). The same as porchlight status, peers and doctor."),
    h("section", { "aria-labelledby": "net-this" }, h("h2", { id: "net-this" }, "This home"), summary),
    h("section", { "aria-labelledby": "net-what" }, h("h2", { id: "net-what" }, "What to do"), todo),
    h("section", { "aria-labelledby": "net-nb" }, h("h2", { id: "net-nb" }, "Neighbors connected"),
      h("div", { class: "scroll" }, h("table", { "aria-labelledby": "net-nb" }, h("thead", null, h("tr", null,
        col("Neighbor"), col("Peer"), col("Path"), col("Round trip"), col("Connected since"))), peerBody))),
    h("section", { "aria-labelledby": "net-an" }, h("h2", { id: "net-an" }, "Anchors"),
      h("div", { class: "scroll" }, h("table", { "aria-labelledby": "net-an" }, h("thead", null, h("tr", null,
        col("Anchor"), col("Known from"), col("Answers"), col("Relay reservation"), col("Round trip"))), anchorBody))),
    h("section", { "aria-labelledby": "net-addr" }, h("h2", { id: "net-addr" }, "This home's addresses"), addrs));
  return async () => {
    const [st, peers] = await Promise.all([get("/api/v1/status"), get("/api/v1/peers")]);
    const w = networkWords(st);
    const fact = (id, term, value, text) => [h("dt", null, term), h("dd", { id, "data-value": value }, text)];
    keepRows(summary, [
      ...fact("net-reachability", "Reachability", w.reachability, w.reachText),
      ...fact("net-nat", "NAT", w.nat, w.natText),
      ...fact("net-anchor", "Anchor", String(!!st.anchor), w.anchorText),
    ].flat());
    keepRows(todo, w.todo.map(t => h("li", null, t.text, t.cmd ? h("code", null, t.cmd) : null)));
    const a = st.addresses || {};
    keepRows(addrs, [
      // The relay transport "listens" on a bare /p2p-circuit: its real
      // addresses are the relay ones below.
      h("h3", null, "Listening on"), addrList("net-listen", (a.listen || []).filter(x => x !== "/p2p-circuit"), "None reported."),
      h("h3", null, "Public, as others see it"), addrList("net-observed", a.observed, "None seen: no neighbor or anchor has reported a public address for this home."),
      h("h3", null, "Through anchors (relay)"), addrList("net-relay", a.relay, "None: this home holds no relay reservation."),
    ]);
    keepRows(peerBody, peers.length ? peers.map(p => h("tr", { "data-peer": p.peer_id },
      h("td", null, p.name || "unnamed home"),
      h("td", null, h("code", { title: p.peer_id }, short(p.peer_id))),
      h("td", { class: "path", "data-path": p.path || "" }, p.path ? [h("span", { class: "tag" + (p.path === "relayed" ? " hot" : " good") }, PATH_WORDS[p.path] || p.path),
        h("span", { class: "meta" }, " " + (PATH_HINTS[p.path] || ""))] : "not known yet"),
      h("td", { class: "rtt" }, rtt(p.rtt_ms)),
      h("td", null, when(p.since)))) : [h("tr", null, h("td", { colspan: 5, class: "empty" }, "No neighbor is connected."))]);
    const anchors = st.anchors || [];
    keepRows(anchorBody, anchors.length ? anchors.map(x => h("tr", { "data-peer": x.peer_id },
      h("td", null, h("code", { title: x.peer_id }, short(x.peer_id)), (x.addrs || []).map(ad => h("div", { class: "meta" }, h("code", null, ad)))),
      h("td", null, x.configured ? "your configuration" : "neighbors and invites"),
      h("td", { class: "answers" }, x.connected ? h("span", { class: "tag good" }, "yes") : h("span", { class: "tag bad" }, "no")),
      h("td", null, x.reservation ? "held" : "none"),
      h("td", null, x.connected ? rtt(x.rtt_ms) : "—"))) : [h("tr", null, h("td", { colspan: 5, class: "empty" }, "No anchor known. Add one with porchlight anchor add."))]);
  };
}

// ---- routing and live updates ----

const routes = {
  feed: feedScreen, requests: requestsScreen, share: shareScreen, clips: clipsScreen, grants: grantsScreen,
  access: accessScreen, agencies: agenciesScreen, agency: agencyScreen, "new-request": newRequestScreen, evidence: evidenceScreen,
  members: membersScreen, join: joinScreen, network: networkScreen,
  transparency: transparencyScreen, // transparency.js
  devices: devicesScreen, // devices.js
};

let showing = 0;
async function show() {
  let [name, arg] = (location.hash.slice(1) || "feed").split("/");
  // A node not yet admitted has no feed to show: only the join screen.
  // The network screen too: it says why a member may be out of reach.
  if (needsJoin() && name !== "network") name = "join";
  else if (name === "join") name = "feed";
  const screen = routes[name] || feedScreen;
  const n = ++showing;
  current = null;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === "#" + name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  try {
    const r = await screen(arg && decodeURIComponent(arg));
    if (n !== showing) return;
    current = r;
    await refresh();
    main.dataset.screen = name;
  } catch (err) {
    if (n === showing && err.code !== "offline") main.replaceChildren(title("Something went wrong"), msg("error", err.message));
  }
}

let pending = null;
async function refresh() {
  if (!current) return;
  const r = current;
  try { await r(); } catch (err) {
    if (err.code !== "offline") main.append(msg("error", "Could not load: " + err.message));
  }
}
// Events come in bursts (a sync brings many posts): redraw at most every 200 ms.
function soon() {
  if (pending) return;
  pending = setTimeout(() => { pending = null; refresh(); }, 200);
}

async function loadStatus() {
  try {
    const gated = needsJoin();
    me = await get("/api/v1/status");
    storageState(me.storage);
    // The agency menus, only on a node a trusted credential names.
    document.querySelector(".agency-nav").hidden = !me.agency;
    const open = me.policy === "open" ? " (open neighborhood)" : "";
    document.getElementById("who").textContent = `${me.name} · ${me.neighborhood_name || me.neighborhood}${open} · ${me.peers} neighbor${me.peers === 1 ? "" : "s"} connected`;
    // Admitted (or removed) meanwhile: move to the screen that fits.
    if (gated !== needsJoin() && main.dataset.screen) show();
  } catch (err) { /* the banner says it */ }
}

function connectEvents() {
  const es = new EventSource("/api/v1/events");
  es.onopen = () => { nodeUp(); };
  es.onerror = () => {
    // The browser retries by itself; a fetch tells us whether the node is gone.
    loadStatus();
  };
  ["post", "retraction", "request", "update", "document", "clip", "grant", "share", "revoke", "access", "evidence"].forEach(t => es.addEventListener(t, soon));
  es.addEventListener("peers", () => { loadStatus(); soon(); });
  // The roster changed: this home may have been admitted or removed.
  es.addEventListener("members", () => { loadStatus(); soon(); });
  notifyEvents(es); // notify.js: desktop notifications
}

// A heartbeat catches a node that stopped while the page is idle, and
// keeps screens without events (evidence arrives by a private protocol) fresh.
setInterval(async () => {
  await loadStatus();
  // Membership changes come by gossip without an event of their own yet;
  // reachability, NAT and round trips change without any event.
  if (!offline && ["evidence", "grants", "access", "members", "join", "network"].includes(main.dataset.screen)) refresh();
}, 3000);

window.addEventListener("hashchange", () => { show().then(() => main.focus({ preventScroll: true })); });
loadStatus().then(show);
connectEvents();
