package member

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
)

// TestJoinOverRelay: a member reached only through an anchor's relay (a
// limited connection, as a home behind a NAT that does not punch is) still
// admits a joiner: the invite carries only the member's relayed address.
func TestJoinOverRelay(t *testing.T) {
	w := newWorld(t, InviteByAny)
	clk := &clock{t: time.Now()}
	w.fixture.t = t
	a := w.started(t, w.a, clk)
	sv := serve(t, w.founder, w.started(t, w.founder, clk))

	anchor, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { anchor.Close() })
	svc, err := relay.New(anchor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	anchorInfo := peer.AddrInfo{ID: anchor.ID(), Addrs: anchor.Addrs()}
	if err := sv.h.Connect(ctx, anchorInfo); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, sv.h, anchorInfo); err != nil {
		t.Fatal(err)
	}
	circuit := anchor.Addrs()[0].Encapsulate(ma.StringCast("/p2p/" + anchor.ID().String() + "/p2p-circuit/p2p/" + sv.h.ID().String()))
	made, err := a.CreateInvite(time.Hour, 1, []ma.Multiaddr{circuit})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ParseInvite(made.String(), clk.Now())
	if err != nil {
		t.Fatal(err)
	}

	j := newHome(t)
	jh := newHost(t, j)
	ai, err := peer.AddrInfoFromP2pAddr(circuit)
	if err != nil {
		t.Fatal(err)
	}
	if err := jh.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	if jh.Network().Connectedness(sv.h.ID()) != network.Limited {
		t.Fatalf("the joiner's connection to the member is %v, want a relayed (limited) one", jh.Network().Connectedness(sv.h.ID()))
	}
	adm, proof, err := Join(ctx, jh, sv.h.ID(), inv, "14 Maple St", false)
	if err != nil {
		t.Fatalf("join through the anchor's relay: %v", err)
	}
	if !sv.s.IsMember(j.id) || len(adm) == 0 || len(proof) == 0 {
		t.Fatalf("not admitted: member %v, admission %d bytes, proof %d", sv.s.IsMember(j.id), len(adm), len(proof))
	}
}
