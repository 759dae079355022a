package api_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/internal/testcert"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/requests"
)

// TestAllowRemote: a non-loopback address needs AllowRemote and TLS; then
// the API speaks only HTTPS, and the Host and Origin checks accept exactly
// loopback and the names the certificate covers.
func TestAllowRemote(t *testing.T) {
	cert, key := testcert.Write(t, net.ParseIP("127.0.0.1"))
	base := func() api.Config {
		return api.Config{Token: token, Mesh: &mesh.Mesh{}, Feed: &feed.Service{}, Status: func() api.Status { return api.Status{} },
			Requests: &requests.Service{}, Trust: func(peer.ID) error { return nil }, TrustedIssuers: func() []string { return nil }, Logger: quiet}
	}
	refusals := []struct {
		name string
		edit func(*api.Config)
		want string
	}{
		{"remote without the flag", func(c *api.Config) { c.Addr = "0.0.0.0:0" }, "--api-allow-remote"},
		{"remote without TLS", func(c *api.Config) { c.Addr, c.AllowRemote = "0.0.0.0:0", true }, "needs TLS"},
		{"a certificate without its key", func(c *api.Config) { c.Addr, c.AllowRemote, c.TLSCert = "0.0.0.0:0", true, cert }, "both"},
		{"an unreadable certificate", func(c *api.Config) {
			c.Addr, c.AllowRemote, c.TLSCert, c.TLSKey = "0.0.0.0:0", true, cert+".missing", key
		}, "load TLS certificate"},
	}
	for _, r := range refusals {
		cfg := base()
		r.edit(&cfg)
		if _, err := api.Listen(cfg); err == nil || !strings.Contains(err.Error(), r.want) {
			t.Errorf("%s: Listen = %v, want an error mentioning %q", r.name, err, r.want)
		}
	}

	cfg := base()
	cfg.Addr, cfg.AllowRemote, cfg.TLSCert, cfg.TLSKey = "0.0.0.0:0", true, cert, key
	s, err := api.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.TLS() {
		t.Fatal("TLS() = false")
	}
	_, port, _ := net.SplitHostPort(s.Addr().String())
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // the test's own certificate
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	call := func(method, host, origin string) int {
		req, _ := http.NewRequest(method, "https://127.0.0.1:"+port+"/api/v1/trust", strings.NewReader(`{"issuer":"x"}`))
		req.Host = host
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		name, method, host, origin string
		want                       int
	}{
		{"loopback", "GET", "127.0.0.1:" + port, "", 200},
		{"a name the certificate covers", "GET", "porch.example:" + port, "", 200},
		{"the same name, in capitals", "GET", "PORCH.EXAMPLE", "", 200},
		{"a name it does not cover", "GET", "evil.example:" + port, "", 403},
		{"a covered name as a suffix", "GET", "porch.example.evil.example", "", 403},
		{"a post from the covered origin", "POST", "porch.example:" + port, "https://porch.example:" + port, 400}, // past the guard: the body's issuer is bad
		{"a post from a foreign origin", "POST", "porch.example:" + port, "https://evil.example", 403},
	}
	for _, c := range cases {
		if got := call(c.method, c.host, c.origin); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	// Plain HTTP gets no API.
	if resp, err := http.Get("http://127.0.0.1:" + port + "/api/v1/status"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP was answered")
		}
		resp.Body.Close()
	}
}
