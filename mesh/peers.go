package mesh

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// peerSet tracks connected peers that proved they are of this neighborhood
// by completing the handshake: a sync round naming this neighborhood.
type peerSet struct {
	mu       sync.Mutex
	since    map[peer.ID]time.Time
	stand    map[peer.ID]Standing
	hood     map[peer.ID]string // the served neighborhood a neighbor was met in (absent: our own)
	capped   map[peer.ID]bool   // a neighbor of our own that serves it for requests only
	onChange func()
}

func newPeerSet(onChange func()) *peerSet {
	return &peerSet{since: map[peer.ID]time.Time{}, stand: map[peer.ID]Standing{},
		hood: map[peer.ID]string{}, capped: map[peer.ID]bool{}, onChange: onChange}
}

// hoodOf is the neighborhood of neighbor p; ok is false for a peer that is
// none.
func (s *peerSet) hoodOf(p peer.ID) (hood string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.since[p]; !ok {
		return "", false
	}
	return s.hood[p], true
}

// hoods maps every neighbor to its neighborhood ("" this node's own).
func (s *peerSet) hoods() map[peer.ID]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[peer.ID]string, len(s.since))
	for p := range s.since {
		out[p] = s.hood[p]
	}
	return out
}

// capStanding makes neighbor p an Agency at most, for as long as it is
// connected.
func (s *peerSet) capStanding(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.since[p]; ok {
		s.capped[p] = true
	}
}

// restricted lists the neighbors met in a served neighborhood or capped.
func (s *peerSet) restricted() []peer.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []peer.ID
	for p := range s.since {
		if s.hood[p] != "" || s.capped[p] {
			out = append(out, p)
		}
	}
	return out
}

func (s *peerSet) isCapped(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.capped[p]
}

func (s *peerSet) add(p peer.ID, now time.Time, st Standing, hood string) {
	s.mu.Lock()
	_, had := s.since[p]
	if !had {
		s.since[p] = now
	}
	s.stand[p] = st
	if hood == "" {
		delete(s.hood, p)
	} else {
		s.hood[p] = hood
	}
	s.mu.Unlock()
	if !had && s.onChange != nil {
		s.onChange()
	}
}

func (s *peerSet) remove(p peer.ID) {
	s.mu.Lock()
	_, had := s.since[p]
	delete(s.since, p)
	delete(s.stand, p)
	delete(s.hood, p)
	delete(s.capped, p)
	s.mu.Unlock()
	if had && s.onChange != nil {
		s.onChange()
	}
}

func (s *peerSet) has(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.since[p]
	return ok
}

// standing is a neighbor's standing (Stranger for a peer that is none).
func (s *peerSet) standing(p peer.ID) Standing {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.standingOf(p)
}

func (s *peerSet) standingOf(p peer.ID) Standing {
	if _, ok := s.since[p]; !ok {
		return Stranger
	}
	if st := s.stand[p]; st == Member && (s.capped[p] || s.hood[p] != "") {
		return Agency
	}
	return s.stand[p]
}

func (s *peerSet) setStanding(p peer.ID, st Standing) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.since[p]; ok {
		s.stand[p] = st
	}
}

func (s *peerSet) standings() map[peer.ID]Standing {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[peer.ID]Standing, len(s.stand))
	for p, st := range s.stand {
		out[p] = st
	}
	return out
}

func (s *peerSet) list() map[peer.ID]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[peer.ID]time.Time, len(s.since))
	for p, t := range s.since {
		out[p] = t
	}
	return out
}

// Peer is a connected neighbor.
type Peer struct {
	ID      peer.ID
	Name    string   // from its signed profile; "" until synced
	Addrs   []string // of the live connections
	Since   time.Time
	Flagged bool // equivocated
	// Score is gossipsub's score of the peer as of the last second (0 until
	// scored). Below GraylistThreshold the peer is disconnected.
	Score float64
	// Standing is Member, or Agency for a trusted agency that is not a
	// member (it gets requests only).
	Standing Standing
	// Path is how it is reached now (PathLAN, PathDirect, PathRelayed).
	Path Path
	// RTT is the latest round trip measured to it (0: none yet).
	RTT time.Duration
}

