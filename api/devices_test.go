package api_test

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/internal/testcert"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/requests"
)

// lanHost is the LAN address the test server says it has; requests dial
// loopback and name it in Host, as a device on the LAN would.
const lanHost = "192.168.1.20"

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type lanTest struct {
	t       *testing.T
	s       *api.Server
	clock   *clock
	lanPort string
	der     []byte // the LAN certificate
	client  *http.Client
}

// newLANServer is an API serving the LAN on loopback (Host names lanHost),
// with a test clock, keeping devices in file ("": in memory).
func newLANServer(t *testing.T, file string, c *clock) *lanTest {
	t.Helper()
	certFile, keyFile := testcert.Write(t, net.ParseIP(lanHost))
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if c == nil {
		c = &clock{t: time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)}
	}
	s, err := api.Listen(api.Config{Addr: "127.0.0.1:0", Token: token, Mesh: &mesh.Mesh{}, Feed: &feed.Service{},
		Status: func() api.Status { return api.Status{Name: "hub"} }, Requests: &requests.Service{},
		Trust: func(peer.ID) error { return nil }, TrustedIssuers: func() []string { return nil }, Logger: quiet,
		LAN:         &api.LAN{Addr: "127.0.0.1:0", Certificate: pair, Hosts: []string{lanHost, "Hub.local"}},
		DevicesFile: file, Now: c.now, Events: &api.Hub{}, Anchors: &fakeAnchors{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	_, p, _ := net.SplitHostPort(s.LANAddr().String())
	lt := &lanTest{t: t, s: s, clock: c, lanPort: p, der: pair.Certificate[0]}
	lt.client = &http.Client{
		// The device checks the fingerprint itself (TestPairingFingerprint).
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(lt.client.CloseIdleConnections)
	return lt
}

// lan builds a request to the LAN listener with Host lanHost:port.
func (lt *lanTest) lan(method, path string, body io.Reader) *http.Request {
	lt.t.Helper()
	req, err := http.NewRequest(method, "https://"+lt.s.LANAddr().String()+path, body)
	if err != nil {
		lt.t.Fatal(err)
	}
	req.Host = lanHost + ":" + lt.lanPort
	return req
}

func (lt *lanTest) origin() string { return "https://" + lanHost + ":" + lt.lanPort }

func (lt *lanTest) do(req *http.Request) (int, string, http.Header) {
	lt.t.Helper()
	resp, err := lt.client.Do(req)
	if err != nil {
		lt.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(b), token) {
		lt.t.Errorf("%s %s: the reply carries the API token", req.Method, req.URL.Path)
	}
	for k := range resp.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			lt.t.Errorf("%s %s: CORS header %s", req.Method, req.URL.Path, k)
		}
	}
	return resp.StatusCode, string(b), resp.Header
}

// pairLink asks the loopback API (with the token) for a pairing link.
func (lt *lanTest) pairLink(name string) api.PairLink {
	lt.t.Helper()
	req, _ := http.NewRequest("POST", "http://"+lt.s.Addr().String()+"/api/v1/pair-links", strings.NewReader(`{"name":`+strconvQuote(name)+`}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	code, body, _ := do(lt.t, req)
	if code != 201 {
		lt.t.Fatalf("pair-links: %d %s", code, body)
	}
	var l api.PairLink
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		lt.t.Fatal(err)
	}
	return l
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// code is the link's one-time code.
func code(t *testing.T, link string) string {
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("code")
}

// redeem POSTs the pairing form as the pairing page does and returns the
// status and the device cookie (nil if none).
func (lt *lanTest) redeem(c string) (int, *http.Cookie) {
	lt.t.Helper()
	req := lt.lan("POST", "/pair", strings.NewReader(url.Values{"code": {c}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", lt.origin())
	resp, err := lt.client.Do(req)
	if err != nil {
		lt.t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	for _, ck := range resp.Cookies() {
		if strings.HasPrefix(ck.Name, "__Host-porchlight_session_lan_") {
			return resp.StatusCode, ck
		}
	}
	return resp.StatusCode, nil
}

// asDevice is a GET on the LAN with the device's cookie.
func (lt *lanTest) asDevice(ck *http.Cookie, path string) (int, string) {
	lt.t.Helper()
	req := lt.lan("GET", path, nil)
	if ck != nil {
		req.AddCookie(ck)
	}
	code, body, _ := lt.do(req)
	return code, body
}

func (lt *lanTest) revoke(id string) int {
	lt.t.Helper()
	req, _ := http.NewRequest("DELETE", "http://"+lt.s.Addr().String()+"/api/v1/devices/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	code, _, _ := do(lt.t, req)
	return code
}

func (lt *lanTest) devices(ck *http.Cookie) api.Devices {
	lt.t.Helper()
	code, body := lt.asDevice(ck, "/api/v1/devices")
	if code != 200 {
		lt.t.Fatalf("devices: %d %s", code, body)
	}
	var d api.Devices
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		lt.t.Fatal(err)
	}
	return d
}

// TestPairLinkWorksOnce: the link's page may be opened (and prefetched)
// without spending it; its form pairs once, with a Secure, HttpOnly,
// SameSite=Strict cookie; the code then never works again. Unpaired
// browsers and guessed codes are refused.
func TestPairLinkWorksOnce(t *testing.T) {
	lt := newLANServer(t, "", nil)
	if c, _ := lt.asDevice(nil, "/"); c != 401 {
		t.Fatalf("unpaired GET / = %d, want 401", c)
	}
	link := lt.pairLink("Ana's laptop")
	if !strings.HasPrefix(link.URL, "https://"+lanHost+":"+lt.lanPort+"/pair?code=") || len(link.Alternatives) != 1 ||
		!strings.HasPrefix(link.Alternatives[0], "https://hub.local:") || !strings.HasPrefix(link.QRSVG, "<svg") {
		t.Fatalf("link = %+v", link)
	}
	path := strings.TrimPrefix(link.URL, "https://"+lanHost+":"+lt.lanPort)
	for i := 0; i < 2; i++ {
		c, body := lt.asDevice(nil, path)
		if c != 200 || !strings.Contains(body, `action="/pair"`) || !strings.Contains(body, "Ana&#39;s laptop") {
			t.Fatalf("pairing page (visit %d) = %d %s", i+1, c, body)
		}
	}
	if c, ck := lt.redeem(strings.Repeat("ab", 32)); c != 403 || ck != nil {
		t.Fatalf("guessed code: %d %v", c, ck)
	}
	c, ck := lt.redeem(code(t, link.URL))
	if c != 200 || ck == nil {
		t.Fatalf("redeem: %d cookie %v", c, ck)
	}
	if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Errorf("device cookie %+v: want Secure, HttpOnly, SameSite=Strict", ck)
	}
	d := lt.devices(ck)
	if len(d.Devices) != 1 || d.Devices[0].Name != "Ana's laptop" || !d.Devices[0].Current || !d.LAN.On {
		t.Fatalf("devices = %+v", d)
	}
	if c, _ := lt.asDevice(ck, "/"); c != 200 {
		t.Fatalf("paired GET / = %d", c)
	}
	// Replaying the used link: refused, with no cookie; its page too.
	if c, ck2 := lt.redeem(code(t, link.URL)); c != 403 || ck2 != nil {
		t.Fatalf("replayed link: %d %v", c, ck2)
	}
	if c, body := lt.asDevice(nil, path); c != 403 || !strings.Contains(body, "link_used") {
		t.Fatalf("used link's page: %d %s", c, body)
	}
	if n := len(lt.devices(ck).Devices); n != 1 {
		t.Fatalf("%d devices after the replay, want 1", n)
	}
}

// TestPairLinkExpires: a link works for 10 minutes, and not a second more.
func TestPairLinkExpires(t *testing.T) {
	lt := newLANServer(t, "", nil)
	early, late := lt.pairLink("early"), lt.pairLink("late")
	if want := lt.clock.now().Add(10 * time.Minute); !early.Expires.Equal(want) {
		t.Errorf("expires %v, want %v", early.Expires, want)
	}
	lt.clock.add(10*time.Minute - time.Second)
	if c, ck := lt.redeem(code(t, early.URL)); c != 200 || ck == nil {
		t.Fatalf("at 9m59s: %d", c)
	}
	lt.clock.add(time.Second)
	if c, ck := lt.redeem(code(t, late.URL)); c != 403 || ck != nil {
		t.Fatalf("at 10m: %d %v, want 403", c, ck)
	}
}

// TestRevokeAtNextRequest: revoking a device refuses its very next request
// (a stolen cookie is worth nothing after it) and ends its event stream;
// a paired device can neither pair others nor revoke.
func TestRevokeAtNextRequest(t *testing.T) {
	lt := newLANServer(t, "", nil)
	_, ck := lt.redeem(code(t, lt.pairLink("phone").URL))
	lt.clock.add(time.Second) // the list is in order of pairing
	_, other := lt.redeem(code(t, lt.pairLink("laptop").URL))
	if ck == nil || other == nil {
		t.Fatal("pairing failed")
	}
	d := lt.devices(ck)
	if len(d.Devices) != 2 {
		t.Fatalf("devices = %+v", d)
	}
	id := d.Devices[0].ID

	// Hub-only actions, from the device (with its own origin).
	for _, r := range []struct{ method, path, body string }{
		{"DELETE", "/api/v1/devices/" + d.Devices[1].ID, ""},
		{"POST", "/api/v1/pair-links", "{}"},
		{"POST", "/api/v1/login-links", "{}"},
		{"POST", "/api/v1/trust", `{"issuer":"12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"}`},
		{"POST", "/api/v1/anchors", `{"addr":"/ip4/64.99.7.1/tcp/7781/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"}`},
		{"DELETE", "/api/v1/anchors/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA", ""},
		{"POST", "/api/v1/join", `{"invite":"x"}`},
	} {
		req := lt.lan(r.method, r.path, strings.NewReader(r.body))
		req.AddCookie(ck)
		req.Header.Set("Origin", lt.origin())
		req.Header.Set("Content-Type", "application/json")
		if c, body, _ := lt.do(req); c != 403 || !strings.Contains(body, "hub_only") {
			t.Errorf("%s %s from a device: %d %s, want 403 hub_only", r.method, r.path, c, body)
		}
	}

	// An open event stream of the device.
	req := lt.lan("GET", "/api/v1/events", nil)
	req.AddCookie(ck)
	resp, err := lt.client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("events: %v %v", resp, err)
	}
	defer resp.Body.Close()
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
		}
	}()

	if c := lt.revoke(id); c != 200 {
		t.Fatalf("revoke = %d", c)
	}
	if c, _ := lt.asDevice(ck, "/api/v1/devices"); c != 401 {
		t.Fatalf("the revoked device's next request = %d, want 401", c)
	}
	if c, _ := lt.asDevice(ck, "/"); c != 401 {
		t.Fatalf("the revoked device's UI = %d, want 401", c)
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked device's event stream is still open")
	}
	if c := lt.revoke(id); c != 404 {
		t.Fatalf("revoke again = %d, want 404", c)
	}
	if d := lt.devices(other); len(d.Devices) != 1 || d.Devices[0].Name != "laptop" {
		t.Fatalf("the other device: %+v", d)
	}
}

// TestLANHostAndOrigin: on the LAN listener the Host must be one of the
// node's LAN names (DNS rebinding), mutations must come from the exact
// origin (CSRF, also from another port of the same computer) as JSON, and
// neither the token nor a login session is taken there.
func TestLANHostAndOrigin(t *testing.T) {
	lt := newLANServer(t, "", nil)
	_, ck := lt.redeem(code(t, lt.pairLink("laptop").URL))
	if ck == nil {
		t.Fatal("pairing failed")
	}
	p := lt.lanPort
	hosts := []struct {
		host string
		want int
	}{
		{lanHost + ":" + p, 200},
		{"HUB.local:" + p, 200},
		{"hub.local.:" + p, 200},
		{"evil.example:" + p, 403},
		{lanHost + ".nip.io:" + p, 403},
		{"localhost:" + p, 403},
		{"127.0.0.1:" + p, 403},
		{"192.168.1.21:" + p, 403},
		{"", 403},
	}
	for _, h := range hosts {
		req := lt.lan("GET", "/api/v1/devices", nil)
		req.AddCookie(ck)
		req.Host = h.host
		if c, body, _ := lt.do(req); c != h.want {
			t.Errorf("Host %q: %d %s, want %d", h.host, c, body, h.want)
		}
	}
	// POST /api/v1/posts: the handler refuses {} with 400, after the guard.
	mut := []struct {
		name, origin, ctype string
		want                int
	}{
		{"same origin", lt.origin(), "application/json", 400},
		{"no Origin", "", "application/json", 403},
		{"http scheme", "http://" + lanHost + ":" + p, "application/json", 403},
		{"other port (another service on the hub)", "https://" + lanHost + ":8123", "application/json", 403},
		{"loopback origin", "http://127.0.0.1:" + p, "application/json", 403},
		{"rebinding origin", "https://evil.example:" + p, "application/json", 403},
		{"null origin", "null", "application/json", 403},
		{"form body", lt.origin(), "application/x-www-form-urlencoded", 415},
		{"text body", lt.origin(), "text/plain", 415},
	}
	for _, m := range mut {
		req := lt.lan("POST", "/api/v1/posts", strings.NewReader(`{}`))
		req.AddCookie(ck)
		if m.origin != "" {
			req.Header.Set("Origin", m.origin)
		}
		req.Header.Set("Content-Type", m.ctype)
		if c, body, _ := lt.do(req); c != m.want {
			t.Errorf("%s: %d %s, want %d", m.name, c, body, m.want)
		}
	}
	// The token and the loopback's login routes are not taken on the LAN.
	req := lt.lan("GET", "/api/v1/devices", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if c, _, _ := lt.do(req); c != 401 {
		t.Errorf("the API token on the LAN: %d, want 401", c)
	}
	if c, _ := lt.asDevice(nil, "/login?code="+strings.Repeat("ab", 32)); c != 404 {
		t.Errorf("GET /login on the LAN: %d, want 404", c)
	}
	// A cookie of the wrong name (a login session's) or value: refused.
	req = lt.lan("GET", "/api/v1/devices", nil)
	req.AddCookie(&http.Cookie{Name: ck.Name, Value: strings.Repeat("ab", 32)})
	if c, _, _ := lt.do(req); c != 401 {
		t.Errorf("a guessed device cookie: %d, want 401", c)
	}
	// The pairing routes answer on the LAN only.
	if c, _, _ := do(t, mustReq(t, "GET", "http://"+lt.s.Addr().String()+"/pair?code=x")); c != 404 {
		t.Errorf("GET /pair on loopback: %d, want 404", c)
	}
	// Pairing from another site's form (login CSRF) is refused.
	link := lt.pairLink("csrf")
	req = lt.lan("POST", "/pair", strings.NewReader(url.Values{"code": {code(t, link.URL)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if c, _, _ := lt.do(req); c != 403 {
		t.Errorf("pairing from a foreign origin: %d, want 403", c)
	}
}

func mustReq(t *testing.T, method, u string) *http.Request {
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestPairingFingerprint: the link's fp and the answer's fingerprint are
// the SHA-256 of the certificate the LAN listener presents, as browsers'
// certificate viewers show it.
func TestPairingFingerprint(t *testing.T) {
	lt := newLANServer(t, "", nil)
	link := lt.pairLink("")
	if link.Name != "Device 1" {
		t.Errorf("default name %q", link.Name)
	}
	conn, err := tls.Dial("tcp", lt.s.LANAddr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].Raw)
	want := strings.ToUpper(hex.EncodeToString(sum[:]))
	u, _ := url.Parse(link.URL)
	if fp := u.Query().Get("fp"); fp != want {
		t.Errorf("link fp = %s, want %s", fp, want)
	}
	if got := strings.ReplaceAll(link.Fingerprint, ":", ""); got != want || len(link.Fingerprint) != 95 {
		t.Errorf("fingerprint = %s, want %s in pairs", link.Fingerprint, want)
	}
	if api.Fingerprint(lt.der) != link.Fingerprint {
		t.Error("Fingerprint(der) differs from the link's")
	}
}

// TestDevicesSurviveRestart: paired devices (and revocations) are kept in
// the devices file; a pairing link is not.
func TestDevicesSurviveRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "devices.json")
	c := &clock{t: time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)}
	lt := newLANServer(t, file, c)
	_, ck := lt.redeem(code(t, lt.pairLink("kept").URL))
	lt.clock.add(time.Second) // the list is in order of pairing
	_, gone := lt.redeem(code(t, lt.pairLink("gone").URL))
	pending := lt.pairLink("pending")
	d := lt.devices(ck)
	if lt.revoke(d.Devices[1].ID) != 200 {
		t.Fatal("revoke")
	}
	lt.s.Close()

	lt2 := newLANServer(t, file, c)
	// The cookie names the LAN port: the new listener's differs in the test.
	ck.Name, gone.Name = "__Host-porchlight_session_lan_"+lt2.lanPort, "__Host-porchlight_session_lan_"+lt2.lanPort
	if d := lt2.devices(ck); len(d.Devices) != 1 || d.Devices[0].Name != "kept" {
		t.Fatalf("after restart: %+v", d)
	}
	if c, _ := lt2.asDevice(gone, "/api/v1/devices"); c != 401 {
		t.Fatalf("a device revoked before the restart: %d", c)
	}
	if c, _ := lt2.redeem(code(t, pending.URL)); c != 403 {
		t.Fatalf("a pairing link from before the restart: %d", c)
	}
}

// TestDeviceLastSeenAndIdle: each request moves the device's last seen;
// a device unused for 90 days is unpaired.
func TestDeviceLastSeenAndIdle(t *testing.T) {
	lt := newLANServer(t, "", nil)
	paired := lt.clock.now()
	_, ck := lt.redeem(code(t, lt.pairLink("tablet").URL))
	lt.clock.add(time.Hour)
	d := lt.devices(ck).Devices[0]
	if !d.FirstSeen.Equal(paired) || !d.LastSeen.Equal(paired.Add(time.Hour)) {
		t.Fatalf("first %v last %v, want %v and an hour later", d.FirstSeen, d.LastSeen, paired)
	}
	lt.clock.add(90 * 24 * time.Hour)
	if c, _ := lt.asDevice(ck, "/api/v1/devices"); c != 200 {
		t.Fatalf("after exactly 90 idle days: %d, want 200", c)
	}
	lt.clock.add(90*24*time.Hour + time.Second)
	if c, _ := lt.asDevice(ck, "/api/v1/devices"); c != 401 {
		t.Fatalf("after 90 idle days and a second: %d, want 401", c)
	}
}

// TestEveryRouteIsGuardedOnLAN enumerates the router's guarded routes and
// sends each to the LAN listener: without a device cookie, with the API
// token instead, with a rebinding or loopback Host, and (mutations) without
// the page's exact Origin or as a form: every one is refused, with no CORS
// header and no token in the reply (lanTest.do checks those).
func TestEveryRouteIsGuardedOnLAN(t *testing.T) {
	lt := newLANServer(t, "", nil)
	_, ck := lt.redeem(code(t, lt.pairLink("laptop").URL))
	if ck == nil {
		t.Fatal("pairing failed")
	}
	p := lt.lanPort
	if n := len(lt.s.Routes()); n < 12 {
		t.Fatalf("only %d routes: %v", n, lt.s.Routes())
	}
	tried := 0
	for _, route := range lt.s.Routes() {
		method, path, _ := strings.Cut(route, " ")
		path = strings.TrimSuffix(path, "{$}")
		path = strings.ReplaceAll(path, "{id}", strings.Repeat("ab", 32))
		path = strings.ReplaceAll(path, "{peer}", "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
		path = strings.ReplaceAll(path, "{file}", "app.js")
		mutating := method != "GET"
		withBody := method == "POST" || method == "PUT"
		type lanCase struct {
			name string
			edit func(*http.Request)
			want int
		}
		cases := []lanCase{
			{"no cookie", func(r *http.Request) {}, 401},
			{"the API token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, 401},
			{"rebinding Host", func(r *http.Request) { r.AddCookie(ck); r.Host = "evil.example:" + p }, 403},
			{"loopback Host", func(r *http.Request) { r.AddCookie(ck); r.Host = "localhost:" + p }, 403},
		}
		if mutating {
			cases = append(cases,
				lanCase{"no Origin", func(r *http.Request) { r.AddCookie(ck); r.Header.Del("Origin") }, 403},
				lanCase{"foreign Origin", func(r *http.Request) { r.AddCookie(ck); r.Header.Set("Origin", "https://evil.example") }, 403},
				lanCase{"another port's Origin", func(r *http.Request) { r.AddCookie(ck); r.Header.Set("Origin", "http://"+lanHost+":8123") }, 403},
			)
		}
		if withBody {
			cases = append(cases, lanCase{"form body", func(r *http.Request) {
				r.AddCookie(ck)
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}, 415})
		}
		for _, c := range cases {
			var body io.Reader
			if withBody {
				body = strings.NewReader(`{}`)
			}
			req := lt.lan(method, path, body)
			if withBody {
				req.Header.Set("Content-Type", "application/json")
			}
			if mutating {
				req.Header.Set("Origin", lt.origin())
			}
			c.edit(req)
			tried++
			if code, b, _ := lt.do(req); code != c.want {
				t.Errorf("%s on the LAN with %s: %d %s, want %d", route, c.name, code, b, c.want)
			}
		}
	}
	t.Logf("%d requests over %d routes, all refused", tried, len(lt.s.Routes()))
}
