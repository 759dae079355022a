package node_test

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
)

// TestNewHomeSyncsItsHorizon: real nodes. A home holds forty days of a
// neighbor's posts and an agency's log; a new home started with
// --horizon 20d holds the neighbor's log from its newest post older than
// 20 days (the floor) to its head, and the agency's log and credential
// whole. A horizon shorter than a week is refused at start.
func TestNewHomeSyncsItsHorizon(t *testing.T) {
	ikey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	issuer, _ := peer.IDFromPrivateKey(ikey)
	initT := initTrusting(t, issuer)
	const loc = "40.7128,-74.0060"

	old := start(t, initT("12 Maple St", loc))
	defer old.Close()
	agDir := initT("Springfield PD", "")
	ag := start(t, agDir, addrOf(old))
	defer ag.Close()
	certify(t, ikey, ag)
	postRequest(t, agDir, "case-1")
	pollUntil(t, 20*time.Second, "the old home holds the agency's request", func() bool {
		h, _ := old.Store().Head(ag.ID())
		return old.Requests().IsAgency(ag.ID()) && h.Contig >= 1
	})

	// A neighbor's forty days, signed with its key, seq i created 41-i
	// days ago (plus an hour).
	nkey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	nid, _ := peer.IDFromPrivateKey(nkey)
	var prev record.ID
	var logged []*record.Signed
	for i := 1; i <= 40; i++ {
		e := &pb.Entry{Author: []byte(nid), Seq: uint64(i), Neighborhood: "maple-st",
			Created: time.Now().Add(-time.Duration(41-i)*24*time.Hour + time.Hour).UnixMilli(),
			Body:    &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: "an older post"}}}
		if i > 1 {
			e.Prev = prev[:]
		}
		s, err := record.Seal(e, nkey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.Store().Ingest(s); err != nil {
			t.Fatal(err)
		}
		prev, logged = s.ID, append(logged, s)
	}
	agHead, _ := old.Store().Head(ag.ID())

	newDir := initT("14 Maple St", loc)
	if _, err := node.Start(node.Options{Dir: newDir, DisableMDNS: true, Logger: quiet, Horizon: "3d"}); err == nil || !strings.Contains(err.Error(), "365d") {
		t.Fatalf("start with --horizon 3d: %v; want refused, saying what to write", err)
	}
	fresh, err := node.Start(node.Options{Dir: newDir, Peers: []string{addrOf(old)}, DisableMDNS: true, Logger: quiet, Horizon: "20d"})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	horizon := time.Now().Add(-20 * 24 * time.Hour).UnixMilli()
	pollUntil(t, 30*time.Second, "the new home holds the neighbor's horizon and the agency's log", func() bool {
		h, _ := fresh.Store().Head(nid)
		g, _ := fresh.Store().Head(ag.ID())
		return h.Contig == 40 && h.Floor == 20 && h.BackfillDone(horizon) &&
			fresh.Requests().IsAgency(ag.ID()) && g.Contig == agHead.Contig && g.Floor == 0
	})
	for i, s := range logged {
		_, err := fresh.Store().Record(s.ID)
		if want := i >= 19; want != (err == nil) {
			t.Errorf("the neighbor's seq %d held %v, want %v", i+1, err == nil, want)
		}
	}
}

// TestParseHorizon: config.toml's horizon and run --horizon.
func TestParseHorizon(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", mesh.DefaultHorizon, true},
		{"365d", 365 * 24 * time.Hour, true},
		{"90d", 90 * 24 * time.Hour, true},
		{"720h", 720 * time.Hour, true},
		{"forever", -1, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"6d", 0, false},  // shorter than the newcomer's week
		{"1h", 0, false},  // likewise
		{"0d", 0, false},  // not "keep nothing"
		{"-5d", 0, false}, // negative
		{"1y", 0, false},  // not a unit
		{"d", 0, false},
	} {
		got, err := node.ParseHorizon(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseHorizon(%q) = %v, %v; want %v, ok %v", c.in, got, err, c.want, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "365d") {
			t.Errorf("ParseHorizon(%q): error %q does not say what to write", c.in, err)
		}
	}
}
