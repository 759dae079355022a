package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Table is one table of the records database that another package keeps
// its entries in: the keys under one tag declared in keys.go. Its entries
// are read and written through a Txn, or through DB's one-entry helpers;
// keys passed to them are the key after the tag.
type Table struct{ tag byte }

func (t Table) key(k []byte) []byte {
	if t.tag == 0 {
		panic("store: a Table not declared in keys.go")
	}
	return append([]byte{t.tag}, k...)
}

// ErrStop, returned by a Scan callback, ends the scan without an error.
var ErrStop = errors.New("stop the scan")

// Txn is a transaction over the tables of the records database: every read
// in it sees one snapshot, and its writes commit together.
type Txn struct{ txn *badger.Txn }

// View runs f in a read-only transaction.
func (d *DB) View(f func(*Txn) error) error {
	return d.bdb.View(func(txn *badger.Txn) error { return f(&Txn{txn}) })
}

// Update runs f in a read-write transaction, committed if f returns nil.
// Writes are not fsynced (see Sync).
func (d *DB) Update(f func(*Txn) error) error {
	defer d.gen.Add(1)
	return d.bdb.Update(func(txn *badger.Txn) error { return f(&Txn{txn}) })
}

// Get returns a copy of the value of key in t, or ErrNotFound.
func (tx *Txn) Get(t Table, key []byte) ([]byte, error) {
	it, err := tx.txn.Get(t.key(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return it.ValueCopy(nil)
}

// Has reports whether t holds key.
func (tx *Txn) Has(t Table, key []byte) (bool, error) {
	_, err := tx.txn.Get(t.key(key))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, badger.ErrKeyNotFound):
		return false, nil
	}
	return false, err
}

// Expires returns when key expires from t (the zero Time: never), or
// ErrNotFound.
func (tx *Txn) Expires(t Table, key []byte) (time.Time, error) {
	it, err := tx.txn.Get(t.key(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return time.Time{}, ErrNotFound
	}
	if err != nil {
		return time.Time{}, err
	}
	return expiry(it.ExpiresAt()), nil
}

func expiry(at uint64) time.Time {
	if at == 0 {
		return time.Time{}
	}
	return time.Unix(int64(at), 0)
}

// Put sets key in t to val, with no expiry.
func (tx *Txn) Put(t Table, key, val []byte) error { return tx.txn.Set(t.key(key), val) }

// PutExpiring sets key in t to val until at (rounded down to the second),
// when the database drops it.
func (tx *Txn) PutExpiring(t Table, key, val []byte, at time.Time) error {
	e := badger.NewEntry(t.key(key), val)
	e.ExpiresAt = uint64(max(at.Unix(), 1))
	return tx.txn.SetEntry(e)
}

// Delete removes key from t (nothing if it is not there).
func (tx *Txn) Delete(t Table, key []byte) error { return tx.txn.Delete(t.key(key)) }

// ScanOptions tune a Scan. The zero value scans keys and values in
// ascending order.
type ScanOptions struct {
	// Reverse scans in descending key order.
	Reverse bool
	// KeysOnly does not prefetch values (Item.Value still reads one).
	KeysOnly bool
}

// Item is one entry met by a Scan, valid only during its callback.
type Item struct {
	it  *badger.Item
	tag int
}

// Key is the entry's key after the tag; it is valid only during the
// callback (copy it to keep it).
func (i Item) Key() []byte { return i.it.Key()[i.tag:] }

// Value returns a copy of the entry's value.
func (i Item) Value() ([]byte, error) { return i.it.ValueCopy(nil) }

// ValueSize is the length of the entry's value.
func (i Item) ValueSize() int { return int(i.it.ValueSize()) }

// Expires is when the entry expires (the zero Time: never).
func (i Item) Expires() time.Time { return expiry(i.it.ExpiresAt()) }

// maxKeyLen bounds the length of a table's keys.
const maxKeyLen = 1024

// Scan calls f with each entry of t whose key (after the tag) starts with
// prefix, in key order, until f returns an error: ErrStop ends the scan
// and Scan returns nil; any other error is returned.
func (tx *Txn) Scan(t Table, prefix []byte, o ScanOptions, f func(Item) error) error {
	p := t.key(prefix)
	opts := badger.DefaultIteratorOptions
	opts.Prefix, opts.Reverse, opts.PrefetchValues = p, o.Reverse, !o.KeysOnly
	it := tx.txn.NewIterator(opts)
	defer it.Close()
	start := p
	if o.Reverse {
		// Past every key with the prefix (table keys are far shorter than
		// maxKeyLen).
		start = append(bytes.Clone(p), bytes.Repeat([]byte{0xff}, maxKeyLen)...)
	}
	for it.Seek(start); it.Valid(); it.Next() {
		switch err := f(Item{it.Item(), 1}); {
		case errors.Is(err, ErrStop):
			return nil
		case err != nil:
			return err
		}
	}
	return nil
}

// Get returns a copy of the value of key in t, or ErrNotFound.
func (d *DB) Get(t Table, key []byte) (v []byte, err error) {
	err = d.View(func(tx *Txn) error {
		v, err = tx.Get(t, key)
		return err
	})
	return v, err
}

// Has reports whether t holds key.
func (d *DB) Has(t Table, key []byte) (ok bool, err error) {
	err = d.View(func(tx *Txn) error {
		ok, err = tx.Has(t, key)
		return err
	})
	return ok, err
}

// Put sets key in t to val, in a transaction of its own.
func (d *DB) Put(t Table, key, val []byte) error {
	return d.Update(func(tx *Txn) error { return tx.Put(t, key, val) })
}

// Delete removes key from t, in a transaction of its own.
func (d *DB) Delete(t Table, key []byte) error {
	return d.Update(func(tx *Txn) error { return tx.Delete(t, key) })
}

// ScanAll decodes every entry of t whose key starts with prefix, in key
// order. decode gets the key after the tag, valid only during the call,
// and a copy of the value, its to keep; an error from it ends the scan and
// is returned, wrapped with the key.
func ScanAll[T any](d *DB, t Table, prefix []byte, decode func(key, val []byte) (T, error)) ([]T, error) {
	var out []T
	err := d.View(func(tx *Txn) error { return tx.Scan(t, prefix, ScanOptions{}, decodeInto(&out, decode)) })
	return out, err
}

// decodeInto is a Scan callback that appends each decoded entry to out.
func decodeInto[T any](out *[]T, decode func(key, val []byte) (T, error)) func(Item) error {
	return func(i Item) error {
		v, err := i.Value()
		if err != nil {
			return err
		}
		x, err := decode(i.Key(), v)
		if err != nil {
			return fmt.Errorf("entry %x: %w", i.it.Key(), err)
		}
		*out = append(*out, x)
		return nil
	}
}
