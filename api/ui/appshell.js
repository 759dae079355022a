// Porchlight web UI: the installable app. It registers the service worker
// (sw.js: the app shell only, never data), so that the browser offers to
// install the UI as an app and the page opens while the node is stopped,
// with app.js's "node not answering" banner. Service workers need a secure
// context: https, or http on localhost and 127.0.0.1.
"use strict";

if ("serviceWorker" in navigator && window.isSecureContext) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/ui/sw.js", { scope: "/" }).catch((err) => {
      // The UI works without it: only offline opening is lost.
      console.warn("Porchlight: service worker not registered:", err);
    });
  });
}
