package mesh_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/autonatv2"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/porchlight-mesh/porchlight/mesh"
)

// anchorTimeout is the anchors' handshake timeout in these tests: a
// stranger is refused the anchor's services once it is over.
const anchorTimeout = 2 * time.Second

// newAnchor starts a node configured as an anchor on the roster r, with
// its metrics on reg.
func newAnchor(t *testing.T, nb string, r *roster, reg *prometheus.Registry) *testNode {
	t.Helper()
	a := newTestNodeWith(t, "anchor", nb, func(c *mesh.Config) {
		c.Membership = r
		c.Anchor = true
		c.HandshakeTimeout = anchorTimeout
		c.Registerer = reg
	})
	eventually(t, 10*time.Second, "the anchor's relay service runs", func() bool {
		return a.m.IsAnchor() && runsRelay(a.m.Host())
	})
	return a
}

func runsRelay(h host.Host) bool {
	for _, p := range h.Mux().Protocols() {
		if p == proto.ProtoIDv2Hop {
			return true
		}
	}
	return false
}

// newPlainHost is a libp2p host with a fresh key that is no node of
// Porchlight: a stranger that found the anchor.
func newPlainHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// circuitTo is dst's address through the anchor's relay.
func circuitTo(t *testing.T, anchor *testNode, dst peer.ID) peer.AddrInfo {
	t.Helper()
	var addrs []ma.Multiaddr
	for _, a := range anchor.m.Host().Addrs() {
		addrs = append(addrs, a.Encapsulate(ma.StringCast("/p2p/"+anchor.m.ID().String()+"/p2p-circuit")))
	}
	return peer.AddrInfo{ID: dst, Addrs: addrs}
}

func reserve(h host.Host, anchor *testNode) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, anchor.info()); err != nil {
		return err
	}
	_, err := client.Reserve(ctx, h, anchor.info())
	return err
}

