package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
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
	db, err := badger.Open(badger.DefaultOptions(t.TempDir()).WithLogger(nil))
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
