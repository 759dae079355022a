package sharing

import (
	"context"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// TestHoldsEndFromTheIndex: a grant that expires releases exactly its own
// clips; a clip two grants share stays held until both have ended (one
// expired, one revoked); a third grant's clip stays held; and the keeper
// goes by the index alone: a clip held by hand, which no hold of the
// index names, is left alone.
func TestHoldsEndFromTheIndex(t *testing.T) {
	h := newHome(t, nil)
	c1, c2, c3, byHand := h.importClip(1, 70_000), h.importClip(2, 70_000), h.importClip(3, 70_000), h.importClip(4, 70_000)
	ctx := context.Background()
	if err := h.store.Hold(ctx, byHand.ClipID()); err != nil {
		t.Fatal(err)
	}
	short, _, err := h.svc.Share(ctx, "", ids(c1, c2), record.ID{}, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	long, _, err := h.svc.Share(ctx, "", ids(c2, c3), record.ID{}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	third, _, err := h.svc.Share(ctx, "", ids(c3), record.ID{}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*clips.SignedManifest{c1, c2, c3} {
		if !h.held(m.ClipID()) {
			t.Fatalf("shared clip %.12s not held", m.ClipID())
		}
	}
	if n := len(h.holds()); n != 5 {
		t.Fatalf("%d holds in the index, want 5 (one per grant and clip)", n)
	}

	waitFor(t, "the expired grant's clip to be released", func() bool { return !h.held(c1.ClipID()) })
	if !h.held(c2.ClipID()) || !h.held(c3.ClipID()) {
		t.Fatal("a clip another grant still covers was released with the expired grant")
	}
	waitFor(t, "the expired grant's holds to leave the index", func() bool { return len(h.holds()) == 3 })
	for _, x := range h.holds() {
		if x.grant == short.GrantID() {
			t.Fatalf("hold of the expired grant left in the index: %+v", x)
		}
	}

	if err := h.svc.RevokeGrant(long.GrantID()); err != nil {
		t.Fatal(err)
	}
	if h.held(c2.ClipID()) {
		t.Fatal("a clip whose grants have all ended is still held")
	}
	if !h.held(c3.ClipID()) {
		t.Fatal("revoking one grant released a clip another grant covers")
	}
	hs := h.holds()
	if len(hs) != 1 || hs[0].grant != third.GrantID() || hs[0].clip != c3.ClipID() || hs[0].state != holdHeld {
		t.Fatalf("index after the revocation = %+v, want the third grant's hold of c3", hs)
	}
	time.Sleep(200 * time.Millisecond) // a few keeper passes
	if !h.held(byHand.ClipID()) {
		t.Fatal("the keeper released a clip no hold of the index names")
	}
}

// TestFailedHoldIsRetried: a share whose hold fails (here: its context
// ends before the chunks are rewritten) returns the error, and the
// keeper holds the clip later, from the hold the index kept.
func TestFailedHoldIsRetried(t *testing.T) {
	h := newHome(t, func(c *Config) { c.HoldCheck = time.Hour }) // passes only when the test asks
	c := h.importClip(1, 70_000)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g, _, err := h.svc.Share(ctx, "", ids(c), record.ID{}, time.Now().Add(time.Hour))
	if err == nil || g == nil {
		t.Fatalf("share with a failing hold = %v, %v; want the grant and an error", g, err)
	}
	// The first pass ran when the service started; nothing is held yet.
	if h.held(c.ClipID()) {
		t.Fatal("held, though the hold failed")
	}
	hs := h.holds()
	if len(hs) != 1 || hs[0].state != holdPending || hs[0].grant != g.GrantID() {
		t.Fatalf("index = %+v, want one pending hold", hs)
	}
	if err := h.svc.checkHolds(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if !h.held(c.ClipID()) {
		t.Fatal("the keeper did not hold the clip")
	}
	if hs := h.holds(); len(hs) != 1 || hs[0].state != holdHeld {
		t.Fatalf("index = %+v, want the hold marked held", hs)
	}
}

// TestHoldIndexIsBuiltForAnOldDataDirectory: a data directory written
// before the index (grants issued and clips held as the old node did,
// including evidence whose hold had failed) gets its index on first open:
// the clips of live grants and evidence stay or become held, those of
// expired or revoked grants are released, and the marker is written.
func TestHoldIndexIsBuiltForAnOldDataDirectory(t *testing.T) {
	h := newParts(t, nil) // the service never ran here
	other := newHome(t, nil)
	live, expired, revoked := h.importClip(1, 70_000), h.importClip(2, 70_000), h.importClip(3, 70_000)
	ev1, ev2 := other.importClip(4, 70_000), other.importClip(5, 70_000)

	// The old layout, written with the parts the old node used.
	ctx := context.Background()
	grants, err := clips.OpenGrants(clips.GrantsConfig{DB: h.db, Self: h.id})
	if err != nil {
		t.Fatal(err)
	}
	own := func(m *clips.SignedManifest, expires time.Time) *clips.SignedGrant {
		g, err := clips.SealGrant(&pb.Grant{GrantId: b(m.ClipID())[:16], Owner: []byte(h.id), ClipIds: [][]byte{b(m.ClipID())},
			Issued: time.Now().Add(-2 * time.Hour).UnixMilli(), Expires: expires.UnixMilli()}, h.key)
		if err != nil {
			t.Fatal(err)
		}
		if err := grants.Put(g); err != nil {
			t.Fatal(err)
		}
		if err := h.store.Hold(ctx, m.ClipID()); err != nil {
			t.Fatal(err)
		}
		return g
	}
	own(live, time.Now().Add(time.Hour))
	own(expired, time.Now().Add(-time.Minute))
	if err := grants.Revoke(h.key, own(revoked, time.Now().Add(time.Hour)).GrantID()); err != nil {
		t.Fatal(err)
	}
	otherKey := other.key
	for i, m := range []*clips.SignedManifest{ev1, ev2} {
		g, err := clips.SealGrant(&pb.Grant{GrantId: []byte{byte(i), 15: 1}, Owner: []byte(other.id), Grantee: []byte(h.id),
			ClipIds: [][]byte{b(m.ClipID())}, Issued: time.Now().UnixMilli(), Expires: time.Now().Add(time.Hour).UnixMilli()}, otherKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := grants.Put(g); err != nil {
			t.Fatal(err)
		}
		copyClip(t, other, h, m)
		gid := g.GrantID()
		tr, err := clips.SealTransfer(&pb.Transfer{ClipId: b(m.ClipID()), GrantId: gid[:], Owner: []byte(other.id), Receiver: []byte(h.id),
			Received: time.Now().UnixMilli(), Sha256: b(m.ClipID()), Size: uint64(m.Size())}, h.key)
		if err != nil {
			t.Fatal(err)
		}
		if err := grants.PutTransfer(tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.store.Hold(ctx, ev1.ClipID()); err != nil { // ev2's hold "failed"
		t.Fatal(err)
	}
	if ok, err := hasHoldIndex(h.db); err != nil || ok {
		t.Fatalf("marker before the first open: %v, %v", ok, err)
	}

	h.startService()
	if ok, err := hasHoldIndex(h.db); err != nil || !ok {
		t.Fatalf("marker after the first open: %v, %v", ok, err)
	}
	waitFor(t, "the failed evidence hold to be retried", func() bool { return h.held(ev2.ClipID()) })
	for _, c := range []struct {
		name string
		m    *clips.SignedManifest
		held bool
	}{
		{"a live grant's clip", live, true},
		{"an expired grant's clip", expired, false},
		{"a revoked grant's clip", revoked, false},
		{"evidence", ev1, true},
		{"evidence whose hold had failed", ev2, true},
	} {
		if got := h.held(c.m.ClipID()); got != c.held {
			t.Errorf("%s: held = %v, want %v", c.name, got, c.held)
		}
	}
	hs := h.holds()
	want := map[record.ID]int64{live.ClipID(): 1, ev1.ClipID(): 0, ev2.ClipID(): 0}
	if len(hs) != len(want) {
		t.Fatalf("index = %+v, want holds of %d clips", hs, len(want))
	}
	for _, x := range hs {
		e, ok := want[x.clip]
		if !ok || (e == 0) != (x.expires == 0) || x.state != holdHeld {
			t.Errorf("unexpected hold %+v", x)
		}
	}
}

// copyClip stores o's clip m in h, as a fetch would.
func copyClip(t *testing.T, o, h *home, m *clips.SignedManifest) {
	t.Helper()
	chunks := func(yield func([]byte, error) bool) {
		for i := 0; i < m.Chunks(); i++ {
			b, err := o.store.ReadChunk(m.ClipID(), i)
			if !yield(b, err) || err != nil {
				return
			}
		}
	}
	if err := h.store.PutVerified(context.Background(), m, chunks); err != nil {
		t.Fatal(err)
	}
}
