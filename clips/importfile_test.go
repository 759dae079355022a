package clips_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/clips"
)

// realClip is a 3 s H.264 test pattern made with Debian's ffmpeg:
//
//	ffmpeg -f lavfi -i testsrc2=duration=3:size=320x180:rate=25 -pix_fmt yuv420p \
//	  -c:v libx264 -crf 18 -movflags +faststart -fflags +bitexact -flags +bitexact \
//	  front-door-2026-11-27T19-42-10Z.mp4
const realClip = "testdata/front-door-2026-11-27T19-42-10Z.mp4"

func TestImportFileRealClip(t *testing.T) {
	want, err := os.ReadFile(realClip)
	if err != nil {
		t.Fatal(err)
	}
	db := openBadger(t)
	s := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize})
	m, err := s.ImportFile(context.Background(), realClip, clips.ImportMeta{})
	if err != nil {
		t.Fatalf("ImportFile: %v", err)
	}
	if m.ClipID() != sha256.Sum256(want) || m.Size() != int64(len(want)) || m.Chunks() != (len(want)+clips.MinChunkSize-1)/clips.MinChunkSize {
		t.Errorf("clip %s of %d bytes in %d chunks", m.ClipID(), m.Size(), m.Chunks())
	}
	if m.M.GetCamera() != "front-door" || !m.Start().Equal(t0) || m.M.GetMediaType() != "video/mp4" {
		t.Errorf("camera %q start %s type %q; want the file name's and video/mp4", m.M.GetCamera(), m.Start(), m.M.GetMediaType())
	}

	// Served as the API serves it to a browser's <video>.
	r, err := s.Reader(m.ClipID())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", m.M.GetMediaType())
		http.ServeContent(w, req, "", m.Imported(), r)
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Range", "bytes=65000-70000")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Type") != "video/mp4" || !bytes.Equal(body, want[65000:70001]) {
		t.Errorf("range request: %s, %s, %d bytes", resp.Status, resp.Header.Get("Content-Type"), len(body))
	}

	// Again: the stored manifest, and no second copy of the chunks.
	again, err := s.ImportFile(context.Background(), realClip, clips.ImportMeta{Camera: "other"})
	if err != nil || !bytes.Equal(again.Raw, m.Raw) {
		t.Fatalf("second ImportFile: %v", err)
	}
	if n := countKeys(t, db, 'C'); n != m.Chunks() {
		t.Errorf("%d chunks stored, want %d", n, m.Chunks())
	}
}

// A file whose name holds no time starts at its modification time.
func TestImportFileTimeFromModTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clip.webm")
	if err := os.WriteFile(path, randBytes(24, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, time.Time{}, t0); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, 1, clips.Config{})
	m, err := s.ImportFile(context.Background(), path, clips.ImportMeta{Camera: "shed"})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Start().Equal(t0) || m.M.GetCamera() != "shed" || m.M.GetMediaType() != "video/webm" {
		t.Errorf("start %s camera %q type %q", m.Start(), m.M.GetCamera(), m.M.GetMediaType())
	}
}

