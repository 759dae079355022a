package browsertest

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/porchlight-mesh/porchlight/node"
)

// TestPairDeviceInUI: the hub's Devices screen makes a pairing link with
// its QR code and the certificate's fingerprint; a second browser (its own
// cookie jar: the laptop) is refused, pairs with the link, sees the feed;
// the hub revokes it in the list and the laptop's next request is refused.
// lab.TestPairLaptop does the same across two network namespaces.
func TestPairDeviceInUI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := node.Init(dir, node.Config{Name: "Hub", Neighborhood: "maple-st", API: "127.0.0.1:0",
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, LANAddr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(node.Options{Dir: dir, DisableMDNS: true, Logger: quiet, LAN: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	hub := &testNode{Node: n, dir: dir}
	hub.token, _ = node.LoadToken(dir)
	hub.call(t, "POST", "/api/v1/posts", map[string]string{"kind": "safety", "text": "Porch light out on Elm"}, nil)

	b := spkiBrowser(t, lanSPKI(t, dir))
	ht, lt := tab(t, b), tab(t, b)
	hub.login(t, ht)
	step(t, ht, "open Devices", chromedp.Navigate(hub.base()+"/#devices"))
	waitJS(t, ht, "the Devices screen", `document.querySelector('main').dataset.screen === 'devices'`, 10*time.Second)
	labelled(t, ht, "devices")
	step(t, ht, "make a pairing link", chromedp.SetValue(chromedp.ID("dev-name"), "Ana's laptop"), chromedp.Click(chromedp.ID("dev-pair")))
	waitJS(t, ht, "the link and its QR code", `document.getElementById('dev-url') && document.getElementById('dev-qr').complete && document.getElementById('dev-qr').naturalWidth > 100`, 10*time.Second)
	link := eval[string](t, ht, `document.getElementById('dev-url').value`)
	_, port, _ := net.SplitHostPort(n.LANAddr().String())
	lan := "https://127.0.0.1:" + port
	if !strings.HasPrefix(link, lan+"/pair?code=") {
		t.Fatalf("link %q", link)
	}
	fp := eval[string](t, ht, `document.getElementById('dev-fp').textContent`)
	if !strings.Contains(link, "fp="+strings.ReplaceAll(fp, ":", "")) {
		t.Fatalf("the link %q does not carry the fingerprint shown, %s", link, fp)
	}

	step(t, lt, "open the node unpaired", chromedp.Navigate(lan+"/"))
	waitJS(t, lt, "the refusal", `document.body.innerText.includes('not paired')`, 10*time.Second)
	step(t, lt, "open the link", chromedp.Navigate(link))
	waitJS(t, lt, "the pairing page", `document.getElementById('pair') !== null`, 10*time.Second)
	step(t, lt, "pair", chromedp.Click(chromedp.ID("pair")))
	waitLoaded(t, lt, "the feed", `document.querySelector('main') && document.querySelector('main').dataset.screen === 'feed' && document.querySelector('main').innerText.includes('Porch light out on Elm')`)
	hub.noToken(t, lt)

	step(t, ht, "reload Devices", chromedp.Reload())
	waitJS(t, ht, "the laptop listed", `(r => r && r.textContent.includes("Ana's laptop"))(document.querySelector('#dev-list tr[data-device]'))`, 10*time.Second)
	step(t, ht, "revoke", chromedp.Click(chromedp.CSS(`#dev-list tr[data-device] button.revoke`)))
	waitJS(t, ht, "the empty list", `document.querySelector('#dev-list tr[data-device]') === null`, 10*time.Second)
	c, cancel := context.WithTimeout(lt, 10*time.Second)
	defer cancel()
	if s, err := chromedp.Run(c, chromedp.Evaluate[float64](`fetch('/api/v1/feed').then(r => r.status)`, chromedp.EvalAwaitPromise)); err != nil || s != 401 {
		t.Fatalf("the revoked laptop's next request: %v (%v), want 401", s, err)
	}
	waitJS(t, lt, "the signed-out banner", `!document.getElementById('banner').hidden && document.getElementById('banner').textContent.includes('porchlight pair')`, 10*time.Second)
}

// waitLoaded is waitJS across the page's own navigations (the pairing
// answer moves on to /).
func waitLoaded(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool]("!!("+predicate+")"))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waiting for %s (%s)", what, predicate)
}

// lanSPKI is the base64 SHA-256 of the LAN certificate's public key, for
// Chromium's --ignore-certificate-errors-spki-list: the browser accepts
// that one self-signed certificate, as a user who checked the fingerprint.
func lanSPKI(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, node.LANCertFile))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("lan.crt is not PEM")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(s[:])
}

// spkiBrowser is browser with one certificate key accepted.
func spkiBrowser(t *testing.T, spki string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 820),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
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
