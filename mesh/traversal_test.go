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
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/autonat"
	"github.com/libp2p/go-libp2p/p2p/protocol/autonatv2"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
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
	// The member and the agency, and maybe the other member, whose
	// AutoRelay learned the anchor when it connected to it; never the
	// stranger.
	if n, _ := gather(t, reg, "porchlight_relay_reservations_serving", nil); n < 2 || n > 3 {
		t.Errorf("anchor grants %v reservations, want the member's and the agency's (and the other member's)", n)
	}
	// The relay counts a refusal after it answered it: wait for the count.
	for _, name := range []string{"porchlight_relay_reservations_served_total", "porchlight_relay_circuits_served_total"} {
		refused := func() float64 {
			n, _ := gather(t, reg, name, map[string]string{"status": "permission_denied"})
			return n
		}
		eventually(t, 5*time.Second, name+" counts the stranger's refusal", func() bool { return refused() >= 1 })
		if n := refused(); n != 1 {
			t.Errorf("%s{status=permission_denied} = %v, want 1", name, n)
		}
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

// TestAutoNATServedToMembersOnly: the anchor's AutoNAT servers (v2, and
// v1's service) reset a stranger's request before their handler runs,
// and serve a member.
func TestAutoNATServedToMembersOnly(t *testing.T) {
	r := newRoster()
	reg := prometheus.NewRegistry()
	anchor := newAnchor(t, "maple-st", r, reg)
	r.set(anchor.m.ID(), mesh.Member)
	home := newTestNodeWith(t, "home", "maple-st", withRoster(r))
	r.set(home.m.ID(), mesh.Member)

	ask := func(h host.Host, proto protocol.ID, wait time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Connect(ctx, anchor.info()); err != nil {
			return err
		}
		st, err := h.NewStream(ctx, anchor.m.ID(), proto)
		if err != nil {
			return err
		}
		defer st.Reset()
		_ = st.SetReadDeadline(time.Now().Add(wait))
		_, err = st.Read(make([]byte, 1))
		return err
	}
	for _, proto := range []protocol.ID{autonatv2.DialProtocol, autonat.AutoNATProto} {
		// A fresh stranger each time: the first is refused connections
		// once its handshake was due.
		err := ask(newPlainHost(t), proto, anchorTimeout+time.Second)
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("stranger's %s request: %v, want the stream reset", proto, err)
		}
		if n, _ := gather(t, reg, "porchlight_service_refused_total", map[string]string{"protocol": string(proto)}); n != 1 {
			t.Errorf("refused %s streams = %v, want 1", proto, n)
		}
		// The member's request is handed to the server, which waits for
		// the request we never send: our read times out, the stream is
		// not reset.
		err = ask(home.m.Host(), proto, time.Second)
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("member's %s request: %v, want it served (our read timing out)", proto, err)
		}
		if n, _ := gather(t, reg, "porchlight_service_refused_total", map[string]string{"protocol": string(proto)}); n != 1 {
			t.Errorf("refused %s streams = %v, want still 1", proto, n)
		}
	}
}

