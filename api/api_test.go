package api_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/sharing"
	"github.com/porchlight-mesh/porchlight/store"
)

const token = "0123456789abcdef0123456789abcdef"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newServer(t *testing.T) *api.Server {
	t.Helper()
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	reqs, err := requests.New(requests.Config{Store: db, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mesh.New(mesh.Config{Key: key, Store: db, Name: "test", ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet, Rules: reqs})
	if err != nil {
		t.Fatal(err)
	}
	cdb, err := clips.OpenDB(t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cdb.Close() })
	cs, err := clips.New(clips.Config{DB: cdb, Key: key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.Listen(api.Config{Addr: "127.0.0.1:0", Token: token, Mesh: m, Feed: newFeed(t, m, db, noSharing{}), Logger: quiet, Requests: reqs, Clips: cs, Sharing: noSharing{},
		Trust: func(peer.ID) error { return nil }, TrustedIssuers: func() []string { return nil },
		Metrics: promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{}),
		Status:  func() api.Status { return api.Status{Name: "test"} }, Anchors: &fakeAnchors{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		m.Close()
		db.Close()
	})
	return s
}

// newFeed is the feed service over m, sharing clips with sh.
func newFeed(t *testing.T, m *mesh.Mesh, db *store.DB, sh feed.Sharer) *feed.Service {
	t.Helper()
	f, err := feed.New(feed.Config{Log: m, Store: db, Sharer: sh})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestListenRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.1:7780", "example.com:7780", "7780"} {
		_, err := api.Listen(api.Config{Addr: addr, Token: token, Mesh: &mesh.Mesh{}, Feed: &feed.Service{}, Status: func() api.Status { return api.Status{} },
			Requests: &requests.Service{}, Trust: func(peer.ID) error { return nil }, TrustedIssuers: func() []string { return nil }})
		if err == nil {
			t.Errorf("Listen(%q) succeeded, want a refusal", addr)
		}
	}
}

// request builds a request for a route pattern such as "DELETE /api/v1/posts/{id}".
func request(t *testing.T, s *api.Server, pattern string) *http.Request {
	t.Helper()
	method, path, _ := strings.Cut(pattern, " ")
	path = strings.TrimSuffix(path, "{$}")
	path = strings.ReplaceAll(path, "{id}", strings.Repeat("ab", 32))
	path = strings.ReplaceAll(path, "{peer}", "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
	var body io.Reader
	upload := pattern == "POST /api/v1/clips"
	switch {
	case upload:
		body = strings.NewReader("not really a video")
	case method == "POST" || method == "PUT":
		body = strings.NewReader(`{}`)
	}
	req, err := http.NewRequest(method, "http://"+s.Addr().String()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	switch {
	case upload:
		req.Header.Set("Content-Type", "video/mp4")
		req.Header.Set("X-Porchlight-Upload", "1")
	case body != nil:
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func do(t *testing.T, req *http.Request) (int, string, http.Header) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

type guardCase struct {
	name   string
	edit   func(*http.Request)
	status int
}

// TestEveryRouteIsGuarded enumerates the registered routes and checks each
// refuses a missing or wrong token, a non-loopback Host, and (mutating
// routes) a foreign Origin and a non-JSON body; no response carries the
// token or CORS headers.
func TestEveryRouteIsGuarded(t *testing.T) {
	s := newServer(t)
	routes := s.Routes()
	if len(routes) < 12 {
		t.Fatalf("only %d routes registered: %v", len(routes), routes)
	}
	for _, route := range routes {
		mutating := !strings.HasPrefix(route, "GET ")
		cases := []guardCase{
			{"no token", func(r *http.Request) { r.Header.Del("Authorization") }, 401},
			{"wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+strings.Repeat("0", len(token))) }, 401},
			{"token without Bearer", func(r *http.Request) { r.Header.Set("Authorization", token) }, 401},
			{"rebinding host", func(r *http.Request) { r.Host = "localhost.evil.com" }, 403},
			{"foreign host with port", func(r *http.Request) { r.Host = "evil.com:7780" }, 403},
			{"private address host", func(r *http.Request) { r.Host = "192.168.1.10:7780" }, 403},
		}
		if mutating {
			cases = append(cases,
				guardCase{"foreign origin", func(r *http.Request) { r.Header.Set("Origin", "https://evil.com") }, 403},
				guardCase{"null origin", func(r *http.Request) { r.Header.Set("Origin", "null") }, 403},
			)
			if strings.HasPrefix(route, "POST ") || strings.HasPrefix(route, "PUT ") {
				cases = append(cases,
					guardCase{"form body", func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }, 415},
					guardCase{"text/plain body", func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, 415},
				)
			}
		}
		for _, c := range cases {
			req := request(t, s, route)
			c.edit(req)
			code, body, hdr := do(t, req)
			if code != c.status {
				t.Errorf("%s with %s: status %d, want %d (%s)", route, c.name, code, c.status, body)
			}
			if !strings.Contains(body, `"error"`) || !strings.Contains(body, `"code"`) {
				t.Errorf("%s with %s: body %q is not an API error", route, c.name, body)
			}
			if strings.Contains(body, token) {
				t.Errorf("%s with %s: response contains the token", route, c.name)
			}
			if hdr.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("%s with %s: sent a CORS header", route, c.name)
			}
		}
		// And the legitimate request passes the guard (any non-guard status).
		code, body, _ := do(t, request(t, s, route))
		if code == 401 || code == 403 && strings.Contains(body, "bad_host") || code == 415 {
			t.Errorf("%s: legitimate request refused by the guard: %d %s", route, code, body)
		}
	}
	// An unknown route is not an open door either.
	req, _ := http.NewRequest("GET", "http://"+s.Addr().String()+"/api/v1/nope", nil)
	if code, _, _ := do(t, req); code != 404 && code != 401 {
		t.Errorf("unknown route: %d", code)
	}
}

// TestOpenAPIMatchesRoutes fails if a registered route is missing from the
// OpenAPI document, or the document names a route that does not exist.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := newServer(t)
	req := request(t, s, "GET /api/v1/openapi.json")
	code, body, _ := do(t, req)
	if code != 200 {
		t.Fatalf("GET openapi.json: %d", code)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, r := range append(s.Routes(), s.PublicRoutes()...) {
		r = strings.TrimSuffix(r, "{$}") // Go's exact-match marker
		registered[r] = true
		if !documented[r] {
			t.Errorf("route %q is not in the OpenAPI document", r)
		}
	}
	for r := range documented {
		if !registered[r] {
			t.Errorf("the OpenAPI document names %q, which is not a route", r)
		}
	}
}

// TestLoginLink: a one-time link sets an HttpOnly, SameSite=Strict session
// cookie that authorizes API calls, and stops working after its first use.
// The only token-less route still refuses a rebinding Host.
func TestLoginLink(t *testing.T) {
	s := newServer(t)
	// GET and POST /pair answer on the LAN listener only (TestPair*).
	if pub := s.PublicRoutes(); len(pub) != 4 || pub[0] != "GET /login" || pub[1] != "POST /login" || pub[2] != "GET /pair" || pub[3] != "POST /pair" {
		t.Fatalf("public routes = %v, want only GET and POST /login and /pair", pub)
	}
	code, body, _ := do(t, request(t, s, "POST /api/v1/login-links"))
	if code != 201 {
		t.Fatalf("login-links: %d %s", code, body)
	}
	var link struct{ URL string }
	if err := json.Unmarshal([]byte(body), &link); err != nil || !strings.Contains(link.URL, "/login?code=") {
		t.Fatalf("link %q: %v", body, err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	rebind, _ := http.NewRequest("GET", link.URL, nil)
	rebind.Host = "localhost.evil.com"
	if resp, err := noRedirect.Do(rebind); err != nil || resp.StatusCode != 403 {
		t.Fatalf("login with a rebinding Host: %v %v", resp.StatusCode, err)
	}

	resp, err := noRedirect.Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use: %d", resp.StatusCode)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "porchlight_session_"+port(s) {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie = %+v, want HttpOnly and SameSite=Strict", session)
	}
	if strings.Contains(session.Value, token) {
		t.Fatal("the session cookie carries the API token")
	}
	req := request(t, s, "GET /api/v1/status")
	req.Header.Del("Authorization")
	req.AddCookie(session)
	if code, body, _ := do(t, req); code != 200 {
		t.Fatalf("status with the session cookie: %d %s", code, body)
	}
	page := request(t, s, "GET /{$}")
	page.Header.Del("Authorization")
	page.AddCookie(session)
	if code, body, _ := do(t, page); code != 200 || !strings.Contains(body, "<title>Porchlight</title>") {
		t.Fatalf("index with the session: %d", code)
	}

	again, err := noRedirect.Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if again.StatusCode != 403 {
		t.Fatalf("second use of the link: %d, want 403", again.StatusCode)
	}
	forged := request(t, s, "GET /api/v1/status")
	forged.Header.Del("Authorization")
	forged.AddCookie(&http.Cookie{Name: "porchlight_session_" + port(s), Value: strings.Repeat("0", 64)})
	if code, _, _ := do(t, forged); code != 401 {
		t.Fatalf("a made-up session: %d, want 401", code)
	}
}

// noSharing is an in-memory Sharing with nothing shared, for the guard and
// OpenAPI tests (package node tests the real one).
type noSharing struct{}

func (noSharing) Share(context.Context, peer.ID, []record.ID, record.ID, time.Time) (*clips.SignedGrant, bool, error) {
	return nil, false, clips.ErrNotFound
}
func (noSharing) Grants() ([]*clips.SignedGrant, error) { return nil, nil }
func (noSharing) RevokeGrant(clips.GrantID) error       { return clips.ErrGrantNotFound }
func (noSharing) GrantRevoked(*clips.SignedGrant) bool  { return false }
func (noSharing) Audit(int) ([]clips.Entry, error)      { return nil, nil }
func (noSharing) FetchClip(context.Context, peer.ID, record.ID) (*clips.SignedManifest, error) {
	return nil, clips.ErrNotFound
}
func (noSharing) Evidence() ([]sharing.EvidenceInfo, error) { return nil, nil }
func (noSharing) ExportEvidence(io.Writer, record.ID) error { return clips.ErrNotFound }

// TestUIIsServed: the page, its script and style come from the binary with
// a CSP that allows no inline script and no other origin; unknown files
// and types are 404; the limits the request form checks are the rules'.
func TestUIIsServed(t *testing.T) {
	s := newServer(t)
	code, body, hdr := do(t, request(t, s, "GET /{$}"))
	if code != 200 || !strings.Contains(body, `<script src="/ui/app.js"`) {
		t.Fatalf("index: %d %.200s", code, body)
	}
	if c := hdr.Get("Content-Security-Policy"); !strings.Contains(c, "script-src 'self'") || strings.Contains(c, "unsafe-inline") || !strings.Contains(c, "frame-ancestors 'none'") {
		t.Errorf("index CSP = %q", c)
	}
	for _, c := range []struct {
		path, ctype string
		status      int
	}{
		{"/ui/app.js", "text/javascript; charset=utf-8", 200},
		{"/ui/app.css", "text/css; charset=utf-8", 200},
		{"/ui/index.html", "", 404}, // only by /
		{"/ui/missing.js", "", 404},
		{"/ui/..%2fapi.go", "", 404},
	} {
		req, _ := http.NewRequest("GET", "http://"+s.Addr().String()+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		code, body, hdr := do(t, req)
		if code != c.status || c.ctype != "" && hdr.Get("Content-Type") != c.ctype {
			t.Errorf("GET %s: %d %q, want %d %q (%.100s)", c.path, code, hdr.Get("Content-Type"), c.status, c.ctype, body)
		}
	}
	code, body, _ = do(t, request(t, s, "GET /api/v1/limits"))
	var l api.LimitsJSON
	if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil {
		t.Fatalf("limits: %d %v %s", code, err, body)
	}
	if l.MaxAreaSqMi != requests.DefaultLimits.MaxArea || l.MinWindowSecs != 15*60 || l.MaxWindowSecs != 12*3600 || l.MaxOpen != 10 {
		t.Errorf("limits = %+v, want the defaults", l)
	}
}

func port(s *api.Server) string {
	_, p, _ := net.SplitHostPort(s.Addr().String())
	return p
}
