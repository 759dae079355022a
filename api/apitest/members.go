package apitest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/porchlight-mesh/porchlight/api"
	"github.com/porchlight-mesh/porchlight/feed"
	"github.com/porchlight-mesh/porchlight/store"
)

// Neighborhood is an in-memory invite-only neighborhood shared by the
// fake nodes of a test: what one node's Members does, every node's roster
// shows at once (real nodes exchange signed membership documents; these
// share memory). It applies the rules users meet: stewards remove and
// name stewards, the founder stays, an invite admits up to its uses until
// it expires or is revoked.
type Neighborhood struct {
	Name string
	// Now is the clock. Default time.Now.
	Now func() time.Time

	mu      sync.Mutex
	roster  []*api.MemberInfo
	invites map[string]*invite // by invite string
}

type invite struct {
	api.InviteInfo
	by peer.ID
}

var _ api.Members = (*Members)(nil)

// NewNeighborhood founds a neighborhood named name.
func NewNeighborhood(name string) *Neighborhood {
	return &Neighborhood{Name: name, Now: time.Now, invites: map[string]*invite{}}
}

// Members is one node's view of a Neighborhood: its api.Members.
type Members struct {
	nb    *Neighborhood
	self  peer.ID
	name  string
	muted map[string]bool
	// feed is the server's feed (Start sets it): mutes go to it too, as
	// the node's do, so that its listing leaves muted authors out.
	feed *feed.Service
}

// Found makes self, named name, the founder (and first steward).
func (nb *Neighborhood) Found(self peer.ID, name string) *Members {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	nb.roster = append(nb.roster, &api.MemberInfo{PeerID: self.String(), Name: name, Joined: nb.Now().UTC(), Steward: true, Founder: true})
	return nb.view(self, name)
}

// Admit adds self as a member invited and admitted by by.
func (nb *Neighborhood) Admit(self peer.ID, name string, by peer.ID) *Members {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	nb.roster = append(nb.roster, &api.MemberInfo{PeerID: self.String(), Name: name, InvitedBy: by.String(), AdmittedBy: by.String(), Joined: nb.Now().UTC()})
	return nb.view(self, name)
}

// Newcomer is a node that is not a member yet: it joins with an invite.
func (nb *Neighborhood) Newcomer(self peer.ID, name string) *Members {
	return nb.view(self, name)
}

func (nb *Neighborhood) view(self peer.ID, name string) *Members {
	return &Members{nb: nb, self: self, name: name, muted: map[string]bool{}}
}

func (nb *Neighborhood) find(p string) *api.MemberInfo {
	for _, m := range nb.roster {
		if m.PeerID == p {
			return m
		}
	}
	return nil
}

func (nb *Neighborhood) current(p string) *api.MemberInfo {
	if m := nb.find(p); m != nil && !m.Removed {
		return m
	}
	return nil
}

func forbidden(format string, args ...any) error {
	return &api.ForbiddenError{Err: fmt.Errorf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &api.BadRequestError{Err: fmt.Errorf(format, args...)}
}

func (m *Members) fillStatus(st *api.Status) {
	m.nb.mu.Lock()
	defer m.nb.mu.Unlock()
	st.Neighborhood, st.NeighborhoodName, st.Policy = "nbtest", m.nb.Name, "invite"
	me := m.nb.current(m.self.String())
	st.Member, st.Steward = me != nil, me != nil && me.Steward
	switch {
	case me != nil:
		st.Membership = "member"
	case m.nb.find(m.self.String()) != nil:
		st.Membership = "pending: removed"
	default:
		st.Membership = "pending: not admitted yet; join with an invite"
	}
}

// Roster implements api.Members.
func (m *Members) Roster() ([]api.MemberInfo, error) {
	m.nb.mu.Lock()
	defer m.nb.mu.Unlock()
	out := make([]api.MemberInfo, 0, len(m.nb.roster))
	for _, mi := range m.nb.roster {
		out = append(out, *mi)
	}
	return out, nil
}

// CreateInvite implements api.Members.
func (m *Members) CreateInvite(expires time.Duration, uses int) (api.InviteCreated, error) {
	m.nb.mu.Lock()
	defer m.nb.mu.Unlock()
	if m.nb.current(m.self.String()) == nil {
		return api.InviteCreated{}, forbidden("only members may invite, and this home is not one yet")
	}
	secret := make([]byte, 200) // about the size of a real invite's documents
	rand.Read(secret)
	s := "porchlight:" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret))
	sum := sha256.Sum256([]byte(s))
	now := m.nb.Now().UTC()
	inv := &invite{InviteInfo: api.InviteInfo{ID: hex.EncodeToString(sum[:]), Created: now, Expires: now.Add(expires), Uses: uses}, by: m.self}
	m.nb.invites[s] = inv
	return api.InviteCreated{ID: inv.ID, Invite: s, Expires: inv.Expires, Uses: uses}, nil
}