// The media type of an MP4 is found from its bytes when nobody names it.
func TestImportSniffsMP4(t *testing.T) {
	f, err := os.Open(realClip)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newStore(t, 1, clips.Config{})
	m, err := s.Import(context.Background(), f, clips.ImportMeta{Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.M.GetMediaType(); got != "video/mp4" {
		t.Errorf("media type %q, want video/mp4", got)
	}
}

func TestImportFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := write("empty.mp4", nil, 0o644)
	locked := write("locked.mp4", randBytes(20, 1000), 0o000)
	tests := []struct {
		name     string
		path     string
		wantErr  error  // errors.Is, or nil
		wantMsg  string // a phrase the error must hold
		asAnyone bool   // run without root's power over file permissions
	}{
		{"empty file", empty, clips.ErrEmpty, "empty", false},
		{"a folder", dir, nil, "folder", false},
		{"missing", filepath.Join(dir, "nope.mp4"), fs.ErrNotExist, "no such file", false},
		{"unreadable", locked, fs.ErrPermission, "make the file readable", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openBadger(t)
			s := newStore(t, 1, clips.Config{DB: db})
			var (
				m   *clips.SignedManifest
				err error
			)
			run := func() { m, err = s.ImportFile(context.Background(), tt.path, clips.ImportMeta{}) }
			if tt.asAnyone {
				if skip := withFilePermissions(run); skip != "" {
					t.Skip(skip)
				}
			} else {
				run()
			}
			if err == nil || m != nil {
				t.Fatal("ImportFile succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("ImportFile = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("ImportFile = %q, want it to name the file and say %q", err, tt.wantMsg)
			}
			assertEmpty(t, db)
		})
	}
}

// A file that changes while it is imported (a camera still writing it) is
// refused, and nothing is stored.
func TestImportFileStillBeingWritten(t *testing.T) {
	tests := []struct {
		name   string
		change func(path string) error
	}{
		{"grows", func(path string) error {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write(randBytes(21, 5000))
			return err
		}},
		{"rewritten in place", func(path string) error {
			return os.Chtimes(path, time.Time{}, time.Now().Add(time.Minute))
		}},
		{"replaced", func(path string) error {
			if err := os.WriteFile(path+".new", randBytes(22, 3*clips.MinChunkSize), 0o644); err != nil {
				return err
			}
			return os.Rename(path+".new", path)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "porch.mp4")
			if err := os.WriteFile(path, randBytes(23, 3*clips.MinChunkSize), 0o644); err != nil {
				t.Fatal(err)
			}
			db := openBadger(t)
			s := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize})
			clips.SetAfterRead(s, func(p string) {
				if err := tt.change(p); err != nil {
					t.Error(err)
				}
			})
			_, err := s.ImportFile(context.Background(), path, clips.ImportMeta{Start: t0})
			if !errors.Is(err, clips.ErrFileChanged) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ImportFile = %v, want ErrFileChanged naming the file", err)
			}
			assertEmpty(t, db)
		})
	}
}

func TestParseFileName(t *testing.T) {
	plus1 := time.FixedZone("", 3600)
	tests := []struct {
		name   string
		camera string
		start  time.Time // zero: no time in the name
	}{
		{"front-door-2026-11-27T19-42-10Z.mp4", "front-door", t0},
		{"front-door-2026-11-27T19:42:10Z.mp4", "front-door", t0},
		{"garage_2026-11-27_20-42-10+01:00.mkv", "garage", time.Date(2026, 11, 27, 20, 42, 10, 0, plus1)},
		{"garage_2026-11-27T20-42-10+0100.mkv", "garage", time.Date(2026, 11, 27, 20, 42, 10, 0, plus1)},
		{"20261127_194210.mp4", "", time.Date(2026, 11, 27, 19, 42, 10, 0, time.Local)},
		{"Back Yard 2026-11-27 19.42.10.mov", "Back Yard", time.Date(2026, 11, 27, 19, 42, 10, 0, time.Local)},
		{"clip.mp4", "", time.Time{}},
		{"cam-2026-13-40T19-42-10Z.mp4", "", time.Time{}}, // no such day
		{"cam-120261127_194210.mp4", "", time.Time{}},     // digits run on
		{"cam-2026-11-27T19-42-10Z-extra.mp4", "cam", t0}, // text after the time
		{"2026-11-27T19-42-10Z", "", t0},                  // no extension
		{"cam-2026-11-27.mp4", "", time.Time{}},           // a date alone
		{"cam-1700000000.mp4", "", time.Time{}},           // Unix seconds: not guessed
		{"x-9999-99-99T99-99-99Z.mp4", "", time.Time{}},   // out of range
		{"x-2026-11-27T19-42-10Z.part", "x", t0},          // the watcher skips these, not the parser
		{"x-2026-11-27T19-42-10-05:00.mp4", "x", t0.Add(5 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			camera, start, ok := clips.ParseFileName(tt.name)
			if ok != !tt.start.IsZero() {
				t.Fatalf("ParseFileName ok = %v, start %s", ok, start)
			}
			if ok && (camera != tt.camera || !start.Equal(tt.start)) {
				t.Errorf("ParseFileName = %q, %s; want %q, %s", camera, start, tt.camera, tt.start)
			}
		})
	}
}

