package clips

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

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
	// DB is the node's clip database (OpenDB). Required. The Store does
	// not close it.
	DB *DB
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

	// gate is the database's write gate (DB.gate), shared by every Store
	// on it.
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
		gate:      &cfg.DB.gate,
		db:        cfg.DB.bdb,
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
	tagTime     = 'T' // time index for Page: T S I -> end, owner, camera (list.go)
	tagVersion  = 'v' // the schema version (dbSchema): the key is the tag alone
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
