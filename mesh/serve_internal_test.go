package mesh

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"golang.org/x/time/rate"

	"github.com/porchlight-mesh/porchlight/store"
)

// TestMDNSFindsServedNeighborhood: an mDNS answer carrying a served
// neighborhood's tag is dialled, and the peer is met in that neighborhood
// (named so in the handshake); another neighborhood's answer is ignored.
func TestMDNSFindsServedNeighborhood(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(nb string, serve ...Served) *Mesh {
		db, err := store.Open(store.Config{Dir: t.TempDir(), Neighborhood: nb, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		m, err := New(Config{Key: key, Store: db, Name: nb, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet, Serve: serve})
		if err != nil {
			db.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(); db.Close() })
		return m
	}
	s := open("maple-st", Served{Neighborhood: "oak-st"})
	oak, elm := open("oak-st"), open("elm-st")
	d := &discovery{m: s, backoff: newDialBackoff(s.cfg.Now, mdnsBackoffMin, mdnsBackoffMax), limiter: rate.NewLimiter(mdnsDialsPerSecond, 2*maxMDNSDials),
		slots: make(chan struct{}, maxMDNSDials), served: map[int]bool{}}
	_, loop, _ := net.ParseCIDR("127.0.0.0/8")
	answer := func(m *Mesh, nb string) *mdns.ServiceEntry {
		return &mdns.ServiceEntry{InfoFields: []string{"pl=1", "id=" + m.ID().String(), "nt=" + DiscoveryTag(nb), "a=" + m.host.Addrs()[0].String()}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.found(ctx, answer(elm, "elm-st"), []*net.IPNet{loop})
	d.found(ctx, answer(oak, "oak-st"), []*net.IPNet{loop})
	d.dialing.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if h, ok := s.peers.hoodOf(oak.ID()); ok && h == "oak-st" && oak.peers.isCapped(s.ID()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the oak-st home found by mDNS was not met in oak-st")
		}
		time.Sleep(25 * time.Millisecond)
	}
	if s.host.Network().Connectedness(elm.ID()) == network.Connected || s.peers.has(elm.ID()) {
		t.Error("dialled a node of a neighborhood it does not serve")
	}
}
