package mesh

import (
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Path is how this node reaches a connected peer.
type Path string

const (
	// PathLAN: a direct connection to a private (RFC 1918, link-local,
	// ULA) or loopback address: the peer is on this home's network.
	PathLAN Path = "lan"
	// PathDirect: a direct connection to a public address (a port a router
	// mapped, a hole punched by DCUtR, a public IPv6 address).
	PathDirect Path = "direct"
	// PathRelayed: only a circuit through an anchor (/p2p-circuit). Gossip
	// does not use it; sync and small clips do, within the anchor's limits.
	PathRelayed Path = "relayed"
)

// Reachability of this node from the internet, as AutoNAT reports it.
const (
	ReachabilityPublic  = "public"
	ReachabilityPrivate = "private"
	ReachabilityUnknown = "unknown"
)

// NAT kinds, as observed from this node's public addresses.
const (
	// NATEndpointIndependent: the router keeps one public port per local
	// port, whoever the remote is; hole punching works.
	NATEndpointIndependent = "endpoint-independent"
	// NATEndpointDependent: a new public port per remote ("symmetric"
	// NAT); hole punching does not work, only relayed paths do.
	NATEndpointDependent = "endpoint-dependent"
	NATUnknown           = "unknown"
)

// Relay limits an anchor grants every member's circuit. A relayed
// connection is "limited": gossipsub does not use it, sync and clips open
// their streams on it explicitly.
const (
	// MaxReservations bounds the anchor's relay reservations in all.
	MaxReservations = 1024
	// MaxReservationsPerIP: neighbors behind one carrier-grade NAT share an
	// address.
	MaxReservationsPerIP = 128
	// RelayCircuitDuration is how long one relayed connection may last.
	RelayCircuitDuration = 30 * time.Minute
	// RelayCircuitData is how many bytes one relayed connection may carry
	// in each direction.
	RelayCircuitData = 16 << 20
)

// NetworkStatus is this node's view of how it is reached (status,
// doctor, the UI's Network panel).
type NetworkStatus struct {
	// Reachability is ReachabilityPublic, ReachabilityPrivate or
	// ReachabilityUnknown.
	Reachability string
	// NAT is NATEndpointIndependent, NATEndpointDependent or NATUnknown.
	NAT string
	// Anchor: this node serves its neighborhood as an anchor (relay,
	// AutoNAT, peer records), because Config.Anchor says so or because it
	// learned it is publicly reachable.
	Anchor bool
	// Listen are the addresses the host listens on.
	Listen []ma.Multiaddr
	// Observed are this node's public addresses as other nodes see them
	// (identify) or as a router mapped them (NAT-PMP/UPnP).
	Observed []ma.Multiaddr
	// Relay are this node's /p2p-circuit addresses through anchors where
	// it holds a reservation.
	Relay []ma.Multiaddr
	// Anchors are the anchors this node knows (configured, from invites
	// and the address book) and how they answer.
	Anchors []AnchorStatus
}

// AnchorStatus is one known anchor.
type AnchorStatus struct {
	ID    peer.ID
	Addrs []ma.Multiaddr
	// Configured: from Config.Anchors or AddAnchor (as opposed to learned
	// from the address book).
	Configured bool
	Connected  bool
	// Reservation: this node holds a relay reservation with it.
	Reservation bool
	// RTT is the latest round trip measured to it (0: none yet).
	RTT time.Duration
}

// Network returns this node's reachability, NAT kind, addresses and
// anchors.
func (m *Mesh) Network() NetworkStatus {
	t := m.traversal
	h := m.host
	st := NetworkStatus{Reachability: ReachabilityUnknown, NAT: NATUnknown, Anchor: m.IsAnchor()}
	t.mu.Lock()
	reach, natTCP, natUDP := t.reachability, t.natTCP, t.natUDP
	relayAddrs := slices.Clone(t.relayAddrs)
	observedNAT := t.observed.kind()
	observed := t.observed.addrs()
	t.mu.Unlock()

	// AutoNAT v2 confirms addresses one by one; v1 judges the node.
	reachable, unreachable := false, false
	if ch, ok := h.(interface {
		ConfirmedAddrs() (reachable, unreachable, unknown []ma.Multiaddr)
	}); ok {
		r, u, _ := ch.ConfirmedAddrs()
		reachable, unreachable = len(r) > 0, len(u) > 0
	}
	switch {
	case m.cfg.Anchor || reach == network.ReachabilityPublic || reachable:
		st.Reachability = ReachabilityPublic
	case reach == network.ReachabilityPrivate || unreachable:
		st.Reachability = ReachabilityPrivate
	}
	switch {
	case natTCP == network.NATDeviceTypeEndpointDependent || natUDP == network.NATDeviceTypeEndpointDependent:
		st.NAT = NATEndpointDependent
	case natTCP == network.NATDeviceTypeEndpointIndependent || natUDP == network.NATDeviceTypeEndpointIndependent:
		st.NAT = NATEndpointIndependent
	default:
		st.NAT = observedNAT
	}

	listen := h.Network().ListenAddresses()
	if ifaces, err := h.Network().InterfaceListenAddresses(); err == nil && len(ifaces) > 0 {
		listen = ifaces
	}
	for _, a := range listen {
		if !isCircuit(a) {
			st.Listen = append(st.Listen, a)
		}
	}
	all := h.Addrs()
	if ah, ok := h.(interface{ AllAddrs() []ma.Multiaddr }); ok {
		all = append(all, ah.AllAddrs()...)
	}
	var relay []ma.Multiaddr
	for _, a := range all {
		switch {
		case isCircuit(a):
			relay = append(relay, a)
		case manet.IsPublicAddr(a):
			st.Observed = appendNew(st.Observed, a)
		}
	}
	// libp2p advertises an address seen by one observer only once four
	// saw it; a street may have one anchor. Show what the others see.
	for _, a := range observed {
		st.Observed = appendNew(st.Observed, a)
	}
	relay = append(relay, relayAddrs...)
	self := ma.StringCast("/p2p/" + m.self.String())
	for _, a := range relay {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
			if _, last := ma.SplitLast(a); last == nil || last.Protocol().Code != ma.P_P2P || last.Value() != m.self.String() {
				a = a.Encapsulate(self)
			}
		}
		st.Relay = appendNew(st.Relay, a)
	}
	reserved := map[peer.ID]bool{}
	for _, a := range st.Relay {
		if r, ok := relayOf(a); ok {
			reserved[r] = true
		}
	}
	status := func(ai peer.AddrInfo, configured bool) AnchorStatus {
		return AnchorStatus{
			ID: ai.ID, Addrs: ai.Addrs, Configured: configured,
			Connected:   h.Network().Connectedness(ai.ID) == network.Connected,
			Reservation: reserved[ai.ID] || m.holdsReservation(ai.ID),
			RTT:         h.Peerstore().LatencyEWMA(ai.ID),
		}
	}
	for _, ai := range t.configuredAnchors() {
		if ai.ID != m.self {
			st.Anchors = append(st.Anchors, status(ai, true))
		}
	}
	for _, ai := range m.learnedAnchors() {
		st.Anchors = append(st.Anchors, status(ai, false))
	}
	return st
}

