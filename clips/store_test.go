package clips_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/record"
)

func TestNewConfig(t *testing.T) {
	db := openBadger(t)
	key, _ := edKey(t, 1)
	tests := []struct {
		name    string
		cfg     clips.Config
		wantErr string // a word the error must contain; "" for success
	}{
		{"defaults", clips.Config{DB: db, Key: key}, ""},
		{"no DB", clips.Config{Key: key}, "DB"},
		{"no key", clips.Config{DB: db}, "Key"},
		{"chunk size too small", clips.Config{DB: db, Key: key, ChunkSize: 1000}, "ChunkSize"},
		{"chunk size too large", clips.Config{DB: db, Key: key, ChunkSize: 32 << 20}, "ChunkSize"},
		{"retention too short", clips.Config{DB: db, Key: key, Retention: time.Millisecond}, "Retention"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := clips.New(tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

// A multi-chunk clip comes back whole, chunk by chunk, and by any range.
func TestImportReadBack(t *testing.T) {
	s := newStore(t, 1, clips.Config{})
	data := randBytes(2, 3<<20+12345) // 4 chunks of 1 MiB, the last short
	m := importBytes(t, s, data)

	if m.ClipID() != sha256.Sum256(data) {
		t.Errorf("clip ID %s is not the SHA-256 of the file", m.ClipID())
	}
	if m.Size() != int64(len(data)) || m.Chunks() != 4 || m.ChunkLen(3) != 12345 || m.M.GetChunkSize() != clips.DefaultChunkSize {
		t.Errorf("size %d, %d chunks of %d, last %d", m.Size(), m.Chunks(), m.M.GetChunkSize(), m.ChunkLen(3))
	}
	if m.Owner != s.Owner() || m.M.GetCamera() != "porch" || !m.Start().Equal(t0) || !m.End().IsZero() || m.M.GetMediaType() != "video/mp4" {
		t.Errorf("manifest %v", m.M)
	}
	got, err := s.Manifest(m.ClipID())
	if err != nil || !bytes.Equal(got.Raw, m.Raw) {
		t.Fatalf("Manifest: %v", err)
	}

	for i := range m.Chunks() {
		c, err := s.ReadChunk(m.ClipID(), i)
		if err != nil {
			t.Fatalf("ReadChunk(%d): %v", i, err)
		}
		off := i << 20
		if !bytes.Equal(c, data[off:min(off+1<<20, len(data))]) {
			t.Errorf("chunk %d differs", i)
		}
	}
	for _, i := range []int{-1, 4, 1 << 30} {
		if _, err := s.ReadChunk(m.ClipID(), i); !errors.Is(err, clips.ErrNotFound) {
			t.Errorf("ReadChunk(%d) = %v, want ErrNotFound", i, err)
		}
	}

	r, err := s.Reader(m.ClipID())
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(all, data) {
		t.Fatalf("ReadAll: %d bytes, err %v; want the file", len(all), err)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	ranges := [][2]int64{
		{0, 1}, {1<<20 - 1, 2}, {1<<20 - 10, 1<<20 + 20}, {int64(len(data)) - 1, 1}, {0, int64(len(data))},
	}
	for range 200 {
		off := rng.Int64N(int64(len(data)))
		ranges = append(ranges, [2]int64{off, 1 + rng.Int64N(int64(len(data))-off)})
	}
	for _, rg := range ranges {
		if _, err := r.Seek(rg[0], io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, rg[1])
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatalf("read %d bytes at %d: %v", rg[1], rg[0], err)
		}
		if !bytes.Equal(buf, data[rg[0]:rg[0]+rg[1]]) {
			t.Fatalf("%d bytes at %d differ", rg[1], rg[0])
		}
	}
	if pos, err := r.Seek(-5, io.SeekEnd); err != nil || pos != int64(len(data))-5 {
		t.Fatalf("Seek from end = %d, %v", pos, err)
	}
	if tail, _ := io.ReadAll(r); !bytes.Equal(tail, data[len(data)-5:]) {
		t.Error("the last 5 bytes differ")
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Error("Seek to -1 succeeded")
	}
	if _, err := r.Seek(10, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("Read past the end = %d, %v; want EOF", n, err)
	}

	// The way the API serves it to a <video>.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/video", nil)
	req.Header.Set("Range", "bytes=1048570-1048600")
	http.ServeContent(rec, req, "", m.Imported(), r)
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), data[1048570:1048601]) {
		t.Errorf("range request: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestImportDedupes(t *testing.T) {
	db := openBadger(t)
	s := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize})
	data := randBytes(3, 5*clips.MinChunkSize+1)
	first := importBytes(t, s, data)
	again, err := s.Import(context.Background(), bytes.NewReader(data), clips.ImportMeta{Camera: "garage", Start: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Raw, first.Raw) {
		t.Error("re-import returned a new manifest, want the stored one")
	}
	list, err := s.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %d clips, %v", len(list), err)
	}
	if n := countKeys(t, db, 'C'); n != 6 {
		t.Errorf("%d chunks stored, want 6: the second upload's chunks should be deleted", n)
	}
}

// Two concurrent imports of one file end with one clip.
func TestImportConcurrentSameFile(t *testing.T) {
	db := openBadger(t)
	s := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize})
	data := randBytes(4, 3*clips.MinChunkSize)
	var wg sync.WaitGroup
	ms := make([]*clips.SignedManifest, 4)
	for i := range ms {
		wg.Go(func() {
			m, err := s.Import(context.Background(), bytes.NewReader(data), clips.ImportMeta{Start: t0})
			if err != nil {
				t.Error(err)
			}
			ms[i] = m
		})
	}
	wg.Wait()
	for _, m := range ms[1:] {
		if m == nil || ms[0] == nil || !bytes.Equal(m.Raw, ms[0].Raw) {
			t.Fatal("concurrent imports returned different manifests")
		}
	}
	if n := countKeys(t, db, 'C'); n != 3 {
		t.Errorf("%d chunks stored, want 3", n)
	}
}

