package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/porchlight-mesh/porchlight/store"
)

// TestCloseGivesUpOnRemovedDirectory: with its directory gone (a dead SD
// card or an unplugged disk), Badger's Close retries the memtable flush
// forever; Close must give up within its timeout so the node can exit.
func TestCloseGivesUpOnRemovedDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := store.Open(store.Config{Dir: dir, Neighborhood: hood, Logger: quiet, CloseTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a := newAuthor(t, 1)
	if _, err := db.Ingest(a.post("before the disk fails")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = db.Close()
	took := time.Since(start)
	t.Logf("FIGURE Close on a removed directory returned after %v: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, store.ErrCloseTimeout) || took > 5*time.Second {
		t.Errorf("Close on a removed directory: %v after %v, want ErrCloseTimeout within about 1 s", err, took)
	}
	if db.Close() == nil {
		t.Error("a second Close forgot the first one's error")
	}
	// Give the abandoned Close a directory to finish in, so that no
	// goroutine outlives the test.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for goleak.Find() != nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFailedDiskRefusesWrites: while Health reports a failure, Ingest and
// AppendOwn refuse with ErrStorage and reads go on; a removed directory
// stays a failure even once a directory of that name is back (the open
// files are gone with the old one).
func TestFailedDiskRefusesWrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	h, err := store.NewHealth(store.HealthConfig{Dirs: []string{dir}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Err(); err != nil {
		t.Fatalf("a new directory: %v", err)
	}
	db := openDB(t, store.Config{Dir: dir, Health: h})
	a := newAuthor(t, 1)
	first := a.post("before")
	if _, err := db.Ingest(first); err != nil {
		t.Fatal(err)
	}
	// Move the directory away (a rename keeps the files, so the deferred
	// Close can still finish) and put an empty one in its place.
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	h.Check()
	err = h.Err()
	if !errors.Is(err, store.ErrStorage) || !strings.Contains(err.Error(), "replaced") || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("after the directory was replaced: %v", err)
	}
	if _, err := db.Ingest(a.post("after")); !errors.Is(err, store.ErrStorage) {
		t.Errorf("Ingest on a failed disk: %v, want ErrStorage", err)
	}
	if _, err := db.AppendOwn(a.key, withText("mine")); !errors.Is(err, store.ErrStorage) {
		t.Errorf("AppendOwn on a failed disk: %v, want ErrStorage", err)
	}
	if _, err := db.Record(first.ID); err != nil {
		t.Errorf("a read on a failed disk: %v", err)
	}
	h.Check()
	if h.Err() == nil {
		t.Error("a replaced directory stopped counting as a failure")
	}
	// Put the real directory back for the deferred Close.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+".old", dir); err != nil {
		t.Fatal(err)
	}
}

// TestFullDiskRefusesWritesUntilSpaceReturns: below Reserve free bytes,
// writes are refused; they resume by themselves when space returns.
func TestFullDiskRefusesWritesUntilSpaceReturns(t *testing.T) {
	dir := t.TempDir()
	h, err := store.NewHealth(store.HealthConfig{Dirs: []string{dir}, Reserve: 1 << 62, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Err(); !errors.Is(err, store.ErrStorage) || !strings.Contains(err.Error(), "full") || !strings.Contains(err.Error(), "df -h") {
		t.Fatalf("less free space than the reserve: %v", err)
	}
	if h.Verify() == nil {
		t.Error("Verify ignores a full disk")
	}
}