// IsAnchor reports whether this node serves as an anchor now: configured
// as one, or its relay service runs (libp2p starts it once AutoNAT finds
// the node publicly reachable).
func (m *Mesh) IsAnchor() bool {
	return m.cfg.Anchor || m.relayTracer.running.Load()
}

// holdsReservation reports whether this node holds a relay reservation
// with the anchor p: AutoRelay protects the connection of every relay it
// holds one with.
func (m *Mesh) holdsReservation(p peer.ID) bool {
	return m.host.Network().Connectedness(p) == network.Connected && m.host.ConnManager().IsProtected(p, autorelayTag)
}

// autorelayTag is the tag AutoRelay protects its relays' connections with.
const autorelayTag = "autorelay"

// relayOf returns the relay's peer ID of a circuit address.
func relayOf(a ma.Multiaddr) (peer.ID, bool) {
	var relay peer.ID
	found := false
	ma.ForEach(a, func(c ma.Component) bool {
		switch c.Protocol().Code {
		case ma.P_P2P:
			if id, err := peer.Decode(c.Value()); err == nil {
				relay = id
			}
		case ma.P_CIRCUIT:
			found = relay != ""
			return false
		}
		return true
	})
	return relay, found
}

func appendNew(list []ma.Multiaddr, a ma.Multiaddr) []ma.Multiaddr {
	if slices.ContainsFunc(list, a.Equal) {
		return list
	}
	return append(list, a)
}

