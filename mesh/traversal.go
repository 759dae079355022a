package mesh

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/autonat"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/protocol/autonatv2"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"
)

// Traversal settings (see hostOptions).
const (
	// relayBackoff is how long AutoRelay leaves an anchor alone after it
	// refused a reservation. libp2p's default (an hour) would strand a
	// home that asked a moment before its admission reached the anchor.
	relayBackoff = 15 * time.Second
	// relaySourceEvery is how often AutoRelay may ask for anchors again,
	// and how long each answer stays open for anchors added meanwhile: a
	// candidate that failed once (the anchor was busy, a dial raced) is
	// tried again this soon.
	relaySourceEvery = 5 * time.Second
	// relayCircuitsPerPeer bounds the circuits to or from one peer at an
	// anchor at once: a home behind a symmetric NAT is reached by relay
	// only, by every neighbor that talks to it.
	relayCircuitsPerPeer = 64
	// AutoNAT v1 service rate limits: requests answered per minute in all
	// and per peer (members only; see servedProtocols).
	natServiceGlobal  = 60
	natServicePerPeer = 4
	// anchorConns: an anchor keeps a connection to every member holding a
	// reservation (a connection trimmed is a reservation lost).
	anchorConns = MaxReservations + 128
)

// hostOptions are the libp2p options of the node's host: TCP and QUIC,
// the relay transport, AutoRelay with the anchors this node knows as its
// peer source, DCUtR hole punching, AutoNAT v2 (client and server) and
// v1 (client and service), a port mapping through the router unless
// Config.NoNATPortMap, and the relay service (started by libp2p once the
// node is found publicly reachable, or at once for Config.Anchor) with a
// members-only ACL. Every service a stranger could use is refused to
// strangers (relayACL, gatedResources).
func (m *Mesh) hostOptions(cm *connmgr.BasicConnMgr, rm network.ResourceManager) []libp2p.Option {
	cfg := m.cfg
	opts := []libp2p.Option{
		libp2p.Identity(cfg.Key),
		libp2p.ResourceManager(gatedResources{ResourceManager: rm, m: m}),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(gater{m}),
		// libp2p's own collectors are process globals; the mesh counts
		// what it needs per node, on Config.Registerer (metrics.go).
		libp2p.DisableMetrics(),
		libp2p.EnableRelay(),
		libp2p.EnableAutoRelayWithPeerSource(m.relayCandidates,
			autorelay.WithBackoff(relayBackoff),
			autorelay.WithMinInterval(relaySourceEvery),
			autorelay.WithMinCandidates(1),
			autorelay.WithBootDelay(0),
			autorelay.WithNumRelays(2),
			autorelay.WithMetricsTracer(m.reservations)),
		// DCUtR hole punching is the puncher's (punch.go): libp2p's
		// built-in wiring tries once and only if it already knew a
		// public address.
		libp2p.EnableAutoNATv2(),
		libp2p.EnableNATService(),
		libp2p.AutoNATServiceRateLimit(natServiceGlobal, natServicePerPeer, time.Minute),
		libp2p.EnableRelayService(
			relay.WithACL(relayACL{m}),
			relay.WithResources(anchorResources()),
			relay.WithMetricsTracer(m.relayTracer)),
	}
	if !cfg.NoNATPortMap && !loopbackOnly(cfg.ListenAddrs) {
		opts = append(opts, libp2p.NATPortMap())
	}
	if cfg.Anchor {
		opts = append(opts, libp2p.ForceReachabilityPublic())
	}
	return append(opts, cfg.HostOptions...)
}

// loopbackOnly reports whether every listen address is a loopback one
// (tests, a node behind a local proxy): no router maps a port to it.
func loopbackOnly(addrs []string) bool {
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil || !manet.IsIPLoopback(a) {
			return false
		}
	}
	return len(addrs) > 0
}

// anchorResources are the relay service's limits: sized for a street
// (see MaxReservations), with circuits long and large enough for sync
// and small clips.
func anchorResources() relay.Resources {
	rc := relay.DefaultResources()
	rc.MaxReservations = MaxReservations
	rc.MaxReservationsPerIP = MaxReservationsPerIP
	rc.MaxReservationsPerASN = MaxReservations
	rc.MaxCircuits = relayCircuitsPerPeer
	rc.Limit = &relay.RelayLimit{Duration: RelayCircuitDuration, Data: RelayCircuitData}
	return rc
}

// serveWait is how often serveStanding looks again while a peer's
// handshake is under way.
const serveWait = 50 * time.Millisecond

// serveStanding is p's standing for the services an anchor gives its
// neighborhood only (relay, AutoNAT): a neighbor's standing, or, under a
// Membership, the roster's. A peer that has just connected and not yet
// completed the handshake is waited for, at most until its handshake is
// due (HandshakeTimeout after it connected): a new member's node asks
// for a reservation as soon as it connects. Everyone else is a Stranger.
func (m *Mesh) serveStanding(p peer.ID) Standing {
	for {
		if m.refused.has(p, m.cfg.Now()) {
			return Stranger
		}
		if st := m.homeStanding(p); st != Stranger {
			return st
		}
		if m.cfg.Membership != nil {
			if st := m.cfg.Membership.Standing(p); st != Stranger {
				return st
			}
		}
		at, ok := m.pending.connectedAt(p)
		if !ok || m.cfg.Now().Sub(at) > m.cfg.HandshakeTimeout {
			return Stranger
		}
		t := time.NewTimer(serveWait)
		select {
		case <-m.ctx.Done():
			t.Stop()
			return Stranger
		case <-t.C:
		}
	}
}

// relayACL is the anchor's relay ACL: reservations and circuits for
// members and trusted agencies only.
type relayACL struct{ m *Mesh }

