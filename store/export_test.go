package store

import "github.com/dgraph-io/badger/v4"

// Badger is the database's Badger handle, for tests that write what an
// older release or a crash left behind.
func (d *DB) Badger() *badger.DB { return d.bdb }
