package clips_test

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/store"
	"github.com/porchlight-mesh/porchlight/store/storetest"
)

func clipVersion(t *testing.T, db *clips.DB) string {
	t.Helper()
	return storetest.Version(t, db.Badger())
}

// TestOpenDBOfDecemberRelease: the clip database of the last release
// without a version key opens as version 1, gets the key, and its clip
// reads back whole.
func TestOpenDBOfDecemberRelease(t *testing.T) {
	f := storetest.Extract(t, storetest.Archive(storetest.V2))
	db, err := clips.OpenDB(filepath.Join(f.Dir, "data", "clips"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v := clipVersion(t, db); v != fmt.Sprint(clips.DBVersion) {
		t.Errorf("version %q after open, want %d", v, clips.DBVersion)
	}
	s := newStore(t, 1, clips.Config{DB: db})
	id := f.RecordID(t, f.Fact(t, "clip"))
	m, err := s.Manifest(id)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Reader(id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil || int64(len(b)) != m.Size() || !strings.HasSuffix(string(b), "xxxx") {
		t.Errorf("read %d bytes of the %d-byte clip (%v)", len(b), m.Size(), err)
	}
}

// TestOpenDBNewerRefused: a clip database a newer release wrote is
// refused, naming both versions.
func TestOpenDBNewerRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := clips.OpenDB(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	newer := fmt.Sprint(clips.DBVersion + 1)
	if err := db.Badger().Update(func(txn *badger.Txn) error { return txn.Set([]byte{'v'}, []byte(newer)) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = clips.OpenDB(dir, quiet)
	if !errors.Is(err, store.ErrNewerSchema) {
		t.Fatalf("OpenDB = %v, want ErrNewerSchema", err)
	}
	for _, want := range []string{"clip database", "schema version " + newer, fmt.Sprintf("version %d at most", clips.DBVersion)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestDBCloseTwice: Close is safe to call twice.
func TestDBCloseTwice(t *testing.T) {
	db, err := clips.OpenDB(t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