func TestImportFailuresStoreNothing(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	data := randBytes(5, 3*clips.MinChunkSize)
	tests := []struct {
		name    string
		ctx     context.Context
		r       io.Reader
		meta    clips.ImportMeta
		wantErr error  // errors.Is; nil to match wantMsg only
		wantMsg string // a phrase of the error
	}{
		{"empty", context.Background(), bytes.NewReader(nil), clips.ImportMeta{Start: t0}, clips.ErrEmpty, "empty"},
		{"read error after 2 chunks", context.Background(), &failingReader{bytes.NewReader(data[:2*clips.MinChunkSize+10]), io.ErrClosedPipe}, clips.ImportMeta{Start: t0}, io.ErrClosedPipe, "read"},
		{"upload cut short", context.Background(), &failingReader{bytes.NewReader(data[:clips.MinChunkSize+10]), io.ErrUnexpectedEOF}, clips.ImportMeta{Start: t0}, io.ErrUnexpectedEOF, "read"},
		{"reader makes no progress", context.Background(), stuckReader{}, clips.ImportMeta{Start: t0}, io.ErrNoProgress, "read"},
		{"canceled", canceled, bytes.NewReader(data), clips.ImportMeta{Start: t0}, context.Canceled, ""},
		{"no start time", context.Background(), bytes.NewReader(data), clips.ImportMeta{}, nil, "start time"},
		{"ends before it starts", context.Background(), bytes.NewReader(data), clips.ImportMeta{Start: t0, End: t0.Add(-time.Second)}, nil, "before it starts"},
		{"camera name too long", context.Background(), bytes.NewReader(data), clips.ImportMeta{Start: t0, Camera: strings.Repeat("c", 65)}, nil, "camera"},
		{"bad media type", context.Background(), bytes.NewReader(data), clips.ImportMeta{Start: t0, MediaType: "video mp4"}, nil, "media type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openBadger(t)
			s := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize})
			m, err := s.Import(tt.ctx, tt.r, tt.meta)
			if err == nil || m != nil {
				t.Fatalf("Import succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Import = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Import = %q, want it to say %q", err, tt.wantMsg)
			}
			assertEmpty(t, db)
		})
	}
}

