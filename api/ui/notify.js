// Porchlight web UI, part two: desktop notifications (a request covering
// this home arrived; one of this home's clips was fetched) and the
// anti-profiling prompt of the post composer. Loaded before app.js, whose
// helpers (h, api, get, msg, when, short, me, showBanner) it uses only from
// functions that run after app.js has: event handlers, DOMContentLoaded,
// and its two hooks there, notifyEvents(es) in connectEvents and
// describeBeforePost(...) in the feed's composer.
"use strict";

// ---- desktop notifications ----

// The household turns notifications on with the header's button (the
// browser asks for permission only then, never on page load) and may turn
// them off again; the choice is kept in this browser only.
const NOTIFY_PREF = "porchlight-notify";
const notifiedKeys = new Set(); // what was notified already: a request, a clip fetched by a peer

function notifySupported() { return "Notification" in window; }
function notifyWanted() { return localStorage.getItem(NOTIFY_PREF) === "on"; }
function notifyOn() { return notifySupported() && Notification.permission === "granted" && notifyWanted(); }

let notifyBtn = null;
let notifyState = null;

function drawNotifyButton() {
  if (!notifyBtn) return;
  let text, disabled = false;
  if (!notifySupported()) {
    text = "Notifications: not available in this browser";
    disabled = true;
  } else if (Notification.permission === "denied") {
    text = "Notifications: blocked in this browser's site settings";
    disabled = true;
  } else if (notifyOn()) {
    text = "Turn off notifications";
  } else {
    text = "Turn on notifications";
  }
  notifyBtn.textContent = text;
  notifyBtn.disabled = disabled;
}

async function toggleNotify() {
  if (notifyOn()) {
    localStorage.setItem(NOTIFY_PREF, "off");
    notifyState.textContent = "Notifications turned off for this browser.";
    drawNotifyButton();
    return;
  }
  // Asked here, on the household's click: browsers refuse (and users
  // resent) a permission prompt that comes without one. Already granted,
  // the browser answers at once without a prompt.
  let p;
  try { p = await Notification.requestPermission(); } catch (e) { p = Notification.permission; }
  if (p === "granted") {
    localStorage.setItem(NOTIFY_PREF, "on");
    notifyState.textContent = "You will be notified when a request covers your home and when one of your clips is fetched, while this page is open.";
  } else {
    notifyState.textContent = "Notifications were not allowed; you can allow them in this browser's site settings.";
  }
  drawNotifyButton();
}

function setupNotifyButton() {
  notifyState = h("span", { id: "notify-state", class: "meta", "aria-live": "polite" });
  notifyBtn = h("button", { id: "notify-toggle", type: "button", onclick: toggleNotify });
  document.querySelector("header").append(h("p", { class: "notify-bar" }, notifyBtn, " ", notifyState));
  drawNotifyButton();
}
document.addEventListener("DOMContentLoaded", setupNotifyButton);

// desktopNotify shows one notification; key makes it once per page.
function desktopNotify(key, title, body, hash) {
  if (notifiedKeys.has(key)) return;
  notifiedKeys.add(key);
  try {
    const n = new Notification(title, { body, tag: key });
    n.onclick = () => { window.focus(); location.hash = hash; n.close(); };
  } catch (e) {
    // Some browsers (Android's) show notifications only from a service
    // worker: the screens still show everything.
  }
}

async function onRequestEvent(d) {
  if (!notifyOn() || !d.covers_home) return;
  // The listing says whether the request is open and names the agency:
  // only requests of agencies with a trusted credential are listed.
  const reqs = await get("/api/v1/requests?limit=100");
  const q = reqs.find(r => r.id === d.id);
  if (!q || q.status !== "open" || !q.covers_home) return;
  desktopNotify("request-" + q.id, "A request for assistance covers your home",
    `${q.agency_name || short(q.agency)} asks for footage of ${q.incident}, ${when(q.from)} to ${when(q.to)}. Nothing is shared unless you choose to.`,
    "#requests");
}

async function onAccessEvent(d) {
  if (!notifyOn() || !d.served) return;
  const key = "fetch-" + d.clip + "-" + d.peer;
  if (notifiedKeys.has(key)) return;
  const [agencies, peers, clips] = await Promise.all([
    get("/api/v1/agencies").catch(() => []), get("/api/v1/peers").catch(() => []), get("/api/v1/clips").catch(() => [])]);
  const ag = agencies.find(a => a.peer_id === d.peer);
  const pe = peers.find(p => p.peer_id === d.peer);
  const who = (ag && ag.name) || (pe && pe.name) || short(d.peer);
  const clip = clips.find(c => c.id === d.clip);
  const what = clip ? `your ${clip.camera} clip of ${when(clip.start)}` : "one of your clips";
  desktopNotify(key, "One of your clips was fetched", `${who} fetched ${what}, under a grant you gave. The access log lists every fetch.`, "#access");
}

// notifyEvents is app.js's hook: the events this file acts on, from the
// page's one event stream.
function notifyEvents(es) {
  const on = (fn) => (e) => { let d; try { d = JSON.parse(e.data); } catch (err) { return; } fn(d).catch(() => {}); };
  es.addEventListener("request", on(onRequestEvent));
  es.addEventListener("access", on(onAccessEvent));
}

// ---- the anti-profiling prompt of the post composer ----

// describeBeforePost is app.js's hook in the feed's composer: it resolves
// true to post now, false to wait for the author. A safety post the node
// advises a fuller description for (POST /api/v1/posts/check, the check
// `porchlight post` uses too) shows why and what could be added, with two
// choices: edit the text, or post anyway.
async function describeBeforePost(kind, textarea, status) {
  const form = textarea.form;
  if (form.dataset.postAnyway === textarea.value) {
    delete form.dataset.postAnyway;
    return true;
  }
  delete form.dataset.postAnyway;
  let chk;
  try { chk = await api("POST", "/api/v1/posts/check", { kind, text: textarea.value }); }
  catch (err) { return true; } // the check is advice: it never stops a post
  if (!chk.prompt) return true;
  const panel = h("section", { id: "describe-prompt", class: "confirm", tabindex: "-1", "aria-labelledby": "describe-title" },
    h("h2", { id: "describe-title" }, "Describe the person, not only their race"),
    h("p", { id: "describe-why" }, chk.why),
    chk.descriptors.length ? h("p", null, "Your post gives: ", chk.descriptors.join(", "), ".") : null,
    h("p", null, `Add at least ${chk.need} of:`),
    h("ul", { id: "describe-suggest" }, chk.suggest.map(s => h("li", null, s))),
    h("div", { class: "row" },
      h("button", { id: "describe-edit", class: "primary", type: "button", onclick: () => {
        panel.remove();
        textarea.focus();
        textarea.setSelectionRange(textarea.value.length, textarea.value.length);
      } }, "Edit the description"),
      h("button", { id: "describe-anyway", type: "button", onclick: () => {
        form.dataset.postAnyway = textarea.value;
        form.requestSubmit();
      } }, "Post anyway")));
  status.replaceChildren(panel);
  panel.focus();
  return false;
}
