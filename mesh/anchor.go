package mesh

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Traversal timings.
const (
	anchorDialEvery = 5 * time.Second  // configured anchors not connected are dialled
	pingEvery       = 30 * time.Second // neighbors' and anchors' round trips
	pingTimeout     = 5 * time.Second
	pingsAtOnce     = 8
	// pushDelay debounces the sync pushed to neighbors reached only by
	// relay after this node stores a record: gossipsub does not use
	// relayed connections.
	pushDelay = time.Second
	// anchorTag protects connections to anchors from the connection
	// manager's trimming.
	anchorTag = "porchlight-anchor"
	// maxLearnedAnchors bounds the anchors learned from the address book
	// and connected neighbors that NetworkStatus lists.
	maxLearnedAnchors = 16
	// bookScanEvery: how often the address book is read for anchors.
	bookScanEvery = 30 * time.Second
)

// traversal keeps what the mesh knows of anchors and of this node's
// reachability, and runs the loops that use it: anchors kept connected,
// RTTs measured, records pushed over relayed connections.
type traversal struct {
	m *Mesh

	mu           sync.Mutex
	configured   map[peer.ID][]ma.Multiaddr // Config.Anchors and AddAnchor
	order        []peer.ID                  // configured, in the order given
	reachability network.Reachability       // AutoNAT v1's verdict
	natTCP       network.NATDeviceType      // from libp2p's observed-address manager
	natUDP       network.NATDeviceType
	relayAddrs   []ma.Multiaddr // this node's circuit addresses (AutoRelay)
	observed     natObservations
	bookCache    []peer.AddrInfo // bookAnchors' last scan
	bookScanned  time.Time

	kick  chan struct{} // dial configured anchors now
	push  chan struct{} // a record was stored
	added chan struct{} // closed (and replaced) when an anchor is added

	events event.Subscription
}

func newTraversal(m *Mesh, anchors []peer.AddrInfo) *traversal {
	t := &traversal{
		m:          m,
		configured: map[peer.ID][]ma.Multiaddr{},
		kick:       make(chan struct{}, 1),
		push:       make(chan struct{}, 1),
		added:      make(chan struct{}),
		observed:   natObservations{byLocal: map[string]map[string]string{}},
	}
	for _, ai := range anchors {
		t.add(ai)
	}
	return t
}

// add makes ai a configured anchor; it reports whether it is new.
func (t *traversal) add(ai peer.AddrInfo) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, had := t.configured[ai.ID]
	for _, a := range ai.Addrs {
		if !slices.ContainsFunc(old, a.Equal) {
			old = append(old, a)
		}
	}
	t.configured[ai.ID] = old
	if !had {
		t.order = append(t.order, ai.ID)
		close(t.added)
		t.added = make(chan struct{})
	}
	return !had
}

// addedChan is closed when the next anchor is added.
func (t *traversal) addedChan() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.added
}

func (t *traversal) configuredAnchors() []peer.AddrInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]peer.AddrInfo, 0, len(t.order))
	for _, p := range t.order {
		out = append(out, peer.AddrInfo{ID: p, Addrs: slices.Clone(t.configured[p])})
	}
	return out
}

func (t *traversal) isConfigured(p peer.ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.configured[p]
	return ok
}

