package lab

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPairLaptop is issue 16's desktop app across two network namespaces:
// the hub runs a node; the laptop, another namespace on the same LAN
// (bridge), runs Chromium. Unpaired, the laptop is refused; the hub's UI
// makes a pairing link (turning the LAN listener on); the laptop opens it,
// pairs and its feed loads with the hub's post; the used link does not work
// again; the hub revokes the laptop in its UI and the laptop's next request
// is refused.
//
// The laptop's Chromium trusts the node's certificate by its public key
// (--ignore-certificate-errors-spki-list), as a user who checked the
// fingerprint and went past the browser's warning does.
func TestPairLaptop(t *testing.T) {
	checkPrerequisites(t)
	chrome := findChromium(t)
	bin := buildBinary(t, t.TempDir())
	l := newLab(t, bin)
	hub := l.addHost("hub", "maple-st")
	laptop := l.addHost("laptop", "maple-st") // its node never runs: the namespace is the laptop
	hub.start()
	waitReady(t, hub)
	ctx := t.Context()
	postText := "Porch light out on Elm, lab " + l.suffix
	hub.post(ctx, postText)

	// The hub's own browser, logged in with `porchlight ui --print`.
	hubTab := nsBrowser(t, chrome, hub.ns, "")
	out, err := hub.cli(ctx, "ui", "--print")
	if err != nil {
		t.Fatal(err)
	}
	run(t, hubTab, "log in on the hub", chromedp.Navigate(strings.TrimSpace(string(out))))
	wait(t, hubTab, "the hub's UI", `document.getElementById('who') && document.getElementById('who').textContent.includes('hub')`)

	// The hub's certificate does not exist until pairing turns the LAN on:
	// unpaired, the laptop reaches nothing yet. Make the link in the UI.
	run(t, hubTab, "open Devices", chromedp.Navigate("http://127.0.0.1:7780/#devices"))
	wait(t, hubTab, "the Devices screen", `document.getElementById('dev-pair')`)
	run(t, hubTab, "make a pairing link",
		chromedp.SetValue(chromedp.ID("dev-name"), "Ana's laptop"),
		chromedp.Click(chromedp.ID("dev-pair")))
	wait(t, hubTab, "the link and its QR code", `document.getElementById('dev-url') && document.getElementById('dev-qr') && document.getElementById('dev-qr').complete && document.getElementById('dev-qr').naturalWidth > 100`)
	link := evalJS[string](t, hubTab, `document.getElementById('dev-url').value`)
	lanBase := fmt.Sprintf("https://%s:7782", hub.ip)
	if !strings.HasPrefix(link, lanBase+"/pair?code=") || !strings.Contains(link, "&fp=") {
		t.Fatalf("pairing link %q, want one at %s", link, lanBase)
	}
	spki, fp := lanCert(t, hub.dir)
	if !strings.Contains(link, "fp="+fp) {
		t.Fatalf("the link %q does not carry the certificate's fingerprint %s", link, fp)
	}

	lap := nsBrowser(t, chrome, laptop.ns, spki)
	run(t, lap, "open the node unpaired", chromedp.Navigate(lanBase+"/"))
	wait(t, lap, "the refusal", `document.body && document.body.innerText.includes('not paired')`)
	if got := evalJS[string](t, lap, `document.documentElement.outerHTML`); strings.Contains(got, postText) {
		t.Fatal("the unpaired laptop sees the feed")
	}

	run(t, lap, "open the pairing link", chromedp.Navigate(link))
	wait(t, lap, "the pairing page", `document.getElementById('pair') && document.body.innerText.includes("Ana's laptop")`)
	run(t, lap, "pair", chromedp.Click(chromedp.ID("pair")))
	wait(t, lap, "the feed with the hub's post", fmt.Sprintf(`document.querySelector('main') && document.querySelector('main').dataset.screen === 'feed' && document.querySelector('main').innerText.includes(%q)`, postText))
	if c := evalJS[bool](t, lap, `document.cookie === ''`); !c {
		t.Error("the session cookie is readable by script (want HttpOnly)")
	}

	// The used link, again (a replay): refused.
	run(t, lap, "replay the link", chromedp.Navigate(link))
	wait(t, lap, "the used link's refusal", `document.body && document.body.innerText.includes('already used')`)
	run(t, lap, "back to the feed", chromedp.Navigate(lanBase+"/#feed"))
	wait(t, lap, "the feed again", `document.querySelector('main') && document.querySelector('main').dataset.screen === 'feed'`)

	// The hub lists the laptop and revokes it.
	run(t, hubTab, "reload Devices", chromedp.Reload())
	wait(t, hubTab, "the laptop listed", `(r => r && r.textContent.includes("Ana's laptop"))(document.querySelector('#dev-list tr[data-device]'))`)
	run(t, hubTab, "revoke the laptop", chromedp.Click(chromedp.CSS(`#dev-list tr[data-device] button.revoke`)))
	wait(t, hubTab, "the list without it", `document.querySelector('#dev-list tr[data-device]') === null`)

	status := evalJS[float64](t, lap, `fetch('/api/v1/feed').then(r => r.status)`)
	if status != 401 {
		t.Fatalf("the revoked laptop's next request: HTTP %v, want 401", status)
	}
	run(t, lap, "reload after the revocation", chromedp.Reload())
	wait(t, lap, "the refusal after the revocation", `document.body && document.body.innerText.includes('not paired') && !document.body.innerText.includes(`+jsQuote(postText)+`)`)
}

func jsQuote(s string) string { return fmt.Sprintf("%q", s) }

// findChromium is Debian's chromium (or $PORCHLIGHT_CHROMIUM), or a skip
// (a failure under PORCHLIGHT_REQUIRE_LAB=1).
func findChromium(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/chromium", "chromium", "chromium-browser"}
	if p := os.Getenv("PORCHLIGHT_CHROMIUM"); p != "" {
		candidates = []string{p}
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	unavailable(t, "no Chromium found (apt-get install -y chromium, or set PORCHLIGHT_CHROMIUM)")
	return ""
}

// nsBrowser starts a headless Chromium inside namespace ns, stopped when
// the test ends. chromedp talks to it over a pipe (file descriptors pass
// through `ip netns exec`), so no DevTools port has to cross namespaces.
// spki, if set, is the one certificate key Chromium accepts unverified.
func nsBrowser(t *testing.T, chrome, ns, spki string) context.Context {
	t.Helper()
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "chromium-in-ns")
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", ns, chrome)
	if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(wrapper),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1000, 800),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	if spki != "" {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", spki))
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil {
		bcancel()
		acancel()
		t.Fatalf("start chromium in %s: %v", ns, err)
	}
	t.Cleanup(func() {
		bcancel()
		acancel()
	})
	return bctx
}

// lanCert is the hub's LAN certificate's SPKI hash (for Chromium) and its
// fingerprint as the pairing link carries it.
func lanCert(t *testing.T, dir string) (spki, fp string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "lan.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("lan.crt is not PEM")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	f := sha256.Sum256(cert.Raw)
	return base64.StdEncoding.EncodeToString(s[:]), strings.ToUpper(fmt.Sprintf("%x", f[:]))
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wait polls predicate until it holds, across the page's own navigations
// (a redirect interrupts an evaluation: it is tried again).
func wait(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		var ok bool
		ok, err = chromedp.Run(c, chromedp.Evaluate[bool]("!!("+predicate+")"))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	page, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	t.Fatalf("waiting for %s (%s): last error %v\n--- the page says:\n%s", what, predicate, err, page)
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}
