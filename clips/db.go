package clips

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/porchlight-mesh/porchlight/store"
)

// valueThreshold is the clip database's Badger value threshold: every
// value this long or longer, so every chunk of at least MinChunkSize, is
// kept in the value log rather than in the LSM tree.
const valueThreshold = 1 << 10

// vlogFileSize is the size of the clip database's value-log files (Badger
// maps each at twice this size; see preallocate).
const vlogFileSize = 128 << 20

// DB is a node's clip database: a Badger database tuned for clips (see
// OpenDB), and the write gate that every Store on it shares.
type DB struct {
	bdb *badger.DB

	// gate lets CollectGarbage's DropPrefix run alone: Badger refuses every
	// write while a DropPrefix runs (ErrBlockedWrites) rather than wait.
	// Every write to the database holds it shared (update, batch; a chunk
	// commit from put until its callback); CollectGarbage holds it
	// exclusively for the milliseconds of the drop.
	gate sync.RWMutex

	closeOnce sync.Once
	closeErr  error
}

// OpenDB opens (creating it if needed) a clip database, to pass as
// Config.DB. A node keeps its clips in a database of their own,
// apart from its records, because the two have nothing in common:
//
//   - clip chunks are large, incompressible and written once, so they all
//     go to the value log (valueThreshold), without compression; the LSM
//     tree only holds keys and manifests;
//   - every value read from the log is checked against the CRC32-C Badger
//     wrote with it (VerifyValueChecksum): a damaged disk is reported at
//     once, at a small fraction of the cost of re-hashing each chunk with
//     SHA-256 (the receiver of a transfer still checks every chunk's
//     SHA-256 against the owner's signed manifest);
//   - the records' database keeps its small, mostly inline values and its
//     caches to itself.
//
// The caller closes the database.
func OpenDB(dir string, logger *slog.Logger) (*DB, error) {
	return openDB(dir, logger, vlogFileSize)
}

func openDB(dir string, logger *slog.Logger, vlogFileSize int64) (*DB, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := store.RemoveEmptyLogFiles(dir); err != nil {
		return nil, err
	}
	opts := badger.DefaultOptions(dir).
		WithLogger(store.BadgerLogger(logger)).
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(vlogFileSize).
		WithVerifyValueChecksum(true).
		WithMemTableSize(4 << 20). // keys and value pointers only
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBlockCacheSize(2 << 20).
		WithIndexCacheSize(2 << 20).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithCompression(options.None). // video does not compress
		WithMetricsEnabled(false).
		WithDetectConflicts(false) // chunk keys are unique; manifests change under Store.mu
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open clip database in %s: %w", dir, err)
	}
	if _, err := dbSchema.Apply(db, logger); err != nil {
		db.Close()
		return nil, err
	}
	return &DB{bdb: db}, nil
}

// DBVersion is the schema version of the clip database that this release
// reads and writes. The rule is store's (store/doc.go): a layout change
// adds a step to dbSchema and bumps DBVersion.
const DBVersion = 2

// dbSchema is the clip database's schema. Version 1 is the layout of the
// releases of December 2026, which wrote no version key; version 2 adds
// the time index (T, list.go), so that a listing reads one page of
// manifests rather than all of them.
var dbSchema = store.Schema{
	Name:    "clip database",
	Key:     []byte{tagVersion},
	Version: DBVersion,
	Steps: []store.Step{
		{To: 2, Name: "index clips by start time", Run: buildTimeIndex},
	},
}

// Close closes the database. It is safe to call more than once.
func (d *DB) Close() error { return d.CloseWithin(0) }

// CloseWithin is Close waiting at most timeout (zero: unbounded), as
// store.CloseBadger. Only the first call closes; later ones return its
// error.
func (d *DB) CloseWithin(timeout time.Duration) error {
	d.closeOnce.Do(func() { d.closeErr = store.CloseBadger(d.bdb, timeout) })
	return d.closeErr
}

// Size returns the size of the database's LSM tree and value log, in
// bytes.
func (d *DB) Size() (lsm, vlog int64) { return d.bdb.Size() }

// Sync flushes written data to disk.
func (d *DB) Sync() error { return d.bdb.Sync() }
