package clips_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/store"
)

// TestFailedDiskRefusesClips: while the disk is full (less free space
// than the reserve), an import and a received clip are refused with
// store.ErrStorage and nothing is stored; stored clips can still be read.
func TestFailedDiskRefusesClips(t *testing.T) {
	db := openBadger(t)
	s := newStore(t, 1, clips.Config{DB: db})
	kept := importBytes(t, s, randBytes(1, 100<<10))
	full, err := store.NewHealth(store.HealthConfig{Dirs: []string{db.Badger().Opts().Dir}, Reserve: 1 << 62, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	f := newStore(t, 1, clips.Config{DB: db, Health: full})
	if _, err := f.Import(context.Background(), bytes.NewReader(randBytes(2, 100<<10)), clips.ImportMeta{Start: t0, MediaType: "video/mp4"}); !errors.Is(err, store.ErrStorage) {
		t.Errorf("import on a full disk: %v, want ErrStorage", err)
	}
	key, owner := edKey(t, 5)
	data := randBytes(3, 100<<10)
	m, err := clips.SealManifest(manifestFor(owner, data, clips.MinChunkSize), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.PutVerified(context.Background(), m, chunksOf(data, clips.MinChunkSize)); !errors.Is(err, store.ErrStorage) {
		t.Errorf("a received clip on a full disk: %v, want ErrStorage", err)
	}
	if _, err := f.Manifest(m.ClipID()); !errors.Is(err, clips.ErrNotFound) {
		t.Errorf("the refused clip was stored (%v)", err)
	}
	if _, err := f.Reader(kept.ClipID()); err != nil {
		t.Errorf("a read on a full disk: %v", err)
	}
}