// An import that stops after some chunks (a crash: nothing runs after the
// last chunk write) leaves nothing visible, and its chunks expire.
func TestImportInterruptedLeavesNothingVisible(t *testing.T) {
	db := openBadger(t)
	s := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize, Retention: time.Hour})
	data := randBytes(6, 4*clips.MinChunkSize)
	// The reader blocks after two chunks until the test has looked; then
	// the context is canceled, which is the closest a test gets to a crash.
	ctx, cancel := context.WithCancel(context.Background())
	looked := make(chan struct{})
	paused := make(chan struct{})
	r := &pausingReader{data: data, pauseAt: 2 * clips.MinChunkSize, paused: paused, resume: looked}
	done := make(chan error, 1)
	go func() {
		_, err := s.Import(ctx, r, clips.ImportMeta{Start: t0})
		done <- err
	}()
	<-paused
	if n := countKeys(t, db, 'C'); n != 2 {
		t.Errorf("%d chunks written before the pause, want 2 (streaming)", n)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("a clip is visible mid-import")
	}
	for _, e := range expiries(t, db, 'C') {
		if e == 0 || time.Unix(int64(e), 0).After(time.Now().Add(time.Hour+time.Second)) {
			t.Errorf("chunk of an unfinished import expires at %d, want within the retention", e)
		}
	}
	cancel()
	close(looked)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Import = %v, want canceled", err)
	}
	assertEmpty(t, db)
}

// stuckReader returns nothing, forever.
type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

type pausingReader struct {
	data    []byte
	off     int
	pauseAt int
	paused  chan struct{}
	resume  chan struct{}
}

func (r *pausingReader) Read(p []byte) (int, error) {
	if r.off == r.pauseAt && r.paused != nil {
		close(r.paused)
		r.paused = nil
		<-r.resume
	}
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	end := len(r.data)
	if r.off < r.pauseAt {
		end = r.pauseAt
	}
	n := copy(p, r.data[r.off:end])
	r.off += n
	return n, nil
}

// pngHeader is the start of a PNG file.
var pngHeader = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