// TestAnchorRelaysForMembersOnly: an anchor grants relay reservations and
// circuits to members and to agencies the neighborhood trusts, and
// neither to a stranger (a fresh key that reached it), which is refused
// once its handshake is due.
func TestAnchorRelaysForMembersOnly(t *testing.T) {
	r := newRoster()
	reg := prometheus.NewRegistry()
	anchor := newAnchor(t, "maple-st", r, reg)
	r.set(anchor.m.ID(), mesh.Member)
	noBook := func(c *mesh.Config) { c.Membership = r; c.NoPeerExchange = true }
	home := newTestNodeWith(t, "home", "maple-st", noBook)
	other := newTestNodeWith(t, "other", "maple-st", noBook)
	agency := newTestNodeWith(t, "agency", "maple-st", noBook)
	r.set(home.m.ID(), mesh.Member)
	r.set(other.m.ID(), mesh.Member)
	r.set(agency.m.ID(), mesh.Agency)

	if err := reserve(home.m.Host(), anchor); err != nil {
		t.Fatalf("member's reservation refused: %v", err)
	}
	if err := reserve(agency.m.Host(), anchor); err != nil {
		t.Fatalf("agency's reservation refused: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := other.m.Connect(ctx, circuitTo(t, anchor, home.m.ID())); err != nil {
		t.Fatalf("member's circuit to a member refused: %v", err)
	}
	if got := other.m.PathTo(home.m.ID()); got != mesh.PathRelayed {
		t.Errorf("path over the circuit = %q, want relayed", got)
	}
	if err := agency.m.Connect(ctx, circuitTo(t, anchor, home.m.ID())); err != nil {
		t.Fatalf("agency's circuit to a member refused: %v", err)
	}

	// A stranger: no reservation, and no circuit to a member that holds one.
	start := time.Now()
	err := reserve(newPlainHost(t), anchor)
	if err == nil {
		t.Fatal("stranger got a reservation")
	}
	if d := time.Since(start); d > anchorTimeout+2*time.Second {
		t.Errorf("stranger refused after %v, want within the handshake timeout (%v)", d, anchorTimeout)
	}
	s := newPlainHost(t)
	if err := s.Connect(ctx, circuitTo(t, anchor, home.m.ID())); err == nil {
		t.Fatal("stranger got a circuit to a member")
	}
	if n, _ := gather(t, reg, "porchlight_relay_reservations_serving", nil); n != 2 {
		t.Errorf("anchor grants %v reservations, want 2 (member and agency)", n)
	}
	if n, _ := gather(t, reg, "porchlight_relay_reservations_served_total", map[string]string{"status": "permission_denied"}); n != 1 {
		t.Errorf("%v reservations refused, want 1", n)
	}
	if n, _ := gather(t, reg, "porchlight_relay_circuits_served_total", map[string]string{"status": "permission_denied"}); n != 1 {
		t.Errorf("%v circuits refused, want 1", n)
	}
}

// TestStrangerReservationSpamIsBounded: a stranger that asks for
// reservations over and over, from one key or from many, gets none, is
// disconnected once its handshake is due and then refused at the
// connection, so each key costs the anchor one handshake timeout of
// waiting streams (bounded by libp2p's relay stream limits).
func TestStrangerReservationSpamIsBounded(t *testing.T) {
	r := newRoster()
	reg := prometheus.NewRegistry()
	anchor := newAnchor(t, "maple-st", r, reg)
	r.set(anchor.m.ID(), mesh.Member)

	s := newPlainHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Connect(ctx, anchor.info()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := client.Reserve(ctx, s, anchor.info()); err == nil {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		}()
	}
	// And a dozen more strangers, one try each.
	for range 12 {
		h := newPlainHost(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if reserve(h, anchor) == nil {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if granted != 0 {
		t.Fatalf("strangers got %d reservations", granted)
	}
	eventually(t, anchorTimeout+3*time.Second, "the anchor disconnects the stranger", func() bool {
		return anchor.m.Host().Network().Connectedness(s.ID()) == network.NotConnected
	})
	start := time.Now()
	if _, err := client.Reserve(ctx, s, anchor.info()); err == nil {
		t.Fatal("refused stranger got a reservation")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refused stranger's next try took %v, want it refused at the connection", d)
	}
	if n, _ := gather(t, reg, "porchlight_relay_reservations_serving", nil); n != 0 {
		t.Errorf("anchor grants %v reservations, want 0", n)
	}
}

// TestAutoNATServedToMembersOnly: the anchor's AutoNAT v2 server resets a
// stranger's dial request before its handler runs, and serves a member.
func TestAutoNATServedToMembersOnly(t *testing.T) {
	r := newRoster()
	reg := prometheus.NewRegistry()
	anchor := newAnchor(t, "maple-st", r, reg)
	r.set(anchor.m.ID(), mesh.Member)
	home := newTestNodeWith(t, "home", "maple-st", withRoster(r))
	r.set(home.m.ID(), mesh.Member)

	ask := func(h host.Host) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Connect(ctx, anchor.info()); err != nil {
			return err
		}
		st, err := h.NewStream(ctx, anchor.m.ID(), autonatv2.DialProtocol)
		if err != nil {
			return err
		}
		defer st.Reset()
		_ = st.SetReadDeadline(time.Now().Add(anchorTimeout + time.Second))
		_, err = st.Read(make([]byte, 1))
		return err
	}
	err := ask(newPlainHost(t))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("stranger's AutoNAT request: %v, want the stream reset", err)
	}
	if n, _ := gather(t, reg, "porchlight_service_refused_total", map[string]string{"protocol": autonatv2.DialProtocol}); n != 1 {
		t.Errorf("refused AutoNAT streams = %v, want 1", n)
	}
	// The member's request is handed to the server, which waits for the
	// request we never send: our read times out, the stream is not reset.
	err = ask(home.m.Host())
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("member's AutoNAT request: %v, want it served (our read timing out)", err)
	}
	if n, _ := gather(t, reg, "porchlight_service_refused_total", map[string]string{"protocol": autonatv2.DialProtocol}); n != 1 {
		t.Errorf("refused AutoNAT streams = %v, want still 1", n)
	}
}
