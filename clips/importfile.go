package clips

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/porchlight-mesh/porchlight/record"
)

// ErrFileChanged: a file changed while it was imported, most likely because
// the camera was still writing it. Nothing was stored; try again later.
var ErrFileChanged = errors.New("file changed while it was imported (is it still being written?); nothing was stored, try again once it is complete")

// ImportFile imports the clip in the file at path. Missing fields of meta
// are filled in: Start and Camera from a name like
// front-door-2026-11-27T19-42-10Z.mp4 (see ParseFileName), else Start from
// the file's modification time; MediaType from the extension, else from the
// first bytes.
//
// The file must be a complete, non-empty regular file that does not change
// while it is read: a file whose size or modification time changes is
// refused with ErrFileChanged and nothing is stored. A file imported
// before and unchanged since is not read again (see the file index
// below): its stored manifest is returned.
func (s *Store) ImportFile(ctx context.Context, path string, meta ImportMeta) (*SignedManifest, error) {
	before, err := os.Stat(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	if before.IsDir() {
		return nil, fmt.Errorf("import %s: it is a folder, not a clip file (watch a folder with a Watcher instead)", path)
	}
	if !before.Mode().IsRegular() {
		return nil, fmt.Errorf("import %s: not a regular file (%s)", path, before.Mode().Type())
	}
	if before.Size() == 0 {
		return nil, fmt.Errorf("import %s: %w", path, ErrEmpty)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	opened, err := f.Stat()
	if err != nil || !os.SameFile(before, opened) || changed(before, opened) {
		return nil, fmt.Errorf("import %s: %w", path, ErrFileChanged)
	}

	// A file imported before, unchanged since, is not read again: the
	// watcher looks at every file of its folder after each restart.
	fkey, fp := fileKey(path), fingerprint(opened)
	if m := s.knownFile(fkey, fp); m != nil {
		if err := s.checkOwn(m); err != nil {
			return nil, fmt.Errorf("import %s: %w", path, err)
		}
		return m, nil
	}

	meta = fillMeta(meta, filepath.Base(path), before.ModTime())
	m, err := s.importStream(ctx, ctxReader{ctx, f}, meta, func(id record.ID, size uint64) error {
		if s.afterRead != nil {
			s.afterRead(path)
		}
		after, err := os.Stat(path)
		if err != nil || !os.SameFile(before, after) || changed(before, after) || size != uint64(before.Size()) {
			return ErrFileChanged
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	s.rememberFile(fkey, fp, m.ClipID())
	return m, nil
}

// The file index: F P -> fingerprint, clip ID, where P is the SHA-256 of
// a file's absolute path. It lets ImportFile skip a file it imported
// before without reading it, as rsync's quick check and git's index do: a
// file whose size, modification time, inode and change time (the last
// two where the system has them) are all the same is taken to be the same
// file. Entries expire with the retention period; a file seen again after
// that is read and found stored again (Store.importStream then keeps the
// stored clip and drops the new chunks).
const tagFile = 'F'

func fileKey(path string) []byte {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	h := sha256.Sum256([]byte(path))
	return append([]byte{tagFile}, h[:]...)
}

// fingerprint is what must not change for a file to be the one imported.
func fingerprint(fi fs.FileInfo) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(fi.Size()))
	b = binary.BigEndian.AppendUint64(b, uint64(fi.ModTime().UnixNano()))
	return append(b, sysFingerprint(fi)...)
}

// knownFile returns the stored manifest of the file under key, if the
// index has it with fingerprint fp and the clip is still stored.
func (s *Store) knownFile(key, fp []byte) *SignedManifest {
	var id record.ID
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != len(fp)+len(id) || !bytes.Equal(v[:len(fp)], fp) {
				return ErrNotFound
			}
			copy(id[:], v[len(fp):])
			return nil
		})
	})
	if err != nil {
		return nil
	}
	m, err := s.Manifest(id)
	if err != nil {
		return nil
	}
	return m
}

// rememberFile indexes an imported file. A failure only means the file is
// read again next time.
func (s *Store) rememberFile(key, fp []byte, id record.ID) {
	v := append(append([]byte(nil), fp...), id[:]...)
	err := s.update(func(txn *badger.Txn) error {
		return txn.SetEntry(entry(key, v, expiresAt(s.now().Add(s.retention))))
	})
	if err != nil {
		s.log.Warn("clips: could not index an imported file; it will be read again if imported again", "err", err)
	}
}

func changed(a, b fs.FileInfo) bool {
	return a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime())
}

func fileError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("import %s: no such file: %w", path, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("import %s: permission denied: make the file readable by the user porchlight runs as: %w", path, err)
	}
	return fmt.Errorf("import %s: %w", path, err)
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// mediaTypes maps the extensions of camera files to media types; Go's own
// table knows no video types, and the system's may be missing.
var mediaTypes = map[string]string{
	".mp4":  "video/mp4",
	".m4v":  "video/mp4",
	".mov":  "video/quicktime",
	".mkv":  "video/x-matroska",
	".webm": "video/webm",
	".avi":  "video/x-msvideo",
	".ts":   "video/mp2t",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
}

func fillMeta(meta ImportMeta, name string, mtime time.Time) ImportMeta {
	camera, start, ok := ParseFileName(name)
	if meta.Camera == "" && ok {
		meta.Camera = camera
	}
	if meta.Start.IsZero() {
		if ok {
			meta.Start = start
		} else {
			// A camera finishes a file when the recording ends: the start
			// is earlier by the clip's length, which is unknown here.
			meta.Start = mtime
		}
	}
	if meta.MediaType == "" {
		meta.MediaType = mediaTypes[strings.ToLower(filepath.Ext(name))]
	}
	return meta
}

