package mesh

import (
	"errors"
	"fmt"
	"sort"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
)

// Served is a neighborhood besides its own that a node serves for agency
// requests only (Config.Serve): an agency covering several neighborhoods,
// or a node bridging them. See docs/protocol.md, "Agencies across
// neighborhoods".
type Served struct {
	// Neighborhood is the served neighborhood's ID. Required.
	Neighborhood string
	// Peers are static peers there (multiaddrs with /p2p/ID), dialled at
	// start and whenever disconnected, and named that neighborhood in the
	// handshake.
	Peers []string
}

// MaxServe bounds Config.Serve.
const MaxServe = 16

// checkServe checks Config.Serve and parses its static peers, which it
// returns with the neighborhood each is in.
func checkServe(home string, serve []Served) ([]peer.AddrInfo, map[peer.ID]string, error) {
	if len(serve) > MaxServe {
		return nil, nil, fmt.Errorf("mesh: %d neighborhoods to serve, at most %d", len(serve), MaxServe)
	}
	seen := map[string]bool{home: true}
	var static []peer.AddrInfo
	hints := map[peer.ID]string{}
	for _, s := range serve {
		n := s.Neighborhood
		if n == "" || len(n) > record.MaxNeighborhoodLen {
			return nil, nil, fmt.Errorf("mesh: a served neighborhood's ID must be 1 to %d bytes", record.MaxNeighborhoodLen)
		}
		if seen[n] {
			return nil, nil, fmt.Errorf("mesh: neighborhood %q is listed twice (or is this node's own): serve each other neighborhood once", n)
		}
		seen[n] = true
		peers, err := parsePeers(s.Peers)
		if err != nil {
			return nil, nil, fmt.Errorf("serve %q: %w", n, err)
		}
		for _, ai := range peers {
			hints[ai.ID] = n
		}
		static = append(static, peers...)
	}
	return static, hints, nil
}

// serves reports whether this node serves neighborhood n besides its own.
func (m *Mesh) serves(n string) bool {
	for _, s := range m.cfg.Serve {
		if s.Neighborhood == n {
			return true
		}
	}
	return false
}

// hoodFor is the neighborhood this node names to p: the one p named in its
// handshake, or the one a static peer was configured in, or "" (this
// node's own). known is false for a peer of unknown neighborhood while this
// node serves others: it then waits for p's first request (see pull).
func (m *Mesh) hoodFor(p peer.ID) (hood string, known bool) {
	if h, ok := m.peers.hoodOf(p); ok {
		return h, true
	}
	m.hintsMu.Lock()
	h, ok := m.hints[p]
	m.hintsMu.Unlock()
	if ok {
		return h, true
	}
	return "", len(m.cfg.Serve) == 0
}

// maxHints bounds the hints learnt from mDNS answers.
const maxHints = 4096

// hint remembers that p (found by mDNS) is of served neighborhood hood.
func (m *Mesh) hint(p peer.ID, hood string) {
	m.hintsMu.Lock()
	defer m.hintsMu.Unlock()
	if _, ok := m.hints[p]; ok || len(m.hints) < maxHints {
		m.hints[p] = hood
	}
}

// tagHood is the neighborhood of ours an mDNS discovery tag names: "" for
// our own, the ID of a served one; ok is false for any other.
func (m *Mesh) tagHood(tag string) (hood string, ok bool) {
	if tag == DiscoveryTag(m.cfg.Store.Neighborhood()) {
		return "", true
	}
	for _, s := range m.cfg.Serve {
		if tag == DiscoveryTag(s.Neighborhood) {
			return s.Neighborhood, true
		}
	}
	return "", false
}

// name is the neighborhood ID of hood ("" is this node's own).
func (m *Mesh) name(hood string) string {
	if hood == "" {
		return m.cfg.Store.Neighborhood()
	}
	return hood
}

// proofFor is this node's handshake proof in neighborhood hood: in a
// served one, its agency credentials.
func (m *Mesh) proofFor(hood string) [][]byte {
	if hood == "" {
		return m.proof()
	}
	if m.cfg.Credentials == nil {
		return nil
	}
	var out [][]byte
	size := 0
	for _, d := range m.cfg.Credentials() {
		if len(out) == MaxProofDocs || size+len(d) > MaxProofBytes {
			break
		}
		out = append(out, d)
		size += len(d)
	}
	return out
}

