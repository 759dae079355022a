package store_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/store"
)

// TestOpenAfterCrashLeftEmptyLogFiles: a process killed between creating a
// memtable's write-ahead log (or a value log) and sizing it leaves a 0-byte
// 0000N.mem (or .vlog). Badger v4.9 then refuses to open with "while
// opening memtables err: while opening fid: N err: Create a new file"
// (dgraph-io/badger#2207). The crash test found it after 626 SIGKILLs;
// Open must recover by itself, and lose nothing.
func TestOpenAfterCrashLeftEmptyLogFiles(t *testing.T) {
	for _, name := range []string{"00009.mem", "000009.vlog"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			key, _, _ := crypto.GenerateEd25519Key(nil)
			db, err := store.Open(store.Config{Dir: dir, Neighborhood: "maple-st"})
			if err != nil {
				t.Fatal(err)
			}
			s, err := db.AppendOwn(key, func(e *pb.Entry) { e.Body = &pb.Entry_Post{Post: &pb.Post{Kind: "general", Text: "before the crash"}} })
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err = store.Open(store.Config{Dir: dir, Neighborhood: "maple-st"})
			if err != nil {
				t.Fatalf("Open with an empty %s left by a crash: %v", name, err)
			}
			defer db.Close()
			if _, err := db.Record(s.ID); err != nil {
				t.Fatalf("record written before the crash: %v", err)
			}
		})
	}
}