// Peers returns the connected peers of this neighborhood, sorted by ID.
func (m *Mesh) Peers() []Peer {
	var out []Peer
	for id, since := range m.peers.list() {
		if !m.connected(id) {
			continue
		}
		p := Peer{ID: id, Since: since, Standing: m.peers.standing(id)}
		p.Name, _ = m.cfg.Store.Name(id)
		if h, err := m.cfg.Store.Head(id); err == nil {
			p.Flagged = h.Flagged
		}
		p.Score, _ = m.PeerScore(id)
		for _, c := range m.host.Network().ConnsToPeer(id) {
			p.Addrs = append(p.Addrs, c.RemoteMultiaddr().String())
		}
		p.Path = m.PathTo(id)
		p.RTT = m.host.Peerstore().LatencyEWMA(id)
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// IsNeighbor reports whether p is connected and has completed the
// neighborhood handshake (a sync round naming this neighborhood, in either
// direction). Only neighbors exchange gossip with this node; other
// packages use it to serve their protocols to neighbors only. A neighbor
// reached only through an anchor's relay is one too (PathTo says so).
func (m *Mesh) IsNeighbor(p peer.ID) bool {
	return m.peers.has(p) && m.connected(p)
}

// connected reports whether this node has a connection to p, direct or
// relayed (libp2p calls a peer reached only by relay "limited").
func (m *Mesh) connected(p peer.ID) bool {
	switch m.host.Network().Connectedness(p) {
	case network.Connected, network.Limited:
		return true
	}
	return false
}

// completeHandshake records that p named this neighborhood in a sync round
// and proved its standing (a member or a trusted agency). From then on
// gossip flows to and from it (see notNeighborScore): all of it for a
// member, the requests topic only for an agency.
func (m *Mesh) completeHandshake(p peer.ID, st Standing) { m.completeHandshakeIn(p, st, "") }

// completeHandshakeIn is completeHandshake in neighborhood hood ("" this
// node's own, else a served one, where p is an Agency: see restricted).
func (m *Mesh) completeHandshakeIn(p peer.ID, st Standing, hood string) {
	if st == Stranger || m.refused.has(p, m.cfg.Now()) {
		return // shunned (graylisted) and not yet disconnected
	}
	if hood != "" {
		st = Agency
	}
	m.peers.add(p, m.cfg.Now(), st, hood)
	m.pending.remove(p)
	if st == Member && m.abook != nil {
		m.abook.poke(p)
	}
}

// Admission timings.
const (
	// DefaultHandshakeTimeout is how long a connected peer may take to
	// complete the handshake before it is disconnected (Config.HandshakeTimeout).
	DefaultHandshakeTimeout = 5 * time.Second
	// handshakeRetry: a peer still not a neighbor after this long is pulled
	// from again (the first round may have lost a race with the connection).
	handshakeRetry = 2 * time.Second
	// Back-offs: how long a disconnected peer is refused (connection gater,
	// both directions).
	noHandshakeBackoff   = 30 * time.Second
	otherNeighborhoodFor = 10 * time.Minute
	notMemberFor         = 5 * time.Second  // short: an agency that just got its credential, or a home that just joined, retries soon
	graylistBackoff      = 10 * time.Minute // as long as gossipsub retains the score
	guardEvery           = 500 * time.Millisecond
	// maxRefused bounds the refusal map; beyond it refusals are not
	// remembered (the peer is still disconnected).
	maxRefused = 4096
)

// Reasons a peer is disconnected, as metric labels.
const (
	shunNoHandshake       = "no_handshake"
	shunOtherNeighborhood = "other_neighborhood"
	shunGraylisted        = "graylisted"
	shunNotMember         = "not_member"
	shunFlooding          = "flooding"
)

// refusals remembers peers refused until a time; the connection gater
// consults it on every dial and accepted connection.
type refusals struct {
	mu    sync.Mutex
	until map[peer.ID]time.Time
}

// refuse refuses p until now+d. It reports whether p was not refused
// already, so that each refusal is logged once.
func (r *refusals) refuse(p peer.ID, now time.Time, d time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.until == nil {
		r.until = map[peer.ID]time.Time{}
	}
	if u, ok := r.until[p]; ok && now.Before(u) {
		if now.Add(d).After(u) {
			r.until[p] = now.Add(d)
		}
		return false
	}
	if len(r.until) >= maxRefused {
		for q, u := range r.until {
			if !now.Before(u) {
				delete(r.until, q)
			}
		}
		if len(r.until) >= maxRefused {
			return true
		}
	}
	r.until[p] = now.Add(d)
	return true
}

func (r *refusals) has(p peer.ID, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, ok := r.until[p]
	if ok && !now.Before(u) {
		delete(r.until, p)
		return false
	}
	return ok
}

// pendingSet remembers when each connected non-neighbor connected.
type pendingSet struct {
	mu    sync.Mutex
	since map[peer.ID]time.Time
	tried map[peer.ID]bool // pulled from again after handshakeRetry
}

// initLocked makes the maps; s.mu is held.
func (s *pendingSet) initLocked() {
	if s.since == nil {
		s.since, s.tried = map[peer.ID]time.Time{}, map[peer.ID]bool{}
	}
}

func (s *pendingSet) add(p peer.ID, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if _, ok := s.since[p]; !ok {
		s.since[p] = now
	}
}

func (s *pendingSet) remove(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.since, p)
	delete(s.tried, p)
}

// connectedAt returns when p connected, if it is a connected peer that
// has not completed the handshake.
func (s *pendingSet) connectedAt(p peer.ID) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.since[p]
	return at, ok
}

