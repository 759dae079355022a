package mesh

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
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
	// Filled in by the traversal work (issue 14).
	return NetworkStatus{Reachability: ReachabilityUnknown, NAT: NATUnknown}
}

// AddAnchor makes addr (a multiaddr ending in /p2p/ID) a known anchor:
// dialled, kept connected and used for relay reservations. The node
// persists it (config anchors); the mesh only uses it until Close.
func (m *Mesh) AddAnchor(addr string) error {
	_, err := parsePeers([]string{addr})
	return err
}

// PathTo is how p is connected now: its best live connection's path, or ""
// when not connected.
func (m *Mesh) PathTo(p peer.ID) Path {
	return ""
}

// InviteAddrs are the addresses an invite should carry so that a new home
// reaches this neighborhood from anywhere: this node's public and relay
// addresses and the anchors it knows, public ones first, at most n.
func (m *Mesh) InviteAddrs(n int) []ma.Multiaddr {
	out := m.Addrs()
	if len(out) > n {
		out = out[:n]
	}
	return out
}
