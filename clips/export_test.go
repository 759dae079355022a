package clips

import (
	"context"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Poll makes one look at the folder, for tests that step the watcher.
func (w *Watcher) Poll(ctx context.Context) { w.poll(ctx) }

// SetAfterRead sets a function ImportFile runs between its last read of a
// file and its check that the file did not change.
func SetAfterRead(s *Store, f func(path string)) { s.afterRead = f }

// SetTimeouts shortens the protocols' deadlines for a test; the returned
// function restores them.
func SetTimeouts(header, chunk time.Duration) func() {
	h, c := headerTimeout, chunkTimeout
	headerTimeout, chunkTimeout = header, chunk
	return func() { headerTimeout, chunkTimeout = h, c }
}

// OpenDBWithLogFiles is OpenDB with value-log files of the given size, so
// that a test fills several.
func OpenDBWithLogFiles(dir string, size int64) (*badger.DB, error) { return openDB(dir, nil, size) }