func TestImportSniffsMediaType(t *testing.T) {
	s := newStore(t, 1, clips.Config{})
	m, err := s.Import(context.Background(), bytes.NewReader(pngHeader), clips.ImportMeta{Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.M.GetMediaType(); got != "image/png" {
		t.Errorf("media type %q", got)
	}
	// Text is not a clip type: it is kept as a download (see
	// TestHTMLClipRefusedOnImport).
	m, err = s.Import(context.Background(), strings.NewReader("just some text\n"), clips.ImportMeta{Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.M.GetMediaType(); got != "application/octet-stream" {
		t.Errorf("media type %q", got)
	}
}

func TestListNewestFirst(t *testing.T) {
	s := newStore(t, 1, clips.Config{})
	starts := []time.Duration{2 * time.Hour, 0, 5 * time.Hour, time.Hour}
	for i, d := range starts {
		if _, err := s.Import(context.Background(), bytes.NewReader([]byte{byte(i)}), clips.ImportMeta{Start: t0.Add(d)}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range list {
		got = append(got, m.Start().Sub(t0).String())
	}
	if want := "[5h0m0s 2h0m0s 1h0m0s 0s]"; fmt.Sprint(got) != want {
		t.Errorf("List order %v, want %s", got, want)
	}
	if _, err := s.Manifest(clipID(99)); !errors.Is(err, clips.ErrNotFound) {
		t.Errorf("Manifest of an unknown clip = %v, want ErrNotFound", err)
	}
	if _, err := s.Reader(clipID(99)); !errors.Is(err, clips.ErrNotFound) {
		t.Errorf("Reader of an unknown clip = %v, want ErrNotFound", err)
	}
}

// receiver returns an empty store of another node, and the owner's clip.
func ownerAndReceiver(t *testing.T) (owner *clips.Store, m *clips.SignedManifest, data []byte, recvDB *clips.DB, recv *clips.Store) {
	owner = newStore(t, 1, clips.Config{ChunkSize: clips.MinChunkSize})
	data = randBytes(7, 4*clips.MinChunkSize+99)
	m = importBytes(t, owner, data)
	recvDB = openBadger(t)
	recv = newStore(t, 2, clips.Config{DB: recvDB})
	return owner, m, data, recvDB, recv
}

func TestPutVerified(t *testing.T) {
	_, m, data, db, recv := ownerAndReceiver(t)
	if err := recv.PutVerified(context.Background(), m, chunksOf(data, clips.MinChunkSize)); err != nil {
		t.Fatalf("PutVerified: %v", err)
	}
	got, err := recv.Manifest(m.ClipID())
	if err != nil || !bytes.Equal(got.Raw, m.Raw) || got.Owner == recv.Owner() {
		t.Fatalf("received manifest: %v", err)
	}
	r, err := recv.Reader(m.ClipID())
	if err != nil {
		t.Fatal(err)
	}
	if all, err := io.ReadAll(r); err != nil || !bytes.Equal(all, data) {
		t.Fatalf("received clip reads back %d bytes, %v", len(all), err)
	}
	// Already stored: chunks are not even asked for.
	err = recv.PutVerified(context.Background(), m, func(yield func([]byte, error) bool) {
		t.Error("PutVerified consumed chunks of a clip it has")
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, db, 'C'); n != m.Chunks() {
		t.Errorf("%d chunks stored, want %d", n, m.Chunks())
	}
	// The receiver cannot import the owner's clip as its own.
	if _, err := recv.Import(context.Background(), bytes.NewReader(data), clips.ImportMeta{Start: t0}); err == nil || !strings.Contains(err.Error(), "already stored") {
		t.Errorf("Import of a received clip = %v, want an error", err)
	}
	path := filepath.Join(t.TempDir(), "copy.mp4")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := recv.ImportFile(context.Background(), path, clips.ImportMeta{}); err == nil || !strings.Contains(err.Error(), "already stored") {
		t.Errorf("ImportFile of a received clip = %v, want an error", err)
	}
	if n := countKeys(t, db, 'C'); n != m.Chunks() {
		t.Errorf("%d chunks stored after refused imports, want %d", n, m.Chunks())
	}
}

func TestPutVerifiedRejects(t *testing.T) {
	ownerKey, ownerID := edKey(t, 1)
	_, m, data, _, _ := ownerAndReceiver(t)
	cs := clips.MinChunkSize
	chunks := func(edit func(i int, c []byte) []byte) func(yield func([]byte, error) bool) {
		return func(yield func([]byte, error) bool) {
			i := 0
			for c := range chunksOf(data, cs) {
				if c = edit(i, bytes.Clone(c)); c != nil && !yield(c, nil) {
					return
				}
				i++
			}
		}
	}
	// A manifest its owner signed over the right chunk hashes but another
	// clip ID: every chunk matches, the whole file does not.
	lying := manifestFor(ownerID, data, cs)
	lying.ClipId = bytes.Repeat([]byte{1}, 32)
	lyingM, err := clips.SealManifest(lying, ownerKey)
	if err != nil {
		t.Fatal(err)
	}
	type source = func(yield func([]byte, error) bool)
	tests := []struct {
		name    string
		m       *clips.SignedManifest
		chunks  source
		wantErr error
	}{
		{"chunk shorter", m, chunks(func(i int, c []byte) []byte {
			if i == 1 {
				return c[:len(c)-1]
			}
			return c
		}), clips.ErrChunkMismatch},
		{"chunk missing", m, chunks(func(i int, c []byte) []byte {
			if i == 2 {
				return nil
			}
			return c
		}), clips.ErrChunkMismatch},
		{"last chunk missing", m, chunks(func(i int, c []byte) []byte {
			if i == 4 {
				return nil
			}
			return c
		}), clips.ErrChunkMismatch},
		{"surplus chunk", m, func(yield func([]byte, error) bool) {
			for c := range chunksOf(data, cs) {
				if !yield(c, nil) {
					return
				}
			}
			yield([]byte{1}, nil)
		}, clips.ErrChunkMismatch},
		{"no chunks", m, func(yield func([]byte, error) bool) {}, clips.ErrChunkMismatch},
		{"sender fails", m, func(yield func([]byte, error) bool) {
			if yield(data[:cs], nil) {
				yield(nil, io.ErrUnexpectedEOF)
			}
		}, io.ErrUnexpectedEOF},
		{"whole file is not the clip ID", lyingM, chunksOf(data, cs), clips.ErrChunkMismatch},
	}
	// One flipped byte in each chunk in turn, at its start, middle and end.
	for i := range m.Chunks() {
		for _, where := range []int{0, m.ChunkLen(i) / 2, m.ChunkLen(i) - 1} {
			tests = append(tests, struct {
				name    string
				m       *clips.SignedManifest
				chunks  source
				wantErr error
			}{fmt.Sprintf("byte %d of chunk %d flipped", where, i), m, chunks(func(j int, c []byte) []byte {
				if j == i {
					c[where] ^= 0x01
				}
				return c
			}), clips.ErrChunkMismatch})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openBadger(t)
			recv := newStore(t, 2, clips.Config{DB: db})
			err := recv.PutVerified(context.Background(), tt.m, tt.chunks)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("PutVerified = %v, want %v", err, tt.wantErr)
			}
			assertEmpty(t, db)
		})
	}
}

func TestPutVerifiedNeedsAValidManifest(t *testing.T) {
	_, m, data, db, recv := ownerAndReceiver(t)
	bad := *m
	bad.Raw = append([]byte{}, m.Raw[:len(m.Raw)-1]...)
	if err := recv.PutVerified(context.Background(), &bad, chunksOf(data, clips.MinChunkSize)); record.ReasonOf(err) == "" {
		t.Errorf("PutVerified with a broken manifest = %v, want a *record.Invalid", err)
	}
	if err := recv.PutVerified(context.Background(), nil, chunksOf(data, clips.MinChunkSize)); err == nil {
		t.Error("PutVerified without a manifest succeeded")
	}
	assertEmpty(t, db)
}

func TestHoldRelease(t *testing.T) {
	db := openBadger(t)
	clk := &clock{now: time.Now().Truncate(time.Second)}
	start := clk.Now()
	s := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize, Retention: time.Hour, Now: clk.Now})
	m := importBytes(t, s, randBytes(8, 3*clips.MinChunkSize))
	id := m.ClipID()
	ctx := context.Background()

	expect := func(wantAt time.Time, wantHeld bool) {
		t.Helper()
		at, held, err := s.Expires(id)
		if err != nil {
			t.Fatalf("Expires: %v", err)
		}
		if held != wantHeld || !at.Equal(wantAt) {
			t.Fatalf("Expires = %s, held %v; want %s, held %v", at, held, wantAt, wantHeld)
		}
		want := uint64(0)
		if !wantHeld {
			want = uint64(wantAt.Unix())
		}
		for _, e := range append(expiries(t, db, 'M'), expiries(t, db, 'C')...) {
			if e != want {
				t.Fatalf("an entry expires at %d, want %d like the clip", e, want)
			}
		}
	}
	expect(start.Add(time.Hour), false)

	if err := s.Hold(ctx, id); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	expect(time.Time{}, true)
	if err := s.Hold(ctx, id); err != nil {
		t.Fatalf("second Hold: %v", err)
	}
	expect(time.Time{}, true)

	// Released within the retention period: back to the original expiry.
	clk.Add(30 * time.Minute)
	if err := s.Release(ctx, id); err != nil {
		t.Fatalf("Release: %v", err)
	}
	expect(start.Add(time.Hour), false)
	if err := s.Release(ctx, id); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	expect(start.Add(time.Hour), false)

	// Held past the retention period, then released: gone at once.
	if err := s.Hold(ctx, id); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Hour)
	if _, err := s.ReadChunk(id, 2); err != nil {
		t.Fatalf("held clip past its retention: %v", err)
	}
	if err := s.Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Manifest(id); !errors.Is(err, clips.ErrNotFound) {
		t.Errorf("released clip past its retention: %v, want ErrNotFound", err)
	}
	assertEmpty(t, db)

	for name, f := range map[string]func(context.Context, record.ID) error{"Hold": s.Hold, "Release": s.Release} {
		if err := f(ctx, id); !errors.Is(err, clips.ErrNotFound) {
			t.Errorf("%s of a missing clip = %v, want ErrNotFound", name, err)
		}
	}
	if _, _, err := s.Expires(id); !errors.Is(err, clips.ErrNotFound) {
		t.Errorf("Expires of a missing clip = %v, want ErrNotFound", err)
	}
}

// Badger really drops a clip when its retention ends, and keeps a held one.
func TestRetentionExpires(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 2 s for Badger TTLs")
	}
	db := openBadger(t)
	s := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize, Retention: time.Second})
	ctx := context.Background()
	gone := importBytes(t, s, randBytes(9, clips.MinChunkSize+1))
	kept := importBytes(t, s, randBytes(10, clips.MinChunkSize+1))
	if err := s.Hold(ctx, kept.ClipID()); err != nil {
		t.Fatal(err)
	}
	at, _, err := s.Expires(gone.ClipID())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(at) + 100*time.Millisecond)
	if _, err := s.Manifest(gone.ClipID()); !errors.Is(err, clips.ErrNotFound) {
		t.Errorf("clip past its retention: %v, want ErrNotFound", err)
	}
	if _, err := s.ReadChunk(kept.ClipID(), 1); err != nil {
		t.Errorf("held clip: %v", err)
	}
	if n := countKeys(t, db, 'C'); n != 2 {
		t.Errorf("%d chunks left, want the held clip's 2", n)
	}
	if n, err := s.Sweep(ctx); n != 0 || err != nil {
		t.Errorf("Sweep = %d, %v; want nothing to sweep", n, err)
	}
}

