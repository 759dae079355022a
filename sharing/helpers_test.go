package sharing

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"go.uber.org/goleak"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// agencyRequests is an in-memory Requests: this node is an agency when
// open is not nil, with the open requests in it.
type agencyRequests struct {
	self peer.ID
	mu   sync.Mutex
	open map[record.ID]bool
}

func (r *agencyRequests) IsAgency(p peer.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return p == r.self && r.open != nil
}

func (r *agencyRequests) List(a peer.ID, _ int) ([]requests.Listed, error) {
	if !r.IsAgency(a) {
		return nil, requests.ErrUnknownAgency
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []requests.Listed
	for id := range r.open {
		out = append(out, requests.Listed{Item: &requests.Item{ID: id, Agency: r.self}})
	}
	return out, nil
}

// setOpen makes this node an agency with these open requests.
func (r *agencyRequests) setOpen(ids ...record.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open = map[record.ID]bool{}
	for _, id := range ids {
		r.open[id] = true
	}
}

func (r *agencyRequests) Document(record.ID) (*record.Doc, error) { return nil, nil }

// home is one node's sharing side on real components: a libp2p host on
// 127.0.0.1, a records database and a clip database on disk, and the
// service. Its directories outlive a restart.
type home struct {
	t      testing.TB
	dir    string
	key    crypto.PrivKey
	id     peer.ID
	reqs   *agencyRequests
	tweak  func(*Config)
	host   host.Host
	db     *store.DB
	clipDB interface{ Close() error }
	store  *clips.Store
	svc    *Service
	closed bool
}

func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, id
}

// newHome starts a home in a fresh directory; tweak, if set, edits its
// Config (the tests' short intervals are set before).
func newHome(t testing.TB, tweak func(*Config)) *home {
	t.Helper()
	h := newParts(t, tweak)
	h.startService()
	return h
}

// newParts opens a home's host and databases in a fresh directory, without
// its service.
func newParts(t testing.TB, tweak func(*Config)) *home {
	t.Helper()
	key, id := newKey(t)
	h := &home{t: t, dir: t.TempDir(), key: key, id: id, reqs: &agencyRequests{self: id}, tweak: tweak}
	h.openParts()
	t.Cleanup(h.stop)
	return h
}

// b returns the bytes of an ID.
func b(id record.ID) []byte { return id[:] }

// openParts opens the host and the databases.
func (h *home) openParts() {
	t := h.t
	t.Helper()
	var err error
	h.host, err = libp2p.New(libp2p.Identity(h.key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	h.db, err = store.Open(store.Config{Dir: filepath.Join(h.dir, "db"), Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	cdb, err := clips.OpenDB(filepath.Join(h.dir, "clips"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	h.clipDB = cdb
	h.store, err = clips.New(clips.Config{DB: cdb, Key: h.key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h.closed = false
}

// startService starts the service over the open parts.
func (h *home) startService() {
	h.t.Helper()
	cfg := Config{
		Host: h.host, Key: h.key, DB: h.db, Clips: h.store, Requests: h.reqs, Records: h.db,
		InNeighborhood: h.connected,
		ShareRetry:     100 * time.Millisecond,
		FetchRetry:     100 * time.Millisecond,
		HoldCheck:      50 * time.Millisecond,
		Logger:         quiet,
	}
	if h.tweak != nil {
		h.tweak(&cfg)
	}
	var err error
	if h.svc, err = New(cfg); err != nil {
		h.t.Fatal(err)
	}
}

// connected is the node's idea of a neighbor: a connected peer.
func (h *home) connected(p peer.ID) bool {
	return h.host.Network().Connectedness(p) == network.Connected
}

// stop closes the service, the host and the databases, in a node's order.
func (h *home) stop() {
	if h.closed {
		return
	}
	h.closed = true
	if h.svc != nil {
		if err := h.svc.Close(); err != nil {
			h.t.Errorf("close the service: %v", err)
		}
		h.svc = nil
	}
	_ = h.host.Close()
	if err := h.clipDB.Close(); err != nil {
		h.t.Errorf("close the clip database: %v", err)
	}
	if err := h.db.Close(); err != nil {
		h.t.Errorf("close the records database: %v", err)
	}
}

// restart stops the home and opens it again on the same directories and
// key (the host listens on a new port).
func (h *home) restart() {
	h.t.Helper()
	h.stop()
	h.openParts()
	h.startService()
}

// connect makes h and o neighbors: connected peers.
func (h *home) connect(o *home) {
	h.t.Helper()
	h.host.Peerstore().AddAddrs(o.id, o.host.Addrs(), peerstore.PermanentAddrTTL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.host.Connect(ctx, peer.AddrInfo{ID: o.id, Addrs: o.host.Addrs()}); err != nil {
		h.t.Fatal(err)
	}
}

// importClip imports n pseudo-random bytes as a clip of h.
func (h *home) importClip(seed byte, n int) *clips.SignedManifest {
	h.t.Helper()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	b[0] = seed
	m, err := h.store.Import(context.Background(), bytes.NewReader(b), clips.ImportMeta{Camera: "front-door", Start: time.Now().Add(-time.Hour), MediaType: "video/mp4"})
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

// held reports whether clip is stored here and held.
func (h *home) held(clip record.ID) bool {
	h.t.Helper()
	_, held, err := h.store.Expires(clip)
	if err != nil {
		h.t.Fatalf("clip %.12s: %v", clip, err)
	}
	return held
}

// holds lists the hold index.
func (h *home) holds() []hold {
	h.t.Helper()
	hs, err := h.svc.scanHolds(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return hs
}

// waitFor polls cond until it holds or 15 seconds pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ids(ms ...*clips.SignedManifest) []record.ID {
	var out []record.ID
	for _, m := range ms {
		out = append(out, m.ClipID())
	}
	return out
}
