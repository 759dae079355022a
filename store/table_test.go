package store_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/store"
)

// TestTable: the table helpers read and write one table only, scan by
// prefix in both directions, stop on ErrStop and decode with ScanAll.
func TestTable(t *testing.T) {
	db := openDB(t, store.Config{})
	for i := range 5 {
		if err := db.Put(store.Transfers, []byte{'k', byte(i)}, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Put(store.GrantOutbox, []byte{'k', 9}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(store.Transfers, []byte{'j'}, []byte("other prefix")); err != nil {
		t.Fatal(err)
	}
	if v, err := db.Get(store.Transfers, []byte{'k', 3}); err != nil || string(v) != "3" {
		t.Errorf("Get = %q, %v", v, err)
	}
	if _, err := db.Get(store.Transfers, []byte{'k', 9}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of another table's key = %v, want ErrNotFound", err)
	}
	if ok, err := db.Has(store.GrantOutbox, []byte{'k', 9}); !ok || err != nil {
		t.Errorf("Has = %v, %v", ok, err)
	}
	if err := db.Delete(store.GrantOutbox, []byte{'k', 9}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := db.Has(store.GrantOutbox, []byte{'k', 9}); ok {
		t.Error("a deleted key is still there")
	}

	got, err := store.ScanAll(db, store.Transfers, []byte{'k'}, func(k, v []byte) (string, error) { return string(v), nil })
	if err != nil || strings.Join(got, "") != "01234" {
		t.Errorf("ScanAll = %q, %v", got, err)
	}
	var rev []string
	err = db.View(func(txn *store.Txn) error {
		return txn.Scan(store.Transfers, []byte{'k'}, store.ScanOptions{Reverse: true}, func(it store.Item) error {
			if len(rev) == 3 {
				return store.ErrStop
			}
			v, err := it.Value()
			rev = append(rev, string(v))
			return err
		})
	})
	if err != nil || strings.Join(rev, "") != "432" {
		t.Errorf("reverse scan stopped after 3 = %q, %v", rev, err)
	}
	bad := errors.New("bad entry")
	if _, err := store.ScanAll(db, store.Transfers, nil, func(k, v []byte) (int, error) { return 0, bad }); !errors.Is(err, bad) {
		t.Errorf("ScanAll with a failing decoder = %v", err)
	}
}

// TestTableExpiry: an entry written with an expiry reports it, and one
// whose expiry passed is gone.
func TestTableExpiry(t *testing.T) {
	db := openDB(t, store.Config{})
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	err := db.Update(func(txn *store.Txn) error {
		if err := txn.PutExpiring(store.Grants, []byte("later"), []byte("x"), at); err != nil {
			return err
		}
		if err := txn.PutExpiring(store.Grants, []byte("gone"), []byte("x"), time.Now().Add(-time.Hour)); err != nil {
			return err
		}
		return txn.Put(store.Grants, []byte("kept"), []byte("x"))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(txn *store.Txn) error {
		if e, err := txn.Expires(store.Grants, []byte("later")); err != nil || !e.Equal(at) {
			t.Errorf("Expires = %v, %v; want %v", e, err, at)
		}
		if e, err := txn.Expires(store.Grants, []byte("kept")); err != nil || !e.IsZero() {
			t.Errorf("Expires of a kept entry = %v, %v", e, err)
		}
		if _, err := txn.Expires(store.Grants, []byte("gone")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an expired entry: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUndeclaredTable: a Table not declared in keys.go cannot be used.
func TestUndeclaredTable(t *testing.T) {
	db := openDB(t, store.Config{})
	defer func() {
		if recover() == nil {
			t.Error("a zero Table was used")
		}
	}()
	_ = db.Put(store.Table{}, []byte("k"), nil)
}
