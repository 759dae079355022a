package clips_test

// Attacks on the grant book, the evidence intake and the share server
// (issue 11, items 1, 2, 4 and 9). The end-to-end attacks on real nodes are
// in node/share_attack_test.go and cmd/porchlight/memory_attack_test.go.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// grantWithID signs a grant of key's owner under a chosen ID.
func grantWithID(t testing.TB, key crypto.PrivKey, grantee peer.ID, gid clips.GrantID, request record.ID, ids ...record.ID) *clips.SignedGrant {
	t.Helper()
	owner, _ := peer.IDFromPrivateKey(key)
	now := time.Now()
	g := &pb.Grant{GrantId: gid[:], Owner: []byte(owner), Grantee: []byte(grantee), Issued: now.Add(-time.Minute).UnixMilli(), Expires: now.Add(time.Hour).UnixMilli()}
	for _, id := range ids {
		g.ClipIds = append(g.ClipIds, id[:])
	}
	if !request.IsZero() {
		g.RequestId = request[:]
	}
	sg, err := clips.SealGrant(g, key)
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

func someClip(seed byte) record.ID {
	var id record.ID
	id[0], id[31] = seed, 1
	return id
}

// TestGrantIDCollisionIsKeptApart: a grant another owner signs under an
// existing grant's ID is stored beside it, never in its place; a different
// envelope under the same owner and ID is refused; the same one again is
// accepted and changes nothing; revocation is by owner.
func TestGrantIDCollisionIsKeptApart(t *testing.T) {
	db := openRecords(t)
	aKey, a := edKey(t, 1)
	bKey, b := edKey(t, 2)
	gs, err := clips.OpenGrants(clips.GrantsConfig{DB: db, Self: a})
	if err != nil {
		t.Fatal(err)
	}
	real, err := gs.Issue(aKey, b, []record.ID{someClip(1)}, record.ID{}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	collide := grantWithID(t, bKey, a, real.GrantID(), record.ID{}, someClip(1))
	if err := gs.PutReceived(collide); err != nil {
		t.Fatalf("a grant of another owner under the same ID: %v", err)
	}
	if err := gs.PutReceived(collide); err != nil {
		t.Fatalf("the same delivery again: %v", err)
	}
	again := grantWithID(t, bKey, a, real.GrantID(), record.ID{}, someClip(2))
	if err := gs.PutReceived(again); !errors.Is(err, clips.ErrGrantExists) {
		t.Fatalf("a second, different grant of B under the same ID: %v, want ErrGrantExists", err)
	}
	if got, err := gs.Get(a, real.GrantID()); err != nil || got.ID != real.ID {
		t.Fatalf("A's grant after the collision: %v", err)
	}
	if got, err := gs.Get(b, real.GrantID()); err != nil || got.ID != collide.ID {
		t.Fatalf("B's grant: %v", err)
	}
	if err := gs.Revoke(aKey, real.GrantID()); err != nil {
		t.Fatalf("A revokes its grant: %v", err)
	}
	if !gs.RevokedGrant(real) || gs.RevokedGrant(collide) {
		t.Fatal("revocation is not by owner")
	}
	if err := gs.Revoke(aKey, clips.GrantID{9}); !errors.Is(err, clips.ErrGrantNotFound) {
		t.Fatalf("revoke of an unknown grant: %v", err)
	}
}

// TestReceivedGrantsAreCappedAndExpire: a flood of grants from one owner,
// and from many, stops at the caps; received grants expire with the grant
// unless kept as evidence.
func TestReceivedGrantsAreCappedAndExpire(t *testing.T) {
	db := openRecords(t)
	_, self := edKey(t, 1)
	gs, err := clips.OpenGrants(clips.GrantsConfig{DB: db, Self: self, MaxReceivedPerOwner: 3, MaxReceived: 5})
	if err != nil {
		t.Fatal(err)
	}
	bKey, _ := edKey(t, 2)
	var kept *clips.SignedGrant
	for i := range 4 {
		g := grantWithID(t, bKey, self, clips.GrantID{byte(i + 1)}, record.ID{}, someClip(1))
		err := gs.PutReceived(g)
		if i < 3 && err != nil {
			t.Fatalf("grant %d: %v", i, err)
		}
		if i == 3 && !errors.Is(err, clips.ErrTooManyGrants) {
			t.Fatalf("grant over the per-owner cap: %v", err)
		}
		kept = g
	}
	for i := range 3 {
		k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		err := gs.PutReceived(grantWithID(t, k, self, clips.GrantID{1}, record.ID{}, someClip(1)))
		if i < 2 && err != nil {
			t.Fatalf("grant of owner %d: %v", i, err)
		}
		if i == 2 && !errors.Is(err, clips.ErrTooManyGrants) {
			t.Fatalf("grant over the total cap: %v", err)
		}
	}
	_ = kept
	first, _ := gs.List()
	expiring := 0
	err = db.View(func(txn *store.Txn) error {
		return txn.Scan(store.Grants, nil, store.ScanOptions{KeysOnly: true}, func(it store.Item) error {
			if !it.Expires().IsZero() {
				expiring++
			}
			return nil
		})
	})
	if err != nil || expiring != 5 || len(first) != 5 {
		t.Fatalf("%d of %d received grants expire, want all 5 (%v)", expiring, len(first), err)
	}
	b1 := grantWithID(t, bKey, self, clips.GrantID{1}, record.ID{}, someClip(1))
	if err := gs.Keep(b1.Owner, b1.GrantID()); err != nil {
		t.Fatal(err)
	}
	// Kept for good: it no longer counts against the caps.
	if err := gs.PutReceived(grantWithID(t, bKey, self, clips.GrantID{9}, record.ID{}, someClip(1))); err != nil {
		t.Fatalf("after Keep freed a place: %v", err)
	}
}

// TestTransferRecordIsWrittenOnce: a second transfer record of the same
// clip is refused and the first one stays.
func TestTransferRecordIsWrittenOnce(t *testing.T) {
	db := openRecords(t)
	gs, err := clips.NewGrants(db)
	if err != nil {
		t.Fatal(err)
	}
	rKey, r := edKey(t, 1)
	_, owner := edKey(t, 2)
	_, other := edKey(t, 3)
	clip := someClip(1)
	seal := func(o peer.ID) *clips.SignedTransfer {
		tr, err := clips.SealTransfer(&pb.Transfer{ClipId: clip[:], GrantId: make([]byte, 16), Owner: []byte(o), Receiver: []byte(r),
			Received: time.Now().UnixMilli(), Sha256: clip[:], Size: 10}, rKey)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	first := seal(owner)
	if err := gs.PutTransfer(first); err != nil {
		t.Fatal(err)
	}
	if err := gs.PutTransfer(seal(other)); !errors.Is(err, clips.ErrTransferExists) {
		t.Fatalf("second transfer record: %v, want ErrTransferExists", err)
	}
	ts, err := gs.Transfers()
	if err != nil || len(ts) != 1 || ts[0].ID != first.ID {
		t.Fatalf("transfer records after the second: %d, %v", len(ts), err)
	}
}

// TestListingManyGrantsIsFast: listing the most received grants kept
// decodes them without checking every signature again.
func TestListingManyGrantsIsFast(t *testing.T) {
	db := openRecords(t)
	_, self := edKey(t, 1)
	gs, err := clips.OpenGrants(clips.GrantsConfig{DB: db, Self: self})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]record.ID, clips.MaxGrantClips)
	for i := range ids {
		_, _ = rand.Read(ids[i][:])
	}
	var raws [][]byte
	for i := 0; i < clips.DefaultMaxReceived; i++ {
		k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		g := grantWithID(t, k, self, clips.GrantID{byte(i), byte(i >> 8)}, record.ID{}, ids...)
		if err := gs.PutReceived(g); err != nil {
			t.Fatal(err)
		}
		raws = append(raws, g.Raw)
	}
	start := time.Now()
	list, err := gs.List()
	listed := time.Since(start)
	if err != nil || len(list) != clips.DefaultMaxReceived {
		t.Fatalf("List: %d, %v", len(list), err)
	}
	start = time.Now()
	for _, raw := range raws {
		if _, err := clips.OpenGrant(raw); err != nil {
			t.Fatal(err)
		}
	}
	verified := time.Since(start)
	t.Logf("%d grants of %d clips: List %v; verifying them all would take %v", len(list), clips.MaxGrantClips, listed, verified)
	if listed > 5*time.Second {
		t.Fatalf("listing %d grants took %v", len(list), listed)
	}
}

// intakeWorld is an agency's intake and the owners that deliver to it.
type intakeWorld struct {
	host   host.Host
	key    crypto.PrivKey
	store  *clips.Store
	grants *clips.Grants
	intake *clips.Intake
	open   map[record.ID]bool
	stored chan record.ID
}

func newIntake(t *testing.T, ownerBudget, requestBudget int64, neighbor func(peer.ID) bool, open ...record.ID) *intakeWorld {
	t.Helper()
	return newIntakeWith(t, func(*clips.IntakeConfig) {}, ownerBudget, requestBudget, neighbor, open...)
}

// newIntakeWith is newIntake with edit applied to the intake's config.
func newIntakeWith(t *testing.T, edit func(*clips.IntakeConfig), ownerBudget, requestBudget int64, neighbor func(peer.ID) bool, open ...record.ID) *intakeWorld {
	t.Helper()
	w := &intakeWorld{open: map[record.ID]bool{}, stored: make(chan record.ID, 16)}
	for _, id := range open {
		w.open[id] = true
	}
	w.key, _ = edKey(t, 50)
	w.host = p2pHost(t, w.key)
	db := openRecords(t)
	w.store = newStore(t, 50, clips.Config{Key: w.key})
	var err error
	if w.grants, err = clips.OpenGrants(clips.GrantsConfig{DB: db, Self: w.host.ID()}); err != nil {
		t.Fatal(err)
	}
	cfg := clips.IntakeConfig{
		Host: w.host, Key: w.key, Store: w.store, Grants: w.grants, Logger: quiet,
		OwnerBudget: ownerBudget, RequestBudget: requestBudget, Retry: 100 * time.Millisecond,
		OpenRequest:    func(id record.ID) bool { return w.open[id] },
		InNeighborhood: neighbor,
		OnEvidence:     func(id record.ID) { w.stored <- id },
	}
	edit(&cfg)
	w.intake, err = clips.NewIntake(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.intake.Close() })
	return w
}