// Invites implements api.Members.
func (m *Members) Invites() ([]api.InviteInfo, error) {
	m.nb.mu.Lock()
	defer m.nb.mu.Unlock()
	var out []api.InviteInfo
	for _, inv := range m.nb.invites {
		if inv.by == m.self {
			out = append(out, inv.InviteInfo)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Created.After(out[j].Created) || out[i].Created.Equal(out[j].Created) && out[i].ID < out[j].ID
	})
	return out, nil
}

// RevokeInvite implements api.Members.
func (m *Members) RevokeInvite(id string) error {
	m.nb.mu.Lock()
	defer m.nb.mu.Unlock()
	var found []*invite
	for _, inv := range m.nb.invites {
		if inv.by == m.self && strings.HasPrefix(inv.ID, id) {
			found = append(found, inv)
		}
	}
	switch len(found) {
	case 0:
		return fmt.Errorf("no invite of this home has ID %s: %w", id, store.ErrNotFound)
	case 1:
		found[0].Revoked = true
		return nil
	}
	return badRequest("%d invites start with %s: give more of the ID", len(found), id)
}

// Remove implements api.Members.
func (m *Members) Remove(p peer.ID, reason string) error {
	m.nb.mu.Lock()
	defer m.nb.mu.Unlock()
	me := m.nb.current(m.self.String())
	if me == nil || !me.Steward {
		return forbidden("only stewards may remove members")
	}
	t := m.nb.current(p.String())
	switch {
	case t == nil:
		return fmt.Errorf("%s is not a member: %w", p, store.ErrNotFound)
	case t.Founder:
		return forbidden("the founder cannot be removed")
	case p == m.self:
		return forbidden("a steward cannot remove itself")
	}
	t.Removed, t.RemovedAt, t.RemovedBy, t.Reason, t.Steward = true, m.nb.Now().UTC(), m.self.String(), reason, false
	return nil
}

// SetSteward implements api.Members.
func (m *Members) SetSteward(p peer.ID, on bool) error {
	m.nb.mu.Lock()
	defer m.nb.mu.Unlock()
	me := m.nb.current(m.self.String())
	if me == nil || !me.Steward {
		return forbidden("only stewards may name or unname stewards")
	}
	t := m.nb.current(p.String())
	switch {
	case t == nil:
		return fmt.Errorf("%s is not a member: %w", p, store.ErrNotFound)
	case t.Founder && !on:
		return forbidden("the founder stays a steward")
	}
	t.Steward = on
	return nil
}

// Mute implements api.Members.
func (m *Members) Mute(p peer.ID) error {
	m.nb.mu.Lock()
	defer m.nb.mu.Unlock()
	m.muted[p.String()] = true
	if m.feed != nil {
		return m.feed.Mute(p)
	}
	return nil
}

// Unmute implements api.Members.
func (m *Members) Unmute(p peer.ID) error {
	m.nb.mu.Lock()
	defer m.nb.mu.Unlock()
	delete(m.muted, p.String())
	if m.feed != nil {
		return m.feed.Unmute(p)
	}
	return nil
}

// Muted implements api.Members.
func (m *Members) Muted() ([]string, error) {
	m.nb.mu.Lock()
	defer m.nb.mu.Unlock()
	out := []string{}
	for p := range m.muted {
		out = append(out, p)
	}
	return out, nil
}

// Join implements api.Members.
func (m *Members) Join(ctx context.Context, s string) error {
	m.nb.mu.Lock()
	defer m.nb.mu.Unlock()
	if !strings.HasPrefix(s, "porchlight:") {
		return badRequest("invite is garbled: it does not start with porchlight:")
	}
	inv := m.nb.invites[s]
	switch {
	case inv == nil:
		return badRequest("invite is garbled: not an invite of %s", m.nb.Name)
	case m.nb.find(m.self.String()) != nil:
		return forbidden("this home is a member of %s already (or was removed)", m.nb.Name)
	case inv.Revoked:
		return badRequest("invite was revoked")
	case !m.nb.Now().Before(inv.Expires):
		return badRequest("invite expired at %s", inv.Expires.Format(time.RFC3339))
	case inv.Used >= inv.Uses:
		return badRequest("invite is used up (%d of %d)", inv.Used, inv.Uses)
	}
	inv.Used++
	m.nb.roster = append(m.nb.roster, &api.MemberInfo{PeerID: m.self.String(), Name: m.name, InvitedBy: inv.by.String(), AdmittedBy: inv.by.String(), Joined: m.nb.Now().UTC()})
	return nil
}

// removedAt is the feed's Config.Removed: when the neighborhood removed p.
func (m *Members) removedAt(p peer.ID) (time.Time, bool) {
	m.nb.mu.Lock()
	defer m.nb.mu.Unlock()
	for _, x := range m.nb.roster {
		if x.PeerID == p.String() && x.Removed {
			return x.RemovedAt, true
		}
	}
	return time.Time{}, false
}
