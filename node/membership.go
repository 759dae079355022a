package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/events"
	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/member"
	"github.com/porchlight-mesh/porchlight/mesh"
	"github.com/porchlight-mesh/porchlight/record"
	"github.com/porchlight-mesh/porchlight/record/pb"
	"github.com/porchlight-mesh/porchlight/requests"
)

// Files of membership in the data directory.
const (
	// CharterFile holds the neighborhood's signed charter, written by the
	// founder's init (or `neighborhood charter`); the node stores it at
	// start. It is public: every member holds it.
	CharterFile = "charter.doc"
	// InviteFile holds an invite not yet claimed (0600: it carries the
	// invite's secret); removed once this home is a member.
	InviteFile = "invite"
)

// Policies (api.Status.Policy).
const (
	PolicyInvite = "invite"
	PolicyOpen   = "open"
)

// membership wires package member into the node: the mesh's Membership,
// the author rules, and the API's Members.
type membership struct {
	n   *Node
	svc *member.Service

	mu      sync.Mutex
	pending *member.Invite // an invite to claim; nil once a member
	refusal string         // why the last claim was refused
}

// openMembership loads the membership of a chartered neighborhood; nil
// for an open one.
func (n *Node) openMembership() (*membership, error) {
	if n.Config.Charter == "" {
		return nil, nil
	}
	id, err := record.ParseID(n.Config.Charter)
	if err != nil {
		return nil, fmt.Errorf("config charter: %w", err)
	}
	ms := &membership{n: n}
	ms.svc, err = member.New(member.Config{
		Store: n.db, Charter: id, Key: n.key, Logger: n.log,
		OnChange: ms.changed,
	})
	if err != nil {
		return nil, err
	}
	if raw, err := ReadBounded(filepath.Join(n.dir, CharterFile), 64<<10); err == nil {
		if _, err := ms.svc.IngestDoc(raw); err != nil {
			return nil, fmt.Errorf("%s: %w", CharterFile, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	b, err := ReadBounded(filepath.Join(n.dir, InviteFile), member.MaxInviteString+1)
	switch {
	case err == nil:
		// An invite that expired meanwhile is reported by status; the
		// node still starts (a member may invite this home again).
		inv, err := member.ParseInvite(strings.TrimSpace(string(b)), time.Now())
		if err != nil {
			ms.refusal = err.Error()
			n.log.Warn("the invite this home keeps cannot be claimed", "err", err)
		} else {
			ms.pending = inv
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return ms, nil
}

// changed runs after the roster changed: neighbors are judged again (a
// removed member is disconnected) and the UI is told.
func (ms *membership) changed() {
	ms.mu.Lock()
	claimed := ms.pending != nil && ms.svc.IsMember(ms.n.id)
	ms.mu.Unlock()
	if claimed {
		// The admission arrived by sync (a member admitted the claim but
		// the answer was lost): the invite is spent.
		ms.forgetInvite()
	}
	if m := ms.n.mesh; m != nil {
		m.RecheckPeers()
	}
	ms.n.events.Publish(api.Event{Type: events.Members, Data: map[string]any{}})
}

// meshMembership is the mesh's view (mesh.Membership).
type meshMembership struct{ *membership }

func (m meshMembership) Owns(raw []byte) bool { return m.svc.Owns(raw) }

func (m meshMembership) IngestDoc(raw []byte) (bool, error) {
	added, err := m.svc.IngestDoc(raw)
	if errors.Is(err, member.ErrUnknown) {
		return false, fmt.Errorf("%w: %v", mesh.ErrHeld, err)
	}
	return added, err
}

func (m meshMembership) DocIDs() ([]record.ID, error) { return m.svc.DocIDs() }

func (m meshMembership) DocsNotIn(have map[record.ID]bool) ([][]byte, error) {
	return m.svc.DocsNotIn(have)
}

func (m meshMembership) Standing(p peer.ID) mesh.Standing {
	if m.svc.IsMember(p) {
		return mesh.Member
	}
	if _, ok := m.n.reqs.Certified(p, time.Now()); ok {
		return mesh.Agency
	}
	return mesh.Stranger
}

func (m meshMembership) Proof() [][]byte {
	if m.svc.IsMember(m.n.id) {
		return m.svc.Proof()
	}
	docs, _ := m.n.reqs.Certified(m.n.id, time.Now())
	return docs
}

// Join claims the pending invite with p, if this home has one and is not
// a member yet.
func (m meshMembership) Join(ctx context.Context, p peer.ID) error {
	m.mu.Lock()
	inv := m.pending
	m.mu.Unlock()
	if inv == nil || m.svc.IsMember(m.n.id) {
		return nil
	}
	admission, proof, err := member.Join(ctx, m.n.mesh.Host(), p, inv, m.n.Config.Name, false)
	if err != nil {
		var r *member.Refused
		if errors.As(err, &r) {
			m.mu.Lock()
			m.refusal = r.Reason
			m.mu.Unlock()
		}
		return err
	}
	return m.admitted(admission, proof)
}

// admitted stores the documents of an admission (the member's proof, then
// the admission) and forgets the invite.
func (ms *membership) admitted(admission []byte, proof [][]byte) error {
	for _, d := range proof {
		if _, err := ms.svc.IngestDoc(d); err != nil && !errors.Is(err, member.ErrUnknown) {
			ms.n.log.Warn("a member's proof document was refused", "err", err)
		}
	}
	if _, err := ms.svc.IngestDoc(admission); err != nil {
		return fmt.Errorf("store the admission: %w", err)
	}
	if !ms.svc.IsMember(ms.n.id) {
		return errors.New("the admission did not make this home a member")
	}
	ms.forgetInvite()
	return nil
}

// forgetInvite drops the invite once this home is a member.
func (ms *membership) forgetInvite() {
	ms.mu.Lock()
	had := ms.pending != nil
	ms.pending, ms.refusal = nil, ""
	ms.mu.Unlock()
	if err := os.Remove(filepath.Join(ms.n.dir, InviteFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		ms.n.log.Warn("remove the used invite", "err", err)
	}
	if had {
		ms.n.log.Info("this home is now a member of the neighborhood", "neighborhood", ms.n.Config.Neighborhood)
	}
}

// serveJoin answers a joiner (member.JoinProtocol): the admission is
// stored and gossiped to the members.
func (ms *membership) serveJoin(st network.Stream) {
	ms.svc.ServeJoin(st, func(raw []byte) {
		if err := ms.n.mesh.PublishMemberDoc(raw); err != nil {
			ms.n.log.Warn("publish an admission; members fetch it by sync", "err", err)
		}
	})
}

// rules are the mesh's Rules: the request rules, then, for feed records,
// membership (the author must be a member, or have been one when it wrote
// the record) and the per-author limits.
type rules struct {
	*requests.Service
	n *Node
}

func (r rules) CheckEntry(s *record.Signed) error {
	if err := r.Service.CheckEntry(s); err != nil {
		return err
	}
	var profile bool
	switch s.Entry.GetBody().(type) {
	case *pb.Entry_Profile:
		profile = true
	case *pb.Entry_Post, *pb.Entry_Retraction, *pb.Entry_Omission:
	default:
		return nil
	}
	if ms := r.n.members; ms != nil {
		switch {
		case profile && (s.Author == r.n.id || r.Service.IsAgency(s.Author)):
			// An agency that is not a member has a log (its profile, then
			// its requests); so does this home before it is admitted.
		default:
			if err := ms.svc.CheckAuthor(s.Author, s.Created()); err != nil {
				if errors.Is(err, member.ErrUnknown) {
					if r.Service.IsAgency(s.Author) {
						return record.Invalidf(record.ReasonAuthor, "an agency that is not a member cannot write to the feed")
					}
					return fmt.Errorf("%w: %v", mesh.ErrHeld, err)
				}
				return err
			}
		}
	}
	if l := r.n.limiter; l != nil {
		return l.CheckEntry(s)
	}
	return nil
}

// Membership facts for status.
func (n *Node) membershipStatus(st *api.Status) {
	ms := n.members
	if ms == nil {
		st.Policy, st.Membership, st.NeighborhoodName = PolicyOpen, PolicyOpen, n.Config.Neighborhood
		return
	}
	st.Policy = PolicyInvite
	st.Charter = n.Config.Charter
	if c := ms.svc.Charter(); c != nil {
		st.NeighborhoodName = c.Payload.GetCharter().GetName()
	}
	if me, ok := ms.svc.Self(); ok && !me.Removed {
		st.Member, st.Steward, st.Membership = true, me.Steward, "member"
		return
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	switch {
	case ms.refusal != "":
		st.Membership = "pending: " + ms.refusal
	case ms.pending != nil:
		st.Membership = "pending: not admitted yet; the invite is claimed when this home reaches a member"
	default:
		if me, ok := ms.svc.Self(); ok && me.Removed {
			st.Membership = "pending: removed by a steward: " + me.Reason
		} else if _, ok := n.reqs.Certified(n.id, time.Now()); ok {
			st.Membership = "agency: not a member; requests only"
		} else {
			st.Membership = "pending: not a member; ask a member for an invite (porchlight join INVITE)"
		}
	}
}

// inviteAddrs are the addresses an invite carries: the mesh's choice
// (mesh.InviteAddrs: this home's public and relay addresses and the
// anchors it knows, so a new home reaches the neighborhood from behind any
// NAT), then, in the room left, one of each connected member, at most
// inviteAddrCount in all.
func (n *Node) inviteAddrs() []ma.Multiaddr {
	out := n.mesh.InviteAddrs(inviteAddrCount)
	for _, p := range n.mesh.Peers() {
		if len(out) >= inviteAddrCount {
			break
		}
		if p.Standing != mesh.Member {
			continue
		}
		for _, c := range n.mesh.Host().Network().ConnsToPeer(p.ID) {
			if c.Stat().Limited {
				continue // a circuit: its relay is among the anchors already
			}
			a, err := ma.NewMultiaddr(c.RemoteMultiaddr().String() + "/p2p/" + p.ID.String())
			if err == nil && !slices.ContainsFunc(out, a.Equal) {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

// inviteAddrCount is how many addresses an invite carries at most (member
// accepts up to 16; fewer keep the invite string short).
const inviteAddrCount = 8

// removedAt says when a steward removed p (feed marks the posts of a
// removed member).
func (ms *membership) removedAt(p peer.ID) (time.Time, bool) {
	m, ok := ms.svc.Lookup(p)
	return m.RemovedAt, ok && m.Removed
}

// feedLimits are the per-author limits: the defaults, tightened by the
// charter.
func (n *Node) feedLimits() feed.Limits {
	l := feed.DefaultLimits
	if ms := n.members; ms != nil {
		if c := ms.svc.Charter(); c != nil {
			cl := c.Payload.GetCharter().GetLimits()
			l = l.Tighten(feed.Limits{PostsPerHour: int(cl.GetPostsPerHour()), Burst: int(cl.GetBurst()), MaxBytes: int64(cl.GetMaxBytes())})
		}
	}
	return l
}