// fileTime matches a date and time in a file name: 2026-11-27T19-42-10Z,
// 2026-11-27_19:42:10+01:00, 20261127_194210.
var fileTime = regexp.MustCompile(`(?:^|[^0-9])((\d{4})-?(\d{2})-?(\d{2})[T_ -]?(\d{2})[-:.]?(\d{2})[-:.]?(\d{2})(Z|[+-]\d{2}:?\d{2})?)(?:[^0-9]|$)`)

// ParseFileName finds the camera and the start time in a camera's file
// name, such as front-door-2026-11-27T19-42-10Z.mp4 (camera "front-door",
// 19:42:10 UTC). A time without a zone is local time. ok is false when the
// name holds no time.
func ParseFileName(name string) (camera string, start time.Time, ok bool) {
	base := strings.TrimSuffix(name, filepath.Ext(name))
	loc := fileTime.FindStringSubmatchIndex(base)
	if loc == nil {
		return "", time.Time{}, false
	}
	sub := func(i int) string { return base[loc[2*i]:loc[2*i+1]] }
	s := fmt.Sprintf("%s-%s-%sT%s:%s:%s", sub(2), sub(3), sub(4), sub(5), sub(6), sub(7))
	var err error
	if loc[16] < 0 {
		start, err = time.ParseInLocation("2006-01-02T15:04:05", s, time.Local)
	} else {
		z := sub(8)
		if len(z) == 5 { // +0100
			z = z[:3] + ":" + z[3:]
		}
		start, err = time.Parse(time.RFC3339, s+z)
	}
	// A time before 1970 (year 0000, say) is not a recording time, and
	// Import would refuse it: the file's modification time is better.
	if err != nil || start.UnixMilli() <= 0 {
		return "", time.Time{}, false
	}
	camera = strings.TrimRight(base[:loc[2]], "-_ .")
	return camera, start, true
}

// WatcherConfig configures NewWatcher. Zero values mean "use the default".
type WatcherConfig struct {
	// Dir is the folder a camera drops its files in. Required.
	Dir string
	// Interval between two looks at the folder. Default 2 s.
	Interval time.Duration
	// Store imports the files. Required.
	Store *Store
	// Meta describes a file by its name; fields left empty are filled in
	// as ImportFile does. Default: nothing known beyond the file.
	Meta func(name string) ImportMeta
	// OnImport is called, on the Run goroutine, with the manifest of each
	// file imported (or found already stored). Optional.
	OnImport func(*SignedManifest)
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Watcher imports the files a camera drops in a folder. A file is imported
// once its size and modification time are the same at two looks in a row,
// so files still being written are left alone. Names starting with "." or
// ending in .part, .tmp or .crdownload are never imported: cameras and
// copy tools write under such names and rename when done.
type Watcher struct {
	cfg WatcherConfig

	// Owned by Run.
	seen map[string]fileState // state at the last look
	done map[string]fileState // state when imported, or when import failed for good
}

type fileState struct {
	size  int64
	mtime time.Time
}

// NewWatcher checks cfg and returns a Watcher; Run starts it.
func NewWatcher(cfg WatcherConfig) (*Watcher, error) {
	if cfg.Store == nil {
		return nil, errors.New("clips watcher: Store is required")
	}
	if cfg.Dir == "" {
		return nil, errors.New("clips watcher: Dir is required")
	}
	fi, err := os.Stat(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("clips watcher: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("clips watcher: %s is not a folder", cfg.Dir)
	}
	if cfg.Interval == 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Meta == nil {
		cfg.Meta = func(string) ImportMeta { return ImportMeta{} }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Watcher{cfg: cfg, seen: map[string]fileState{}, done: map[string]fileState{}}, nil
}

// Run looks at the folder every Interval and imports the files that are
// ready, until ctx is done; then it returns nil. Failures to read the
// folder or import a file are logged and retried at later looks (a file
// that failed is retried once it changes).
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		w.poll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ignored reports whether a name is one cameras and copy tools use for a
// file they are still writing, or a hidden file.
func ignored(name string) bool {
	lower := strings.ToLower(name)
	return strings.HasPrefix(name, ".") ||
		strings.HasSuffix(lower, ".part") ||
		strings.HasSuffix(lower, ".tmp") ||
		strings.HasSuffix(lower, ".crdownload")
}

func (w *Watcher) poll(ctx context.Context) {
	entries, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		w.cfg.Logger.Warn("clips watcher: cannot read the folder", "dir", w.cfg.Dir, "err", err)
		return
	}
	present := make(map[string]bool, len(entries))
	for _, e := range entries {
		name := e.Name()
		if ignored(name) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed since ReadDir
		}
		present[name] = true
		st := fileState{size: info.Size(), mtime: info.ModTime()}
		if d, ok := w.done[name]; ok && d == st {
			continue
		}
		prev, ok := w.seen[name]
		w.seen[name] = st
		if !ok || prev != st || st.size == 0 {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		path := filepath.Join(w.cfg.Dir, name)
		m, err := w.cfg.Store.ImportFile(ctx, path, w.cfg.Meta(name))
		switch {
		case err == nil:
			w.done[name] = st
			w.cfg.Logger.Info("clips watcher: imported", "file", path, "clip", m.ClipID(), "bytes", m.Size())
			if w.cfg.OnImport != nil {
				w.cfg.OnImport(m)
			}
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrFileChanged):
			delete(w.seen, name) // wait for two more stable looks
		default:
			w.done[name] = st // retry only once the file changes
			w.cfg.Logger.Warn("clips watcher: cannot import", "file", path, "err", err)
		}
	}
	for name := range w.seen {
		if !present[name] {
			delete(w.seen, name)
		}
	}
	for name := range w.done {
		if !present[name] {
			delete(w.done, name)
		}
	}
}
