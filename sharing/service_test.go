package sharing

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
)

// TestEvidenceFetchSurvivesOwnerOfflineAndRestart: a grant answering the
// agency's open request arrives while its owner's node serves no clips;
// the fetch fails and the grant waits in the agency's inbox, on disk. The
// owner goes offline, the agency restarts on the same directories, and
// once the owner is back online the agency fetches, records and holds the
// evidence, and the inbox is empty.
func TestEvidenceFetchSurvivesOwnerOfflineAndRestart(t *testing.T) {
	ctx := context.Background()
	agency := newHome(t, nil)
	req := record.ID{9}
	agency.reqs.setOpen(req)
	owner := newParts(t, nil) // no service yet: nothing serves its clips
	m := owner.importClip(1, 200_000)
	grants, err := clips.OpenGrants(clips.GrantsConfig{DB: owner.db, Self: owner.id})
	if err != nil {
		t.Fatal(err)
	}
	g, err := grants.Issue(owner.key, agency.id, ids(m), req, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	owner.connect(agency)
	if err := clips.Share(ctx, owner.host, agency.id, g, []*clips.SignedManifest{m}); err != nil {
		t.Fatal(err)
	}
	inbox := func() []clips.Waiting {
		t.Helper()
		ws, err := agency.svc.grants.ToFetch()
		if err != nil {
			t.Fatal(err)
		}
		return ws
	}
	noEvidence := func(when string) {
		t.Helper()
		if es, err := agency.svc.Evidence(); err != nil || len(es) != 0 {
			t.Fatalf("%s: evidence = %v, %v; want none", when, es, err)
		}
		if ws := inbox(); len(ws) != 1 || ws[0].Grant.GrantID() != g.GrantID() {
			t.Fatalf("%s: inbox = %+v, want the grant", when, ws)
		}
	}
	time.Sleep(300 * time.Millisecond) // attempts every 100 ms fail
	noEvidence("owner serving nothing")

	owner.stop() // offline
	agency.restart()
	time.Sleep(300 * time.Millisecond)
	noEvidence("after the agency's restart, owner offline")

	owner.openParts()
	owner.startService()
	agency.connect(owner)
	waitFor(t, "the evidence to be fetched", func() bool {
		es, err := agency.svc.Evidence()
		return err == nil && len(es) == 1 && es[0].Manifest != nil
	})
	waitFor(t, "the evidence to be held", func() bool { return agency.held(m.ClipID()) })
	waitFor(t, "the inbox to empty", func() bool { return len(inbox()) == 0 })
	hs := agency.holds()
	if len(hs) != 1 || hs[0].clip != m.ClipID() || hs[0].owner != owner.id || hs[0].expires != 0 || hs[0].state != holdHeld {
		t.Fatalf("agency's hold index = %+v, want the evidence held for good", hs)
	}
}

// TestCloseWhileSharing: Close runs while the home shares clips, receives
// grants (it is an agency, so they go to its intake) and serves a fetch,
// all at once; run it with -race. (Before the service, the node waited for
// its goroutines before closing the share server, whose grant callback
// could still start work.) Every Share returns (the grant, or
// ErrClosed, or the error of its cut-short context), Close returns, and no
// goroutine is left (TestMain). Reopened, the home holds the clip every
// grant it issued names.
func TestCloseWhileSharing(t *testing.T) {
	a := newHome(t, nil)
	req := record.ID{7}
	a.reqs.setOpen(req)
	grantee, sender := newHome(t, nil), newHome(t, nil)
	grantee.connect(a)
	sender.connect(a)
	clip := a.importClip(1, 300_000)
	theirs := sender.importClip(2, 70_000)

	var shares, deliveries atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { // a shares with the grantee
			defer wg.Done()
			for {
				_, _, err := a.svc.Share(context.Background(), grantee.id, ids(clip), record.ID{}, time.Now().Add(time.Hour))
				switch {
				case errors.Is(err, ErrClosed):
					return
				case err != nil && !errors.Is(err, context.Canceled):
					t.Errorf("share during close: %v", err)
					return
				}
				shares.Add(1)
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() { // the sender delivers grants answering a's request
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, ok, err := sender.svc.Share(context.Background(), a.id, ids(theirs), req, time.Now().Add(time.Hour)); err != nil {
					t.Errorf("sender's share: %v", err)
					return
				} else if ok {
					deliveries.Add(1)
				}
			}
		}()
	}
	waitFor(t, "shares and deliveries under way", func() bool { return shares.Load() >= 3 && deliveries.Load() >= 1 })
	fetched := make(chan error, 1)
	go func() { // the grantee fetches from a's clip server as a closes
		_, err := grantee.svc.FetchClip(context.Background(), a.id, clip.ClipID())
		fetched <- err
	}()
	if err := a.svc.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	<-fetched // served or cut off: either way it returned
	if _, _, err := a.svc.Share(context.Background(), grantee.id, ids(clip), record.ID{}, time.Now().Add(time.Hour)); !errors.Is(err, ErrClosed) {
		t.Fatalf("share after close = %v, want ErrClosed", err)
	}
	// The inbound protocols are gone: a neighbor's first delivery is not
	// taken.
	late := newHome(t, nil)
	late.connect(a)
	if _, delivered, err := late.svc.Share(context.Background(), a.id, ids(late.importClip(3, 70_000)), record.ID{}, time.Now().Add(time.Hour)); err != nil || delivered {
		t.Fatalf("delivery to a closed service: delivered %v, %v", delivered, err)
	}

	a.restart()
	waitFor(t, "the keeper to settle every hold", func() bool {
		for _, h := range a.holds() {
			if h.state != holdHeld {
				return false
			}
		}
		return true
	})
	if !a.held(clip.ClipID()) {
		t.Fatal("the shared clip is not held after the restart")
	}
	gs, err := a.svc.Grants()
	if err != nil {
		t.Fatal(err)
	}
	own := 0
	held := map[clips.GrantID]bool{}
	for _, h := range a.holds() {
		held[h.grant] = true
	}
	for _, g := range gs {
		if g.Owner == a.id {
			own++
			if !held[g.GrantID()] {
				t.Errorf("grant %s issued during close has no hold", g.GrantID())
			}
		}
	}
	if own < int(shares.Load()) {
		t.Fatalf("%d grants issued, %d shares returned one", own, shares.Load())
	}
}

// TestShareOutboxDeliversWhenGranteeIsBack: a grant to a neighbor that is
// offline is issued (its clips held) but not delivered; it waits in the
// outbox and reaches the neighbor once it is back, and leaves the outbox.
func TestShareOutboxDeliversWhenGranteeIsBack(t *testing.T) {
	owner := newHome(t, nil)
	grantee := newParts(t, nil)
	grantee.stop() // offline, never seen
	m := owner.importClip(1, 70_000)
	g, delivered, err := owner.svc.Share(context.Background(), grantee.id, ids(m), record.ID{}, time.Now().Add(time.Hour))
	if err != nil || delivered {
		t.Fatalf("share with an offline peer = %v, delivered %v; want kept, not delivered", err, delivered)
	}
	if !owner.held(m.ClipID()) {
		t.Fatal("a clip shared with an offline peer is not held")
	}
	grantee.openParts()
	grantee.startService()
	owner.connect(grantee)
	waitFor(t, "the grant to reach the grantee", func() bool {
		gs, err := grantee.svc.Grants()
		return err == nil && len(gs) == 1 && gs[0].GrantID() == g.GrantID()
	})
	waitFor(t, "the outbox to empty", func() bool {
		ids, err := owner.svc.grants.Undelivered()
		return err == nil && len(ids) == 0
	})
}
