package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// TestYearHistory generates a small street's history as the year
// benchmark does and checks what the store then holds: every post's slot,
// the retracted posts out of the feed, and each agency's requests closed
// with their yields counted.
func TestYearHistory(t *testing.T) {
	const (
		homes, days, perDay, retractEvery = 7, 3, 5, 4
		agencies, nreq                    = 2, 6
	)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := filepath.Join(t.TempDir(), "db")
	db, err := store.Open(store.Config{Dir: dir, Neighborhood: yearHood, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	issuerKey, issuer, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	span := time.Duration(days) * 24 * time.Hour
	base := time.Now().Add(-span)
	g := &yearGen{span: span}
	ctx := context.Background()
	if err := yearPosts(ctx, db, g, homes, days, perDay, retractEvery, base); err != nil {
		t.Fatal(err)
	}
	if err := yearAgencyLogs(ctx, db, g, issuerKey, issuer, agencies, nreq, base, span, 1); err != nil {
		t.Fatal(err)
	}
	posts := homes * days * perDay
	if g.posts != posts || g.retractions != posts/retractEvery || g.requests != nreq || g.agencyRecs != 4*nreq {
		t.Fatalf("generated %d posts, %d retractions, %d requests, %d agency records; want %d, %d, %d, %d",
			g.posts, g.retractions, g.requests, g.agencyRecs, posts, posts/retractEvery, nreq, 4*nreq)
	}
	feed, err := db.Feed(posts+1, store.Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	if want := posts - posts/retractEvery; len(feed) != want {
		t.Errorf("feed holds %d posts, want %d (retracted posts left out)", len(feed), want)
	}
	svc, err := requests.New(requests.Config{Store: db, Trusted: []peer.ID{issuer}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	items, err := svc.List("", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != nreq {
		t.Fatalf("List: %d requests, want %d", len(items), nreq)
	}
	for _, it := range items {
		if !it.Closed || it.Yield.Records != 1 || it.Yield.Clips < 1 || len(it.Notes) < 1 {
			t.Errorf("request %s: closed %v, %d yield records, %d clips, %d notes; want closed, 1 yield of at least 1 clip, a note",
				it.Case, it.Closed, it.Yield.Records, it.Yield.Clips, len(it.Notes))
		}
	}
}
