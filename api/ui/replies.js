// Porchlight web UI: replies in the feed. The feed's posts are grouped in
// threads: a post heads one, and its replies follow it, oldest first, with
// a Reply button that opens a small composer. Uses app.js's helpers (h,
// api, msg, fill, short, refresh) and notify.js's describeBeforePost, from
// functions app.js calls: its one hook is threadItems(...) in the feed.
"use strict";

// openReplies keeps the reply composers that are open, by the ID of the
// post they answer: a redraw (an event, the heartbeat) moves the same form
// into the new list, so nothing typed is lost.
const openReplies = new Map();

// threads groups posts (newest first, as the feed lists them): a post
// whose parent is not in the list heads a thread; every reply joins the
// thread of its parent's head, oldest first.
function threads(posts) {
  const byId = new Map(posts.map(p => [p.id, p]));
  const headOf = (p) => {
    let q = p;
    for (let i = 0; i < 64 && q.reply_to && byId.has(q.reply_to); i++) q = byId.get(q.reply_to);
    return q;
  };
  const heads = [], replies = new Map();
  for (const p of posts) {
    const top = headOf(p);
    if (top === p) { heads.push(p); continue; }
    if (!replies.has(top.id)) replies.set(top.id, []);
    replies.get(top.id).push(p);
  }
  return heads.map(p => ({ post: p, replies: (replies.get(p.id) || []).reverse(), byId }));
}

function authorOf(p) { return p.author_name || short(p.author); }

// threadItems draws the feed as threads; postParts(p) draws one post's
// text, byline and actions (app.js). It keeps focus in an open composer.
function threadItems(list, posts, postParts) {
  const active = document.activeElement;
  const keep = active && active.closest && active.closest(".reply-form") && list.contains(active)
    ? { el: active, start: active.selectionStart, end: active.selectionEnd } : null;
  const items = threads(posts).map(t => threadItem(t, postParts));
  for (const id of openReplies.keys()) {
    if (!posts.some(p => p.id === id)) openReplies.delete(id); // retracted meanwhile
  }
  fill(list, items, "No posts yet. Posts from your neighbors appear here as they arrive.");
  if (keep && keep.el.isConnected && document.activeElement !== keep.el) {
    keep.el.focus({ preventScroll: true });
    try { keep.el.setSelectionRange(keep.start, keep.end); } catch (e) { /* not a text field */ }
  }
}

function threadItem(t, postParts) {
  const p = t.post;
  const n = t.replies.length;
  const orphan = p.reply_to ? h("p", { class: "meta" }, "A reply to a post not shown here (older, retracted or from a muted neighbor).") : null;
  return h("li", { class: "card post thread", "data-id": p.id },
    orphan, postParts(p),
    n ? h("ul", { class: "replies", "aria-label": `${n} ${n === 1 ? "reply" : "replies"} to ${authorOf(p)}` },
      t.replies.map(r => h("li", { class: "reply", "data-id": r.id, "data-reply-to": r.reply_to },
        r.reply_to !== p.id && t.byId.has(r.reply_to) ? h("p", { class: "meta" }, "Replying to ", authorOf(t.byId.get(r.reply_to))) : null,
        postParts(r)))) : null,
    replyBox(p));
}

// replyBox is the thread's Reply button, or its open composer.
function replyBox(p) {
  const open = openReplies.get(p.id);
  if (open) return open;
  const key = p.id.slice(0, 16);
  return h("div", { class: "reply-box" },
    // It gives way to the composer, which takes the focus.
    h("button", { type: "button", class: "reply-open", "aria-label": "Reply to " + authorOf(p),
      onclick: () => {
        openReplies.set(p.id, replyForm(p));
        refresh().then(() => { const ta = document.getElementById("reply-text-" + key); if (ta) ta.focus(); });
      } }, "Reply"));
}

function replyForm(p) {
  const key = p.id.slice(0, 16);
  const text = h("textarea", { id: "reply-text-" + key, name: "text", required: true, maxlength: 2000, rows: 2 });
  const status = h("div", { "aria-live": "polite" });
  const send = h("button", { class: "primary reply-send", type: "submit" }, "Send reply");
  const close = () => { openReplies.delete(p.id); refresh(); };
  const box = h("div", { class: "reply-box" },
    h("form", { id: "reply-form-" + key, class: "reply-form", onsubmit: async (e) => {
      e.preventDefault();
      if (!text.value.trim()) { status.replaceChildren(msg("error", "Write your reply first.")); return; }
      status.replaceChildren();
      // A reply is of its thread's kind: a reply in a safety thread gets
      // the same prompt about describing people as a safety post.
      if (!(await describeBeforePost(p.kind, text, status))) return;
      send.disabled = true;
      try {
        await api("POST", "/api/v1/posts", { kind: p.kind, text: text.value, reply_to: p.id });
        openReplies.delete(p.id);
        await refresh();
      } catch (err) {
        send.disabled = false;
        status.replaceChildren(msg("error", "Could not send the reply: " + err.message));
      }
    } },
    h("label", { for: "reply-text-" + key }, "Reply to ", authorOf(p)), text,
    h("div", { class: "row" }, send, h("button", { type: "button", class: "reply-cancel", onclick: close }, "Cancel")),
    status));
  return box;
}
