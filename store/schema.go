package store

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/dgraph-io/badger/v4"
)

// ErrNewerSchema is wrapped by the error of opening a database that a
// newer release wrote: its layout is not one this release knows.
var ErrNewerSchema = errors.New("the database was written by a newer release of Porchlight")

// Schema is the layout version of one database and the steps that bring
// an older database up to it. Open applies the records database's
// (RecordsSchema); clips.OpenDB applies the clip database's. See doc.go
// for the rule.
type Schema struct {
	// Name names the database in messages ("records database").
	Name string
	// Key is the version key: no key of the database's tables may start
	// with it. Its value is the version in decimal.
	Key []byte
	// Version is the layout this release reads and writes.
	Version int
	// Steps upgrade a database one version at a time: the step with To n
	// turns a database of version n-1 into one of version n. They are in
	// order and end at Version.
	Steps []Step
	// Unversioned returns the version of a database that is not empty and
	// has no version key: it was written before the key existed. Required
	// unless Version is the first.
	Unversioned func(*badger.DB) (int, error)
}

// Step is one migration of a Schema.
type Step struct {
	// To is the version the step produces.
	To int
	// Name says what changes, for the log.
	Name string
	// Run changes db from version To-1 to To. The version key is written
	// after Run returns, so Run must be safe to run again on a database it
	// already changed, in part or in full (a crash between the two runs
	// it again). Run syncs what it writes.
	Run func(db *badger.DB) error
}

// Apply brings db to s.Version: a new, empty database gets the version
// key; an older one is migrated step by step, the version key written
// after each step; a newer one is refused with an error wrapping
// ErrNewerSchema. It returns the version the database had.
func (s Schema) Apply(db *badger.DB, log *slog.Logger) (from int, err error) {
	if log == nil {
		log = slog.Default()
	}
	from, found, err := s.stored(db)
	if err != nil {
		return 0, fmt.Errorf("%s: read the schema version: %w", s.Name, err)
	}
	if from > s.Version {
		return from, fmt.Errorf("%w: the %s in %s is at schema version %d, and this release reads version %d at most. Run the release that wrote it (or a later one); to go back to this release, restore a backup of the data directory made with it",
			ErrNewerSchema, s.Name, db.Opts().Dir, from, s.Version)
	}
	for _, st := range s.Steps {
		if st.To <= from {
			continue
		}
		if st.To > s.Version {
			break
		}
		log.Info("migrating the database to a new schema version", "db", s.Name, "from", st.To-1, "to", st.To, "step", st.Name)
		if err := st.Run(db); err != nil {
			return from, fmt.Errorf("%s: migrate from schema version %d to %d (%s): %w; the database is unchanged past version %d, and the next start tries again", s.Name, st.To-1, st.To, st.Name, err, st.To-1)
		}
		if err := s.setVersion(db, st.To); err != nil {
			return from, err
		}
	}
	if !found || from < s.Version {
		// A new database, or one whose steps ended (above) at Version.
		if err := s.setVersion(db, s.Version); err != nil {
			return from, err
		}
	}
	return from, nil
}

// stored returns the database's version: its version key's, or, without
// one, Version for an empty database and Unversioned's for the rest.
func (s Schema) stored(db *badger.DB) (v int, found bool, err error) {
	empty := true
	err = db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(s.Key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			opts := badger.DefaultIteratorOptions
			opts.PrefetchValues = false
			iter := txn.NewIterator(opts)
			defer iter.Close()
			iter.Rewind()
			empty = !iter.Valid()
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		raw, err := it.ValueCopy(nil)
		if err != nil {
			return err
		}
		if v, err = strconv.Atoi(string(raw)); err != nil || v < 1 {
			return fmt.Errorf("the version key holds %q, not a version", raw)
		}
		return nil
	})
	switch {
	case err != nil || found:
		return v, found, err
	case empty:
		return s.Version, false, nil
	case s.Unversioned == nil:
		return 1, false, nil
	}
	v, err = s.Unversioned(db)
	return v, false, err
}

func (s Schema) setVersion(db *badger.DB, v int) error {
	err := db.Update(func(txn *badger.Txn) error { return txn.Set(s.Key, []byte(strconv.Itoa(v))) })
	if err == nil {
		err = db.Sync()
	}
	if err != nil {
		return fmt.Errorf("%s: write schema version %d: %w", s.Name, v, err)
	}
	return nil
}
