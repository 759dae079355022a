package mesh_test

import (
	"bufio"
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/porchlight-mesh/porchlight/mesh"
	meshpb "github.com/porchlight-mesh/porchlight/mesh/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// agencyRules is a Rules under which one author's log is an agency's (kept
// whole, never purged) and every other is a home's feed log.
type agencyRules struct{ agency peer.ID }

func (agencyRules) CheckEntry(*record.Signed) error                { return nil }
func (agencyRules) IngestDoc([]byte) (bool, error)                 { return false, nil }
func (agencyRules) DocIDs() ([]record.ID, error)                   { return nil, nil }
func (agencyRules) DocsNotIn(map[record.ID]bool) ([][]byte, error) { return nil, nil }
func (r agencyRules) Purgeable(a peer.ID) bool                     { return a != r.agency }

// history is a log signed by a test author, with created times in the past.
type history struct {
	key crypto.PrivKey
	id  peer.ID
	log []*record.Signed
}

func newHistory(t *testing.T) *history {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	return &history{key: key, id: id}
}

// add signs the log's next record, created at created, with body.
func (h *history) add(t *testing.T, created time.Time, body func(*pb.Entry)) *record.Signed {
	t.Helper()
	e := &pb.Entry{Author: []byte(h.id), Seq: uint64(len(h.log) + 1), Created: created.UnixMilli(), Neighborhood: "maple-st"}
	if n := len(h.log); n > 0 {
		e.Prev = h.log[n-1].ID[:]
	}
	body(e)
	s, err := record.Seal(e, h.key)
	if err != nil {
		t.Fatal(err)
	}
	h.log = append(h.log, s)
	return s
}

func postBody(text string) func(*pb.Entry) {
	return func(e *pb.Entry) { e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: text}} }
}

const day = 24 * time.Hour

// horizonHistory is a street of one home and one agency: the home's 40
// posts, seq i created 41-i days ago (plus an hour), and at seq 41 a
// retraction of seq 30; the agency's 10 posts, 40 to 31 days old. With a
// horizon of 20 days a newcomer's copy of the home's log starts at seq 20
// (the newest created before it); with the week's window, at seq 33.
func horizonHistory(t *testing.T) (home, agency *history) {
	t.Helper()
	now := time.Now()
	home, agency = newHistory(t), newHistory(t)
	for i := 1; i <= 40; i++ {
		home.add(t, now.Add(-time.Duration(41-i)*day+time.Hour), postBody("home"))
	}
	target := home.log[29]
	home.add(t, now.Add(-12*time.Hour), func(e *pb.Entry) {
		e.Body = &pb.Entry_Retraction{Retraction: &pb.Retraction{TargetSeq: target.Seq(), TargetHash: target.ID[:]}}
	})
	for i := 1; i <= 10; i++ {
		agency.add(t, now.Add(-time.Duration(41-i)*day), postBody("agency"))
	}
	return home, agency
}