// AddAnchor makes addr (a multiaddr ending in /p2p/ID) a known anchor:
// dialled, kept connected and used for relay reservations. The node
// persists it (config anchors); the mesh only uses it until Close.
func (m *Mesh) AddAnchor(addr string) error {
	ais, err := parsePeers([]string{addr})
	if err != nil {
		return fmt.Errorf("anchor: %w", err)
	}
	ai := ais[0]
	if ai.ID == m.self {
		return nil
	}
	m.traversal.add(ai)
	m.traversal.remember(ai)
	select {
	case m.traversal.kick <- struct{}{}:
	default:
	}
	return nil
}

// PathTo is how p is connected now: its best live connection's path, or ""
// when not connected.
func (m *Mesh) PathTo(p peer.ID) Path {
	best := Path("")
	rank := map[Path]int{"": 0, PathRelayed: 1, PathDirect: 2, PathLAN: 3}
	for _, c := range m.host.Network().ConnsToPeer(p) {
		if path := connPath(c); rank[path] > rank[best] {
			best = path
		}
	}
	return best
}

// connPath is the path of one connection.
func connPath(c network.Conn) Path {
	a := c.RemoteMultiaddr()
	switch {
	case c.Stat().Limited || isCircuit(a):
		return PathRelayed
	case manet.IsPublicAddr(a):
		return PathDirect
	}
	return PathLAN
}

// InviteAddrs are the addresses an invite should carry so that a new home
// reaches this neighborhood from anywhere: this node's public and relay
// addresses and the anchors it knows, public ones first, then its LAN
// addresses, at most n.
func (m *Mesh) InviteAddrs(n int) []ma.Multiaddr {
	st := m.Network()
	self := ma.StringCast("/p2p/" + m.self.String())
	var out []ma.Multiaddr
	// Public addresses libp2p advertises (confirmed, mapped by the
	// router, or seen by enough peers), not every address one anchor saw:
	// behind NAT that one is no way in.
	for _, a := range publicDirect(m.host.Addrs()) {
		out = appendNew(out, a.Encapsulate(self))
	}
	for _, a := range st.Relay {
		out = appendNew(out, a)
	}
	for _, an := range st.Anchors {
		full, _ := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: an.ID, Addrs: publicFirst(an.Addrs)})
		for _, a := range full {
			out = appendNew(out, a)
		}
	}
	for _, a := range m.Addrs() {
		if !isCircuit(a) {
			out = appendNew(out, a)
		}
	}
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// publicFirst orders addrs public ones first, keeping their order
// otherwise.
func publicFirst(addrs []ma.Multiaddr) []ma.Multiaddr {
	out := slices.Clone(addrs)
	slices.SortStableFunc(out, func(a, b ma.Multiaddr) int {
		pa, pb := manet.IsPublicAddr(a), manet.IsPublicAddr(b)
		switch {
		case pa && !pb:
			return -1
		case pb && !pa:
			return 1
		}
		return 0
	})
	return out
}
