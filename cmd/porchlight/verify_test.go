package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
)

// writeBundle makes a real evidence bundle: the test clip imported by its
// owner, a grant to a receiver, the receiver's transfer record.
func writeBundle(t *testing.T, path string) {
	t.Helper()
	owner, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	receiver, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	ownerID, _ := peer.IDFromPrivateKey(owner)
	receiverID, _ := peer.IDFromPrivateKey(receiver)
	db, err := clips.OpenDB(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cs, err := clips.New(clips.Config{DB: db, Key: owner, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	clip, _ := os.ReadFile("../../clips/testdata/front-door-2026-11-27T19-42-10Z.mp4")
	m, err := cs.Import(context.Background(), bytes.NewReader(clip), clips.ImportMeta{Camera: "front-door", Start: time.Now().Add(-time.Hour), MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	id := m.ClipID()
	gid := make([]byte, 16)
	rand.Read(gid)
	now := time.Now()
	g, err := clips.SealGrant(&pb.Grant{GrantId: gid, Owner: []byte(ownerID), Grantee: []byte(receiverID), ClipIds: [][]byte{id[:]},
		Issued: now.Add(-time.Minute).UnixMilli(), Expires: now.Add(24 * time.Hour).UnixMilli()}, owner)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(clip)
	tr, err := clips.SealTransfer(&pb.Transfer{ClipId: id[:], GrantId: gid, Owner: []byte(ownerID), Receiver: []byte(receiverID),
		Received: now.UnixMilli(), Sha256: sum[:], Size: uint64(len(clip))}, receiver)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := clips.WriteBundle(&buf, clips.Bundle{Clip: bytes.NewReader(clip), Manifest: m, Grant: g, Transfer: tr}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyCommand(t *testing.T) {
	bundle := filepath.Join(t.TempDir(), "case.tar")
	writeBundle(t, bundle)
	out, stderr, code := cli(t, "verify", bundle)
	if code != 0 || !strings.Contains(out, "verified") || !strings.Contains(out, "front-door") {
		t.Fatalf("verify of a good bundle: exit %d, %q %q", code, out, stderr)
	}
	b, _ := os.ReadFile(bundle)
	i := bytes.Index(b, []byte("ftypisom")) // inside the clip member
	if i < 0 {
		t.Fatal("test clip not found in the bundle")
	}
	b[i+100] ^= 1
	tampered := filepath.Join(t.TempDir(), "tampered.tar")
	os.WriteFile(tampered, b, 0o600)
	_, stderr, code = cli(t, "verify", tampered)
	if code == 0 || !strings.Contains(stderr, "NOT VERIFIED") || !strings.Contains(stderr, "clip.mp4") || !strings.Contains(stderr, "chunk") {
		t.Fatalf("verify of a tampered bundle: exit %d, %q", code, stderr)
	}
}

// TestVerifyNamesTheTrustAnchor: a bundle made entirely from fresh keys
// must not be reported as plainly "verified": verify says it chains to no
// issuer, and --issuer makes that a failure.
func TestVerifyNamesTheTrustAnchor(t *testing.T) {
	bundle := filepath.Join(t.TempDir(), "fresh-keys.tar")
	writeBundle(t, bundle)
	out, stderr, code := cli(t, "verify", bundle)
	if code != 0 || !strings.Contains(out, "chains to NO issuer") {
		t.Fatalf("verify of a bundle from fresh keys: exit %d, %q %q; want it to say it chains to no issuer", code, out, stderr)
	}
	if strings.HasPrefix(strings.TrimPrefix(out, bundle+": "), "verified") {
		t.Fatalf("a bundle from fresh keys reported as verified: %q", out)
	}
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	anchor, _ := peer.IDFromPrivateKey(key)
	_, stderr, code = cli(t, "verify", "--issuer", anchor.String(), bundle)
	if code == 0 || !strings.Contains(stderr, "NOT VERIFIED") || !strings.Contains(stderr, "no issuer") {
		t.Fatalf("verify --issuer of a bundle with no issuer: exit %d, %q", code, stderr)
	}
	if _, _, code := cli(t, "verify", "--issuer", "not-a-peer", bundle); code != 2 {
		t.Fatalf("verify --issuer not-a-peer: exit %d, want 2", code)
	}
}

func TestCheckAnchor(t *testing.T) {
	a, _ := peer.Decode("12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5")
	b, _ := peer.Decode("12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq")
	for _, tc := range []struct {
		name    string
		issuer  peer.ID
		anchors []peer.ID
		ok      bool
	}{
		{"no anchor required", "", nil, true},
		{"anchor matches", a, []peer.ID{a}, true},
		{"one of several", a, []peer.ID{b, a}, true},
		{"another issuer", b, []peer.ID{a}, false},
		{"no issuer at all", "", []peer.ID{a}, false},
	} {
		if err := checkAnchor(clips.Summary{Issuer: tc.issuer}, tc.anchors); (err == nil) != tc.ok {
			t.Errorf("%s: checkAnchor = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// ustarHeader is a hand-made tar header block.
func ustarHeader(name string, size int64, typeflag byte) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], fmt.Sprintf("%011o\x00", 0))
	b[156] = typeflag
	copy(b[257:263], "ustar\x00")
	copy(b[263:265], "00")
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func pad512(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }

func paxRecord(k, v string) string {
	rec := " " + k + "=" + v + "\n"
	n := len(rec) + 1
	for len(fmt.Sprint(n))+len(rec) != n {
		n++
	}
	return fmt.Sprint(n) + rec
}

// TestVerifyRefusesSparseMembers: a bundle of a few KiB whose clip member
// is a PAX (GNU 1.0) sparse file claiming 32 MiB of zeros, all holes. It
// must be refused, not read as 32 MiB (or 2 GiB) of video.
func TestVerifyRefusesSparseMembers(t *testing.T) {
	const size = 32 << 20
	zeros := make([]byte, size)
	owner, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	receiver, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	ownerID, _ := peer.IDFromPrivateKey(owner)
	receiverID, _ := peer.IDFromPrivateKey(receiver)
	db, err := clips.OpenDB(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cs, err := clips.New(clips.Config{DB: db, Key: owner, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cs.Import(context.Background(), bytes.NewReader(zeros), clips.ImportMeta{Camera: "front-door", Start: time.Now().Add(-time.Hour), MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	id := m.ClipID()
	gid := make([]byte, 16)
	rand.Read(gid)
	now := time.Now()
	g, err := clips.SealGrant(&pb.Grant{GrantId: gid, Owner: []byte(ownerID), Grantee: []byte(receiverID), ClipIds: [][]byte{id[:]},
		Issued: now.Add(-time.Minute).UnixMilli(), Expires: now.Add(24 * time.Hour).UnixMilli()}, owner)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := clips.SealTransfer(&pb.Transfer{ClipId: id[:], GrantId: gid, Owner: []byte(ownerID), Receiver: []byte(receiverID),
		Received: now.UnixMilli(), Sha256: id[:], Size: size}, receiver)
	if err != nil {
		t.Fatal(err)
	}
	var full bytes.Buffer
	if err := clips.WriteBundle(&full, clips.Bundle{Clip: bytes.NewReader(zeros), Manifest: m, Grant: g, Transfer: tr}); err != nil {
		t.Fatal(err)
	}
	// Copy every member but the clip, then append the clip as a sparse file.
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	rd := tar.NewReader(&full)
	for {
		hdr, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(hdr.Name, "/clip.mp4") {
			break
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, rd); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	name := clips.BundleDir + "clip.mp4"
	pax := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", name) + paxRecord("GNU.sparse.realsize", fmt.Sprint(size))
	out.Write(ustarHeader(clips.BundleDir+"PaxHeaders/clip.mp4", int64(len(pax)), 'x'))
	out.Write(pad512([]byte(pax)))
	sparseMap := pad512([]byte(fmt.Sprintf("1\n%d\n512\n", size-512)))
	data := append(sparseMap, make([]byte, 512)...)
	out.Write(ustarHeader(clips.BundleDir+"GNUSparseFile.0/clip.mp4", int64(len(data)), '0'))
	out.Write(data)
	out.Write(make([]byte, 1024))
	bundle := filepath.Join(t.TempDir(), "sparse.tar")
	if err := os.WriteFile(bundle, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	o, stderr, code := cli(t, "verify", bundle)
	if code == 0 || !strings.Contains(stderr, "sparse") {
		t.Fatalf("verify of a %d-byte bundle claiming a %d-byte clip: exit %d, %q %q; want a refusal naming the sparse member", out.Len(), size, code, o, stderr)
	}
}
