package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/node"
)

// TestPairAndDevicesCLI: `pair` prints a link, its QR code and the
// certificate's fingerprint (and turns the LAN on); a browser pairs with
// the link; `devices` lists it; `devices revoke` refuses its next request.
func TestPairAndDevicesCLI(t *testing.T) {
	data := initNamedNode(t, "hub")
	cfg, err := node.LoadConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	c.LANAddr = "127.0.0.1:0"
	if err := node.SaveConfig(data, c); err != nil {
		t.Fatal(err)
	}
	logs := runInitialized(t, data)
	waitStatus(t, data, logs)

	out, stderr, code := cli(t, "--data", data, "devices")
	if code != 0 || !strings.Contains(out, "not serving the LAN") {
		t.Fatalf("devices before pairing: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = cli(t, "--data", data, "pair", "--name", "Ana's laptop")
	if code != 0 || !strings.Contains(out, "https://127.0.0.1:") || !strings.Contains(out, "/pair?code=") ||
		!strings.Contains(out, "SHA-256 fingerprint") || !strings.Contains(out, "█") || !strings.Contains(stderr, "warning") {
		t.Fatalf("pair: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = cli(t, "--data", data, "pair", "--name", "phone", "--json")
	var link api.PairLink
	if code != 0 || json.Unmarshal([]byte(out), &link) != nil {
		t.Fatalf("pair --json: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(link.URL, "fp="+strings.ReplaceAll(link.Fingerprint, ":", "")) {
		t.Fatalf("the link %s does not carry the fingerprint %s", link.URL, link.Fingerprint)
	}

	// The phone pairs, as the pairing page's form does.
	u, _ := url.Parse(link.URL)
	origin := u.Scheme + "://" + u.Host
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequest("POST", origin+"/pair", strings.NewReader(url.Values{"code": {u.Query().Get("code")}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if resp.StatusCode != 200 || len(cookies) != 1 {
		t.Fatalf("pairing: %d, cookies %v", resp.StatusCode, cookies)
	}
	get := func() int {
		req, _ := http.NewRequest("GET", origin+"/api/v1/status", nil)
		req.AddCookie(cookies[0])
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if c := get(); c != 200 {
		t.Fatalf("the paired phone's status: %d", c)
	}

	out, stderr, code = cli(t, "--data", data, "devices", "--json")
	var d api.Devices
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || len(d.Devices) != 1 || d.Devices[0].Name != "phone" || !d.LAN.On {
		t.Fatalf("devices --json: exit %d\n%s%s", code, out, stderr)
	}
	out, _, _ = cli(t, "--data", data, "devices")
	if !strings.Contains(out, "phone") || !strings.Contains(out, d.Devices[0].ID) || !strings.Contains(out, link.Fingerprint) {
		t.Fatalf("devices:\n%s", out)
	}
	if out, stderr, code = cli(t, "--data", data, "devices", "revoke", d.Devices[0].ID); code != 0 {
		t.Fatalf("devices revoke: exit %d\n%s%s", code, out, stderr)
	}
	if c := get(); c != 401 {
		t.Fatalf("the revoked phone's next request: %d, want 401", c)
	}
	if _, _, code = cli(t, "--data", data, "devices", "revoke", d.Devices[0].ID); code == 0 {
		t.Fatal("revoking again succeeded")
	}
}
