// Porchlight's service worker: it keeps the app shell (SHELL: the page,
// its scripts, styles, manifest and icons, written above by the node) so
// that the installed app opens while the node is stopped and says so.
// It caches nothing else: every /api/ request, the event stream and the
// login link go straight to the node, and data is never stored here.
"use strict";

const CACHE = "porchlight-shell-" + VERSION;
const SHELL_PATHS = new Set(SHELL);

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then(c => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

// A new version drops the old shells.
self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys()
    .then(keys => Promise.all(keys.filter(k => k.startsWith("porchlight-shell-") && k !== CACHE).map(k => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (e) => {
  const req = e.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  // Only the shell's own files, by exact path; everything else is not
  // answered here at all, so the browser asks the node as if there were
  // no worker.
  if (url.origin !== self.location.origin || url.search || !SHELL_PATHS.has(url.pathname)) return;
  e.respondWith(nodeFirst(req, url.pathname));
});

// nodeFirst asks the node, so a running node always serves its own
// version of the UI; the kept copy answers only when the node does not.
async function nodeFirst(req, path) {
  try {
    const res = await fetch(req);
    if (res.ok && res.type === "basic") {
      const copy = res.clone();
      caches.open(CACHE).then(c => c.put(path, copy)).catch(() => {});
    }
    return res;
  } catch (err) {
    const kept = await caches.match(path, { cacheName: CACHE });
    if (kept) return kept;
    throw err;
  }
}
