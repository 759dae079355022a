package clips_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	envpb "github.com/libp2p/go-libp2p/core/record/pb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

const testChunk = clips.MinChunkSize

// testManifest is a valid manifest of a 3-chunk clip.
func testManifest(owner peer.ID) *pb.Manifest {
	return manifestFor(owner, randBytes(1, 3*testChunk-5), testChunk)
}

func TestOpenManifest(t *testing.T) {
	key, owner := edKey(t, 1)
	_, other := edKey(t, 2)
	good, err := clips.SealManifest(testManifest(owner), key)
	if err != nil {
		t.Fatalf("SealManifest: %v", err)
	}
	edit := func(f func(m *pb.Manifest)) []byte {
		m := testManifest(owner)
		f(m)
		return forge(t, clips.ManifestType, m, key)
	}
	tests := []struct {
		name string
		raw  []byte
		want record.Reason // "" for valid
	}{
		{"valid", good.Raw, ""},
		{"valid without end", edit(func(m *pb.Manifest) { m.End = 0 }), ""},
		{"valid one byte", edit(func(m *pb.Manifest) { m.Size, m.ChunkSha256 = 1, m.ChunkSha256[:1] }), ""},
		{"valid largest chunk size", edit(func(m *pb.Manifest) { m.ChunkSize = clips.MaxChunkSize; m.ChunkSha256 = m.ChunkSha256[:1] }), ""},
		{"empty input", nil, record.ReasonMalformed},
		{"bad signature", editEnvelope(t, good.Raw, func(e *envpb.Envelope) { e.Signature[3] ^= 1 }), record.ReasonSignature},
		{"payload changed", editEnvelope(t, good.Raw, func(e *envpb.Envelope) { e.Payload[len(e.Payload)-1] ^= 1 }), record.ReasonSignature},
		{"other domain", forgeIn(t, record.Domain, clips.ManifestType, testManifest(owner), key), record.ReasonSignature},
		{"owner is not signer", edit(func(m *pb.Manifest) { m.Owner = []byte(other) }), record.ReasonAuthor},
		{"owner not a peer ID", edit(func(m *pb.Manifest) { m.Owner = []byte("me") }), record.ReasonAuthor},
		{"no owner", edit(func(m *pb.Manifest) { m.Owner = nil }), record.ReasonAuthor},
		{"grant payload type", forge(t, clips.GrantType, testManifest(owner), key), record.ReasonPayloadType},
		{"record payload type", forge(t, record.PayloadType, testManifest(owner), key), record.ReasonPayloadType},
		{"secp256k1 key", forge(t, clips.ManifestType, testManifest(mustPeer(t, secpKey(t))), secpKey(t)), record.ReasonKeyType},
		{"truncated", good.Raw[:len(good.Raw)-10], record.ReasonMalformed},
		{"not canonical", append(bytes.Clone(good.Raw), protowire.AppendTag(nil, 9, protowire.VarintType)[0], 1), record.ReasonMalformed},
		{"oversized", edit(func(m *pb.Manifest) { m.Camera = strings.Repeat("x", clips.MaxManifestSize) }), record.ReasonOversized},
		{"too many chunks", edit(func(m *pb.Manifest) {
			m.Size = (clips.MaxChunks + 1) * clips.MinChunkSize
			m.ChunkSha256 = make([][]byte, clips.MaxChunks+1)
		}), record.ReasonOversized},
		{"one chunk hash missing", edit(func(m *pb.Manifest) { m.ChunkSha256 = m.ChunkSha256[:2] }), record.ReasonMalformed},
		{"one chunk hash too many", edit(func(m *pb.Manifest) { m.ChunkSha256 = append(m.ChunkSha256, m.ChunkSha256[0]) }), record.ReasonMalformed},
		{"size one byte over", edit(func(m *pb.Manifest) { m.Size = 3*testChunk + 1 }), record.ReasonMalformed},
		{"chunk hash short", edit(func(m *pb.Manifest) { m.ChunkSha256[1] = m.ChunkSha256[1][:31] }), record.ReasonMalformed},
		{"chunk size too small", edit(func(m *pb.Manifest) { m.ChunkSize = clips.MinChunkSize - 1 }), record.ReasonMalformed},
		{"chunk size too large", edit(func(m *pb.Manifest) { m.ChunkSize = clips.MaxChunkSize + 1 }), record.ReasonMalformed},
		{"chunk size zero", edit(func(m *pb.Manifest) { m.ChunkSize = 0 }), record.ReasonMalformed},
		{"size zero", edit(func(m *pb.Manifest) { m.Size, m.ChunkSha256 = 0, nil }), record.ReasonEmpty},
		{"clip ID short", edit(func(m *pb.Manifest) { m.ClipId = m.ClipId[:31] }), record.ReasonMalformed},
		{"no start", edit(func(m *pb.Manifest) { m.Start = 0 }), record.ReasonTime},
		{"end before start", edit(func(m *pb.Manifest) { m.End = m.Start - 1 }), record.ReasonTime},
		{"no import time", edit(func(m *pb.Manifest) { m.Imported = 0 }), record.ReasonTime},
		{"camera 64 characters", edit(func(m *pb.Manifest) { m.Camera = strings.Repeat("é", 64) }), ""},
		{"camera 65 characters", edit(func(m *pb.Manifest) { m.Camera = strings.Repeat("é", 65) }), record.ReasonTooLong},
		{"camera not UTF-8", forgeBytes(t, clips.ManifestType, withCamera(t, testManifest(owner), "\xff"), key), record.ReasonMalformed},
		{"no media type", edit(func(m *pb.Manifest) { m.MediaType = "" }), record.ReasonMissing},
		{"media type too long", edit(func(m *pb.Manifest) { m.MediaType = "video/" + strings.Repeat("x", 95) }), record.ReasonTooLong},
		{"media type header injection", edit(func(m *pb.Manifest) { m.MediaType = "video/mp4\r\nSet-Cookie: a=b" }), record.ReasonMalformed},
		{"media type not a type", edit(func(m *pb.Manifest) { m.MediaType = "video mp4" }), record.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := clips.OpenManifest(tt.raw)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("OpenManifest: %v", err)
				}
				if m.Owner != owner || m.ID != record.IDOf(tt.raw) || !bytes.Equal(m.Raw, tt.raw) {
					t.Errorf("opened manifest: owner %s, ID %s", m.Owner, m.ID)
				}
				return
			}
			if err == nil {
				t.Fatal("OpenManifest accepted it")
			}
			if m != nil {
				t.Error("OpenManifest returned a manifest and an error")
			}
			if got := record.ReasonOf(err); got != tt.want {
				t.Errorf("reason %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

func TestSealManifestRefusesWhatOpenRefuses(t *testing.T) {
	key, _ := edKey(t, 1)
	_, other := edKey(t, 2)
	_, err := clips.SealManifest(testManifest(other), key)
	if record.ReasonOf(err) != record.ReasonAuthor {
		t.Fatalf("SealManifest of another owner's manifest: %v, want %s", err, record.ReasonAuthor)
	}
}

func TestManifestAccessors(t *testing.T) {
	key, owner := edKey(t, 1)
	data := randBytes(1, 3*testChunk-5)
	m, err := clips.SealManifest(manifestFor(owner, data, testChunk), key)
	if err != nil {
		t.Fatal(err)
	}
	if m.ClipID() != record.IDOf(data) {
		t.Errorf("ClipID %s, want the SHA-256 of the file", m.ClipID())
	}
	if m.ID == m.ClipID() {
		t.Error("the manifest's ID should be its envelope hash, not the clip ID")
	}
	if m.Size() != int64(len(data)) || m.Chunks() != 3 {
		t.Errorf("Size %d Chunks %d", m.Size(), m.Chunks())
	}
	for i, want := range []int{testChunk, testChunk, testChunk - 5, 0} {
		if got := m.ChunkLen(i); got != want {
			t.Errorf("ChunkLen(%d) = %d, want %d", i, got, want)
		}
	}
	if !m.Start().Equal(t0) || !m.End().Equal(t0.Add(30*time.Second)) {
		t.Errorf("Start %s End %s", m.Start(), m.End())
	}
	pm := manifestFor(owner, data, testChunk)
	pm.End = 0
	m, _ = clips.SealManifest(pm, key)
	if !m.End().IsZero() {
		t.Errorf("End of a manifest without end = %s, want zero", m.End())
	}
}

func mustPeer(t testing.TB, key crypto.PrivKey) peer.ID {
	t.Helper()
	id, err := peer.IDFromPublicKey(key.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// withCamera marshals m with its camera field replaced by raw bytes, which
// proto.Marshal would refuse if they are not UTF-8.
func withCamera(t testing.TB, m *pb.Manifest, camera string) []byte {
	t.Helper()
	m.Camera = ""
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return protowire.AppendString(protowire.AppendTag(b, 2, protowire.BytesType), camera)
}

func testGrant(owner, grantee peer.ID, clipIDs ...record.ID) *pb.Grant {
	g := &pb.Grant{
		GrantId: bytes.Repeat([]byte{0x6a}, clips.GrantIDLen),
		Owner:   []byte(owner),
		Grantee: []byte(grantee),
		Issued:  t0.UnixMilli(),
		Expires: t0.Add(24 * time.Hour).UnixMilli(),
	}
	for _, id := range clipIDs {
		g.ClipIds = append(g.ClipIds, bytes.Clone(id[:]))
	}
	return g
}

func clipID(n byte) record.ID { return record.IDOf([]byte{n}) }

func TestOpenGrant(t *testing.T) {
	key, owner := edKey(t, 1)
	_, agency := edKey(t, 2)
	good, err := clips.SealGrant(testGrant(owner, agency, clipID(1), clipID(2)), key)
	if err != nil {
		t.Fatalf("SealGrant: %v", err)
	}
	edit := func(f func(g *pb.Grant)) []byte {
		g := testGrant(owner, agency, clipID(1), clipID(2))
		f(g)
		return forge(t, clips.GrantType, g, key)
	}
	hundred := func(n int) [][]byte {
		var ids [][]byte
		for i := range n {
			id := record.IDOf([]byte{byte(i), byte(i >> 8)})
			ids = append(ids, id[:])
		}
		return ids
	}
	manifest, err := clips.SealManifest(testManifest(owner), key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		raw  []byte
		want record.Reason
	}{
		{"valid", good.Raw, ""},
		{"valid for the neighborhood", edit(func(g *pb.Grant) { g.Grantee = nil }), ""},
		{"valid answering a request", edit(func(g *pb.Grant) { id := clipID(9); g.RequestId = id[:] }), ""},
		{"valid 100 clips", edit(func(g *pb.Grant) { g.ClipIds = hundred(100) }), ""},
		{"bad signature", editEnvelope(t, good.Raw, func(e *envpb.Envelope) { e.Signature[0] ^= 0x80 }), record.ReasonSignature},
		{"owner is not signer", edit(func(g *pb.Grant) { g.Owner = []byte(agency) }), record.ReasonAuthor},
		{"manifest payload type", forge(t, clips.ManifestType, testGrant(owner, agency, clipID(1)), key), record.ReasonPayloadType},
		{"a manifest", manifest.Raw, record.ReasonPayloadType},
		{"truncated", good.Raw[:len(good.Raw)/2], record.ReasonMalformed},
		{"oversized", edit(func(g *pb.Grant) { g.ClipIds = hundred(300) }), record.ReasonOversized},
		{"secp256k1 key", forge(t, clips.GrantType, testGrant(mustPeer(t, secpKey(t)), agency, clipID(1)), secpKey(t)), record.ReasonKeyType},
		{"no clips", edit(func(g *pb.Grant) { g.ClipIds = nil }), record.ReasonMissing},
		{"101 clips", edit(func(g *pb.Grant) { g.ClipIds = hundred(101) }), record.ReasonTooLong},
		{"clip ID short", edit(func(g *pb.Grant) { g.ClipIds[1] = g.ClipIds[1][:31] }), record.ReasonMalformed},
		{"clip twice", edit(func(g *pb.Grant) { g.ClipIds[1] = g.ClipIds[0] }), record.ReasonMalformed},
		{"grantee not a peer ID", edit(func(g *pb.Grant) { g.Grantee = []byte("the police") }), record.ReasonMalformed},
		{"grant ID short", edit(func(g *pb.Grant) { g.GrantId = g.GrantId[:15] }), record.ReasonMalformed},
		{"no grant ID", edit(func(g *pb.Grant) { g.GrantId = nil }), record.ReasonMalformed},
		{"request ID short", edit(func(g *pb.Grant) { g.RequestId = []byte{1, 2, 3} }), record.ReasonMalformed},
		{"no issue time", edit(func(g *pb.Grant) { g.Issued = 0 }), record.ReasonTime},
		{"expires when issued", edit(func(g *pb.Grant) { g.Expires = g.Issued }), record.ReasonTime},
		{"expires before issued", edit(func(g *pb.Grant) { g.Expires = g.Issued - 1 }), record.ReasonTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := clips.OpenGrant(tt.raw)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("OpenGrant: %v", err)
				}
				if g.Owner != owner || g.ID != record.IDOf(tt.raw) {
					t.Errorf("opened grant: owner %s ID %s", g.Owner, g.ID)
				}
				return
			}
			if err == nil || g != nil {
				t.Fatalf("OpenGrant accepted it (err %v)", err)
			}
			if got := record.ReasonOf(err); got != tt.want {
				t.Errorf("reason %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

func TestOpenRevocation(t *testing.T) {
	key, owner := edKey(t, 1)
	otherKey, other := edKey(t, 2)
	rev := func(o peer.ID) *pb.GrantRevocation {
		return &pb.GrantRevocation{GrantId: bytes.Repeat([]byte{0x6a}, clips.GrantIDLen), Owner: []byte(o), Revoked: t0.UnixMilli()}
	}
	good, err := clips.SealRevocation(rev(owner), key)
	if err != nil {
		t.Fatalf("SealRevocation: %v", err)
	}
	tests := []struct {
		name string
		raw  []byte
		want record.Reason
	}{
		{"valid", good.Raw, ""},
		{"bad signature", editEnvelope(t, good.Raw, func(e *envpb.Envelope) { e.Signature[9] ^= 1 }), record.ReasonSignature},
		{"owner is not signer", forge(t, clips.RevocationType, rev(other), key), record.ReasonAuthor},
		{"grant payload type", forge(t, clips.GrantType, rev(owner), key), record.ReasonPayloadType},
		{"grant ID short", forge(t, clips.RevocationType, &pb.GrantRevocation{GrantId: []byte{1}, Owner: []byte(owner), Revoked: 1}, key), record.ReasonMalformed},
		{"no time", forge(t, clips.RevocationType, &pb.GrantRevocation{GrantId: make([]byte, 16), Owner: []byte(owner)}, key), record.ReasonTime},
		{"oversized", append(bytes.Clone(good.Raw), make([]byte, clips.MaxRevocationSize)...), record.ReasonOversized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := clips.OpenRevocation(tt.raw)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("OpenRevocation: %v", err)
				}
				return
			}
			if err == nil || r != nil {
				t.Fatalf("OpenRevocation accepted it (err %v)", err)
			}
			if got := record.ReasonOf(err); got != tt.want {
				t.Errorf("reason %q (%v), want %q", got, err, tt.want)
			}
		})
	}

	// Only the grant's owner revokes it.
	g, err := clips.SealGrant(testGrant(owner, other, clipID(1)), key)
	if err != nil {
		t.Fatal(err)
	}
	if !good.Revokes(g) {
		t.Error("the owner's revocation does not revoke the grant")
	}
	theirs, err := clips.SealRevocation(rev(other), otherKey)
	if err != nil {
		t.Fatal(err)
	}
	if theirs.Revokes(g) {
		t.Error("the grantee revoked the owner's grant")
	}
}

var canFetchErrs = []error{clips.ErrNoGrant, clips.ErrNotGrantee, clips.ErrClipNotGranted, clips.ErrGrantExpired, clips.ErrGrantRevoked}

func TestCanFetch(t *testing.T) {
	ownerKey, owner := edKey(t, 1)
	_, agency := edKey(t, 2)
	neighborKey, neighbor := edKey(t, 3)
	clip, otherClip := clipID(1), clipID(2)
	seal := func(key crypto.PrivKey, g *pb.Grant) *clips.SignedGrant {
		t.Helper()
		s, err := clips.SealGrant(g, key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	forAgency := seal(ownerKey, testGrant(owner, agency, clip))
	forHood := seal(ownerKey, testGrant(owner, "", clip))
	neighbors := seal(neighborKey, testGrant(neighbor, agency, clip))
	// A grant whose fields were changed after OpenGrant checked them.
	tampered := *neighbors
	tampered.Owner = owner

	during := t0.Add(time.Hour)
	expires := forAgency.Expires()
	tests := []struct {
		name      string
		g         *clips.SignedGrant
		revoked   bool
		requester peer.ID
		owner     peer.ID
		clip      record.ID
		now       time.Time
		want      error // nil: allowed
	}{
		{"valid", forAgency, false, agency, owner, clip, during, nil},
		{"valid at issue time", forAgency, false, agency, owner, clip, t0, nil},
		{"valid until the last ms", forAgency, false, agency, owner, clip, expires.Add(-time.Millisecond), nil},
		{"neighborhood grant, a neighbor", forHood, false, neighbor, owner, clip, during, nil},
		{"neighborhood grant, the agency", forHood, false, agency, owner, clip, during, nil},
		{"no grant", nil, false, agency, owner, clip, during, clips.ErrNoGrant},
		{"empty grant", &clips.SignedGrant{}, false, agency, owner, clip, during, clips.ErrNoGrant},
		{"grant of another owner", neighbors, false, agency, owner, clip, during, clips.ErrNoGrant},
		{"grant fields tampered", &tampered, false, agency, owner, clip, during, clips.ErrNoGrant},
		{"no owner", forAgency, false, agency, "", clip, during, clips.ErrNoGrant},
		{"grant for another clip", forAgency, false, agency, owner, otherClip, during, clips.ErrClipNotGranted},
		{"neighborhood grant for another clip", forHood, false, neighbor, owner, otherClip, during, clips.ErrClipNotGranted},
		{"zero clip", forAgency, false, agency, owner, record.ID{}, during, clips.ErrClipNotGranted},
		{"grant for another peer", forAgency, false, neighbor, owner, clip, during, clips.ErrNotGrantee},
		{"owner fetching with the agency's grant", forAgency, false, owner, owner, clip, during, clips.ErrNotGrantee},
		{"no requester", forAgency, false, "", owner, clip, during, clips.ErrNotGrantee},
		{"no requester, neighborhood grant", forHood, false, "", owner, clip, during, clips.ErrNotGrantee},
		{"expired", forAgency, false, agency, owner, clip, expires, clips.ErrGrantExpired},
		{"long expired", forAgency, false, agency, owner, clip, expires.Add(365 * 24 * time.Hour), clips.ErrGrantExpired},
		{"issued in the future", forAgency, false, agency, owner, clip, t0.Add(-time.Hour), clips.ErrGrantExpired},
		{"issued within clock skew", forAgency, false, agency, owner, clip, t0.Add(-time.Minute), nil},
		{"revoked", forAgency, true, agency, owner, clip, during, clips.ErrGrantRevoked},
		{"revoked neighborhood grant", forHood, true, neighbor, owner, clip, during, clips.ErrGrantRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := clips.CanFetch(tt.g, tt.revoked, tt.requester, tt.owner, tt.clip, tt.now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CanFetch refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("CanFetch = %v, want %v", err, tt.want)
			}
			for _, other := range canFetchErrs {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("CanFetch error %v also matches %v", err, other)
				}
			}
		})
	}
}

// Grants survive a round trip through their bytes with every field.
func TestGrantAccessors(t *testing.T) {
	key, owner := edKey(t, 1)
	_, agency := edKey(t, 2)
	g, err := clips.SealGrant(testGrant(owner, agency, clipID(1), clipID(2)), key)
	if err != nil {
		t.Fatal(err)
	}
	back, err := clips.OpenGrant(bytes.Clone(g.Raw))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(back.G, g.G) || back.ID != g.ID {
		t.Error("grant changed in a round trip")
	}
	if back.Grantee() != agency || !back.Issued().Equal(t0) || !back.Expires().Equal(t0.Add(24*time.Hour)) {
		t.Errorf("grantee %s issued %s expires %s", back.Grantee(), back.Issued(), back.Expires())
	}
	if ids := back.ClipIDs(); len(ids) != 2 || ids[0] != clipID(1) || ids[1] != clipID(2) {
		t.Errorf("ClipIDs = %v", ids)
	}
	if back.GrantID().String() != strings.Repeat("6a", 16) {
		t.Errorf("GrantID = %s", back.GrantID())
	}
}
