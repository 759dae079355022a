// Package apitest runs a real api.Server for tests of the API's clients
// (package client, the CLI, the web UI in Chromium): the real server,
// Badger in a temporary directory and a libp2p host on 127.0.0.1, with an
// in-memory Members that tests control (Neighborhood). Package node tests
// the real membership; this is for what users see of it.
package apitest

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/requests"
	"github.com/porchlight-mesh/porchlight/store"
)

// Files of the data directory Server.Dir that clients read: they must be
// client.AddrFile and client.TokenFile (package client's tests check).
const (
	AddrFile  = "api.addr"
	TokenFile = "api.token"
)

// Options configures Start. Zero values mean the default.
type Options struct {
	// Key is the node's identity. Default: a new one.
	Key crypto.PrivKey
	// Name of the home. Default "12 Maple St".
	Name string
	// Members is handed to the API as is (nil: an open neighborhood).
	// A *Members also fills the status's membership fields.
	Members api.Members
}

// Server is a running API with what a client needs to reach it.
type Server struct {
	*api.Server
	// Dir is a data directory holding api.addr and api.token, so that
	// client.FromDataDir(Dir) and `porchlight --data Dir` reach Server.
	Dir   string
	Token string
	Peer  peer.ID
	URL   string // http://127.0.0.1:PORT
	Mesh  *mesh.Mesh
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Start starts a server, stopped when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Key == nil {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		o.Key = k
	}
	if o.Name == "" {
		o.Name = "12 Maple St"
	}
	self, err := peer.IDFromPrivateKey(o.Key)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: "maple-st", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reqs, err := requests.New(requests.Config{Store: db, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mesh.New(mesh.Config{Key: o.Key, Store: db, Name: o.Name, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet, Rules: reqs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	fcfg := feed.Config{Log: m, Store: db}
	fm, _ := o.Members.(*Members)
	if fm != nil {
		fcfg.Removed = fm.removedAt
	}
	f, err := feed.New(fcfg)
	if err != nil {
		t.Fatal(err)
	}
	if fm != nil {
		fm.feed = f
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	token := hex.EncodeToString(tok)
	s := &Server{Dir: filepath.Join(t.TempDir(), "data"), Token: token, Peer: self, Mesh: m}
	status := func() api.Status {
		st := api.Status{PeerID: self.String(), Name: o.Name, Neighborhood: "maple-st", API: s.URL, Peers: len(m.Peers()),
			NeighborhoodName: "maple-st", Policy: "open", Membership: "open"}
		if fm, ok := o.Members.(*Members); ok {
			fm.fillStatus(&st)
		}
		return st
	}
	srv, err := api.Listen(api.Config{Addr: "127.0.0.1:0", Token: token, Mesh: m, Feed: f, Requests: reqs, Logger: quiet,
		Trust: func(peer.ID) error { return nil }, TrustedIssuers: func() []string { return nil },
		Events: &api.Hub{}, Members: o.Members, Status: status})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s.Server, s.URL = srv, "http://"+srv.Addr().String()
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{AddrFile: srv.Addr().String(), TokenFile: token} {
		if err := os.WriteFile(filepath.Join(s.Dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
