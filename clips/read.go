package clips

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/porchlight-mesh/porchlight/record"
)

// copyValue copies a chunk's value into buf, reusing its memory, and drops
// the chunk's pages from the process's mappings (dropPages).
func copyValue(item *badger.Item, buf []byte) ([]byte, error) {
	err := item.Value(func(v []byte) error {
		buf = append(buf[:0], v...)
		dropPages(v, false)
		return nil
	})
	return buf, err
}

// Manifest returns the manifest of a stored clip, or an error wrapping
// ErrNotFound.
func (s *Store) Manifest(id record.ID) (*SignedManifest, error) {
	l, err := s.load(id)
	if err != nil {
		return nil, err
	}
	return l.m, nil
}

// List returns the manifests of all stored clips (imported here or received
// from peers), newest recording first.
func (s *Store) List() ([]*SignedManifest, error) {
	var out []*SignedManifest
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagManifest}
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != 1+len(record.ID{}) {
				continue
			}
			l, err := s.getLocal(txn, record.ID(k[1:]))
			if err != nil {
				return err
			}
			out = append(out, l.m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list clips: %w", err)
	}
	slices.SortFunc(out, func(a, b *SignedManifest) int {
		if c := b.M.GetStart() - a.M.GetStart(); c != 0 {
			return sign(c)
		}
		if c := b.M.GetImported() - a.M.GetImported(); c != 0 {
			return sign(c)
		}
		ai, bi := a.ClipID(), b.ClipID()
		return bytes.Compare(ai[:], bi[:])
	})
	return out, nil
}

func sign(x int64) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// storedChunk reads chunk i of a stored clip, as the owner's server sends
// it. It does not hash it: the requester checks every chunk against the
// signed manifest anyway, and the clip database checks each value's
// CRC32-C as it reads it (OpenDB), which catches a damaged disk at a tenth
// of the cost. A chunk of the wrong length is reported as damaged, wrapping
// ErrChunkMismatch. readChunk adds the hash check.
func (s *Store) storedChunk(l *local, i int, buf []byte) ([]byte, error) {
	id := l.m.ClipID()
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(chunkKey(l.blob, i))
		if err != nil {
			return err
		}
		buf, err = copyValue(item, buf)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("chunk %d of clip %s is gone (the clip expired?): %w", i, id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read chunk %d of clip %s: %w", i, id, err)
	}
	if len(buf) != l.m.ChunkLen(i) {
		return nil, fmt.Errorf("stored chunk %d of clip %s is %d bytes, not %d: %w", i, id, len(buf), l.m.ChunkLen(i), ErrChunkMismatch)
	}
	return buf, nil
}

// readChunk reads chunk i of a stored clip into buf (reusing its memory)
// and verifies it against the manifest.
func (s *Store) readChunk(l *local, i int, buf []byte) ([]byte, error) {
	id := l.m.ClipID()
	if i < 0 || i >= l.m.Chunks() {
		return nil, fmt.Errorf("chunk %d of clip %s (which has %d): %w", i, id, l.m.Chunks(), ErrNotFound)
	}
	buf, err := s.storedChunk(l, i, buf)
	if err != nil {
		return nil, err
	}
	if h := sha256.Sum256(buf); !bytes.Equal(h[:], l.m.M.GetChunkSha256()[i]) {
		return nil, fmt.Errorf("stored chunk %d of clip %s is damaged: %w", i, id, ErrChunkMismatch)
	}
	return buf, nil
}

// ReadChunk returns chunk i of a stored clip, verified against its
// manifest. A clip or chunk that does not exist is ErrNotFound.
func (s *Store) ReadChunk(id record.ID, i int) ([]byte, error) {
	l, err := s.load(id)
	if err != nil {
		return nil, err
	}
	return s.readChunk(l, i, nil)
}

// Reader returns a reader of a stored clip's bytes that reads only the
// chunks a read needs (one chunk in memory at a time), for
// http.ServeContent. Each chunk is verified against the manifest.
func (s *Store) Reader(id record.ID) (io.ReadSeeker, error) {
	l, err := s.load(id)
	if err != nil {
		return nil, err
	}
	return &clipReader{s: s, l: l, cur: -1}, nil
}

type clipReader struct {
	s   *Store
	l   *local
	off int64
	cur int    // index of the chunk in buf, -1 for none
	buf []byte // chunk cur
}

func (r *clipReader) Read(p []byte) (int, error) {
	size := r.l.m.Size()
	if r.off >= size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	cs := int64(r.l.m.M.GetChunkSize())
	i := int(r.off / cs)
	if i != r.cur {
		b, err := r.s.readChunk(r.l, i, r.buf)
		if err != nil {
			r.cur = -1
			return 0, err
		}
		r.buf, r.cur = b, i
	}
	n := copy(p, r.buf[r.off-int64(i)*cs:])
	r.off += int64(n)
	return n, nil
}

func (r *clipReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.l.m.Size()
	default:
		return 0, fmt.Errorf("seek: bad whence %d", whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek to %d: negative position", offset)
	}
	r.off = offset
	return offset, nil
}