// start subscribes to the host's events and starts the loops (owned by
// the mesh: goLoop).
func (t *traversal) start() error {
	m := t.m
	sub, err := m.host.EventBus().Subscribe([]any{
		new(event.EvtLocalReachabilityChanged),
		new(event.EvtNATDeviceTypeChanged),
		new(event.EvtAutoRelayAddrsUpdated),
		new(event.EvtPeerIdentificationCompleted),
	}, eventbus.BufSize(64), eventbus.Name("porchlight traversal"))
	if err != nil {
		return fmt.Errorf("traversal: subscribe to host events: %w", err)
	}
	t.events = sub
	if !m.cfg.Anchor {
		// AutoRelay starts looking for anchors on a reachability event,
		// and AutoNAT sends the first only once it has probed this
		// node's public addresses, which a home behind NAT learns only
		// from the anchors it connects to, tens of seconds later. Until
		// then the node is of unknown reachability: say so, so that a
		// new home takes a reservation as soon as it reaches an anchor.
		em, err := m.host.EventBus().Emitter(new(event.EvtLocalReachabilityChanged), eventbus.Stateful)
		if err != nil {
			sub.Close()
			return fmt.Errorf("traversal: reachability emitter: %w", err)
		}
		err = em.Emit(event.EvtLocalReachabilityChanged{Reachability: network.ReachabilityUnknown})
		em.Close()
		if err != nil {
			sub.Close()
			return fmt.Errorf("traversal: %w", err)
		}
		// AutoRelay's Close races a start it has not yet made (it would
		// then leak its finder): wait for the start.
		select {
		case <-m.reservations.started:
		case <-time.After(5 * time.Second):
			m.cfg.Logger.Warn("AutoRelay did not start looking for anchors")
		}
	}
	for _, ai := range t.configuredAnchors() {
		t.remember(ai)
	}
	m.goLoop(t.watch)
	m.goLoop(t.keepAnchors)
	m.goLoop(t.pingLoop)
	m.goLoop(t.pushLoop)
	return nil
}

// remember gives the host an anchor's addresses and protects its
// connection.
func (t *traversal) remember(ai peer.AddrInfo) {
	if ai.ID == t.m.self {
		return
	}
	t.m.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
	t.m.host.ConnManager().Protect(ai.ID, anchorTag)
}

// watch follows the host's reachability, NAT type, relay addresses and
// identify's observations of this node's address.
func (t *traversal) watch(ctx context.Context) error {
	defer t.events.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-t.events.Out():
			if !ok {
				return nil
			}
			t.handle(e)
		}
	}
}

func (t *traversal) handle(e any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev := e.(type) {
	case event.EvtLocalReachabilityChanged:
		t.reachability = ev.Reachability
	case event.EvtNATDeviceTypeChanged:
		if ev.TransportProtocol == network.NATTransportUDP {
			t.natUDP = ev.NatDeviceType
		} else {
			t.natTCP = ev.NatDeviceType
		}
	case event.EvtAutoRelayAddrsUpdated:
		t.relayAddrs = slices.Clone(ev.RelayAddrs)
	case event.EvtPeerIdentificationCompleted:
		if ev.Conn != nil && ev.ObservedAddr != nil && !isCircuit(ev.Conn.RemoteMultiaddr()) {
			t.observed.add(ev.Conn.LocalMultiaddr(), ev.Conn.RemoteMultiaddr(), ev.ObservedAddr)
		}
	}
}

// keepAnchors dials configured anchors that are not connected directly,
// at start, every anchorDialEvery and when one is added.
func (t *traversal) keepAnchors(ctx context.Context) error {
	tick := time.NewTicker(anchorDialEvery)
	defer tick.Stop()
	for {
		var wg sync.WaitGroup
		for _, ai := range t.configuredAnchors() {
			if ai.ID == t.m.self || t.m.host.Network().Connectedness(ai.ID) == network.Connected {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				dctx, cancel := context.WithTimeout(ctx, peersTimeout)
				defer cancel()
				if err := t.m.host.Connect(dctx, ai); err != nil {
					t.m.cfg.Logger.Debug("anchor unreachable", "anchor", ai.ID, "err", err)
				}
			}()
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-t.kick:
		}
	}
}

