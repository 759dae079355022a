package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/porchlight-mesh/porchlight/api"
)

// getUI fetches path with the token (or edited by edit) and returns the
// status, body and headers.
func getUI(t *testing.T, s *api.Server, path string, edit func(*http.Request)) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+s.Addr().String()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if edit != nil {
		edit(req)
	}
	return do(t, req)
}

// TestAppShellFiles: the manifest, its icons and the service worker are
// served with their types and the UI's headers; the manifest's icons
// decode at the sizes it declares; the worker may serve the whole origin
// (Service-Worker-Allowed: /) and lists only the page and UI files, every
// one of which the node serves, never an /api/ path.
func TestAppShellFiles(t *testing.T) {
	s := newServer(t)
	code, body, hdr := getUI(t, s, "/ui/manifest.webmanifest", nil)
	if code != 200 || hdr.Get("Content-Type") != "application/manifest+json" {
		t.Fatalf("manifest: %d %q", code, hdr.Get("Content-Type"))
	}
	var man struct {
		Name     string `json:"name"`
		StartURL string `json:"start_url"`
		Scope    string `json:"scope"`
		Display  string `json:"display"`
		Icons    []struct {
			Src   string `json:"src"`
			Sizes string `json:"sizes"`
			Type  string `json:"type"`
		} `json:"icons"`
	}
	if err := json.Unmarshal([]byte(body), &man); err != nil {
		t.Fatalf("manifest is not JSON: %v", err)
	}
	if man.Name != "Porchlight" || man.StartURL != "/" || man.Scope != "/" || man.Display != "standalone" {
		t.Fatalf("manifest %+v", man)
	}
	if len(man.Icons) == 0 {
		t.Fatal("manifest names no icon")
	}
	for _, ic := range man.Icons {
		code, b, hdr := getUI(t, s, ic.Src, nil)
		if code != 200 || hdr.Get("Content-Type") != "image/png" {
			t.Fatalf("icon %s: %d %q", ic.Src, code, hdr.Get("Content-Type"))
		}
		img, err := png.Decode(bytes.NewReader([]byte(b)))
		if err != nil {
			t.Fatalf("icon %s: %v", ic.Src, err)
		}
		if got := img.Bounds().Size(); ic.Type != "image/png" || ic.Sizes != fmt.Sprintf("%dx%d", got.X, got.Y) {
			t.Errorf("icon %s is %v, manifest says %s", ic.Src, got, ic.Sizes)
		}
	}

	code, body, hdr = getUI(t, s, "/ui/sw.js", nil)
	if code != 200 || hdr.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("sw.js: %d %q", code, hdr.Get("Content-Type"))
	}
	if hdr.Get("Service-Worker-Allowed") != "/" {
		t.Errorf("sw.js: Service-Worker-Allowed %q, want /", hdr.Get("Service-Worker-Allowed"))
	}
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Cache-Control"} {
		if hdr.Get(h) == "" {
			t.Errorf("sw.js: no %s header", h)
		}
	}
	m := regexp.MustCompile(`(?m)^const SHELL = (\[.*\]);$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("sw.js has no SHELL list:\n%s", body[:min(len(body), 400)])
	}
	var shell []string
	if err := json.Unmarshal([]byte(m[1]), &shell); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"/": false, "/ui/app.js": false, "/ui/app.css": false, "/ui/manifest.webmanifest": false, "/ui/icon-192.png": false}
	for _, p := range shell {
		if p != "/" && !strings.HasPrefix(p, "/ui/") || p == "/ui/sw.js" {
			t.Errorf("the shell lists %q: only the page and UI files belong there", p)
		}
		if _, ok := want[p]; ok {
			want[p] = true
		}
		if code, _, _ := getUI(t, s, p, nil); code != 200 {
			t.Errorf("the shell lists %s, which answers %d", p, code)
		}
	}
	for p, seen := range want {
		if !seen {
			t.Errorf("the shell leaves out %s", p)
		}
	}
	if !regexp.MustCompile(`(?m)^const VERSION = "[0-9a-f]{16}";$`).MatchString(body) {
		t.Error("sw.js has no VERSION")
	}

	// The same guard as every UI file: no token, or a foreign Host, and
	// nothing is served.
	for _, p := range []string{"/ui/manifest.webmanifest", "/ui/sw.js", "/ui/icon-192.png", "/ui/icon-512.png"} {
		if code, _, _ := getUI(t, s, p, func(r *http.Request) { r.Header.Del("Authorization") }); code != 401 {
			t.Errorf("%s without a token: %d, want 401", p, code)
		}
		if code, _, _ := getUI(t, s, p, func(r *http.Request) { r.Host = "evil.com:7780" }); code != 403 {
			t.Errorf("%s with a foreign Host: %d, want 403", p, code)
		}
	}
	for _, p := range []string{"/ui/icon-64.png", "/ui/nope.webmanifest", "/ui/icon-192.png.js"} {
		if code, _, _ := getUI(t, s, p, nil); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
}
