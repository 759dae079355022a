package store_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/geo"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
	"github.com/porchlight-mesh/porchlight/store/storetest"
)

// The data directory the migration tests start from (see
// testdata/mkdatadir.sh): the records database of the last release
// without a version key.
var fixtureV2 = storetest.Archive(storetest.V2)

func openFixture(t testing.TB, f *storetest.Fixture, trusted ...peer.ID) *store.DB {
	t.Helper()
	db, err := store.Open(store.Config{Dir: filepath.Join(f.Dir, "data", "db"), Neighborhood: "maple-st", Logger: quiet, TrustedIssuers: trusted})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// version reads the version key as stored.
func version(t testing.TB, db *store.DB) string {
	t.Helper()
	return storetest.Version(t, db.Badger())
}

func count(t testing.TB, db *store.DB, tb store.Table, prefix []byte) int {
	t.Helper()
	n := 0
	err := db.View(func(txn *store.Txn) error {
		return txn.Scan(tb, prefix, store.ScanOptions{KeysOnly: true}, func(store.Item) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkV2Data checks that the fixture's records are all there.
func checkV2Data(t *testing.T, f *storetest.Fixture, db *store.DB) {
	t.Helper()
	self := f.Peer(t, "self")
	for _, p := range append(f.Facts["post"], f.Fact(t, "request")) {
		if _, err := db.Record(f.RecordID(t, p)); err != nil {
			t.Errorf("record %.12s: %v", p, err)
		}
	}
	if h, err := db.Head(self); err != nil || h.Contig < 3 || h.Contig != h.Max {
		t.Errorf("own head %+v, %v; want the profile, request and two posts, without a gap", h, err)
	}
	if feed, err := db.Feed(10, store.Cursor{}); err != nil || len(feed) != 2 {
		t.Errorf("feed: %d posts, %v; want 2", len(feed), err)
	}
	// The issuer's credential of this home, and where it is indexed.
	if n := count(t, db, store.IssuerDocs, nil); n != 1 {
		t.Errorf("%d issuer documents, want the credential", n)
	}
	if n := count(t, db, store.AgencyCredentials, append([]byte{byte(len(self))}, self...)); n != 1 {
		t.Errorf("%d credentials of this agency, want 1", n)
	}
	// The post's grant to the neighborhood and the neighbor's, this
	// node's own, under owner and ID; the neighbor's still to deliver.
	if n := count(t, db, store.Grants, append([]byte{byte(len(self))}, self...)); n != 2 {
		t.Errorf("%d grants of this home under R L O G, want 2", n)
	}
	if n := count(t, db, store.Grants, nil); n != 2 {
		t.Errorf("%d grants in all, want 2", n)
	}
	if n := count(t, db, store.GrantOutbox, nil); n < 1 {
		t.Errorf("%d grants in the outbox, want the neighbor's at least", n)
	}
}

// TestOpenReleaseOfDecember: a data directory of the last release without
// a version key opens as version 2, is migrated to 3 (the feed index,
// TestMigrateFeedIndex), gets the key, and keeps its data.
func TestOpenReleaseOfDecember(t *testing.T) {
	f := storetest.Extract(t, fixtureV2)
	var log bytes.Buffer
	db, err := store.Open(store.Config{Dir: filepath.Join(f.Dir, "data", "db"), Neighborhood: "maple-st",
		Logger: slog.New(slog.NewTextHandler(&log, nil)), TrustedIssuers: []peer.ID{f.Peer(t, "issuer")}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v := version(t, db); v != "3" {
		t.Errorf("version %q after open, want 3", v)
	}
	if strings.Contains(log.String(), "from=1") || !strings.Contains(log.String(), "from=2 to=3") {
		t.Errorf("a version-2 database was not migrated from 2 to 3 alone:\n%s", log.String())
	}
	checkV2Data(t, f, db)
}

// makeV1 turns the version-2 data directory of f into what version 1
// (the layout before December 2026) held: grants keyed "R G" by ID alone,
// documents of untrusted issuers stored with their index entries, and no
// mark that they were removed. The untrusted credential's ID is returned.
// (No release that wrote version 1 is at hand to make a fixture with; the
// keys are those of clips/grants.go and requests/service.go at 1710ec3^.)
func makeV1(t *testing.T, f *storetest.Fixture) (untrusted record.ID, junkGrant []byte) {
	t.Helper()
	db := openFixture(t, f)
	if v := version(t, db); v != fmt.Sprint(store.Version) {
		t.Fatalf("the fixture opened at version %q", v)
	}
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	_, agency, _ := crypto.GenerateEd25519Key(rand.Reader)
	agencyID, _ := peer.IDFromPublicKey(agency)
	cred, err := requests.Certify(key, agencyID, "Self-made PD", requests.Area{Center: geo.Point{Lat: 40.7, Lon: -74}, Radius: 1000},
		time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	junkGrant = append([]byte{'R'}, bytes.Repeat([]byte{8}, 16)...)
	err = db.Badger().Update(func(txn *badger.Txn) error {
		var moves [][2][]byte
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{'R'}
		it := txn.NewIterator(opts)
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			moves = append(moves, [2][]byte{k, append([]byte{'R'}, k[len(k)-16:]...)})
		}
		it.Close()
		for _, m := range moves {
			it, err := txn.Get(m[0])
			if err != nil {
				return err
			}
			v, err := it.ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := txn.Delete(m[0]); err != nil {
				return err
			}
			if err := txn.Set(m[1], v); err != nil {
				return err
			}
		}
		set := map[string][]byte{
			string(junkGrant):                          []byte("not an envelope"),
			string(append([]byte{'D'}, cred.ID[:]...)): cred.Raw,
			string(append(append([]byte{'G', byte(len(agencyID))}, agencyID...), cred.ID[:]...)): nil,
			string(append([]byte{'W'}, cred.ID[:]...)):                                           {0, 0, 0, 0, 0, 0, 0, 9},
		}
		for k, v := range set {
			if err := txn.Set([]byte(k), v); err != nil {
				return err
			}
		}
		for _, k := range [][]byte{{'v'}, {'K', 1}} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return cred.ID, junkGrant
}

// TestMigrateV1: a database of the layout before December 2026 is
// migrated to version 2: its grants move to owner-and-ID keys (a junk
// entry is dropped), the untrusted issuer's documents and their index
// entries are removed, the trusted ones kept.
func TestMigrateV1(t *testing.T) {
	f := storetest.Extract(t, fixtureV2)
	untrusted, junk := makeV1(t, f)
	var log bytes.Buffer
	db, err := store.Open(store.Config{Dir: filepath.Join(f.Dir, "data", "db"), Neighborhood: "maple-st",
		Logger: slog.New(slog.NewTextHandler(&log, nil)), TrustedIssuers: []peer.ID{f.Peer(t, "issuer")}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !strings.Contains(log.String(), "from=1 to=2") {
		t.Errorf("no migration from 1 to 2 logged:\n%s", log.String())
	}
	if v := version(t, db); v != "3" {
		t.Errorf("version %q after the migration, want 3", v)
	}
	checkV2Data(t, f, db)
	err = db.Badger().View(func(txn *badger.Txn) error {
		for _, k := range [][]byte{junk, append([]byte{'D'}, untrusted[:]...), append([]byte{'W'}, untrusted[:]...)} {
			if _, err := txn.Get(k); !errors.Is(err, badger.ErrKeyNotFound) {
				t.Errorf("key %x is still there (%v)", k, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, store.AgencyCredentials, nil); n != 1 {
		t.Errorf("%d agency credential entries, want this home's only", n)
	}
}

// TestMigrationRunsOnce: a migrated database is not migrated again (a
// start that trusts nobody deletes no credential).
func TestMigrationRunsOnce(t *testing.T) {
	f := storetest.Extract(t, fixtureV2)
	makeV1(t, f)
	db := openFixture(t, f, f.Peer(t, "issuer"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openFixture(t, f)
	checkV2Data(t, f, db)
}

// TestNewerVersionRefused: a database that a newer release wrote is
// refused, with a message naming both versions, and left as it is.
func TestNewerVersionRefused(t *testing.T) {
	f := storetest.Extract(t, fixtureV2)
	db := openFixture(t, f)
	newer := fmt.Sprint(store.Version + 1)
	if err := db.Badger().Update(func(txn *badger.Txn) error { return txn.Set([]byte{'v'}, []byte(newer)) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := store.Open(store.Config{Dir: filepath.Join(f.Dir, "data", "db"), Neighborhood: "maple-st", Logger: quiet})
	if !errors.Is(err, store.ErrNewerSchema) {
		t.Fatalf("Open = %v, want ErrNewerSchema", err)
	}
	for _, want := range []string{"schema version " + newer, fmt.Sprintf("version %d at most", store.Version), "records database"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	bdb, err := badger.Open(badger.DefaultOptions(filepath.Join(f.Dir, "data", "db")).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte{'v'})
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if string(v) != newer {
				t.Errorf("version %q after the refusal, want %s", v, newer)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNewDatabaseGetsVersion: an empty database is not taken for an old
// one: it starts at Version, with no migration.
func TestNewDatabaseGetsVersion(t *testing.T) {
	var log bytes.Buffer
	db := openDB(t, store.Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if v := version(t, db); v != fmt.Sprint(store.Version) {
		t.Errorf("version %q of a new database, want %d", v, store.Version)
	}
	if strings.Contains(log.String(), "migrating") {
		t.Errorf("a new database was migrated:\n%s", log.String())
	}
}