// connectedFor returns how long ago p connected, and whether it is due a
// retry pull (true once).
func (s *pendingSet) connectedFor(p peer.ID, now time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	at, ok := s.since[p]
	if !ok {
		s.since[p] = now // connected before we noticed
		return 0, false
	}
	d := now.Sub(at)
	retry := d > handshakeRetry && !s.tried[p]
	if retry {
		s.tried[p] = true
	}
	return d, retry
}

// shun disconnects p and refuses it for d; the first refusal is logged.
func (m *Mesh) shun(p peer.ID, reason string, d time.Duration, detail any) {
	m.refusePeer(p, reason, d, detail)
	_ = m.host.Network().ClosePeer(p)
}

// refusePeer refuses p for d and drops it from the neighbors; guard closes its
// connections within guardEvery (time for a refusal we answered to reach it).
func (m *Mesh) refusePeer(p peer.ID, reason string, d time.Duration, detail any) {
	if m.refused.refuse(p, m.cfg.Now(), d) {
		m.cfg.Logger.Info("disconnecting peer and refusing it for a while", "peer", p, "reason", reason, "for", d, "detail", detail)
		m.metrics.shunned.WithLabelValues(reason).Inc()
	}
	m.peers.remove(p)
	m.pending.remove(p)
}

// guard enforces admission every guardEvery: a peer that has not completed
// the handshake within HandshakeTimeout, a neighbor gossipsub graylisted,
// and a refused peer still connected (a refusal we answered) are
// disconnected and refused for a while.
func (m *Mesh) guard(ctx context.Context) error {
	t := time.NewTicker(guardEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := m.cfg.Now()
		for _, p := range m.host.Network().Peers() {
			switch {
			case m.refused.has(p, now):
				m.peers.remove(p)
				_ = m.host.Network().ClosePeer(p)
			case m.peers.has(p):
				if s, ok := m.behaviourScore(p); ok && s < GraylistThreshold {
					m.shun(p, shunGraylisted, graylistBackoff, s)
				}
			default:
				d, retry := m.pending.connectedFor(p, now)
				if d > m.cfg.HandshakeTimeout {
					m.shun(p, shunNoHandshake, noHandshakeBackoff, d.Round(time.Millisecond).String())
				} else if retry {
					m.syncer.schedule(p, true)
				}
			}
		}
	}
}

// gater is the host's connection gater: refused peers can neither connect
// nor be dialled until their refusal ends.
type gater struct{ m *Mesh }

func (g gater) ok(p peer.ID) bool {
	if g.m == nil || g.m.cfg.Now == nil {
		return true
	}
	if g.m.refused.has(p, g.m.cfg.Now()) {
		g.m.metrics.gated.Inc()
		return false
	}
	return true
}

func (g gater) InterceptPeerDial(p peer.ID) bool                                { return g.ok(p) }
func (g gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool                    { return true }
func (g gater) InterceptAccept(network.ConnMultiaddrs) bool                     { return true }
func (g gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
func (g gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.ok(p)
}