// pingLoop measures the round trip to every neighbor and connected anchor
// every pingEvery (relayed connections included); the host keeps them
// (Peerstore().LatencyEWMA).
func (t *traversal) pingLoop(ctx context.Context) error {
	timer := time.NewTimer(2 * time.Second)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		targets := map[peer.ID]bool{}
		for p := range t.m.peers.list() {
			targets[p] = true
		}
		for _, ai := range t.configuredAnchors() {
			targets[ai.ID] = true
		}
		sem := make(chan struct{}, pingsAtOnce)
		var wg sync.WaitGroup
		for p := range targets {
			if p == t.m.self || !t.m.connected(p) {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				pctx, cancel := context.WithTimeout(network.WithNoDial(ctx, "ping"), pingTimeout)
				defer cancel()
				select {
				case r := <-ping.Ping(pctx, t.m.host, p):
					if r.Error != nil {
						t.m.cfg.Logger.Debug("ping", "peer", p, "err", r.Error)
					}
				case <-pctx.Done():
				}
			}()
		}
		wg.Wait()
		timer.Reset(pingEvery)
	}
}

// storedRecord is called whenever this node stores a new record; it
// never blocks.
func (m *Mesh) storedRecord() {
	if m.traversal == nil {
		return
	}
	select {
	case m.traversal.push <- struct{}{}:
	default:
	}
}

// pushLoop syncs with the neighbors reached only by relay shortly after
// this node stored new records: gossip does not reach them. The round asks
// the neighbor to pull in turn (mutual), which brings it the records.
func (t *traversal) pushLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.push:
		}
		timer := time.NewTimer(pushDelay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		for p := range t.m.peers.list() {
			if t.m.host.Network().Connectedness(p) == network.Limited {
				t.m.syncer.schedule(p, true)
			}
		}
	}
}

// relayCandidates is AutoRelay's peer source: the configured anchors,
// then anchors learned from connected neighbors and the address book;
// AutoRelay itself checks that a candidate runs a relay. The channel stays
// open for relaySourceEvery and takes anchors added meanwhile, so that
// AddAnchor is acted on at once (AutoRelay asks again only after it
// closed, at most every relaySourceEvery).
func (m *Mesh) relayCandidates(ctx context.Context, num int) <-chan peer.AddrInfo {
	ch := make(chan peer.AddrInfo, max(num, 0))
	sent := map[peer.ID]bool{m.self: true}
	send := func() {
		for _, ai := range append(m.traversal.configuredAnchors(), m.learnedAnchors()...) {
			if len(sent) > num {
				return
			}
			if !sent[ai.ID] {
				sent[ai.ID] = true
				ch <- ai
			}
		}
	}
	send()
	added := m.traversal.addedChan()
	if len(sent) > num || m.ctx.Err() != nil {
		close(ch)
		return ch
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(ch)
		window := time.NewTimer(relaySourceEvery)
		defer window.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-m.ctx.Done():
				return
			case <-window.C:
				return
			case <-added:
				added = m.traversal.addedChan()
				send()
				if len(sent) > num {
					return
				}
			}
		}
	}()
	return ch
}

// learnedAnchors are anchors this node was not told about: connected
// neighbors that run the relay service, then members of the address book
// with public addresses of their own, at most maxLearnedAnchors.
func (m *Mesh) learnedAnchors() []peer.AddrInfo {
	var out []peer.AddrInfo
	seen := map[peer.ID]bool{m.self: true}
	for p, st := range m.peers.standings() {
		if st == Stranger || !m.runsRelay(p) || m.traversal.isConfigured(p) {
			continue
		}
		seen[p] = true
		out = append(out, peer.AddrInfo{ID: p, Addrs: publicDirect(m.host.Peerstore().Addrs(p))})
	}
	for _, ai := range m.traversal.bookAnchors(m) {
		if len(out) >= maxLearnedAnchors {
			break
		}
		if seen[ai.ID] || m.traversal.isConfigured(ai.ID) || m.standing(ai.ID) == Stranger {
			continue
		}
		seen[ai.ID] = true
		out = append(out, ai)
	}
	if len(out) > maxLearnedAnchors {
		out = out[:maxLearnedAnchors]
	}
	return out
}

