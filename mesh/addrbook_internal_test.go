package mesh

import (
	"crypto/rand"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/store"
)

// TestAddressBookIsBounded: a full book takes no record a neighbor sends,
// and makes room for a connected neighbor by dropping the least recently
// seen entry; after a restart it holds the same entries.
func TestAddressBookIsBounded(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	open := func() (*Mesh, *store.DB) {
		db, err := store.Open(store.Config{Dir: dir, Neighborhood: "maple-st", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(Config{Key: key, Store: db, Name: "bounded", ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet, NoPeerExchange: true})
		if err != nil {
			t.Fatal(err)
		}
		return m, db
	}
	m, db := open()
	ids := map[int]peer.ID{}
	fake := func(i int) peer.ID {
		if _, ok := ids[i]; !ok {
			k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
			ids[i], _ = peer.IDFromPrivateKey(k)
		}
		return ids[i]
	}
	t0 := time.Now().Add(-time.Hour)
	for i := range MaxAddrBookEntries {
		if ok, err := m.abook.put(fake(i), []byte("x"), 1, t0.Add(time.Duration(i)*time.Second), true); !ok || err != nil {
			t.Fatalf("put %d: %v %v", i, ok, err)
		}
	}
	if ok, _ := m.abook.put(fake(-1), []byte("x"), 1, time.Now(), false); ok {
		t.Error("a full book took a record a neighbor sent")
	}
	if ok, err := m.abook.put(fake(-2), []byte("x"), 1, time.Now(), true); !ok || err != nil {
		t.Fatalf("a full book refused a connected neighbor: %v", err)
	}
	m.Close()
	db.Close()

	m, db = open()
	defer db.Close()
	defer m.Close()
	m.abook.mu.Lock()
	n := len(m.abook.meta)
	_, oldest := m.abook.meta[fake(0)]
	_, newest := m.abook.meta[fake(-2)]
	m.abook.mu.Unlock()
	if n != MaxAddrBookEntries || oldest || !newest {
		t.Errorf("after a restart: %d entries (want %d), least recently seen kept %v, connected neighbor kept %v", n, MaxAddrBookEntries, oldest, newest)
	}
}
