package clips

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/porchlight-mesh/porchlight/record"
)

// Expires reports when a stored clip expires, or held = true when it is
// held and does not expire. A clip that does not exist is ErrNotFound.
func (s *Store) Expires(id record.ID) (at time.Time, held bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(manifestKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("clip %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if e := item.ExpiresAt(); e == 0 {
			held = true
		} else {
			at = time.Unix(int64(e), 0)
		}
		return nil
	})
	return at, held, err
}

// Hold keeps a clip until Release: its entries are rewritten without an
// expiry. A shared clip is held until its grants end; the caller counts
// grants and calls Release after the last. Holding a held clip does
// nothing.
//
// Chunks are rewritten before the manifest, so a manifest without expiry
// always has chunks without expiry. An interrupted Hold leaves chunks that
// no longer expire; calling Hold again finishes it, and Sweep deletes them
// once their clip is gone.
func (s *Store) Hold(ctx context.Context, id record.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.load(id)
	if err != nil {
		return err
	}
	if l.expires == 0 {
		return nil
	}
	if err := s.rewriteChunks(ctx, l, 0); err != nil {
		return fmt.Errorf("hold clip %s: %w", id, err)
	}
	if err := s.rewriteManifest(l, 0); err != nil {
		return fmt.Errorf("hold clip %s: %w", id, err)
	}
	return nil
}

// Release ends a Hold: the clip expires again Retention after it was
// stored, or at once if that time has passed. Releasing a clip that is not
// held does nothing.
//
// The manifest gets its expiry before the chunks, so that an interrupted
// Release never leaves a held manifest over chunks that expire.
func (s *Store) Release(ctx context.Context, id record.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.load(id)
	if err != nil {
		return err
	}
	if l.expires != 0 {
		return nil
	}
	exp := l.stored.Add(s.retention)
	if !exp.After(s.now()) {
		err := s.update(func(txn *badger.Txn) error { return deleteClip(txn, l.m) })
		if err == nil {
			err = s.deleteChunks(l.blob, l.m.Chunks())
		}
		if err != nil {
			return fmt.Errorf("release clip %s: %w", id, err)
		}
		return nil
	}
	if err := s.rewriteManifest(l, expiresAt(exp)); err != nil {
		return fmt.Errorf("release clip %s: %w", id, err)
	}
	if err := s.rewriteChunks(ctx, l, expiresAt(exp)); err != nil {
		return fmt.Errorf("release clip %s: %w", id, err)
	}
	return nil
}

func (s *Store) rewriteManifest(l *local, expires uint64) error {
	return s.update(func(txn *badger.Txn) error {
		return setClip(txn, l.m, l.blob, l.stored, expires)
	})
}

// rewriteChunks rewrites each chunk with a new expiry, one transaction per
// chunk: Badger keeps an expiry with the value, so changing it means
// writing the value again.
func (s *Store) rewriteChunks(ctx context.Context, l *local, expires uint64) error {
	var buf []byte
	for i := 0; i < l.m.Chunks(); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.update(func(txn *badger.Txn) error {
			k := chunkKey(l.blob, i)
			item, err := txn.Get(k)
			if err != nil {
				return err
			}
			if buf, err = copyValue(item, buf); err != nil {
				return err
			}
			return txn.SetEntry(entry(k, buf, expires))
		})
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("chunk %d is gone: %w", i, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("chunk %d: %w", i, err)
		}
	}
	return nil
}

// Sweep deletes chunks that never expire yet belong to no stored clip: the
// leftovers of a Hold or Release that was interrupted. It returns how many
// it deleted. Chunks of uploads in progress always have an expiry and are
// left alone.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var orphans [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		live, err := liveBlobs(txn)
		if err != nil {
			return err
		}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagChunk}
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			k := item.Key()
			if item.ExpiresAt() != 0 || len(k) != 1+16+4 || live[blobID(k[1:17])] {
				continue
			}
			orphans = append(orphans, item.KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sweep clip chunks: %w", err)
	}
	if err := s.deleteKeys(orphans); err != nil {
		return 0, fmt.Errorf("sweep clip chunks: %w", err)
	}
	return len(orphans), nil
}

// bufPool hands out at most n chunk buffers at a time: it bounds the

// CollectGarbage gives back the disk space of expired clips and of
// abandoned uploads. Badger hides an expired entry at once but frees its
// space in the value log only once it knows the entry is garbage, which
// it learns when a compaction drops the entry's key; the clip database's
// few keys rarely compact. So CollectGarbage finds, in the blob index, each
// blob whose first expiry has passed and that no stored manifest points
// at (a held or released clip keeps its blob: its manifest is still
// there), drops its chunks' keys with Badger's DropPrefix, which records
// their values as garbage, and then runs the value-log GC, which rewrites
// and deletes each log file that is at least half garbage. It returns how
// many blobs it dropped. DropPrefix blocks writes to the clip database
// while it runs (milliseconds: its LSM tree holds only keys and
// manifests). A node calls it every hour.
func (s *Store) CollectGarbage(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := uint64(s.now().Unix())
	var (
		live    map[blobID]bool
		expired [][]byte // blob index keys
	)
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if live, err = liveBlobs(txn); err != nil {
			return err
		}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{tagBlob}
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != 1+8+16 {
				continue
			}
			if binary.BigEndian.Uint64(k[1:9]) > now {
				break // sorted by expiry: the rest are newer
			}
			expired = append(expired, it.Item().KeyCopy(nil))
		}
		return ctx.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("clips: collect garbage: %w", err)
	}
	var prefixes, done [][]byte
	for _, k := range expired {
		b := blobID(k[9:])
		if live[b] {
			continue // held, or released with a later expiry: checked again later
		}
		prefixes = append(prefixes, append([]byte{tagChunk}, b[:]...))
		done = append(done, k)
	}
	if err := s.dropBlobs(prefixes, done); err != nil {
		return 0, fmt.Errorf("clips: collect garbage: %w", err)
	}
	for ctx.Err() == nil {
		err := s.db.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			break
		}
		if err != nil {
			return len(prefixes), fmt.Errorf("clips: value-log GC: %w", err)
		}
	}
	return len(prefixes), ctx.Err()
}

// dropBlobs drops the chunk keys under prefixes (C B) and then the blob
// index keys done, with every other write held off (gate): Badger refuses
// writes while DropPrefix runs.
func (s *Store) dropBlobs(prefixes, done [][]byte) error {
	if len(prefixes) == 0 {
		return nil
	}
	s.gate.Lock()
	defer s.gate.Unlock()
	// DropPrefix skips a prefix with no live key, and expired keys do not
	// count: give each blob a live key (past the last chunk index) for
	// DropPrefix to drop with the rest. Should the drop fail, Sweep deletes
	// these as orphans.
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, p := range prefixes {
		if err := wb.Set(binary.BigEndian.AppendUint32(append([]byte(nil), p...), math.MaxUint32), nil); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	if err := s.db.DropPrefix(prefixes...); err != nil {
		return fmt.Errorf("drop expired chunks: %w", err)
	}
	wb = s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range done {
		if err := wb.Delete(k); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// liveBlobs returns the blobs that stored manifests point at.
func liveBlobs(txn *badger.Txn) (map[blobID]bool, error) {
	live := map[blobID]bool{}
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte{tagManifest}
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		err := it.Item().Value(func(v []byte) error {
			if len(v) > localHeader {
				live[blobID(v[1:17])] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return live, nil
}