// TestMembersSyncOverAnAnchorsCircuit: two members connected only
// through an anchor's relay (gossipsub does not use relayed connections,
// and the anchor, an agency here, carries no feed itself) still get each
// other's new posts within seconds: sync runs over the circuit and is
// pushed after each new record. Each holds a reservation that AutoRelay
// took with its configured anchor.
func TestMembersSyncOverAnAnchorsCircuit(t *testing.T) {
	r := newRoster()
	reg := prometheus.NewRegistry()
	anchor := newAnchor(t, "maple-st", r, reg)
	r.set(anchor.m.ID(), mesh.Agency)
	anchorAddr := anchor.m.Addrs()[0].String()
	homeReg := map[string]*prometheus.Registry{"a": prometheus.NewRegistry(), "b": prometheus.NewRegistry()}
	home := func(name string) *testNode {
		n := newTestNodeWith(t, name, "maple-st", func(c *mesh.Config) {
			c.Membership = r
			c.NoPeerExchange = true // no direct dial from the address book
			c.Anchors = []string{anchorAddr}
			c.SyncInterval = time.Hour
			c.Registerer = homeReg[name]
		})
		r.set(n.m.ID(), mesh.Member)
		return n
	}
	a, b := home("a"), home("b")
	for _, n := range []*testNode{a, b} {
		eventually(t, 15*time.Second, n.name+" holds a reservation with its anchor", func() bool {
			st := n.m.Network()
			return len(st.Anchors) == 1 && st.Anchors[0].Configured && st.Anchors[0].Connected && st.Anchors[0].Reservation
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.m.Connect(ctx, circuitTo(t, anchor, b.m.ID())); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a and b are neighbors over the circuit", func() bool { return isNeighbors(a, b) })
	for _, c := range []struct{ from, to *testNode }{{a, b}, {b, a}} {
		if got := c.from.m.PathTo(c.to.m.ID()); got != mesh.PathRelayed {
			t.Errorf("%s's path to %s = %q, want relayed", c.from.name, c.to.name, got)
		}
	}
	for _, c := range []struct{ from, to *testNode }{{a, b}, {b, a}, {a, b}} {
		id := post(t, c.from, "hello from "+c.from.name)
		d := eventually(t, 10*time.Second, c.to.name+" gets "+c.from.name+"'s post over the circuit", func() bool { return has(c.to, id) })
		if d > 5*time.Second {
			t.Errorf("%s's post reached %s after %v, want within seconds", c.from.name, c.to.name, d)
		}
	}
	if has(anchor, mustLatest(t, a)) {
		t.Error("the anchor (an agency) holds a member's post")
	}
	var peer *mesh.Peer
	for _, p := range a.m.Peers() {
		if p.ID == b.m.ID() {
			peer = &p
		}
	}
	if peer == nil || peer.Path != mesh.PathRelayed {
		t.Fatalf("a's peer list has b as %+v, want path relayed", peer)
	}
	if n, _ := gather(t, reg, "porchlight_relay_bytes_total", nil); n == 0 {
		t.Error("anchor counted no relayed bytes")
	}
	if n, _ := gather(t, reg, "porchlight_relay_circuits_served_total", map[string]string{"status": "ok"}); n != 1 {
		t.Errorf("anchor served %v circuits, want 1", n)
	}
	for name, want := range map[string]float64{"porchlight_relay_reservations_held": 1, "porchlight_relayed_connections": 1} {
		if n, _ := gather(t, homeReg["a"], name, nil); n != want {
			t.Errorf("a's %s = %v, want %v", name, n, want)
		}
	}
}

// mustLatest is the ID of the newest record of n's own log.
func mustLatest(t *testing.T, n *testNode) record.ID {
	t.Helper()
	h, err := n.db.Head(n.m.ID())
	if err != nil {
		t.Fatal(err)
	}
	return h.ID
}

// TestPathAndRTTOnOneLAN: two homes connected over loopback see each
// other on path lan, with a round trip measured; the network status lists
// the listen addresses and no anchor.
func TestPathAndRTTOnOneLAN(t *testing.T) {
	a := newTestNode(t, "a", "maple-st")
	b := newTestNode(t, "b", "maple-st")
	connect(t, a, b)
	eventually(t, 10*time.Second, "neighbors", func() bool { return isNeighbors(a, b) })
	if got := a.m.PathTo(b.m.ID()); got != mesh.PathLAN {
		t.Errorf("path = %q, want lan", got)
	}
	eventually(t, 10*time.Second, "a measured its round trip to b", func() bool {
		ps := a.m.Peers()
		return len(ps) == 1 && ps[0].Path == mesh.PathLAN && ps[0].RTT > 0
	})
	st := a.m.Network()
	if st.Anchor || len(st.Anchors) != 0 || len(st.Listen) == 0 || st.Reachability == mesh.ReachabilityPublic {
		t.Errorf("network status %+v, want no anchor, listen addresses, not public", st)
	}
	if got := a.m.PathTo(a.m.ID()); got != "" {
		t.Errorf("path to an unconnected peer = %q, want none", got)
	}
	if addrs := a.m.InviteAddrs(8); len(addrs) == 0 || len(addrs) > 8 {
		t.Errorf("invite addresses %v", addrs)
	}
}

// TestHomesWithNewAddressesFindEachOtherThroughTheAnchor: two homes that
// knew each other both restart behind new addresses (a power cut); each
// reaches its anchor, whose address did not change, and the second one
// learns the first one's new address from the anchor's address book and
// connects to it, whatever its dial of the old address cost.
func TestHomesWithNewAddressesFindEachOtherThroughTheAnchor(t *testing.T) {
	r := newRoster()
	anchor := newAnchor(t, "maple-st", r, prometheus.NewRegistry())
	r.set(anchor.m.ID(), mesh.Member)
	anchorAddr := anchor.m.Addrs()[0].String()
	home := func(name string) *testNode {
		n := newTestNodeWith(t, name, "maple-st", func(c *mesh.Config) {
			c.Membership = r
			c.Anchors = []string{anchorAddr}
		})
		r.set(n.m.ID(), mesh.Member)
		return n
	}
	a, b := home("a"), home("b")
	connect(t, a, b)
	inBook := func(of, who *testNode) bool {
		for _, e := range of.m.AddressBook() {
			if e.ID == who.m.ID() {
				for _, addr := range e.Addrs {
					for _, now := range who.m.Host().Addrs() {
						if addr.Equal(now) {
							return true
						}
					}
				}
			}
		}
		return false
	}
	eventually(t, 15*time.Second, "a and b, and the anchor, know each other's addresses", func() bool {
		return inBook(a, b) && inBook(b, a) && inBook(anchor, a) && inBook(anchor, b)
	})
	a.stop()
	b.stop()
	a.start()
	eventually(t, 15*time.Second, "the anchor learns a's new address", func() bool { return inBook(anchor, a) })
	b.start()
	d := eventually(t, 20*time.Second, "b finds a again", func() bool {
		return b.m.Host().Network().Connectedness(a.m.ID()) == network.Connected
	})
	t.Logf("b found a after %v", d)
}

// TestAddAnchor: an anchor added at run time is dialled, holds this
// home's reservation and is listed, configured, in the network status
// and in the addresses an invite carries; a malformed one is refused
// with a message that says what is wanted.
func TestAddAnchor(t *testing.T) {
	r := newRoster()
	anchor := newAnchor(t, "maple-st", r, prometheus.NewRegistry())
	home := newTestNodeWith(t, "home", "maple-st", withRoster(r))
	r.set(anchor.m.ID(), mesh.Member)
	r.set(home.m.ID(), mesh.Member)
	if err := home.m.AddAnchor("/ip4/127.0.0.1/tcp/7781"); err == nil {
		t.Error("an anchor without /p2p/ID was taken")
	}
	addr := anchor.m.Addrs()[0]
	if err := home.m.AddAnchor(addr.String()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the home holds a reservation with the added anchor", func() bool {
		st := home.m.Network()
		return len(st.Anchors) == 1 && st.Anchors[0].ID == anchor.m.ID() && st.Anchors[0].Configured &&
			st.Anchors[0].Connected && st.Anchors[0].Reservation
	})
	eventually(t, 10*time.Second, "the anchor is a neighbor", func() bool { return isNeighbors(home, anchor) })
	found := false
	for _, a := range home.m.InviteAddrs(8) {
		found = found || a.Equal(addr)
	}
	if !found {
		t.Errorf("invite addresses %v lack the anchor's %s", home.m.InviteAddrs(8), addr)
	}
	if st := anchor.m.Network(); !st.Anchor || st.Reachability != mesh.ReachabilityPublic {
		t.Errorf("anchor's own status %+v, want anchor and public", st)
	}
}