func TestNewWatcherConfig(t *testing.T) {
	s := newStore(t, 1, clips.Config{})
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]clips.WatcherConfig{
		"no store":       {Dir: t.TempDir()},
		"no folder":      {Store: s},
		"missing folder": {Store: s, Dir: filepath.Join(t.TempDir(), "nope")},
		"a file":         {Store: s, Dir: file},
	} {
		if _, err := clips.NewWatcher(cfg); err == nil {
			t.Errorf("%s: NewWatcher succeeded", name)
		}
	}
}

// imports collects what a watcher imported.
type imports struct {
	mu   sync.Mutex
	got  []*clips.SignedManifest
	each chan struct{}
}

func (im *imports) add(m *clips.SignedManifest) {
	im.mu.Lock()
	im.got = append(im.got, m)
	im.mu.Unlock()
	if im.each != nil {
		im.each <- struct{}{}
	}
}

func (im *imports) list() []*clips.SignedManifest {
	im.mu.Lock()
	defer im.mu.Unlock()
	return append([]*clips.SignedManifest(nil), im.got...)
}

// Step the watcher look by look.
func TestWatcherPolls(t *testing.T) {
	dir := t.TempDir()
	db := openBadger(t)
	s := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize})
	im := &imports{}
	w, err := clips.NewWatcher(clips.WatcherConfig{Dir: dir, Store: s, OnImport: im.add, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	appendTo := func(name string, b []byte) {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	complete := randBytes(30, 2*clips.MinChunkSize+7)
	write("porch-2026-11-27T19-42-10Z.mp4", complete)
	for _, skipped := range []string{"porch-2026-11-27T20-00-00Z.mp4.part", ".porch.mp4", "x.tmp", "y.CRDOWNLOAD"} {
		write(skipped, randBytes(31, 1000))
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	growing := "garage-2026-11-27T19-50-00Z.mp4"
	write(growing, randBytes(32, 1000))

	w.Poll(ctx)
	if n := len(im.list()); n != 0 {
		t.Fatalf("%d imported at the first look, want none: a file must be stable over two looks", n)
	}
	appendTo(growing, randBytes(33, 1000))
	w.Poll(ctx)
	got := im.list()
	if len(got) != 1 || got[0].ClipID() != sha256.Sum256(complete) || got[0].M.GetCamera() != "porch" || !got[0].Start().Equal(t0) {
		t.Fatalf("after the second look: %d imported, want the complete file", len(got))
	}
	for range 3 {
		appendTo(growing, randBytes(34, 1000))
		w.Poll(ctx)
	}
	if n := len(im.list()); n != 1 {
		t.Fatalf("%d imported while a file was growing, want 1", n)
	}
	w.Poll(ctx) // the growing file has stopped: stable from here
	if n := len(im.list()); n != 2 {
		t.Fatalf("%d imported once the file stopped growing, want 2", n)
	}
	if m := im.list()[1]; m.Size() != 5000 || m.M.GetCamera() != "garage" {
		t.Errorf("the grown file was imported with %d bytes (camera %q), want all 5000", m.Size(), m.M.GetCamera())
	}
	for range 3 {
		w.Poll(ctx)
	}
	if n := len(im.list()); n != 2 {
		t.Errorf("%d imports after more looks, want each file once", n)
	}
	if n := countKeys(t, db, 'M'); n != 2 {
		t.Errorf("%d clips stored, want 2", n)
	}
}

// warnings counts the warnings logged through it.
type warnings struct {
	mu sync.Mutex
	n  int
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(context.Context, slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }
func (w *warnings) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// A file that cannot be imported is tried again only once it changes.
func TestWatcherRetriesFailedFileWhenItChanges(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, 1, clips.Config{})
	im := &imports{}
	warned := &warnings{}
	w, err := clips.NewWatcher(clips.WatcherConfig{Dir: dir, Store: s, OnImport: im.add, Logger: slog.New(warned),
		Meta: func(name string) clips.ImportMeta {
			if name == "bad.mp4" {
				return clips.ImportMeta{Camera: strings.Repeat("c", 65)} // refused
			}
			return clips.ImportMeta{}
		}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bad.mp4")
	if err := os.WriteFile(path, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		w.Poll(context.Background())
	}
	if n := warned.count(); n != 1 {
		t.Fatalf("%d warnings over 4 looks at a file that cannot be imported, want 1", n)
	}
	if err := os.WriteFile(path, []byte("abcd"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		w.Poll(context.Background())
	}
	if n := warned.count(); n != 2 {
		t.Fatalf("%d warnings after the file changed, want a second try", n)
	}
	if n := len(im.list()); n != 0 {
		t.Fatalf("imported a file with a bad camera name")
	}
}

// The real loop: a complete file is imported once, a .part file never.
func TestWatcherRun(t *testing.T) {
	dir := t.TempDir()
	db := openBadger(t)
	s := newStore(t, 1, clips.Config{DB: db})
	im := &imports{each: make(chan struct{}, 10)}
	w, err := clips.NewWatcher(clips.WatcherConfig{Dir: dir, Interval: 10 * time.Millisecond, Store: s, OnImport: im.add, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	data, err := os.ReadFile(realClip)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "porch-2026-11-27T19-50-00Z.mp4.part"), data[:1000], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(realClip)), data, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-im.each:
	case <-ctx.Done():
		t.Fatal("the watcher did not import the file")
	}
	time.Sleep(100 * time.Millisecond) // ten more looks
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	got := im.list()
	if len(got) != 1 || got[0].ClipID() != sha256.Sum256(data) {
		t.Fatalf("%d imports, want the clip once", len(got))
	}
	if n := countKeys(t, db, 'M'); n != 1 {
		t.Errorf("%d clips stored, want 1", n)
	}
}

// A file imported before is not read again while it is unchanged, and is
// read again (and found stored) once it changes.
func TestImportFileSkipsKnownFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "porch-2026-11-27T19-42-10Z.mp4")
	if err := os.WriteFile(path, randBytes(31, 3*clips.MinChunkSize+5), 0o644); err != nil {
		t.Fatal(err)
	}
	db := openBadger(t)
	s := newStore(t, 1, clips.Config{DB: db, ChunkSize: clips.MinChunkSize})
	reads := 0
	clips.SetAfterRead(s, func(string) { reads++ })
	m, err := s.ImportFile(context.Background(), path, clips.ImportMeta{})
	if err != nil || reads != 1 {
		t.Fatalf("first ImportFile: %v, %d reads", err, reads)
	}
	again, err := s.ImportFile(context.Background(), path, clips.ImportMeta{})
	if err != nil || !bytes.Equal(again.Raw, m.Raw) || reads != 1 {
		t.Fatalf("second ImportFile: %v, same manifest %v, %d reads; want the stored manifest and no read", err, err == nil && bytes.Equal(again.Raw, m.Raw), reads)
	}
	// Touched: read again, and the same bytes are the same clip.
	if err := os.Chtimes(path, time.Time{}, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	again, err = s.ImportFile(context.Background(), path, clips.ImportMeta{})
	if err != nil || !bytes.Equal(again.Raw, m.Raw) || reads != 2 {
		t.Fatalf("ImportFile after a touch: %v, %d reads; want a read and the stored manifest", err, reads)
	}
	if n := countKeys(t, db, 'C'); n != m.Chunks() {
		t.Errorf("%d chunks stored, want %d (the second copy is dropped)", n, m.Chunks())
	}
	// Replaced by a different file under the same name: a new clip.
	if err := os.WriteFile(path+".new", randBytes(32, 2*clips.MinChunkSize), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	other, err := s.ImportFile(context.Background(), path, clips.ImportMeta{})
	if err != nil || other.ClipID() == m.ClipID() || other.Size() != 2*clips.MinChunkSize {
		t.Fatalf("ImportFile of the replaced file: %v; want a new clip of %d bytes", err, 2*clips.MinChunkSize)
	}
}