// bookAnchors are the members of the address book with public addresses
// of their own, most recently seen first, at most maxLearnedAnchors; the
// book (up to MaxAddrBookEntries records on disk) is read again at most
// every bookScanEvery.
func (t *traversal) bookAnchors(m *Mesh) []peer.AddrInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m.abook == nil || !t.bookScanned.IsZero() && time.Since(t.bookScanned) < bookScanEvery {
		return t.bookCache
	}
	t.bookScanned = time.Now()
	t.bookCache = nil
	for _, e := range m.AddressBook() {
		if len(t.bookCache) >= maxLearnedAnchors {
			break
		}
		if pub := publicDirect(e.Addrs); len(pub) > 0 && e.ID != m.self {
			t.bookCache = append(t.bookCache, peer.AddrInfo{ID: e.ID, Addrs: pub})
		}
	}
	return t.bookCache
}

// runsRelay reports whether p told this node (identify) that it serves
// relay reservations: it is an anchor.
func (m *Mesh) runsRelay(p peer.ID) bool {
	protos, err := m.host.Peerstore().SupportsProtocols(p, proto.ProtoIDv2Hop)
	return err == nil && len(protos) > 0
}

// relayedConns counts this node's connections through a relay.
func (m *Mesh) relayedConns() float64 {
	n := 0
	for _, c := range m.host.Network().Conns() {
		if c.Stat().Limited || isCircuit(c.RemoteMultiaddr()) {
			n++
		}
	}
	return float64(n)
}

func isCircuit(a ma.Multiaddr) bool {
	if a == nil {
		return false
	}
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// publicDirect are the addresses of addrs that are public and not
// through a relay.
func publicDirect(addrs []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		if !isCircuit(a) && manet.IsPublicAddr(a) {
			out = append(out, a)
		}
	}
	return out
}

// natObservations are the public addresses other nodes saw this node's
// connections come from (identify's observed address), per local address
// and observer. Two observers at different public addresses that saw one
// local address under different public ports mean a NAT that maps per
// destination (endpoint-dependent); under the same port, one that does
// not.
type natObservations struct {
	// byLocal: local address (transport and port) → observer's IP → the
	// observed public address.
	byLocal map[string]map[string]string
}

// maxObservations bounds the observations kept per local address, and
// local addresses.
const maxObservations = 16

func (o *natObservations) add(local, remote, observed ma.Multiaddr) {
	if local == nil || remote == nil || !manet.IsPublicAddr(observed) || !manet.IsPublicAddr(remote) {
		return
	}
	ip, err := manet.ToIP(remote)
	if err != nil {
		return
	}
	l := local.String()
	obs := o.byLocal[l]
	if obs == nil {
		if len(o.byLocal) >= maxObservations {
			return
		}
		obs = map[string]string{}
		o.byLocal[l] = obs
	}
	if _, ok := obs[ip.String()]; !ok && len(obs) >= maxObservations {
		return
	}
	obs[ip.String()] = observed.String()
}

// addrs are the distinct public addresses observed.
func (o *natObservations) addrs() []ma.Multiaddr {
	var out []ma.Multiaddr
	seen := map[string]bool{}
	for _, obs := range o.byLocal {
		for _, a := range obs {
			if !seen[a] {
				seen[a] = true
				if m, err := ma.NewMultiaddr(a); err == nil {
					out = append(out, m)
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b ma.Multiaddr) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// kind judges the observations: NATEndpointDependent as soon as one local
// address was seen under two public addresses, NATEndpointIndependent if
// one was seen under the same one by two observers, else NATUnknown.
func (o *natObservations) kind() string {
	independent := false
	for _, obs := range o.byLocal {
		distinct := map[string]bool{}
		for _, a := range obs {
			distinct[a] = true
		}
		switch {
		case len(distinct) > 1:
			return NATEndpointDependent
		case len(obs) > 1:
			independent = true
		}
	}
	if independent {
		return NATEndpointIndependent
	}
	return NATUnknown
}
