package browsertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/porchlight-mesh/porchlight/api"
)

// cachedPaths lists the paths of everything in the page's Cache Storage.
const cachedPaths = `(async () => {
  const out = [];
  for (const name of await caches.keys()) {
    const c = await caches.open(name);
    for (const r of await c.keys()) out.push(new URL(r.url).pathname + new URL(r.url).search);
  }
  return out;
})()`

// TestInstallableAppShell: the UI is an installable app. Chromium parses
// the manifest without an error and finds nothing that stops installing;
// the service worker registers and controls the page; it keeps the app
// shell and nothing from the API, even after screens loaded data; and with
// the node stopped the app still opens, saying the node is not answering.
func TestInstallableAppShell(t *testing.T) {
	b := browser(t)
	n := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	// The browser's first tab, in its own profile rather than a separate
	// (incognito-like) context: Chromium installs apps only from a profile.
	ctx := b
	n.login(t, ctx)

	c, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	man, err := chromedp.Call(c, page.GetAppManifest, page.GetAppManifestParams{})
	if err != nil {
		t.Fatalf("Page.getAppManifest: %v", err)
	}
	if man.URL != n.base()+"/ui/manifest.webmanifest" {
		t.Fatalf("manifest URL %q", man.URL)
	}
	for _, e := range man.Errors {
		t.Errorf("manifest error at %d:%d (critical %d): %s", e.Line, e.Column, e.Critical, e.Message)
	}
	// Chromium names the display mode as its enum: kStandalone.
	if m := man.Manifest; m == nil || m.Name != "Porchlight" || !strings.HasSuffix(strings.ToLower(m.Display), "standalone") || m.StartURL != n.base()+"/" || len(m.Icons) < 2 {
		t.Fatalf("manifest as parsed: %+v (data %s)", m, man.Data)
	}

	waitJS(t, ctx, "the service worker controlling the page", "navigator.serviceWorker.controller && navigator.serviceWorker.controller.scriptURL.endsWith('/ui/sw.js')", 20*time.Second)
	shell := []string{"/", "/ui/app.js", "/ui/app.css", "/ui/replies.js", "/ui/manifest.webmanifest", "/ui/icon-192.png"}
	waitJS(t, ctx, "the shell in the cache", fmt.Sprintf("window.cached && %s.every(p => window.cached.includes(p)) || (%s.then(v => window.cached = v), false)", jsList(shell), cachedPaths), 20*time.Second)

	inst, err := chromedp.Call(c, page.GetInstallabilityErrors, cdp.Empty{})
	if err != nil {
		t.Fatalf("Page.getInstallabilityErrors: %v", err)
	}
	for _, e := range inst.InstallabilityErrors {
		t.Errorf("not installable: %s", e.ErrorID)
	}

	// Screens that load data, then: nothing but the shell was kept.
	for _, screen := range []string{"#requests", "#network", "#feed"} {
		step(t, ctx, "open "+screen, chromedp.Navigate(n.base()+"/"+screen))
		waitJS(t, ctx, screen+" shown", fmt.Sprintf("document.getElementById('main').dataset.screen === %s", js(screen[1:])), 10*time.Second)
	}
	cached, err := chromedp.Run(c, chromedp.Evaluate[[]string](cachedPaths, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cached {
		if p != "/" && !strings.HasPrefix(p, "/ui/") || strings.Contains(p, "?") {
			t.Errorf("the service worker kept %q: only the app shell may be cached", p)
		}
	}

	// The node stops; the installed app still opens and says why it is empty.
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "reopen the app with the node stopped", chromedp.Navigate(n.base()+"/"))
	waitJS(t, ctx, "the node-not-answering banner", "!document.getElementById('banner').hidden && document.getElementById('banner').textContent.includes('not answering')", 15*time.Second)
	if !eval[bool](t, ctx, "!!document.querySelector('nav a[href=\"#feed\"]') && typeof threadItems === 'function' && getComputedStyle(document.body).fontFamily.includes('system-ui')") {
		t.Fatal("the app shell (page, scripts, styles) did not load from the cache")
	}
	shot(t, ctx, "app-offline")
}

// TestRepliesOnAPhone: in a phone-sized window a neighbor's post shows its
// replies threaded under it; the household replies from the UI (the reply
// reaches the neighbor as a reply to that post), a draft survives the
// redraw a new post causes, and a reply to a reply joins the same thread
// saying whom it answers. Nothing scrolls sideways.
func TestRepliesOnAPhone(t *testing.T) {
	b := browser(t)
	home := startNode(t, nodeOpts{name: "12 Maple St", location: "40.7148,-74.0060"})
	nb := startNode(t, nodeOpts{name: "14 Maple St", location: "40.7150,-74.0062", peers: []string{home.addr()}})
	var root api.PostJSON
	nb.call(t, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "lost-found", Text: "Found a grey cat with a blue collar on Elm, whose is it?"}, &root)

	ctx := tab(t, b)
	step(t, ctx, "a phone-sized window", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	home.login(t, ctx)
	thread := fmt.Sprintf("document.querySelector('#feed .thread[data-id=%q]')", root.ID)
	waitJS(t, ctx, "the neighbor's post", thread, 20*time.Second)

	key := root.ID[:16]
	step(t, ctx, "open the reply box", chromedp.Click(chromedp.CSS(fmt.Sprintf("#feed .thread[data-id=%q] .reply-open", root.ID))))
	waitJS(t, ctx, "the reply box, focused", fmt.Sprintf("document.activeElement.id === %s", js("reply-text-"+key)), 10*time.Second)
	labelled(t, ctx, "reply")
	step(t, ctx, "start a reply", chromedp.SendKeys(chromedp.ID("reply-text-"+key), "Ours! "))

	// A new post redraws the feed while the household types.
	nb.call(t, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "general", Text: "Street sweeping moved to Thursday"}, nil)
	waitJS(t, ctx, "the new post", "document.querySelectorAll('#feed .thread').length === 2", 20*time.Second)
	if got := eval[string](t, ctx, fmt.Sprintf("document.getElementById(%s).value + '|' + document.activeElement.id", js("reply-text-"+key))); got != "Ours! |reply-text-"+key {
		t.Fatalf("after a redraw the draft and focus are %q", got)
	}
	const reply = "Ours! Her name is Mochi, we'll come by in ten minutes."
	step(t, ctx, "finish and send the reply",
		chromedp.SendKeys(chromedp.ID("reply-text-"+key), strings.TrimPrefix(reply, "Ours! ")),
		chromedp.Click(chromedp.CSS(fmt.Sprintf("#feed .thread[data-id=%q] .reply-send", root.ID))))
	replies := thread + ".querySelectorAll('.replies .reply')"
	waitJS(t, ctx, "the reply under the post", fmt.Sprintf("%s.length === 1 && %s[0].textContent.includes(%s)", replies, replies, js(reply)), 10*time.Second)
	if eval[bool](t, ctx, fmt.Sprintf("!!document.getElementById(%s)", js("reply-text-"+key))) {
		t.Fatal("the reply box stayed open after sending")
	}

	// The neighbor's node has it as a reply to its post, and answers it.
	var mine api.PostJSON
	deadline := time.Now().Add(20 * time.Second)
	for mine.ID == "" {
		var posts []api.PostJSON
		nb.call(t, "GET", "/api/v1/feed", nil, &posts)
		for _, p := range posts {
			if p.Text == reply {
				mine = p
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the reply did not reach the neighbor")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if mine.ReplyTo != root.ID || mine.Kind != "lost-found" {
		t.Fatalf("the neighbor got reply_to %q kind %q, want %q lost-found", mine.ReplyTo, mine.Kind, root.ID)
	}
	const answer = "Great! She's on our porch. Also: https://example.org/a-very-long-link-without-any-place-to-break-it-on-a-narrow-phone-screen-0123456789"
	nb.call(t, "POST", "/api/v1/posts", api.NewPostJSON{Kind: "lost-found", Text: answer, ReplyTo: mine.ID}, nil)
	waitJS(t, ctx, "the answer in the same thread", fmt.Sprintf("%s.length === 2 && %s[1].textContent.includes('Replying to 12 Maple St')", replies, replies), 20*time.Second)
	if n := eval[int](t, ctx, "document.querySelectorAll('#feed .thread').length"); n != 2 {
		t.Fatalf("%d threads, want 2 (the answer must join its thread)", n)
	}

	// Readable on the phone: nothing wider than the window, replies not
	// squeezed, text not tiny.
	layout := eval[string](t, ctx, fmt.Sprintf(`(() => {
	  const bad = [];
	  if (document.documentElement.scrollWidth > window.innerWidth) bad.push("page scrolls sideways: " + document.documentElement.scrollWidth + " > " + window.innerWidth);
	  for (const el of %s) {
	    const r = el.getBoundingClientRect();
	    if (r.right > window.innerWidth || r.left < 0) bad.push("reply outside the window: " + r.left + ".." + r.right);
	    if (r.width < window.innerWidth * 0.7) bad.push("reply only " + r.width + "px wide");
	    if (parseFloat(getComputedStyle(el.querySelector("p")).fontSize) < 14) bad.push("reply text under 14px");
	  }
	  return bad.join("; ");
	})()`, replies))
	if layout != "" {
		t.Fatal(layout)
	}
	shot(t, ctx, "replies-phone")
}

// TestAgencyMenusOnlyOnAgency: the agency menus (New request, Evidence)
// show on the node a trusted credential names, and not on a household's.
func TestAgencyMenusOnlyOnAgency(t *testing.T) {
	b := browser(t)
	s := newAgencySetup(t, 0)
	var st api.Status
	s.home.call(t, "GET", "/api/v1/status", nil, &st)
	if st.Agency {
		t.Fatal("the household's status says agency")
	}
	s.agency.call(t, "GET", "/api/v1/status", nil, &st)
	if !st.Agency {
		t.Fatal("the agency's status does not say agency")
	}
	const shown = "(() => { const n = document.querySelector('.agency-nav'); return !n.hidden && getComputedStyle(n).display !== 'none' && n.getBoundingClientRect().height > 0; })()"
	ta, th := tab(t, b), tab(t, b)
	s.agency.login(t, ta)
	waitJS(t, ta, "the agency menus on the agency's UI", shown, 10*time.Second)
	s.home.login(t, th)
	// The menus follow the status as soon as it is loaded.
	waitJS(t, th, "the household's status loaded", "me && me.agency === false", 10*time.Second)
	if eval[bool](t, th, shown) {
		t.Fatal("the household's UI shows the agency menus")
	}
	if got := eval[string](t, th, "[...document.querySelectorAll('nav a')].filter(a => a.offsetParent).map(a => a.textContent).join(',')"); strings.Contains(got, "New request") || strings.Contains(got, "Evidence") {
		t.Fatalf("the household's visible menus: %s", got)
	}
}

// jsList quotes a list of Go strings as a JavaScript array.
func jsList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = js(x)
	}
	return "[" + strings.Join(q, ",") + "]"
}