// restricted reports whether p gets and may send agency logs and issuer
// documents only because of where it was met: a peer of a served
// neighborhood, or one that serves this node's neighborhood for requests
// only (SyncRequest.requests_only).
func (m *Mesh) restricted(p peer.ID) bool {
	h, _ := m.peers.hoodOf(p)
	return h != "" || m.peers.isCapped(p)
}

// homeStanding is p's standing in this node's own neighborhood: a peer
// met in a served one is a Stranger there (an anchor relays for its own
// neighborhood only).
func (m *Mesh) homeStanding(p peer.ID) Standing {
	if h, _ := m.peers.hoodOf(p); h != "" {
		return Stranger
	}
	return m.peers.standing(p)
}

// errNotAgencyLog refuses a record a restricted peer sent (see restricted)
// that is not of an agency's log.
var errNotAgencyLog = record.Invalidf(record.ReasonNeighborhood, "a peer met for agency requests only sent a record of a log that is not an agency's")

// fromRestricted reports whether a document or record that restricted peer
// p sent is one it may send; a refusal is counted.
func (m *Mesh) fromRestricted(p peer.ID, raw []byte, author peer.ID) bool {
	if !m.restricted(p) {
		return true
	}
	ok := author == "" && !(m.cfg.Membership != nil && m.cfg.Membership.Owns(raw)) || author != "" && m.agencyLog(author)
	if !ok {
		m.refuse(errNotAgencyLog, "sync", pubsub.ValidationReject)
	}
	return ok
}

// bridge asks every restricted neighbor (see restricted) to pull from this
// node (a mutual round): it stored a new record of an agency log or an
// issuer document, which gossip does not carry across neighborhoods
// (gossipsub knows a message by the hash of its data, whatever the topic,
// so one node cannot publish one record on two topics; and a served
// neighborhood's topics are not joined). A node serving other
// neighborhoods so passes agency news on to them, and a home passes its
// neighborhood's agency news on to the nodes that serve it.
func (m *Mesh) bridge() {
	for _, p := range m.peers.restricted() {
		m.syncer.schedule(p, true)
	}
}

// bridgeRecord calls bridge for a record of an agency's log.
func (m *Mesh) bridgeRecord(author peer.ID) {
	if ps := m.peers.restricted(); len(ps) > 0 && m.agencyLog(author) {
		for _, p := range ps {
			m.syncer.schedule(p, true)
		}
	}
}

// ServedNeighborhood is one neighborhood a node serves, with its connected
// neighbors there.
type ServedNeighborhood struct {
	// Neighborhood is the neighborhood's ID.
	Neighborhood string
	// Home is true for the node's own neighborhood (its feed, its
	// membership); false for one served for agency requests only.
	Home bool
	// Peers are the connected neighbors there, sorted.
	Peers []peer.ID
}

// Neighborhoods lists the node's own neighborhood, then those it serves
// for requests only (Config.Serve), in configuration order.
func (m *Mesh) Neighborhoods() []ServedNeighborhood {
	out := []ServedNeighborhood{{Neighborhood: m.cfg.Store.Neighborhood(), Home: true}}
	at := map[string]int{"": 0}
	for _, s := range m.cfg.Serve {
		at[s.Neighborhood] = len(out)
		out = append(out, ServedNeighborhood{Neighborhood: s.Neighborhood})
	}
	for p, h := range m.peers.hoods() {
		if i, ok := at[h]; ok && m.connected(p) {
			out[i].Peers = append(out[i].Peers, p)
		}
	}
	for i := range out {
		sort.Slice(out[i].Peers, func(a, b int) bool { return out[i].Peers[a] < out[i].Peers[b] })
	}
	return out
}

// errNoServe: the peer named a neighborhood this node neither is in nor
// serves.
var errNoServe = errors.New("mesh: neighborhood not served")

// matchHood is the neighborhood of ours a request names: "" for our own,
// the ID for one we serve, or errNoServe.
func (m *Mesh) matchHood(n string) (string, error) {
	switch {
	case n == m.cfg.Store.Neighborhood():
		return "", nil
	case m.serves(n):
		return n, nil
	}
	return "", errNoServe
}
