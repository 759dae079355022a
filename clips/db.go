package clips

import (
	"fmt"
	"log/slog"

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

// OpenDB opens (creating it if needed) a Badger database tuned for clips,
// to pass as Config.DB. A node keeps its clips in a database of their own,
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
func OpenDB(dir string, logger *slog.Logger) (*badger.DB, error) {
	return openDB(dir, logger, vlogFileSize)
}

func openDB(dir string, logger *slog.Logger, vlogFileSize int64) (*badger.DB, error) {
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
	return db, nil
}