func (w *intakeWorld) waitStored(t *testing.T, want record.ID) {
	t.Helper()
	select {
	case got := <-w.stored:
		if got != want {
			t.Fatalf("stored clip %s, want %s", got, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("clip %s never stored", want)
	}
}

func all(peer.ID) bool { return true }

// TestIntakeFetchesOnlyWithinBudgets: an owner's grant answering the
// agency's open request is fetched until the owner's budget is spent, and
// the clips of several owners until the request's is; each clip gets one
// transfer record.
func TestIntakeFetchesOnlyWithinBudgets(t *testing.T) {
	a := newOwnerNode(t, 1)
	b := newOwnerNode(t, 2)
	video, rnd := importBytes(t, a.store, randBytes(1, 123328)), importBytes(t, a.store, randBytes(2, 3<<20))
	bVideo := importBytes(t, b.store, randBytes(3, 123328))
	bOther := importBytes(t, b.store, randBytes(4, 1000))
	req, req2 := someClip(90), someClip(91)
	w := newIntake(t, 1<<20, 200<<10, all, req, req2)
	knows(w.host, a.host, b.host)

	// A's 3 MiB clip is past A's 1 MiB budget; its small one is not.
	g := grantWithID(t, a.key, w.host.ID(), clips.GrantID{1}, req, rnd.ClipID(), video.ClipID())
	if err := w.intake.OnGrant(g, []*clips.SignedManifest{rnd, video}, a.id); err != nil {
		t.Fatal(err)
	}
	w.waitStored(t, video.ClipID())
	if _, err := w.store.Manifest(rnd.ClipID()); err == nil {
		t.Fatal("a clip past the owner's budget was fetched")
	}
	// B's clip would take the request past its 200 KiB; another request's is fine.
	if err := w.intake.OnGrant(grantWithID(t, b.key, w.host.ID(), clips.GrantID{1}, req, bVideo.ClipID()), []*clips.SignedManifest{bVideo}, b.id); err != nil {
		t.Fatal(err)
	}
	if err := w.intake.OnGrant(grantWithID(t, b.key, w.host.ID(), clips.GrantID{2}, req2, bOther.ClipID()), []*clips.SignedManifest{bOther}, b.id); err != nil {
		t.Fatal(err)
	}
	w.waitStored(t, bOther.ClipID())
	if _, err := w.store.Manifest(bVideo.ClipID()); err == nil {
		t.Fatal("a clip past the request's budget was fetched")
	}
	if a.entries(t) != 1 || b.entries(t) != 1 {
		t.Fatalf("owners served %d and %d fetches, want 1 each", a.entries(t), b.entries(t))
	}
	ts, _ := w.grants.Transfers()
	if len(ts) != 2 {
		t.Fatalf("%d transfer records, want 2", len(ts))
	}
}

// TestIntakeRetriesUntilTheOwnerIsReachable: a grant whose owner's node
// serves no clips when it arrives waits in the inbox, on disk, and its
// clip is fetched once the owner serves again; then it leaves the inbox.
func TestIntakeRetriesUntilTheOwnerIsReachable(t *testing.T) {
	a := newOwnerNode(t, 1)
	video := importBytes(t, a.store, randBytes(1, 123328))
	req := someClip(90)
	w := newIntake(t, 0, 0, all, req)
	knows(w.host, a.host)
	_ = a.server.Close() // the owner's node serves nothing for now
	g := grantWithID(t, a.key, w.host.ID(), clips.GrantID{7}, req, video.ClipID())
	if err := w.intake.OnGrant(g, []*clips.SignedManifest{video}, a.id); err != nil {
		t.Fatal(err)
	}
	// Several attempts (every 100 ms) fail meanwhile; the grant stays.
	for start := time.Now(); time.Since(start) < 500*time.Millisecond; time.Sleep(50 * time.Millisecond) {
		ws, err := w.grants.ToFetch()
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != 1 || ws[0].Grant.GrantID() != g.GrantID() || len(ws[0].Manifests) != 1 {
			t.Fatalf("inbox = %+v, want the grant with its manifest", ws)
		}
	}
	server, err := clips.NewServer(clips.ServerConfig{Host: a.host, Store: a.store, Audit: a.audit, Logger: quiet,
		InNeighborhood: a.inNeighborhood, Revoked: func(clips.GrantID) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	w.waitStored(t, video.ClipID())
	waitInboxEmpty(t, w.grants, "the grant stayed in the inbox after its clip was fetched")
	if _, held, err := w.store.Expires(video.ClipID()); err != nil || !held {
		t.Fatalf("evidence held = %v, %v", held, err)
	}
}

// TestIntakeRetriesAFailedHold: evidence whose hold fails is not left to
// expire: the grant stays in the inbox and the hold is tried again (the
// clip is not fetched twice) until it succeeds.
func TestIntakeRetriesAFailedHold(t *testing.T) {
	a := newOwnerNode(t, 1)
	video := importBytes(t, a.store, randBytes(1, 123328))
	req := someClip(90)
	var mu sync.Mutex
	calls := 0
	var w *intakeWorld
	w = newIntakeWith(t, func(c *clips.IntakeConfig) {
		c.Hold = func(ctx context.Context, _ *clips.SignedGrant, clip record.ID) error {
			mu.Lock()
			defer mu.Unlock()
			if calls++; calls < 3 {
				return errors.New("disk trouble")
			}
			return w.store.Hold(ctx, clip)
		}
	}, 0, 0, all, req)
	knows(w.host, a.host)
	g := grantWithID(t, a.key, w.host.ID(), clips.GrantID{3}, req, video.ClipID())
	if err := w.intake.OnGrant(g, []*clips.SignedManifest{video}, a.id); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ws, err := w.grants.ToFetch()
		if err != nil {
			t.Fatal(err)
		}
		if _, held, err := w.store.Expires(video.ClipID()); err == nil && held && len(ws) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the evidence was never held")
		}
	}
	if a.entries(t) != 1 {
		t.Fatalf("the owner served %d fetches, want 1", a.entries(t))
	}
	if !w.grants.HasTransfer(video.ClipID()) {
		t.Fatal("no transfer record")
	}
}

func idBytes(id record.ID) []byte { return id[:] }

// TestIntakeInboxDropsExpiredGrants: a grant whose owner never becomes
// reachable leaves the inbox once it expires; nothing is fetched.
func TestIntakeInboxDropsExpiredGrants(t *testing.T) {
	a := newOwnerNode(t, 1)
	video := importBytes(t, a.store, randBytes(1, 5000))
	req := someClip(90)
	w := newIntake(t, 0, 0, all, req)
	now := time.Now()
	pg := &pb.Grant{GrantId: make([]byte, clips.GrantIDLen), Owner: []byte(a.id), Grantee: []byte(w.host.ID()), ClipIds: [][]byte{idBytes(video.ClipID())},
		RequestId: req[:], Issued: now.Add(-time.Minute).UnixMilli(), Expires: now.Add(time.Second).UnixMilli()}
	g, err := clips.SealGrant(pg, a.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.intake.OnGrant(g, []*clips.SignedManifest{video}, a.id); err != nil {
		t.Fatal(err)
	}
	if ws, err := w.grants.ToFetch(); err != nil || len(ws) != 1 {
		t.Fatalf("inbox = %v, %v; want the grant", ws, err)
	}
	waitInboxEmpty(t, w.grants, "an expired grant stayed in the inbox")
	if _, err := w.store.Manifest(video.ClipID()); err == nil {
		t.Fatal("fetched, though the owner was never reachable")
	}
}

// TestIntakeIgnoresGrantsOutsideItsCases: grants that answer no open
// request of the agency, or come from outside the neighborhood, or whose
// owner serves a manifest other than the one delivered, are not fetched.
func TestIntakeIgnoresGrantsOutsideItsCases(t *testing.T) {
	a := newOwnerNode(t, 1)
	video := importBytes(t, a.store, randBytes(1, 123328))
	other := importBytes(t, a.store, randBytes(2, 5000))
	req := someClip(90)
	stranger := a.id
	w := newIntake(t, 0, 0, func(p peer.ID) bool { return p != stranger }, req)
	knows(w.host, a.host)
	for _, tc := range []struct {
		name    string
		request record.ID
		from    peer.ID
	}{
		{"answers another agency's request", someClip(99), a.id},
		{"answers no request", record.ID{}, a.id},
		{"from outside the neighborhood", req, a.id},
	} {
		g := grantWithID(t, a.key, w.host.ID(), clips.GrantID{byte(len(tc.name))}, tc.request, video.ClipID())
		if err := w.intake.OnGrant(g, []*clips.SignedManifest{video}, tc.from); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if a.entries(t) != 0 {
		t.Fatalf("the owner saw %d fetches, want none", a.entries(t))
	}
	// A manifest other than the one served: the fetch stops at the header.
	stranger = ""
	// (The owner signs a second manifest of the same clip: the one served
	// is not the one whose size was budgeted.)
	pm := proto.Clone(video.M).(*pb.Manifest)
	pm.Camera = "another camera"
	forged, err := clips.SealManifest(pm, a.key)
	if err != nil {
		t.Fatal(err)
	}
	g := grantWithID(t, a.key, w.host.ID(), clips.GrantID{200}, req, video.ClipID(), other.ClipID())
	if err := w.intake.OnGrant(g, []*clips.SignedManifest{forged, other}, a.id); err != nil {
		t.Fatal(err)
	}
	w.waitStored(t, other.ClipID())
	if _, err := w.store.Manifest(video.ClipID()); err == nil {
		t.Fatal("a clip whose served manifest differs from the delivered one was stored")
	}
	if err := w.intake.OnGrant(g, nil, w.host.ID()); !errors.Is(err, clips.ErrNotOwnerGrant) {
		t.Fatalf("a grant relayed by someone else: %v", err)
	}
}

// TestStalledNeighborSharesAreCut: even neighbors cannot hold a share
// server's memory: a third concurrent delivery from one peer is reset at
// once, a stalled delivery is cut after the stall timeout, and another
// neighbor's grant gets through meanwhile.
func TestStalledNeighborSharesAreCut(t *testing.T) {
	defer clips.SetStallTimeout(500 * time.Millisecond)()
	w := newWorld(t)
	_ = w.b.Close()
	gb := newGrantee(t, w.bKey)
	knows(w.a.host, gb.host)
	knows(w.c, gb.host)
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], 20<<20)
	msg := append(hdr[:n:n], make([]byte, 100<<10)...)
	var streams []network.Stream
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := w.c.NewStream(ctxT(t), gb.host.ID(), clips.ShareProtocol)
			if err != nil {
				return
			}
			_ = st.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, _ = st.Write(msg)
			mu.Lock()
			streams = append(streams, st)
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Each stalled stream is reset by the server within the stall timeout
	// (or at once, for the one over the per-peer limit).
	deadline := time.Now().Add(10 * time.Second)
	for _, st := range streams {
		_ = st.SetReadDeadline(deadline)
		if _, err := st.Read(make([]byte, 1)); err == nil {
			t.Fatal("the server answered a stalled delivery")
		}
	}
	if time.Now().After(deadline) {
		t.Fatal("stalled deliveries were not cut within 10 s")
	}
	now := time.Now()
	g := w.a.grant(t, gb.host.ID(), now.Add(-time.Minute), now.Add(time.Hour), w.mv.ClipID())
	if err := clips.Share(ctxT(t), w.a.host, gb.host.ID(), g, []*clips.SignedManifest{w.mv}); err != nil {
		t.Fatalf("a neighbor's grant after the stalls: %v", err)
	}
}

// TestShareStreamsOnlyFromNeighbors: a peer outside the neighborhood has
// its share and clip streams reset before a byte is read.
func TestShareStreamsOnlyFromNeighbors(t *testing.T) {
	w := newWorld(t)
	w.a.mu.Lock()
	w.a.strangers[w.c.ID()] = true
	w.a.mu.Unlock()
	now := time.Now()
	g := w.a.grant(t, w.c.ID(), now.Add(-time.Minute), now.Add(time.Hour), w.mv.ClipID())
	if _, err := clips.Fetch(ctxT(t), w.c, w.a.id, g.Raw, w.mv.ClipID(), 0, 0, &bytes.Buffer{}); err == nil {
		t.Fatal("a stranger with a grant was served")
	}
	if w.a.entries(t) != 0 {
		t.Fatal("a stranger's stream was read")
	}
}

func FuzzReadShareRequest(f *testing.F) {
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], 25<<20)
	f.Add(hdr[:n])
	f.Add([]byte{0x03, 0x0a, 0x01, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := clips.ReadShareRequest(b)
		if err == nil && req == nil {
			t.Fatal("no request and no error")
		}
	})
}

