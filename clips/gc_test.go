package clips_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/clips"
)

// Expired clips give their disk space back, and a clip that has not
// expired (or is held) keeps every byte.
func TestCollectGarbageReclaimsExpiredClips(t *testing.T) {
	dir := t.TempDir()
	db, err := clips.OpenDBWithLogFiles(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	short := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize, Retention: time.Second})
	long := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize, Retention: time.Hour})
	var gone []*clips.SignedManifest
	for i := range 8 {
		gone = append(gone, importBytes(t, short, randBytes(uint64(100+i), 1<<20)))
	}
	keptBytes := randBytes(200, 1<<20)
	kept := importBytes(t, long, keptBytes)
	heldBytes := randBytes(201, 1<<20)
	held := importBytes(t, short, heldBytes)
	if err := short.Hold(context.Background(), held.ClipID()); err != nil {
		t.Fatal(err)
	}
	before := vlogBytes(t, dir)

	// Badger expires entries by the wall clock, to the second.
	deadline := time.Now().Add(10 * time.Second)
	for _, m := range gone {
		for {
			if _, err := short.Manifest(m.ClipID()); errors.Is(err, clips.ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("clip %s has not expired after 10 s", m.ClipID())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	dropped, err := short.CollectGarbage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	after := vlogBytes(t, dir)
	t.Logf("value log %d -> %d bytes; %d expired blobs dropped", before, after, dropped)
	if dropped != len(gone) {
		t.Errorf("dropped %d blobs, want the %d expired clips'", dropped, len(gone))
	}
	if after > before/2 {
		t.Errorf("value log %d -> %d bytes after 8 of 10 clips expired, want less than half", before, after)
	}
	for _, c := range []struct {
		s    *clips.Store
		m    *clips.SignedManifest
		want []byte
	}{{long, kept, keptBytes}, {short, held, heldBytes}} {
		r, err := c.s.Reader(c.m.ClipID())
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, c.want) || sha256.Sum256(got) != c.m.ClipID() {
			t.Fatalf("clip %s after garbage collection: %v, %d bytes", c.m.ClipID(), err, len(got))
		}
	}
	// Nothing left to do.
	if dropped, err := short.CollectGarbage(context.Background()); err != nil || dropped != 0 {
		t.Errorf("second CollectGarbage: %d, %v; want 0, nil", dropped, err)
	}
}

// vlogBytes is the size of the value-log files in dir.
func vlogBytes(t *testing.T, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// Imports running while CollectGarbage drops expired blobs do not fail:
// Badger refuses writes during DropPrefix, so the store holds them off.
func TestCollectGarbageDuringImports(t *testing.T) {
	db := openBadger(t)
	short := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize, Retention: time.Second})
	long := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize, Retention: time.Hour})
	var expiring []*clips.SignedManifest
	for i := range 4 {
		expiring = append(expiring, importBytes(t, short, randBytes(uint64(300+i), 256<<10)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, m := range expiring {
		for {
			if _, err := short.Manifest(m.ClipID()); errors.Is(err, clips.ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("clips have not expired after 10 s")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	type result struct {
		m    *clips.SignedManifest
		data []byte
		err  error
	}
	results := make(chan result)
	go func() {
		defer close(results)
		for i := range 20 {
			data := randBytes(uint64(400+i), 256<<10)
			m, err := long.Import(context.Background(), bytes.NewReader(data), clips.ImportMeta{Camera: "porch", Start: t0, MediaType: "video/mp4"})
			results <- result{m, data, err}
		}
	}()
	collected := 0
	for r := range results {
		if r.err != nil {
			t.Errorf("import during garbage collection: %v", r.err)
			continue
		}
		got, err := long.Reader(r.m.ClipID())
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(got); err != nil || !bytes.Equal(b, r.data) {
			t.Errorf("clip %s reads back wrong: %v", r.m.ClipID(), err)
		}
		n, err := short.CollectGarbage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		collected += n
	}
	if collected != len(expiring) {
		t.Errorf("collected %d blobs, want the %d expired", collected, len(expiring))
	}
}
