package clips

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/clips/pb"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/store"
)

// Errors callers test for.
var (
	// ErrNotFound: no such clip (never stored, expired, or out of range).
	ErrNotFound = errors.New("clip not found")
	// ErrEmpty: an import had no bytes.
	ErrEmpty = errors.New("clip is empty (0 bytes): nothing to import")
	// ErrChunkMismatch: chunk bytes do not match the signed manifest. From
	// PutVerified the sender is at fault; from a read, the local disk.
	ErrChunkMismatch = errors.New("chunk does not match the clip manifest")
)

// DefaultRetention is how long a clip is kept unless it is held.
const DefaultRetention = 30 * 24 * time.Hour

// Config configures New. Zero values mean "use the default".
type Config struct {
	// DB is the clips' own database (OpenDB); clips keep their tables in it
	// under the tags listed in doc.go. Required. The Store does not close it.
	DB *badger.DB
	// Key is the owner's key, which signs the manifests of imported clips.
	// Required.
	Key crypto.PrivKey
	// ChunkSize of imported clips, MinChunkSize to MaxChunkSize. Default
	// DefaultChunkSize (1 MiB).
	ChunkSize int
	// Retention is how long a clip is kept after it is stored, unless held.
	// Default DefaultRetention (30 days).
	Retention time.Duration
	// Now is the clock for import times and expiry arithmetic. Badger itself
	// expires entries by the wall clock. Default time.Now.
	Now func() time.Time
	// Logger reports clean-up failures that callers cannot act on. Default
	// slog.Default().
	Logger *slog.Logger
	// Health, when set, watches the disk: while it reports a failure,
	// imports and received clips are refused with an error wrapping
	// store.ErrStorage, and a clip is acknowledged only if the disk still
	// holds the database after its sync.
	Health *store.Health
}

// Store keeps clips in Badger: fixed-size chunks plus a signed manifest.
// Its methods are safe for concurrent use.
type Store struct {
	db        *badger.DB
	key       crypto.PrivKey
	self      peer.ID
	chunkSize int
	retention time.Duration
	now       func() time.Time
	log       *slog.Logger
	health    *store.Health // nil: the disk is not watched

	// mu serializes changes to which chunks a manifest points at and to
	// their expiry: the manifest commit of Import and PutVerified, Hold,
	// Release and Sweep. Chunk uploads run outside it.
	mu sync.Mutex

	// gate lets CollectGarbage's DropPrefix run alone: Badger refuses every
	// write while a DropPrefix runs (ErrBlockedWrites) rather than wait.
	// Every write to the database holds it shared (update, batch; a chunk
	// commit from put until its callback); CollectGarbage holds it
	// exclusively for the milliseconds of the drop. It is the database's
	// (gateOf), shared by every Store on it.
	gate *sync.RWMutex

	// afterRead, set by tests, runs between the last read of a file that
	// ImportFile imports and its check that the file did not change.
	afterRead func(path string)
}