// TestGrantDeliveriesAreRateLimited: one neighbor delivering grant after
// grant is cut off after a burst, and let through again as time passes.
func TestGrantDeliveriesAreRateLimited(t *testing.T) {
	w := newWorld(t)
	_ = w.b.Close()
	c := &clock{now: time.Now()}
	gb := newGranteeWithClock(t, w.bKey, c.Now)
	knows(w.a.host, gb.host)
	deliver := func() error {
		now := time.Now()
		g := w.a.grant(t, gb.host.ID(), now.Add(-time.Minute), now.Add(time.Hour), w.mv.ClipID())
		return clips.Share(ctxT(t), w.a.host, gb.host.ID(), g, nil)
	}
	ok := 0
	for range 40 {
		if deliver() == nil {
			ok++
		}
	}
	if ok < 10 || ok > 25 {
		t.Fatalf("%d of 40 back-to-back deliveries accepted, want a burst of about 20", ok)
	}
	c.Add(time.Minute)
	if err := deliver(); err != nil {
		t.Fatalf("a delivery a minute later: %v", err)
	}
}

func newGranteeWithClock(t *testing.T, key crypto.PrivKey, now func() time.Time) *grantee {
	t.Helper()
	g := &grantee{host: p2pHost(t, key)}
	var err error
	g.server, err = clips.NewShareServer(clips.ShareServerConfig{
		Host: g.host, Logger: quiet, Now: now, InNeighborhood: all,
		OnGrant: func(sg *clips.SignedGrant, ms []*clips.SignedManifest, from peer.ID) error {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.got = append(g.got, sg)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.server.Close() })
	return g
}

// waitInboxEmpty polls the "to fetch" inbox until it is empty, for 10 s,
// and fails with why otherwise.
func waitInboxEmpty(t *testing.T, g *clips.Grants, why string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ws, err := g.ToFetch()
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(why)
		}
	}
}

