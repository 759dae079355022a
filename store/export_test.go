package store

import "github.com/dgraph-io/badger/v4"

// Badger is the database's Badger handle, for tests that write what an
// older release or a crash left behind.
func (d *DB) Badger() *badger.DB { return d.bdb }

// MigrateTo3 is the step to schema version 3, to run it a second time.
func MigrateTo3(d *DB) error { return migrateTo3(d.bdb, d.cfg.Neighborhood) }
