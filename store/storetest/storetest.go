// Package storetest helps tests open the data directories that
// store/testdata keeps: real data directories of earlier releases, from
// which the migrations of both databases are tested.
package storetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
)

// V2 is the data directory made with the release of 2026-12-03 (main at
// 898cd13), the last that wrote no version key: its records database is
// at version 2, its clip database at version 1.
const V2 = "v2.tar.gz"

// Archive is the path of a fixture archive in store/testdata, from the
// tests of any package.
func Archive(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", name)
}

// Fixture is an extracted data directory and the IDs its archive lists.
type Fixture struct {
	// Dir holds the archive's files: data/ is the data directory.
	Dir string
	// Facts are the lines of facts.txt: a name, a space, a value.
	Facts map[string][]string
}

// Fact is the first value of a name in facts.txt.
func (f *Fixture) Fact(t testing.TB, name string) string {
	t.Helper()
	if len(f.Facts[name]) == 0 {
		t.Fatalf("the fixture lists no %s", name)
	}
	return f.Facts[name][0]
}

// RecordID parses s as a record ID.
func (f *Fixture) RecordID(t testing.TB, s string) record.ID {
	t.Helper()
	id, err := record.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Peer is the peer ID named name in facts.txt.
func (f *Fixture) Peer(t testing.TB, name string) peer.ID {
	t.Helper()
	id, err := peer.Decode(f.Fact(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Extract unpacks a fixture archive (a tar.gz of data/ and facts.txt, as
// store/testdata/mkdatadir.sh makes one) into a fresh directory.
func Extract(t testing.TB, archive string) *Fixture {
	t.Helper()
	raw, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	f := &Fixture{Dir: t.TempDir(), Facts: map[string][]string{}}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(f.Dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(path, f.Dir+string(filepath.Separator)) {
			t.Fatalf("%s: %q is outside the archive's directory", archive, h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o700); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	facts, err := os.ReadFile(filepath.Join(f.Dir, "facts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(facts)), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			f.Facts[k] = append(f.Facts[k], v)
		}
	}
	return f
}

// Version reads a database's schema version key ("v") as stored, for tests
// of either database (through their test-only Badger accessors).
func Version(t testing.TB, db *badger.DB) string {
	t.Helper()
	var v []byte
	err := db.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte{'v'})
		if err != nil {
			return err
		}
		v, err = it.ValueCopy(nil)
		return err
	})
	if err != nil {
		t.Fatalf("read the version key: %v", err)
	}
	return string(v)
}