// countdown is a context that is canceled after its Err was asked n times.
type countdown struct {
	context.Context
	mu sync.Mutex
	n  int
}

func (c *countdown) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

// A Hold interrupted half way leaves chunks that no longer expire; Hold
// again finishes it, and Sweep deletes such chunks once the clip is gone.
func TestInterruptedHoldAndSweep(t *testing.T) {
	db := openBadger(t)
	s := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize})
	m := importBytes(t, s, randBytes(11, 4*clips.MinChunkSize))
	id := m.ClipID()
	err := s.Hold(&countdown{Context: context.Background(), n: 2}, id)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Hold = %v", err)
	}
	if _, held, _ := s.Expires(id); held {
		t.Fatal("a half-held clip reports held")
	}
	unexpiring := 0
	for _, e := range expiries(t, db, 'C') {
		if e == 0 {
			unexpiring++
		}
	}
	if unexpiring != 2 {
		t.Fatalf("%d chunks rewritten before the interruption, want 2", unexpiring)
	}
	if n, err := s.Sweep(context.Background()); n != 0 || err != nil {
		t.Fatalf("Sweep took %d chunks of a stored clip (%v)", n, err)
	}

	// The manifest expires (here: is deleted, as Badger would).
	err = db.Badger().Update(func(txn *badger.Txn) error { return txn.Delete(append([]byte{'M'}, id[:]...)) })
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Sweep(context.Background()); n != 2 || err != nil {
		t.Fatalf("Sweep = %d, %v; want the 2 unexpiring orphans", n, err)
	}
	for _, e := range expiries(t, db, 'C') {
		if e == 0 {
			t.Error("an unexpiring orphan chunk is left")
		}
	}
}

