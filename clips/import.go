package clips

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
)

// upload writes the chunks of one clip under a fresh blob ID, each in its
// own transaction, all with the same expiry. Writes are asynchronous
// (Badger's CommitWith), so that reading and hashing the next chunk
// overlaps Badger's copy of this one into its value log; the caller bounds
// how many chunks are in flight (see bufPool). Until a manifest points at
// the blob its chunks are invisible, and they expire on their own if the
// upload is never finished.
type upload struct {
	s       *Store
	blob    blobID
	stored  time.Time
	expires uint64
	n       int // chunks submitted

	wg  sync.WaitGroup // chunk commits in flight
	mu  sync.Mutex
	err error // the first chunk commit that failed
}

func (s *Store) newUpload() (*upload, error) {
	u := &upload{s: s, stored: s.now()}
	if _, err := rand.Read(u.blob[:]); err != nil {
		return nil, err
	}
	u.expires = expiresAt(u.stored.Add(s.retention))
	// Indexed before its first chunk, so that CollectGarbage finds every
	// blob, even one whose upload never finished.
	err := s.update(func(txn *badger.Txn) error { return txn.Set(blobKey(u.expires, u.blob), nil) })
	if err != nil {
		return nil, fmt.Errorf("index upload: %w", err)
	}
	return u, nil
}

// expiresAt converts t to a Badger expiry, rounding up to the second so
// that nothing expires before t.
func expiresAt(t time.Time) uint64 {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return uint64(max(sec, 1))
}

// put writes data as the next chunk without waiting for the commit. Badger
// keeps data until the commit is done, so the caller must not change it
// before done is called (on another goroutine; always exactly once). A
// commit that fails is reported by a later put and by wait.
func (u *upload) put(data []byte, done func()) error {
	if err := u.failed(); err != nil {
		done()
		return err
	}
	i := u.n
	k := chunkKey(u.blob, i)
	u.s.gate.RLock()
	txn := u.s.db.NewTransaction(true)
	if err := txn.SetEntry(entry(k, data, u.expires)); err != nil {
		txn.Discard()
		u.s.gate.RUnlock()
		done()
		return fmt.Errorf("store chunk %d: %w", i, err)
	}
	u.n++
	u.wg.Add(1)
	txn.CommitWith(func(err error) {
		u.s.gate.RUnlock()
		defer u.wg.Done()
		if err != nil {
			u.fail(fmt.Errorf("store chunk %d: %w", i, err))
		} else {
			u.s.dropWritten(k)
		}
		done()
	})
	return nil
}

func (u *upload) fail(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err == nil {
		u.err = err
	}
}

func (u *upload) failed() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// wait waits for every chunk commit and reports the first that failed.
func (u *upload) wait() error {
	u.wg.Wait()
	return u.failed()
}

// discard deletes the chunks written so far, once their commits are done.
// A failure only costs space until the chunks expire.
func (u *upload) discard() {
	u.wg.Wait()
	if err := u.s.deleteChunks(u.blob, u.n); err != nil {
		u.s.log.Warn("clips: could not delete the chunks of an abandoned upload; they expire with the retention period", "err", err)
	}
}

// dropWritten drops the pages of a chunk just written from the process's
// mappings (dropPages): read back inside Badger's value callback, which is
// where that is safe.
func (s *Store) dropWritten(k []byte) {
	if !canDropPages {
		return
	}
	_ = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			dropPages(v, true)
			return nil
		})
	})
}

