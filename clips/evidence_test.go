package clips_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
	rpb "github.com/porchlight-mesh/porchlight/record/pb"
)

const testClip = "testdata/front-door-2026-11-27T19-42-10Z.mp4"

// evidence is a consistent set of signed documents for one clip: the owner
// (key 1) granted it to an agency (key 2), certified by an issuer (key 3),
// in answer to the agency's request.
type evidence struct {
	ownerKey, agencyKey, issuerKey crypto.PrivKey
	owner, agency                  peer.ID
	base                           time.Time // wall clock: record.Open refuses future requests
	clip                           []byte
	m                              *clips.SignedManifest
	cred                           *record.Doc
	req                            *record.Signed
	g                              *clips.SignedGrant
	tr                             *clips.SignedTransfer
}

var area = &rpb.Area{Shape: &rpb.Area_Circle{Circle: &rpb.Circle{Center: &rpb.Location{LatE6: 45_520_000, LonE6: -122_680_000}, RadiusM: 300}}}

func newEvidence(t testing.TB) *evidence {
	t.Helper()
	e := newKeys(t)

	clip, err := os.ReadFile(testClip)
	if err != nil {
		t.Fatal(err)
	}
	e.clip = clip
	s := newStore(t, 1, clips.Config{ChunkSize: clips.MinChunkSize})
	e.m, err = s.Import(context.Background(), bytes.NewReader(clip), clips.ImportMeta{
		Camera: "front-door", Start: t0, End: t0.Add(6 * time.Second), MediaType: "video/mp4",
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.m.Chunks() < 2 {
		t.Fatalf("test clip has %d chunks, want several", e.m.Chunks())
	}
	// Read the clip back from the store: the bundle carries what the owner
	// served, not the file.
	rd, err := s.Reader(e.m.ClipID())
	if err != nil {
		t.Fatal(err)
	}
	if e.clip, err = io.ReadAll(rd); err != nil || !bytes.Equal(e.clip, clip) {
		t.Fatalf("store gives back another clip (err %v)", err)
	}

	e.sign(t)
	return e
}

func newKeys(t testing.TB) *evidence {
	t.Helper()
	e := &evidence{base: time.Now().Add(-time.Hour).Truncate(time.Millisecond)}
	e.ownerKey, e.owner = edKey(t, 1)
	e.agencyKey, e.agency = edKey(t, 2)
	e.issuerKey, _ = edKey(t, 3)
	return e
}

// sign makes credential, request, grant and transfer for e.m.
func (e *evidence) sign(t testing.TB) {
	t.Helper()
	var err error
	e.cred, err = record.SealCredential(&rpb.Credential{
		Agency: []byte(e.agency), Name: "Elm County Sheriff", Jurisdiction: area,
		NotBefore: e.base.Add(-24 * time.Hour).UnixMilli(), NotAfter: e.base.Add(365 * 24 * time.Hour).UnixMilli(),
	}, e.issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	e.req = e.request(t, 1, "2026-11-0042")
	e.g = e.grant(t, e.ownerKey, e.agency, e.m.ClipID())
	e.tr = e.transfer(t, e.agencyKey, e.m.ClipID())
}

func (e *evidence) request(t testing.TB, seq uint64, caseNumber string) *record.Signed {
	t.Helper()
	ent := &rpb.Entry{
		Author: []byte(e.agency), Seq: seq, Created: e.base.UnixMilli(), Neighborhood: "elm-street",
		Body: &rpb.Entry_Request{Request: &rpb.Request{
			Credential: e.cred.ID[:], CaseNumber: caseNumber, Incident: "package theft",
			Contact: "desk@elm-county.example", Area: area,
			From: t0.Add(-time.Hour).UnixMilli(), To: t0.Add(time.Hour).UnixMilli(),
		}},
	}
	if seq > 1 {
		ent.Prev = bytes.Repeat([]byte{9}, 32)
	}
	r, err := record.SealAt(ent, e.agencyKey, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *evidence) grant(t testing.TB, key crypto.PrivKey, grantee peer.ID, clip record.ID) *clips.SignedGrant {
	t.Helper()
	signer, _ := peer.IDFromPrivateKey(key)
	g, err := clips.SealGrant(&pb.Grant{
		GrantId: bytes.Repeat([]byte{0x6a}, clips.GrantIDLen), Owner: []byte(signer), Grantee: []byte(grantee),
		ClipIds: [][]byte{clip[:]}, RequestId: e.req.ID[:],
		Issued: e.base.Add(10 * time.Minute).UnixMilli(), Expires: e.base.Add(7 * 24 * time.Hour).UnixMilli(),
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (e *evidence) transfer(t testing.TB, key crypto.PrivKey, clip record.ID) *clips.SignedTransfer {
	t.Helper()
	signer, _ := peer.IDFromPrivateKey(key)
	sum := e.m.ClipID()
	tr, err := clips.SealTransfer(&pb.Transfer{
		ClipId: clip[:], GrantId: e.g.G.GetGrantId(), Owner: []byte(e.owner), Receiver: []byte(signer),
		Received: e.base.Add(20 * time.Minute).UnixMilli(), Sha256: sum[:], Size: uint64(e.m.Size()),
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func (e *evidence) bundle() clips.Bundle {
	return clips.Bundle{
		Clip: bytes.NewReader(e.clip), Manifest: e.m, Grant: e.g, Request: e.req.Raw,
		Credential: e.cred.Raw, Transfer: e.tr,
	}
}

func writeBundle(t testing.TB, b clips.Bundle) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := clips.WriteBundle(&buf, b); err != nil {
		t.Fatalf("WriteBundle: %v", err)
	}
	return buf.Bytes()
}

// member is one tar member, for rewriting bundles.
type member struct {
	hdr  tar.Header
	data []byte
}

func members(t testing.TB, bundle []byte) []member {
	t.Helper()
	var out []member
	tr := tar.NewReader(bytes.NewReader(bundle))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, member{*h, data})
	}
}

func pack(t testing.TB, ms []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := m.hdr
		h.Size = int64(len(m.data))
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.data); err != nil && h.Typeflag == tar.TypeReg {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func name(m member) string { return strings.TrimPrefix(m.hdr.Name, clips.BundleDir) }

// edit rewrites the member called base with f, or fails.
func edit(t testing.TB, ms []member, base string, f func([]byte) []byte) []member {
	t.Helper()
	out := make([]member, 0, len(ms))
	found := false
	for _, m := range ms {
		if name(m) == base {
			m.data = f(bytes.Clone(m.data))
			found = true
		}
		out = append(out, m)
	}
	if !found {
		t.Fatalf("no member %s", base)
	}
	return out
}

func without(ms []member, base string) []member {
	var out []member
	for _, m := range ms {
		if name(m) != base {
			out = append(out, m)
		}
	}
	return out
}

func flip(at int) func([]byte) []byte {
	return func(b []byte) []byte {
		if at < 0 {
			at += len(b)
		}
		b[at] ^= 0x01
		return b
	}
}

func replace(data []byte) func([]byte) []byte { return func([]byte) []byte { return data } }

func TestBundleVerifies(t *testing.T) {
	e := newEvidence(t)
	bundle := writeBundle(t, e.bundle())

	sum, err := clips.VerifyBundle(bytes.NewReader(bundle))
	if err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	want := clips.Summary{
		Owner: e.owner, Receiver: e.agency, Clip: e.m.ClipID(), Camera: "front-door",
		Start: t0, End: t0.Add(6 * time.Second), Size: int64(len(e.clip)), MediaType: "video/mp4",
		Grant: e.g.GrantID(), GrantIssued: e.g.Issued(), GrantExpires: e.g.Expires(), Received: e.tr.Received(),
		Request: e.req.ID, Agency: e.agency, CaseNumber: "2026-11-0042", AgencyName: "Elm County Sheriff",
		Verified: true, Verdict: sum.Verdict,
	}
	want.Issuer, _ = peer.IDFromPrivateKey(e.issuerKey)
	if !sum.Start.Equal(want.Start) || !sum.End.Equal(want.End) || !sum.GrantExpires.Equal(want.GrantExpires) {
		t.Errorf("times: got %v %v %v", sum.Start, sum.End, sum.GrantExpires)
	}
	sum.Start, sum.End, sum.GrantIssued, sum.GrantExpires, sum.Received = want.Start, want.End, want.GrantIssued, want.GrantExpires, want.Received
	if sum != want {
		t.Errorf("summary\n got %+v\nwant %+v", sum, want)
	}
	if !strings.HasPrefix(sum.Verdict, "verified") {
		t.Errorf("verdict %q", sum.Verdict)
	}

	// The format: fixed names, order, modes and times.
	var names []string
	for _, m := range members(t, bundle) {
		names = append(names, m.hdr.Name)
		if m.hdr.Mode != 0o644 || !m.hdr.ModTime.Equal(time.Unix(0, 0)) || m.hdr.Typeflag != tar.TypeReg || m.hdr.Uid != 0 || m.hdr.Uname != "" {
			t.Errorf("%s: mode %o mtime %v type %c uid %d uname %q", m.hdr.Name, m.hdr.Mode, m.hdr.ModTime, m.hdr.Typeflag, m.hdr.Uid, m.hdr.Uname)
		}
	}
	wantNames := []string{"README.txt", "manifest.env", "grant.env", "request.env", "credential.env", "transfer.env", "clip.mp4"}
	for i := range wantNames {
		wantNames[i] = "porchlight-evidence/1/" + wantNames[i]
	}
	if strings.Join(names, " ") != strings.Join(wantNames, " ") {
		t.Errorf("members %v, want %v", names, wantNames)
	}
	// Reproducible: the same documents make the same bytes.
	if again := writeBundle(t, e.bundle()); !bytes.Equal(again, bundle) {
		t.Error("writing the same bundle twice gives different bytes")
	}
	// GNU tar pads archives with zeros to 10 KiB: still fine.
	padded := append(bytes.Clone(bundle), make([]byte, 10240-len(bundle)%10240)...)
	if _, err := clips.VerifyBundle(bytes.NewReader(padded)); err != nil {
		t.Errorf("zero-padded bundle: %v", err)
	}
}

func TestBundleWithoutRequest(t *testing.T) {
	e := newEvidence(t)
	g, err := clips.SealGrant(&pb.Grant{
		GrantId: e.g.G.GetGrantId(), Owner: []byte(e.owner), ClipIds: [][]byte{e.m.M.GetClipId()},
		Issued: e.g.G.GetIssued(), Expires: e.g.G.GetExpires(),
	}, e.ownerKey)
	if err != nil {
		t.Fatal(err)
	}
	e.g = g
	b := e.bundle()
	b.Request, b.Credential = nil, nil
	sum, err := clips.VerifyBundle(bytes.NewReader(writeBundle(t, b)))
	if err != nil {
		t.Fatalf("neighborhood grant answering no request: %v", err)
	}
	if !sum.Request.IsZero() || sum.Receiver != e.agency {
		t.Errorf("summary %+v", sum)
	}

	b = e.bundle()
	if err := clips.WriteBundle(io.Discard, b); err == nil || !strings.Contains(err.Error(), "request.env: unexpected") {
		t.Errorf("WriteBundle with a request the grant does not answer: %v", err)
	}
}

func TestWriteBundleRefuses(t *testing.T) {
	e := newEvidence(t)
	tests := []struct {
		name string
		edit func(*clips.Bundle)
		want string
	}{
		{"no request", func(b *clips.Bundle) { b.Request = nil }, "request.env: missing"},
		{"no transfer", func(b *clips.Bundle) { b.Transfer = nil }, "are all required"},
		{"another owner's grant", func(b *clips.Bundle) { b.Grant = e.grant(t, e.agencyKey, e.agency, e.m.ClipID()) }, "grant.env: grant"},
		{"changed clip", func(b *clips.Bundle) { b.Clip = bytes.NewReader(flip(70000)(bytes.Clone(e.clip))) }, "write evidence bundle: clip.mp4: chunk 1 (bytes 65536 to 123327)"},
		{"short clip", func(b *clips.Bundle) { b.Clip = bytes.NewReader(e.clip[:1000]) }, "clip.mp4: 1000 bytes, but manifest.env gives 123328"},
		{"long clip", func(b *clips.Bundle) { b.Clip = io.MultiReader(bytes.NewReader(e.clip), strings.NewReader("x")) }, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.bundle()
			tt.edit(&b)
			err := clips.WriteBundle(io.Discard, b)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("WriteBundle: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestBundleTamper is the tamper corpus: each change to a valid bundle must
// fail, naming the member and the problem.
func TestBundleTamper(t *testing.T) {
	e := newEvidence(t)
	valid := writeBundle(t, e.bundle())
	ms := members(t, valid)

	// Documents for swaps, each valid on its own.
	other := append(bytes.Clone(e.clip), "more"...)
	otherSum := sha256.Sum256(other)
	otherManifest, err := clips.SealManifest(manifestFor(e.owner, other, clips.MinChunkSize), e.ownerKey)
	if err != nil {
		t.Fatal(err)
	}
	strangerKey, stranger := edKey(t, 4)
	strangerGrant := e.grant(t, strangerKey, e.agency, e.m.ClipID())
	otherClipTransfer := e.transfer(t, e.agencyKey, otherSum)
	strangerTransfer := e.transfer(t, strangerKey, e.m.ClipID())
	otherRequest := e.request(t, 2, "2026-11-0043")
	otherCred, err := record.SealCredential(&rpb.Credential{
		Agency: []byte(stranger), Name: "Elm County Sheriff", Jurisdiction: area,
		NotBefore: e.cred.Credential.GetNotBefore(), NotAfter: e.cred.Credential.GetNotAfter(),
	}, e.issuerKey)
	if err != nil {
		t.Fatal(err)
	}

	dup := func(base string) []member {
		var out []member
		for _, m := range ms {
			out = append(out, m)
			if name(m) == base {
				out = append(out, m)
			}
		}
		return out
	}
	extra := func(at int, m member) []member {
		out := append([]member(nil), ms[:at]...)
		out = append(out, m)
		return append(out, ms[at:]...)
	}
	reg := func(n string) member {
		return member{hdr: tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Format: tar.FormatUSTAR}, data: []byte("x")}
	}
	swap := func(i, j int) []member {
		out := append([]member(nil), ms...)
		out[i], out[j] = out[j], out[i]
		return out
	}

	tests := []struct {
		name    string
		members []member // nil: use bundle
		bundle  []byte
		member  string // VerifyError.Member
		problem string // in VerifyError.Problem
	}{
		{"flipped byte in clip, first chunk", edit(t, ms, "clip.mp4", flip(10)), nil, "clip.mp4", "chunk 0 (bytes 0 to 65535) does not match its SHA-256 in manifest.env"},
		{"flipped byte in clip, last chunk", edit(t, ms, "clip.mp4", flip(-1)), nil, "clip.mp4", "chunk 1 (bytes 65536 to 123327) does not match"},
		{"flipped byte in manifest signature", edit(t, ms, "manifest.env", flip(-1)), nil, "manifest.env", "signature does not verify"},
		{"flipped byte in manifest payload", edit(t, ms, "manifest.env", flip(len(e.m.Raw)/2)), nil, "manifest.env", "not a valid signed clip manifest"},
		{"flipped byte in grant", edit(t, ms, "grant.env", flip(-1)), nil, "grant.env", "signature does not verify"},
		{"flipped byte in grant payload", edit(t, ms, "grant.env", flip(len(e.g.Raw)-80)), nil, "grant.env", "not a valid signed consent grant"},
		{"flipped byte in transfer", edit(t, ms, "transfer.env", flip(-1)), nil, "transfer.env", "signature does not verify"},
		{"flipped byte in request", edit(t, ms, "request.env", flip(-1)), nil, "request.env", "signature does not verify"},
		{"flipped byte in credential", edit(t, ms, "credential.env", flip(-1)), nil, "credential.env", "signature does not verify"},
		{"flipped byte in README", edit(t, ms, "README.txt", flip(100)), nil, "README.txt", "does not match the bundle's signed documents"},
		{"manifest of another clip", edit(t, ms, "manifest.env", replace(otherManifest.Raw)), nil, "grant.env", "does not name clip " + otherManifest.ClipID().String()},
		{"grant signed by another peer", edit(t, ms, "grant.env", replace(strangerGrant.Raw)), nil, "grant.env", "is signed by " + stranger.String() + ", not by the clip's owner"},
		{"transfer names another clip", edit(t, ms, "transfer.env", replace(otherClipTransfer.Raw)), nil, "transfer.env", "transfer names clip " + record.ID(otherSum).String()},
		{"transfer signed by a peer the grant is not for", edit(t, ms, "transfer.env", replace(strangerTransfer.Raw)), nil, "grant.env", "not for " + stranger.String() + " who signed transfer.env"},
		{"another request", edit(t, ms, "request.env", replace(otherRequest.Raw)), nil, "request.env", "is not the request " + e.req.ID.String()},
		{"credential of another agency", edit(t, ms, "credential.env", replace(otherCred.Raw)), nil, "credential.env", "is not the credential"},
		{"manifest in the grant's place", edit(t, ms, "grant.env", replace(e.m.Raw)), nil, "grant.env", "payload_type"},
		{"missing README.txt", without(ms, "README.txt"), nil, "README.txt", "missing"},
		{"missing manifest.env", without(ms, "manifest.env"), nil, "manifest.env", "missing"},
		{"missing grant.env", without(ms, "grant.env"), nil, "grant.env", "missing"},
		{"missing request.env", without(ms, "request.env"), nil, "request.env", "missing: grant.env answers request " + e.req.ID.String()},
		{"missing request.env and credential.env", without(without(ms, "request.env"), "credential.env"), nil, "request.env", "missing"},
		{"missing transfer.env", without(ms, "transfer.env"), nil, "transfer.env", "missing"},
		{"missing clip.mp4", without(ms, "clip.mp4"), nil, "clip.mp4", "missing"},
		{"duplicate grant.env", dup("grant.env"), nil, "grant.env", "duplicate member"},
		{"duplicate clip.mp4", dup("clip.mp4"), nil, "clip.mp4", "duplicate member"},
		{"out of order", swap(1, 2), nil, "manifest.env", "missing"},
		{"transfer after clip", swap(5, 6), nil, "transfer.env", "missing (or out of order: it must come before clip.mp4)"},
		{"member ../x", extra(1, reg("../x")), nil, "../x", "unsafe member name: path leaves the bundle directory"},
		{"member in bundle dir climbing out", extra(1, reg(clips.BundleDir+"../../x")), nil, clips.BundleDir + "../../x", "unsafe member name"},
		{"absolute member", extra(1, reg("/etc/passwd")), nil, "/etc/passwd", "absolute path"},
		{"member outside the bundle dir", extra(1, reg("x")), nil, "x", "unexpected member outside porchlight-evidence/1/"},
		{"unknown member", extra(6, reg(clips.BundleDir+"notes.txt")), nil, "notes.txt", "unexpected member"},
		{"symlink member", extra(1, member{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: clips.BundleDir + "manifest.env", Linkname: "/etc/passwd", Format: tar.FormatUSTAR}}), nil, "manifest.env", "not a regular file"},
		{"repacked unchanged: still valid", edit(t, ms, "clip.mp4", func(b []byte) []byte { return b }), nil, "", ""},
		{"credential after transfer", swap(4, 5), nil, "credential.env", "out of order: it comes after transfer.env"},
		{"truncated clip", nil, valid[:len(valid)-3000], "clip.mp4", "cannot read it"},
		{"not a tar", nil, []byte("hello, this is not a tar archive at all"), "", "not a readable tar archive"},
		{"empty", nil, []byte{}, "README.txt", "missing"},
		{"trailing data", nil, append(bytes.Clone(valid), "junk"...), "", "data after the end of the archive"},
	}
	// The clip under another name, built by hand.
	renamed := append([]member(nil), ms...)
	renamed[6].hdr.Name = clips.BundleDir + "clip.bin"
	tests = append(tests, struct {
		name    string
		members []member
		bundle  []byte
		member  string
		problem string
	}{"clip named for another media type", renamed, nil, "clip.bin", "must be named clip.mp4 for media type \"video/mp4\""})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.bundle
			if tt.members != nil {
				b = pack(t, tt.members)
			}
			sum, err := clips.VerifyBundle(bytes.NewReader(b))
			if tt.problem == "" {
				if err != nil {
					t.Fatalf("VerifyBundle: %v", err)
				}
				return
			}
			t.Logf("%v", err)
			var ve *clips.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("VerifyBundle: %v, want a *VerifyError", err)
			}
			if ve.Member != tt.member || !strings.Contains(ve.Problem, tt.problem) {
				t.Errorf("VerifyBundle: %v\nwant member %q, problem containing %q", err, tt.member, tt.problem)
			}
			if sum.Verified || !strings.HasPrefix(sum.Verdict, "FAILED: ") {
				t.Errorf("failed bundle gave verdict %v %q", sum.Verified, sum.Verdict)
			}
		})
	}
}

func TestBundleErrorUnwraps(t *testing.T) {
	e := newEvidence(t)
	b := pack(t, edit(t, members(t, writeBundle(t, e.bundle())), "manifest.env", flip(-1)))
	_, err := clips.VerifyBundle(bytes.NewReader(b))
	if record.ReasonOf(err) != record.ReasonSignature {
		t.Errorf("reason of %v is %q, want %q", err, record.ReasonOf(err), record.ReasonSignature)
	}
	if got, want := err.Error(), "evidence bundle: manifest.env: not a valid signed clip manifest: invalid record (bad_signature): signature does not verify"; got != want {
		t.Errorf("error\n got %q\nwant %q", got, want)
	}
}

func TestOpenTransfer(t *testing.T) {
	e := newEvidence(t)
	good := e.tr.T
	tests := []struct {
		name string
		edit func(*pb.Transfer)
		key  crypto.PrivKey
		want record.Reason
	}{
		{"receiver is not the signer", func(x *pb.Transfer) {}, e.ownerKey, record.ReasonAuthor},
		{"no clip", func(x *pb.Transfer) { x.ClipId = nil }, nil, record.ReasonMalformed},
		{"short grant ID", func(x *pb.Transfer) { x.GrantId = x.GrantId[:3] }, nil, record.ReasonMalformed},
		{"owner not a peer", func(x *pb.Transfer) { x.Owner = []byte("nobody") }, nil, record.ReasonMalformed},
		{"no sum", func(x *pb.Transfer) { x.Sha256 = nil }, nil, record.ReasonMalformed},
		{"empty", func(x *pb.Transfer) { x.Size = 0 }, nil, record.ReasonEmpty},
		{"no time", func(x *pb.Transfer) { x.Received = 0 }, nil, record.ReasonTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := &pb.Transfer{}
			*x = pb.Transfer{ClipId: good.ClipId, GrantId: good.GrantId, Owner: good.Owner, Receiver: good.Receiver, Received: good.Received, Sha256: good.Sha256, Size: good.Size}
			tt.edit(x)
			key := tt.key
			if key == nil {
				key = e.agencyKey
			}
			_, err := clips.OpenTransfer(forge(t, clips.TransferType, x, key))
			if record.ReasonOf(err) != tt.want {
				t.Errorf("OpenTransfer: %v, want reason %q", err, tt.want)
			}
		})
	}
	if _, err := clips.OpenTransfer(forgeIn(t, "porchlight-record", clips.TransferType, good, e.agencyKey)); record.ReasonOf(err) != record.ReasonSignature {
		t.Errorf("transfer signed in another domain: %v", err)
	}
	if _, err := clips.OpenTransfer(e.g.Raw); record.ReasonOf(err) != record.ReasonPayloadType {
		t.Errorf("a grant as a transfer: %v", err)
	}
	if _, err := clips.OpenTransfer(make([]byte, clips.MaxTransferSize+1)); record.ReasonOf(err) != record.ReasonOversized {
		t.Errorf("oversized: %v", err)
	}
}

// chachaReader is a deterministic stream of n pseudo-random bytes.
func chachaReader(seed byte, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{seed}), n)
}

// TestVerifyBundleBoundedMemory verifies a 64 MiB clip's bundle from a
// file and checks that verification allocated a small fraction of it.
func TestVerifyBundleBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 64 MiB bundle")
	}
	const size = 64 << 20
	e := newEvidence(t)

	// The manifest of the big clip, computed as Import does but streaming.
	m := manifestFor(e.owner, nil, clips.DefaultChunkSize)
	whole := sha256.New()
	buf := make([]byte, clips.DefaultChunkSize)
	src := chachaReader(7, size)
	for {
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			whole.Write(buf[:n])
			h := sha256.Sum256(buf[:n])
			m.ChunkSha256 = append(m.ChunkSha256, h[:])
		}
		if err != nil {
			break
		}
	}
	m.ClipId, m.Size = whole.Sum(nil), size
	var err error
	if e.m, err = clips.SealManifest(m, e.ownerKey); err != nil {
		t.Fatal(err)
	}
	e.g = e.grant(t, e.ownerKey, e.agency, e.m.ClipID())
	e.tr = e.transfer(t, e.agencyKey, e.m.ClipID())

	path := filepath.Join(t.TempDir(), "bundle.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	b := e.bundle()
	b.Clip = chachaReader(7, size)
	if err := clips.WriteBundle(f, b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if f, err = os.Open(path); err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sum, err := clips.VerifyBundle(f)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	if sum.Size != size {
		t.Errorf("size %d", sum.Size)
	}
	// TotalAlloc counts every allocation, freed or not: an upper bound on
	// the heap growth verification caused.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("verifying a %d MiB bundle allocated %d KiB, want under 4 MiB", size>>20, alloc>>10)
	} else {
		t.Logf("verifying a %d MiB bundle allocated %d KiB", size>>20, alloc>>10)
	}
}

// FuzzVerifyBundle checks that VerifyBundle never panics and fails only
// with a *VerifyError.
func FuzzVerifyBundle(f *testing.F) {
	e := newKeys(f)
	// A small clip keeps the seeds small: one chunk of 300 bytes.
	e.clip = randBytes(5, 300)
	var err error
	if e.m, err = clips.SealManifest(manifestFor(e.owner, e.clip, clips.MinChunkSize), e.ownerKey); err != nil {
		f.Fatal(err)
	}
	e.sign(f)
	valid := writeBundle(f, e.bundle())
	f.Add(valid)
	for _, n := range []int{0, 512, 1024, len(valid) / 2, len(valid) - 1024 - 1, len(valid) - 1} {
		f.Add(valid[:n])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sum, err := clips.VerifyBundle(bytes.NewReader(b))
		if err == nil {
			if !sum.Verified {
				t.Fatal("nil error but not verified")
			}
			return
		}
		var ve *clips.VerifyError
		if !errors.As(err, &ve) {
			t.Fatalf("error %v is not a *VerifyError", err)
		}
	})
}
