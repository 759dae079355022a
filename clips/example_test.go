package clips_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/clips/pb"
)

// A home imports a clip, consents to share it with an agency, and its node
// checks a fetch before serving it.
func Example() {
	dir, err := os.MkdirTemp("", "porchlight-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	homeKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	home, _ := peer.IDFromPrivateKey(homeKey)
	_, agencyPub, _ := crypto.GenerateEd25519Key(rand.Reader)
	agency, _ := peer.IDFromPublicKey(agencyPub)

	clipDB, err := clips.OpenDB(filepath.Join(dir, "clips"), slog.New(slog.DiscardHandler))
	if err != nil {
		panic(err)
	}
	defer clipDB.Close()
	clipStore, err := clips.New(clips.Config{DB: clipDB, Key: homeKey})
	if err != nil {
		panic(err)
	}
	video := bytes.Repeat([]byte("frame "), 500_000) // 3 MB
	m, err := clipStore.Import(context.Background(), bytes.NewReader(video), clips.ImportMeta{
		Camera:    "front-door",
		Start:     time.Date(2026, 11, 27, 19, 42, 10, 0, time.UTC),
		MediaType: "video/mp4",
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("imported %d bytes in %d chunks from %s\n", m.Size(), m.Chunks(), m.M.GetCamera())

	// The owner consents: this agency, this clip, for a week.
	now := time.Now()
	clipID := m.ClipID()
	grantID := make([]byte, clips.GrantIDLen)
	rand.Read(grantID)
	grant, err := clips.SealGrant(&pb.Grant{
		GrantId: grantID,
		Owner:   []byte(home),
		Grantee: []byte(agency),
		ClipIds: [][]byte{clipID[:]},
		Issued:  now.UnixMilli(),
		Expires: now.Add(7 * 24 * time.Hour).UnixMilli(),
	}, homeKey)
	if err != nil {
		panic(err)
	}
	// A shared clip is kept until its grants end.
	if err := clipStore.Hold(context.Background(), clipID); err != nil {
		panic(err)
	}
	_, held, _ := clipStore.Expires(clipID)
	fmt.Println("held:", held)

	// The agency presents the grant's bytes; the owner's node checks them.
	presented, err := clips.OpenGrant(grant.Raw)
	if err != nil {
		panic(err)
	}
	fmt.Println("agency may fetch:", clips.CanFetch(presented, false, agency, home, clipID, now) == nil)
	err = clips.CanFetch(presented, false, agency, home, clipID, now.Add(8*24*time.Hour))
	fmt.Println("a week later, expired:", errors.Is(err, clips.ErrGrantExpired))

	// Served from the store, chunk by chunk.
	r, err := clipStore.Reader(clipID)
	if err != nil {
		panic(err)
	}
	r.Seek(-6, io.SeekEnd)
	last, _ := io.ReadAll(r)
	fmt.Printf("last bytes: %q\n", last)
	// Output:
	// imported 3000000 bytes in 3 chunks from front-door
	// held: true
	// agency may fetch: true
	// a week later, expired: true
	// last bytes: "frame "
}
