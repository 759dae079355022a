package clips_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// frontDoorClip is a real H.264 clip, about 60 KiB.
const frontDoorClip = "testdata/front-door-2026-11-27T19-42-10Z.mp4"

// p2pHost starts a libp2p host on 127.0.0.1 with key, closed when the test
// ends.
func p2pHost(t testing.TB, key crypto.PrivKey) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// knows tells h where others listen.
func knows(h host.Host, others ...host.Host) {
	for _, o := range others {
		h.Peerstore().AddAddrs(o.ID(), o.Addrs(), peerstore.PermanentAddrTTL)
	}
}

// ownerNode is a clip owner's node: a store, its access log and a clip
// server on a real host.
type ownerNode struct {
	key       crypto.PrivKey
	id        peer.ID
	db        *clips.DB
	store     *clips.Store
	audit     *clips.Audit
	host      host.Host
	server    *clips.Server
	mu        sync.Mutex
	revoked   map[clips.GrantID]bool
	strangers map[peer.ID]bool // peers outside the neighborhood
}

// inNeighborhood: every peer but the strangers.
func (o *ownerNode) inNeighborhood(p peer.ID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.strangers[p]
}

func newOwnerNode(t testing.TB, seed byte) *ownerNode {
	t.Helper()
	o := &ownerNode{revoked: map[clips.GrantID]bool{}, strangers: map[peer.ID]bool{}}
	o.key, o.id = edKey(t, seed)
	o.db = openBadger(t)
	o.store = newStore(t, seed, clips.Config{DB: o.db, Key: o.key, ChunkSize: clips.MinChunkSize})
	var err error
	if o.audit, err = clips.NewAudit(openRecords(t)); err != nil {
		t.Fatal(err)
	}
	o.host = p2pHost(t, o.key)
	o.server, err = clips.NewServer(clips.ServerConfig{
		Host:           o.host,
		Store:          o.store,
		Audit:          o.audit,
		Logger:         quiet,
		InNeighborhood: o.inNeighborhood,
		Revoked: func(id clips.GrantID) bool {
			o.mu.Lock()
			defer o.mu.Unlock()
			return o.revoked[id]
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.server.Close() })
	return o
}

// grant signs a grant of o for grantee over clips, valid in [from, until).
func (o *ownerNode) grant(t testing.TB, grantee peer.ID, from, until time.Time, ids ...record.ID) *clips.SignedGrant {
	t.Helper()
	return signGrant(t, o.key, o.id, grantee, from, until, ids...)
}

func signGrant(t testing.TB, key crypto.PrivKey, owner, grantee peer.ID, from, until time.Time, ids ...record.ID) *clips.SignedGrant {
	t.Helper()
	g := &pb.Grant{GrantId: make([]byte, clips.GrantIDLen), Owner: []byte(owner), Grantee: []byte(grantee), Issued: from.UnixMilli(), Expires: until.UnixMilli()}
	_, _ = rand.Read(g.GrantId)
	for _, id := range ids {
		g.ClipIds = append(g.ClipIds, id[:])
	}
	sg, err := clips.SealGrant(g, key)
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

func (o *ownerNode) lastEntry(t testing.TB) clips.Entry {
	t.Helper()
	es, err := o.audit.List(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Fatal("access log is empty")
	}
	return es[0]
}

func (o *ownerNode) entries(t testing.TB) int {
	t.Helper()
	es, err := o.audit.List(0)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// rawFetch sends a ClipRequest by hand and returns the response and every
// byte that followed it.
func rawFetch(t testing.TB, h host.Host, owner peer.ID, req *pb.ClipRequest) (*pb.ClipResponse, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := h.NewStream(ctx, owner, clips.ClipProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := protodelim.MarshalTo(st, req); err != nil {
		t.Fatal(err)
	}
	_ = st.CloseWrite()
	r := bufio.NewReader(st)
	resp := new(pb.ClipResponse)
	if err := (protodelim.UnmarshalOptions{MaxSize: 1 << 20}).UnmarshalFrom(r, resp); err != nil {
		t.Fatalf("read response: %v", err)
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read after response: %v", err)
	}
	return resp, rest
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// world is an owner A with two clips, the grantee B and a third peer C.
type world struct {
	a          *ownerNode
	b, c       host.Host
	bKey       crypto.PrivKey
	video, rnd []byte
	mv, mr     *clips.SignedManifest
}

func newWorld(t *testing.T) *world {
	w := &world{a: newOwnerNode(t, 1)}
	var err error
	if w.video, err = os.ReadFile(frontDoorClip); err != nil {
		t.Fatal(err)
	}
	w.rnd = randBytes(7, 3<<20+12345) // 49 chunks of 64 KiB, the last short
	w.mv = importBytes(t, w.a.store, w.video)
	w.mr = importBytes(t, w.a.store, w.rnd)
	w.bKey, _ = edKey(t, 2)
	cKey, _ := edKey(t, 3)
	w.b, w.c = p2pHost(t, w.bKey), p2pHost(t, cKey)
	knows(w.b, w.a.host)
	knows(w.c, w.a.host)
	knows(w.a.host, w.b, w.c)
	return w
}

func TestFetchRefusals(t *testing.T) {
	w := newWorld(t)
	a, b, c := w.a, w.b.ID(), w.c.ID()
	now := time.Now()
	clip, other := w.mr.ClipID(), w.mv.ClipID()
	valid := a.grant(t, b, now.Add(-time.Minute), now.Add(time.Hour), clip)
	revoked := a.grant(t, b, now.Add(-time.Minute), now.Add(time.Hour), clip)
	a.revoked[revoked.GrantID()] = true
	xKey, xID := edKey(t, 9)
	size := uint64(len(w.rnd))
	// A grant claiming A as owner but signed by X does not even open.
	forged := &pb.Grant{GrantId: bytes.Repeat([]byte{1}, 16), Owner: []byte(a.id), Grantee: []byte(b), ClipIds: [][]byte{clip[:]}, Issued: now.Add(-time.Minute).UnixMilli(), Expires: now.Add(time.Hour).UnixMilli()}

	for _, tc := range []struct {
		name           string
		from           host.Host
		grant          []byte
		clip           record.ID
		offset, length uint64
		want           error
	}{
		{"no grant", w.b, nil, clip, 0, 0, clips.ErrNoGrant},
		{"garbage grant", w.b, []byte("let me in"), clip, 0, 0, clips.ErrNoGrant},
		{"grant for another clip", w.b, a.grant(t, b, now.Add(-time.Minute), now.Add(time.Hour), other).Raw, clip, 0, 0, clips.ErrClipNotGranted},
		{"grant for another peer", w.b, a.grant(t, c, now.Add(-time.Minute), now.Add(time.Hour), clip).Raw, clip, 0, 0, clips.ErrNotGrantee},
		{"expired", w.b, a.grant(t, b, now.Add(-2*time.Hour), now.Add(-time.Hour), clip).Raw, clip, 0, 0, clips.ErrGrantExpired},
		{"not yet issued", w.b, a.grant(t, b, now.Add(time.Hour), now.Add(2*time.Hour), clip).Raw, clip, 0, 0, clips.ErrGrantExpired},
		{"revoked", w.b, revoked.Raw, clip, 0, 0, clips.ErrGrantRevoked},
		{"forged owner signature", w.b, forge(t, clips.GrantType, forged, xKey), clip, 0, 0, clips.ErrNoGrant},
		{"another owner's grant", w.b, signGrant(t, xKey, xID, b, now.Add(-time.Minute), now.Add(time.Hour), clip).Raw, clip, 0, 0, clips.ErrNoGrant},
		{"grant replayed by a third peer", w.c, valid.Raw, clip, 0, 0, clips.ErrNotGrantee},
		{"clip not stored", w.b, a.grant(t, b, now.Add(-time.Minute), now.Add(time.Hour), record.ID{42}).Raw, record.ID{42}, 0, 0, clips.ErrNotFound},
		{"offset at the end", w.b, valid.Raw, clip, size, 0, clips.ErrRange},
		{"range past the end", w.b, valid.Raw, clip, size - 10, 11, clips.ErrRange},
		{"range overflowing", w.b, valid.Raw, clip, 1, ^uint64(0), clips.ErrRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := a.entries(t)
			var got bytes.Buffer
			m, err := clips.Fetch(ctxT(t), tc.from, a.id, tc.grant, tc.clip, tc.offset, tc.length, &got)
			if !errors.Is(err, clips.ErrRefused) || !errors.Is(err, tc.want) {
				t.Fatalf("Fetch: %v, want a refusal for %q", err, tc.want)
			}
			if m != nil || got.Len() != 0 {
				t.Errorf("Fetch returned a manifest (%v) and wrote %d bytes", m != nil, got.Len())
			}
			e := a.lastEntry(t)
			if a.entries(t) != before+1 || e.Served || e.Reason != tc.want.Error() || e.Peer != tc.from.ID() || e.Bytes != 0 || e.Clip != tc.clip {
				t.Errorf("access log: %d new entries, last %+v; want one refusal of %s for %q", a.entries(t)-before, e, tc.from.ID(), tc.want)
			}

			// On the wire: the refusal and not one byte after it.
			resp, rest := rawFetch(t, tc.from, a.id, &pb.ClipRequest{Grant: tc.grant, ClipId: tc.clip[:], Offset: tc.offset, Length: tc.length})
			if resp.GetRefused() != tc.want.Error() || len(resp.GetManifest()) != 0 || len(rest) != 0 {
				t.Errorf("wire: refused %q, %d manifest bytes, %d bytes after; want %q and nothing", resp.GetRefused(), len(resp.GetManifest()), len(rest), tc.want)
			}
		})
	}
}

func TestFetchMalformedRequestIsLogged(t *testing.T) {
	w := newWorld(t)
	ctx := ctxT(t)
	st, err := w.c.NewStream(ctx, w.a.id, clips.ClipProtocol)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = st.Write([]byte{0xff, 0xff, 0xff, 0xff, 0x7f}) // a 34 GB message
	_ = st.CloseWrite()
	_ = st.SetDeadline(time.Now().Add(10 * time.Second))
	n, _ := io.Copy(io.Discard, st)
	_ = st.Close()
	if n != 0 {
		t.Errorf("got %d bytes for a malformed request", n)
	}
	if e := w.a.lastEntry(t); e.Served || e.Peer != w.c.ID() || e.Reason == "" {
		t.Errorf("access log: %+v, want a refusal of %s", e, w.c.ID())
	}
}

func TestFetchServes(t *testing.T) {
	w := newWorld(t)
	a, b := w.a, w.b.ID()
	now := time.Now()
	g := a.grant(t, b, now.Add(-time.Minute), now.Add(time.Hour), w.mv.ClipID(), w.mr.ClipID())
	cs := uint64(clips.MinChunkSize)
	for _, tc := range []struct {
		name           string
		data           []byte
		m              *clips.SignedManifest
		offset, length uint64
		sent           int64 // bytes the owner logs: whole chunks
	}{
		{"real clip, whole", w.video, w.mv, 0, 0, int64(len(w.video))},
		{"random, whole", w.rnd, w.mr, 0, 0, int64(len(w.rnd))},
		{"random, middle range across chunks", w.rnd, w.mr, 100_000, 1_000_000, int64(17*cs - 1*cs)},
		{"random, inside one chunk", w.rnd, w.mr, 3*cs + 5, 100, int64(cs)},
		{"random, to the end from the middle", w.rnd, w.mr, 2_000_000, 0, int64(len(w.rnd)) - int64(2_000_000/cs*cs)},
		{"random, last byte", w.rnd, w.mr, uint64(len(w.rnd)) - 1, 1, int64(uint64(len(w.rnd)) % cs)},
		{"random, first chunk exactly", w.rnd, w.mr, 0, cs, int64(cs)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got bytes.Buffer
			m, err := clips.Fetch(ctxT(t), w.b, a.id, g.Raw, tc.m.ClipID(), tc.offset, tc.length, &got)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if m.ID != tc.m.ID {
				t.Errorf("manifest %s, want %s", m.ID, tc.m.ID)
			}
			end := uint64(len(tc.data))
			if tc.length != 0 {
				end = tc.offset + tc.length
			}
			if !bytes.Equal(got.Bytes(), tc.data[tc.offset:end]) {
				t.Errorf("got %d bytes that differ from the file's %d to %d", got.Len(), tc.offset, end)
			}
			e := a.lastEntry(t)
			if !e.Served || e.Reason != "" || e.Peer != b || e.Clip != tc.m.ClipID() || e.Grant != g.GrantID() || e.Bytes != tc.sent {
				t.Errorf("access log: %+v, want %d bytes served to %s", e, tc.sent, b)
			}
		})
	}
}

// tamperChunk overwrites chunk i of a stored clip in Badger, through the
// key layout documented in doc.go: M I holds the blob B at bytes 1 to 16,
// C B N holds chunk N.
func tamperChunk(t testing.TB, cdb *clips.DB, clip record.ID, i int) {
	db := cdb.Badger()
	t.Helper()
	err := db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(append([]byte{'M'}, clip[:]...))
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		k := binary.BigEndian.AppendUint32(append([]byte{'C'}, v[1:17]...), uint32(i))
		ci, err := txn.Get(k)
		if err != nil {
			return err
		}
		chunk, err := ci.ValueCopy(nil)
		if err != nil {
			return err
		}
		chunk[len(chunk)/2] ^= 1
		return txn.Set(k, chunk)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFetchTamperedChunk(t *testing.T) {
	w := newWorld(t)
	a, b := w.a, w.b.ID()
	now := time.Now()
	clip := w.mr.ClipID()
	g := a.grant(t, b, now.Add(-time.Minute), now.Add(time.Hour), clip)
	tamperChunk(t, a.db, clip, 2)
	cs := clips.MinChunkSize

	var got bytes.Buffer
	_, err := clips.Fetch(ctxT(t), w.b, a.id, g.Raw, clip, 0, 0, &got)
	if !errors.Is(err, clips.ErrChunkMismatch) {
		t.Fatalf("Fetch: %v, want ErrChunkMismatch", err)
	}
	if !bytes.Equal(got.Bytes(), w.rnd[:2*cs]) {
		t.Errorf("Fetch wrote %d bytes, want exactly the %d of the two good chunks before the bad one", got.Len(), 2*cs)
	}
	// A range that avoids the bad chunk still verifies.
	got.Reset()
	if _, err := clips.Fetch(ctxT(t), w.b, a.id, g.Raw, clip, uint64(3*cs), 10, &got); err != nil || !bytes.Equal(got.Bytes(), w.rnd[3*cs:3*cs+10]) {
		t.Errorf("Fetch of chunk 3: %v", err)
	}

	bDB := openBadger(t)
	bStore := newStore(t, 2, clips.Config{DB: bDB, Key: w.bKey})
	if _, err := clips.FetchAndStore(ctxT(t), w.b, a.id, g.Raw, clip, bStore); !errors.Is(err, clips.ErrChunkMismatch) {
		t.Fatalf("FetchAndStore: %v, want ErrChunkMismatch", err)
	}
	if _, err := bStore.Manifest(clip); !errors.Is(err, clips.ErrNotFound) {
		t.Errorf("after a failed FetchAndStore, Manifest: %v, want ErrNotFound", err)
	}
	assertEmpty(t, bDB)
}

func TestFetchAndStore(t *testing.T) {
	w := newWorld(t)
	a, b := w.a, w.b.ID()
	now := time.Now()
	g := a.grant(t, b, now.Add(-time.Minute), now.Add(time.Hour), w.mv.ClipID(), w.mr.ClipID())
	bStore := newStore(t, 2, clips.Config{Key: w.bKey})
	for _, tc := range []struct {
		data []byte
		m    *clips.SignedManifest
	}{{w.video, w.mv}, {w.rnd, w.mr}} {
		m, err := clips.FetchAndStore(ctxT(t), w.b, a.id, g.Raw, tc.m.ClipID(), bStore)
		if err != nil {
			t.Fatalf("FetchAndStore: %v", err)
		}
		if m.ID != tc.m.ID || m.Owner != a.id {
			t.Errorf("stored manifest %s by %s, want %s by %s", m.ID, m.Owner, tc.m.ID, a.id)
		}
		r, err := bStore.Reader(tc.m.ClipID())
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, tc.data) {
			t.Errorf("stored clip: %d bytes (%v), want the original %d", len(got), err, len(tc.data))
		}
	}
	// Stored already: no second transfer.
	before := a.entries(t)
	if _, err := clips.FetchAndStore(ctxT(t), w.b, a.id, g.Raw, w.mv.ClipID(), bStore); err != nil {
		t.Fatal(err)
	}
	if a.entries(t) != before {
		t.Error("FetchAndStore fetched a clip it had")
	}
}

// TestServerServesOnlyOwnClips: a clip received from a peer is not served
// on the strength of this node's grants.
func TestServerServesOnlyOwnClips(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	// B, now an owner node itself, received A's clip.
	bNode := newOwnerNode(t, 4)
	knows(bNode.host, w.a.host, w.c)
	knows(w.c, bNode.host)
	gA := w.a.grant(t, bNode.id, now.Add(-time.Minute), now.Add(time.Hour), w.mv.ClipID())
	if _, err := clips.FetchAndStore(ctxT(t), bNode.host, w.a.id, gA.Raw, w.mv.ClipID(), bNode.store); err != nil {
		t.Fatal(err)
	}
	gB := bNode.grant(t, w.c.ID(), now.Add(-time.Minute), now.Add(time.Hour), w.mv.ClipID())
	var got bytes.Buffer
	if _, err := clips.Fetch(ctxT(t), w.c, bNode.id, gB.Raw, w.mv.ClipID(), 0, 0, &got); !errors.Is(err, clips.ErrNotFound) || got.Len() != 0 {
		t.Errorf("Fetch of a received clip: %v, %d bytes; want ErrNotFound", err, got.Len())
	}
}

func TestFetchCanceled(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	g := w.a.grant(t, w.b.ID(), now.Add(-time.Minute), now.Add(time.Hour), w.mr.ClipID())
	ctx, cancel := context.WithCancel(context.Background())
	_, err := clips.Fetch(ctx, w.b, w.a.id, g.Raw, w.mr.ClipID(), 0, 0, writerFunc(func(p []byte) (int, error) {
		cancel()
		return len(p), nil
	}))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch: %v, want context.Canceled", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestNewServerConfig(t *testing.T) {
	key, _ := edKey(t, 1)
	s := newStore(t, 1, clips.Config{Key: key})
	a, err := clips.NewAudit(openRecords(t))
	if err != nil {
		t.Fatal(err)
	}
	h := p2pHost(t, key)
	otherKey, _ := edKey(t, 5)
	other := p2pHost(t, otherKey)
	never := func(clips.GrantID) bool { return false }
	all := func(peer.ID) bool { return true }
	for _, tc := range []struct {
		name string
		cfg  clips.ServerConfig
	}{
		{"no host", clips.ServerConfig{Store: s, Audit: a, Revoked: never, InNeighborhood: all}},
		{"no store", clips.ServerConfig{Host: h, Audit: a, Revoked: never, InNeighborhood: all}},
		{"no audit", clips.ServerConfig{Host: h, Store: s, Revoked: never, InNeighborhood: all}},
		{"no revocation check", clips.ServerConfig{Host: h, Store: s, Audit: a, InNeighborhood: all}},
		{"no neighborhood check", clips.ServerConfig{Host: h, Store: s, Audit: a, Revoked: never}},
		{"host is not the owner", clips.ServerConfig{Host: other, Store: s, Audit: a, Revoked: never, InNeighborhood: all}},
	} {
		if _, err := clips.NewServer(tc.cfg); err == nil {
			t.Errorf("%s: NewServer succeeded", tc.name)
		}
	}
	srv, err := clips.NewServer(clips.ServerConfig{Host: h, Store: s, Audit: a, Revoked: never, InNeighborhood: all})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// grantee is a node receiving grants over ShareProtocol.
type grantee struct {
	host   host.Host
	mu     sync.Mutex
	got    []*clips.SignedGrant
	ms     [][]*clips.SignedManifest
	from   []peer.ID
	server *clips.ShareServer
}

func newGrantee(t testing.TB, key crypto.PrivKey) *grantee {
	t.Helper()
	g := &grantee{host: p2pHost(t, key)}
	var err error
	g.server, err = clips.NewShareServer(clips.ShareServerConfig{
		Host:           g.host,
		Logger:         quiet,
		InNeighborhood: func(peer.ID) bool { return true },
		OnGrant: func(sg *clips.SignedGrant, ms []*clips.SignedManifest, from peer.ID) error {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.got, g.ms, g.from = append(g.got, sg), append(g.ms, ms), append(g.from, from)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.server.Close() })
	return g
}

func (g *grantee) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.got)
}

// rawShare delivers a ShareRequest by hand, skipping Share's own checks.
func rawShare(t testing.TB, h host.Host, to peer.ID, req *pb.ShareRequest) string {
	t.Helper()
	st, err := h.NewStream(ctxT(t), to, clips.ShareProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := protodelim.MarshalTo(st, req); err != nil {
		t.Fatal(err)
	}
	_ = st.CloseWrite()
	resp := new(pb.ShareResponse)
	if err := (protodelim.UnmarshalOptions{MaxSize: 4 << 10}).UnmarshalFrom(bufio.NewReader(st), resp); err != nil {
		t.Fatal(err)
	}
	return resp.GetRefused()
}

func TestShare(t *testing.T) {
	w := newWorld(t)
	a := w.a
	// B runs a share server on a host of its own key.
	_ = w.b.Close()
	gb := newGrantee(t, w.bKey)
	b := gb.host.ID()
	knows(a.host, gb.host)
	knows(gb.host, a.host)
	now := time.Now()
	g := a.grant(t, b, now.Add(-time.Minute), now.Add(time.Hour), w.mv.ClipID(), w.mr.ClipID())

	if err := clips.Share(ctxT(t), a.host, b, g, []*clips.SignedManifest{w.mv, w.mr}); err != nil {
		t.Fatalf("Share: %v", err)
	}
	if gb.count() != 1 || gb.got[0].ID != g.ID || gb.from[0] != a.id || len(gb.ms[0]) != 2 || gb.ms[0][0].ID != w.mv.ID {
		t.Fatalf("grantee got %d grants", gb.count())
	}

	// Share itself refuses to send a grant to someone it does not name.
	toC := a.grant(t, w.c.ID(), now.Add(-time.Minute), now.Add(time.Hour), w.mv.ClipID())
	if err := clips.Share(ctxT(t), a.host, b, toC, nil); !errors.Is(err, clips.ErrNotGrantee) {
		t.Errorf("Share of C's grant to B: %v, want ErrNotGrantee", err)
	}

	xKey, xID := edKey(t, 9)
	mvID := w.mv.ClipID()
	forgedOwner := &pb.Grant{GrantId: bytes.Repeat([]byte{1}, 16), Owner: []byte(a.id), Grantee: []byte(b), ClipIds: [][]byte{mvID[:]}, Issued: now.Add(-time.Minute).UnixMilli(), Expires: now.Add(time.Hour).UnixMilli()}
	xManifest, err := clips.SealManifest(manifestFor(xID, w.video, clips.MinChunkSize), xKey)
	if err != nil {
		t.Fatal(err)
	}
	// The grantee refuses, whatever the sender.
	for _, tc := range []struct {
		name string
		req  *pb.ShareRequest
		want error
	}{
		{"grant names another peer", &pb.ShareRequest{Grant: toC.Raw}, clips.ErrNotGrantee},
		{"neighborhood grant", &pb.ShareRequest{Grant: a.grant(t, "", now.Add(-time.Minute), now.Add(time.Hour), w.mv.ClipID()).Raw}, clips.ErrNotGrantee},
		{"expired grant", &pb.ShareRequest{Grant: a.grant(t, b, now.Add(-2*time.Hour), now.Add(-time.Hour), w.mv.ClipID()).Raw}, clips.ErrGrantExpired},
		{"garbage", &pb.ShareRequest{Grant: []byte("grant")}, clips.ErrNoGrant},
		{"forged signature", &pb.ShareRequest{Grant: forge(t, clips.GrantType, forgedOwner, xKey)}, clips.ErrNoGrant},
		{"another owner's manifest", &pb.ShareRequest{Grant: g.Raw, Manifests: [][]byte{xManifest.Raw}}, clips.ErrBadManifest},
		{"a manifest twice", &pb.ShareRequest{Grant: g.Raw, Manifests: [][]byte{w.mv.Raw, w.mv.Raw}}, clips.ErrBadManifest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rawShare(t, a.host, b, tc.req); got != tc.want.Error() {
				t.Errorf("refused %q, want %q", got, tc.want)
			}
		})
	}
	// A grant relayed by someone other than its owner.
	cKnows := w.c
	knows(cKnows, gb.host)
	if got := rawShare(t, cKnows, b, &pb.ShareRequest{Grant: g.Raw}); got != clips.ErrNotOwnerGrant.Error() {
		t.Errorf("grant relayed by C: refused %q, want %q", got, clips.ErrNotOwnerGrant)
	}
	if gb.count() != 1 {
		t.Errorf("grantee kept %d grants, want only the valid one", gb.count())
	}
}

func TestNewShareServerConfig(t *testing.T) {
	key, _ := edKey(t, 1)
	h := p2pHost(t, key)
	if _, err := clips.NewShareServer(clips.ShareServerConfig{Host: h, InNeighborhood: func(peer.ID) bool { return true }}); err == nil {
		t.Error("NewShareServer without OnGrant succeeded")
	}
	if _, err := clips.NewShareServer(clips.ShareServerConfig{Host: h, OnGrant: func(*clips.SignedGrant, []*clips.SignedManifest, peer.ID) error { return nil }}); err == nil {
		t.Error("NewShareServer without InNeighborhood succeeded")
	}
	if _, err := clips.NewShareServer(clips.ShareServerConfig{OnGrant: func(*clips.SignedGrant, []*clips.SignedManifest, peer.ID) error { return nil }}); err == nil {
		t.Error("NewShareServer without Host succeeded")
	}
}