// TestIntakePathCheck: a fetch the path check refuses (a clip over what a
// relay carries) stops before the clip is stored and is tried again; once
// the check lets it through (a direct path), the clip is fetched.
func TestIntakePathCheck(t *testing.T) {
	a := newOwnerNode(t, 1)
	video := importBytes(t, a.store, randBytes(1, 123328))
	req := someClip(90)
	var mu sync.Mutex
	refuse, checks, sawLimited := true, 0, false
	w := newIntakeWith(t, func(c *clips.IntakeConfig) {
		c.PathCheck = func(owner peer.ID, m *clips.SignedManifest, limited bool) error {
			mu.Lock()
			defer mu.Unlock()
			checks++
			sawLimited = sawLimited || limited
			if owner != a.id || m.ClipID() != video.ClipID() {
				return fmt.Errorf("path check of %s's clip %s", owner, m.ClipID())
			}
			if refuse {
				return errors.New("no direct path")
			}
			return nil
		}
	}, 0, 0, all, req)
	knows(w.host, a.host)
	g := grantWithID(t, a.key, w.host.ID(), clips.GrantID{4}, req, video.ClipID())
	if err := w.intake.OnGrant(g, []*clips.SignedManifest{video}, a.id); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := checks
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the path check ran %d times in 10 s, want a retry", n)
		}
	}
	if _, err := w.store.Manifest(video.ClipID()); err == nil {
		t.Fatal("a clip the path check refused was stored")
	}
	mu.Lock()
	refuse = false
	mu.Unlock()
	w.waitStored(t, video.ClipID())
	mu.Lock()
	defer mu.Unlock()
	if sawLimited {
		t.Error("a direct loopback connection was reported limited")
	}
}
