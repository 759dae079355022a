package clips_test

import (
	"bytes"
	"crypto/sha256"
	"testing"

	envpb "github.com/libp2p/go-libp2p/core/record/pb"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// openReasons are the reasons the Open functions may give; anything else is
// a bug.
var openReasons = map[record.Reason]bool{
	record.ReasonOversized:   true,
	record.ReasonMalformed:   true,
	record.ReasonPayloadType: true,
	record.ReasonKeyType:     true,
	record.ReasonSignature:   true,
	record.ReasonAuthor:      true,
	record.ReasonTime:        true,
	record.ReasonEmpty:       true,
	record.ReasonTooLong:     true,
	record.ReasonMissing:     true,
}

// checkRefusal fails unless err is a refusal with one of Open's reasons.
func checkRefusal(t *testing.T, err error, returned bool) {
	t.Helper()
	if returned {
		t.Fatalf("returned a document and error %v", err)
	}
	if r := record.ReasonOf(err); !openReasons[r] {
		t.Fatalf("error %v has reason %q, not one of Open's", err, r)
	}
}

// FuzzOpenManifest feeds OpenManifest arbitrary bytes. It must never panic
// or change its input, must refuse with its own reasons, and what it
// accepts must be self-consistent: chunk lengths that add up to the size.
func FuzzOpenManifest(f *testing.F) {
	key, owner := edKey(f, 1)
	data := randBytes(1, 3*clips.MinChunkSize-5)
	good, err := clips.SealManifest(manifestFor(owner, data, clips.MinChunkSize), key)
	if err != nil {
		f.Fatal(err)
	}
	one := manifestFor(owner, []byte{1}, clips.MaxChunkSize)
	one.End, one.Camera = 0, ""
	f.Add(good.Raw)
	f.Add(forge(f, clips.ManifestType, one, key))
	f.Add(editEnvelope(f, good.Raw, func(e *envpb.Envelope) { e.Signature[0] ^= 0x80 }))
	f.Add(forge(f, clips.GrantType, manifestFor(owner, data, clips.MinChunkSize), key))
	f.Add(forge(f, clips.ManifestType, &pb.Manifest{Owner: []byte(owner), Size: 1 << 62, ChunkSize: clips.MinChunkSize}, key))
	f.Add(good.Raw[:len(good.Raw)/2])
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, raw []byte) {
		in := bytes.Clone(raw)
		m, err := clips.OpenManifest(raw)
		if !bytes.Equal(raw, in) {
			t.Fatal("OpenManifest modified its input")
		}
		if err != nil {
			checkRefusal(t, err, m != nil)
			return
		}
		if len(raw) > clips.MaxManifestSize {
			t.Fatalf("accepted %d bytes, limit %d", len(raw), clips.MaxManifestSize)
		}
		if m.ID != sha256.Sum256(raw) {
			t.Fatal("ID is not the SHA-256 of the input")
		}
		if m.Chunks() < 1 || m.Chunks() > clips.MaxChunks {
			t.Fatalf("accepted %d chunks", m.Chunks())
		}
		var sum int64
		for i := range m.Chunks() {
			n := m.ChunkLen(i)
			if n <= 0 || n > int(m.M.GetChunkSize()) {
				t.Fatalf("chunk %d has length %d", i, n)
			}
			sum += int64(n)
		}
		if sum != m.Size() {
			t.Fatalf("chunks add up to %d bytes, size %d", sum, m.Size())
		}
		if e := m.End(); !e.IsZero() && e.Before(m.Start()) {
			t.Fatal("accepted an end before the start")
		}
	})
}

// FuzzOpenGrant feeds OpenGrant arbitrary bytes; what it accepts must be
// usable by CanFetch without surprises.
func FuzzOpenGrant(f *testing.F) {
	key, owner := edKey(f, 1)
	_, agency := edKey(f, 2)
	good, err := clips.SealGrant(testGrant(owner, agency, clipID(1), clipID(2)), key)
	if err != nil {
		f.Fatal(err)
	}
	hood := testGrant(owner, "", clipID(3))
	req := clipID(4)
	hood.RequestId = req[:]
	f.Add(good.Raw)
	f.Add(forge(f, clips.GrantType, hood, key))
	f.Add(editEnvelope(f, good.Raw, func(e *envpb.Envelope) { e.Payload[0] ^= 1 }))
	f.Add(forge(f, clips.GrantType, testGrant(agency, owner, clipID(1)), key))
	f.Add(forge(f, clips.RevocationType, &pb.GrantRevocation{GrantId: make([]byte, 16), Owner: []byte(owner), Revoked: 1}, key))
	f.Add(good.Raw[:len(good.Raw)-1])
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, raw []byte) {
		in := bytes.Clone(raw)
		g, err := clips.OpenGrant(raw)
		if !bytes.Equal(raw, in) {
			t.Fatal("OpenGrant modified its input")
		}
		if err != nil {
			checkRefusal(t, err, g != nil)
			return
		}
		if len(raw) > clips.MaxGrantSize || g.ID != sha256.Sum256(raw) {
			t.Fatal("accepted an oversized grant or gave it the wrong ID")
		}
		ids := g.ClipIDs()
		if len(ids) < 1 || len(ids) > clips.MaxGrantClips {
			t.Fatalf("accepted %d clips", len(ids))
		}
		during := g.Issued().Add(g.Expires().Sub(g.Issued()) / 2)
		requester := g.Grantee()
		if requester == "" {
			requester = agency
		}
		if err := clips.CanFetch(g, false, requester, g.Owner, ids[0], during); err != nil {
			t.Fatalf("a valid grant does not let its grantee fetch its first clip: %v", err)
		}
		if err := clips.CanFetch(g, false, requester, g.Owner, ids[0], g.Expires()); err == nil {
			t.Fatal("CanFetch allowed a fetch at the expiry time")
		}
		if err := clips.CanFetch(g, true, requester, g.Owner, ids[0], during); err == nil {
			t.Fatal("CanFetch allowed a fetch with a revoked grant")
		}
	})
}

// FuzzOpenRevocation feeds OpenRevocation arbitrary bytes.
func FuzzOpenRevocation(f *testing.F) {
	key, owner := edKey(f, 1)
	good, err := clips.SealRevocation(&pb.GrantRevocation{GrantId: make([]byte, 16), Owner: []byte(owner), Revoked: t0.UnixMilli()}, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.Raw)
	f.Add(good.Raw[1:])
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := clips.OpenRevocation(raw)
		if err != nil {
			checkRefusal(t, err, r != nil)
			return
		}
		if len(raw) > clips.MaxRevocationSize || r.ID != sha256.Sum256(raw) {
			t.Fatal("accepted an oversized revocation or gave it the wrong ID")
		}
	})
}

// FuzzParseFileName: camera file names (the watched folder's input) either
// parse into a camera name and a start time Import accepts, or are left
// alone (the file's modification time is used instead).
func FuzzParseFileName(f *testing.F) {
	for _, s := range []string{"front-door-2026-11-27T19-42-10Z.mp4", "2026-11-27T19-42-10Z.mp4", "a-2026-13-45T99-99-99Z.mp4", ".mp4", "", "x-2026-11-27T19-42-10+02-00.mkv"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		camera, start, ok := clips.ParseFileName(name)
		if !ok {
			return
		}
		// A time without a zone is local time; with one, any zone. Import
		// refuses start times at or before 1970.
		if start.UnixMilli() <= 0 || start.Year() > 9999 || len(camera) > len(name) {
			t.Fatalf("ParseFileName(%q) = %q, %v", name, camera, start)
		}
	})
}
