package mesh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/record"
)

// Standing is what a peer is to this neighborhood, decided at the
// handshake from the proof it sent (see Membership).
type Standing int

const (
	// Stranger: neither a member nor a trusted agency. It is refused at the
	// handshake and disconnected.
	Stranger Standing = iota
	// Member: a member of the neighborhood (every peer naming the
	// neighborhood, under the open policy). It gets everything.
	Member
	// Agency: not a member, but an agency certified by an issuer this node
	// trusts. It exchanges the requests topic, issuer documents and agency
	// logs only: never a feed record, a member's log or a membership
	// document.
	Agency
)

func (s Standing) String() string {
	switch s {
	case Member:
		return "member"
	case Agency:
		return "agency"
	}
	return "stranger"
}

// Membership decides who may be a neighbor (package member, wired by the
// node). Without one every peer naming the neighborhood is a member (the
// open policy).
type Membership interface {
	// Owns reports whether raw is a membership document (by payload type).
	Owns(raw []byte) bool
	// IngestDoc verifies and stores a membership document or a document of
	// a peer's proof; added is false for one already held. Errors are
	// *record.Invalid or wrap ErrHeld (its author is not yet known).
	IngestDoc(raw []byte) (added bool, err error)
	// DocIDs and DocsNotIn are the membership documents, synced with
	// members only.
	DocIDs() ([]record.ID, error)
	DocsNotIn(have map[record.ID]bool) ([][]byte, error)
	// Standing is what p is, from the documents held.
	Standing(p peer.ID) Standing
	// Proof is what this node sends in every handshake to show what it is:
	// the documents that make it a member (or a trusted agency).
	Proof() [][]byte
	// Join is called before the first handshake with a peer: a node that
	// is not yet a member and holds an invite claims it with p (a member)
	// and stores the admission. It returns nil when there is nothing to
	// claim; an error is logged and the handshake goes on.
	Join(ctx context.Context, p peer.ID) error
}

var errNoMembership = errors.New("mesh: this neighborhood has no membership (open policy)")

// Limits on a handshake proof.
const (
	MaxProofDocs  = 16
	MaxProofBytes = 64 << 10
)

// standing is p's standing: Member for every neighbor without a
// Membership.
func (m *Mesh) standing(p peer.ID) Standing {
	if m.cfg.Membership == nil {
		return Member
	}
	return m.cfg.Membership.Standing(p)
}

// proof is this node's handshake proof, cut to the limits.
func (m *Mesh) proof() [][]byte {
	if m.cfg.Membership == nil {
		return nil
	}
	var out [][]byte
	size := 0
	for _, d := range m.cfg.Membership.Proof() {
		if len(out) == MaxProofDocs || size+len(d) > MaxProofBytes {
			break
		}
		out = append(out, d)
		size += len(d)
	}
	return out
}

// ingestProof stores the documents of a peer's proof (bounded), then
// returns the peer's standing.
func (m *Mesh) ingestProof(p peer.ID, docs [][]byte) Standing {
	if m.cfg.Membership == nil {
		return Member
	}
	size := 0
	for i, raw := range docs {
		size += len(raw)
		if i == MaxProofDocs || size > MaxProofBytes {
			break
		}
		m.ingestDoc(raw, "handshake")
	}
	return m.standing(p)
}

// isMember reports whether p is a neighbor with member standing.
func (m *Mesh) isMember(p peer.ID) bool { return m.peers.standing(p) == Member }

// PublishMemberDoc stores a membership document (verified by the
// Membership) and gossips it to members on the feed topic.
func (m *Mesh) PublishMemberDoc(raw []byte) error {
	if m.cfg.Membership == nil {
		return errNoMembership
	}
	if _, err := m.cfg.Membership.IngestDoc(raw); err != nil {
		return err
	}
	m.relay(raw, m.feed)
	return nil
}

// RecheckPeers judges every neighbor again (after the roster changed): a
// peer that is no longer a member nor a trusted agency is disconnected and
// refused; one whose standing changed is told apart from then on.
func (m *Mesh) RecheckPeers() {
	hoods := m.peers.hoods()
	for p, st := range m.peers.standings() {
		if hoods[p] != "" {
			continue // met in a served neighborhood: not judged by our roster
		}
		now := m.standing(p)
		switch {
		case now == Stranger:
			m.shun(p, shunNotMember, notMemberFor, "no longer a member")
		case now != st:
			m.peers.setStanding(p, now)
		}
	}
}

// DiscoveryTag is what mDNS answers carry instead of the neighborhood:
// a hash of it, so a listener on the LAN learns neither its name nor its
// ID (a name guessed, as open neighborhoods' can be, still maps to it).
func DiscoveryTag(neighborhood string) string {
	h := sha256.Sum256([]byte("porchlight-mdns\x00" + neighborhood))
	return hex.EncodeToString(h[:10])
}

// agencyLog reports whether a's log is an agency's (the only logs an
// agency that is not a member is sent or asked about).
func (m *Mesh) agencyLog(a peer.ID) bool {
	return m.cfg.Rules != nil && !m.cfg.Rules.Purgeable(a)
}

// docIDs are the documents a peer of standing st and this node exchange:
// issuer documents, and membership documents with members only.
func (m *Mesh) docIDs(st Standing) ([]record.ID, error) {
	var ids []record.ID
	if r := m.cfg.Rules; r != nil {
		var err error
		if ids, err = r.DocIDs(); err != nil {
			return nil, err
		}
	}
	if ms := m.cfg.Membership; ms != nil && st == Member {
		more, err := ms.DocIDs()
		if err != nil {
			return nil, err
		}
		ids = append(ids, more...)
	}
	return ids, nil
}

// docsNotIn are the documents of docIDs(st) whose IDs are not in have.
func (m *Mesh) docsNotIn(have map[record.ID]bool, st Standing) ([][]byte, error) {
	var docs [][]byte
	if r := m.cfg.Rules; r != nil {
		var err error
		if docs, err = r.DocsNotIn(have); err != nil {
			return nil, err
		}
	}
	if ms := m.cfg.Membership; ms != nil && st == Member {
		more, err := ms.DocsNotIn(have)
		if err != nil {
			return nil, err
		}
		docs = append(docs, more...)
	}
	return docs, nil
}

// dialed reports whether this node holds a connection to p that it
// dialled itself.
func (m *Mesh) dialed(p peer.ID) bool {
	for _, c := range m.host.Network().ConnsToPeer(p) {
		if c.Stat().Direction == network.DirOutbound {
			return true
		}
	}
	return false
}
