package transparency_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/transparency"
	"github.com/porchlight-mesh/porchlight/transparency/transparencytest"
)

// benchRequests is the history size the target names: a report
// over 10,000 requests in at most 1 s.
const benchRequests = 10_000

// BenchmarkTransparency computes the report (and writes its CSV) over one
// agency's 10,000 requests, each closed 40 minutes after it was made, one
// an hour for 14 months: 20,000 signed records checked by the real rules
// and stored in Badger on disk (setup, not timed). "cold" builds a new
// requests.Service for each report, so the agency's whole log is read and
// decoded from the store, as on the first report after a node starts;
// "warm" reuses one, as every later report does.
//
//	go test ./transparency/ -run '^$' -bench Transparency -benchtime 10x
func BenchmarkTransparency(b *testing.B) {
	base := utc(2025, 1, 1, 0, 0)
	h, err := transparencytest.New("Springfield PD", hood, base.Add(-24*time.Hour), base.Add(3*365*24*time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	for k := range benchRequests {
		created := base.Add(time.Duration(k) * time.Hour)
		req, err := h.Request(created, time.Duration(15+k%600)*time.Minute, 200+float64(k%100), fmt.Sprintf("SPD-%06d", k+1))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.Close(req, created.Add(40*time.Minute), ""); err != nil {
			b.Fatal(err)
		}
	}
	n := newNode(b, h.Issuer)
	if err := transparencytest.Load(n.svc, n.db, h); err != nil {
		b.Fatal(err)
	}
	now := base.Add(2 * 365 * 24 * time.Hour)
	report := func(b *testing.B, svc *requests.Service) {
		r, err := transparency.Compute(svc, transparency.Options{Now: now})
		if err != nil {
			b.Fatal(err)
		}
		var csv bytes.Buffer
		if err := r.WriteCSV(&csv); err != nil {
			b.Fatal(err)
		}
		if got := r.Agencies[0].Total.Requests; got != benchRequests {
			b.Fatalf("report counts %d requests, want %d", got, benchRequests)
		}
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			svc, err := requests.New(requests.Config{Store: n.db, Trusted: []peer.ID{h.Issuer}, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			report(b, svc)
		}
	})
	b.Run("warm", func(b *testing.B) {
		report(b, n.svc)
		for b.Loop() {
			report(b, n.svc)
		}
	})
}
