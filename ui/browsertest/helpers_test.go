package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/porchlight-mesh/porchlight/client"
	"github.com/porchlight-mesh/porchlight/node"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// chromium finds the browser, or skips (fails when PORCHLIGHT_REQUIRE_BROWSER=1).
func chromium(t testing.TB) string {
	t.Helper()
	candidates := []string{"/usr/bin/chromium", "chromium", "chromium-browser"}
	if p := os.Getenv("PORCHLIGHT_CHROMIUM"); p != "" {
		candidates = []string{p} // only the one asked for
	}
	for _, p := range candidates {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	const why = "no Chromium found (install Debian's chromium: apt-get install -y chromium, or set PORCHLIGHT_CHROMIUM)"
	if os.Getenv("PORCHLIGHT_REQUIRE_BROWSER") == "1" {
		t.Fatal(why + "; PORCHLIGHT_REQUIRE_BROWSER=1 makes this a failure")
	}
	t.Skip(why)
	return ""
}

// browser starts a headless Chromium with a fresh profile for the test and
// returns its context; the browser stops when the test ends.
func browser(t testing.TB) context.Context {
	t.Helper()
	path := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 820),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	// The first Run starts the browser; it must not carry a deadline.
	if err := chromedp.Do(bctx); err != nil {
		bcancel()
		acancel()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		bcancel()
		acancel()
	})
	return bctx
}

// tab opens a tab with its own cookie jar (a separate browser context), as
// if each node's household used its own browser.
func tab(t testing.TB, b context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	t.Cleanup(cancel)
	return ctx
}

// step runs browser actions with a deadline, failing the test with what
// was being done.
func step(t testing.TB, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitJS polls a JavaScript predicate in the page until it is true.
func waitJS(t testing.TB, ctx context.Context, what, predicate string, timeout time.Duration) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Poll[bool]("!!("+predicate+")", chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
		t.Fatalf("waiting for %s (%s): %v\n--- the page says:\n%s", what, predicate, err, page)
	}
}

// eval evaluates JavaScript in the page.
func eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// shot saves a PNG of the page when PORCHLIGHT_SCREENSHOTS names a folder.
func shot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("PORCHLIGHT_SCREENSHOTS")
	if dir == "" {
		return
	}
	// Let fonts and the last redraw settle, then capture.
	waitJS(t, ctx, "fonts", "document.fonts.status === 'loaded'", 5*time.Second)
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(moduleRoot(t), dir) // as typed at the repository's root
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// moduleRoot is the directory holding go.mod, above the test's own.
func moduleRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = up
	}
}

type testNode struct {
	*node.Node
	dir   string
	token string
}

type nodeOpts struct {
	name, location string
	trusted        []string
	peers          []string
}

// startNode makes a data directory and starts a real node on 127.0.0.1
// (libp2p, Badger on disk, the API), stopped when the test ends.
func startNode(t testing.TB, o nodeOpts) *testNode {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := node.Init(dir, node.Config{Name: o.name, Neighborhood: "maple-st", Location: o.location,
		API: "127.0.0.1:0", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, TrustedIssuers: o.trusted}); err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(node.Options{Dir: dir, Peers: o.peers, DisableMDNS: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	tok, err := node.LoadToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &testNode{Node: n, dir: dir, token: tok}
}

func (n *testNode) base() string { return "http://" + n.APIAddr().String() }

func (n *testNode) addr() string { return n.Mesh().Addrs()[0].String() }

// call uses the API as the CLI does (for setup that is not under test).
func (n *testNode) call(t testing.TB, method, path string, in, out any) {
	t.Helper()
	c, err := client.FromDataDir(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Do(context.Background(), method, path, in, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

// login opens a fresh one-time login link in the tab and waits for the UI.
func (n *testNode) login(t testing.TB, ctx context.Context) {
	t.Helper()
	var link struct{ URL string }
	n.call(t, "POST", "/api/v1/login-links", struct{}{}, &link)
	step(t, ctx, "open the login link", chromedp.Navigate(link.URL))
	waitJS(t, ctx, "the UI naming the node", fmt.Sprintf("document.getElementById('who').textContent.includes(%q)", n.Config.Name), 10*time.Second)
}

// noToken fails if the page's HTML or its URL carries the API token.
func (n *testNode) noToken(t testing.TB, ctx context.Context) {
	t.Helper()
	html := eval[string](t, ctx, "document.documentElement.outerHTML + location.href + document.cookie")
	if strings.Contains(html, n.token) {
		t.Fatal("the page carries the API token")
	}
}

// labelled fails if a form control on the page has no label, or a button
// or link has no text: each must be reachable and named for a keyboard
// and screen-reader user.
func labelled(t testing.TB, ctx context.Context, screen string) {
	t.Helper()
	bad := eval[[]string](t, ctx, `[
	  ...[...document.querySelectorAll('input, select, textarea')].filter(el => el.type !== 'hidden' &&
	      !(el.id && document.querySelector('label[for="' + el.id + '"]')) && !el.closest('label') && !el.getAttribute('aria-label')),
	  ...[...document.querySelectorAll('button, a[href]')].filter(el => !el.textContent.trim() && !el.getAttribute('aria-label')),
	].map(el => el.outerHTML.slice(0, 120))`)
	if len(bad) > 0 {
		t.Errorf("%s: controls without a label or text: %q", screen, bad)
	}
}

// js quotes a Go string for JavaScript.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
