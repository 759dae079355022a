package mesh_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/store"
)

// newSkewedNode is a test node whose clock runs skew ahead of the real one.
func newSkewedNode(t *testing.T, name, nb string, skew *atomic.Int64) *testNode {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{t: t, dir: t.TempDir(), key: key, name: name, nb: nb}
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	db, err := store.Open(store.Config{Dir: n.dir, Neighborhood: nb, Logger: quiet, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mesh.New(mesh.Config{
		Key: key, Store: db, Name: name, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet,
		Now: now,
	})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	n.db, n.m = db, m
	t.Cleanup(n.stop)
	return n
}

// One neighbor (or one stranger's record) dated in the future says that
// neighbor's clock is wrong, not this node's; only when most neighbors are
// ahead is this clock behind (issue 11 item 18).
func TestClockIsJudgedFromSeveralNeighbors(t *testing.T) {
	var zero atomic.Int64
	self := newSkewedNode(t, "self", "clock", &zero)
	skews := make([]*atomic.Int64, 3)
	var others []*testNode
	for i := range skews {
		skews[i] = new(atomic.Int64)
		n := newSkewedNode(t, "n", "clock", skews[i])
		connect(t, n, self)
		others = append(others, n)
	}
	eventually(t, 15*time.Second, "three neighbors", func() bool { return len(self.m.Peers()) == 3 })

	// Each neighbor posts until self has seen its own record; a record
	// dated in the future is refused, but still counted.
	observe := func(want func(mesh.ClockReport) bool, what string) mesh.ClockReport {
		t.Helper()
		var r mesh.ClockReport
		var last time.Time
		eventually(t, 30*time.Second, what, func() bool {
			// A few posts a second: well inside the per-peer gossip budget.
			if time.Since(last) > 300*time.Millisecond {
				last = time.Now()
				for _, n := range others {
					post(t, n, "hello")
				}
			}
			r = self.m.Clock()
			return want(r)
		})
		return r
	}
	skews[0].Store(int64(time.Hour))
	r := observe(func(r mesh.ClockReport) bool { return r.Observed == 3 && r.Ahead == 1 }, "one neighbor ahead of three")
	t.Logf("one neighbor an hour ahead: %+v", r)
	if r.Median > time.Minute || r.Median < -time.Minute {
		t.Errorf("median offset %v with one neighbor of three ahead; want about 0", r.Median)
	}

	skews[1].Store(int64(time.Hour))
	skews[2].Store(int64(time.Hour))
	r = observe(func(r mesh.ClockReport) bool { return r.Ahead == 3 }, "all three neighbors ahead")
	t.Logf("all neighbors an hour ahead: %+v", r)
	if r.Median < 59*time.Minute {
		t.Errorf("median offset %v, want about an hour", r.Median)
	}
}
