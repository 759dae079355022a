package node_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/porchlight-mesh/porchlight/node"
	"github.com/porchlight-mesh/porchlight/store"
	"github.com/porchlight-mesh/porchlight/store/storetest"
)

// TestStartOnDecemberDataDir: a node starts on the data directory of the
// last release without schema versions (store/testdata/v2.tar.gz) and
// finds its identity, feed, agency request, clip and grants there.
func TestStartOnDecemberDataDir(t *testing.T) {
	f := storetest.Extract(t, storetest.Archive(storetest.V2))
	n, err := node.Start(node.Options{Dir: filepath.Join(f.Dir, "data"), API: "off", DisableMDNS: true,
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	self := f.Peer(t, "self")
	if n.ID() != self {
		t.Fatalf("node %s, want the data directory's %s", n.ID(), self)
	}
	feed, err := n.Store().Feed(10, store.Cursor{})
	if err != nil || len(feed) != 2 {
		t.Errorf("feed: %d posts, %v; want 2", len(feed), err)
	}
	reqs, err := n.Requests().List(self, 10)
	if err != nil || len(reqs) != 1 || reqs[0].ID != f.RecordID(t, f.Fact(t, "request")) {
		t.Errorf("requests of this agency: %v, %v; want the fixture's", reqs, err)
	}
	if ag, ok, err := n.Requests().Agency(self, time.Now()); !ok || err != nil || ag.CredentialStatus != "valid" {
		t.Errorf("agency: %+v, %v, %v", ag, ok, err)
	}
	if _, err := n.Clips().Manifest(f.RecordID(t, f.Fact(t, "clip"))); err != nil {
		t.Errorf("clip: %v", err)
	}
	grants := 0
	err = n.Store().View(func(txn *store.Txn) error {
		return txn.Scan(store.Grants, nil, store.ScanOptions{KeysOnly: true}, func(store.Item) error { grants++; return nil })
	})
	if err != nil || grants != 2 {
		t.Errorf("%d grants, %v; want the post's and the neighbor's", grants, err)
	}
}