// Reading a chunk that the disk damaged fails rather than serving it.
func TestReadDetectsDamage(t *testing.T) {
	db := openBadger(t)
	s := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize})
	m := importBytes(t, s, randBytes(12, 2*clips.MinChunkSize))
	err := db.Badger().Update(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{'C'}
		it := txn.NewIterator(opts)
		it.Rewind()
		k := it.Item().KeyCopy(nil)
		v, err := it.Item().ValueCopy(nil)
		it.Close()
		if err != nil {
			return err
		}
		v[100] ^= 1
		return txn.SetEntry(badger.NewEntry(k, v))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadChunk(m.ClipID(), 0); !errors.Is(err, clips.ErrChunkMismatch) {
		t.Errorf("ReadChunk of a damaged chunk = %v, want ErrChunkMismatch", err)
	}
	r, _ := s.Reader(m.ClipID())
	if _, err := io.ReadAll(r); !errors.Is(err, clips.ErrChunkMismatch) {
		t.Errorf("reading a damaged clip = %v, want ErrChunkMismatch", err)
	}
}

// genReader yields n pseudo-random bytes without holding them, and records
// the most heap in use (after a collection) it saw while being read.
type genReader struct {
	rng      *rand.ChaCha8
	left     int64
	sinceGC  int64
	maxInuse uint64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.left)]
	g.rng.Read(p)
	g.left -= int64(len(p))
	if g.sinceGC += int64(len(p)); g.sinceGC >= 4<<20 {
		g.sinceGC = 0
		g.maxInuse = max(g.maxInuse, heapInuse())
	}
	return len(p), nil
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// Import keeps one chunk in memory, whatever the size of the clip.
func TestImportStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 64 MiB")
	}
	const size = 64 << 20
	s := newStore(t, 1, clips.Config{})
	// Warm up Badger's buffers so they are not counted as growth.
	importBytes(t, s, randBytes(13, 2<<20))
	base := heapInuse()
	g := &genReader{rng: rand.NewChaCha8([32]byte{64}), left: size}
	m, err := s.Import(context.Background(), g, clips.ImportMeta{Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	if m.Size() != size || m.Chunks() != 64 {
		t.Fatalf("imported %d bytes in %d chunks", m.Size(), m.Chunks())
	}
	growth := int64(g.maxInuse) - int64(base)
	t.Logf("heap in use grew by at most %.1f MiB while importing %d MiB", float64(growth)/(1<<20), size>>20)
	if growth > 32<<20 {
		t.Errorf("heap in use grew by %d MiB importing a %d MiB clip: Import does not stream", growth>>20, size>>20)
	}
	// And the stored bytes are the generated ones.
	r, err := s.Reader(m.ClipID())
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	if mustID(t, h.Sum(nil)) != m.ClipID() {
		t.Error("the stored clip does not hash to its ID")
	}
}