func ingestAll(t *testing.T, db *store.DB, logs ...*history) {
	t.Helper()
	for _, h := range logs {
		for _, s := range h.log {
			if _, err := db.Ingest(s); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func headOf(n *testNode, a peer.ID) store.Head {
	h, _ := n.db.Head(a)
	return h
}

// TestNewcomerSyncsItsHorizon: with real hosts and stores, a newcomer
// with a horizon holds each feed log from the newest record created before
// it (its floor) to the head, with the retracted post as a stub, and
// agency logs whole; one with no horizon holds everything. Then the old
// node prunes (keeping the agency's log and the newest post before the
// horizon), and a newcomer syncing from it still completes its horizon.
func TestNewcomerSyncsItsHorizon(t *testing.T) {
	home, agency := horizonHistory(t)
	rules := agencyRules{agency: agency.id}
	old := newTestNodeWith(t, "old", "maple-st", func(c *mesh.Config) {
		c.Rules = rules
		c.Horizon = 20 * day
	})
	ingestAll(t, old.db, home, agency)

	all := newTestNodeWith(t, "forever", "maple-st", func(c *mesh.Config) { c.Rules = rules; c.Horizon = -1 })
	connect(t, all, old)
	eventually(t, 20*time.Second, "the newcomer without a horizon holds both logs from seq 1", func() bool {
		h, g := headOf(all, home.id), headOf(all, agency.id)
		return h.Contig == 41 && h.Floor == 0 && g.Contig == 10 && g.Floor == 0
	})
	all.stop()

	check := func(n *testNode) {
		t.Helper()
		horizon := time.Now().Add(-20 * day).UnixMilli()
		eventually(t, 20*time.Second, n.name+" holds the home's log from seq 20 and the agency's whole", func() bool {
			h, g := headOf(n, home.id), headOf(n, agency.id)
			return h.Contig == 41 && h.Floor == 20 && h.BackfillDone(horizon) && g.Contig == 10 && g.Floor == 0
		})
		for i, s := range home.log {
			_, err := n.db.Record(s.ID)
			if want := i >= 19 && i != 29; want != (err == nil) {
				t.Errorf("%s: seq %d held %v, want %v", n.name, i+1, err == nil, want)
			}
		}
		slots, _, err := n.db.Slots(home.id, 1, 100, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, sl := range slots {
			if sl.ID != home.log[sl.Seq-1].ID {
				t.Fatalf("%s: slot %d holds %.12s, not the home's record", n.name, sl.Seq, sl.ID)
			}
		}
		if len(slots) != 22 {
			t.Fatalf("%s: %d slots of the home's log, want 22 (20..41)", n.name, len(slots))
		}
	}
	fresh := newTestNodeWith(t, "newcomer", "maple-st", func(c *mesh.Config) { c.Rules = rules; c.Horizon = 20 * day })
	connect(t, fresh, old)
	check(fresh)
	fresh.stop()

	n, err := old.m.Prune(context.Background())
	if err != nil || n != 19 {
		t.Fatalf("Prune = %d, %v; want 19 (the home's seqs 1–19: seq 20 is the newest before the horizon, the agency's are kept)", n, err)
	}
	for _, s := range agency.log {
		if !has(old, s.ID) {
			t.Fatal("pruning purged an agency's post")
		}
	}
	late := newTestNodeWith(t, "late newcomer", "maple-st", func(c *mesh.Config) { c.Rules = rules; c.Horizon = 20 * day })
	connect(t, late, old)
	check(late)
}

// TestLyingPeerCannotShortenTheHorizon: a peer that starts a log inside
// the newcomer's horizon, serves a stub for a record the author never
// retracted, and a backdated copy of a record (signed by itself), makes
// the newcomer store none of it as final: the newcomer's backfill stays
// open, and an honest neighbor completes it, bodies included.
func TestLyingPeerCannotShortenTheHorizon(t *testing.T) {
	home, agency := horizonHistory(t)
	rules := agencyRules{agency: agency.id}

	rogueKey, _, _ := crypto.GenerateEd25519Key(nil)
	rogue, err := libp2p.New(libp2p.Identity(rogueKey), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	// A backdated seq 37: the home's entry, created 400 days ago, sealed
	// by the rogue (it has no other key).
	back, err := record.DecodeTrusted(home.log[36].Raw)
	if err != nil {
		t.Fatal(err)
	}
	back.Entry.Created = time.Now().Add(-400 * day).UnixMilli()
	forged, err := record.SealEnvelope(record.Domain, record.PayloadType, back.Entry, rogueKey)
	if err != nil {
		t.Fatal(err)
	}
	var lie [][]byte
	for _, s := range home.log[37:] { // 38..41
		lie = append(lie, s.Raw)
	}
	rogue.SetStreamHandler(mesh.SyncProtocol, func(st network.Stream) {
		defer st.Close()
		req := new(meshpb.SyncRequest)
		if err := (protodelim.UnmarshalOptions{MaxSize: 1 << 20}).UnmarshalFrom(bufio.NewReader(st), req); err != nil {
			st.Reset()
			return
		}
		_, _ = protodelim.MarshalTo(st, &meshpb.SyncResponse{
			Neighborhood: req.GetNeighborhood(),
			Records:      lie,
			Starts:       []*meshpb.Stub{{Author: []byte(home.id), Seq: 38, Id: home.log[37].ID[:]}},
			Back: []*meshpb.Back{
				{Stub: &meshpb.Stub{Author: []byte(home.id), Seq: 37, Id: home.log[36].ID[:]}},
				{Record: forged},
			},
		})
	})

	n := newTestNodeWith(t, "newcomer", "maple-st", func(c *mesh.Config) {
		c.Rules = rules
		c.Horizon = 20 * day
		c.SyncInterval = time.Second // pull the rogue again and again
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.m.Connect(ctx, peer.AddrInfo{ID: rogue.ID(), Addrs: rogue.Addrs()}); err != nil {
		t.Fatal(err)
	}
	horizon := time.Now().Add(-20 * day).UnixMilli()
	eventually(t, 10*time.Second, "the newcomer holds the rogue's start at seq 38", func() bool {
		return headOf(n, home.id).Contig == 41
	})
	// Let a few rounds with the rogue run.
	eventually(t, 10*time.Second, "more pulls from the rogue", func() bool { return n.m.SyncRounds("client", "ok") >= 8 })
	h := headOf(n, home.id)
	if h.Floor != 38 || h.BackfillDone(horizon) {
		t.Fatalf("after the rogue: %+v; want floor 38 and the backfill still to do", h)
	}
	if slots, _, _ := n.db.Slots(home.id, 1, 100, 1<<20); len(slots) != 4 {
		t.Fatalf("the newcomer holds %d slots after the rogue, want 38..41 only (no stub for 37)", len(slots))
	}

	old := newTestNodeWith(t, "old", "maple-st", func(c *mesh.Config) { c.Rules = rules; c.Horizon = 20 * day })
	ingestAll(t, old.db, home, agency)
	connect(t, n, old)
	eventually(t, 20*time.Second, "an honest neighbor completes the backfill to seq 20", func() bool {
		h := headOf(n, home.id)
		return h.Floor == 20 && h.BackfillDone(horizon)
	})
	if !has(n, home.log[36].ID) {
		t.Fatal("seq 37 (never retracted) is not held with its content")
	}
}