// New returns a Store over cfg.DB.
func New(cfg Config) (*Store, error) {
	if cfg.DB == nil {
		return nil, errors.New("clips: DB is required")
	}
	if cfg.Key == nil {
		return nil, errors.New("clips: Key is required")
	}
	self, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("clips: owner key: %w", err)
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.ChunkSize < MinChunkSize || cfg.ChunkSize > MaxChunkSize {
		return nil, fmt.Errorf("clips: ChunkSize %d outside %d to %d", cfg.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Retention < time.Second {
		return nil, fmt.Errorf("clips: Retention %s is less than a second", cfg.Retention)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Store{
		health:    cfg.Health,
		gate:      gateOf(cfg.DB),
		db:        cfg.DB,
		key:       cfg.Key,
		self:      self,
		chunkSize: cfg.ChunkSize,
		retention: cfg.Retention,
		now:       cfg.Now,
		log:       cfg.Logger,
	}, nil
}

// Owner is the peer ID that signs this store's imports.
func (s *Store) Owner() peer.ID { return s.self }

// keys

const (
	tagManifest = 'M'
	tagChunk    = 'C'
	tagBlob     = 'B' // blob index for CollectGarbage: B E B -> nothing
)

// blobKey indexes blob b under its first expiry e (Badger seconds,
// big-endian, so that a scan meets the oldest first).
func blobKey(e uint64, b blobID) []byte {
	k := binary.BigEndian.AppendUint64([]byte{tagBlob}, e)
	return append(k, b[:]...)
}

// blobID names the chunks of one upload: random, chosen before the clip ID
// is known, so that chunks can be written as they arrive.
type blobID [16]byte

func manifestKey(id record.ID) []byte { return append([]byte{tagManifest}, id[:]...) }

func chunkKey(b blobID, i int) []byte {
	k := append([]byte{tagChunk}, b[:]...)
	return binary.BigEndian.AppendUint32(k, uint32(i))
}

// A manifest value is a local header followed by the signed envelope.
const (
	localVersion = 1
	localHeader  = 1 + 16 + 8 // version, blob, stored at (Unix ms)
)

type local struct {
	m       *SignedManifest
	blob    blobID
	stored  time.Time
	expires uint64 // Badger ExpiresAt, Unix seconds; 0 when held
}

func encodeLocal(blob blobID, stored time.Time, raw []byte) []byte {
	v := make([]byte, 0, localHeader+len(raw))
	v = append(v, localVersion)
	v = append(v, blob[:]...)
	v = binary.BigEndian.AppendUint64(v, uint64(stored.UnixMilli()))
	return append(v, raw...)
}

func (s *Store) getLocal(txn *badger.Txn, id record.ID) (*local, error) {
	item, err := txn.Get(manifestKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("clip %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read clip %s: %w", id, err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, fmt.Errorf("read clip %s: %w", id, err)
	}
	if len(v) <= localHeader || v[0] != localVersion {
		return nil, fmt.Errorf("clip %s: corrupt manifest entry (%d bytes)", id, len(v))
	}
	// Verified again, not trusted: this also catches a damaged disk.
	m, err := OpenManifest(v[localHeader:])
	if err != nil {
		return nil, fmt.Errorf("clip %s: stored manifest: %w", id, err)
	}
	if m.ClipID() != id {
		return nil, fmt.Errorf("clip %s: stored manifest is for clip %s", id, m.ClipID())
	}
	l := &local{m: m, expires: item.ExpiresAt()}
	copy(l.blob[:], v[1:17])
	l.stored = time.UnixMilli(int64(binary.BigEndian.Uint64(v[17:25])))
	return l, nil
}

func (s *Store) load(id record.ID) (*local, error) {
	var l *local
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		l, err = s.getLocal(txn, id)
		return err
	})
	return l, err
}

func entry(k, v []byte, expires uint64) *badger.Entry {
	e := badger.NewEntry(k, v)
	// Set rather than WithTTL: every entry of a clip must carry the very
	// same expiry, whenever it is written, so that chunks never outlive
	// or predecease their manifest.
	e.ExpiresAt = expires
	return e
}

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

func (s *Store) deleteChunks(b blobID, n int) error {
	keys := make([][]byte, n)
	for i := range n {
		keys[i] = chunkKey(b, i)
	}
	return s.deleteKeys(keys)
}

// update is db.Update under the write gate.
func (s *Store) update(f func(txn *badger.Txn) error) error {
	s.gate.RLock()
	defer s.gate.RUnlock()
	return s.db.Update(f)
}

// deleteKeys deletes keys in a write batch under the write gate.
func (s *Store) deleteKeys(keys [][]byte) error {
	s.gate.RLock()
	defer s.gate.RUnlock()
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return err
		}
	}
	return wb.Flush()
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
		return txn.SetEntry(entry(manifestKey(id), encodeLocal(u.blob, u.stored, m.Raw), u.expires))
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
		err := s.update(func(txn *badger.Txn) error { return txn.Delete(manifestKey(id)) })
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
		return txn.SetEntry(entry(manifestKey(l.m.ClipID()), encodeLocal(l.blob, l.stored, l.m.Raw), expires))
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

// gates holds each clip database's write gate (Store.gate).
var gates sync.Map // *badger.DB -> *sync.RWMutex

func gateOf(db *badger.DB) *sync.RWMutex {
	g, _ := gates.LoadOrStore(db, new(sync.RWMutex))
	return g.(*sync.RWMutex)
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
