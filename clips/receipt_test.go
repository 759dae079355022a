package clips_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// receiptOwner is a clip owner's node as package sharing assembles it for
// receipts: one records database holds its grants and access log; the
// clip server and the receipt server share its host.
type receiptOwner struct {
	key    crypto.PrivKey
	id     peer.ID
	host   host.Host
	db     *store.DB
	grants *clips.Grants
	store  *clips.Store

	mu        sync.Mutex
	strangers map[peer.ID]bool
}

func (o *receiptOwner) neighbor(p peer.ID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.strangers[p]
}

func newReceiptOwner(t *testing.T, seed byte) *receiptOwner {
	t.Helper()
	o := &receiptOwner{strangers: map[peer.ID]bool{}}
	o.key, o.id = edKey(t, seed)
	o.db = openRecords(t)
	audit, err := clips.NewAudit(o.db)
	if err != nil {
		t.Fatal(err)
	}
	if o.grants, err = clips.OpenGrants(clips.GrantsConfig{DB: o.db, Self: o.id}); err != nil {
		t.Fatal(err)
	}
	o.store = newStore(t, seed, clips.Config{Key: o.key, ChunkSize: clips.MinChunkSize})
	o.host = p2pHost(t, o.key)
	srv, err := clips.NewServer(clips.ServerConfig{Host: o.host, Store: o.store, Audit: audit, Revoked: o.grants.Revoked, InNeighborhood: o.neighbor, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := clips.NewReceiptServer(clips.ReceiptServerConfig{Host: o.host, Grants: o.grants, InNeighborhood: o.neighbor, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rs.Close()
		_ = srv.Close()
	})
	return o
}

// share issues, as the owner, a grant of clips to grantee for request.
func (o *receiptOwner) share(t *testing.T, grantee peer.ID, request record.ID, ids ...record.ID) *clips.SignedGrant {
	t.Helper()
	g, err := o.grants.Issue(o.key, grantee, ids, request, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (o *receiptOwner) receipts(t *testing.T) int {
	t.Helper()
	rs, err := o.grants.Receipts()
	if err != nil {
		t.Fatal(err)
	}
	return len(rs)
}

// sendRaw hands raw to the owner as a receipt from h, whatever it holds,
// and returns the owner's refusal ("" if kept) or the stream's error.
func sendRaw(t *testing.T, h host.Host, owner peer.ID, raw []byte) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := h.NewStream(ctx, owner, clips.ReceiptProtocol)
	if err != nil {
		return "", err
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := protodelim.MarshalTo(st, &pb.ReceiptRequest{Transfer: raw}); err != nil {
		return "", err
	}
	_ = st.CloseWrite()
	resp := new(pb.ReceiptResponse)
	if err := protodelim.UnmarshalFrom(bufio.NewReader(st), resp); err != nil {
		return "", err
	}
	return resp.GetRefused(), nil
}

// TestReceiptReachesTheOwner: an agency that fetches a clip as evidence
// hands its signed transfer record back to the owner, who keeps it.
func TestReceiptReachesTheOwner(t *testing.T) {
	o := newReceiptOwner(t, 1)
	m := importBytes(t, o.store, randBytes(1, 100_000))
	req := someClip(90)
	w := newIntake(t, 1<<30, 1<<30, all, req)
	knows(w.host, o.host)
	g := o.share(t, w.host.ID(), req, m.ClipID())
	if err := w.intake.OnGrant(g, []*clips.SignedManifest{m}, o.id); err != nil {
		t.Fatal(err)
	}
	w.waitStored(t, m.ClipID())
	mine, err := w.grants.Transfer(m.ClipID())
	if err != nil {
		t.Fatal(err)
	}
	if mine.Grant() != g.ID {
		t.Fatalf("the transfer record names grant envelope %s, want %s", mine.Grant(), g.ID)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := o.grants.Receipt(g.GrantID(), m.ClipID())
		if err == nil {
			if string(r.Raw) != string(mine.Raw) {
				t.Fatal("the owner keeps another transfer record than the agency's")
			}
			break
		}
		if !errors.Is(err, clips.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("receipt: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMissingReceiptNeverFailsTheTransfer: an owner that does not take
// receipts (an older node), or a receipt that cannot be sent, leaves the
// evidence as it would be without receipts.
func TestMissingReceiptNeverFailsTheTransfer(t *testing.T) {
	a := newOwnerNode(t, 1) // serves clips, takes no receipts
	m := importBytes(t, a.store, randBytes(1, 100_000))
	req := someClip(90)
	sent := make(chan error, 1)
	w := newIntakeWith(t, func(c *clips.IntakeConfig) {
		h := c.Host
		c.SendReceipt = func(ctx context.Context, tr *clips.SignedTransfer) error {
			err := clips.SendReceipt(ctx, h, tr)
			sent <- err
			return err
		}
	}, 1<<30, 1<<30, all, req)
	knows(w.host, a.host)
	g := grantWithID(t, a.key, w.host.ID(), clips.GrantID{1}, req, m.ClipID())
	if err := w.intake.OnGrant(g, []*clips.SignedManifest{m}, a.id); err != nil {
		t.Fatal(err)
	}
	w.waitStored(t, m.ClipID())
	select {
	case err := <-sent:
		if err == nil {
			t.Fatal("a receipt was kept by an owner that takes none")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no receipt was tried")
	}
	if !w.grants.HasTransfer(m.ClipID()) {
		t.Fatal("the transfer record is missing")
	}
	if _, err := w.store.Manifest(m.ClipID()); err != nil {
		t.Fatalf("the evidence is gone: %v", err)
	}
}

// TestReceiptAttacks: the owner keeps only a receipt its grantee signed
// for a clip it served that grantee under its grant; strangers, replays,
// forgeries, huge and garbage messages and floods are refused or cut, and
// the table never holds more than one receipt per clip of its own grants.
func TestReceiptAttacks(t *testing.T) {
	o := newReceiptOwner(t, 1)
	served := importBytes(t, o.store, randBytes(1, 100_000))
	unserved := importBytes(t, o.store, randBytes(2, 1000))
	req := someClip(90)
	var agencyTransfer *clips.SignedTransfer
	w := newIntakeWith(t, func(c *clips.IntakeConfig) {
		// The agency keeps its receipt to itself for now: the test hands it
		// over by hand.
		c.SendReceipt = func(_ context.Context, tr *clips.SignedTransfer) error { agencyTransfer = tr; return nil }
	}, 1<<30, 1<<30, all, req)
	knows(w.host, o.host)
	g := o.share(t, w.host.ID(), req, served.ClipID(), unserved.ClipID())
	if err := w.intake.OnGrant(g, []*clips.SignedManifest{served}, o.id); err != nil { // unserved: no manifest, never fetched
		t.Fatal(err)
	}
	w.waitStored(t, served.ClipID())
	if err := w.intake.Close(); err != nil { // waits for the receipt call
		t.Fatal(err)
	}
	if agencyTransfer == nil {
		t.Fatal("the intake handed no receipt")
	}

	strangerKey, _ := edKey(t, 77)
	stranger := p2pHost(t, strangerKey)
	knows(stranger, o.host)
	gid := g.GrantID()
	sign := func(key crypto.PrivKey, receiver peer.ID, clip record.ID, received time.Time, grant []byte) []byte {
		tr, err := clips.SealTransfer(&pb.Transfer{ClipId: clip[:], GrantId: gid[:], Owner: []byte(o.id), Receiver: []byte(receiver),
			Received: received.UnixMilli(), Sha256: clip[:], Size: 1000, Grant: grant}, key)
		if err != nil {
			t.Fatal(err)
		}
		return tr.Raw
	}
	now := time.Now()
	refused := []struct {
		name string
		from host.Host
		raw  []byte
	}{
		{"a stranger's own transfer record for the owner's grant", stranger, sign(strangerKey, stranger.ID(), served.ClipID(), now, g.ID[:])},
		{"the agency's receipt replayed by a stranger", stranger, agencyTransfer.Raw},
		{"a clip never served", w.host, sign(w.key, w.host.ID(), unserved.ClipID(), now, g.ID[:])},
		{"a clip the grant does not name", w.host, sign(w.key, w.host.ID(), someClip(5), now, g.ID[:])},
		{"received in the future", w.host, sign(w.key, w.host.ID(), served.ClipID(), now.Add(time.Hour), g.ID[:])},
		{"received before the grant", w.host, sign(w.key, w.host.ID(), served.ClipID(), now.Add(-24*time.Hour), g.ID[:])},
		{"garbage", w.host, []byte("not a transfer record")},
		{"a forged signature", w.host, func() []byte {
			b := append([]byte(nil), agencyTransfer.Raw...)
			b[len(b)-3] ^= 1
			return b
		}()},
	}
	for _, c := range refused {
		got, err := sendRaw(t, c.from, o.id, c.raw)
		if err != nil || got == "" {
			t.Errorf("%s: refused %q, %v; want a refusal", c.name, got, err)
		}
	}
	if n := o.receipts(t); n != 0 {
		t.Fatalf("%d receipts kept after the attacks, want 0", n)
	}

	// The agency's own receipt is kept, once; another one of the same clip
	// is refused and the first stays.
	if got, err := sendRaw(t, w.host, o.id, agencyTransfer.Raw); err != nil || got != "" {
		t.Fatalf("the agency's receipt: refused %q, %v", got, err)
	}
	if got, err := sendRaw(t, w.host, o.id, agencyTransfer.Raw); err != nil || got != "" {
		t.Fatalf("the same receipt again: refused %q, %v", got, err)
	}
	other := sign(w.key, w.host.ID(), served.ClipID(), agencyTransfer.Received().Add(time.Second), g.ID[:])
	if got, err := sendRaw(t, w.host, o.id, other); err != nil || got != clips.ErrReceiptExists.Error() {
		t.Fatalf("a second receipt of the clip: refused %q, %v; want %q", got, err, clips.ErrReceiptExists)
	}
	if r, err := o.grants.Receipt(gid, served.ClipID()); err != nil || string(r.Raw) != string(agencyTransfer.Raw) {
		t.Fatalf("kept receipt: %v", err)
	}

	// A huge announced message is cut before it is read.
	st, err := stranger.NewStream(context.Background(), o.id, clips.ReceiptProtocol)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = st.Write(binary.AppendUvarint(nil, 64<<20))
	_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := st.Read(make([]byte, 16)); err == nil {
		t.Fatalf("a 64 MiB receipt got %d bytes of answer, want the stream reset", n)
	}
	_ = st.Reset()

	// A flood from one peer is cut after a grant's worth of receipts (a
	// burst of MaxGrantClips, refilled one per 500 ms).
	answered, cut := 0, false
	start := time.Now()
	for i := 0; i < clips.MaxGrantClips+30 && !cut; i++ {
		if _, err := sendRaw(t, stranger, o.id, []byte("x")); err != nil {
			cut = true
		} else {
			answered++
		}
	}
	if refills := int(time.Since(start) / (500 * time.Millisecond)); !cut || answered > clips.MaxGrantClips+refills+1 {
		t.Fatalf("a flood of receipts: %d answered (cut: %v), want at most %d", answered, cut, clips.MaxGrantClips+refills+1)
	}

	// A peer outside the neighborhood is reset unread.
	o.mu.Lock()
	o.strangers[w.host.ID()] = true
	o.mu.Unlock()
	if _, err := sendRaw(t, w.host, o.id, agencyTransfer.Raw); err == nil {
		t.Fatal("a receipt from outside the neighborhood was answered")
	}
	if n := o.receipts(t); n != 1 {
		t.Fatalf("%d receipts kept, want 1", n)
	}
}
