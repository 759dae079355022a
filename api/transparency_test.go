package api_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
	"github.com/porchlight-mesh/porchlight/transparency"
	"github.com/porchlight-mesh/porchlight/transparency/transparencytest"
)

// TestTransparencyRoute: GET /api/v1/transparency answers the report
// computed from the records held (JSON), the same report as a CSV download
// (?format=csv, with its file name), narrows by agency and since, and
// refuses bad parameters in words. The route is guarded like every other
// (TestEveryRouteIsGuarded enumerates it; checked here that it is listed).
func TestTransparencyRoute(t *testing.T) {
	h, err := transparencytest.New("Springfield PD", "maple-st", time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), time.Now().Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for i, created := range []time.Time{
		time.Date(2026, 1, 10, 18, 0, 0, 0, time.UTC), time.Date(2026, 1, 11, 18, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
	} {
		req, err := h.Request(created, 2*time.Hour, 300, "C-"+string(rune('1'+i)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Close(req, created.Add(time.Duration(i+1)*time.Hour), ""); err != nil {
			t.Fatal(err)
		}
	}
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := requests.New(requests.Config{Store: db, Trusted: []peer.ID{h.Issuer}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := transparencytest.Load(reqs, db, h); err != nil {
		t.Fatal(err)
	}
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	m, err := mesh.New(mesh.Config{Key: key, Store: db, Name: "test", ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet, Rules: reqs})
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.Listen(api.Config{Addr: "127.0.0.1:0", Token: token, Mesh: m, Feed: newFeed(t, m, db, noSharing{}), Logger: quiet, Requests: reqs,
		Trust: func(peer.ID) error { return nil }, TrustedIssuers: func() []string { return nil },
		Status: func() api.Status { return api.Status{Name: "test"} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		m.Close()
		db.Close()
	})
	if !slices.Contains(s.Routes(), "GET /api/v1/transparency") {
		t.Fatalf("the route is not registered as a guarded route: %v", s.Routes())
	}
	get := func(query string) (int, string, http.Header) {
		t.Helper()
		req := request(t, s, "GET /api/v1/transparency")
		req.URL.RawQuery = query
		return do(t, req)
	}

	code, body, hdr := get("")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("GET: %d %s %s", code, hdr.Get("Content-Type"), body)
	}
	var rep transparency.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	want, err := transparency.Compute(reqs, transparency.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, w := mustJSON(t, rep), mustJSON(t, want); got != w {
		t.Errorf("JSON report:\n got %s\nwant %s", got, w)
	}
	if len(rep.Agencies) != 1 || len(rep.Agencies[0].Months) != 3 || rep.Agencies[0].Months[1].Requests != 0 || rep.Agencies[0].Total.Requests != 3 {
		t.Errorf("report: %s", body)
	}

	code, body, hdr = get("format=csv")
	var csv bytes.Buffer
	if err := want.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	if code != 200 || hdr.Get("Content-Type") != "text/csv; charset=utf-8" || hdr.Get("Content-Disposition") != `attachment; filename="porchlight-transparency.csv"` || body != csv.String() {
		t.Errorf("CSV: %d %q %q\n%s\nwant\n%s", code, hdr.Get("Content-Type"), hdr.Get("Content-Disposition"), body, csv.String())
	}
	if n := strings.Count(body, "\r\n"); n != 4 {
		t.Errorf("CSV has %d lines, want a header and 3 months", n)
	}

	code, body, _ = get("agency=" + url.QueryEscape(h.Agency.String()) + "&since=2026-02")
	if err := json.Unmarshal([]byte(body), &rep); code != 200 || err != nil || len(rep.Agencies) != 1 || len(rep.Agencies[0].Months) != 2 || rep.Agencies[0].Total.Requests != 1 {
		t.Errorf("since February: %d %s", code, body)
	}

	_, stranger := newKey(t) // members_test.go
	for _, c := range []struct {
		query string
		code  int
		words string
	}{
		{"agency=nope", 400, "not a peer ID"},
		{"since=last+week", 400, "want a date"},
		{"format=xlsx", 400, "want json or csv"},
		{"agency=" + stranger.String(), 404, "no credential from a trusted issuer"},
	} {
		code, body, _ := get(c.query)
		if code != c.code || !strings.Contains(body, c.words) {
			t.Errorf("?%s: %d %s, want %d saying %q", c.query, code, body, c.code, c.words)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
