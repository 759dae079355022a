package mesh

import (
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// peerSet tracks connected peers that proved they are of this neighborhood
// by completing a sync round.
type peerSet struct {
	mu       sync.Mutex
	since    map[peer.ID]time.Time
	onChange func()
}

func newPeerSet(onChange func()) *peerSet {
	return &peerSet{since: map[peer.ID]time.Time{}, onChange: onChange}
}

func (s *peerSet) add(p peer.ID, now time.Time) {
	s.mu.Lock()
	_, had := s.since[p]
	if !had {
		s.since[p] = now
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
}

// Peers returns the connected peers of this neighborhood, sorted by ID.
func (m *Mesh) Peers() []Peer {
	var out []Peer
	for id, since := range m.peers.list() {
		if m.host.Network().Connectedness(id) != network.Connected {
			continue
		}
		p := Peer{ID: id, Since: since}
		p.Name, _ = m.cfg.Store.Name(id)
		if h, err := m.cfg.Store.Head(id); err == nil {
			p.Flagged = h.Flagged
		}
		for _, c := range m.host.Network().ConnsToPeer(id) {
			p.Addrs = append(p.Addrs, c.RemoteMultiaddr().String())
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
