package clips

import (
	"bufio"
	"bytes"
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/porchlight-mesh/porchlight/clips/pb"

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
func OpenDBWithLogFiles(dir string, size int64) (*DB, error) { return openDB(dir, nil, size) }

// Badger is the database's Badger handle, for tests that look at or
// damage its entries directly.
func (d *DB) Badger() *badger.DB { return d.bdb }

// SetStallTimeout shortens the wait for each step of a message; the
// returned function restores it.
func SetStallTimeout(d time.Duration) func() {
	old := stallTimeout
	stallTimeout = d
	return func() { stallTimeout = old }
}

// fakeStream is a msgStream with no deadlines and no resource limits.
type fakeStream struct{ network.NullScope }

func (fakeStream) SetReadDeadline(time.Time) error { return nil }
func (f fakeStream) Scope() network.StreamScope    { return &f.NullScope }

// ReadShareRequest runs the share server's reader over b: the request,
// and how many bytes the budget held at most.
func ReadShareRequest(b []byte) (*pb.ShareRequest, error) {
	req := new(pb.ShareRequest)
	budget := &byteBudget{max: maxShareBuffered}
	err := readMsg(fakeStream{}, bufio.NewReader(bytes.NewReader(b)), maxShareRequest, req, budget)
	if budget.used != 0 {
		panic("readMsg left bytes reserved")
	}
	return req, err
}
