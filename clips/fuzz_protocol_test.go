package clips

// Fuzz targets for the frames of the clip and share protocols, inside the
// package so they can drive the server's decision and the requester's
// checks directly, without a stream per input.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// fuzzWorld is an owner with one stored clip of five 64 KiB chunks (the
// last short) and a grantee holding a grant for it.
type fuzzWorld struct {
	store          *Store
	ownerKey       crypto.PrivKey
	owner, grantee peer.ID
	m, other       *SignedManifest // other: a clip the store does not hold
	grant, foreign *SignedGrant    // foreign: a grant for other
}

func fuzzKey(f *testing.F, seed byte) (crypto.PrivKey, peer.ID) {
	b := bytes.Repeat([]byte{seed}, 32)
	k, _, err := crypto.GenerateEd25519Key(bytes.NewReader(b))
	if err != nil {
		f.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return k, id
}

func newFuzzWorld(f *testing.F) *fuzzWorld {
	w := &fuzzWorld{}
	w.ownerKey, w.owner = fuzzKey(f, 1)
	_, w.grantee = fuzzKey(f, 2)
	db, err := OpenDB(f.TempDir(), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	if w.store, err = New(Config{DB: db, Key: w.ownerKey, ChunkSize: MinChunkSize}); err != nil {
		f.Fatal(err)
	}
	data := make([]byte, 4*MinChunkSize+1234)
	r := mrand.New(mrand.NewPCG(1, 1))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	if w.m, err = w.store.Import(context.Background(), bytes.NewReader(data), ImportMeta{Start: time.UnixMilli(1_700_000_000_000)}); err != nil {
		f.Fatal(err)
	}
	// A second clip, imported elsewhere: its manifest is valid but the
	// store does not hold it.
	db2, err := OpenDB(f.TempDir(), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db2.Close() })
	s2, err := New(Config{DB: db2, Key: w.ownerKey, ChunkSize: MinChunkSize})
	if err != nil {
		f.Fatal(err)
	}
	if w.other, err = s2.Import(context.Background(), bytes.NewReader(data[:1000]), ImportMeta{Start: time.UnixMilli(1_700_000_000_000)}); err != nil {
		f.Fatal(err)
	}
	w.grant = w.sealGrant(f, w.grantee, w.m.ClipID())
	w.foreign = w.sealGrant(f, w.grantee, w.other.ClipID())
	return w
}

func (w *fuzzWorld) sealGrant(f *testing.F, grantee peer.ID, ids ...record.ID) *SignedGrant {
	now := time.Now()
	g := &pb.Grant{GrantId: make([]byte, GrantIDLen), Owner: []byte(w.owner), Grantee: []byte(grantee),
		Issued: now.Add(-time.Hour).UnixMilli(), Expires: now.Add(24 * 365 * time.Hour).UnixMilli()}
	_, _ = rand.Read(g.GrantId)
	for _, id := range ids {
		g.ClipIds = append(g.ClipIds, id[:])
	}
	sg, err := SealGrant(g, w.ownerKey)
	if err != nil {
		f.Fatal(err)
	}
	return sg
}

func frame(f *testing.F, m proto.Message) []byte {
	var b bytes.Buffer
	if _, err := protodelim.MarshalTo(&b, m); err != nil {
		f.Fatal(err)
	}
	return b.Bytes()
}

// FuzzClipRequest feeds the owner's server arbitrary request frames. It
// must never panic, must serve only a grantee with a valid grant for a
// stored clip, and a range it serves must be whole chunks inside the clip
// that cover what was asked.
func FuzzClipRequest(f *testing.F) {
	w := newFuzzWorld(f)
	s := &Server{cfg: ServerConfig{Store: w.store, Revoked: func(GrantID) bool { return false }, Now: time.Now}, owner: w.owner}
	id, other := w.m.ClipID(), w.other.ClipID()
	size := uint64(w.m.Size())
	for _, r := range []*pb.ClipRequest{
		{Grant: w.grant.Raw, ClipId: id[:]},
		{Grant: w.grant.Raw, ClipId: id[:], Offset: 70_000, Length: 100},
		{Grant: w.grant.Raw, ClipId: id[:], Offset: size - 1, Length: 1},
		{Grant: w.grant.Raw, ClipId: id[:], Offset: 1, Length: 1<<64 - 1},
		{Grant: w.grant.Raw, ClipId: id[:], Offset: size},
		{Grant: w.grant.Raw, ClipId: other[:]},
		{Grant: w.foreign.Raw, ClipId: other[:]},
		{Grant: w.grant.Raw[:len(w.grant.Raw)/2], ClipId: id[:]},
		{ClipId: id[:]},
	} {
		f.Add(frame(f, r))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{})
	// The valid seeds do reach the success path.
	if _, _, err := s.decide(w.grantee, id, &pb.ClipRequest{Grant: w.grant.Raw, ClipId: id[:], Offset: 70_000, Length: 100}); err != nil {
		f.Fatalf("valid request refused: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req := new(pb.ClipRequest)
		if err := (protodelim.UnmarshalOptions{MaxSize: maxClipRequest}).UnmarshalFrom(bufio.NewReader(bytes.NewReader(data)), req); err != nil {
			return
		}
		var clip record.ID
		if len(req.GetClipId()) == len(clip) {
			clip = record.ID(req.GetClipId())
		}
		p, g, err := s.decide(w.grantee, clip, req)
		if err != nil {
			if p != nil {
				t.Fatalf("a plan with error %v", err)
			}
			return
		}
		if g == nil || !g.Covers(clip) || g.Grantee() != w.grantee || clip != w.m.ClipID() {
			t.Fatalf("served clip %s under grant %v", clip, g)
		}
		off, n := req.GetOffset(), req.GetLength()
		if n == 0 {
			n = size - off
		}
		cs := uint64(MinChunkSize)
		if off >= size || n > size-off || p.start > off || p.end < off+n || p.end > size || p.start%cs != 0 ||
			p.first > p.last || p.last >= w.m.Chunks() || p.start != uint64(p.first)*cs {
			t.Fatalf("request %d+%d of %d: plan chunks %d..%d, bytes %d..%d", req.GetOffset(), req.GetLength(), size, p.first, p.last, p.start, p.end)
		}
	})
}

// FuzzClipResponse feeds the requester arbitrary response frames for a
// request of (offset, length) of the clip. It must never panic, and what it
// accepts must be the owner's manifest of that very clip, announcing
// exactly the chunks that cover the request.
func FuzzClipResponse(f *testing.F) {
	w := newFuzzWorld(f)
	id := w.m.ClipID()
	size := uint64(w.m.Size())
	cs := uint64(MinChunkSize)
	f.Add(frame(f, &pb.ClipResponse{Manifest: w.m.Raw, Offset: 0, Length: size}), uint64(0), uint64(0))
	f.Add(frame(f, &pb.ClipResponse{Manifest: w.m.Raw, Offset: cs, Length: cs}), uint64(70_000), uint64(100))
	f.Add(frame(f, &pb.ClipResponse{Manifest: w.m.Raw, Offset: 4 * cs, Length: size - 4*cs}), size-1, uint64(1))
	f.Add(frame(f, &pb.ClipResponse{Manifest: w.other.Raw, Offset: 0, Length: 1000}), uint64(0), uint64(0))
	f.Add(frame(f, &pb.ClipResponse{Refused: ErrRange.Error()}), size, uint64(0))
	f.Add(frame(f, &pb.ClipResponse{Manifest: w.m.Raw, Offset: 0, Length: 1 << 62}), uint64(0), uint64(0))
	f.Add([]byte{0x05, 1, 2, 3}, uint64(0), uint64(0))
	if err := (&transfer{}).accept(&pb.ClipResponse{Manifest: w.m.Raw, Offset: cs, Length: cs}, w.owner, id, 70_000, 100); err != nil {
		f.Fatalf("valid response refused: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte, offset, length uint64) {
		resp := new(pb.ClipResponse)
		if err := (protodelim.UnmarshalOptions{MaxSize: maxClipResponse}).UnmarshalFrom(bufio.NewReader(bytes.NewReader(data)), resp); err != nil {
			return
		}
		tr := &transfer{}
		if err := tr.accept(resp, w.owner, id, offset, length); err != nil {
			return
		}
		n := length
		if n == 0 {
			n = size - offset
		}
		m := tr.m
		mcs := uint64(m.M.GetChunkSize())
		if m.ClipID() != id || m.Owner != w.owner || offset >= uint64(m.Size()) ||
			tr.first > tr.last || tr.last >= m.Chunks() ||
			resp.GetOffset() != uint64(tr.first)*mcs || resp.GetOffset() > offset ||
			resp.GetOffset()+resp.GetLength() < offset+n || resp.GetOffset()+resp.GetLength() > uint64(m.Size()) {
			t.Fatalf("accepted %+v for %d+%d: chunks %d..%d", resp, offset, length, tr.first, tr.last)
		}
	})
}

// idHost is a host.Host that knows only its ID: all ShareServer.accept asks.
type idHost struct {
	host.Host
	id peer.ID
}

func (h idHost) ID() peer.ID { return h.id }

// FuzzShareRequest feeds the grantee's share server arbitrary delivery
// frames from the owner. It must never panic, and must hand on only a grant
// of that owner for this node with at most one manifest per clip it names,
// each signed by the owner.
func FuzzShareRequest(f *testing.F) {
	w := newFuzzWorld(f)
	var got struct {
		g  *SignedGrant
		ms []*SignedManifest
	}
	s := &ShareServer{cfg: ShareServerConfig{Host: idHost{id: w.grantee}, Now: time.Now,
		OnGrant: func(g *SignedGrant, ms []*SignedManifest, _ peer.ID) error {
			got.g, got.ms = g, ms
			return nil
		}}}
	both := w.sealGrant(f, w.grantee, w.m.ClipID(), w.other.ClipID())
	for _, r := range []*pb.ShareRequest{
		{Grant: w.grant.Raw, Manifests: [][]byte{w.m.Raw}},
		{Grant: both.Raw, Manifests: [][]byte{w.m.Raw, w.other.Raw}},
		{Grant: both.Raw, Manifests: [][]byte{w.m.Raw, w.m.Raw}},
		{Grant: w.grant.Raw, Manifests: [][]byte{w.other.Raw}},
		{Grant: w.grant.Raw},
		{Manifests: [][]byte{w.m.Raw}},
	} {
		f.Add(frame(f, r))
	}
	if err := s.accept(&pb.ShareRequest{Grant: both.Raw, Manifests: [][]byte{w.m.Raw, w.other.Raw}}, w.owner); err != nil || len(got.ms) != 2 {
		f.Fatalf("valid delivery refused: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req := new(pb.ShareRequest)
		if err := (protodelim.UnmarshalOptions{MaxSize: maxShareRequest}).UnmarshalFrom(bufio.NewReader(bytes.NewReader(data)), req); err != nil {
			return
		}
		got.g, got.ms = nil, nil
		if err := s.accept(req, w.owner); err != nil {
			if got.g != nil {
				t.Fatalf("refused (%v) but handed on a grant", err)
			}
			return
		}
		g := got.g
		if g == nil || g.Owner != w.owner || g.Grantee() != w.grantee {
			t.Fatalf("handed on grant %+v", g)
		}
		seen := map[record.ID]bool{}
		for _, m := range got.ms {
			if m.Owner != w.owner || !g.Covers(m.ClipID()) || seen[m.ClipID()] {
				t.Fatalf("handed on manifest of clip %s by %s", m.ClipID(), m.Owner)
			}
			seen[m.ClipID()] = true
		}
	})
}