var _ relay.ACLFilter = relayACL{}

func (a relayACL) AllowReserve(p peer.ID, _ ma.Multiaddr) bool {
	return a.m.serveStanding(p) != Stranger
}

// AllowConnect: the source asks now (it is connected); the destination
// holds a reservation, so it was judged when it reserved, and is judged
// again in case the roster dropped it since.
func (a relayACL) AllowConnect(src peer.ID, _ ma.Multiaddr, dst peer.ID) bool {
	if a.m.serveStanding(src) == Stranger {
		return false
	}
	if st := a.m.homeStanding(dst); st != Stranger {
		return true
	}
	return a.m.cfg.Membership != nil && a.m.cfg.Membership.Standing(dst) != Stranger
}

// servedProtocols are the services of libp2p's that do work for the
// asker (dial it back): served to the neighborhood only. The relay's hop
// protocol is judged by relayACL, which answers with a status.
var servedProtocols = map[protocol.ID]bool{
	autonat.AutoNATProto:   true,
	autonatv2.DialProtocol: true,
}

// gatedResources is the resource manager with one more check: an inbound
// stream of a servedProtocols protocol from a stranger is refused when
// its protocol is set, which libp2p does after negotiation and before the
// handler runs. libp2p's AutoNAT services have no ACL of their own.
type gatedResources struct {
	network.ResourceManager
	m *Mesh
}

func (g gatedResources) OpenStream(p peer.ID, dir network.Direction) (network.StreamManagementScope, error) {
	s, err := g.ResourceManager.OpenStream(p, dir)
	if err != nil || dir != network.DirInbound {
		return s, err
	}
	return gatedStream{StreamManagementScope: s, p: p, m: g.m}, nil
}

type gatedStream struct {
	network.StreamManagementScope
	p peer.ID
	m *Mesh
}

// errNotServed refuses a stranger a members-only service.
var errNotServed = errorString("this service is for the neighborhood's members only")

type errorString string

func (e errorString) Error() string { return string(e) }

func (s gatedStream) SetProtocol(proto protocol.ID) error {
	if servedProtocols[proto] && s.m.serveStanding(s.p) == Stranger {
		s.m.metrics.notServed.WithLabelValues(string(proto)).Inc()
		return errNotServed
	}
	return s.StreamManagementScope.SetProtocol(proto)
}

// relayTracer counts what this node's relay service does
// (relay.MetricsTracer). It runs on the relay's goroutines.
type relayTracer struct {
	m       *metrics
	running atomic.Bool
}

var _ relay.MetricsTracer = (*relayTracer)(nil)

func statusLabel(s pbv2.Status) string { return strings.ToLower(s.String()) }

func (t *relayTracer) RelayStatus(enabled bool) {
	t.running.Store(enabled)
	if enabled {
		t.m.relayRunning.Set(1)
	} else {
		t.m.relayRunning.Set(0)
	}
}
func (t *relayTracer) ConnectionOpened()              { t.m.circuitsActive.Inc() }
func (t *relayTracer) ConnectionClosed(time.Duration) { t.m.circuitsActive.Dec() }
func (t *relayTracer) ConnectionRequestHandled(s pbv2.Status) {
	t.m.circuitsServed.WithLabelValues(statusLabel(s)).Inc()
}
func (t *relayTracer) ReservationAllowed(renewal bool) {
	if !renewal {
		t.m.reservationsServing.Inc()
	}
}
func (t *relayTracer) ReservationClosed(n int) { t.m.reservationsServing.Sub(float64(n)) }
func (t *relayTracer) ReservationRequestHandled(s pbv2.Status) {
	t.m.reservationsServed.WithLabelValues(statusLabel(s)).Inc()
}
func (t *relayTracer) BytesTransferred(n int) { t.m.relayedBytes.Add(float64(n)) }

// holePunchTracer counts DCUtR hole punches (holepunch.MetricsTracer).
type holePunchTracer struct{ m *metrics }

var _ holepunch.MetricsTracer = holePunchTracer{}

func (t holePunchTracer) HolePunchFinished(side string, _ int, _, _ []ma.Multiaddr, direct network.ConnMultiaddrs) {
	result := "failed"
	if direct != nil {
		result = "success"
	}
	t.m.holePunches.WithLabelValues(side, result).Inc()
}

func (t holePunchTracer) DirectDialFinished(success bool) {
	result := "failed"
	if success {
		result = "success"
	}
	t.m.holePunches.WithLabelValues("direct_dial", result).Inc()
}

// reservationTracer counts the relay reservations this node holds. Its
// interface has unexported argument types, so it wraps libp2p's own
// tracer (registered on a registry nobody reads) and overrides the
// reservation events.
type reservationTracer struct {
	autorelay.MetricsTracer
	held prometheus.Gauge
	// started is closed when AutoRelay first starts looking for relays.
	started   chan struct{}
	startOnce sync.Once
}

func newReservationTracer(m *metrics) *reservationTracer {
	return &reservationTracer{
		MetricsTracer: autorelay.NewMetricsTracer(autorelay.WithRegisterer(prometheus.NewRegistry())),
		held:          m.reservationsHeld,
		started:       make(chan struct{}),
	}
}

func (t *reservationTracer) RelayFinderStatus(active bool) {
	t.MetricsTracer.RelayFinderStatus(active)
	if active {
		t.startOnce.Do(func() { close(t.started) })
	}
}

func (t *reservationTracer) ReservationOpened(n int) { t.held.Add(float64(n)) }
func (t *reservationTracer) ReservationEnded(n int)  { t.held.Sub(float64(n)) }
func (t *reservationTracer) ReservationRequestFinished(refresh bool, err error) {
	if !refresh && err == nil {
		t.held.Inc()
	}
}
