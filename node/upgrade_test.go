package node_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/porchlight-mesh/porchlight/api"
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

// TestOpenNeighborhoodAdoptsACharter: the December data directory (an
// open neighborhood, schema of the last release) adopts a charter and
// keeps its identity, ID and posts; its open neighbor is refused until it
// joins with an invite, keeping its own data too.
func TestOpenNeighborhoodAdoptsACharter(t *testing.T) {
	f := storetest.Extract(t, storetest.Archive(storetest.V2))
	dir := filepath.Join(f.Dir, "data")
	opts := func(d string, peers ...string) node.Options {
		return node.Options{Dir: d, API: "127.0.0.1:0", DisableMDNS: true, Peers: peers,
			Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet}
	}
	// An open neighbor (trusting the issuer the fixture's home does: its
	// log holds a request of that issuer's agency) syncs the founder's
	// posts first.
	nd := filepath.Join(t.TempDir(), "data")
	if err := node.Init(nd, node.Config{Name: "14 Maple St", Neighborhood: "maple-st", Location: "40.7128,-74.0060",
		API: "127.0.0.1:0", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, TrustedIssuers: []string{f.Peer(t, "issuer").String()}}); err != nil {
		t.Fatal(err)
	}
	home, err := node.Start(opts(dir))
	if err != nil {
		t.Fatal(err)
	}
	nb, err := node.Start(opts(nd, home.Mesh().Addrs()[0].String()))
	if err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 10*time.Second, "the neighbor has the founder's 2 posts", func() bool { return len(feedTexts(t, nd)) == 2 })
	nb.Close()
	home.Close()

	cfg, err := node.AdoptCharter(dir, "Maple St", "any")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Neighborhood != "maple-st" || cfg.Charter == "" {
		t.Fatalf("adopted config: %+v", cfg)
	}
	if _, err := node.AdoptCharter(dir, "Maple St", "any"); err == nil {
		t.Error("a second charter was adopted")
	}
	home, err = node.Start(opts(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	st, err := apiClient(t, dir).Status(context.Background())
	if err != nil || st.Policy != "invite" || !st.Steward || st.Neighborhood != "maple-st" || st.Charter != cfg.Charter {
		t.Fatalf("status after adopting: %+v, %v", st, err)
	}
	if got := feedTexts(t, dir); len(got) != 2 {
		t.Errorf("the founder's feed after adopting: %v", got)
	}

	// The open neighbor is not let in any more.
	nb, err = node.Start(opts(nd, home.Mesh().Addrs()[0].String()))
	if err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 5*time.Second, "the founder refuses the open neighbor", func() bool {
		return !home.Mesh().IsNeighbor(nb.ID()) && home.Mesh().Host().Network().Connectedness(nb.ID()) != network.Connected
	})
	nb.Close()

	// It joins with an invite on its own data directory.
	inv := invite(t, dir, 1)
	res, err := node.Join(context.Background(), nd, node.Config{}, inv)
	if err != nil || !res.Adopted || !res.Admitted || res.By != home.ID() {
		t.Fatalf("join on the open neighbor's data directory: %+v, %v", res, err)
	}
	nb, err = node.Start(opts(nd, home.Mesh().Addrs()[0].String()))
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	pollUntil(t, 10*time.Second, "neighbors again", func() bool { return home.Mesh().IsNeighbor(nb.ID()) && nb.Mesh().IsNeighbor(home.ID()) })
	if got := feedTexts(t, nd); len(got) != 2 {
		t.Errorf("the neighbor's feed after joining: %v", got)
	}
	if _, err := apiClient(t, dir).Post(context.Background(), api.NewPostJSON{Text: "welcome to the charter"}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 10*time.Second, "the new post reaches the neighbor", func() bool { return feedTexts(t, nd)["welcome to the charter"] })
	if m := roster(t, nd); len(m) != 2 {
		t.Errorf("roster: %+v", m)
	}
}
