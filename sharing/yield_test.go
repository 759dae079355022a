package sharing

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
)

// fakeYields records the clips each WriteYields pass is handed, and fails
// while fail is set.
type fakeYields struct {
	mu     sync.Mutex
	fail   bool
	passes [][]requests.ReceivedClip
}

func (y *fakeYields) WriteYields(rc []requests.ReceivedClip) ([]*record.Signed, error) {
	y.mu.Lock()
	defer y.mu.Unlock()
	y.passes = append(y.passes, rc)
	if y.fail {
		return nil, errors.New("the log is not writable")
	}
	return nil, nil
}

func (y *fakeYields) YieldStatus(record.ID, record.ID, time.Time) (requests.Inclusion, error) {
	return requests.Inclusion{State: requests.YieldPending}, nil
}

// last is the clips of the latest pass, and how many passes there were.
func (y *fakeYields) last() ([]requests.ReceivedClip, int) {
	y.mu.Lock()
	defer y.mu.Unlock()
	if len(y.passes) == 0 {
		return nil, 0
	}
	return y.passes[len(y.passes)-1], len(y.passes)
}

// TestYieldPassAfterEvidence: once a clip for its request is received, the
// agency's node hands the yield the clip, under its grant's envelope ID,
// within YieldDelay; a clip received, whose pass failed,
// is handed over by the first pass after a restart: the
// transfer records are the queue.
func TestYieldPassAfterEvidence(t *testing.T) {
	ctx := context.Background()
	y := &fakeYields{fail: true}
	agency := newHome(t, func(c *Config) { c.Yields = y; c.YieldDelay = 100 * time.Millisecond })
	req := record.ID{9}
	agency.reqs.setOpen(req)
	owner := newHome(t, nil)
	m := owner.importClip(1, 100_000)
	g, err := owner.svc.grants.Issue(owner.key, agency.id, ids(m), req, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	owner.connect(agency)
	if err := clips.Share(ctx, owner.host, agency.id, g, []*clips.SignedManifest{m}); err != nil {
		t.Fatal(err)
	}
	want := requests.ReceivedClip{Request: req, Grant: g.ID, Clip: m.ClipID(), Home: owner.id, Bytes: uint64(m.Size())}
	waitFor(t, "a yield pass with the clip", func() bool {
		rc, _ := y.last()
		return len(rc) == 1 && rc[0] == want
	})

	// The pass failed (the log not writable); the node restarts: the
	// first pass hands the clip over again.
	agency.stop()
	y.mu.Lock()
	y.fail, y.passes = false, nil
	y.mu.Unlock()
	agency.openParts()
	agency.startService()
	waitFor(t, "a pass after the restart", func() bool {
		rc, _ := y.last()
		return len(rc) == 1 && rc[0] == want
	})

	// A home without a request's clips writes nothing.
	if rc, err := owner.svc.ReceivedClips(); err != nil || len(rc) != 0 {
		t.Fatalf("owner's ReceivedClips = %v, %v; want none", rc, err)
	}
}

// TestAuditYieldStates: a home's audit lists each clip it shared for the
// request: not fetched until the agency has fetched all of it, then as the
// yield judges it; other requests' grants are not listed.
func TestAuditYieldStates(t *testing.T) {
	ctx := context.Background()
	agency := newHome(t, nil)
	req := record.ID{9}
	agency.reqs.setOpen(req)
	y := &fakeYields{}
	owner := newHome(t, func(c *Config) { c.Yields = y })
	m1, m2, m3 := owner.importClip(1, 100_000), owner.importClip(2, 100_000), owner.importClip(3, 1000)
	owner.connect(agency)
	g, _, err := owner.svc.Share(ctx, agency.id, ids(m1, m2), req, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := owner.svc.Share(ctx, agency.id, ids(m3), record.ID{8}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the agency to fetch both clips", func() bool {
		es, err := agency.svc.Evidence()
		return err == nil && len(es) == 2
	})
	a, err := owner.svc.AuditYield(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Clips) != 2 {
		t.Fatalf("audit lists %d clips; want the request's 2", len(a.Clips))
	}
	for _, c := range a.Clips {
		if c.State != requests.YieldPending || c.Served.IsZero() || c.Commitment != requests.YieldCommitment(req, g.ID, c.Clip) || c.Agency != agency.id {
			t.Errorf("clip %.12s: %+v; want pending (served, the fake yield counts nothing)", c.Clip, c)
		}
	}
	if a, err := owner.svc.AuditYield(record.ID{7}); err != nil || len(a.Clips) != 0 {
		t.Errorf("audit of a request it did not share for = %+v, %v; want nothing", a, err)
	}
	if _, err := agency.svc.AuditYield(req); !errors.Is(err, ErrNoYields) {
		t.Errorf("audit without Yields = %v; want ErrNoYields", err)
	}
}