// commit makes an upload visible: it writes the manifest, pointing at the
// upload's chunks, in one transaction. When the clip is already stored it
// discards the upload and returns the stored manifest instead.
func (u *upload) commit(m *SignedManifest) (stored *SignedManifest, err error) {
	s := u.s
	if err := u.wait(); err != nil {
		u.discard()
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := m.ClipID()
	err = s.update(func(txn *badger.Txn) error {
		l, err := s.getLocal(txn, id)
		if err == nil {
			stored = l.m
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		stored = m
		return setClip(txn, m, u.blob, u.stored, u.expires)
	})
	if err != nil || stored != m {
		u.discard()
	}
	if err != nil {
		return nil, fmt.Errorf("store manifest of clip %s: %w", id, err)
	}
	// Acknowledged means durable: Badger writes through a memory mapping,
	// which survives the process crashing but not the power failing.
	if err := s.db.Sync(); err != nil {
		if se := s.health.Report(s.db.Opts().Dir, err); se != nil {
			err = se
		}
		return nil, fmt.Errorf("sync clip %s to disk: %w", id, err)
	}
	if err := s.health.Verify(); err != nil {
		return nil, fmt.Errorf("sync clip %s to disk: %w", id, err)
	}
	return stored, nil
}

// ImportMeta describes a clip being imported.
type ImportMeta struct {
	// Camera names the camera (at most MaxCameraLen characters).
	Camera string
	// Start of the recording. Required.
	Start time.Time
	// End of the recording; zero when unknown.
	End time.Time
	// MediaType of the file, e.g. "video/mp4": one CheckMediaType
	// accepts. Empty: sniffed from the first bytes.
	MediaType string
}

func (meta ImportMeta) check() error {
	if meta.Start.IsZero() || meta.Start.UnixMilli() <= 0 {
		return errors.New("the clip's start time is unknown: give it")
	}
	if !meta.End.IsZero() && meta.End.Before(meta.Start) {
		return fmt.Errorf("the clip ends (%s) before it starts (%s)", meta.End.Format(time.RFC3339), meta.Start.Format(time.RFC3339))
	}
	if !utf8.ValidString(meta.Camera) || utf8.RuneCountInString(meta.Camera) > MaxCameraLen {
		return fmt.Errorf("camera name must be UTF-8 of at most %d characters", MaxCameraLen)
	}
	if meta.MediaType != "" {
		if err := CheckMediaType(meta.MediaType); err != nil {
			return err
		}
	}
	return nil
}

// Import reads a clip from r, stores it and returns its signed manifest.
// It streams: each chunk is stored as soon as it is read, so memory does not
// grow with the clip. The clip becomes visible only when the manifest is
// written, in one transaction after the last chunk; an import that fails or
// is interrupted (even by a crash) leaves nothing visible, and its chunks
// expire with the retention period.
//
// Importing a clip that is already stored returns the stored manifest. An
// empty input is refused with ErrEmpty.
func (s *Store) Import(ctx context.Context, r io.Reader, meta ImportMeta) (*SignedManifest, error) {
	m, err := s.importStream(ctx, r, meta, nil)
	if err != nil {
		return nil, fmt.Errorf("import clip: %w", err)
	}
	return m, nil
}

// importStream is Import with a check that runs after the last chunk is
// stored and before the manifest is: an error from it discards the upload.
func (s *Store) importStream(ctx context.Context, r io.Reader, meta ImportMeta, check func(id record.ID, size uint64) error) (*SignedManifest, error) {
	if err := meta.check(); err != nil {
		return nil, err
	}
	if err := s.health.Err(); err != nil {
		return nil, err
	}
	u, err := s.newUpload()
	if err != nil {
		return nil, err
	}
	// Three goroutines share the work: this one reads each chunk and
	// hashes it, the hasher hashes the whole file, Badger copies the chunk
	// into its value log; a buffer goes back to the pool when the last two
	// are done with it.
	pool := newBufPool(s.chunkSize, pipelineDepth)
	whole := newHasher()
	fail := func(err error) (*SignedManifest, error) {
		whole.close()
		u.discard()
		return nil, err
	}
	var (
		hashes [][]byte
		size   uint64
	)
	for {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		// As in receive: a disk that failed or filled up stops an import.
		if err := s.health.Err(); err != nil {
			return fail(err)
		}
		buf := pool.get()
		n, rerr := fill(r, buf)
		if n > 0 {
			if len(hashes) == MaxChunks {
				return fail(fmt.Errorf("larger than %d chunks of %d bytes; raise the chunk size", MaxChunks, s.chunkSize))
			}
			chunk := buf[:n]
			if meta.MediaType == "" {
				meta.MediaType = sniff(chunk)
			}
			h := sha256.Sum256(chunk)
			hashes = append(hashes, h[:])
			size += uint64(n)
			done := pool.shared(buf, 2)
			whole.add(chunk, done)
			if err := u.put(chunk, done); err != nil {
				return fail(err)
			}
		} else {
			pool.put(buf)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fail(fmt.Errorf("read: %w", rerr))
		}
	}
	if size == 0 {
		return fail(ErrEmpty)
	}
	id := record.ID(whole.close())
	if err := u.wait(); err != nil {
		u.discard()
		return nil, err
	}
	if check != nil {
		if err := check(id, size); err != nil {
			u.discard()
			return nil, err
		}
	}
	pm := &pb.Manifest{
		ClipId:      id[:],
		Camera:      meta.Camera,
		Start:       meta.Start.UnixMilli(),
		Size:        size,
		MediaType:   meta.MediaType,
		ChunkSize:   uint32(s.chunkSize),
		ChunkSha256: hashes,
		Owner:       []byte(s.self),
		Imported:    u.stored.UnixMilli(),
	}
	if !meta.End.IsZero() {
		pm.End = meta.End.UnixMilli()
	}
	m, err := SealManifest(pm, s.key)
	if err != nil {
		u.discard()
		return nil, err
	}
	stored, err := u.commit(m)
	if err != nil {
		return nil, err
	}
	if err := s.checkOwn(stored); err != nil {
		return nil, err
	}
	return stored, nil
}

// fill reads from r until buf is full or r ends. Unlike io.ReadFull it
// reports the end as io.EOF however many bytes came before it, and passes
// on every other error: an upload cut short (io.ErrUnexpectedEOF from an
// HTTP body) must fail, not import a truncated clip.
func fill(r io.Reader, buf []byte) (int, error) {
	n, empty := 0, 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m > 0 {
			empty = 0
		} else if empty++; empty == 100 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}

// checkOwn refuses to import a clip that is stored as another owner's: a
// node keeps one manifest per clip, and that file is someone else's.
func (s *Store) checkOwn(stored *SignedManifest) error {
	if stored.Owner != s.self {
		return fmt.Errorf("clip %s is already stored here as a clip that %s shared", stored.ClipID(), stored.Owner)
	}
	return nil
}

// sniff names the media type of a file from its first bytes: one of the
// allow-listed types, else application/octet-stream (never text/html).
func sniff(b []byte) string {
	t := http.DetectContentType(b)
	if !Playable(t) {
		return octetStream
	}
	return t
}

// PutVerified stores a clip received from a peer: m is its owner's manifest
// and chunks yields its chunks in order. Each chunk is checked against m
// before it is stored; on the first that does not match (its length or
// hash, a missing or surplus chunk, or a whole-file hash that differs from
// the clip ID) everything stored so far is discarded and the error wraps
// ErrChunkMismatch. An error yielded by chunks is returned, wrapped, after
// the same clean-up. Nothing is visible until the whole clip is verified.
//
// When the clip is already stored, PutVerified returns nil without
// consuming chunks.
func (s *Store) PutVerified(ctx context.Context, m *SignedManifest, chunks iter.Seq2[[]byte, error]) error {
	return s.putVerified(ctx, m, chunks, nil)
}

// putVerified is PutVerified for chunks from src, or from the caller when
// src is nil.
func (s *Store) putVerified(ctx context.Context, m *SignedManifest, chunks iter.Seq2[[]byte, error], src *chunkSource) error {
	if m == nil {
		return errors.New("store received clip: no manifest")
	}
	// Re-open rather than trust the caller's fields to agree with the bytes.
	m, err := OpenManifest(m.Raw)
	if err != nil {
		return fmt.Errorf("store received clip: %w", err)
	}
	id := m.ClipID()
	switch _, err := s.load(id); {
	case err == nil:
		return nil
	case !errors.Is(err, ErrNotFound):
		return err
	}
	if err := s.health.Err(); err != nil {
		return fmt.Errorf("store received clip %s: %w", id, err)
	}
	u, err := s.newUpload()
	if err != nil {
		return fmt.Errorf("store received clip %s: %w", id, err)
	}
	if err := s.receive(ctx, u, m, chunks, src); err != nil {
		u.discard()
		return fmt.Errorf("store received clip %s: %w", id, err)
	}
	if _, err := u.commit(m); err != nil {
		return fmt.Errorf("store received clip %s: %w", id, err)
	}
	return nil
}

func (s *Store) receive(ctx context.Context, u *upload, m *SignedManifest, chunks iter.Seq2[[]byte, error], src *chunkSource) (err error) {
	// As in importStream: the whole-file hash and Badger's writes run
	// beside the loop that checks each chunk.
	whole := newHasher()
	defer func() {
		sum := whole.close()
		if err == nil && !bytes.Equal(sum, m.M.GetClipId()) {
			// Only a manifest whose owner signed chunk hashes of a file
			// other than the clip ID's can get here.
			err = fmt.Errorf("%w: every chunk matches but the file's SHA-256 is not the clip ID", ErrChunkMismatch)
		}
	}()
	n := m.Chunks()
	i := 0
	for data, err := range chunks {
		if err != nil {
			return fmt.Errorf("chunk %d: %w", i, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// A disk that filled up or failed during a long transfer stops
		// it (Badger writes through mappings: writing on a full disk
		// kills the process).
		if err := s.health.Err(); err != nil {
			return err
		}
		if i >= n {
			return fmt.Errorf("%w: more than the %d chunks the manifest lists", ErrChunkMismatch, n)
		}
		if len(data) != m.ChunkLen(i) {
			return fmt.Errorf("%w: chunk %d is %d bytes, the manifest says %d", ErrChunkMismatch, i, len(data), m.ChunkLen(i))
		}
		if src == nil {
			if h := sha256.Sum256(data); !bytes.Equal(h[:], m.M.GetChunkSha256()[i]) {
				return fmt.Errorf("%w: chunk %d has the wrong hash", ErrChunkMismatch, i)
			}
		}
		var done func()
		var wg sync.WaitGroup
		if src != nil {
			done = src.pool.shared(data[:cap(data)], 2)
		} else {
			// The caller's buffer, which it may reuse for the next chunk:
			// wait until both are done with it.
			wg.Add(2)
			done = wg.Done
		}
		whole.add(data, done)
		err := u.put(data, done)
		wg.Wait()
		if err != nil {
			return err
		}
		i++
	}
	if i < n {
		return fmt.Errorf("%w: got %d of %d chunks", ErrChunkMismatch, i, n)
	}
	return nil
}

// chunkSource marks chunks that come from a transfer of this package: each
// was already checked against the manifest's chunk hash, and its buffer
// comes from pool and goes back to it once stored.
type chunkSource struct {
	pool *bufPool
}

// memory of a pipelined import or receive to n chunks.
type bufPool struct {
	size int
	free chan []byte
}

func newBufPool(size, n int) *bufPool {
	p := &bufPool{size: size, free: make(chan []byte, n)}
	for range n {
		p.free <- nil // allocated on first use
	}
	return p
}

// get waits for a free buffer.
func (p *bufPool) get() []byte {
	b := <-p.free
	if cap(b) < p.size {
		b = make([]byte, p.size)
	}
	return b[:p.size]
}

func (p *bufPool) put(b []byte) { p.free <- b }

// shared returns a function that gives b back after it was called refs
// times, once by each user of b.
func (p *bufPool) shared(b []byte, refs int32) func() {
	var n atomic.Int32
	n.Store(refs)
	return func() {
		if n.Add(-1) == 0 {
			p.put(b)
		}
	}
}

// pipelineDepth is how many chunks an import or a receive has in flight:
// read or hashed, waiting for the whole-file hash, or being written.
const pipelineDepth = 4

// hasher computes the SHA-256 of a stream of chunks on a goroutine of its
// own, so that hashing the whole file overlaps hashing and storing each
// chunk (on a 2-core home hub, hashing is most of the work of an import).
type hasher struct {
	ch  chan hashJob
	sum chan []byte
}

type hashJob struct {
	b    []byte
	done func()
}

func newHasher() *hasher {
	h := &hasher{ch: make(chan hashJob, pipelineDepth), sum: make(chan []byte, 1)}
	go func() {
		d := sha256.New()
		for j := range h.ch {
			d.Write(j.b)
			j.done()
		}
		h.sum <- d.Sum(nil)
	}()
	return h
}

// add hashes b next and then calls done.
func (h *hasher) add(b []byte, done func()) { h.ch <- hashJob{b, done} }

// close waits for the chunks added and returns their hash.
func (h *hasher) close() []byte {
	close(h.ch)
	return <-h.sum
}
