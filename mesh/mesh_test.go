package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"

	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Process-wide workers started once by libp2p/badger dependencies.
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/tcp.init.0.func1"),
	)
}

var quiet = slog.New(slog.NewTextHandler(testOut(), &slog.HandlerOptions{Level: slog.LevelDebug}))

func testOut() io.Writer {
	if os.Getenv("MESH_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

// testNode is one in-process node: a real Badger store on disk and a real
// libp2p host on 127.0.0.1.
type testNode struct {
	t    *testing.T
	dir  string
	key  crypto.PrivKey
	name string
	nb   string
	db   *store.DB
	m    *mesh.Mesh

	configure func(*mesh.Config) // optional
}

func newTestNode(t *testing.T, name, nb string) *testNode {
	t.Helper()
	return newTestNodeWith(t, name, nb, nil)
}

// newTestNodeWith is newTestNode with a hook that adjusts the mesh config.
func newTestNodeWith(t *testing.T, name, nb string, configure func(*mesh.Config)) *testNode {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{t: t, dir: t.TempDir(), key: key, name: name, nb: nb, configure: configure}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *testNode) start() {
	n.t.Helper()
	db, err := store.Open(store.Config{Dir: n.dir, Neighborhood: n.nb, Logger: quiet})
	if err != nil {
		n.t.Fatal(err)
	}
	cfg := mesh.Config{
		Key: n.key, Store: db, Name: n.name,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Logger:      quiet,
	}
	if n.configure != nil {
		n.configure(&cfg)
	}
	m, err := mesh.New(cfg)
	if err != nil {
		db.Close()
		n.t.Fatal(err)
	}
	n.db, n.m = db, m
}

func (n *testNode) stop() {
	if n.m != nil {
		if err := n.m.Close(); err != nil {
			n.t.Errorf("close mesh: %v", err)
		}
		if err := n.db.Close(); err != nil {
			n.t.Errorf("close store: %v", err)
		}
		n.m, n.db = nil, nil
	}
}

func (n *testNode) info() peer.AddrInfo {
	return peer.AddrInfo{ID: n.m.ID(), Addrs: n.m.Host().Addrs()}
}

func connect(t *testing.T, a, b *testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.m.Connect(ctx, b.info()); err != nil {
		t.Fatalf("connect %s -> %s: %v", a.name, b.name, err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func has(n *testNode, id record.ID) bool {
	_, err := n.db.Record(id)
	return err == nil
}

// appendPost writes a post to m's log: the mesh carries it like any
// record (package feed builds posts for the node).
func appendPost(m *mesh.Mesh, text string) (*record.Signed, error) {
	return m.Append(func(e *pb.Entry) { e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: text}} })
}

// feedOf is the feed as n shows it.
func feedOf(t *testing.T, n *testNode) []feed.Post {
	t.Helper()
	f, err := feed.New(feed.Config{Log: n.m, Store: n.db})
	if err != nil {
		t.Fatal(err)
	}
	posts, err := f.List(10)
	if err != nil {
		t.Fatal(err)
	}
	return posts
}

func post(t *testing.T, n *testNode, text string) record.ID {
	t.Helper()
	s, err := appendPost(n.m, text)
	if err != nil {
		t.Fatalf("post on %s: %v", n.name, err)
	}
	return s.ID
}

func TestFiveNodesPostReachesAll(t *testing.T) {
	var nodes []*testNode
	for i := range 5 {
		nodes = append(nodes, newTestNodeWith(t, fmt.Sprintf("home-%d", i), "maple-st", noPeerExchange))
	}
	// A line: gossip must be relayed, not only sent to direct neighbors
	// (so no introductions by address book).
	for i := 1; i < len(nodes); i++ {
		connect(t, nodes[i-1], nodes[i])
	}
	id := post(t, nodes[0], "Lost grey cat near the park")
	took := eventually(t, 15*time.Second, "post reaches all five nodes", func() bool {
		for _, n := range nodes {
			if !has(n, id) {
				return false
			}
		}
		return true
	})
	t.Logf("post reached 5 nodes (line topology) in %s", took)
	feed := feedOf(t, nodes[4])
	if len(feed) != 1 || feed[0].Text != "Lost grey cat near the park" || feed[0].AuthorName != "home-0" {
		t.Fatalf("feed on the far end = %+v, want the post by home-0", feed)
	}
	eventually(t, 10*time.Second, "peers list neighbors by name", func() bool {
		ps := nodes[2].m.Peers()
		return len(ps) == 2 && ps[0].Name != "" && ps[1].Name != ""
	})
}

func TestRestartedNodeCatchesUp(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	b := newTestNode(t, "b", "maple-st")
	c := newTestNode(t, "c", "maple-st")
	connect(t, a, b)
	connect(t, b, c)
	first := post(t, a, "before the restart")
	eventually(t, 10*time.Second, "first post reaches c", func() bool { return has(c, first) })

	c.stop()
	var missed []record.ID
	for i := range 3 {
		missed = append(missed, post(t, a, fmt.Sprintf("while c was off %d", i)))
		missed = append(missed, post(t, b, fmt.Sprintf("b while c was off %d", i)))
	}
	c.start()
	connect(t, c, b)
	took := eventually(t, 10*time.Second, "restarted node has every missed post", func() bool {
		for _, id := range missed {
			if !has(c, id) {
				return false
			}
		}
		return true
	})
	t.Logf("caught up on %d posts in %s", len(missed), took)
}

func TestSeparateGroupsConvergeOnConnect(t *testing.T) {
	g1 := []*testNode{newTestNode(t, "g1a", "maple-st"), newTestNode(t, "g1b", "maple-st")}
	g2 := []*testNode{newTestNode(t, "g2a", "maple-st"), newTestNode(t, "g2b", "maple-st")}
	connect(t, g1[0], g1[1])
	connect(t, g2[0], g2[1])
	var ids []record.ID
	for i, n := range append(append([]*testNode{}, g1...), g2...) {
		ids = append(ids, post(t, n, fmt.Sprintf("post %d from %s", i, n.name)))
	}
	all := append(append([]*testNode{}, g1...), g2...)
	connect(t, g1[1], g2[0])
	eventually(t, 15*time.Second, "both groups hold every post", func() bool {
		for _, n := range all {
			for _, id := range ids {
				if !has(n, id) {
					return false
				}
			}
		}
		return true
	})
}

func TestOtherNeighborhoodIsRefused(t *testing.T) {
	a := newTestNode(t, "maple", "maple-st")
	b := newTestNode(t, "oak", "oak-ave")
	post(t, b, "oak news")
	connect(t, a, b)
	// The sync handshake refuses and disconnects; neither lists the other.
	eventually(t, 10*time.Second, "the nodes disconnect", func() bool {
		return len(a.m.Host().Network().ConnsToPeer(b.m.ID())) == 0
	})
	if ps := a.m.Peers(); len(ps) != 0 {
		t.Fatalf("peers of maple = %v, want none", ps)
	}
	if feed := feedOf(t, a); len(feed) != 0 {
		t.Fatalf("maple's feed has %d posts from oak-ave, want none", len(feed))
	}
}

func TestRetractionPurgesEverywhere(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	b := newTestNode(t, "b", "maple-st")
	connect(t, a, b)
	id := post(t, a, "oops, wrong street")
	eventually(t, 10*time.Second, "post reaches b", func() bool { return has(b, id) })
	fa, err := feed.New(feed.Config{Log: a.m, Store: a.db})
	if err != nil {
		t.Fatal(err)
	}
	fb, err := feed.New(feed.Config{Log: b.m, Store: b.db})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fb.Retract(id); !errors.Is(err, feed.ErrNotOwnPost) {
		t.Fatalf("b retracting a's post = %v, want ErrNotOwnPost", err)
	}
	if _, err := fa.Retract(id); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "b purges the retracted post", func() bool { return !has(b, id) })
	if feed := feedOf(t, b); len(feed) != 0 {
		t.Fatalf("b's feed still has %v", feed)
	}

	// A node that joins later gets the purged slot as a stub and the log
	// still verifies up to the head.
	c := newTestNode(t, "c", "maple-st")
	connect(t, c, a)
	ha, _ := a.db.Head(a.m.ID())
	eventually(t, 10*time.Second, "newcomer has a's whole log", func() bool {
		h, _ := c.db.Head(a.m.ID())
		return h.Contig == ha.Max
	})
	if has(c, id) {
		t.Fatal("newcomer received the retracted content")
	}
}

func TestLostDiskRecoversOwnLog(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	b := newTestNode(t, "b", "maple-st")
	connect(t, a, b)
	var ids []record.ID
	for i := range 3 {
		ids = append(ids, post(t, a, fmt.Sprintf("mine %d", i)))
	}
	eventually(t, 10*time.Second, "b holds a's posts", func() bool { return has(b, ids[2]) })
	before, _ := a.db.Head(a.m.ID())

	a.stop()
	if err := os.RemoveAll(a.dir); err != nil {
		t.Fatal(err)
	}
	a.start() // same key, empty disk
	connect(t, a, b)
	eventually(t, 10*time.Second, "a gets its own log back", func() bool {
		h, _ := a.db.Head(a.m.ID())
		return h.Contig == before.Max
	})
	// Writing again continues the old log instead of forking it.
	next := post(t, a, "back again")
	eventually(t, 10*time.Second, "b accepts the continuation", func() bool { return has(b, next) })
	if h, _ := b.db.Head(a.m.ID()); h.Flagged {
		t.Fatal("a's recovered log forked: b flagged it")
	}
}

// TestUncleanRestartContinuesLog: a record that reached a neighbor but not
// this node's disk (power lost between gossip and fsync) is fetched back
// before this node writes again, so its log is continued, not forked.
func TestUncleanRestartContinuesLog(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	b := newTestNode(t, "b", "maple-st")
	connect(t, a, b)
	first := post(t, a, "before the outage")
	eventually(t, 10*time.Second, "b has a's post", func() bool { return has(b, first) })

	// The record a gossiped just before the power went: b has it, a's disk
	// does not.
	h, _ := a.db.Head(a.m.ID())
	lost, err := record.Seal(&pb.Entry{
		Author: []byte(a.m.ID()), Seq: h.Max + 1, Prev: h.ID[:], Created: time.Now().UnixMilli(),
		Neighborhood: "maple-st", Body: &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: "lost in the outage"}},
	}, a.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Ingest(lost); err != nil {
		t.Fatal(err)
	}
	// Crash: no clean Close of the store.
	if err := a.m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.db.Close(); err != nil {
		t.Fatal(err)
	}
	// The marker of a clean shutdown that Close wrote would not be there.
	if err := os.Remove(filepath.Join(a.dir, "porchlight-clean-shutdown")); err != nil {
		t.Fatal(err)
	}
	a.m, a.db = nil, nil
	a.start()
	if a.db.CleanStart() {
		t.Fatal("restart after a crash counts as clean")
	}
	connect(t, a, b)
	next := post(t, a, "after the outage")
	if s, _ := a.db.Record(next); s.Seq() != lost.Seq()+1 {
		t.Fatalf("a wrote seq %d after the outage, want %d (after the record it lost)", s.Seq(), lost.Seq()+1)
	}
	eventually(t, 10*time.Second, "b accepts the continuation", func() bool { return has(b, next) })
	if hb, _ := b.db.Head(a.m.ID()); hb.Flagged {
		t.Fatal("a forked its own log after the outage")
	}
}

// TestRestoredKeyDoesNotEquivocate: a home restores only its key onto a
// fresh database and restarts before any neighbor is reachable. It used to
// write its profile as seq 1 again after 3 s alone, forking its own log:
// every neighbor flagged it as an equivocator for good. It now waits for a
// neighbor to return its log, however long that takes.
func TestRestoredKeyDoesNotEquivocate(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	b := newTestNode(t, "b", "maple-st")
	connect(t, a, b)
	var ids []record.ID
	for i := range 3 {
		ids = append(ids, post(t, a, fmt.Sprintf("history %d", i)))
	}
	eventually(t, 10*time.Second, "b holds a's posts", func() bool { return has(b, ids[2]) })
	before, _ := a.db.Head(a.m.ID())

	a.stop()
	if err := os.RemoveAll(a.dir); err != nil {
		t.Fatal(err)
	}
	a.configure = func(c *mesh.Config) { c.KeyMayHaveLog = true }
	a.start() // same key, empty database, no neighbor yet
	// A post while alone waits 10 s, longer than the 3 s a lone node waits
	// before writing its profile, then fails.
	if _, err := appendPost(a.m, "too early"); !errors.Is(err, mesh.ErrAwaitingLog) {
		t.Fatalf("post before any neighbor returned the log: err = %v, want ErrAwaitingLog", err)
	}
	if h, _ := a.db.Head(a.m.ID()); h.Max != 0 {
		t.Fatalf("a wrote seq %d before any neighbor returned its log", h.Max)
	}
	connect(t, a, b)
	eventually(t, 10*time.Second, "a gets its own log back", func() bool {
		h, _ := a.db.Head(a.m.ID())
		return h.Contig >= before.Max
	})
	next := post(t, a, "back again")
	eventually(t, 10*time.Second, "b accepts the continuation", func() bool { return has(b, next) })
	if h, _ := b.db.Head(a.m.ID()); h.Flagged {
		t.Fatal("a forked its own log after the restore: b flags it")
	}
	if s, _ := a.db.Record(next); s.Seq() != before.Max+1 {
		t.Fatalf("a wrote seq %d after the restore, want %d", s.Seq(), before.Max+1)
	}
}

// TestNewFailsCleanly: a mesh that fails after its host started (here its
// store is closed under it) returns the error and does not panic.
func TestNewFailsCleanly(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	m, err := mesh.New(mesh.Config{Key: key, Store: db, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet, KeyMayHaveLog: true})
	if err == nil {
		m.Close()
		t.Fatal("mesh.New started on a closed store")
	}
	if m != nil {
		t.Errorf("mesh.New returned a mesh with its error %v", err)
	}
}
